package vifplug

import (
	"errors"
	"maps"
	"net"
	"reflect"
	"strings"
	"testing"
)

func TestParseOptions(t *testing.T) {
	good := map[string]string{OptRequestedChassis: "dpu1", OptPlugType: PlugTypeRepresentor,
		OptPFMAC: "0C:42:A1:00:00:01", OptVFNum: "7", OptMTURequest: "1400"}
	tests := []struct {
		name       string
		set        map[string]string
		wantOption string // the option the error names; "" = valid
		wantErr    string // substring of the message
	}{
		{"valid", nil, "", ""},
		{"no mtu is fine", map[string]string{OptMTURequest: ""}, "", ""},
		{"malformed mac", map[string]string{OptPFMAC: "0c:42:a1:00:00"}, OptPFMAC, OptPFMAC + `="0c:42:a1:00:00" is not a MAC address`},
		{"eui64 is not a pf mac", map[string]string{OptPFMAC: "0c:42:a1:00:00:01:02:03"}, OptPFMAC, OptPFMAC},
		{"missing mac", map[string]string{OptPFMAC: ""}, OptPFMAC, OptPFMAC + " is missing"},
		{"negative vf", map[string]string{OptVFNum: "-1"}, OptVFNum, OptVFNum + `="-1" is not a decimal VF index`},
		{"non-numeric vf", map[string]string{OptVFNum: "seven"}, OptVFNum, OptVFNum + `="seven"`},
		{"huge vf", map[string]string{OptVFNum: "65536"}, OptVFNum, "from 0 to 65535"},
		{"missing vf", map[string]string{OptVFNum: ""}, OptVFNum, OptVFNum + " is missing"},
		{"mtu too small", map[string]string{OptMTURequest: "67"}, OptMTURequest, OptMTURequest + `="67" is not an MTU`},
		{"mtu too big", map[string]string{OptMTURequest: "65536"}, OptMTURequest, "from 68 to 65535"},
		{"mtu not a number", map[string]string{OptMTURequest: "jumbo"}, OptMTURequest, OptMTURequest},
		{"first bad option is named", map[string]string{OptPFMAC: "x", OptVFNum: "y"}, OptPFMAC, OptPFMAC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := maps.Clone(good)
			maps.Copy(opts, tt.set)
			r, err := ParseOptions(opts)
			if r.Chassis != "dpu1" {
				t.Errorf("Chassis = %q, want it kept whatever else is wrong", r.Chassis)
			}
			if tt.wantOption == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if r.PFMAC.String() != "0c:42:a1:00:00:01" || r.VFNum != 7 {
					t.Fatalf("parsed pf-mac %s vf-num %d", r.PFMAC, r.VFNum)
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.wantOption || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want an OptionError on %s mentioning %q", err, tt.wantOption, tt.wantErr)
			}
		})
	}
}

func TestRequestOptionsRoundTrip(t *testing.T) {
	mac, _ := net.ParseMAC("0C:42:A1:00:00:01")
	for _, r := range []Request{
		{Chassis: "dpu1", PFMAC: mac, VFNum: 0},
		{Chassis: "dpu1", PFMAC: mac, VFNum: 65535, MTU: 9000},
	} {
		opts := r.Options()
		if opts[OptPFMAC] != "0c:42:a1:00:00:01" || opts[OptPlugType] != PlugTypeRepresentor {
			t.Errorf("Options() = %v: want a lower-case pf-mac and vif-plug-type=representor", opts)
		}
		if _, ok := opts[OptMTURequest]; ok != (r.MTU != 0) {
			t.Errorf("Options() = %v: %s must be present exactly when an MTU is asked for", opts, OptMTURequest)
		}
		got, err := ParseOptions(opts)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("ParseOptions(%v) = %+v, %v; want %+v", opts, got, err, r)
		}
	}
}

func TestRequests(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"dpu1", true},
		{"dpu1.example", true},
		{"dpu0, dpu1", true},
		{"dpu10", false},
		{"", false},
		{",,", false},
	}
	for _, tt := range tests {
		if got := Requests(map[string]string{OptRequestedChassis: tt.value}, "dpu1", "dpu1.example"); got != tt.want {
			t.Errorf("Requests(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
	if Requests(map[string]string{OptRequestedChassis: ""}, "dpu1", "") {
		t.Error("an empty hostname must not match an empty entry")
	}
}

func TestAttachmentRoundTrip(t *testing.T) {
	for _, a := range []Attachment{
		{Owner: "node1", ID: "a1", Network: "net", ContainerID: "c", IfName: "eth0", DeviceID: "0000:03:00.2"},
		{Owner: "node1", ID: "a1", Network: "net", ContainerID: "c", IfName: "eth0", DeviceID: "0000:03:00.2",
			PodNamespace: "prod", PodName: "web-0"},
	} {
		ids := a.ExternalIDs()
		if _, ok := ids[ExtPodName]; ok != (a.PodName != "") {
			t.Errorf("ExternalIDs() = %v: %s present only when known", ids, ExtPodName)
		}
		if got := AttachmentOf(ids); got != a {
			t.Errorf("AttachmentOf(%v) = %+v, want %+v", ids, got, a)
		}
	}
}

func TestInterfaceIDs(t *testing.T) {
	ids := InterfaceIDs("lsp1", "")
	if _, ok := ids[IfaceAttachment]; ok || !PluggedByAgent(ids) || ids[IfaceID] != "lsp1" {
		t.Errorf("InterfaceIDs without attachment = %v", ids)
	}
	if ids := InterfaceIDs("lsp1", "a1"); ids[IfaceAttachment] != "a1" {
		t.Errorf("InterfaceIDs with attachment = %v", ids)
	}
	if PluggedByOVN(ids) || OVNInstalled(ids) {
		t.Errorf("%v is neither ovn-plugged nor ovn-installed", ids)
	}
}
