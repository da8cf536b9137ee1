package sysfstest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
)

// AddSF adds Scalable Function sfnum of the PF pfPCI, which must exist,
// as the kernel shows an activated SF: an auxiliary device aux (e.g.
// mlx5_core.sf.4) inside the PF's device directory, linked from
// bus/auxiliary/devices, with its sfnum file and, when netdev is not "",
// its netdev under net/.
func (t *Tree) AddSF(pfPCI, aux string, sfnum uint32, netdev string, mac net.HardwareAddr) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	pf, err := t.existingDevice(pfPCI)
	if err != nil {
		return fmt.Errorf("add SF: PF: %w", err)
	}
	if !sysfs.IsAuxiliaryDevice(aux) {
		return fmt.Errorf("add SF: %q is not an auxiliary device name", aux)
	}
	if absent, err := isAbsent(t.auxBusDev(aux)); err != nil || !absent {
		return fmt.Errorf("add SF: auxiliary device %s: %w", aux, orExist(err))
	}
	if netdev != "" {
		if err := validIfname(netdev); err != nil {
			return fmt.Errorf("add SF: %w", err)
		}
		if absent, err := isAbsent(t.classNet(netdev)); err != nil || !absent {
			return fmt.Errorf("add SF: %w", netdevExists(netdev, err))
		}
	}
	dir := filepath.Join(t.devDir(pf), aux)
	if err := t.addSF(dir, aux, sfnum, netdev, mac); err != nil {
		return fmt.Errorf("add SF %s: %w", aux, err)
	}
	return nil
}

func (t *Tree) addSF(dir, aux string, sfnum uint32, netdev string, mac net.HardwareAddr) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sfnum"), []byte(strconv.FormatUint(uint64(sfnum), 10)+"\n"), 0o444); err != nil {
		return err
	}
	if err := symlink(dir, t.auxBusDev(aux)); err != nil {
		return err
	}
	if netdev == "" {
		return nil
	}
	return t.addNetdevIn(dir, netdev, mac)
}

func (t *Tree) auxBusDev(aux string) string {
	return filepath.Join(t.root, "bus", "auxiliary", "devices", aux)
}

// function resolves a VF or PF PCI address (normalized) or an SF's
// auxiliary device name to its id and device directory.
func (t *Tree) function(id string) (string, string, error) {
	if !sysfs.IsAuxiliaryDevice(id) {
		pci, err := t.existingDevice(id)
		if err != nil {
			return "", "", err
		}
		return pci, t.devDir(pci), nil
	}
	link := t.auxBusDev(id)
	target, err := os.Readlink(link)
	if err != nil {
		return "", "", fmt.Errorf("auxiliary device %s: %w", id, err)
	}
	return id, filepath.Join(filepath.Dir(link), target), nil
}
