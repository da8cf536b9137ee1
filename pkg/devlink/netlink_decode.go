package devlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Wire numbers from the kernel's uapi headers (linux/netlink.h,
// linux/genetlink.h, linux/rtnetlink.h, linux/if_link.h and
// linux/devlink.h). They are ABI, so they never change; they are spelled
// out here rather than taken from golang.org/x/sys/unix so that this file
// builds everywhere, and netlink_linux_test.go checks them against unix.
const (
	nlmsgHdrLen = 16 // struct nlmsghdr
	genlHdrLen  = 4  // struct genlmsghdr
	nlaHdrLen   = 4  // struct nlattr
	ifinfoLen   = 16 // struct ifinfomsg

	nlmsgDone = 3 // NLMSG_DONE
	nlmFMulti = 0x2

	nlaFNested       = 1 << 15
	nlaFNetByteorder = 1 << 14
	nlaTypeMask      = ^uint16(nlaFNested | nlaFNetByteorder)

	rtmNewLink  = 16 // RTM_NEWLINK
	rtmDelLink  = 17 // RTM_DELLINK
	iflaIfname  = 3  // IFLA_IFNAME
	maxAddrLen  = 32 // MAX_ADDR_LEN, the longest hw_addr devlink accepts
	devlinkGenl = 1  // DEVLINK_GENL_VERSION

	// enum devlink_command
	devlinkCmdNew     = 3 // device new; also the command of port dump replies
	devlinkCmdPortGet = 5
	devlinkCmdPortSet = 6
	devlinkCmdPortNew = 7
	devlinkCmdPortDel = 8

	// enum devlink_attr
	devlinkAttrBusName              = 1
	devlinkAttrDevName              = 2
	devlinkAttrPortIndex            = 3
	devlinkAttrPortType             = 4
	devlinkAttrPortNetdevIfindex    = 6
	devlinkAttrPortNetdevName       = 7
	devlinkAttrPortFlavour          = 77
	devlinkAttrPortNumber           = 78
	devlinkAttrPortPCIPFNumber      = 127
	devlinkAttrPortPCIVFNumber      = 128
	devlinkAttrPortFunction         = 145
	devlinkAttrPortSplittable       = 148
	devlinkAttrPortExternal         = 149
	devlinkAttrPortControllerNumber = 150
	devlinkAttrPortPCISFNumber      = 164

	// enum devlink_port_function_attr
	devlinkPortFnAttrHWAddr   = 1
	devlinkPortFnAttrCaps     = 4
	devlinkPortFnAttrMaxIOEQs = 6
)

// portFlavours maps enum devlink_port_flavour to the names iproute2
// prints, which is what Flavour holds whatever the source.
var portFlavours = [...]Flavour{
	0: Physical,
	1: CPU,
	2: DSA,
	3: PCIPF,
	4: PCIVF,
	5: Virtual,
	6: Unused,
	7: PCISF,
}

// portTypes maps enum devlink_port_type likewise.
var portTypes = [...]string{0: "notset", 1: "auto", 2: "eth", 3: "ib"}

// errMalformed marks a message that does not follow the netlink layout; the
// caller cannot trust the rest of the datagram either.
var errMalformed = errors.New("malformed netlink message")

// nlMessage is one message of a netlink datagram.
type nlMessage struct {
	Type    uint16
	Flags   uint16
	Seq     uint32
	Pid     uint32
	Payload []byte // after the nlmsghdr, up to nlmsg_len
}

// splitMessages cuts a datagram into its messages, as NLMSG_NEXT does.
func splitMessages(b []byte) ([]nlMessage, error) {
	var msgs []nlMessage
	for len(b) > 0 {
		if len(b) < nlmsgHdrLen {
			return nil, fmt.Errorf("%w: %d bytes left, too short for a header", errMalformed, len(b))
		}
		n := binary.NativeEndian.Uint32(b)
		if n < nlmsgHdrLen || uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: message length %d with %d bytes left", errMalformed, n, len(b))
		}
		msgs = append(msgs, nlMessage{
			Type:    binary.NativeEndian.Uint16(b[4:]),
			Flags:   binary.NativeEndian.Uint16(b[6:]),
			Seq:     binary.NativeEndian.Uint32(b[8:]),
			Pid:     binary.NativeEndian.Uint32(b[12:]),
			Payload: b[nlmsgHdrLen:n:n],
		})
		b = b[min(align4(int(n)), len(b)):]
	}
	return msgs, nil
}

