package sysfs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

// A deviceID that names no usable VF gets an error saying what the device
// is instead: a device without SR-IOV, a VF whose driver makes no netdev.
// A PF (with or without VFs yet) is looked up as the function itself.
func TestLookupUnusableDevices(t *testing.T) {
	tree := sysfstest.NewTestTree(t)
	for _, pf := range []string{"0000:05:00.0", "0000:06:00.0"} {
		if err := tree.AddPF(pf, "p"+pf[3:4]+pf[6:7], mac(t, "0c:42:a1:00:00:05")); err != nil {
			t.Fatal(err)
		}
	}
	if err := tree.AddVF("0000:05:00.0", "0000:05:00.2", 0, "", nil, "pci-stub"); err != nil {
		t.Fatal(err)
	}
	// A NIC without SR-IOV: neither physfn nor sriov_totalvfs.
	plain := filepath.Join(tree.Root(), "devices", "pci0000:00", "0000:07:00.0")
	if err := os.MkdirAll(plain, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plain, filepath.Join(tree.Root(), "bus", "pci", "devices", "0000:07:00.0")); err != nil {
		t.Fatal(err)
	}
	r := sysfs.New(tree.Root())
	for _, tc := range []struct {
		name, addr string
		want       error
		in, notIn  []string
	}{
		{"device without SR-IOV", "0000:07:00.0", sysfs.ErrNotVF, []string{"0000:07:00.0 has no", "physfn"}, []string{"is a PF"}},
		{"VF of a driver without netdev", "0000:05:00.2", sysfs.ErrNoNetdev, []string{"0000:05:00.2, bound to pci-stub", "net does not exist"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.LookupVF(tc.addr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("LookupVF(%s) = %v, want %v", tc.addr, err, tc.want)
			}
			for _, s := range tc.in {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
			for _, s := range tc.notIn {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q says %q", err, s)
				}
			}
		})
	}
}
