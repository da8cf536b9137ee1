package dpuagent

import (
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

func TestParseRequestKeepsBindingIdentity(t *testing.T) {
	r := parseRequest(&sbdb.PortBinding{LogicalPort: "lsp1",
		Options:     map[string]string{vifplug.OptPFMAC: "0c:42:a1:00:00:01", vifplug.OptVFNum: "x"},
		ExternalIDs: map[string]string{vifplug.ExtOwner: "host1", vifplug.ExtAttachment: "a1"},
	}, chassisIdentity{name: "dpu1"})
	if r.lsp != "lsp1" || r.owner != "host1" || r.attachment != "a1" {
		t.Errorf("request %+v lost the binding's identity", r)
	}
	if r.invalid == nil || !strings.Contains(r.invalid.Error(), vifplug.OptVFNum) {
		t.Errorf("invalid = %v, want it to name %s", r.invalid, vifplug.OptVFNum)
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
		{"by name", sbdb.PortBinding{Options: map[string]string{vifplug.OptRequestedChassis: "dpu1"}}, true},
		{"by hostname", sbdb.PortBinding{Options: map[string]string{vifplug.OptRequestedChassis: "dpu1.example"}}, true},
		{"in a multi-chassis list", sbdb.PortBinding{Options: map[string]string{vifplug.OptRequestedChassis: "dpu0,dpu1"}}, true},
		{"by resolved uuid", sbdb.PortBinding{RequestedChassis: &uuid1}, true},
		{"as additional chassis", sbdb.PortBinding{RequestedChassis: &uuid2, RequestedAdditionalChassis: []string{uuid1}}, true},
		{"other chassis", sbdb.PortBinding{Options: map[string]string{vifplug.OptRequestedChassis: "dpu2"}, RequestedChassis: &uuid2}, false},
		{"prefix is not a match", sbdb.PortBinding{Options: map[string]string{vifplug.OptRequestedChassis: "dpu10"}}, false},
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
