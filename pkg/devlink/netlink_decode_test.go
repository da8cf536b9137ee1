package devlink

import (
	"bytes"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
)

// decodeDatagramPorts decodes every devlink message of a datagram, the
// way the source does, for tests.
func decodeDatagramPorts(t testing.TB, data []byte) []portMessage {
	t.Helper()
	msgs, err := splitMessages(data)
	if err != nil {
		t.Fatal(err)
	}
	var out []portMessage
	for _, m := range msgs {
		if m.Type != fixtureFamilyID {
			continue
		}
		cmd, attrs, err := decodeGenlHeader(m.Payload)
		if err != nil {
			t.Fatal(err)
		}
		pm, err := decodePortMessage(cmd, attrs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pm)
	}
	return out
}

func checkPortMessage(t *testing.T, got, want portMessage) {
	t.Helper()
	if got.Del != want.Del || got.IfIndex != want.IfIndex || !got.Port.equal(want.Port) {
		t.Errorf("decoded\n  %+v\nwant\n  %+v", got, want)
	}
}

func TestDecodePortDumpFixture(t *testing.T) {
	data := readNetlinkFixture(t, "port-dump.hex")
	msgs, err := splitMessages(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages in the dump datagram, want 3 ports and NLMSG_DONE", len(msgs))
	}
	for _, m := range msgs[:3] {
		if m.Type != fixtureFamilyID || m.Flags != nlmFMulti || m.Seq != fixtureDumpSeq || m.Pid != fixtureDumpPid {
			t.Errorf("header %+v", m)
		}
	}
	if done := msgs[3]; done.Type != nlmsgDone || !bytes.Equal(done.Payload, []byte{0, 0, 0, 0}) {
		t.Errorf("last message %+v is not NLMSG_DONE", done)
	}
	got := decodeDatagramPorts(t, data)
	want := []portMessage{
		{Port: fixturePhysical, IfIndex: ifindexP0},
		{Port: fixturePF, IfIndex: ifindexPF0HPF},
		{Port: fixtureVF1, IfIndex: ifindexVF1},
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d ports, want %d", len(got), len(want))
	}
	for i := range want {
		checkPortMessage(t, got[i], want[i])
	}
	// Spelled out once, so that a wrong expectation above cannot hide a
	// wrong decoder.
	pf := got[1].Port
	if pf.Handle() != "pci/0000:03:00.0/196608" || pf.Netdev != "pf0hpf" || pf.Flavour != PCIPF ||
		pf.Controller != 1 || pf.PFNum != 0 || !pf.External || pf.HWAddr.String() != "b8:3f:d2:e1:8f:dc" || pf.Type != "eth" {
		t.Errorf("pcipf port decoded as %+v", pf)
	}
	vf := got[2].Port
	if vf.Handle() != "pci/0000:03:00.0/196610" || vf.Netdev != "pf0vf1" || vf.Flavour != PCIVF || vf.VFNum != 1 || vf.PFNum != 0 {
		t.Errorf("pcivf port decoded as %+v", vf)
	}
}

func TestDecodeDumpPayloads(t *testing.T) {
	msgs, err := splitMessages(readNetlinkFixture(t, "port-dump.hex"))
	if err != nil {
		t.Fatal(err)
	}
	// What nl.Execute hands the source: the payloads of the family's
	// messages, NLMSG_DONE consumed.
	var payloads [][]byte
	for _, m := range msgs[:3] {
		payloads = append(payloads, m.Payload)
	}
	payloads = append(payloads, []byte{devlinkCmdNew, 1}) // broken: skipped, reported
	ports, errs := decodeDump(payloads)
	if len(ports) != 3 || len(errs) != 1 {
		t.Fatalf("decodeDump: %d ports, errors %v; want 3 ports and 1 error", len(ports), errs)
	}
}

func TestDecodeNotificationFixtures(t *testing.T) {
	newMsgs := decodeDatagramPorts(t, readNetlinkFixture(t, "port-new.hex"))
	if len(newMsgs) != 1 {
		t.Fatalf("%d messages", len(newMsgs))
	}
	checkPortMessage(t, newMsgs[0], portMessage{Port: fixtureVF2, IfIndex: ifindexVF2})

	sfMsgs := decodeDatagramPorts(t, readNetlinkFixture(t, "port-sf-new.hex"))
	if len(sfMsgs) != 1 {
		t.Fatalf("%d SF messages", len(sfMsgs))
	}
	checkPortMessage(t, sfMsgs[0], portMessage{Port: fixtureSF77, IfIndex: ifindexSF77})

	delMsgs := decodeDatagramPorts(t, readNetlinkFixture(t, "port-del.hex"))
	if len(delMsgs) != 1 {
		t.Fatalf("%d messages", len(delMsgs))
	}
	checkPortMessage(t, delMsgs[0], portMessage{Del: true, Port: fixtureVF2Gone})
	if delMsgs[0].Port.Handle() != newMsgs[0].Port.Handle() {
		t.Errorf("PORT_DEL names %s, PORT_NEW %s", delMsgs[0].Port.Handle(), newMsgs[0].Port.Handle())
	}
}

