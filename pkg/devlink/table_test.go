package devlink

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

const (
	pf0MAC = "b8:3f:d2:e1:8f:dc"
	pf1MAC = "b8:3f:d2:e1:8f:dd"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// writeSysfs creates files (path relative to the root → content) in a
// fresh fake sysfs tree and returns its root.
func writeSysfs(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for rel, content := range files {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func smartNICConfig(mac string) string {
	return "MAC        : " + mac + "\nMaxTxRate  : 0\nMinTxRate  : 0\nState      : Follow\n"
}

type lookupCase struct {
	mac     string
	vf      int
	netdev  string
	handle  string
	ctrl    uint32
	pfnum   uint16
	wantErr error
}

func checkLookups(t *testing.T, tbl *Table, cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/vf%d", c.mac, c.vf), func(t *testing.T) {
			rep, err := tbl.Lookup(mustMAC(t, c.mac), c.vf)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Representor{Netdev: c.netdev, Handle: c.handle, Device: c.handle[:strings.LastIndexByte(c.handle, '/')],
				Flavour: PCIVF, Controller: c.ctrl, PFNum: c.pfnum, VFNum: uint16(c.vf), PFMAC: mustMAC(t, c.mac)}
			if !reflect.DeepEqual(rep, want) {
				t.Fatalf("got  %+v\nwant %+v", rep, want)
			}
		})
	}
}

var blueFieldCases = []lookupCase{
	{mac: pf0MAC, vf: 0, netdev: "pf0vf0", handle: "pci/0000:03:00.0/196609", ctrl: 1},
	{mac: pf0MAC, vf: 3, netdev: "pf0vf3", handle: "pci/0000:03:00.0/196612", ctrl: 1},
	{mac: pf1MAC, vf: 0, netdev: "pf1vf0", handle: "pci/0000:03:00.1/262145", ctrl: 1, pfnum: 1},
	{mac: pf1MAC, vf: 2, netdev: "pf1vf2", handle: "pci/0000:03:00.1/262147", ctrl: 1, pfnum: 1},
	{mac: pf0MAC, vf: 4, wantErr: ErrNoVF},
	{mac: "0c:42:a1:00:00:01", vf: 0, wantErr: ErrNoPF},
}

func TestLookupBlueField(t *testing.T) {
	for _, file := range []string{"bluefield.json", "vf-before-pf.json"} {
		t.Run(file, func(t *testing.T) {
			tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
			tbl.Replace(loadFixture(t, file))
			checkLookups(t, tbl, blueFieldCases)
			if got, want := tbl.KnownPFs(), []string{pf0MAC, pf1MAC}; !slices.Equal(got, want) {
				t.Fatalf("KnownPFs %v, want %v", got, want)
			}
			if tbl.Len() != 12 {
				t.Fatalf("Len %d, want 12", tbl.Len())
			}
		})
	}
}

// TestLookupAnyOrder feeds the same ports in many orders, both as a dump
// and one notification at a time: a VF seen before its PF must match.
func TestLookupAnyOrder(t *testing.T) {
	ports := loadFixture(t, "bluefield.json")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(ports)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		t.Run(fmt.Sprintf("replace%d", i), func(t *testing.T) {
			tbl := NewTable(WithLogger(testLogger(t)))
			tbl.Replace(shuffled)
			checkLookups(t, tbl, blueFieldCases)
		})
		t.Run(fmt.Sprintf("upsert%d", i), func(t *testing.T) {
			tbl := NewTable(WithLogger(testLogger(t)))
			for _, p := range shuffled {
				tbl.Upsert(p)
			}
			checkLookups(t, tbl, blueFieldCases)
		})
	}
}

