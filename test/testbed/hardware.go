package testbed

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

// The DPU's devlink device for host PF pf, as a BlueField shows it: host
// ports behind controller 1, marked external.
const hostController = 1

// maxController is the last controller AddHost takes: each host's ports
// get a 0x1000 block of a PF's port indices below its SFs' (0x8000 up).
const maxController = 8

func dpuDevice(pf int) string { return fmt.Sprintf("pci/0000:03:00.%d", pf) }

// hostSide is one host as the fake hardware describes it: its PCI sysfs
// tree, and its PFs, each wired to one DPU where the host is devlink
// controller controller. The primary host is controller 1; AddHost's
// hosts share the primary DPU with it, as on a multi-host NIC.
type hostSide struct {
	name       string // "" for the primary host
	controller int
	netns      string // "" = the root namespace
	dir        string // its host agent's socket and state
	node       string // its host agent's --node-name
	sysfs      *sysfstest.Tree
	pfs        map[int]*dpuSide
	bedID      [2]byte
}

func (b *Bed) newHostSide(name string, controller int, dir, sysfsRoot, node string) *hostSide {
	return &hostSide{name: name, controller: controller, dir: dir, node: node,
		sysfs: sysfstest.NewTree(sysfsRoot), pfs: map[int]*dpuSide{}, bedID: [2]byte{b.idByte(0), b.idByte(1)}}
}

func (h *hostSide) String() string {
	if h.name == "" {
		return "the primary host"
	}
	return "host " + h.name
}

// pfByte is PF pf in the host's MACs and PCI buses: pf itself on the
// primary host, offset by 0x10 per controller on the others, so that no
// two hosts of a DPU share a PF MAC.
func (h *hostSide) pfByte(pf int) byte { return byte(pf + 0x10*(h.controller-hostController)) }

func (h *hostSide) pfMAC(pf int) net.HardwareAddr {
	return net.HardwareAddr{0x0e, 0x42, h.bedID[0], h.bedID[1], 0xf0, h.pfByte(pf)}
}

func (h *hostSide) pfBus(pf int) int { return 0x10 + int(h.pfByte(pf)) }

func (h *hostSide) pfPCI(pf int) string { return fmt.Sprintf("0000:%02x:00.0", h.pfBus(pf)) }

// portIndex is the devlink index on the DPU of PF pf's port (slot 0) or
// of its VF n's (slot n+1): each controller has a block of its own, so
// that hosts with the same PF and VF numbers get distinct ports.
func (h *hostSide) portIndex(pf, slot int) uint32 {
	return uint32(0x10000*(pf+3) + 0x1000*(h.controller-hostController) + slot)
}

// pfPort is PF pf's pcipf port on its DPU, named netdev there.
func (h *hostSide) pfPort(pf int, netdev string) devlink.Port {
	return devlink.Port{
		Device: dpuDevice(pf), Index: h.portIndex(pf, 0), Type: "eth", Netdev: netdev,
		Flavour: devlink.PCIPF, Controller: uint32(h.controller), PFNum: uint16(pf), External: true, HWAddr: h.pfMAC(pf),
	}
}

// pfRepresentor names PF pf's port netdev, unique among the DPU's hosts.
func (h *hostSide) pfRepresentor(pf int) string {
	if h.controller == hostController {
		return fmt.Sprintf("pf%dhpf", pf)
	}
	return fmt.Sprintf("c%dpf%dhpf", h.controller, pf)
}

// checkPF refuses to wire PF pf to d when it is another DPU's: the PF
// MACs and PCI addresses of a host's DPUs then differ, as the agents'
// lookups need.
func (h *hostSide) checkPF(d *dpuSide, pf int) error {
	if on := h.pfs[pf]; on != nil && on != d {
		return fmt.Errorf("PF %d of %s belongs to DPU %s, not %s: use another PF number", pf, h, on.chassis, d.chassis)
	}
	if h.controller != hostController && (pf < 0 || pf > 0xf) {
		return fmt.Errorf("PF %d of %s: an added host's PFs are 0 to 15", pf, h)
	}
	return nil
}

// checkVFs is checkPF, and for an added host also refuses VF numbers
// whose port indices would run into the next controller's.
func (h *hostSide) checkVFs(d *dpuSide, pf int, indices []int) error {
	for _, index := range indices {
		if h.controller != hostController && (index < 0 || index >= 0xfff) {
			return fmt.Errorf("VF %d of PF %d of %s: an added host's VFs are 0 to %d", index, pf, h, 0xffe)
		}
	}
	return h.checkPF(d, pf)
}

