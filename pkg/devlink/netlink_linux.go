package devlink

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// recvBufSize is the socket receive buffer asked for, so that the burst
// of notifications when hundreds of VFs are created fits; SO_RCVBUFFORCE
// (root) lifts the rmem_max cap, and the default is kept if both fail.
const recvBufSize = 4 << 20

// maxDatagram bounds one datagram; the kernel's notifications are a page
// or two (NLMSG_DEFAULT_SIZE), dumps at most 32 KiB per datagram.
const maxDatagram = 64 << 10

// dumpAttempts bounds retries of a dump the kernel flags as interrupted
// (NLM_F_DUMP_INTR: the port list changed while it was being dumped).
const dumpAttempts = 3

type netlinkKernel struct{}

func newKernel() kernel { return netlinkKernel{} }

func (netlinkKernel) devlinkFamily() (devlinkFamily, error) {
	f, err := netlink.GenlFamilyGet(unix.DEVLINK_GENL_NAME)
	switch {
	case errors.Is(err, unix.ENOENT):
		return devlinkFamily{}, fmt.Errorf("%w: the kernel has no %q generic netlink family (built without CONFIG_NET_DEVLINK?)",
			ErrNetlinkUnavailable, unix.DEVLINK_GENL_NAME)
	case errors.Is(err, unix.EPROTONOSUPPORT) || errors.Is(err, unix.EAFNOSUPPORT):
		return devlinkFamily{}, fmt.Errorf("%w: no generic netlink: %v", ErrNetlinkUnavailable, err)
	case err != nil:
		return devlinkFamily{}, err
	}
	for _, g := range f.Groups {
		if g.Name == unix.DEVLINK_GENL_MCGRP_CONFIG_NAME {
			return devlinkFamily{id: f.ID, group: g.ID}, nil
		}
	}
	return devlinkFamily{}, fmt.Errorf("%w: the %q family (id %d) has no %q multicast group",
		ErrNetlinkUnavailable, f.Name, f.ID, unix.DEVLINK_GENL_MCGRP_CONFIG_NAME)
}

func (netlinkKernel) subscribeDevlink(f devlinkFamily) (notifier, error) {
	return subscribe(unix.NETLINK_GENERIC, f.group)
}

func (netlinkKernel) subscribeLinks() (notifier, error) {
	return subscribe(unix.NETLINK_ROUTE, unix.RTNLGRP_LINK)
}

func (netlinkKernel) dumpPorts(f devlinkFamily) ([][]byte, error) {
	var err error
	for range dumpAttempts {
		req := nl.NewNetlinkRequest(int(f.id), unix.NLM_F_DUMP)
		req.AddData(&nl.Genlmsg{Command: devlinkCmdPortGet, Version: devlinkGenl})
		var msgs [][]byte
		msgs, err = req.Execute(unix.NETLINK_GENERIC, f.id)
		if err == nil {
			return msgs, nil
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, err
		}
	}
	return nil, err
}

// nlSocket is a netlink socket joined to one multicast group. It is
// non-blocking and registered with the runtime poller, so close unblocks
// a pending receive.
type nlSocket struct {
	f   *os.File
	rc  syscall.RawConn
	buf []byte
}

// subscribe opens a protocol socket and joins group with
// NETLINK_ADD_MEMBERSHIP, which, unlike the bind-time bitmask, reaches
// generic netlink group ids above 32.
func subscribe(protocol int, group uint32) (*nlSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, protocol)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	if err := setup(fd, group); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "netlink")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &nlSocket{f: f, rc: rc, buf: make([]byte, maxDatagram)}, nil
}

func setup(fd int, group uint32) error {
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_ADD_MEMBERSHIP, int(group)); err != nil {
		return os.NewSyscallError("joining netlink group", err)
	}
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBufSize) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, recvBufSize)
	}
	return nil
}

func (s *nlSocket) receive() ([]byte, error) {
	for {
		var (
			n    int
			from unix.Sockaddr
			rerr error
		)
		err := s.rc.Read(func(fd uintptr) bool {
			// MSG_TRUNC makes recvfrom return the datagram's real length.
			n, from, rerr = unix.Recvfrom(int(fd), s.buf, unix.MSG_TRUNC)
			return rerr != unix.EAGAIN
		})
		switch {
		case err != nil:
			return nil, err
		case rerr == unix.EINTR:
			continue
		case rerr == unix.ENOBUFS:
			return nil, fmt.Errorf("%w: %w", errOverrun, os.NewSyscallError("recvfrom", rerr))
		case rerr != nil:
			return nil, os.NewSyscallError("recvfrom", rerr)
		case n > len(s.buf):
			return nil, fmt.Errorf("%w: a %d-byte datagram did not fit %d bytes", errOverrun, n, len(s.buf))
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 {
			continue // not from the kernel
		}
		return append([]byte(nil), s.buf[:n]...), nil
	}
}

func (s *nlSocket) close() error { return s.f.Close() }