func TestLookupZeroHWAddrSmartNIC(t *testing.T) {
	t.Run("controller-1", func(t *testing.T) {
		sysfs := writeSysfs(t, map[string]string{
			"class/net/enP51p1s0f0np0/smart_nic/pf/config": smartNICConfig("00:53:00:00:00:42"),
		})
		tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs))
		tbl.Replace(loadFixture(t, "controller-zero-hwaddr.json"))
		checkLookups(t, tbl, []lookupCase{
			{mac: "00:53:00:00:00:42", vf: 0, netdev: "enP51p1s0f0c1pf0vf0", handle: "pci/0033:01:00.0/131073", ctrl: 1},
			{mac: "00:53:00:00:00:42", vf: 1, netdev: "enP51p1s0f0c1pf0vf1", handle: "pci/0033:01:00.0/131074", ctrl: 1},
		})
	})
	// Older kernels print neither controller nor function at all.
	t.Run("nova-listing", func(t *testing.T) {
		sysfs := writeSysfs(t, map[string]string{
			"class/net/p0/smart_nic/pf/config": smartNICConfig("00:53:00:00:00:10"),
			"class/net/p1/smart_nic/pf/config": smartNICConfig("00:53:00:00:00:11"),
		})
		tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs))
		tbl.Replace(loadFixture(t, "nova-dpu.json"))
		checkLookups(t, tbl, []lookupCase{
			{mac: "00:53:00:00:00:10", vf: 2, netdev: "pf0vf2", handle: "pci/0000:03:00.0/196611"},
			{mac: "00:53:00:00:00:11", vf: 2, netdev: "pf1vf2", handle: "pci/0000:03:00.1/262147", pfnum: 1},
		})
	})
}

func TestLookupHostConnectX(t *testing.T) {
	sysfs := writeSysfs(t, map[string]string{"class/net/enp7s0f0/address": "0c:42:a1:00:00:01\n"})
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs))
	tbl.Replace(loadFixture(t, "host-connectx.json"))
	checkLookups(t, tbl, []lookupCase{
		{mac: "0c:42:a1:00:00:01", vf: 0, netdev: "enp7s0f0_0", handle: "pci/0000:07:00.0/1"},
		{mac: "0c:42:a1:00:00:01", vf: 1, wantErr: ErrNoVF},
	})
}

func TestLookupNoRepresentors(t *testing.T) {
	for _, file := range []string{"hypervisor.json", "controller-vf.json"} {
		t.Run(file, func(t *testing.T) {
			tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
			tbl.Replace(loadFixture(t, file))
			if pfs := tbl.KnownPFs(); len(pfs) != 0 {
				t.Fatalf("KnownPFs %v, want none", pfs)
			}
		})
	}
}

func TestLookupErrorMessages(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	tbl.Replace(loadFixture(t, "bluefield.json"))
	tests := []struct {
		name string
		mac  net.HardwareAddr
		vf   int
		is   error
		want string
	}{
		{"unknown PF", mustMAC(t, "0c:42:a1:00:00:01"), 7, ErrNoPF,
			"no representor for pf-mac 0c:42:a1:00:00:01 vf-num 7 on this DPU: unknown PF " +
				"(known PFs: b8:3f:d2:e1:8f:dc, b8:3f:d2:e1:8f:dd)"},
		{"no MAC", nil, 7, ErrNoPF,
			`no representor for pf-mac "" vf-num 7 on this DPU: unknown PF (known PFs: b8:3f:d2:e1:8f:dc, b8:3f:d2:e1:8f:dd)`},
		{"unknown VF", mustMAC(t, pf0MAC), 7, ErrNoVF,
			"no representor for pf-mac b8:3f:d2:e1:8f:dc vf-num 7 on this DPU: unknown VF " +
				"(PF b8:3f:d2:e1:8f:dc is pci/0000:03:00.0 controller 1 pfnum 0 with vf-nums 0-3)"},
		{"negative VF", mustMAC(t, pf1MAC), -1, ErrNoVF,
			"no representor for pf-mac b8:3f:d2:e1:8f:dd vf-num -1 on this DPU: unknown VF " +
				"(PF b8:3f:d2:e1:8f:dd is pci/0000:03:00.1 controller 1 pfnum 1 with vf-nums 0-3)"},
		{"VF beyond u16", mustMAC(t, pf1MAC), 65536, ErrNoVF, "vf-num 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tbl.Lookup(tt.mac, tt.vf)
			if !errors.Is(err, tt.is) {
				t.Fatalf("error %v is not %v", err, tt.is)
			}
			var le *LookupError
			if !errors.As(err, &le) || le.VFNum != tt.vf {
				t.Fatalf("error %#v is not a *LookupError for vf %d", err, tt.vf)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n  %s\ndoes not contain\n  %s", err, tt.want)
			}
		})
	}
}

