package devlink

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// TestWireConstantsMatchUnix checks the numbers netlink_decode.go spells
// out against golang.org/x/sys/unix's copy of the uapi headers.
func TestWireConstantsMatchUnix(t *testing.T) {
	checks := []struct {
		name      string
		ours, uap int
	}{
		{"NLMSG_HDRLEN", nlmsgHdrLen, unix.NLMSG_HDRLEN},
		{"GENL_HDRLEN", genlHdrLen, unix.GENL_HDRLEN},
		{"NLA_HDRLEN", nlaHdrLen, unix.NLA_HDRLEN},
		{"SizeofIfInfomsg", ifinfoLen, unix.SizeofIfInfomsg},
		{"NLMSG_DONE", nlmsgDone, unix.NLMSG_DONE},
		{"NLM_F_MULTI", nlmFMulti, unix.NLM_F_MULTI},
		{"NLA_F_NESTED", nlaFNested, unix.NLA_F_NESTED},
		{"NLA_F_NET_BYTEORDER", nlaFNetByteorder, unix.NLA_F_NET_BYTEORDER},
		{"NLA_TYPE_MASK", int(nlaTypeMask), int(^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER))},
		{"RTM_NEWLINK", rtmNewLink, unix.RTM_NEWLINK},
		{"RTM_DELLINK", rtmDelLink, unix.RTM_DELLINK},
		{"IFLA_IFNAME", iflaIfname, unix.IFLA_IFNAME},
		{"DEVLINK_GENL_VERSION", devlinkGenl, unix.DEVLINK_GENL_VERSION},
		{"DEVLINK_CMD_NEW", devlinkCmdNew, unix.DEVLINK_CMD_NEW},
		{"DEVLINK_CMD_PORT_GET", devlinkCmdPortGet, unix.DEVLINK_CMD_PORT_GET},
		{"DEVLINK_CMD_PORT_SET", devlinkCmdPortSet, unix.DEVLINK_CMD_PORT_SET},
		{"DEVLINK_CMD_PORT_NEW", devlinkCmdPortNew, unix.DEVLINK_CMD_PORT_NEW},
		{"DEVLINK_CMD_PORT_DEL", devlinkCmdPortDel, unix.DEVLINK_CMD_PORT_DEL},
		{"DEVLINK_ATTR_BUS_NAME", devlinkAttrBusName, unix.DEVLINK_ATTR_BUS_NAME},
		{"DEVLINK_ATTR_DEV_NAME", devlinkAttrDevName, unix.DEVLINK_ATTR_DEV_NAME},
		{"DEVLINK_ATTR_PORT_INDEX", devlinkAttrPortIndex, unix.DEVLINK_ATTR_PORT_INDEX},
		{"DEVLINK_ATTR_PORT_TYPE", devlinkAttrPortType, unix.DEVLINK_ATTR_PORT_TYPE},
		{"DEVLINK_ATTR_PORT_NETDEV_IFINDEX", devlinkAttrPortNetdevIfindex, unix.DEVLINK_ATTR_PORT_NETDEV_IFINDEX},
		{"DEVLINK_ATTR_PORT_NETDEV_NAME", devlinkAttrPortNetdevName, unix.DEVLINK_ATTR_PORT_NETDEV_NAME},
		{"DEVLINK_ATTR_PORT_FLAVOUR", devlinkAttrPortFlavour, unix.DEVLINK_ATTR_PORT_FLAVOUR},
		{"DEVLINK_ATTR_PORT_NUMBER", devlinkAttrPortNumber, unix.DEVLINK_ATTR_PORT_NUMBER},
		{"DEVLINK_ATTR_PORT_PCI_PF_NUMBER", devlinkAttrPortPCIPFNumber, unix.DEVLINK_ATTR_PORT_PCI_PF_NUMBER},
		{"DEVLINK_ATTR_PORT_PCI_VF_NUMBER", devlinkAttrPortPCIVFNumber, unix.DEVLINK_ATTR_PORT_PCI_VF_NUMBER},
		{"DEVLINK_ATTR_PORT_FUNCTION", devlinkAttrPortFunction, unix.DEVLINK_ATTR_PORT_FUNCTION},
		{"DEVLINK_ATTR_PORT_SPLITTABLE", devlinkAttrPortSplittable, unix.DEVLINK_ATTR_PORT_SPLITTABLE},
		{"DEVLINK_ATTR_PORT_EXTERNAL", devlinkAttrPortExternal, unix.DEVLINK_ATTR_PORT_EXTERNAL},
		{"DEVLINK_ATTR_PORT_CONTROLLER_NUMBER", devlinkAttrPortControllerNumber, unix.DEVLINK_ATTR_PORT_CONTROLLER_NUMBER},
		{"DEVLINK_ATTR_PORT_PCI_SF_NUMBER", devlinkAttrPortPCISFNumber, unix.DEVLINK_ATTR_PORT_PCI_SF_NUMBER},
		{"DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR", devlinkPortFnAttrHWAddr, unix.DEVLINK_PORT_FUNCTION_ATTR_HW_ADDR},
		{"DEVLINK_PORT_FN_ATTR_CAPS", devlinkPortFnAttrCaps, unix.DEVLINK_PORT_FN_ATTR_CAPS},
		// x/sys/unix v0.49.0 predates DEVLINK_PORT_FN_ATTR_MAX_IO_EQS and
		// DEVLINK_PORT_FLAVOUR_PCI_SF; the netlink module has the latter.
		{"DEVLINK_PORT_FLAVOUR_PHYSICAL", int(flavourNumber(Physical)), unix.DEVLINK_PORT_FLAVOUR_PHYSICAL},
		{"DEVLINK_PORT_FLAVOUR_CPU", int(flavourNumber(CPU)), unix.DEVLINK_PORT_FLAVOUR_CPU},
		{"DEVLINK_PORT_FLAVOUR_DSA", int(flavourNumber(DSA)), unix.DEVLINK_PORT_FLAVOUR_DSA},
		{"DEVLINK_PORT_FLAVOUR_PCI_PF", int(flavourNumber(PCIPF)), unix.DEVLINK_PORT_FLAVOUR_PCI_PF},
		{"DEVLINK_PORT_FLAVOUR_PCI_VF", int(flavourNumber(PCIVF)), unix.DEVLINK_PORT_FLAVOUR_PCI_VF},
		{"DEVLINK_PORT_FLAVOUR_VIRTUAL", int(flavourNumber(Virtual)), unix.DEVLINK_PORT_FLAVOUR_VIRTUAL},
		{"DEVLINK_PORT_FLAVOUR_UNUSED", int(flavourNumber(Unused)), unix.DEVLINK_PORT_FLAVOUR_UNUSED},
		{"DEVLINK_PORT_FLAVOUR_PCI_SF", int(flavourNumber(PCISF)), nl.DEVLINK_PORT_FLAVOUR_PCI_SF},
		{"DEVLINK_PORT_TYPE_NOTSET", int(portTypeNumber("notset")), unix.DEVLINK_PORT_TYPE_NOTSET},
		{"DEVLINK_PORT_TYPE_AUTO", int(portTypeNumber("auto")), unix.DEVLINK_PORT_TYPE_AUTO},
		{"DEVLINK_PORT_TYPE_ETH", int(portTypeNumber("eth")), unix.DEVLINK_PORT_TYPE_ETH},
		{"DEVLINK_PORT_TYPE_IB", int(portTypeNumber("ib")), unix.DEVLINK_PORT_TYPE_IB},
	}
	for _, c := range checks {
		if c.ours != c.uap {
			t.Errorf("%s: ours %d, uapi %d", c.name, c.ours, c.uap)
		}
	}
	if devlinkPortFnAttrMaxIOEQs != unix.DEVLINK_PORT_FN_ATTR_CAPS+2 { // CAPS, DEVLINK, MAX_IO_EQS
		t.Errorf("DEVLINK_PORT_FN_ATTR_MAX_IO_EQS %d", devlinkPortFnAttrMaxIOEQs)
	}
}