// roundTripPorts between them set every field of Port.
var roundTripPorts = []struct {
	port    Port
	ifindex uint32
	fn      []nla
}{
	{Port{Device: "pci/0000:03:00.1", Index: 327679, Type: "eth", Netdev: "p1", Flavour: Physical, PortNumber: 1}, 5, nil},
	{Port{Device: "pci/0000:03:00.1", Index: 262144, Type: "eth", Netdev: "pf1hpf", Flavour: PCIPF, Controller: 1, PFNum: 1, External: true,
		HWAddr: net.HardwareAddr{0xb8, 0x3f, 0xd2, 0xe1, 0x8f, 0xdd}}, 8, mlx5Function(net.HardwareAddr{0xb8, 0x3f, 0xd2, 0xe1, 0x8f, 0xdd}, 120)},
	{Port{Device: "pci/0000:06:00.0", Index: 2, Type: "eth", Netdev: "ens2f0c1pf0vf1", Flavour: PCIVF, Controller: 2, PFNum: 3, VFNum: 511,
		HWAddr: net.HardwareAddr{2, 0, 0, 0, 0, 1}}, 4000000000, mlx5Function(net.HardwareAddr{2, 0, 0, 0, 0, 1}, 0)},
	{Port{Device: "pci/0000:03:00.0", Index: 229409, Type: "eth", Netdev: "en3f0pf0sf88", Flavour: PCISF, PFNum: 0, SFNum: 88,
		HWAddr: net.HardwareAddr{0, 0, 0, 0, 0x88, 0x88}}, 12, mlx5Function(net.HardwareAddr{0, 0, 0, 0, 0x88, 0x88}, 0)},
	{Port{Device: "pci/0000:07:00.0", Index: 1, Type: "eth", Netdev: "enp7s0f0_0", Flavour: PCIVF}, 6,
		[]nla{{typ: devlinkPortFnAttrHWAddr, comment: "empty hw_addr", data: []byte{}}}}, // "hw_addr" printed empty
	{Port{Device: "pci/0000:05:02.3", Index: 1, Type: "ib", Flavour: Virtual}, 0, nil},
	{Port{Device: "netdevsim/netdevsim10", Index: 0, Type: "notset", Flavour: CPU, PortNumber: 7}, 0, nil},
	{Port{Device: "pci/0000:05:00.0", Index: 9, Type: "auto", Flavour: DSA}, 0, nil},
	{Port{Device: "pci/0000:05:00.0", Index: 10, Type: "eth", Flavour: Unused}, 0, nil},
}

// TestDecodePortRoundTrip encodes ports as the kernel would and checks
// that every field comes back, under each command that carries a port.
func TestDecodePortRoundTrip(t *testing.T) {
	for _, cmd := range []uint8{devlinkCmdNew, devlinkCmdPortNew, devlinkCmdPortSet, devlinkCmdPortDel} {
		for _, rt := range roundTripPorts {
			data, _ := renderMessages("", notification("rt", cmd, kernelPortAttrs(rt.port, rt.ifindex, rt.fn)))
			got := decodeDatagramPorts(t, data)
			want := portMessage{Del: cmd == devlinkCmdPortDel, Port: rt.port}
			if rt.port.Type == "eth" && rt.port.Netdev != "" {
				want.IfIndex = rt.ifindex
			}
			checkPortMessage(t, got[0], want)
		}
	}
}

// TestRoundTripPortsCoverPort fails when Port gains a field that the
// round-trip ports leave at zero.
func TestRoundTripPortsCoverPort(t *testing.T) {
	typ := reflect.TypeFor[Port]()
	for i := range typ.NumField() {
		set := false
		for _, rt := range roundTripPorts {
			if !reflect.ValueOf(rt.port).Field(i).IsZero() {
				set = true
			}
		}
		if !set {
			t.Errorf("no round-trip port sets Port.%s", typ.Field(i).Name)
		}
	}
}

