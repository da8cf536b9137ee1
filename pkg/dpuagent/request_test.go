package dpuagent

import (
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
)

func TestParseRequest(t *testing.T) {
	good := map[string]string{optPFMAC: "0C:42:A1:00:00:01", optVFNum: "7", optMTU: "1400"}
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string // substring naming the offending option; "" = valid
	}{
		{"valid", nil, ""},
		{"no mtu is fine", map[string]string{optMTU: ""}, ""},
		{"malformed mac", map[string]string{optPFMAC: "0c:42:a1:00:00"}, optPFMAC + `="0c:42:a1:00:00"`},
		{"eui64 is not a pf mac", map[string]string{optPFMAC: "0c:42:a1:00:00:01:02:03"}, optPFMAC},
		{"missing mac", map[string]string{optPFMAC: ""}, optPFMAC + " is missing"},
		{"negative vf", map[string]string{optVFNum: "-1"}, optVFNum + `="-1"`},
		{"non-numeric vf", map[string]string{optVFNum: "seven"}, optVFNum + `="seven"`},
		{"huge vf", map[string]string{optVFNum: "65536"}, optVFNum},
		{"missing vf", map[string]string{optVFNum: ""}, optVFNum + " is missing"},
		{"mtu too small", map[string]string{optMTU: "67"}, optMTU + `="67"`},
		{"mtu too big", map[string]string{optMTU: "65536"}, optMTU},
		{"mtu not a number", map[string]string{optMTU: "jumbo"}, optMTU},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := map[string]string{optPlugType: plugTypeRepresentor}
			for k, v := range good {
				opts[k] = v
			}
			for k, v := range tt.set {
				opts[k] = v
			}
			r := parseRequest(&sbdb.PortBinding{LogicalPort: "lsp1", Options: opts}, chassisIdentity{name: "dpu1"})
			if tt.wantErr == "" {
				if r.invalid != nil {
					t.Fatalf("unexpected error: %v", r.invalid)
				}
				if r.pfMAC.String() != "0c:42:a1:00:00:01" || r.vfNum != 7 {
					t.Fatalf("parsed pf-mac %s vf-num %d", r.pfMAC, r.vfNum)
				}
				return
			}
			if r.invalid == nil || !strings.Contains(r.invalid.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to mention %q", r.invalid, tt.wantErr)
			}
		})
	}
}

func TestRequestedHere(t *testing.T) {
	id := chassisIdentity{name: "dpu1", hostname: "dpu1.example", uuid: "uuid-1"}
	uuid1, uuid2 := "uuid-1", "uuid-2"
	tests := []struct {
		name string
		pb   sbdb.PortBinding
		want bool
	}{
		{"by name", sbdb.PortBinding{Options: map[string]string{optRequestedChassis: "dpu1"}}, true},
		{"by hostname", sbdb.PortBinding{Options: map[string]string{optRequestedChassis: "dpu1.example"}}, true},
		{"in a multi-chassis list", sbdb.PortBinding{Options: map[string]string{optRequestedChassis: "dpu0,dpu1"}}, true},
		{"by resolved uuid", sbdb.PortBinding{RequestedChassis: &uuid1}, true},
		{"as additional chassis", sbdb.PortBinding{RequestedChassis: &uuid2, RequestedAdditionalChassis: []string{uuid1}}, true},
		{"other chassis", sbdb.PortBinding{Options: map[string]string{optRequestedChassis: "dpu2"}, RequestedChassis: &uuid2}, false},
		{"prefix is not a match", sbdb.PortBinding{Options: map[string]string{optRequestedChassis: "dpu10"}}, false},
		{"nothing requested", sbdb.PortBinding{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := id.requestedHere(&tt.pb); got != tt.want {
				t.Fatalf("requestedHere = %v, want %v", got, tt.want)
			}
		})
	}
}