func TestLookupEmptyTable(t *testing.T) {
	_, err := NewTable(WithLogger(testLogger(t))).Lookup(mustMAC(t, pf0MAC), 0)
	want := "no representor for pf-mac b8:3f:d2:e1:8f:dc vf-num 0 on this DPU: unknown PF (no PFs known)"
	if !errors.Is(err, ErrNoPF) || err.Error() != want {
		t.Fatalf("error %v, want %s", err, want)
	}
}

// TestLookupUnresolvedPF checks that a PF whose MAC cannot be found is named
// in the error with the reason, so the operator knows where to look.
func TestLookupUnresolvedPF(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
	tbl.Replace(loadFixture(t, "controller-zero-hwaddr.json"))
	_, err := tbl.Lookup(mustMAC(t, "00:53:00:00:00:42"), 0)
	for _, want := range []string{"no PFs known", "PFs without a MAC: pci/0033:01:00.0 controller 1 pfnum 0",
		"pcipf port pci/0033:01:00.0/131072 has no hw_addr", "enP51p1s0f0np0/smart_nic/pf/config"} {
		if !errors.Is(err, ErrNoPF) || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want ErrNoPF containing %q", err, want)
		}
	}
}

func TestLookupManyVFsCompact(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	tbl.Replace(syntheticPorts(1, 512, func(vf int) bool { return vf != 5 && vf != 100 }))
	_, err := tbl.Lookup(pfMACn(0), 600)
	if want := "with vf-nums 0-4,6-99,101-511)"; err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Fatalf("error %v, want suffix %q", err, want)
	}
}

func TestLookupAmbiguous(t *testing.T) {
	ports := loadFixture(t, "bluefield.json")
	// A second PF port claiming pf0's MAC, with its own VF 1.
	ports = append(ports,
		Port{Device: "pci/0000:04:00.0", Index: 1, Netdev: "x0hpf", Flavour: PCIPF, Controller: 1, HWAddr: mustMAC(t, pf0MAC)},
		Port{Device: "pci/0000:04:00.0", Index: 2, Netdev: "x0vf1", Flavour: PCIVF, Controller: 1, VFNum: 1},
		Port{Device: "pci/0000:04:00.0", Index: 3, Netdev: "x0vf9", Flavour: PCIVF, Controller: 1, VFNum: 9},
	)
	for _, order := range []string{"forward", "reverse"} {
		t.Run(order, func(t *testing.T) {
			if order == "reverse" {
				slices.Reverse(ports)
			}
			tbl := NewTable(WithLogger(testLogger(t)))
			tbl.Replace(ports)
			rep, err := tbl.Lookup(mustMAC(t, pf0MAC), 1)
			if !errors.Is(err, ErrAmbiguous) || rep.Netdev != "pf0vf1" {
				t.Fatalf("got %v, %v; want pf0vf1 and ErrAmbiguous", rep, err)
			}
			for _, want := range []string{"pf0vf1 at pci/0000:03:00.0/196610", "x0vf1 at pci/0000:04:00.0/2"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not name %q", err, want)
				}
			}
			// VFs only one of the two PFs has stay unambiguous.
			if rep, err := tbl.Lookup(mustMAC(t, pf0MAC), 9); err != nil || rep.Netdev != "x0vf9" {
				t.Fatalf("vf 9: %v, %v", rep, err)
			}
		})
	}
}

