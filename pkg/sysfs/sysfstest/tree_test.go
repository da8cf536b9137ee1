package sysfstest_test

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

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

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTree(t testing.TB) *sysfstest.Tree {
	t.Helper()
	tree := sysfstest.NewTestTree(t)
	if err := tree.AddPF("0000:03:00.0", "p0", mac(t, "0c:42:a1:00:00:01")); err != nil {
		t.Fatal(err)
	}
	if err := tree.AddVF("0000:03:00.0", "0000:03:00.2", 0, "p0v0", mac(t, "02:00:00:00:00:01"), "mlx5_core"); err != nil {
		t.Fatal(err)
	}
	if err := tree.AddVF("0000:03:00.0", "0000:03:00.3", 1, "p0v1", nil, "vfio-pci"); err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestLayout checks the tree against the kernel's shape, following links
// the way tools like readlink -f and ip do.
func TestLayout(t *testing.T) {
	tree := newTree(t)
	root := tree.Root()
	dev := func(pci string) string { return filepath.Join(root, "devices", "pci0000:00", pci) }
	links := []struct{ link, target string }{
		{"bus/pci/devices/0000:03:00.0", dev("0000:03:00.0")},
		{"bus/pci/devices/0000:03:00.2/physfn", dev("0000:03:00.0")},
		{"bus/pci/devices/0000:03:00.0/virtfn0", dev("0000:03:00.2")},
		{"bus/pci/devices/0000:03:00.0/virtfn1", dev("0000:03:00.3")},
		{"bus/pci/devices/0000:03:00.2/driver", filepath.Join(root, "bus/pci/drivers/mlx5_core")},
		{"bus/pci/devices/0000:03:00.3/driver", filepath.Join(root, "bus/pci/drivers/vfio-pci")},
		{"bus/pci/drivers/vfio-pci/0000:03:00.3", dev("0000:03:00.3")},
		{"class/net/p0", filepath.Join(dev("0000:03:00.0"), "net/p0")},
		{"class/net/p0v0", filepath.Join(dev("0000:03:00.2"), "net/p0v0")},
	}
	for _, l := range links {
		path := filepath.Join(root, l.link)
		target, err := os.Readlink(path)
		if err != nil {
			t.Errorf("%s: %v", l.link, err)
			continue
		}
		if filepath.IsAbs(target) {
			t.Errorf("%s -> %s: want a relative link, as sysfs has", l.link, target)
		}
		got, err := filepath.EvalSymlinks(path)
		want, _ := filepath.EvalSymlinks(l.target)
		if err != nil || got != want {
			t.Errorf("%s resolves to %s (%v), want %s", l.link, got, err, want)
		}
	}
	files := map[string]string{
		"class/net/p0/address":   "0c:42:a1:00:00:01\n",
		"class/net/p0/mtu":       "1500\n",
		"class/net/p0v0/address": "02:00:00:00:00:01\n",
	}
	for f, want := range files {
		if got := readFile(t, filepath.Join(root, f)); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	// vfio-pci creates no netdev.
	if _, err := os.Lstat(filepath.Join(root, "bus/pci/devices/0000:03:00.3/net")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("vfio-pci VF has a net/ directory (%v)", err)
	}
}

func TestAddErrors(t *testing.T) {
	tree := newTree(t)
	tests := []struct {
		name string
		call func() error
		want error // nil: any error
	}{
		{"PF twice", func() error { return tree.AddPF("0000:03:00.0", "p9", nil) }, fs.ErrExist},
		{"PF short form of existing", func() error { return tree.AddPF("03:00.0", "p9", nil) }, fs.ErrExist},
		{"PF netdev name taken", func() error { return tree.AddPF("0000:04:00.0", "p0v0", nil) }, fs.ErrExist},
		{"PF bad address", func() error { return tree.AddPF("eth0", "p9", nil) }, nil},
		{"PF bad netdev name", func() error { return tree.AddPF("0000:04:00.0", "a/b", nil) }, nil},
		{"PF netdev name too long", func() error { return tree.AddPF("0000:04:00.0", "sixteen-chars-xx", nil) }, nil},
		{"VF of missing PF", func() error { return tree.AddVF("0000:04:00.0", "0000:04:00.2", 0, "x", nil, "mlx5_core") }, fs.ErrNotExist},
		{"VF index taken", func() error { return tree.AddVF("0000:03:00.0", "0000:03:00.4", 1, "x", nil, "mlx5_core") }, fs.ErrExist},
		{"VF twice", func() error { return tree.AddVF("0000:03:00.0", "0000:03:00.2", 5, "x", nil, "mlx5_core") }, fs.ErrExist},
		{"VF negative index", func() error { return tree.AddVF("0000:03:00.0", "0000:03:00.4", -1, "x", nil, "mlx5_core") }, nil},
		{"VF bad driver", func() error { return tree.AddVF("0000:03:00.0", "0000:03:00.4", 2, "x", nil, "../x") }, nil},
		{"VF netdev name taken", func() error { return tree.AddVF("0000:03:00.0", "0000:03:00.4", 2, "p0", nil, "mlx5_core") }, fs.ErrExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
	// Refused calls validate before writing, so nothing was left behind.
	for _, p := range []string{"bus/pci/devices/0000:04:00.0", "bus/pci/devices/0000:03:00.4", "class/net/p9", "bus/pci/devices/0000:03:00.0/virtfn2"} {
		if _, err := os.Lstat(filepath.Join(tree.Root(), p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s exists after refused calls (%v)", p, err)
		}
	}
}

func TestMoveNetdev(t *testing.T) {
	tree := newTree(t)
	root := tree.Root()
	netDir := filepath.Join(root, "bus/pci/devices/0000:03:00.2/net")
	entries := func() []string {
		des, err := os.ReadDir(netDir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, de := range des {
			names = append(names, de.Name())
		}
		return names
	}

	if err := tree.MoveNetdevHome("0000:03:00.2", ""); err == nil {
		t.Error("MoveNetdevHome before MoveNetdevToPod: no error")
	}
	if err := tree.MoveNetdevToPod("0000:03:00.2"); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 0 {
		t.Errorf("net/ in pod = %v, want empty", got)
	}
	if _, err := os.Lstat(filepath.Join(root, "class/net/p0v0")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("class/net/p0v0 still there while in pod (%v)", err)
	}
	if err := tree.MoveNetdevToPod("0000:03:00.2"); err == nil {
		t.Error("MoveNetdevToPod twice: no error")
	}
	if err := tree.MoveNetdevHome("0000:03:00.2", "p0"); !errors.Is(err, fs.ErrExist) {
		t.Errorf("MoveNetdevHome onto a taken name: error = %v, want fs.ErrExist", err)
	}
	if err := tree.MoveNetdevHome("0000:03:00.2", "net1"); err != nil {
		t.Fatal(err)
	}
	if got := entries(); len(got) != 1 || got[0] != "net1" {
		t.Errorf("net/ at home = %v, want [net1]", got)
	}
	if got := readFile(t, filepath.Join(root, "class/net/net1/address")); got != "02:00:00:00:00:01\n" {
		t.Errorf("class/net/net1/address = %q", got)
	}
	for _, pci := range []string{"0000:03:00.3", "0000:03:00.7", "bogus"} {
		if err := tree.MoveNetdevToPod(pci); err == nil {
			t.Errorf("MoveNetdevToPod(%s): no error", pci)
		}
	}
}

func TestSmartNICPFConfig(t *testing.T) {
	tree := newTree(t)
	// p0 is a PF netdev (a link into devices/), pf0hpf is not in the tree.
	for _, uplink := range []string{"p0", "p1"} {
		if err := tree.SetSmartNICPFConfig(uplink, mac(t, "00:53:00:00:00:42")); err != nil {
			t.Fatal(err)
		}
		got := readFile(t, filepath.Join(tree.Root(), "class/net", uplink, "smart_nic/pf/config"))
		want := "MAC        : 00:53:00:00:00:42\nMaxTxRate  : 0\nMinTxRate  : 0\nState      : Follow\n"
		if got != want {
			t.Errorf("%s config = %q, want %q", uplink, got, want)
		}
	}
	if err := tree.SetSmartNICPFConfig("../x", nil); err == nil {
		t.Error("bad uplink name: no error")
	}
}

func TestSetNetdevAddress(t *testing.T) {
	tree := newTree(t)
	for _, ifname := range []string{"p0", "pf0hpf"} {
		if err := tree.SetNetdevAddress(ifname, mac(t, "B8:3F:D2:E1:8F:DC")); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, filepath.Join(tree.Root(), "class/net", ifname, "address")); got != "b8:3f:d2:e1:8f:dc\n" {
			t.Errorf("%s address = %q", ifname, got)
		}
	}
	// Through the class/net link, the PF's device directory sees the change.
	if got := readFile(t, filepath.Join(tree.Root(), "bus/pci/devices/0000:03:00.0/net/p0/address")); !strings.HasPrefix(got, "b8:3f") {
		t.Errorf("PF address in devices/ = %q", got)
	}
	if err := tree.SetNetdevAddress("", nil); err == nil {
		t.Error("empty name: no error")
	}
}

// Many VFs added at once, as the sandbox does for a whole PF.
func TestConcurrentAddVF(t *testing.T) {
	tree := sysfstest.NewTestTree(t)
	if err := tree.AddPF("0000:03:00.0", "p0", nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			vf := fmt.Sprintf("0000:03:%02x.%x", 1+i/8, i%8)
			errs <- tree.AddVF("0000:03:00.0", vf, i, fmt.Sprintf("p0v%d", i), nil, "mlx5_core")
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	links, _ := filepath.Glob(filepath.Join(tree.Root(), "bus/pci/devices/0000:03:00.0/virtfn*"))
	if len(links) != 64 {
		t.Errorf("%d virtfn links, want 64", len(links))
	}
}
