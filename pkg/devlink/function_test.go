package devlink

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The function-set request is proven like the decoder: a fixture of the
// message iproute2 sends for
//
//	devlink port function set pci/0000:03:00.0/196610 hw_addr 0e:00:00:00:00:01
//
// built by the test's own generator (nla, renderMessages: libmnl's layout,
// with NLA_F_NESTED on the nest as mnl_attr_nest_start sets it) and
// compared byte for byte with what functionSetMessage encodes. The kernel
// here has no devlink, so the live call is not tested; the encoder is.

const functionSetFixture = "port-function-set.hex"

var fixtureFunctionMAC = net.HardwareAddr{0x0e, 0, 0, 0, 0, 0x01}

// fixtureFunctionSetSeq is the request's sequence number in the fixture.
const fixtureFunctionSetSeq = 1

func functionSetFixtureText() string {
	header := "The request `devlink port function set pci/0000:03:00.0/196610 hw_addr 0e:00:00:00:00:01`\n" +
		"sends (iproute2 devlink/devlink.c: cmd_port_function_set, dl_opts_put, dl_function_attr_put):\n" +
		"DEVLINK_CMD_PORT_SET with NLM_F_REQUEST|NLM_F_ACK; the port function nest opened by\n" +
		"mnl_attr_nest_start, hence NLA_F_NESTED (0x8000) in its type. The port id is 0: the kernel\n" +
		"fills in the sender's. Attribute numbers: include/uapi/linux/devlink.h.\n" +
		"Built by netlink_fixtures_test.go's generator, not captured (this kernel has no devlink).\n" +
		"Native byte order: little-endian.\n"
	bus, dev, _ := strings.Cut(fixtureVF1.Device, "/")
	_, text := renderMessages(header, fixtureMsg{
		comment: "PORT_SET pci/0000:03:00.0/196610 function hw_addr 0e:00:00:00:00:01",
		typ:     fixtureFamilyID, flags: nlmFRequest | nlmFAck, seq: fixtureFunctionSetSeq,
		genl: true, cmd: devlinkCmdPortSet, cmdName: cmdNames[devlinkCmdPortSet],
		attrs: []nla{
			attrStr(devlinkAttrBusName, "DEVLINK_ATTR_BUS_NAME", bus),
			attrStr(devlinkAttrDevName, "DEVLINK_ATTR_DEV_NAME", dev),
			attrU32v(devlinkAttrPortIndex, "DEVLINK_ATTR_PORT_INDEX", fixtureVF1.Index),
			{typ: devlinkAttrPortFunction, comment: "DEVLINK_ATTR_PORT_FUNCTION (nest, NLA_F_NESTED)", nest: true, flagNested: true,
				children: []nla{{typ: devlinkPortFnAttrHWAddr, comment: "DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR " + fixtureFunctionMAC.String(),
					data: fixtureFunctionMAC}}},
		},
	})
	return text
}

func TestFunctionSetFixtureUpToDate(t *testing.T) {
	requireLittleEndian(t)
	path := filepath.Join("testdata", "netlink", functionSetFixture)
	text := functionSetFixtureText()
	if *updateNetlinkFixtures {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update-netlink-fixtures to create it)", err)
	}
	if string(got) != text {
		t.Errorf("%s differs from the generator's output (rerun with -update-netlink-fixtures if the change is intended)", path)
	}
}