func TestVFWithoutNetdevSkipped(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	ports := loadFixture(t, "bluefield.json")
	for i := range ports {
		if ports[i].Netdev == "pf0vf2" {
			ports[i].Netdev = ""
		}
	}
	tbl.Replace(ports)
	if _, err := tbl.Lookup(mustMAC(t, pf0MAC), 2); !errors.Is(err, ErrNoVF) || !strings.Contains(err.Error(), "vf-nums 0-1,3") {
		t.Fatalf("error %v, want ErrNoVF listing 0-1,3", err)
	}
}

func TestLookupResultIsACopy(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	tbl.Replace(loadFixture(t, "bluefield.json"))
	rep, _ := tbl.Lookup(mustMAC(t, pf0MAC), 0)
	rep.PFMAC[0] = 0xff
	if _, err := tbl.Lookup(mustMAC(t, pf0MAC), 1); err != nil {
		t.Fatalf("changing a result changed the table: %v", err)
	}
}

func TestUpsertDeleteOnChange(t *testing.T) {
	var changes atomic.Int32
	tbl := NewTable(WithLogger(testLogger(t)), WithOnChange(func() { changes.Add(1) }))
	expectChanges := func(step string, want int32) {
		t.Helper()
		if got := changes.Swap(0); got != want {
			t.Fatalf("%s: OnChange fired %d times, want %d", step, got, want)
		}
	}
	ports := loadFixture(t, "bluefield.json")
	tbl.Replace(ports)
	expectChanges("first Replace", 1)
	tbl.Replace(slices.Clone(ports))
	expectChanges("same Replace", 0)

	vf4 := Port{Device: "pci/0000:03:00.0", Index: 196613, Netdev: "pf0vf4", Flavour: PCIVF, Controller: 1, VFNum: 4, External: true}
	tbl.Upsert(vf4)
	expectChanges("Upsert new VF", 1)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 4, netdev: "pf0vf4", handle: "pci/0000:03:00.0/196613", ctrl: 1}})
	tbl.Upsert(vf4)
	expectChanges("Upsert same VF", 0)

	vf4.Netdev = "renamed"
	tbl.Upsert(vf4)
	expectChanges("Upsert renamed VF", 1)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 4, netdev: "renamed", handle: "pci/0000:03:00.0/196613", ctrl: 1}})

	tbl.Delete(vf4.Handle())
	expectChanges("Delete VF", 1)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 4, wantErr: ErrNoVF}})
	tbl.Delete(vf4.Handle())
	expectChanges("Delete unknown", 0)

	tbl.Delete("pci/0000:03:00.0/196608") // pf0hpf
	expectChanges("Delete PF", 1)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 0, wantErr: ErrNoPF}, {mac: pf1MAC, vf: 0, netdev: "pf1vf0", handle: "pci/0000:03:00.1/262145", ctrl: 1, pfnum: 1}})
	if got := tbl.KnownPFs(); !slices.Equal(got, []string{pf1MAC}) {
		t.Fatalf("KnownPFs %v after deleting pf0", got)
	}
	if tbl.Len() != 11 {
		t.Fatalf("Len %d, want 11", tbl.Len())
	}
}

// TestOnChangeMayLookup guards against calling OnChange under the lock.
func TestOnChangeMayLookup(t *testing.T) {
	var tbl *Table
	var got string
	tbl = NewTable(WithLogger(testLogger(t)), WithOnChange(func() {
		rep, _ := tbl.Lookup(mustMAC(t, pf0MAC), 1)
		got = rep.Netdev
	}))
	tbl.Replace(loadFixture(t, "bluefield.json"))
	if got != "pf0vf1" {
		t.Fatalf("lookup from OnChange found %q", got)
	}
}

