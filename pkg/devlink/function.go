package devlink

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// FunctionSetter sets the hw_addr of a devlink port function: the MAC of
// the host VF (or SF) that a representor port stands for. On BlueField
// NICs in restricted host mode the host cannot change its VFs' MACs; the
// DPU sets them this way, as `devlink port function set DEV/INDEX hw_addr
// MAC` does. Both sources implement it, so that the agent runs the same
// code whether the ports come from the kernel or from a dump file.
type FunctionSetter interface {
	// SetFunctionHWAddr sets port's function hw_addr to mac; port names
	// the devlink port by Device and Index. On success the table shows
	// the new hw_addr at once.
	SetFunctionHWAddr(port Port, mac net.HardwareAddr) error
}

var (
	_ FunctionSetter = (*NetlinkSource)(nil)
	_ FunctionSetter = (*FileSource)(nil)
)

// Netlink flags of a request that wants the kernel's acknowledgement.
const (
	nlmFRequest = 0x1 // NLM_F_REQUEST
	nlmFAck     = 0x4 // NLM_F_ACK
)

// functionSetPayload builds the generic netlink payload of the
// DEVLINK_CMD_PORT_SET request that sets a port function's hw_addr,
// attribute for attribute as iproute2's `devlink port function set`
// (cmd_port_function_set → dl_opts_put → dl_function_attr_put) sends it:
//
//	genlmsghdr: cmd DEVLINK_CMD_PORT_SET (6), version DEVLINK_GENL_VERSION (1)
//	DEVLINK_ATTR_BUS_NAME (1)          string, NUL-terminated: "pci"
//	DEVLINK_ATTR_DEV_NAME (2)          string, NUL-terminated: "0000:03:00.0"
//	DEVLINK_ATTR_PORT_INDEX (3)        u32
//	DEVLINK_ATTR_PORT_FUNCTION (145)   nest, with NLA_F_NESTED (mnl_attr_nest_start)
//	  DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR (1)  binary, the address bytes
//
// The kernel (devlink_nl_port_set_doit → devlink_port_function_set)
// parses the nest with devlink_function_nl_policy and hands hw_addr to
// the driver's port_fn_hw_addr_set.
func functionSetPayload(device string, index uint32, mac net.HardwareAddr) ([]byte, error) {
	bus, dev, ok := strings.Cut(device, "/")
	if !ok || bus == "" || dev == "" || strings.Contains(dev, "/") || strings.ContainsRune(device, 0) {
		return nil, fmt.Errorf("devlink device %q is not bus/device", device)
	}
	if len(mac) == 0 || len(mac) > maxAddrLen {
		return nil, fmt.Errorf("hw_addr of %d bytes: devlink takes 1 to %d", len(mac), maxAddrLen)
	}
	b := []byte{devlinkCmdPortSet, devlinkGenl, 0, 0}
	b = appendAttr(b, devlinkAttrBusName, append([]byte(bus), 0))
	b = appendAttr(b, devlinkAttrDevName, append([]byte(dev), 0))
	b = appendAttr(b, devlinkAttrPortIndex, binary.NativeEndian.AppendUint32(nil, index))
	nest := appendAttr(nil, devlinkPortFnAttrHWAddr, mac)
	b = appendAttr(b, devlinkAttrPortFunction|nlaFNested, nest)
	return b, nil
}

