package sysfs

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// DefaultRoot is where the kernel mounts sysfs.
const DefaultRoot = "/sys"

// Reader looks devices up below one sysfs root. It holds no state besides
// the root, so one Reader may be shared by concurrent callers.
type Reader struct {
	root string
}

// New returns a Reader for the sysfs tree at root; "" means DefaultRoot.
func New(root string) *Reader {
	if root == "" {
		root = DefaultRoot
	}
	return &Reader{root: root}
}

// Root is the sysfs root the Reader reads, for log messages.
func (r *Reader) Root() string { return r.root }

// VF is what the host knows about the function a deviceID names: an SR-IOV
// virtual function (the usual case), a Scalable Function, or a PF itself,
// as Kind says.
type VF struct {
	// Kind is VF, SF (deviceID an auxiliary device name) or PF (deviceID a
	// PF's PCI address).
	Kind vifplug.FunctionKind
	// PCIAddress is the VF's (or PF's) normalized address, e.g.
	// 0000:03:00.2; empty for an SF.
	PCIAddress string
	// AuxDevice is an SF's auxiliary device name, e.g. mlx5_core.sf.4.
	AuxDevice string
	// SFNum is an SF's sfnum, as devlink numbers its representor.
	SFNum uint32
	// Netdev is the VF's netdev name in the caller's network namespace.
	Netdev string
	// Driver is the bound driver's name, "" when unbound.
	Driver string
	// MAC and MTU are the VF netdev's; nil and 0 when unreadable.
	MAC net.HardwareAddr
	MTU int
	// PFPCIAddress, PFNetdev and PFMAC describe the parent PF; the DPU
	// finds the VF's representor by PFMAC and VFIndex.
	PFPCIAddress string
	PFNetdev     string
	PFMAC        net.HardwareAddr
	// VFIndex is N in the PF's virtfnN link to this VF (0 for an SF or PF).
	VFIndex int
}

// LookupVF resolves a VF by PCI address. The checks run in this order:
// address syntax (ErrInvalidAddress), device present (ErrNoDevice), VF of
// some PF (ErrNotVF), PF netdev and MAC (ErrNoPFNetdev), driver (ErrVFIO),
// VF netdev (ErrNoNetdev). With ErrVFIO and ErrNoNetdev the returned VF is
// filled in except for Netdev, MAC and MTU, so a caller that already knows
// the netdev name (because the VF sits in a pod) still gets the PF MAC and
// VF index; with any other error it is the zero VF.
//
// A deviceID that is an auxiliary device name (IsAuxiliaryDevice) is an SF
// (LookupSF); a PCI address without physfn whose device can have VFs is a
// PF, looked up as the function itself (Kind PF).
func (r *Reader) LookupVF(deviceID string) (VF, error) {
	if IsAuxiliaryDevice(deviceID) {
		return r.LookupSF(deviceID)
	}
	addr, err := NormalizePCIAddress(deviceID)
	if err != nil {
		return VF{}, err
	}
	vf := VF{PCIAddress: addr}
	if err := r.resolvePF(&vf); errors.Is(err, errIsPF) {
		return r.lookupPF(addr)
	} else if err != nil {
		return VF{}, err
	}
	if err := r.resolveDriver(&vf); err != nil {
		return vf, err
	}
	if err := r.resolveNetdev(&vf); err != nil {
		return vf, err
	}
	return vf, nil
}

// resolvePF fills the PF fields and the VF index.
func (r *Reader) resolvePF(vf *VF) error {
	dev := r.device(vf.PCIAddress)
	if _, err := os.Lstat(dev); err != nil {
		return notExist(err, fmt.Errorf("%w %s: %s does not exist", ErrNoDevice, vf.PCIAddress, dev))
	}
	pf, err := r.physfn(vf.PCIAddress)
	if err != nil {
		return err
	}
	if vf.VFIndex, err = r.vfIndex(pf, vf.PCIAddress); err != nil {
		return err
	}
	vf.PFPCIAddress = pf
	vf.PFNetdev, vf.PFMAC, err = r.pfNetdev(pf)
	return err
}

// physfn returns the PCI address the VF's physfn link points at. The link
// target's base name is the PF's address in real sysfs (../0000:03:00.0)
// whether or not the tree is reachable from here, so it is not resolved.
func (r *Reader) physfn(vf string) (string, error) {
	link := filepath.Join(r.device(vf), "physfn")
	target, err := os.Readlink(link)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && r.isPF(vf) {
			return "", errIsPF
		}
		return "", notExist(err, fmt.Errorf("%w: %s has no %s", ErrNotVF, vf, link))
	}
	pf, err := NormalizePCIAddress(filepath.Base(target))
	if err != nil {
		return "", fmt.Errorf("VF %s: %s points at %q: %w", vf, link, target, err)
	}
	return pf, nil
}

