package e2e

import (
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestSFPingsVF: a pod on a Scalable Function (deviceID its auxiliary
// device name) reaches a pod on a VF across OVN; the SF's LSP names it by
// sf-num; DEL brings the SF netdev home with its name, MAC and MTU.
func TestSFPingsVF(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	sf := testbed.Must(e.bed.AddSF(e.ctx, 0, 77))(t)

	nsVF := testbed.Must(e.bed.AddPod(e.ctx, "vf"))(t)
	resVF, _ := e.add(t, nsVF, e.netconf(vf.PCI, e.hostLocal(), nil))
	testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(vf.PCI))(t)

	nsSF := testbed.Must(e.bed.AddPod(e.ctx, "sf"))(t)
	sfConf := e.netconf(sf.Aux, e.hostLocal(), map[string]any{"mtu": 1400})
	resSF, took := e.add(t, nsSF, sfConf)
	t.Logf("ADD pod on SF %s: %v", sf.Aux, took)
	testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(sf.Aux))(t)
	if len(resSF.Interfaces) != 1 || resSF.Interfaces[0].PciID != "" || resSF.Interfaces[0].Mac != sf.MAC.String() {
		t.Errorf("SF ADD result interfaces %+v: want one without pciID, with the SF's MAC %s", resSF.Interfaces, sf.MAC)
	}
	e.wantLSPOptions(t, sf.Aux, map[string]string{vifplug.OptSFNum: "77", vifplug.OptPFMAC: sf.PFMAC.String()}, vifplug.OptVFNum)

	if err := e.bed.Ping(e.ctx, nsSF, resVF.IPs[0].Address.IP.String()); err != nil {
		t.Fatal(err)
	}
	if err := e.bed.Ping(e.ctx, nsVF, resSF.IPs[0].Address.IP.String()); err != nil {
		t.Fatal(err)
	}

	e.del(t, nsSF, sfConf)
	testbed.Must(0, e.bed.Sysfs().MoveNetdevHome(sf.Aux, ""))(t)
	e.linkHome(t, sf.Netdev, sf.MAC.String(), "1500")
}

// TestWholePFPingsVF: a pod given a whole PF (deviceID the PF's PCI
// address) reaches a pod on a VF of another PF; its LSP carries pf-mac
// alone and the DPU plugs the pcipf representor; DEL brings the PF netdev
// home.
func TestWholePFPingsVF(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	pf := testbed.Must(e.bed.AddWholePF(e.ctx, 1))(t)

	nsVF := testbed.Must(e.bed.AddPod(e.ctx, "vf"))(t)
	resVF, _ := e.add(t, nsVF, e.netconf(vf.PCI, e.hostLocal(), nil))
	testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(vf.PCI))(t)

	nsPF := testbed.Must(e.bed.AddPod(e.ctx, "pf"))(t)
	pfConf := e.netconf(pf.PCI, e.hostLocal(), nil)
	resPF, took := e.add(t, nsPF, pfConf)
	t.Logf("ADD pod on PF %s: %v", pf.PCI, took)
	testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(pf.PCI))(t)
	if len(resPF.Interfaces) != 1 || resPF.Interfaces[0].PciID != pf.PCI {
		t.Errorf("PF ADD result interfaces %+v: want pciID %s", resPF.Interfaces, pf.PCI)
	}
	e.wantLSPOptions(t, pf.PCI, map[string]string{vifplug.OptPFMAC: pf.MAC.String()}, vifplug.OptVFNum, vifplug.OptSFNum)

	if err := e.bed.Ping(e.ctx, nsPF, resVF.IPs[0].Address.IP.String()); err != nil {
		t.Fatal(err)
	}
	e.del(t, nsPF, pfConf)
	testbed.Must(0, e.bed.Sysfs().MoveNetdevHome(pf.PCI, ""))(t)
	e.linkHome(t, pf.Netdev, pf.MAC.String(), "1500")
}

// wantLSPOptions checks the options of the LSP whose device-id is deviceID:
// want present with these values, absent not present.
func (e *env) wantLSPOptions(t *testing.T, deviceID string, want map[string]string, absent ...string) {
	t.Helper()
	out := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=options", "find", "Logical_Switch_Port",
		`external_ids:ovn-dpu\:device-id="`+deviceID+`"`))(t)
	opts := map[string]string{}
	for _, kv := range strings.Fields(out) {
		k, v, _ := strings.Cut(kv, "=")
		opts[strings.Trim(k, `"`)] = strings.Trim(v, `"`)
	}
	for k, v := range want {
		if opts[k] != v {
			t.Errorf("LSP of %s: options %v, want %s=%s", deviceID, opts, k, v)
		}
	}
	for _, k := range absent {
		if _, has := opts[k]; has {
			t.Errorf("LSP of %s: options %v carry %s", deviceID, opts, k)
		}
	}
}

// linkHome checks that netdev is back on the host with mac and mtu.
func (e *env) linkHome(t *testing.T, netdev, mac, mtu string) {
	t.Helper()
	out, err := e.bed.HostIP(e.ctx, "-o", "link", "show", netdev)
	if err != nil {
		t.Fatalf("%s is not home: %v", netdev, err)
	}
	if !strings.Contains(out, mac) || !strings.Contains(out, "mtu "+mtu+" ") {
		t.Errorf("%s came home changed (want MAC %s, MTU %s): %s", netdev, mac, mtu, out)
	}
}
