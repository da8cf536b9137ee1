package sysfs_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

func TestReadSmartNICPFMAC(t *testing.T) {
	tree := sysfstest.NewTestTree(t)
	if err := tree.SetSmartNICPFConfig("p0", mac(t, "00:53:00:00:00:42")); err != nil {
		t.Fatal(err)
	}
	got, err := sysfs.ReadSmartNICPFMAC(tree.Root(), "p0")
	if err != nil || got.String() != "00:53:00:00:00:42" {
		t.Fatalf("ReadSmartNICPFMAC(p0) = %v, %v; want 00:53:00:00:00:42", got, err)
	}

	if _, err := sysfs.ReadSmartNICPFMAC(tree.Root(), "p1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing uplink: error = %v, want fs.ErrNotExist", err)
	}
	for _, bad := range []string{"", ".", "..", "../p0"} {
		if _, err := sysfs.ReadSmartNICPFMAC(tree.Root(), bad); err == nil {
			t.Errorf("uplink %q: no error", bad)
		}
	}
}

func TestReadSmartNICPFMACMalformed(t *testing.T) {
	for name, content := range map[string]string{
		"no MAC line": "MaxTxRate  : 0\nState      : Follow\n",
		"bad MAC":     "MAC        : 00:53:00\n",
		"empty":       "",
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "class", "net", "p0", "smart_nic", "pf")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "config"), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			if m, err := sysfs.ReadSmartNICPFMAC(root, "p0"); err == nil {
				t.Errorf("got %v, want an error", m)
			}
		})
	}
}