// addPF describes host PF pf, wired to d: in sysfs, and as its pcipf port
// in d's devlink listing.
func (h *hostSide) addPF(d *dpuSide, pf int) error {
	if err := h.checkPF(d, pf); err != nil || h.pfs[pf] != nil {
		return err
	}
	if err := h.sysfs.AddPF(h.pfPCI(pf), fmt.Sprintf("hpf%d", pf), h.pfMAC(pf)); err != nil {
		return err
	}
	h.pfs[pf] = d
	d.ports = append(d.ports, h.pfPort(pf, h.pfRepresentor(pf)))
	return nil
}

// dpuSide is one DPU as the fake hardware, the agents and hand-plugging
// see it: the primary (the dpu namespace) or one of AddDPU's.
type dpuSide struct {
	chassis, hostname string
	netns             string
	// dir holds its OVS database and its daemons' files and sockets: it is
	// their OVS_RUNDIR and OVN_RUNDIR.
	dir         string
	ovsRemote   string
	devlinkPath string
	ports       []devlink.Port
	// With Options.Underlay, the Geneve endpoint on br-phy's tap, and
	// br-phy's fixed MAC, which its peers are told in advance.
	encapIP net.IP
	phyMAC  net.HardwareAddr
}

func newDPUSide(dir, chassis, hostname string) *dpuSide {
	return &dpuSide{chassis: chassis, hostname: hostname, dir: dir,
		ovsRemote: "unix:" + filepath.Join(dir, "ovs.sock"), devlinkPath: filepath.Join(dir, "devlink.json")}
}

// SysfsRoot is the host-side fake sysfs root (--sysfs-root of the host agent).
func (b *Bed) SysfsRoot() string { return b.host.sysfs.Root() }

// Sysfs is the host-side fake sysfs tree, for tests that move VF netdevs.
func (b *Bed) Sysfs() *sysfstest.Tree { return b.host.sysfs }

// DevlinkDump is the DPU's `devlink -j port show` file (--devlink-dump).
func (b *Bed) DevlinkDump() string { return b.dpu.devlinkPath }

// describeVF adds vf to its host's sysfs tree.
func (b *Bed) describeVF(vf *VF) error {
	if err := vf.host.addPF(vf.dpu, vf.PF); err != nil {
		return err
	}
	return vf.host.sysfs.AddVF(vf.PFPCI, vf.PCI, vf.Index, vf.Netdev, vf.MAC, "mlx5_core")
}

// AddNetdevlessVF describes, in the host sysfs tree only, VF index of PF
// pf bound to driver ("" = bound to none) and without a netdev: what the
// host sees of a VF given to vfio-pci, or bound to a driver that makes no
// netdev (pci-stub), or not bound at all. The host agent must refuse it
// before doing anything. It returns the VF's PCI address.
func (b *Bed) AddNetdevlessVF(pf, index int, driver string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.host.addPF(b.dpu, pf); err != nil {
		return "", err
	}
	b.vfs++
	vf := b.newVF(b.host, b.dpu, pf, index, b.vfs)
	return vf.PCI, b.host.sysfs.AddVF(vf.PFPCI, vf.PCI, vf.Index, "", nil, driver)
}

// PublishRepresentor lists vf's representor in its DPU's devlink dump, as
// the kernel does once the VF exists. The agent picks the file change up.
func (b *Bed) PublishRepresentor(vf *VF) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	vf.dpu.ports = append(vf.dpu.ports, representorPort(vf))
	return vf.dpu.writeDevlinkLocked()
}

func representorPort(vf *VF) devlink.Port {
	return devlink.Port{
		Device: dpuDevice(vf.PF), Index: vf.host.portIndex(vf.PF, 1+vf.Index), Type: "eth", Netdev: vf.Representor,
		Flavour: devlink.PCIVF, Controller: uint32(vf.host.controller), PFNum: uint16(vf.PF), VFNum: uint16(vf.Index),
		External: true,
	}
}

// writeDevlinkLocked replaces the dump atomically, so the agent never reads
// half a file.
func (d *dpuSide) writeDevlinkLocked() error {
	data, err := devlink.EncodeDump(d.ports)
	if err != nil {
		return err
	}
	tmp := d.devlinkPath + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, d.devlinkPath)
}