// decodeGenlHeader splits a generic netlink payload into its command and
// its attributes.
func decodeGenlHeader(payload []byte) (cmd uint8, attrs []byte, err error) {
	if len(payload) < genlHdrLen {
		return 0, nil, fmt.Errorf("%w: %d-byte payload, too short for a genlmsghdr", errMalformed, len(payload))
	}
	return payload[0], payload[genlHdrLen:], nil
}

// portMessage is a decoded devlink port message.
type portMessage struct {
	// Del is set for DEVLINK_CMD_PORT_DEL: Port then only names the port
	// to remove (the kernel sends its last state, type notset).
	Del  bool
	Port Port
	// IfIndex is the netdev's ifindex (DEVLINK_ATTR_PORT_NETDEV_IFINDEX);
	// 0 when the port has no netdev. Renames are followed by it.
	IfIndex uint32
}

// decodePortMessage decodes the attributes of a devlink port message whose
// generic netlink command is genlCmd, as the kernel's devlink_nl_port_fill
// (net/devlink/port.c) lays them out: bus and device names, port index,
// type, netdev ifindex and name, flavour, then controller, pfnum, vfnum or
// sfnum, external, and the function nest (hw_addr, caps, max_io_eqs, ...).
// Port dump replies carry DEVLINK_CMD_NEW, notifications PORT_NEW or
// PORT_DEL. Attributes it does not use are skipped; a truncated or
// mis-sized one is an error, never a panic.
func decodePortMessage(genlCmd uint8, attrs []byte) (portMessage, error) {
	var m portMessage
	switch genlCmd {
	case devlinkCmdNew, devlinkCmdPortNew, devlinkCmdPortSet:
	case devlinkCmdPortDel:
		m.Del = true
	default:
		return m, fmt.Errorf("devlink command %d is not a port message", genlCmd)
	}
	var bus string
	var haveIndex bool
	err := forEachAttr(attrs, func(typ uint16, val []byte) error {
		var err error
		p := &m.Port
		switch typ {
		case devlinkAttrBusName:
			bus, err = attrString(val)
		case devlinkAttrDevName:
			p.Device, err = attrString(val)
		case devlinkAttrPortIndex:
			p.Index, err = attrU32(val)
			haveIndex = err == nil
		case devlinkAttrPortType:
			var t uint16
			t, err = attrU16(val)
			p.Type = enumName(portTypes[:], t, "unknown")
		case devlinkAttrPortNetdevIfindex:
			m.IfIndex, err = attrU32(val)
		case devlinkAttrPortNetdevName:
			p.Netdev, err = attrString(val)
		case devlinkAttrPortFlavour:
			var f uint16
			f, err = attrU16(val)
			p.Flavour = enumName(portFlavours[:], f, "flavour")
		case devlinkAttrPortNumber:
			p.PortNumber, err = attrU32(val)
		case devlinkAttrPortPCIPFNumber:
			p.PFNum, err = attrU16(val)
		case devlinkAttrPortPCIVFNumber:
			p.VFNum, err = attrU16(val)
		case devlinkAttrPortPCISFNumber:
			p.SFNum, err = attrU32(val)
		case devlinkAttrPortControllerNumber:
			p.Controller, err = attrU32(val)
		case devlinkAttrPortExternal:
			var b uint8
			b, err = attrU8(val)
			p.External = b != 0
		case devlinkAttrPortFunction:
			p.HWAddr, err = decodePortFunction(val)
			if err != nil {
				return fmt.Errorf("function: %w", err)
			}
		default:
			return nil
		}
		if err != nil {
			return fmt.Errorf("attribute %d: %w", typ, err)
		}
		return nil
	})
	if err != nil {
		return portMessage{}, err
	}
	switch {
	case bus == "" || m.Port.Device == "":
		return portMessage{}, fmt.Errorf("%w: devlink port message without bus and device names", errMalformed)
	case !haveIndex:
		return portMessage{}, fmt.Errorf("%w: devlink port message for %s/%s without a port index", errMalformed, bus, m.Port.Device)
	}
	m.Port.Device = bus + "/" + m.Port.Device
	return m, nil
}