// functionSetMessage is the whole request, nlmsghdr included, as it goes
// to the kernel with sequence number seq (the port id is left 0: the
// kernel fills in the sender's).
func functionSetMessage(familyID uint16, seq uint32, device string, index uint32, mac net.HardwareAddr) ([]byte, error) {
	payload, err := functionSetPayload(device, index, mac)
	if err != nil {
		return nil, err
	}
	b := binary.NativeEndian.AppendUint32(nil, uint32(nlmsgHdrLen+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, familyID)
	b = binary.NativeEndian.AppendUint16(b, nlmFRequest|nlmFAck)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	return append(b, payload...), nil
}

// appendAttr appends one attribute, padded to 4 bytes with zeroes as
// libmnl's mnl_attr_put pads it; nla_len counts the value, not the pad.
func appendAttr(b []byte, typ uint16, val []byte) []byte {
	n := nlaHdrLen + len(val)
	b = binary.NativeEndian.AppendUint16(b, uint16(n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, val...)
	return append(b, make([]byte, align4(n)-n)...)
}

// functionWriter is the part of the kernel that sends a request and waits
// for its acknowledgement; tests of the source substitute it.
type functionWriter interface {
	// request sends payload (genlmsghdr and attributes) to the family
	// with NLM_F_REQUEST|NLM_F_ACK and returns the kernel's error, if any.
	request(f devlinkFamily, payload []byte) error
}

// SetFunctionHWAddr sets the function hw_addr of port through the kernel
// (DEVLINK_CMD_PORT_SET, see functionSetPayload). The error carries the
// kernel's (EOPNOTSUPP when the driver cannot, EINVAL for a port that has
// no function, EPERM without CAP_NET_ADMIN). After the kernel's ack the
// table shows the new hw_addr; the kernel's own PORT_NEW notification,
// or the next dump, confirms it.
func (s *NetlinkSource) SetFunctionHWAddr(port Port, mac net.HardwareAddr) error {
	payload, err := functionSetPayload(port.Device, port.Index, mac)
	if err != nil {
		return err
	}
	w, ok := s.k.(functionWriter)
	if !ok {
		return fmt.Errorf("%w: this kernel interface cannot send devlink requests", ErrNetlinkUnavailable)
	}
	fam, err := s.k.devlinkFamily()
	if err != nil {
		return err
	}
	if err := w.request(fam, payload); err != nil {
		return fmt.Errorf("devlink port function set %s hw_addr %s: %w", port.Handle(), mac, err)
	}
	s.table.setHWAddr(port.Handle(), mac)
	return nil
}

// SetFunctionHWAddr records mac as port's function hw_addr in the dump
// file, the way the kernel would show it afterwards: the file is read,
// the port's function.hw_addr replaced, and the file rewritten atomically
// (written beside it, then renamed) and applied to the table. This is how
// a test bed without devlink runs the same code path as a DPU; whoever
// maintains the file sees the change in it. A port the file does not
// list is an error, as the kernel's ENODEV would be.
func (s *FileSource) SetFunctionHWAddr(port Port, mac net.HardwareAddr) error {
	if len(mac) == 0 || len(mac) > maxAddrLen {
		return fmt.Errorf("hw_addr of %d bytes: devlink takes 1 to %d", len(mac), maxAddrLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, _, err := s.read()
	if err != nil {
		return err
	}
	ports, err := ParseDump(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("devlink dump %s: %w", s.path, err)
	}
	handle := port.Handle()
	found := false
	for i := range ports {
		if ports[i].Handle() == handle {
			ports[i].HWAddr = bytes.Clone(mac)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("devlink dump %s has no port %s: %w", s.path, handle, os.ErrNotExist)
	}
	out, err := EncodeDump(ports)
	if err != nil {
		return err
	}
	if err := writeAtomically(s.path, out); err != nil {
		return fmt.Errorf("devlink dump %s: %w", s.path, err)
	}
	data, st, err := s.read()
	if err != nil {
		return err
	}
	return s.apply(data, st)
}

// writeAtomically replaces path with data, so that no reader sees half a
// file.
func writeAtomically(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chmod(0o644), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
	return err
}

// setHWAddr records a function hw_addr the kernel (or the dump file)
// accepted for the port with handle; unknown handles are ignored.
func (t *Table) setHWAddr(handle string, mac net.HardwareAddr) {
	t.change(func(cur map[string]Port) (map[string]Port, bool) {
		p, ok := cur[handle]
		if !ok || bytes.Equal(p.HWAddr, mac) {
			return cur, false
		}
		p.HWAddr = bytes.Clone(mac)
		cur[handle] = p
		return cur, true
	}, false)
}

// Port returns the port with handle, "pci/0000:03:00.0/196609", as the
// table holds it now (its HWAddr is the function's hw_addr).
func (t *Table) Port(handle string) (Port, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.ports[handle]
	return owned(p), ok
}
