package devlink

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// sfDump is the "Scalable Function (SF) ports" sample of devlink-samples.md
// for the host of a DPU (controller 1: pcipf eth0 with a zero hw_addr and
// the SF eth1, sfnum 77), verbatim but for the JSON form, plus — on the
// same device — a local SF (controller 0, sfnum 77 too) whose PF MAC is
// the uplink's, and a VF of the host so that VFs and SFs share a PF.
const sfDump = `{"port":{
 "pci/0033:01:00.0/196607":{"type":"eth","netdev":"enP51p1s0f0np0","flavour":"physical","port":0,"splittable":false},
 "pci/0033:01:00.0/131072":{"type":"eth","netdev":"eth0","flavour":"pcipf","controller":1,"pfnum":0,"external":true,"splittable":false,"function":{"hw_addr":"00:00:00:00:00:00"}},
 "pci/0033:01:00.0/131073":{"type":"eth","netdev":"eth2","flavour":"pcivf","controller":1,"pfnum":0,"vfnum":0,"external":true,"splittable":false,"function":{"hw_addr":"00:00:00:00:00:00"}},
 "pci/0033:01:00.0/163840":{"type":"eth","netdev":"eth1","flavour":"pcisf","controller":1,"pfnum":0,"sfnum":77,"splittable":false,"function":{"hw_addr":"00:00:00:00:00:00","state":"inactive","opstate":"detached"}},
 "pci/0033:01:00.0/32768":{"type":"eth","netdev":"enP51p1s0f0npf0sf77","flavour":"pcisf","controller":0,"pfnum":0,"sfnum":77,"external":false,"splittable":false,"function":{"hw_addr":"00:00:00:00:88:88","state":"active","opstate":"attached"}}
}}`

const (
	hostPFMAC   = "00:53:00:00:00:42" // smart_nic/pf/config of the uplink
	uplinkMAC   = "00:53:00:00:00:10" // the DPU's own port (local functions)
	sfDumpSysfs = "class/net/enP51p1s0f0np0/"
)

func sfTable(t *testing.T) *Table {
	t.Helper()
	ports, err := ParseDump(strings.NewReader(sfDump))
	if err != nil {
		t.Fatal(err)
	}
	sysfs := writeSysfs(t, map[string]string{
		sfDumpSysfs + "smart_nic/pf/config": smartNICConfig(hostPFMAC),
		sfDumpSysfs + "address":             uplinkMAC + "\n",
	})
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs))
	tbl.Replace(ports)
	return tbl
}

func TestLookupFunction(t *testing.T) {
	tbl := sfTable(t)
	cases := []struct {
		name    string
		mac     string
		fn      Function
		want    Representor
		wantErr error
	}{
		{name: "host SF", mac: hostPFMAC, fn: SF(77), want: Representor{Netdev: "eth1", Handle: "pci/0033:01:00.0/163840",
			Device: "pci/0033:01:00.0", Flavour: PCISF, Controller: 1, SFNum: 77}},
		{name: "host VF beside it", mac: hostPFMAC, fn: VF(0), want: Representor{Netdev: "eth2", Handle: "pci/0033:01:00.0/131073",
			Device: "pci/0033:01:00.0", Flavour: PCIVF, Controller: 1}},
		{name: "host PF", mac: hostPFMAC, fn: PF(), want: Representor{Netdev: "eth0", Handle: "pci/0033:01:00.0/131072",
			Device: "pci/0033:01:00.0", Flavour: PCIPF, Controller: 1}},
		// The same sfnum on controller 0 belongs to another PF MAC.
		{name: "local SF", mac: uplinkMAC, fn: SF(77), want: Representor{Netdev: "enP51p1s0f0npf0sf77", Handle: "pci/0033:01:00.0/32768",
			Device: "pci/0033:01:00.0", Flavour: PCISF, SFNum: 77}},
		{name: "unknown SF", mac: hostPFMAC, fn: SF(78), wantErr: ErrNoSF},
		{name: "SF number is not a VF number", mac: hostPFMAC, fn: VF(77), wantErr: ErrNoVF},
		{name: "local PF without pcipf port", mac: uplinkMAC, fn: PF(), wantErr: ErrNoPFPort},
		{name: "unknown PF", mac: "00:53:00:00:00:99", fn: SF(77), wantErr: ErrNoPF},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := tbl.LookupFunction(mustMAC(t, c.mac), c.fn)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				if !strings.Contains(err.Error(), c.fn.String()) {
					t.Errorf("error %q does not name %s", err, c.fn)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c.want.PFMAC = mustMAC(t, c.mac)
			if !reflect.DeepEqual(rep, c.want) {
				t.Fatalf("got  %+v\nwant %+v", rep, c.want)
			}
		})
	}
}

func TestLookupFunctionMessages(t *testing.T) {
	tbl := sfTable(t)
	_, err := tbl.LookupFunction(mustMAC(t, hostPFMAC), SF(78))
	want := "no representor for pf-mac 00:53:00:00:00:42 sf-num 78 on this DPU: unknown SF " +
		"(PF 00:53:00:00:00:42 is pci/0033:01:00.0 controller 1 pfnum 0 with vf-nums 0, sf-nums 77)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	_, err = tbl.LookupFunction(mustMAC(t, uplinkMAC), PF())
	want = "no representor for pf-mac 00:53:00:00:00:10 the PF itself on this DPU: the PF has no representor netdev " +
		"(no pcipf port with a netdev) (PF 00:53:00:00:00:10 is pci/0033:01:00.0 controller 0 pfnum 0 with vf-nums none, sf-nums 77, no PF representor)"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// Two netdevs claiming one SF are ambiguous, as for VFs: the lowest handle
// is returned, with the error naming both.
func TestLookupFunctionAmbiguousSF(t *testing.T) {
	tbl := sfTable(t)
	tbl.Upsert(Port{Device: "pci/0033:01:00.0", Index: 163841, Type: "eth", Netdev: "eth9", Flavour: PCISF,
		Controller: 1, SFNum: 77, External: true})
	rep, err := tbl.LookupFunction(mustMAC(t, hostPFMAC), SF(77))
	if !errors.Is(err, ErrAmbiguous) || rep.Netdev != "eth1" || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("got %v, %v; want eth1 and an ambiguity naming eth9", rep, err)
	}
}

// The netlink source feeds the same table: the SF of the PORT_NEW fixture
// joins the BlueField dump's PF.
func TestLookupSFFromNetlinkFixture(t *testing.T) {
	var ports []Port
	for _, name := range []string{"port-dump.hex", "port-sf-new.hex"} {
		for _, m := range decodeDatagramPorts(t, readNetlinkFixture(t, name)) {
			ports = append(ports, m.Port)
		}
	}
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
	tbl.Replace(ports)
	rep, err := tbl.LookupFunction(mustMAC(t, pf0MAC), SF(77))
	if err != nil || rep.Netdev != "pf0sf77" || rep.Flavour != PCISF {
		t.Fatalf("got %+v, %v; want pf0sf77", rep, err)
	}
	if rep, err = tbl.LookupFunction(mustMAC(t, pf0MAC), PF()); err != nil || rep.Netdev != "pf0hpf" {
		t.Fatalf("PF: got %+v, %v; want pf0hpf", rep, err)
	}
}
