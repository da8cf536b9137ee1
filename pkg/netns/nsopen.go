package netns

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// place is a namespace handle plus how errors should name it.
type place struct {
	ns   ns.NetNS
	desc string
	// slots, when set, bounds how many OS threads the plumber keeps in
	// namespaces at once (see do); inside counts them, for tests.
	slots  chan struct{}
	inside *occupancy
}

// occupancy counts the goroutines inside namespaces and the most at once.
type occupancy struct{ now, peak atomic.Int32 }

func (o *occupancy) enter() {
	n := o.now.Add(1)
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
}

func (o *occupancy) leave() { o.now.Add(-1) }

func (p place) close() { _ = p.ns.Close() }

// do runs fn inside the namespace, holding one of the plumber's slots.
// ns.Do locks an OS thread for fn, and the Go runtime keeps every thread
// it ever started: a burst of N concurrent attachments would leave N idle
// threads (and their resident stacks) behind for good — 101 threads and
// twice the idle RSS after 96 ADDs. The kernel serialises namespace moves
// under RTNL anyway, so a few slots cost no throughput. fn must not call
// do itself.
func (p place) do(fn func() error) error {
	if p.slots != nil {
		p.slots <- struct{}{}
		defer func() { <-p.slots }()
		p.inside.enter()
		defer p.inside.leave()
	}
	return p.ns.Do(func(ns.NetNS) error { return fn() })
}

// openNS opens the network namespace at path. ns.GetNS alone accepts any
// file on procfs (e.g. /proc/1/ns/mnt), so the namespace type is checked
// too: a wrong CNI_NETNS must fail here, not half way through a move.
func openNS(path, role string) (place, error) {
	h, err := ns.GetNS(path)
	if err != nil {
		return place{}, classifyOpenErr(path, role, err)
	}
	typ, err := unix.IoctlRetInt(int(h.Fd()), unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		_ = h.Close()
		return place{}, fmt.Errorf("%w: %s %s", ErrNotNetns, role, path)
	}
	return place{ns: h, desc: role + " netns " + path}, nil
}

func classifyOpenErr(path, role string, err error) error {
	var missing ns.NSPathNotExistErr
	var notNS ns.NSPathNotNSErr
	switch {
	case errors.As(err, &missing):
		return fmt.Errorf("%w: %s %s", ErrNetnsNotFound, role, path)
	case errors.As(err, &notNS):
		return fmt.Errorf("%w: %s %s", ErrNotNetns, role, path)
	}
	return fmt.Errorf("open %s netns %s: %w", role, path, err)
}

// openHost opens the namespace holding the VFs; "" is the process's own,
// which is where an unlocked goroutine's thread always is (ns.Do retires
// threads it could not switch back).
func openHost(path string) (place, error) {
	if path != "" {
		return openNS(path, "host")
	}
	h, err := ns.GetCurrentNS()
	if err != nil {
		return place{}, fmt.Errorf("open own netns: %w", err)
	}
	return place{ns: h, desc: "host netns (own)"}, nil
}

// sameNS reports whether two handles are the same namespace, which would
// make a "move" a pointless rename in place.
func sameNS(a, b place) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(int(a.ns.Fd()), &sa); err != nil {
		return false, fmt.Errorf("stat %s: %w", a.desc, err)
	}
	if err := unix.Fstat(int(b.ns.Fd()), &sb); err != nil {
		return false, fmt.Errorf("stat %s: %w", b.desc, err)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}
