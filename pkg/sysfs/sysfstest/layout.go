package sysfstest

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

// devDir is where the device really lives; bus/pci/devices only links to
// it, as in the kernel.
func (t *Tree) devDir(pci string) string {
	domain, _, _ := strings.Cut(pci, ":")
	return filepath.Join(t.root, "devices", "pci"+domain+":00", pci)
}

func (t *Tree) busDev(pci string) string {
	return filepath.Join(t.root, "bus", "pci", "devices", pci)
}

func (t *Tree) classNet(ifname string) string {
	return filepath.Join(t.root, "class", "net", ifname)
}

// stashDir holds a VF's netdev while it is "in a pod". It sits outside
// bus/, devices/ and class/ so that no reader walks into it.
func (t *Tree) stashDir(pci string) string {
	return filepath.Join(t.root, ".sysfstest", "netns", pci)
}

// checkNewDevice validates everything before the first write, so a refused
// call leaves the tree as it was.
func (t *Tree) checkNewDevice(pci, netdev string) (string, error) {
	addr, err := sysfs.NormalizePCIAddress(pci)
	if err != nil {
		return "", err
	}
	if absent, err := isAbsent(t.busDev(addr)); err != nil || !absent {
		return "", deviceExists(addr, err)
	}
	if netdev == "" {
		return addr, nil
	}
	if err := validIfname(netdev); err != nil {
		return "", err
	}
	if absent, err := isAbsent(t.classNet(netdev)); err != nil || !absent {
		return "", netdevExists(netdev, err)
	}
	return addr, nil
}

func (t *Tree) checkNewVF(pfPCI, vfPCI string, index int, netdev, driver string) (pf, vf string, err error) {
	if pf, err = t.existingDevice(pfPCI); err != nil {
		return "", "", fmt.Errorf("PF: %w", err)
	}
	if index < 0 {
		return "", "", fmt.Errorf("VF index %d is negative", index)
	}
	if driver == "." || driver == ".." || strings.ContainsRune(driver, '/') {
		return "", "", fmt.Errorf("driver name %q is invalid", driver)
	}
	link := filepath.Join(t.devDir(pf), "virtfn"+strconv.Itoa(index))
	if absent, err := isAbsent(link); err != nil || !absent {
		return "", "", fmt.Errorf("PF %s already has %s: %w", pf, link, orExist(err))
	}
	if driver == "" || sysfs.IsUserspaceDriver(driver) {
		netdev = ""
	}
	vf, err = t.checkNewDevice(vfPCI, netdev)
	return pf, vf, err
}

func (t *Tree) existingDevice(pci string) (string, error) {
	addr, err := sysfs.NormalizePCIAddress(pci)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(t.busDev(addr)); err != nil {
		return "", fmt.Errorf("device %s: %w", addr, err)
	}
	return addr, nil
}

func (t *Tree) addDevice(pci string) error {
	if err := os.MkdirAll(t.devDir(pci), 0o755); err != nil {
		return err
	}
	return symlink(t.devDir(pci), t.busDev(pci))
}

func (t *Tree) addNetdev(pci, ifname string, mac net.HardwareAddr) error {
	return t.addNetdevIn(t.devDir(pci), ifname, mac)
}

// addNetdevIn adds netdev ifname under the device directory devDir.
func (t *Tree) addNetdevIn(devDir, ifname string, mac net.HardwareAddr) error {
	dir := filepath.Join(devDir, "net", ifname)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "address"), []byte(macString(mac)+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "mtu"), []byte(strconv.Itoa(DefaultMTU)+"\n"), 0o644); err != nil {
		return err
	}
	return symlink(dir, t.classNet(ifname))
}

// bind links the device to its driver both ways, as the driver core does.
func (t *Tree) bind(pci, driver string) error {
	drv := filepath.Join(t.root, "bus", "pci", "drivers", driver)
	if err := os.MkdirAll(drv, 0o755); err != nil {
		return err
	}
	if err := symlink(drv, filepath.Join(t.devDir(pci), "driver")); err != nil {
		return err
	}
	return symlink(t.devDir(pci), filepath.Join(drv, pci))
}

// netdevOf returns the only netdev of the device directory dir.
func (t *Tree) netdevOf(dir string) (string, error) {
	entries, err := os.ReadDir(filepath.Join(dir, "net"))
	if err != nil && !os.IsNotExist(err) {
		return "", err
	}
	if len(entries) != 1 {
		return "", fmt.Errorf("want exactly one netdev in host view, have %d", len(entries))
	}
	return entries[0].Name(), nil
}

func (t *Tree) stashNetdev(id, dir, ifname string) error {
	stash := t.stashDir(id)
	if err := os.MkdirAll(stash, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(dir, "net", ifname), filepath.Join(stash, ifname)); err != nil {
		return err
	}
	return os.Remove(t.classNet(ifname))
}

func (t *Tree) unstashNetdev(id, devDir, ifname string) error {
	stash := t.stashDir(id)
	entries, err := os.ReadDir(stash)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	if len(entries) != 1 {
		return fmt.Errorf("netdev is not in a pod (stash %s holds %d entries)", stash, len(entries))
	}
	old := entries[0].Name()
	if ifname == "" {
		ifname = old
	}
	if err := validIfname(ifname); err != nil {
		return err
	}
	if absent, err := isAbsent(t.classNet(ifname)); err != nil || !absent {
		return netdevExists(ifname, err)
	}
	dir := filepath.Join(devDir, "net", ifname)
	if err := os.Rename(filepath.Join(stash, old), dir); err != nil {
		return err
	}
	return symlink(dir, t.classNet(ifname))
}

// symlink links relatively, like sysfs, so the tree can move.
func symlink(target, link string) error {
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(link), target)
	if err != nil {
		return err
	}
	return os.Symlink(rel, link)
}

func deviceExists(pci string, err error) error {
	return fmt.Errorf("device %s: %w", pci, orExist(err))
}

func netdevExists(ifname string, err error) error {
	return fmt.Errorf("netdev %s: %w", ifname, orExist(err))
}

func orExist(err error) error {
	if err != nil {
		return err
	}
	return fs.ErrExist
}