// TestFixturesParseWithOtherParsers reads the fixtures with the standard
// library's and the netlink module's parsers, which share no code with
// the generator or the decoder.
func TestFixturesParseWithOtherParsers(t *testing.T) {
	for _, name := range []string{"port-dump.hex", "port-new.hex", "port-sf-new.hex", "port-del.hex"} {
		data := readNetlinkFixture(t, name)
		theirs, err := syscall.ParseNetlinkMessage(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		ours, err := splitMessages(data)
		if err != nil {
			t.Fatal(err)
		}
		if len(theirs) != len(ours) {
			t.Fatalf("%s: %d messages, we split %d", name, len(theirs), len(ours))
		}
		for i, m := range theirs {
			if m.Header.Type != fixtureFamilyID {
				continue
			}
			attrs, err := nl.ParseRouteAttr(m.Data[unix.GENL_HDRLEN:])
			if err != nil {
				t.Fatalf("%s message %d: %v", name, i, err)
			}
			var types []uint16
			for _, a := range attrs {
				types = append(types, a.Attr.Type)
				if a.Attr.Type == devlinkAttrPortFunction {
					inner, err := nl.ParseRouteAttr(a.Value)
					if err != nil || len(inner) == 0 || inner[0].Attr.Type != devlinkPortFnAttrHWAddr {
						t.Errorf("%s message %d: function nest %v %v", name, i, inner, err)
					}
				}
			}
			var want []uint16
			_ = forEachAttr(ours[i].Payload[genlHdrLen:], func(typ uint16, _ []byte) error {
				want = append(want, typ)
				return nil
			})
			if len(types) != len(want) || len(types) < 8 {
				t.Errorf("%s message %d: their attributes %v, ours %v", name, i, types, want)
			}
		}
	}
}

// TestNetlinkSourceOnThisKernel runs against the real kernel. Where there
// is no devlink family (the machine these tests were written on), Run must
// say so and point at --devlink-dump; on hardware it dumps the ports.
func TestNetlinkSourceOnThisKernel(t *testing.T) {
	k := newKernel()
	fam, err := k.devlinkFamily()
	if errors.Is(err, ErrNetlinkUnavailable) {
		err := NewNetlinkSource(NewTable(), WithLogger(testLogger(t))).Run(context.Background())
		if !errors.Is(err, ErrNetlinkUnavailable) || !strings.Contains(err.Error(), "--devlink-dump") {
			t.Fatalf("Run without devlink: %v", err)
		}
		t.Logf("this kernel has no devlink; Run says: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("resolving devlink: %v", err)
	}
	t.Logf("devlink family id %d, config group %d", fam.id, fam.group)
	payloads, err := k.dumpPorts(fam)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	ports, errs := decodeDump(payloads)
	for _, err := range errs {
		t.Errorf("undecodable port: %v", err)
	}
	for _, m := range ports {
		t.Logf("%s: %s %s ifindex %d", m.Port.Handle(), m.Port.Flavour, m.Port.Netdev, m.IfIndex)
	}
	tbl := NewTable(WithLogger(testLogger(t)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := NewNetlinkSource(tbl, WithLogger(testLogger(t))).Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if tbl.Len() != len(ports) {
		t.Errorf("table has %d ports, the dump %d", tbl.Len(), len(ports))
	}
}

// inNewNetns runs f with the calling thread in a fresh network namespace
// and returns that namespace; it skips the test without the privilege.
func inNewNetns(t *testing.T, f func()) netns.NsHandle {
	t.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		testenv.SkipOrFail(t, "no network namespaces: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		testenv.SkipOrFail(t, "cannot create a network namespace (needs CAP_SYS_ADMIN): %v", err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Errorf("restoring the network namespace: %v", err)
			return // leave the thread locked: the runtime discards it
		}
		runtime.UnlockOSThread()
	}()
	f()
	return ns
}

// TestRealLinkSocketSeesRename exercises the real notification socket on
// this kernel: in a throwaway network namespace it creates a veth pair,
// renames one end, and checks that the source's rtnetlink handling
// recognises the rename from the kernel's own RTM_NEWLINK bytes.
func TestRealLinkSocketSeesRename(t *testing.T) {
	var sock *nlSocket
	ns := inNewNetns(t, func() {
		var err error
		if sock, err = subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK); err != nil {
			t.Fatalf("subscribe: %v", err)
		}
	})
	defer ns.Close()
	defer sock.close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dlt-eth5"}, PeerName: "dlt-peer"}
	if err := h.LinkAdd(veth); err != nil {
		testenv.SkipOrFail(t, "cannot create a veth pair: %v", err)
	}
	link, err := h.LinkByName("dlt-eth5")
	if err != nil {
		t.Fatal(err)
	}
	index := uint32(link.Attrs().Index)

	s := NewNetlinkSource(NewTable(), WithLogger(testLogger(t)))
	s.names = map[uint32]string{index: "dlt-eth5"} // as if devlink had named it
	if err := h.LinkSetName(link, "dlt-pf0vf1"); err != nil {
		t.Fatal(err)
	}
	got := make(chan bool, 1)
	go func() {
		for {
			data, err := sock.receive()
			if err != nil {
				got <- false
				return
			}
			if s.handleLinks(data) {
				got <- true
				return
			}
		}
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("the socket failed before the rename was seen")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no RTM_NEWLINK rename within 10s")
	}
	if s.names[index] != "dlt-pf0vf1" {
		t.Fatalf("name for ifindex %d is %q", index, s.names[index])
	}

	// close unblocks a pending receive.
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := sock.receive(); err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond)
	sock.close()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("receive returned no error after close")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close did not unblock receive")
	}
}

// TestRealGenlSubscribe joins a generic netlink group by id through
// NETLINK_ADD_MEMBERSHIP, as the source joins devlink's "config" group;
// nlctrl's "notify" group stands in, since this kernel has no devlink.
func TestRealGenlSubscribe(t *testing.T) {
	f, err := netlink.GenlFamilyGet("nlctrl")
	if err != nil {
		testenv.SkipOrFail(t, "no generic netlink: %v", err)
	}
	for _, g := range f.Groups {
		if g.Name != "notify" {
			continue
		}
		sock, err := subscribe(unix.NETLINK_GENERIC, g.ID)
		if err != nil {
			t.Fatalf("joining nlctrl group %d: %v", g.ID, err)
		}
		if err := sock.close(); err != nil {
			t.Fatal(err)
		}
		return
	}
	testenv.SkipOrFail(t, "nlctrl has no notify group")
}
