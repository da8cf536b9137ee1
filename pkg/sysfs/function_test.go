package sysfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// The layout of the mlx5 switchdev docs' SF (devlink-samples.md): auxiliary
// device mlx5_core.sf.4 in PF 0000:06:00.0, sfnum 88.
func sfTree(t *testing.T) *sysfstest.Tree {
	t.Helper()
	tree := sysfstest.NewTestTree(t)
	if err := tree.AddPF("0000:06:00.0", "ens2f0np0", mac(t, "0c:42:a1:00:00:06")); err != nil {
		t.Fatal(err)
	}
	if err := tree.AddSF("0000:06:00.0", "mlx5_core.sf.4", 88, "enp6s0f0s88", mac(t, "00:00:00:00:88:88")); err != nil {
		t.Fatal(err)
	}
	return tree
}

func TestLookupSF(t *testing.T) {
	tree := sfTree(t)
	r := sysfs.New(tree.Root())
	got, err := r.LookupVF("mlx5_core.sf.4")
	if err != nil {
		t.Fatal(err)
	}
	want := sysfs.VF{Kind: vifplug.SF, AuxDevice: "mlx5_core.sf.4", SFNum: 88, Netdev: "enp6s0f0s88",
		MAC: mac(t, "00:00:00:00:88:88"), MTU: sysfstest.DefaultMTU,
		PFPCIAddress: "0000:06:00.0", PFNetdev: "ens2f0np0", PFMAC: mac(t, "0c:42:a1:00:00:06")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// In a pod, the SF keeps everything but its netdev, as a VF does.
	if err := tree.MoveNetdevToPod("mlx5_core.sf.4"); err != nil {
		t.Fatal(err)
	}
	got, err = r.LookupVF("mlx5_core.sf.4")
	if !errors.Is(err, sysfs.ErrNoNetdev) || got.SFNum != 88 || got.PFMAC.String() != "0c:42:a1:00:00:06" || got.Netdev != "" {
		t.Fatalf("in a pod: %+v, %v; want ErrNoNetdev with the PF and sfnum", got, err)
	}
	if err := tree.MoveNetdevHome("mlx5_core.sf.4", "sf0"); err != nil {
		t.Fatal(err)
	}
	if got, err = r.LookupVF("mlx5_core.sf.4"); err != nil || got.Netdev != "sf0" {
		t.Fatalf("back home: %+v, %v", got, err)
	}
}

func TestLookupSFErrors(t *testing.T) {
	tree := sfTree(t)
	// An auxiliary device that is no SF: mlx5's own eth device, no sfnum.
	pfDir, err := filepath.EvalSymlinks(filepath.Join(tree.Root(), "bus/pci/devices/0000:06:00.0"))
	if err != nil {
		t.Fatal(err)
	}
	eth := filepath.Join(pfDir, "mlx5_core.eth.0")
	if err := os.MkdirAll(eth, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(eth, filepath.Join(tree.Root(), "bus/auxiliary/devices/mlx5_core.eth.0")); err != nil {
		t.Fatal(err)
	}
	r := sysfs.New(tree.Root())
	for _, tc := range []struct {
		id   string
		want error
		in   string
	}{
		{"mlx5_core.sf.5", sysfs.ErrNoDevice, "no such auxiliary device mlx5_core.sf.5"},
		{"mlx5_core.eth.0", sysfs.ErrNotSF, "sfnum"},
	} {
		if _, err := r.LookupVF(tc.id); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("LookupVF(%s) = %v, want %v saying %q", tc.id, err, tc.want, tc.in)
		}
	}
}

func TestLookupPF(t *testing.T) {
	tree := sysfstest.NewTestTree(t)
	if err := tree.AddPF("0000:05:00.0", "enp5s0f0", mac(t, "0c:42:a1:00:00:05")); err != nil {
		t.Fatal(err)
	}
	if err := tree.AddVF("0000:05:00.0", "0000:05:00.2", 0, "enp5s0f0v0", nil, "mlx5_core"); err != nil {
		t.Fatal(err)
	}
	got, err := sysfs.New(tree.Root()).LookupVF("05:00.0")
	if err != nil {
		t.Fatal(err)
	}
	want := sysfs.VF{Kind: vifplug.PF, PCIAddress: "0000:05:00.0", Netdev: "enp5s0f0", MAC: mac(t, "0c:42:a1:00:00:05"),
		MTU: sysfstest.DefaultMTU, PFPCIAddress: "0000:05:00.0", PFNetdev: "enp5s0f0", PFMAC: mac(t, "0c:42:a1:00:00:05")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestNormalizeDeviceID(t *testing.T) {
	for in, want := range map[string]string{
		"mlx5_core.sf.4": "mlx5_core.sf.4",
		"03:00.2":        "0000:03:00.2",
		"0000:03:00.2":   "0000:03:00.2",
	} {
		if got, err := sysfs.NormalizeDeviceID(in); err != nil || got != want {
			t.Errorf("NormalizeDeviceID(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"mlx5_core.sf.-1", "mlx5_core.sf.x", "../sf.1", "mlx5_core..1", "a/b.sf.1", ""} {
		if _, err := sysfs.NormalizeDeviceID(bad); !errors.Is(err, sysfs.ErrInvalidAddress) {
			t.Errorf("NormalizeDeviceID(%q) = %v, want ErrInvalidAddress", bad, err)
		}
	}
}