// TestDecodeSkipsUnknownAttributes adds what other kernels, drivers or
// future versions put in a port message, including a flagged nest.
func TestDecodeSkipsUnknownAttributes(t *testing.T) {
	requireLittleEndian(t)
	fn := append(mlx5Function(fixturePF.HWAddr, 120),
		attrU8v(2, "DEVLINK_PORT_FN_ATTR_STATE", 1),
		attrU8v(3, "DEVLINK_PORT_FN_ATTR_OPSTATE", 1),
		attrNest(5, "DEVLINK_PORT_FN_ATTR_DEVLINK",
			attrStr(devlinkAttrBusName, "bus", "auxiliary"), attrStr(devlinkAttrDevName, "dev", "mlx5_core.sf.2")),
		attrStr(7, "DEVLINK_PORT_FN_ATTR_UID", "some-uid"),
	)
	attrs := kernelPortAttrs(fixturePF, ifindexPF0HPF, fn)
	fnAttr := &attrs[len(attrs)-1]
	fnAttr.flagNested = true
	extra := []nla{
		attrU16v(5, "DEVLINK_ATTR_PORT_DESIRED_TYPE", 2),
		attrU32v(147, "DEVLINK_ATTR_PORT_LANES", 4),
		attrU32v(171, "DEVLINK_ATTR_LINECARD_INDEX", 3),
		{typ: 0x3ff, comment: "unknown, odd length", data: []byte{1, 2, 3}},
		{typ: 0x3fe | nlaFNetByteorder, comment: "unknown, NLA_F_NET_BYTEORDER", data: []byte{0, 0, 0, 1}},
		attrNest(0x3fd, "unknown nest", attrU32v(1, "inner", 1)),
		{typ: 0x3fc, comment: "unknown, empty", data: []byte{}},
	}
	// Unknown attributes first, in between and last.
	mixed := append(append(append([]nla{extra[0]}, attrs[:5]...), extra[1:4]...), attrs[5:]...)
	mixed = append(mixed, extra[4:]...)
	data, _ := renderMessages("", notification("extra", devlinkCmdPortNew, mixed))
	got := decodeDatagramPorts(t, data)
	checkPortMessage(t, got[0], portMessage{Port: fixturePF, IfIndex: ifindexPF0HPF})
}

func TestDecodeLastHWAddrWins(t *testing.T) {
	fn := []nla{
		{typ: devlinkPortFnAttrHWAddr, data: []byte{1, 2, 3, 4, 5, 6}},
		{typ: devlinkPortFnAttrHWAddr, data: []byte{}},
	}
	data, _ := renderMessages("", notification("x", devlinkCmdPortNew, kernelPortAttrs(fixtureVF1, 1, fn)))
	if got := decodeDatagramPorts(t, data)[0].Port.HWAddr; got != nil {
		t.Fatalf("HWAddr %v, want nil", got)
	}
}

func TestDecodeUnknownEnums(t *testing.T) {
	attrs := kernelPortAttrs(fixturePhysical, 4, nil)
	for i := range attrs {
		switch attrs[i].typ {
		case devlinkAttrPortType:
			attrs[i].data = ne16(9)
		case devlinkAttrPortFlavour:
			attrs[i].data = ne16(42)
		}
	}
	data, _ := renderMessages("", notification("x", devlinkCmdPortNew, attrs))
	p := decodeDatagramPorts(t, data)[0].Port
	if p.Type != "unknown(9)" || p.Flavour != "flavour(42)" {
		t.Fatalf("type %q flavour %q", p.Type, p.Flavour)
	}
}

// TestDecodeMalformed: every broken message is an error, never a panic.
func TestDecodeMalformed(t *testing.T) {
	requireLittleEndian(t)
	valid := kernelPortAttrs(fixtureVF1, ifindexVF1, mlx5Function(fixtureVF1.HWAddr, 0))
	withAttr := func(typ uint16, data []byte) []nla {
		out := append([]nla(nil), valid...)
		for i := range out {
			if out[i].typ == typ {
				out[i].data = data
			}
		}
		return out
	}
	without := func(typ uint16) []nla {
		var out []nla
		for _, a := range valid {
			if a.typ != typ {
				out = append(out, a)
			}
		}
		return out
	}
	encode := func(attrs []nla) []byte {
		data, _ := renderMessages("", notification("m", devlinkCmdPortNew, attrs))
		return data[nlmsgHdrLen+genlHdrLen:]
	}
	good := encode(valid)
	cases := []struct {
		name  string
		cmd   uint8
		attrs []byte
		want  string
	}{
		{"not a port command", 1, good, "not a port message"},
		{"no attributes", devlinkCmdPortNew, nil, "without bus and device"},
		{"no bus", devlinkCmdPortNew, encode(without(devlinkAttrBusName)), "without bus and device"},
		{"no device", devlinkCmdPortNew, encode(without(devlinkAttrDevName)), "without bus and device"},
		{"no index", devlinkCmdPortNew, encode(without(devlinkAttrPortIndex)), "without a port index"},
		{"short u32", devlinkCmdPortNew, encode(withAttr(devlinkAttrPortIndex, []byte{1, 2})), "u32 of 2 bytes"},
		{"long u16", devlinkCmdPortNew, encode(withAttr(devlinkAttrPortFlavour, []byte{1, 2, 3, 4})), "u16 of 4 bytes"},
		{"empty u8", devlinkCmdPortNew, encode(withAttr(devlinkAttrPortExternal, []byte{})), "u8 of 0 bytes"},
		{"string without NUL", devlinkCmdPortNew, encode(withAttr(devlinkAttrPortNetdevName, []byte("pf0vf1"))), "NUL"},
		{"hw_addr too long", devlinkCmdPortNew, encode(kernelPortAttrs(fixtureVF1, 1,
			[]nla{{typ: devlinkPortFnAttrHWAddr, data: make([]byte, 33)}})), "33-byte hw_addr"},
		{"attribute length below header", devlinkCmdPortNew, append(bytes.Clone(good), 2, 0, 1, 0), "length 2"},
		{"attribute longer than message", devlinkCmdPortNew, append(bytes.Clone(good), 200, 0, 1, 0, 0, 0, 0, 0), "length 200"},
		{"stray bytes", devlinkCmdPortNew, append(bytes.Clone(good), 0, 0), "too short for an attribute header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := decodePortMessage(c.cmd, c.attrs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one containing %q", err, c.want)
			}
		})
	}
	// A nest whose inner attribute overruns it.
	nest := encode(valid)
	i := bytes.Index(nest, []byte{0, 0x91, 0}) // DEVLINK_ATTR_PORT_FUNCTION's type, little-endian 145
	if i < 0 {
		t.Fatal("function nest not found")
	}
	nest[i+3] = 40 // first inner attribute's length, now past the nest
	if _, err := decodePortMessage(devlinkCmdPortNew, nest); err == nil || !strings.Contains(err.Error(), "function") {
		t.Fatalf("overrunning nest: err %v", err)
	}
}

