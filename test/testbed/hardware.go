package testbed

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

// The DPU's devlink device for host PF pf, as a BlueField shows it: host
// ports behind controller 1, marked external.
const hostController = 1

func dpuDevice(pf int) string { return fmt.Sprintf("pci/0000:03:00.%d", pf) }

// hardware is what the bed's fake VFs look like to the agents: the host's
// PCI sysfs tree and the DPU's devlink port listing.
type hardware struct {
	sysfs       *sysfstest.Tree
	devlinkPath string
	ports       []devlink.Port
	pfs         map[int]bool
}

func newHardware(dir string) *hardware {
	return &hardware{
		sysfs:       sysfstest.NewTree(filepath.Join(dir, "host-sysfs")),
		devlinkPath: filepath.Join(dir, "devlink.json"),
		pfs:         map[int]bool{},
	}
}

// SysfsRoot is the host-side fake sysfs root (--sysfs-root of the host agent).
func (b *Bed) SysfsRoot() string { return b.hw.sysfs.Root() }

// Sysfs is the host-side fake sysfs tree, for tests that move VF netdevs.
func (b *Bed) Sysfs() *sysfstest.Tree { return b.hw.sysfs }

// DevlinkDump is the DPU's `devlink -j port show` file (--devlink-dump).
func (b *Bed) DevlinkDump() string { return b.hw.devlinkPath }

// addPF describes host PF pf: in sysfs, and as its pcipf port in devlink.
func (b *Bed) addPF(pf int) error {
	if b.hw.pfs[pf] {
		return nil
	}
	if err := b.hw.sysfs.AddPF(b.PFPCI(pf), fmt.Sprintf("hpf%d", pf), b.PFMAC(pf)); err != nil {
		return err
	}
	b.hw.pfs[pf] = true
	b.hw.ports = append(b.hw.ports, devlink.Port{
		Device: dpuDevice(pf), Index: uint32(0x10000 * (pf + 3)), Type: "eth", Netdev: fmt.Sprintf("pf%dhpf", pf),
		Flavour: devlink.PCIPF, Controller: hostController, PFNum: uint16(pf), External: true, HWAddr: b.PFMAC(pf),
	})
	return nil
}

// describeVF adds vf to the host sysfs tree.
func (b *Bed) describeVF(vf *VF) error {
	if err := b.addPF(vf.PF); err != nil {
		return err
	}
	return b.hw.sysfs.AddVF(vf.PFPCI, vf.PCI, vf.Index, vf.Netdev, vf.MAC, "mlx5_core")
}

// AddNetdevlessVF describes, in the host sysfs tree only, VF index of PF
// pf bound to driver ("" = bound to none) and without a netdev: what the
// host sees of a VF given to vfio-pci, or bound to a driver that makes no
// netdev (pci-stub), or not bound at all. The host agent must refuse it
// before doing anything. It returns the VF's PCI address.
func (b *Bed) AddNetdevlessVF(pf, index int, driver string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.addPF(pf); err != nil {
		return "", err
	}
	b.vfs++
	vf := b.newVF(pf, index, b.vfs)
	return vf.PCI, b.hw.sysfs.AddVF(vf.PFPCI, vf.PCI, vf.Index, "", nil, driver)
}

// PublishRepresentor lists vf's representor in the devlink dump, as the
// kernel does once the VF exists. The agent picks the file change up.
func (b *Bed) PublishRepresentor(vf *VF) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hw.ports = append(b.hw.ports, b.representorPort(vf))
	return b.writeDevlinkLocked()
}

func (b *Bed) representorPort(vf *VF) devlink.Port {
	return devlink.Port{
		Device: dpuDevice(vf.PF), Index: uint32(0x10000*(vf.PF+3) + 1 + vf.Index), Type: "eth", Netdev: vf.Representor,
		Flavour: devlink.PCIVF, Controller: hostController, PFNum: uint16(vf.PF), VFNum: uint16(vf.Index), External: true,
	}
}

// writeDevlinkLocked replaces the dump atomically, so the agent never reads
// half a file.
func (b *Bed) writeDevlinkLocked() error {
	data, err := devlink.EncodeDump(b.hw.ports)
	if err != nil {
		return err
	}
	tmp := b.hw.devlinkPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, b.hw.devlinkPath)
}
