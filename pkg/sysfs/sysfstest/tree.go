package sysfstest

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

// DefaultMTU is written to every netdev's mtu file.
const DefaultMTU = 1500

// TotalVFs is every PF's sriov_totalvfs.
const TotalVFs = 64

// Tree is a fake sysfs rooted at a directory. Its methods may be called
// concurrently.
type Tree struct {
	root string
	mu   sync.Mutex
}

// NewTree returns a builder for a tree at root. Directories, root included,
// are created by the first method that needs them, so NewTree itself
// cannot fail.
func NewTree(root string) *Tree {
	return &Tree{root: root}
}

// Root is the directory to use as the sysfs root.
func (t *Tree) Root() string { return t.root }

// AddPF adds a physical function, with sriov_totalvfs as an SR-IOV
// capable PF has it. An empty netdev leaves the PF without one (as when
// it is bound to a stub driver); a nil mac writes zeros.
func (t *Tree) AddPF(pci, netdev string, mac net.HardwareAddr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	pci, err := t.checkNewDevice(pci, netdev)
	if err != nil {
		return fmt.Errorf("add PF: %w", err)
	}
	if err := t.addDevice(pci); err != nil {
		return fmt.Errorf("add PF %s: %w", pci, err)
	}
	if err := os.WriteFile(filepath.Join(t.devDir(pci), "sriov_totalvfs"), []byte(strconv.Itoa(TotalVFs)+"\n"), 0o444); err != nil {
		return fmt.Errorf("add PF %s: %w", pci, err)
	}
	if netdev == "" {
		return nil
	}
	if err := t.addNetdev(pci, netdev, mac); err != nil {
		return fmt.Errorf("add PF %s: %w", pci, err)
	}
	return nil
}

// AddVF adds virtual function number index of the PF pfPCI, which must
// exist. The VF gets a driver link unless driver is "" (unbound), and a
// netdev only when it is bound to a kernel driver: netdev is ignored for
// vfio-pci and the other userspace drivers, as the kernel creates none.
func (t *Tree) AddVF(pfPCI, vfPCI string, index int, netdev string, mac net.HardwareAddr, driver string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	pf, vf, err := t.checkNewVF(pfPCI, vfPCI, index, netdev, driver)
	if err != nil {
		return fmt.Errorf("add VF: %w", err)
	}
	if err := t.addVF(pf, vf, index, netdev, mac, driver); err != nil {
		return fmt.Errorf("add VF %s: %w", vf, err)
	}
	return nil
}

func (t *Tree) addVF(pf, vf string, index int, netdev string, mac net.HardwareAddr, driver string) error {
	if err := t.addDevice(vf); err != nil {
		return err
	}
	if err := symlink(t.devDir(pf), filepath.Join(t.devDir(vf), "physfn")); err != nil {
		return err
	}
	if err := symlink(t.devDir(vf), filepath.Join(t.devDir(pf), fmt.Sprintf("virtfn%d", index))); err != nil {
		return err
	}
	if driver == "" {
		return nil
	}
	if err := t.bind(vf, driver); err != nil {
		return err
	}
	if netdev == "" || sysfs.IsUserspaceDriver(driver) {
		return nil
	}
	return t.addNetdev(vf, netdev, mac)
}

// MoveNetdevToPod hides the VF's netdev from the host, as moving it into a
// pod's network namespace does: net/ stays, empty, and class/net loses the
// name. vfPCI may also be a PF's address or an SF's auxiliary device name.
func (t *Tree) MoveNetdevToPod(vfPCI string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	vf, dir, err := t.function(vfPCI)
	if err != nil {
		return fmt.Errorf("move netdev to pod: %w", err)
	}
	name, err := t.netdevOf(dir)
	if err != nil {
		return fmt.Errorf("move netdev of %s to pod: %w", vf, err)
	}
	if err := t.stashNetdev(vf, dir, name); err != nil {
		return fmt.Errorf("move netdev %s of %s to pod: %w", name, vf, err)
	}
	return nil
}

// MoveNetdevHome brings a netdev hidden by MoveNetdevToPod back to the host
// as ifname, since pods rename VFs and DEL may not restore the old name;
// "" keeps the name it left with.
func (t *Tree) MoveNetdevHome(vfPCI, ifname string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	vf, dir, err := t.function(vfPCI)
	if err != nil {
		return fmt.Errorf("move netdev home: %w", err)
	}
	if err := t.unstashNetdev(vf, dir, ifname); err != nil {
		return fmt.Errorf("move netdev of %s home: %w", vf, err)
	}
	return nil
}

// SetSmartNICPFConfig writes class/net/<uplink>/smart_nic/pf/config in the
// format BlueField firmware uses. The uplink is created as a plain
// directory if the tree has no such netdev, since DPU-side test beds often
// have uplinks that are not PCI devices of this tree.
func (t *Tree) SetSmartNICPFConfig(uplink string, mac net.HardwareAddr) error {
	const format = "MAC        : %s\nMaxTxRate  : 0\nMinTxRate  : 0\nState      : Follow\n"
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.writeClassNet(uplink, filepath.Join("smart_nic", "pf", "config"), fmt.Sprintf(format, macString(mac))); err != nil {
		return fmt.Errorf("set smart_nic config of %q: %w", uplink, err)
	}
	return nil
}

// SetNetdevAddress writes class/net/<ifname>/address, creating the netdev
// as a plain directory if the tree has none of that name.
func (t *Tree) SetNetdevAddress(ifname string, mac net.HardwareAddr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.writeClassNet(ifname, "address", macString(mac)+"\n"); err != nil {
		return fmt.Errorf("set address of %q: %w", ifname, err)
	}
	return nil
}

func (t *Tree) writeClassNet(ifname, file, content string) error {
	if err := validIfname(ifname); err != nil {
		return err
	}
	path := filepath.Join(t.classNet(ifname), file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// macString prints nil as zeros, as the kernel prints an unset address.
func macString(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return "00:00:00:00:00:00"
	}
	return mac.String()
}

// validIfname applies the kernel's dev_valid_name rules, which also keep
// names from escaping the tree.
func validIfname(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("netdev name %q is invalid", name)
	}
	return nil
}

// isAbsent is true only for "no such file", so other errors surface.
func isAbsent(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	return false, err
}