// TestTruncatedDatagrams cuts the fixtures at every length: unless the
// cut falls between whole messages, nlmsg_len then promises more than
// there is, which must be an error.
func TestTruncatedDatagrams(t *testing.T) {
	for _, name := range []string{"port-dump.hex", "port-new.hex", "port-sf-new.hex", "port-del.hex"} {
		data := readNetlinkFixture(t, name)
		full, err := splitMessages(data)
		if err != nil {
			t.Fatal(err)
		}
		boundaries := make(map[int]bool)
		end := 0
		for _, m := range full {
			end += align4(nlmsgHdrLen + len(m.Payload))
			boundaries[end] = true
		}
		if end != len(data) {
			t.Fatalf("%s: messages cover %d of %d bytes", name, end, len(data))
		}
		for n := 1; n < len(data); n++ {
			_, err := splitMessages(data[:n])
			switch {
			case boundaries[n] && err != nil:
				t.Errorf("%s cut after a whole message (%d bytes): %v", name, n, err)
			case !boundaries[n] && err == nil:
				t.Errorf("%s cut to %d bytes split without error", name, n)
			case err != nil && !errors.Is(err, errMalformed):
				t.Errorf("%s[:%d]: error %v is not errMalformed", name, n, err)
			}
		}
	}
}

// TestTruncatedAttributes: any prefix of a port message's attributes
// decodes to an error or to a port — never a panic.
func TestTruncatedAttributes(t *testing.T) {
	data := readNetlinkFixture(t, "port-new.hex")
	attrs := data[nlmsgHdrLen+genlHdrLen:]
	for n := range len(attrs) {
		m, err := decodePortMessage(devlinkCmdPortNew, attrs[:n])
		if err == nil && m.Port.Handle() != fixtureVF2.Handle() {
			t.Errorf("prefix %d decoded as %s", n, m.Port.Handle())
		}
	}
	if _, _, err := decodeGenlHeader([]byte{7, 1}); err == nil {
		t.Error("2-byte genl payload accepted")
	}
}

func TestDecodeLinkMessage(t *testing.T) {
	data, _ := renderMessages("", linkMessage(rtmNewLink, 9, "pf0vf1",
		attrU32v(4, "IFLA_MTU", 1500), attrNest(18, "IFLA_LINKINFO", attrStr(1, "IFLA_INFO_KIND", "veth"))))
	msgs, err := splitMessages(data)
	if err != nil {
		t.Fatal(err)
	}
	index, name, err := decodeLinkMessage(msgs[0].Payload)
	if err != nil || index != 9 || name != "pf0vf1" {
		t.Fatalf("decoded %d %q %v", index, name, err)
	}
	if _, _, err := decodeLinkMessage(msgs[0].Payload[:10]); err == nil {
		t.Error("short ifinfomsg accepted")
	}
	noName, _ := renderMessages("", fixtureMsg{typ: rtmNewLink, raw: make([]byte, ifinfoLen), attrs: []nla{attrU32v(4, "IFLA_MTU", 1500)}})
	if _, _, err := decodeLinkMessage(noName[nlmsgHdrLen:]); err == nil {
		t.Error("link message without a name accepted")
	}
}