// TestResyncRereadsSysfs: a Replace with unchanged ports still picks up a
// smart_nic config that appeared later, and reports it as a change.
func TestResyncRereadsSysfs(t *testing.T) {
	sysfs := t.TempDir()
	var changes atomic.Int32
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(sysfs), WithOnChange(func() { changes.Add(1) }))
	ports := loadFixture(t, "controller-zero-hwaddr.json")
	tbl.Replace(ports)
	changes.Store(0)
	path := filepath.Join(sysfs, "class/net/enP51p1s0f0np0/smart_nic/pf/config")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(smartNICConfig("00:53:00:00:00:42")), 0o644); err != nil {
		t.Fatal(err)
	}
	tbl.Replace(ports)
	if changes.Load() != 1 {
		t.Fatalf("OnChange fired %d times, want 1", changes.Load())
	}
	checkLookups(t, tbl, []lookupCase{{mac: "00:53:00:00:00:42", vf: 1, netdev: "enP51p1s0f0c1pf0vf1", handle: "pci/0033:01:00.0/131074", ctrl: 1}})
}

func TestSysfsMACErrors(t *testing.T) {
	sysfs := writeSysfs(t, map[string]string{
		"class/net/nomac/smart_nic/pf/config": "MaxTxRate  : 0\n",
		"class/net/zero/smart_nic/pf/config":  smartNICConfig("00:00:00:00:00:00"),
		"class/net/bad/smart_nic/pf/config":   smartNICConfig("not-a-mac"),
	})
	for _, tt := range []struct{ uplink, want string }{
		{"nomac", "no MAC line"}, {"zero", "all zeroes"}, {"bad", `"not-a-mac"`},
		{"missing", "no such file"}, {"..", "not valid"}, {"a/b", "not valid"},
	} {
		if _, err := smartNICMAC(sysfs, tt.uplink); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.uplink, err, tt.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	tbl := NewTable(WithLogger(slog.New(slog.DiscardHandler)), WithOnChange(func() {}))
	ports := syntheticPorts(2, 64, nil)
	tbl.Replace(ports)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				rep, err := tbl.Lookup(pfMACn(i%2), i%64)
				if err != nil || rep.VFNum != uint16(i%64) {
					t.Errorf("worker %d: %v %v", w, rep, err)
					return
				}
				_ = tbl.KnownPFs()
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			p := Port{Device: "pci/0000:09:00.0", Index: uint32(i), Netdev: fmt.Sprint("extra", i), Flavour: PCIVF, VFNum: uint16(i)}
			tbl.Upsert(p)
			tbl.Delete(p.Handle())
			if i%50 == 0 {
				tbl.Replace(ports)
			}
		}
	})
	wg.Wait()
}

func pfMACn(pf int) net.HardwareAddr {
	return net.HardwareAddr{0x00, 0x53, 0x00, 0x00, 0x01, byte(pf)}
}

// syntheticPorts builds a BlueField-like dump with pfs PFs and vfs VFs each;
// keep, when set, selects which VF numbers exist.
func syntheticPorts(pfs, vfs int, keep func(vf int) bool) []Port {
	var ports []Port
	for pf := range pfs {
		dev := fmt.Sprintf("pci/0000:03:00.%d", pf)
		base := uint32(pf+3) << 16
		ports = append(ports,
			Port{Device: dev, Index: base - 1, Netdev: fmt.Sprintf("p%d", pf), Flavour: Physical, PortNumber: uint32(pf)},
			Port{Device: dev, Index: base, Netdev: fmt.Sprintf("pf%dhpf", pf), Flavour: PCIPF, Controller: 1,
				PFNum: uint16(pf), External: true, HWAddr: pfMACn(pf)})
		for vf := range vfs {
			if keep != nil && !keep(vf) {
				continue
			}
			ports = append(ports, Port{Device: dev, Index: base + 1 + uint32(vf), Netdev: fmt.Sprintf("pf%dvf%d", pf, vf),
				Flavour: PCIVF, Controller: 1, PFNum: uint16(pf), VFNum: uint16(vf), External: true})
		}
	}
	return ports
}

