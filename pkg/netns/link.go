package netns

import (
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// withLink runs fn on the link called name inside p. The link is looked up
// afresh every time because moving between namespaces may change its
// index.
func withLink(p place, name string, fn func(netlink.Link) error) error {
	return p.do(func() error {
		l, err := linkByName(name)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

func linkByName(name string) (netlink.Link, error) {
	l, err := netlinksafe.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
		return nil, fmt.Errorf("%w: %q", ErrLinkNotFound, name)
	}
	return l, err
}

// linkState is the part of a link that the Plumber changes and restores.
type linkState struct {
	name  string
	alias string
	mac   net.HardwareAddr
	mtu   int
	up    bool
}

func stateOf(l netlink.Link) linkState {
	a := l.Attrs()
	return linkState{
		name:  a.Name,
		alias: a.Alias,
		mac:   append(net.HardwareAddr(nil), a.HardwareAddr...),
		mtu:   a.MTU,
		up:    a.Flags&net.FlagUp != 0,
	}
}

func readState(p place, name string) (linkState, error) {
	var st linkState
	err := withLink(p, name, func(l netlink.Link) error {
		st = stateOf(l)
		return nil
	})
	return st, err
}

func setMAC(p place, name string, mac net.HardwareAddr) error {
	return withLink(p, name, func(l netlink.Link) error {
		return netlink.LinkSetHardwareAddr(l, mac)
	})
}

func setMTU(p place, name string, mtu int) error {
	return withLink(p, name, func(l netlink.Link) error {
		return netlink.LinkSetMTU(l, mtu)
	})
}

func setAlias(p place, name, alias string) error {
	return withLink(p, name, func(l netlink.Link) error {
		return netlink.LinkSetAlias(l, alias)
	})
}

func setUp(p place, name string, up bool) error {
	return withLink(p, name, func(l netlink.Link) error {
		if up {
			return netlink.LinkSetUp(l)
		}
		return netlink.LinkSetDown(l)
	})
}

func renameLink(p place, from, to string) error {
	return withLink(p, from, func(l netlink.Link) error {
		return netlink.LinkSetName(l, to)
	})
}