// decodePortFunction returns the hw_addr of a DEVLINK_ATTR_PORT_FUNCTION
// nest; nil when absent or empty, like an empty "hw_addr" in a dump file.
func decodePortFunction(nest []byte) (net.HardwareAddr, error) {
	var mac net.HardwareAddr
	err := forEachAttr(nest, func(typ uint16, val []byte) error {
		if typ != devlinkPortFnAttrHWAddr {
			return nil
		}
		if len(val) > maxAddrLen {
			return fmt.Errorf("%w: %d-byte hw_addr", errMalformed, len(val))
		}
		mac = nil
		if len(val) > 0 {
			mac = bytes.Clone(val)
		}
		return nil
	})
	return mac, err
}

// decodeLinkMessage reads the ifindex and name of an RTM_NEWLINK or
// RTM_DELLINK payload (struct ifinfomsg, then IFLA_* attributes).
func decodeLinkMessage(payload []byte) (index uint32, name string, err error) {
	if len(payload) < ifinfoLen {
		return 0, "", fmt.Errorf("%w: %d-byte link message, too short for an ifinfomsg", errMalformed, len(payload))
	}
	index = binary.NativeEndian.Uint32(payload[4:])
	err = forEachAttr(payload[ifinfoLen:], func(typ uint16, val []byte) error {
		if typ != iflaIfname {
			return nil
		}
		var err error
		name, err = attrString(val)
		return err
	})
	if err == nil && name == "" {
		err = fmt.Errorf("%w: link %d without a name", errMalformed, index)
	}
	return index, name, err
}

// forEachAttr calls f with each attribute's type (flags masked off, so a
// nest is recognised with or without NLA_F_NESTED) and value.
func forEachAttr(b []byte, f func(typ uint16, val []byte) error) error {
	for len(b) > 0 {
		if len(b) < nlaHdrLen {
			return fmt.Errorf("%w: %d bytes left, too short for an attribute header", errMalformed, len(b))
		}
		n := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & nlaTypeMask
		if n < nlaHdrLen || n > len(b) {
			return fmt.Errorf("%w: attribute %d has length %d with %d bytes left", errMalformed, typ, n, len(b))
		}
		if err := f(typ, b[nlaHdrLen:n:n]); err != nil {
			return err
		}
		b = b[min(align4(n), len(b)):]
	}
	return nil
}

func align4(n int) int { return (n + 3) &^ 3 }

func attrU8(val []byte) (uint8, error) {
	if len(val) != 1 {
		return 0, fmt.Errorf("%w: u8 of %d bytes", errMalformed, len(val))
	}
	return val[0], nil
}

func attrU16(val []byte) (uint16, error) {
	if len(val) != 2 {
		return 0, fmt.Errorf("%w: u16 of %d bytes", errMalformed, len(val))
	}
	return binary.NativeEndian.Uint16(val), nil
}

func attrU32(val []byte) (uint32, error) {
	if len(val) != 4 {
		return 0, fmt.Errorf("%w: u32 of %d bytes", errMalformed, len(val))
	}
	return binary.NativeEndian.Uint32(val), nil
}

// attrString reads an NLA_NUL_STRING, which the kernel always terminates.
func attrString(val []byte) (string, error) {
	i := bytes.IndexByte(val, 0)
	if i < 0 {
		return "", fmt.Errorf("%w: string without its NUL terminator", errMalformed)
	}
	return string(val[:i]), nil
}

// enumName names an enum value, or spells out one this code predates so
// that logs still show it (it then matches nothing).
func enumName[T ~string](names []T, v uint16, unknown string) T {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return T(unknown + "(" + strconv.Itoa(int(v)) + ")")
}
