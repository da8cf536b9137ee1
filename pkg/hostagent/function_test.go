package hostagent

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// An SF (deviceID an auxiliary device name) and a PF (deviceID a PF's PCI
// address) are attached like a VF; the LSP names the function with
// sf-num, or with pf-mac alone, and never with vf-num.
func TestAddNamesTheFunction(t *testing.T) {
	pfMAC, _ := net.ParseMAC("0c:42:a1:00:00:01")
	sfMAC, _ := net.ParseMAC("0e:00:00:00:88:88")
	for _, tc := range []struct {
		name, deviceID string
		vf             sysfs.VF
		want           vifplug.Request
		wantPciID      string
	}{{
		name: "SF", deviceID: "mlx5_core.sf.4",
		vf: sysfs.VF{Kind: vifplug.SF, AuxDevice: "mlx5_core.sf.4", SFNum: 88, Netdev: "enp3s0f0s88", MAC: sfMAC, MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFMAC: pfMAC},
		want: vifplug.Request{Kind: vifplug.SF, SFNum: 88},
	}, {
		name: "PF", deviceID: "0000:03:00.0",
		vf: sysfs.VF{Kind: vifplug.PF, PCIAddress: "0000:03:00.0", Netdev: "ens1f0", MAC: pfMAC, MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFNetdev: "ens1f0", PFMAC: pfMAC},
		want:      vifplug.Request{Kind: vifplug.PF},
		wantPciID: "0000:03:00.0",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.vfs[tc.deviceID] = tc.vf
			result, e := h.add("c1", netConf(`,"runtimeConfig":{"deviceID":"`+tc.deviceID+`"}`))
			if e != nil {
				t.Fatalf("ADD: %v", e)
			}
			lsp := h.nb.lsp(testLSP)
			req, err := vifplug.ParseOptions(lsp.Options)
			if err != nil || req.Kind != tc.want.Kind || req.SFNum != tc.want.SFNum || req.PFMAC.String() != "0c:42:a1:00:00:01" {
				t.Errorf("LSP options %v parse as %+v, %v", lsp.Options, req, err)
			}
			if _, has := lsp.Options[vifplug.OptVFNum]; has {
				t.Errorf("LSP options %v name a VF", lsp.Options)
			}
			if got := vifplug.AttachmentOf(lsp.ExternalIDs).DeviceID; got != tc.deviceID {
				t.Errorf("device-id %q, want %q", got, tc.deviceID)
			}
			if got := h.plumber.inPod[podKey(testNetns, "eth0")]; got != tc.vf.Netdev {
				t.Errorf("moved %q into the pod, want %q", got, tc.vf.Netdev)
			}
			var res struct{ Interfaces []struct{ PciID string } }
			if err := json.Unmarshal(result, &res); err != nil || len(res.Interfaces) != 1 || res.Interfaces[0].PciID != tc.wantPciID {
				t.Errorf("result %s: pciID want %q", result, tc.wantPciID)
			}
			if _, e := h.call(request("DEL", "c1", netConf(`,"runtimeConfig":{"deviceID":"`+tc.deviceID+`"}`))); e != nil {
				t.Fatalf("DEL: %v", e)
			}
			if len(h.plumber.inPod) != 0 {
				t.Errorf("after DEL the pod still holds %v", h.plumber.inPod)
			}
		})
	}
}

// A deviceID that is neither a PCI address nor an auxiliary device name
// is a configuration error naming both forms.
func TestAddRefusesAnUnknownDeviceIDForm(t *testing.T) {
	h := newHarness(t)
	_, e := h.add("c1", netConf(`,"runtimeConfig":{"deviceID":"mlx5_core.sf"}`))
	if e == nil || e.Code != 7 {
		t.Fatalf("ADD: %v, want code 7", e)
	}
	if want := "not a PCI address or an auxiliary device name"; !strings.Contains(e.Msg, want) {
		t.Errorf("message %q does not say %q", e.Msg, want)
	}
}

// An SF that the host does not have is code 102, calling it an SF.
func TestAddUnknownSF(t *testing.T) {
	h := newHarness(t)
	_, e := h.add("c1", netConf(`,"runtimeConfig":{"deviceID":"mlx5_core.sf.9"}`))
	if e == nil || e.Code != codeVFLookup || !strings.Contains(e.Msg, "SF mlx5_core.sf.9 cannot be attached") {
		t.Fatalf("ADD: %v, want code 102 naming the SF", e)
	}
	h.wantNothingLeft()
}
