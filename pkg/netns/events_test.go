package netns

import (
	"encoding/binary"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// linkEvent is a link notification the kernel sent to a namespace.
type linkEvent struct {
	typ      uint16 // RTM_NEWLINK or RTM_DELLINK
	index    int32
	name     string
	alias    string
	newNetns int32 // IFLA_NEW_NETNSID of a RTM_DELLINK for a move; -1 if absent
}

// recorder holds a netlink socket subscribed to link and namespace-id
// notifications in one namespace. The kernel queues a notification on
// it before the call that caused it returns, so once an operation
// returned, drain sees all of its notifications without waiting.
type recorder struct {
	s *nl.NetlinkSocket
}

func record(t *testing.T, n testNS) *recorder {
	t.Helper()
	var r recorder
	n.do(t, func() (err error) {
		r.s, err = nl.Subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK, unix.RTNLGRP_NSID)
		return err
	})
	t.Cleanup(func() { _ = r.s.Close() })
	if err := r.s.SetReceiveBufferSize(1<<20, false); err != nil {
		t.Fatal(err)
	}
	return &r
}

// drain returns the link notifications about index and the namespace ids
// announced (RTM_NEWNSID) since the last drain.
func (r *recorder) drain(t *testing.T, index int32) (links []linkEvent, nsids []int32) {
	t.Helper()
	buf := make([]byte, os.Getpagesize()*16)
	for {
		n, _, err := unix.Recvfrom(r.s.GetFd(), buf, unix.MSG_DONTWAIT)
		if errors.Is(err, unix.EAGAIN) {
			return links, nsids
		}
		if err != nil {
			t.Fatalf("receive notifications: %v", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			t.Fatalf("parse notifications: %v", err)
		}
		for _, m := range msgs {
			switch m.Header.Type {
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				if ev := parseLinkEvent(t, m); ev.index == index {
					links = append(links, ev)
				}
			case unix.RTM_NEWNSID:
				nsids = append(nsids, parseNSID(t, m))
			}
		}
	}
}

func parseLinkEvent(t *testing.T, m syscall.NetlinkMessage) linkEvent {
	t.Helper()
	info := nl.DeserializeIfInfomsg(m.Data)
	ev := linkEvent{typ: m.Header.Type, index: info.Index, newNetns: -1}
	attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfInfomsg:])
	if err != nil {
		t.Fatalf("parse link notification: %v", err)
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFLA_IFNAME:
			ev.name = string(trimNUL(a.Value))
		case unix.IFLA_IFALIAS:
			ev.alias = string(trimNUL(a.Value))
		case unix.IFLA_NEW_NETNSID:
			ev.newNetns = int32(binary.NativeEndian.Uint32(a.Value))
		}
	}
	return ev
}

// rtgenmsgLen is a struct rtgenmsg (one byte) padded to NLMSG_ALIGNTO.
const rtgenmsgLen = 4

// parseNSID reads a RTM_NEWNSID: a struct rtgenmsg, then NETNSA_NSID.
func parseNSID(t *testing.T, m syscall.NetlinkMessage) int32 {
	t.Helper()
	attrs, err := nl.ParseRouteAttr(m.Data[rtgenmsgLen:])
	if err != nil {
		t.Fatalf("parse nsid notification: %v", err)
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.NETNSA_NSID {
			return int32(binary.NativeEndian.Uint32(a.Value))
		}
	}
	t.Fatalf("RTM_NEWNSID without NETNSA_NSID: %v", attrs)
	return 0
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// nsidOf is the id namespace other has in n, as n's notifications name it.
func (n testNS) nsidOf(t *testing.T, other testNS) int32 {
	t.Helper()
	f, err := os.Open(other.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var id int
	n.do(t, func() (err error) { id, err = netlink.GetNetNsIdByFd(int(f.Fd())); return err })
	return int32(id)
}

// index is the ifindex of the link called name in n.
func (n testNS) index(t *testing.T, name string) int32 {
	t.Helper()
	var idx int32
	n.do(t, func() error {
		l, err := linkByName(name)
		if err == nil {
			idx = int32(l.Attrs().Index)
		}
		return err
	})
	return idx
}
