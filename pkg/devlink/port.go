package devlink

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Flavour is a devlink port flavour, spelled as iproute2 prints it.
type Flavour string

// Port flavours. Only Physical, PCIPF and PCIVF take part in matching; the
// others are kept so that a dump survives a round trip.
const (
	Physical Flavour = "physical"
	CPU      Flavour = "cpu"
	DSA      Flavour = "dsa"
	PCIPF    Flavour = "pcipf"
	PCIVF    Flavour = "pcivf"
	PCISF    Flavour = "pcisf"
	Virtual  Flavour = "virtual"
	Unused   Flavour = "unused"
)

// isPCI reports whether devlink describes the port by controller/pfnum
// rather than by a physical port number.
func (f Flavour) isPCI() bool {
	return f == PCIPF || f == PCIVF || f == PCISF
}

// Port is one devlink port, independent of where it was read from (a JSON
// dump or netlink), so both sources feed the same matching code.
type Port struct {
	// Device is the devlink device handle, "bus/device", e.g.
	// "pci/0000:03:00.0".
	Device string
	// Index is the port index within Device.
	Index uint32
	// Type is the port type as printed ("eth", "ib", "notset"); informative.
	Type string
	// Netdev is the port's netdev name; empty when the port has none.
	Netdev  string
	Flavour Flavour
	// Controller is 0 for the local host and >0 for an external one (the
	// host behind a DPU); absent in older kernels' dumps, hence 0.
	Controller uint32
	PFNum      uint16
	VFNum      uint16
	SFNum      uint32
	// PortNumber is the physical port number ("port" in the dump).
	PortNumber uint32
	External   bool
	// HWAddr is the port function's hw_addr; nil when devlink printed none
	// or an empty one, all zeroes when firmware does not report it.
	HWAddr net.HardwareAddr
}

// Handle is the port's devlink handle, "pci/0000:03:00.0/196608", the key
// that netlink notifications and dumps name the port by.
func (p Port) Handle() string {
	return p.Device + "/" + strconv.FormatUint(uint64(p.Index), 10)
}

// equal compares ports field by field; Port is not comparable with ==
// because of HWAddr.
func (p Port) equal(q Port) bool {
	return p.scalars() == q.scalars() && bytes.Equal(p.HWAddr, q.HWAddr)
}

// portScalars is Port without HWAddr, so that it is comparable.
type portScalars struct {
	device, typ, netdev string
	flavour             Flavour
	index, controller   uint32
	sfnum, portNumber   uint32
	pfnum, vfnum        uint16
	external            bool
}

func (p Port) scalars() portScalars {
	return portScalars{p.Device, p.Type, p.Netdev, p.Flavour, p.Index, p.Controller,
		p.SFNum, p.PortNumber, p.PFNum, p.VFNum, p.External}
}

// comparePorts orders ports by device, then numerically by index, so that
// every "first one wins" rule is deterministic whatever the listing order.
func comparePorts(a, b Port) int {
	return cmp.Or(strings.Compare(a.Device, b.Device), cmp.Compare(a.Index, b.Index))
}

// splitHandle parses "bus/device/index".
func splitHandle(handle string) (device string, index uint32, err error) {
	i := strings.LastIndexByte(handle, '/')
	if i <= 0 || !strings.Contains(handle[:i], "/") {
		return "", 0, fmt.Errorf("port handle %q is not bus/device/index", handle)
	}
	// The index must be spelled as devlink prints it: "…/01" would be
	// port 1 again under another key, and the table keeps one per handle.
	n, err := strconv.ParseUint(handle[i+1:], 10, 32)
	if err != nil || strconv.FormatUint(n, 10) != handle[i+1:] {
		return "", 0, fmt.Errorf("port handle %q: index %q is not a 32-bit number in plain decimal", handle, handle[i+1:])
	}
	return handle[:i], uint32(n), nil
}

// isZeroMAC treats a missing hw_addr like the all-zero one some firmware
// reports: both mean "ask sysfs".
func isZeroMAC(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}