func TestFunctionSetMessageMatchesIproute2(t *testing.T) {
	want := readNetlinkFixture(t, functionSetFixture)
	got, err := functionSetMessage(fixtureFamilyID, fixtureFunctionSetSeq, fixtureVF1.Device, fixtureVF1.Index, fixtureFunctionMAC)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded request differs from the fixture\ngot  %x\nwant %x", got, want)
	}
	// What the kernel would parse: the generic decoder reads it back.
	msgs, err := splitMessages(got)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("split: %v, %d messages", err, len(msgs))
	}
	cmd, attrs, err := decodeGenlHeader(msgs[0].Payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodePortMessage(cmd, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if m.Port.Handle() != fixtureVF1.Handle() || !bytes.Equal(m.Port.HWAddr, fixtureFunctionMAC) {
		t.Fatalf("decoded %s hw_addr %s", m.Port.Handle(), m.Port.HWAddr)
	}
}

func TestFunctionSetPayloadRefusesBadInput(t *testing.T) {
	for _, c := range []struct {
		device string
		mac    net.HardwareAddr
	}{
		{"0000:03:00.0", fixtureFunctionMAC},
		{"pci/", fixtureFunctionMAC},
		{"pci/a/b", fixtureFunctionMAC},
		{fixtureDevice, nil},
		{fixtureDevice, make(net.HardwareAddr, maxAddrLen+1)},
	} {
		if _, err := functionSetPayload(c.device, 1, c.mac); err == nil {
			t.Errorf("%q %v: no error", c.device, c.mac)
		}
	}
}

// functionKernel adds the request path to the fake kernel.
type functionKernel struct {
	*fakeKernel
	sent [][]byte
	err  error
}

func (k *functionKernel) request(_ devlinkFamily, payload []byte) error {
	k.sent = append(k.sent, payload)
	return k.err
}

func TestNetlinkSourceSetFunctionHWAddr(t *testing.T) {
	requireLittleEndian(t)
	tbl := NewTable(WithLogger(testLogger(t)))
	tbl.Replace([]Port{fixturePF, fixtureVF1})
	k := &functionKernel{fakeKernel: newFakeKernel(t)}
	s := NewNetlinkSource(tbl, WithLogger(testLogger(t)))
	s.k = k
	if err := s.SetFunctionHWAddr(fixtureVF1, fixtureFunctionMAC); err != nil {
		t.Fatal(err)
	}
	want := readNetlinkFixture(t, functionSetFixture)[nlmsgHdrLen:]
	if len(k.sent) != 1 || !bytes.Equal(k.sent[0], want) {
		t.Fatalf("sent %x\nwant %x", k.sent, want)
	}
	if p, ok := tbl.Port(fixtureVF1.Handle()); !ok || !bytes.Equal(p.HWAddr, fixtureFunctionMAC) {
		t.Fatalf("table has %v %v after the ack", p.HWAddr, ok)
	}

	k.err = syscall.EOPNOTSUPP
	err := s.SetFunctionHWAddr(fixtureVF1, net.HardwareAddr{0x0e, 0, 0, 0, 0, 2})
	if !errors.Is(err, syscall.EOPNOTSUPP) || !strings.Contains(err.Error(), fixtureVF1.Handle()) ||
		!strings.Contains(err.Error(), "0e:00:00:00:00:02") {
		t.Fatalf("err = %v", err)
	}
	if p, _ := tbl.Port(fixtureVF1.Handle()); !bytes.Equal(p.HWAddr, fixtureFunctionMAC) {
		t.Fatalf("a refused set changed the table to %s", p.HWAddr)
	}
}

func TestNetlinkSourceSetFunctionHWAddrWithoutDevlink(t *testing.T) {
	s := NewNetlinkSource(NewTable(WithLogger(testLogger(t))), WithLogger(testLogger(t)))
	s.k = newFakeKernel(t) // cannot send requests
	if err := s.SetFunctionHWAddr(fixtureVF1, fixtureFunctionMAC); !errors.Is(err, ErrNetlinkUnavailable) {
		t.Fatalf("err = %v", err)
	}
}

func TestFileSourceSetFunctionHWAddr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devlink.json")
	vf := fixtureVF1
	vf.HWAddr = nil
	data, err := EncodeDump([]Port{fixturePF, vf})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	tbl := NewTable(WithLogger(testLogger(t)))
	s := NewFileSource(path, tbl, WithLogger(testLogger(t)))
	if err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFunctionHWAddr(Port{Device: vf.Device, Index: vf.Index}, fixtureFunctionMAC); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ports, err := ParseDump(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(ports) != 2 || !ports[0].equal(fixturePF) || !bytes.Equal(ports[1].HWAddr, fixtureFunctionMAC) {
		t.Fatalf("dump after the set: %+v", ports)
	}
	if p, ok := tbl.Port(vf.Handle()); !ok || !bytes.Equal(p.HWAddr, fixtureFunctionMAC) {
		t.Fatalf("table has %v %v", p.HWAddr, ok)
	}
	if err := s.SetFunctionHWAddr(Port{Device: vf.Device, Index: 7}, fixtureFunctionMAC); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("unknown port: err = %v", err)
	}
}
