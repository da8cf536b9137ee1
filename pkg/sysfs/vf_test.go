package sysfs_test

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

func mac(t testing.TB, s string) net.HardwareAddr {
	t.Helper()
	m, err := net.ParseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

type pfSpec struct {
	pci, netdev, mac string
}

type vfSpec struct {
	pf, pci     string
	index       int
	netdev, mac string
	driver      string
}

// Two ConnectX-like PFs with VFs at assorted indices (virtfn1 and virtfn10
// together catch prefix matching), a vfio-pci VF, an unbound VF, and a
// PF that has no netdev.
var (
	fixturePFs = []pfSpec{
		{"0000:03:00.0", "enp3s0f0", "0C:42:A1:00:00:01"},
		{"0000:03:00.1", "enp3s0f1", "0c:42:a1:00:00:02"},
		{"0000:81:00.0", "", ""},
	}
	fixtureVFs = []vfSpec{
		{pf: "0000:03:00.0", pci: "0000:03:00.2", index: 0, netdev: "enp3s0f0v0", mac: "02:00:00:00:00:a0", driver: "mlx5_core"},
		{pf: "0000:03:00.0", pci: "0000:03:00.3", index: 1, netdev: "enp3s0f0v1", mac: "02:00:00:00:00:a1", driver: "mlx5_core"},
		{pf: "0000:03:00.0", pci: "0000:03:0a.4", index: 10, netdev: "enp3s0f0v10", mac: "02:00:00:00:00:aa", driver: "mlx5_core"},
		{pf: "0000:03:00.0", pci: "0000:03:00.4", index: 2, netdev: "ignored", driver: "vfio-pci"},
		{pf: "0000:03:00.0", pci: "0000:03:00.5", index: 3, driver: ""},
		{pf: "0000:03:00.1", pci: "0000:03:08.2", index: 0, netdev: "enp3s0f1v0", mac: "02:00:00:00:00:b0", driver: "mlx5_core"},
		{pf: "0000:03:00.1", pci: "0000:03:08.3", index: 1, netdev: "enp3s0f1v1", driver: "iavf"},
		{pf: "0000:81:00.0", pci: "0000:81:00.2", index: 0, netdev: "ens1v0", driver: "ixgbevf"},
	}
)

func newFixture(t testing.TB) *sysfstest.Tree {
	t.Helper()
	tree := sysfstest.NewTestTree(t)
	for _, pf := range fixturePFs {
		var m net.HardwareAddr
		if pf.mac != "" {
			m = mac(t, pf.mac)
		}
		if err := tree.AddPF(pf.pci, pf.netdev, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, vf := range fixtureVFs {
		var m net.HardwareAddr
		if vf.mac != "" {
			m = mac(t, vf.mac)
		}
		if err := tree.AddVF(vf.pf, vf.pci, vf.index, vf.netdev, m, vf.driver); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func TestLookupVF(t *testing.T) {
	r := sysfs.New(newFixture(t).Root())
	tests := []struct {
		addr string
		want sysfs.VF
	}{
		{"0000:03:00.2", sysfs.VF{
			PCIAddress: "0000:03:00.2", Netdev: "enp3s0f0v0", Driver: "mlx5_core",
			MAC: mac(t, "02:00:00:00:00:a0"), MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFNetdev: "enp3s0f0", PFMAC: mac(t, "0c:42:a1:00:00:01"), VFIndex: 0,
		}},
		{"0000:03:00.3", sysfs.VF{
			PCIAddress: "0000:03:00.3", Netdev: "enp3s0f0v1", Driver: "mlx5_core",
			MAC: mac(t, "02:00:00:00:00:a1"), MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFNetdev: "enp3s0f0", PFMAC: mac(t, "0c:42:a1:00:00:01"), VFIndex: 1,
		}},
		{"0000:03:0a.4", sysfs.VF{
			PCIAddress: "0000:03:0a.4", Netdev: "enp3s0f0v10", Driver: "mlx5_core",
			MAC: mac(t, "02:00:00:00:00:aa"), MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFNetdev: "enp3s0f0", PFMAC: mac(t, "0c:42:a1:00:00:01"), VFIndex: 10,
		}},
		{"0000:03:08.2", sysfs.VF{
			PCIAddress: "0000:03:08.2", Netdev: "enp3s0f1v0", Driver: "mlx5_core",
			MAC: mac(t, "02:00:00:00:00:b0"), MTU: 1500,
			PFPCIAddress: "0000:03:00.1", PFNetdev: "enp3s0f1", PFMAC: mac(t, "0c:42:a1:00:00:02"), VFIndex: 0,
		}},
		// Short and upper-case forms resolve to the kernel's spelling.
		{"03:08.3", sysfs.VF{
			PCIAddress: "0000:03:08.3", Netdev: "enp3s0f1v1", Driver: "iavf",
			MAC: mac(t, "00:00:00:00:00:00"), MTU: 1500,
			PFPCIAddress: "0000:03:00.1", PFNetdev: "enp3s0f1", PFMAC: mac(t, "0c:42:a1:00:00:02"), VFIndex: 1,
		}},
		{"0000:03:0A.4", sysfs.VF{
			PCIAddress: "0000:03:0a.4", Netdev: "enp3s0f0v10", Driver: "mlx5_core",
			MAC: mac(t, "02:00:00:00:00:aa"), MTU: 1500,
			PFPCIAddress: "0000:03:00.0", PFNetdev: "enp3s0f0", PFMAC: mac(t, "0c:42:a1:00:00:01"), VFIndex: 10,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got, err := r.LookupVF(tt.addr)
			if err != nil {
				t.Fatalf("LookupVF(%q): %v", tt.addr, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LookupVF(%q)\n got %+v\nwant %+v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestLookupVFPFMACPrintsLowerCase(t *testing.T) {
	vf, err := sysfs.New(newFixture(t).Root()).LookupVF("0000:03:00.2")
	if err != nil {
		t.Fatal(err)
	}
	if got := vf.PFMAC.String(); got != "0c:42:a1:00:00:01" {
		t.Errorf("PFMAC = %s, want 0c:42:a1:00:00:01", got)
	}
}

func TestLookupVFErrors(t *testing.T) {
	tree := newFixture(t)
	r := sysfs.New(tree.Root())
	tests := []struct {
		name, addr string
		want       error
		// partial: the VF comes back with PF fields and index despite the error.
		partial   bool
		wantIndex int
		wantInMsg []string
	}{
		{name: "missing device", addr: "0000:03:00.7", want: sysfs.ErrNoDevice,
			wantInMsg: []string{"0000:03:00.7", filepath.Join(tree.Root(), "bus/pci/devices/0000:03:00.7")}},
		{name: "missing domain", addr: "0001:03:00.2", want: sysfs.ErrNoDevice},
		{name: "vfio-pci", addr: "0000:03:00.4", want: sysfs.ErrVFIO, partial: true, wantIndex: 2,
			wantInMsg: []string{"0000:03:00.4", "vfio-pci"}},
		{name: "unbound", addr: "0000:03:00.5", want: sysfs.ErrNoNetdev, partial: true, wantIndex: 3,
			wantInMsg: []string{"0000:03:00.5", "driver"}},
		{name: "PF without netdev", addr: "0000:81:00.2", want: sysfs.ErrNoPFNetdev,
			wantInMsg: []string{"0000:81:00.0", filepath.Join(tree.Root(), "bus/pci/devices/0000:81:00.0/net")}},
		{name: "empty", addr: "", want: sysfs.ErrInvalidAddress},
		{name: "garbage", addr: "eth0", want: sysfs.ErrInvalidAddress, wantInMsg: []string{`"eth0"`}},
		{name: "path traversal", addr: "../../../etc", want: sysfs.ErrInvalidAddress},
		{name: "function 8", addr: "0000:03:00.8", want: sysfs.ErrInvalidAddress},
		{name: "device 20", addr: "0000:03:20.0", want: sysfs.ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vf, err := r.LookupVF(tt.addr)
			if !errors.Is(err, tt.want) {
				t.Fatalf("LookupVF(%q) error = %v, want %v", tt.addr, err, tt.want)
			}
			for _, s := range tt.wantInMsg {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %q", err, s)
				}
			}
			if !tt.partial {
				if !reflect.DeepEqual(vf, sysfs.VF{}) {
					t.Errorf("VF = %+v, want zero", vf)
				}
				return
			}
			if vf.PFPCIAddress == "" || vf.PFMAC == nil || vf.VFIndex != tt.wantIndex || vf.Netdev != "" {
				t.Errorf("VF = %+v, want PF fields, index %d and no netdev", vf, tt.wantIndex)
			}
		})
	}
}

// The host agent records the netdev name before moving a VF into a pod;
// from then on sysfs only yields the PF side.
func TestLookupVFNetdevInPod(t *testing.T) {
	tree := newFixture(t)
	r := sysfs.New(tree.Root())
	const addr = "0000:03:00.3"
	if err := tree.MoveNetdevToPod(addr); err != nil {
		t.Fatal(err)
	}
	vf, err := r.LookupVF(addr)
	if !errors.Is(err, sysfs.ErrNoNetdev) {
		t.Fatalf("in pod: error = %v, want ErrNoNetdev", err)
	}
	if !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("error %q should name the VF and the empty net/ directory", err)
	}
	if vf.VFIndex != 1 || vf.PFMAC.String() != "0c:42:a1:00:00:01" || vf.Driver != "mlx5_core" {
		t.Errorf("in pod: VF = %+v, want index 1 and the PF MAC", vf)
	}

	for _, tt := range []struct{ name, ifname, want string }{
		{"renamed", "eth7", "eth7"},
		{"original name", "", "eth7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := tree.MoveNetdevHome(addr, tt.ifname); err != nil {
				t.Fatal(err)
			}
			vf, err := r.LookupVF(addr)
			if err != nil {
				t.Fatalf("home: %v", err)
			}
			if vf.Netdev != tt.want || vf.MAC.String() != "02:00:00:00:00:a1" {
				t.Errorf("home: VF = %+v, want netdev %s", vf, tt.want)
			}
			if err := tree.MoveNetdevToPod(addr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNewDefaultRoot(t *testing.T) {
	if got := sysfs.New("").Root(); got != "/sys" {
		t.Errorf("New(\"\").Root() = %q, want /sys", got)
	}
}

func BenchmarkLookupVF(b *testing.B) {
	tree := sysfstest.NewTestTree(b)
	if err := tree.AddPF("0000:03:00.0", "p0", mac(b, "0c:42:a1:00:00:01")); err != nil {
		b.Fatal(err)
	}
	// The last of 16 VFs, so the virtfn scan is not cut short.
	for i := range 16 {
		vf := fmt.Sprintf("0000:03:%02x.%x", (i+2)/8, (i+2)%8)
		if err := tree.AddVF("0000:03:00.0", vf, i, fmt.Sprintf("p0v%d", i), nil, "mlx5_core"); err != nil {
			b.Fatal(err)
		}
	}
	r := sysfs.New(tree.Root())
	for b.Loop() {
		if _, err := r.LookupVF("0000:03:02.1"); err != nil {
			b.Fatal(err)
		}
	}
}
