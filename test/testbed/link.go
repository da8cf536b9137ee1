package testbed

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// deadMAC is a locally administered address no interface of the bed has.
const deadMAC = "02:de:ad:00:00:01"

// CutHostLink makes the host<->dpu link silent both ways, as a hung or
// unplugged DPU looks to the host: each end sends its packets for the
// other to a MAC address nobody has (a permanent neighbour entry), so the
// other end drops them on receive. There is no RST, no ICMP error and no
// carrier change, so established TCP connections stay half-open and new
// ones hang in SYN_SENT. restore removes the entries (ARP resolves the real
// addresses again); it may be called more than once.
func (b *Bed) CutHostLink(ctx context.Context) (restore func() error, err error) {
	if b.HostNetns == "" {
		return nil, errors.New("CutHostLink needs a bed with Options.HostNetns")
	}
	ends := []struct {
		netns, dev string
		peer       net.IP
	}{
		{b.HostNetns, "hl" + b.ID, b.DPUAddr},
		{b.DPUNetns, "dl" + b.ID, b.HostAddr},
	}
	var once sync.Once
	var restoreErr error
	restore = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, e := range ends {
				if _, err := b.run(ctx, "ip", "-n", e.netns, "neigh", "del", e.peer.String(), "dev", e.dev); err != nil {
					restoreErr = errors.Join(restoreErr, err)
				}
			}
		})
		return restoreErr
	}
	for _, e := range ends {
		if _, err := b.run(ctx, "ip", "-n", e.netns, "neigh", "replace", e.peer.String(), "lladdr", deadMAC,
			"dev", e.dev, "nud", "permanent"); err != nil {
			return nil, errors.Join(err, restore())
		}
	}
	return restore, nil
}

// DialUnixAs connects to the unix socket at path with effective uid uid,
// for tests of who a socket serves (SO_PEERCRED). Only the thread that
// connects changes its uid (setresuid on that thread, not Go's
// process-wide Setuid); it is locked to its goroutine and never unlocked,
// so it exits with it and nothing else ever runs as uid. The caller must
// be root, and uid must be able to reach path.
func DialUnixAs(path string, uid int) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		keep := ^uintptr(0) // -1: leave unchanged
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
			done <- result{err: e}
			return
		}
		c, err := net.Dial("unix", path)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}
