package devlink

import (
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The byte-level fixtures in testdata/netlink are built by the generator
// below to the layout of the kernel's devlink_nl_port_fill
// (net/devlink/port.c), not captured from hardware: this kernel has no
// devlink.
// `go test -run TestNetlinkFixturesUpToDate -args -update-netlink-fixtures`
// rewrites them.
var updateNetlinkFixtures = flag.Bool("update-netlink-fixtures", false, "rewrite testdata/netlink from the generator")

const (
	// fixtureFamilyID is the devlink family's nlmsg_type in the fixtures.
	// The kernel assigns generic netlink ids at registration, so any id
	// from GENL_MIN_ID (0x10) up is what a real system could show.
	fixtureFamilyID = 0x14
	// A dump reply echoes the request's sequence number and the
	// requesting socket's port id; notifications carry 0 for both.
	fixtureDumpSeq = 1
	fixtureDumpPid = 4242

	fixtureDevice = "pci/0000:03:00.0"
)

// nla is one attribute to generate; a nest has children instead of data.
type nla struct {
	typ      uint16
	comment  string
	data     []byte
	nest     bool
	children []nla
	// flagNested sets NLA_F_NESTED. The kernel opens the devlink port
	// function nest with nla_nest_start_noflag, so its fixtures do not;
	// tests set it to show the decoder accepts both.
	flagNested bool
}

func ne16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func ne32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

func attrStr(typ uint16, name, s string) nla {
	return nla{typ: typ, comment: fmt.Sprintf("%s %q", name, s), data: append([]byte(s), 0)}
}

func attrU8v(typ uint16, name string, v uint8) nla {
	return nla{typ: typ, comment: fmt.Sprintf("%s u8 %d", name, v), data: []byte{v}}
}

func attrU16v(typ uint16, name string, v uint16) nla {
	return nla{typ: typ, comment: fmt.Sprintf("%s u16 %d", name, v), data: ne16(v)}
}

func attrU32v(typ uint16, name string, v uint32) nla {
	return nla{typ: typ, comment: fmt.Sprintf("%s u32 %d", name, v), data: ne32(v)}
}

func attrNest(typ uint16, name string, children ...nla) nla {
	return nla{typ: typ, comment: name + " (nest)", nest: true, children: children}
}

func (a nla) size() int {
	if !a.nest {
		return nlaHdrLen + len(a.data)
	}
	n := nlaHdrLen
	for _, c := range a.children {
		n += align4(c.size())
	}
	return n
}

// render appends the attribute's bytes, and a line of annotated hex per
// leaf (the nest header gets its own line) to text.
func (a nla) render(data []byte, text *strings.Builder, indent string) []byte {
	typ := a.typ
	if a.flagNested {
		typ |= nlaFNested
	}
	start := len(data)
	data = binary.NativeEndian.AppendUint16(data, uint16(a.size()))
	data = binary.NativeEndian.AppendUint16(data, typ)
	if a.nest {
		fmt.Fprintf(text, "%s%s  # %s, %d bytes\n", indent, hexGroups(data[start:]), a.comment, a.size())
		for _, c := range a.children {
			data = c.render(data, text, indent+"  ")
		}
		return data
	}
	data = append(data, a.data...)
	pad := align4(len(data)-start) - (len(data) - start)
	line := hexGroups(data[start:start+nlaHdrLen]) + " " + hex.EncodeToString(a.data)
	if pad > 0 {
		data = append(data, make([]byte, pad)...)
		line += " " + strings.Repeat("00", pad)
	}
	fmt.Fprintf(text, "%s%s  # %s\n", indent, line, a.comment)
	return data
}

// hexGroups prints a header as its 16- and 32-bit fields.
func hexGroups(b []byte) string {
	return hex.EncodeToString(b[0:2]) + " " + hex.EncodeToString(b[2:4])
}

// fixtureMsg is one netlink message to generate.
type fixtureMsg struct {
	comment    string
	typ, flags uint16
	seq, pid   uint32
	// genl messages have a command; the others (NLMSG_DONE, rtnetlink)
	// have a raw header after the nlmsghdr.
	genl    bool
	cmd     uint8
	cmdName string
	raw     []byte
	rawNote string
	attrs   []nla
}

func (m fixtureMsg) size() int {
	n := nlmsgHdrLen + len(m.raw)
	if m.genl {
		n += genlHdrLen
	}
	for _, a := range m.attrs {
		n += align4(a.size())
	}
	return n
}

// renderMessages returns a datagram of msgs and its annotated hex.
func renderMessages(header string, msgs ...fixtureMsg) ([]byte, string) {
	var text strings.Builder
	for line := range strings.Lines(header) {
		text.WriteString("# " + line)
	}
	var data []byte
	for _, m := range msgs {
		fmt.Fprintf(&text, "\n# %s\n", m.comment)
		start := len(data)
		data = binary.NativeEndian.AppendUint32(data, uint32(m.size()))
		data = binary.NativeEndian.AppendUint16(data, m.typ)
		data = binary.NativeEndian.AppendUint16(data, m.flags)
		data = binary.NativeEndian.AppendUint32(data, m.seq)
		data = binary.NativeEndian.AppendUint32(data, m.pid)
		h := data[start:]
		fmt.Fprintf(&text, "%s %s %s %s %s  # nlmsghdr: len %d, type %#x, flags %#x, seq %d, pid %d\n",
			hex.EncodeToString(h[0:4]), hex.EncodeToString(h[4:6]), hex.EncodeToString(h[6:8]),
			hex.EncodeToString(h[8:12]), hex.EncodeToString(h[12:16]), m.size(), m.typ, m.flags, m.seq, m.pid)
		if m.genl {
			data = append(data, m.cmd, devlinkGenl, 0, 0)
			fmt.Fprintf(&text, "%02x %02x 0000  # genlmsghdr: cmd %d (%s), version %d\n", m.cmd, devlinkGenl, m.cmd, m.cmdName, devlinkGenl)
		}
		if len(m.raw) > 0 {
			data = append(data, m.raw...)
			fmt.Fprintf(&text, "%s  # %s\n", hex.EncodeToString(m.raw), m.rawNote)
		}
		for _, a := range m.attrs {
			data = a.render(data, &text, "")
		}
		// NLMSG_ALIGN: the next message starts 4-byte aligned after a raw
		// header of any length (attributes are padded already).
		if pad := align4(len(data)-start) - (len(data) - start); pad > 0 {
			data = append(data, make([]byte, pad)...)
			fmt.Fprintf(&text, "%s  # padding\n", strings.Repeat("00", pad))
		}
	}
	return data, text.String()
}

// parseHexFixture reads annotated hex: '#' starts a comment, whitespace
// is ignored.
func parseHexFixture(text string) ([]byte, error) {
	var digits strings.Builder
	for line := range strings.Lines(text) {
		line, _, _ = strings.Cut(line, "#")
		digits.WriteString(strings.Join(strings.Fields(line), ""))
	}
	return hex.DecodeString(digits.String())
}

// kernelPortAttrs lays out p as devlink_nl_port_fill does: handle, index,
// type, netdev (eth ports with one), splittable and flavour, the
// flavour's numbers, then the function nest when fn has attributes.
func kernelPortAttrs(p Port, ifindex uint32, fn []nla) []nla {
	bus, dev, ok := strings.Cut(p.Device, "/")
	if !ok {
		panic("device " + p.Device + " is not bus/device")
	}
	attrs := []nla{
		attrStr(devlinkAttrBusName, "DEVLINK_ATTR_BUS_NAME", bus),
		attrStr(devlinkAttrDevName, "DEVLINK_ATTR_DEV_NAME", dev),
		attrU32v(devlinkAttrPortIndex, "DEVLINK_ATTR_PORT_INDEX", p.Index),
		attrU16v(devlinkAttrPortType, "DEVLINK_ATTR_PORT_TYPE", portTypeNumber(p.Type)),
	}
	if p.Type == "eth" && p.Netdev != "" {
		attrs = append(attrs,
			attrU32v(devlinkAttrPortNetdevIfindex, "DEVLINK_ATTR_PORT_NETDEV_IFINDEX", ifindex),
			attrStr(devlinkAttrPortNetdevName, "DEVLINK_ATTR_PORT_NETDEV_NAME", p.Netdev))
	}
	attrs = append(attrs,
		attrU8v(devlinkAttrPortSplittable, "DEVLINK_ATTR_PORT_SPLITTABLE", 0),
		attrU16v(devlinkAttrPortFlavour, "DEVLINK_ATTR_PORT_FLAVOUR", flavourNumber(p.Flavour)))
	controller := attrU32v(devlinkAttrPortControllerNumber, "DEVLINK_ATTR_PORT_CONTROLLER_NUMBER", p.Controller)
	pfnum := attrU16v(devlinkAttrPortPCIPFNumber, "DEVLINK_ATTR_PORT_PCI_PF_NUMBER", p.PFNum)
	external := attrU8v(devlinkAttrPortExternal, "DEVLINK_ATTR_PORT_EXTERNAL", b2u8(p.External))
	switch p.Flavour {
	case PCIPF:
		attrs = append(attrs, controller, pfnum, external)
	case PCIVF:
		attrs = append(attrs, controller, pfnum,
			attrU16v(devlinkAttrPortPCIVFNumber, "DEVLINK_ATTR_PORT_PCI_VF_NUMBER", p.VFNum), external)
	case PCISF:
		attrs = append(attrs, controller, pfnum,
			attrU32v(devlinkAttrPortPCISFNumber, "DEVLINK_ATTR_PORT_PCI_SF_NUMBER", p.SFNum), external)
	case Physical, CPU, DSA:
		attrs = append(attrs, attrU32v(devlinkAttrPortNumber, "DEVLINK_ATTR_PORT_NUMBER", p.PortNumber))
	}
	if len(fn) > 0 {
		attrs = append(attrs, attrNest(devlinkAttrPortFunction, "DEVLINK_ATTR_PORT_FUNCTION", fn...))
	}
	return attrs
}

// mlx5Function is the function nest mlx5 fills for a PF or VF port:
// hw_addr, caps (roce enabled) and, on newer kernels, max_io_eqs.
func mlx5Function(mac net.HardwareAddr, maxIOEQs uint32) []nla {
	fn := []nla{
		{typ: devlinkPortFnAttrHWAddr, comment: "DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR " + mac.String(), data: mac},
		// struct nla_bitfield32 {value, selector}: DEVLINK_PORT_FN_CAP_ROCE
		{typ: devlinkPortFnAttrCaps, comment: "DEVLINK_PORT_FN_ATTR_CAPS bitfield32 value 0x1 selector 0x1 (roce enable)", data: append(ne32(1), ne32(1)...)},
	}
	if maxIOEQs > 0 {
		fn = append(fn, attrU32v(devlinkPortFnAttrMaxIOEQs, "DEVLINK_PORT_FN_ATTR_MAX_IO_EQS", maxIOEQs))
	}
	return fn
}

func portTypeNumber(t string) uint16 {
	for i, name := range portTypes {
		if name == t {
			return uint16(i)
		}
	}
	panic("port type " + t)
}

func flavourNumber(f Flavour) uint16 {
	for i, name := range portFlavours {
		if name == f {
			return uint16(i)
		}
	}
	panic("flavour " + string(f))
}

func b2u8(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

var cmdNames = map[uint8]string{
	devlinkCmdNew:     "DEVLINK_CMD_NEW",
	devlinkCmdPortNew: "DEVLINK_CMD_PORT_NEW",
	devlinkCmdPortSet: "DEVLINK_CMD_PORT_SET",
	devlinkCmdPortDel: "DEVLINK_CMD_PORT_DEL",
}

// dumpReply is one message of a port dump: the kernel's port dumpit fills
// every port with DEVLINK_CMD_NEW (not PORT_NEW) and NLM_F_MULTI.
func dumpReply(comment string, attrs []nla) fixtureMsg {
	return fixtureMsg{comment: comment, typ: fixtureFamilyID, flags: nlmFMulti, seq: fixtureDumpSeq, pid: fixtureDumpPid,
		genl: true, cmd: devlinkCmdNew, cmdName: cmdNames[devlinkCmdNew], attrs: attrs}
}

// notification is a message of the config group: devlink_port_notify
// multicasts with portid 0, seq 0 and no flags.
func notification(comment string, cmd uint8, attrs []nla) fixtureMsg {
	return fixtureMsg{comment: comment, typ: fixtureFamilyID, genl: true, cmd: cmd, cmdName: cmdNames[cmd], attrs: attrs}
}

// dumpDone ends a dump: NLMSG_DONE with NLM_F_MULTI and a zero errno,
// appended to the last datagram when it fits (as here).
func dumpDone() fixtureMsg {
	return fixtureMsg{comment: "NLMSG_DONE: end of the dump, errno 0", typ: nlmsgDone, flags: nlmFMulti,
		seq: fixtureDumpSeq, pid: fixtureDumpPid, raw: ne32(0), rawNote: "int errno 0"}
}

// linkMessage is an rtnetlink RTM_NEWLINK/RTM_DELLINK with the ifinfomsg
// and IFLA_IFNAME; the kernel sends many more attributes, which the
// decoder skips.
func linkMessage(typ uint16, ifindex uint32, name string, extra ...nla) fixtureMsg {
	info := make([]byte, ifinfoLen)
	binary.NativeEndian.PutUint16(info[2:], 1) // ARPHRD_ETHER
	binary.NativeEndian.PutUint32(info[4:], ifindex)
	return fixtureMsg{comment: fmt.Sprintf("rtnetlink type %d for ifindex %d", typ, ifindex), typ: typ,
		raw: info, rawNote: "ifinfomsg", attrs: append([]nla{attrStr(iflaIfname, "IFLA_IFNAME", name)}, extra...)}
}

// The BlueField ports of the fixtures (testdata/devlink-samples.md).
var (
	fixturePhysical = Port{Device: fixtureDevice, Index: 262143, Type: "eth", Netdev: "p0", Flavour: Physical}
	fixturePF       = Port{Device: fixtureDevice, Index: 196608, Type: "eth", Netdev: "pf0hpf", Flavour: PCIPF,
		Controller: 1, External: true, HWAddr: net.HardwareAddr{0xb8, 0x3f, 0xd2, 0xe1, 0x8f, 0xdc}}
	fixtureVF1 = Port{Device: fixtureDevice, Index: 196610, Type: "eth", Netdev: "pf0vf1", Flavour: PCIVF,
		Controller: 1, VFNum: 1, External: true, HWAddr: make(net.HardwareAddr, 6)}
	fixtureVF2 = Port{Device: fixtureDevice, Index: 196611, Type: "eth", Netdev: "pf0vf2", Flavour: PCIVF,
		Controller: 1, VFNum: 2, External: true, HWAddr: make(net.HardwareAddr, 6)}
	// At devl_port_unregister the netdev is gone and the type is notset
	// (the kernel WARNs otherwise), so PORT_DEL names no netdev.
	// An SF of the host (controller 1) as "devlink port add ... flavour
	// pcisf pfnum 0 sfnum 77 controller 1" creates it (devlink-samples.md,
	// "Scalable Function (SF) ports"), on the BlueField's device.
	fixtureSF77 = Port{Device: fixtureDevice, Index: 163840, Type: "eth", Netdev: "pf0sf77", Flavour: PCISF,
		Controller: 1, SFNum: 77, External: true, HWAddr: make(net.HardwareAddr, 6)}
	fixtureVF2Gone = Port{Device: fixtureDevice, Index: 196611, Type: "notset", Flavour: PCIVF,
		Controller: 1, VFNum: 2, External: true, HWAddr: make(net.HardwareAddr, 6)}
)

// Ifindexes of the fixtures' netdevs.
const (
	ifindexP0     = 4
	ifindexPF0HPF = 7
	ifindexVF1    = 9
	ifindexVF2    = 10
	ifindexSF77   = 11
)

// netlinkFixtures generates every file of testdata/netlink: name →
// annotated hex.
func netlinkFixtures() map[string]string {
	const built = "Built to the layout of the kernel's devlink_nl_port_fill (net/devlink/port.c),\n" +
		"not captured (the kernel these tests were written on has no devlink).\n" +
		"Native byte order: little-endian. Generated by netlink_fixtures_test.go.\n"
	out := make(map[string]string)
	add := func(name, header string, msgs ...fixtureMsg) {
		_, text := renderMessages(header+built, msgs...)
		out[name] = text
	}
	add("port-dump.hex", "One datagram answering DEVLINK_CMD_PORT_GET with NLM_F_DUMP on a BlueField:\n"+
		"the physical port p0, the host PF representor pf0hpf and the VF representor pf0vf1.\n",
		dumpReply("physical port p0: flavour physical, port 0; no function nest", kernelPortAttrs(fixturePhysical, ifindexP0, nil)),
		dumpReply("pcipf port pf0hpf: controller 1, pfnum 0, external, function hw_addr b8:3f:d2:e1:8f:dc roce enable max_io_eqs 120",
			kernelPortAttrs(fixturePF, ifindexPF0HPF, mlx5Function(fixturePF.HWAddr, 120))),
		dumpReply("pcivf port pf0vf1: controller 1, pfnum 0, vfnum 1, external, function hw_addr 00:00:00:00:00:00 roce enable",
			kernelPortAttrs(fixtureVF1, ifindexVF1, mlx5Function(fixtureVF1.HWAddr, 0))),
		dumpDone())
	add("port-new.hex", "DEVLINK_CMD_PORT_NEW notification on the \"config\" group: VF representor pf0vf2\n"+
		"(pfnum 0, vfnum 2) after udev named it.\n",
		notification("PORT_NEW pf0vf2", devlinkCmdPortNew,
			kernelPortAttrs(fixtureVF2, ifindexVF2, mlx5Function(fixtureVF2.HWAddr, 0))))
	add("port-sf-new.hex", "DEVLINK_CMD_PORT_NEW notification on the \"config\" group: SF representor pf0sf77\n"+
		"(flavour pcisf, controller 1, pfnum 0, sfnum 77) after \"devlink port add ... flavour pcisf\".\n",
		notification("PORT_NEW pf0sf77", devlinkCmdPortNew,
			kernelPortAttrs(fixtureSF77, ifindexSF77, mlx5Function(fixtureSF77.HWAddr, 0))))
	add("port-del.hex", "DEVLINK_CMD_PORT_DEL notification on the \"config\" group: pf0vf2 removed.\n"+
		"The port's netdev is already unregistered, so the type is notset and no netdev is named.\n",
		notification("PORT_DEL pci/0000:03:00.0/196611", devlinkCmdPortDel,
			kernelPortAttrs(fixtureVF2Gone, 0, mlx5Function(fixtureVF2Gone.HWAddr, 0))))
	return out
}

func requireLittleEndian(t testing.TB) {
	t.Helper()
	if ne16(1)[0] != 1 {
		t.Skip("the netlink fixtures are little-endian; this host is not")
	}
}

func readNetlinkFixture(t testing.TB, name string) []byte {
	t.Helper()
	requireLittleEndian(t)
	text, err := os.ReadFile(filepath.Join("testdata", "netlink", name))
	if err != nil {
		t.Fatal(err)
	}
	data, err := parseHexFixture(string(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return data
}

// TestNetlinkFixturesUpToDate checks that the committed fixtures are what
// the generator produces, byte for byte and comment for comment.
func TestNetlinkFixturesUpToDate(t *testing.T) {
	requireLittleEndian(t)
	dir := filepath.Join("testdata", "netlink")
	for name, text := range netlinkFixtures() {
		path := filepath.Join(dir, name)
		if *updateNetlinkFixtures {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update-netlink-fixtures to create it)", err)
		}
		if string(got) != text {
			t.Errorf("%s differs from the generator's output (rerun with -update-netlink-fixtures if the change is intended)", path)
		}
	}
}
