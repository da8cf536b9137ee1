package cmdutil

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// RootPeersOnly wraps a unix-socket listener so that it hands out only
// connections whose peer (SO_PEERCRED, the credentials of the process that
// connected) is root or this process's own user. Other connections are
// closed at once and logged. This is defence in depth behind the socket's
// 0600 mode: a socket whose mode was loosened by mistake, or a descriptor
// passed to another user, still serves no one else.
func RootPeersOnly(lis net.Listener, log *slog.Logger) net.Listener {
	return &rootPeersOnly{Listener: lis, self: uint32(os.Geteuid()), log: log}
}

type rootPeersOnly struct {
	net.Listener
	self uint32
	log  *slog.Logger
}

// Accept returns the next connection from an allowed peer.
func (l *rootPeersOnly) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cred, err := peerCred(c)
		if err == nil && (cred.Uid == 0 || cred.Uid == l.self) {
			return c, nil
		}
		if err != nil {
			l.log.Warn("refused a connection whose peer credentials cannot be read", "socket", l.Addr().String(), "err", err)
		} else {
			l.log.Warn("refused a connection from a peer that is not root", "socket", l.Addr().String(),
				"uid", cred.Uid, "gid", cred.Gid, "pid", cred.Pid)
		}
		_ = c.Close()
	}
}

// peerCred reads SO_PEERCRED of a unix-socket connection.
func peerCred(c net.Conn) (*unix.Ucred, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a unix socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}