// isPF reports whether the device can have SR-IOV VFs: the kernel gives
// such a PF sriov_totalvfs, and a virtfnN link per VF once they exist.
func (r *Reader) isPF(pci string) bool {
	dir := r.device(pci)
	if _, err := os.Stat(filepath.Join(dir, "sriov_totalvfs")); err == nil {
		return true
	}
	links, _ := filepath.Glob(filepath.Join(dir, "virtfn[0-9]*"))
	return len(links) > 0
}

// vfIndex finds N such that the PF's virtfnN link points at the VF. The PF
// directory is listed unsorted because it is only scanned once per lookup.
func (r *Reader) vfIndex(pf, vf string) (int, error) {
	dir := r.device(pf)
	names, err := readDirNames(dir)
	if err != nil {
		return 0, fmt.Errorf("VF %s: PF %s: %w", vf, pf, err)
	}
	for _, name := range names {
		n, ok := strings.CutPrefix(name, "virtfn")
		idx, err := strconv.Atoi(n)
		if !ok || err != nil || idx < 0 {
			continue
		}
		if target, err := os.Readlink(filepath.Join(dir, name)); err == nil && filepath.Base(target) == vf {
			return idx, nil
		}
	}
	return 0, fmt.Errorf("%w: %s has physfn %s but no %s/virtfnN points back at it", ErrNotVF, vf, pf, dir)
}

// pfNetdev returns the PF's netdev and its MAC.
func (r *Reader) pfNetdev(pf string) (string, net.HardwareAddr, error) {
	netDir := filepath.Join(r.device(pf), "net")
	name, err := firstNetdev(netDir)
	if err != nil {
		return "", nil, fmt.Errorf("%w: PF %s: %w", ErrNoPFNetdev, pf, err)
	}
	mac, err := readMAC(filepath.Join(netDir, name, "address"))
	if err != nil {
		return "", nil, fmt.Errorf("PF %s netdev %s: %w", pf, name, err)
	}
	return name, mac, nil
}

// resolveDriver fills Driver and refuses userspace drivers, which own the
// device without creating a netdev.
func (r *Reader) resolveDriver(vf *VF) error {
	link := filepath.Join(r.device(vf.PCIAddress), "driver")
	target, err := os.Readlink(link)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: VF %s is bound to no driver (%s missing)", ErrNoNetdev, vf.PCIAddress, link)
	case err != nil:
		return fmt.Errorf("VF %s: %w", vf.PCIAddress, err)
	}
	vf.Driver = filepath.Base(target)
	if IsUserspaceDriver(vf.Driver) {
		return fmt.Errorf("%w: VF %s is bound to %s (%s)", ErrVFIO, vf.PCIAddress, vf.Driver, link)
	}
	return nil
}

// IsUserspaceDriver reports whether a driver hands the device to userspace
// (VMs, DPDK) instead of creating a netdev; LookupVF fails with ErrVFIO for
// these.
func IsUserspaceDriver(driver string) bool {
	switch driver {
	case "vfio-pci", "uio_pci_generic", "igb_uio":
		return true
	}
	return false
}

// resolveNetdev fills Netdev, and MAC and MTU where readable: they only
// serve as defaults, so failing to read them is not an error.
func (r *Reader) resolveNetdev(vf *VF) error {
	netDir := filepath.Join(r.device(vf.PCIAddress), "net")
	name, err := firstNetdev(netDir)
	if err != nil {
		return fmt.Errorf("%w: VF %s, bound to %s, has no netdev here: %w "+
			"(is it in a pod already, or is %s a driver that makes no netdev?)", ErrNoNetdev, vf.PCIAddress, vf.Driver, err, vf.Driver)
	}
	vf.Netdev = name
	vf.MAC, _ = readMAC(filepath.Join(netDir, name, "address"))
	vf.MTU, _ = readInt(filepath.Join(netDir, name, "mtu"))
	return nil
}

// device is the device's directory as the PCI bus lists it.
func (r *Reader) device(pciAddr string) string {
	return filepath.Join(r.root, "bus", "pci", "devices", pciAddr)
}

// firstNetdev returns the alphabetically first entry of a net/ directory:
// a VF has one netdev, and a multi-port PF needs a stable pick.
func firstNetdev(netDir string) (string, error) {
	names, err := readDirNames(netDir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s does not exist", netDir)
	}
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%s is empty", netDir)
	}
	return slices.Min(names), nil
}

func readDirNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// readMAC parses a sysfs address file. net.ParseMAC accepts the 20-byte
// InfiniBand form too, which IPoIB netdevs print.
func readMAC(path string) (net.HardwareAddr, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	mac, err := net.ParseMAC(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return mac, nil
}

func readInt(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// notExist returns want when err means "no such file" and err otherwise,
// so permission problems are not reported as a missing device.
func notExist(err, want error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return want
	}
	return err
}

// errIsPF: the PCI device has no physfn but can have VFs; LookupVF then
// looks it up as a PF.
var errIsPF = errors.New("a PF")

// lookupPF resolves a PF asked for as the function itself: its netdev is
// what moves into the pod, and its MAC names its pcipf representor.
func (r *Reader) lookupPF(addr string) (VF, error) {
	pf := VF{Kind: vifplug.PF, PCIAddress: addr, PFPCIAddress: addr}
	var err error
	if pf.PFNetdev, pf.PFMAC, err = r.pfNetdev(addr); err != nil {
		return VF{}, err
	}
	// A PF with a netdev has a driver; only a userspace one is refused
	// (a fake tree may leave the link out).
	if target, err := os.Readlink(filepath.Join(r.device(addr), "driver")); err == nil {
		pf.Driver = filepath.Base(target)
	}
	if IsUserspaceDriver(pf.Driver) {
		return pf, fmt.Errorf("%w: PF %s is bound to %s", ErrVFIO, addr, pf.Driver)
	}
	if err := r.resolveNetdev(&pf); err != nil {
		return pf, err
	}
	return pf, nil
}

// IsAuxiliaryDevice reports whether deviceID is an auxiliary device name
// as the SR-IOV network device plugin hands out for auxNetDevice resources:
// <driver>.<type>.<id>, e.g. mlx5_core.sf.4, with an unsigned id — the
// form its ParseAuxDeviceType accepts. A PCI address never matches (its
// only dot is before the function number).
func IsAuxiliaryDevice(deviceID string) bool {
	parts := strings.Split(deviceID, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || strings.ContainsAny(deviceID, "/\x00") {
		return false
	}
	_, err := strconv.ParseUint(parts[2], 10, 32)
	return err == nil
}

// NormalizeDeviceID is the form of a deviceID the host agent keys
// attachments by: a PCI address normalized (NormalizePCIAddress), an
// auxiliary device name as it is. The error wraps ErrInvalidAddress.
func NormalizeDeviceID(deviceID string) (string, error) {
	if IsAuxiliaryDevice(deviceID) {
		return deviceID, nil
	}
	addr, err := NormalizePCIAddress(deviceID)
	if err != nil {
		return "", fmt.Errorf("%w (nor an auxiliary device name like mlx5_core.sf.4)", err)
	}
	return addr, nil
}

// LookupSF resolves a Scalable Function by its auxiliary device name:
// <root>/bus/auxiliary/devices/<dev>/sfnum is its sfnum, the PCI device
// directory the auxiliary device sits in (the link's target's parent) is
// its PF, and <dev>/net/ lists its netdev. Errors as LookupVF's: the
// device missing is ErrNoDevice, no sfnum ErrNotSF, the netdev missing
// ErrNoNetdev (the SF is then filled in but for Netdev, MAC and MTU).
func (r *Reader) LookupSF(aux string) (VF, error) {
	if !IsAuxiliaryDevice(aux) {
		return VF{}, fmt.Errorf("%w: %q is not an auxiliary device name like mlx5_core.sf.4", ErrInvalidAddress, aux)
	}
	dir := filepath.Join(r.root, "bus", "auxiliary", "devices", aux)
	target, err := os.Readlink(dir)
	if err != nil {
		return VF{}, notExist(err, fmt.Errorf("%w %s: %s does not exist", ErrNoAuxDevice, aux, dir))
	}
	sf := VF{Kind: vifplug.SF, AuxDevice: aux}
	sfnum, err := os.ReadFile(filepath.Join(dir, "sfnum"))
	if err != nil {
		return VF{}, notExist(err, fmt.Errorf("%w: auxiliary device %s has no %s/sfnum", ErrNotSF, aux, dir))
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(sfnum)), 10, 32)
	if err != nil {
		return VF{}, fmt.Errorf("%w: auxiliary device %s: %s/sfnum is %q, not a number", ErrNotSF, aux, dir, strings.TrimSpace(string(sfnum)))
	}
	sf.SFNum = uint32(n)
	pf, err := NormalizePCIAddress(filepath.Base(filepath.Dir(target)))
	if err != nil {
		return VF{}, fmt.Errorf("%w: auxiliary device %s: %s points at %q, not into a PCI device: %w", ErrNotSF, aux, dir, target, err)
	}
	sf.PFPCIAddress = pf
	if sf.PFNetdev, sf.PFMAC, err = r.pfNetdev(pf); err != nil {
		return VF{}, err
	}
	netDir := filepath.Join(dir, "net")
	name, err := firstNetdev(netDir)
	if err != nil {
		return sf, fmt.Errorf("%w: SF %s has no netdev here: %w (is it in a pod already, or not activated?)", ErrNoNetdev, aux, err)
	}
	sf.Netdev = name
	sf.MAC, _ = readMAC(filepath.Join(netDir, name, "address"))
	sf.MTU, _ = readInt(filepath.Join(netDir, name, "mtu"))
	return sf, nil
}
