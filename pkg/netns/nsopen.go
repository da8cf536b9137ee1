package netns

import (
	"errors"
	"fmt"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// place is a namespace handle plus how errors should name it.
type place struct {
	ns   ns.NetNS
	desc string
}

func (p place) close() { _ = p.ns.Close() }

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