func BenchmarkLookup(b *testing.B) {
	tbl := NewTable(WithLogger(slog.New(slog.DiscardHandler)))
	tbl.Replace(syntheticPorts(4, 512, nil))
	macs := []net.HardwareAddr{pfMACn(0), pfMACn(1), pfMACn(2), pfMACn(3)}
	i := 0
	for b.Loop() {
		if _, err := tbl.Lookup(macs[i%4], i%512); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkLookupMiss(b *testing.B) {
	tbl := NewTable(WithLogger(slog.New(slog.DiscardHandler)))
	tbl.Replace(syntheticPorts(4, 512, nil))
	mac := pfMACn(0)
	for b.Loop() {
		if _, err := tbl.Lookup(mac, 600); err == nil {
			b.Fatal("found vf 600")
		}
	}
}

func BenchmarkReplace(b *testing.B) {
	tbl := NewTable(WithLogger(slog.New(slog.DiscardHandler)))
	ports := syntheticPorts(4, 512, nil)
	for b.Loop() {
		tbl.Replace(ports)
	}
}

func TestTableOwnsItsPorts(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	ports := loadFixture(t, "bluefield.json")
	tbl.Replace(ports)
	for _, p := range ports {
		if p.Flavour == PCIPF {
			p.HWAddr[0] = 0xff // the caller reusing its buffers
		}
	}
	checkLookups(t, tbl, blueFieldCases)
}

// TestPFControllers: each PF MAC belongs to its devlink controller; a MAC
// PFs of two controllers share belongs to neither host.
func TestPFControllers(t *testing.T) {
	macA, macB, shared := mustMAC(t, "0e:00:00:00:0a:01"), mustMAC(t, "0e:00:00:00:0b:01"), mustMAC(t, "0e:00:00:00:0c:01")
	pf := func(index, controller uint32, pfnum uint16, mac net.HardwareAddr) Port {
		return Port{Device: "pci/0000:03:00.0", Index: index, Flavour: PCIPF, Controller: controller, PFNum: pfnum, External: true, HWAddr: mac}
	}
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
	tbl.Replace([]Port{pf(1, 1, 0, macA), pf(2, 2, 0, macB), pf(3, 1, 1, shared), pf(4, 2, 1, shared)})
	for _, tc := range []struct {
		mac        net.HardwareAddr
		controller uint32
		ok         bool
	}{{macA, 1, true}, {macB, 2, true}, {shared, 0, false}, {mustMAC(t, "0e:00:00:00:0d:01"), 0, false}} {
		if c, ok := tbl.PFController(tc.mac); c != tc.controller || ok != tc.ok {
			t.Errorf("PFController(%s) = %d, %v; want %d, %v", tc.mac, c, ok, tc.controller, tc.ok)
		}
	}
	if got := tbl.KnownPFsOf(1); !slices.Equal(got, []string{macA.String()}) {
		t.Errorf("KnownPFsOf(1) = %v, want [%s]", got, macA)
	}
	if got := tbl.KnownPFsOf(3); len(got) != 0 {
		t.Errorf("KnownPFsOf(3) = %v, want none", got)
	}
}

// TestLookupErrorBrief: Brief names the request and what is missing, and
// nothing of what else the table holds.
func TestLookupErrorBrief(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)), WithSysfsRoot(t.TempDir()))
	tbl.Replace(loadFixture(t, "bluefield.json"))
	for _, tc := range []struct {
		mac  string
		vf   int
		want string
	}{
		{"0c:42:a1:00:00:09", 0, "no representor for pf-mac 0c:42:a1:00:00:09 vf-num 0 on this DPU: unknown PF"},
		{pf0MAC, 9, "no representor for pf-mac " + pf0MAC + " vf-num 9 on this DPU: unknown VF"},
	} {
		_, err := tbl.Lookup(mustMAC(t, tc.mac), tc.vf)
		var le *LookupError
		if !errors.As(err, &le) || le.Brief() != tc.want || strings.Contains(le.Brief(), pf1MAC) {
			t.Errorf("Brief of %v = %q, want %q", err, le.Brief(), tc.want)
		}
	}
}
