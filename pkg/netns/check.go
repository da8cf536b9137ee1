package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Check verifies, for CNI CHECK and inside the pod namespace, that
// req.IfName exists, is up, has req.MAC (when given), carries every one
// of req.IPs with its prefix length and has every one of req.Routes. It
// checks only what this plugin owns: MTU and sysctls are left to chained
// plugins such as tuning, which may legitimately change them. A
// difference is an error that says in plain words what differs and wraps
// ErrLinkNotFound, ErrLinkDown, ErrMACMismatch, ErrAddressMissing or
// ErrRouteMissing.
//
// The plugins' ip.ValidateExpectedInterfaceIPs and ip.ValidateExpectedRoute
// are not used, as they would judge wrongly here: the first also demands
// a main-table prefix route for each address, which an IPv4 /32 does not
// have (the kernel puts it in the local table only); the second ignores
// the gateway of a default route, and for every route the interface it
// is on, so another interface's default route would pass.
func (p *Plumber) Check(ctx context.Context, req CheckRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := req.validate(); err != nil {
		return err
	}
	pod, err := openNS(req.PodNetns, "pod")
	if err != nil {
		return err
	}
	defer pod.close()
	p.bound(&pod)
	return pod.do(func() error { return checkLink(pod.desc, req) })
}

// checkLink is Check inside the pod namespace, described as where.
func checkLink(where string, req CheckRequest) error {
	name := req.IfName
	l, err := linkByName(name)
	if errors.Is(err, ErrLinkNotFound) {
		return differs(ErrLinkNotFound, "no interface %s in %s", name, where)
	}
	if err != nil {
		return fmt.Errorf("look up %s in %s: %w", name, where, err)
	}
	a := l.Attrs()
	if a.Flags&net.FlagUp == 0 {
		return differs(ErrLinkDown, "%s in %s is down", name, where)
	}
	if len(req.MAC) > 0 && !bytes.Equal(a.HardwareAddr, req.MAC) {
		return differs(ErrMACMismatch, "%s in %s has MAC %s, its result says %s", name, where, a.HardwareAddr, req.MAC)
	}
	if err := checkAddrs(l, where, req.IPs); err != nil {
		return err
	}
	return checkRoutes(l, where, req)
}

func checkAddrs(l netlink.Link, where string, want []*current.IPConfig) error {
	have, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list addresses of %s in %s: %w", l.Attrs().Name, where, err)
	}
	for _, w := range want {
		if diff := addrDiff(have, w.Address); diff != "" {
			return differs(ErrAddressMissing, "%s in %s %s", l.Attrs().Name, where, diff)
		}
	}
	return nil
}

// addrDiff says how have falls short of want ("lacks 10.0.0.5/24", or
// "has 10.0.0.5/16, ..." for another prefix length), "" if it does not.
func addrDiff(have []netlink.Addr, want net.IPNet) string {
	want = normalize(want)
	wantOnes, _ := want.Mask.Size()
	other := ""
	for _, a := range have {
		if !a.IP.Equal(want.IP) {
			continue
		}
		if ones, _ := a.Mask.Size(); ones == wantOnes {
			return ""
		}
		other = a.IPNet.String()
	}
	if other != "" {
		return fmt.Sprintf("has %s, its result says %s", other, want.String())
	}
	return "lacks " + want.String()
}

// checkRoutes expects each route as MoveIn installed it: a route naming
// no gateway goes via its family's gateway from the IP configs, if any.
func checkRoutes(l netlink.Link, where string, req CheckRequest) error {
	gw4, gw6 := gateways(req.IPs)
	for _, r := range req.Routes {
		want := routeFor(r, gw4, gw6)
		ok, err := hasRoute(l, want)
		if err != nil {
			return fmt.Errorf("list routes of %s in %s: %w", l.Attrs().Name, where, err)
		}
		if !ok {
			return differs(ErrRouteMissing, "%s has no route %s (on %s)", where, describeRoute(want), l.Attrs().Name)
		}
	}
	return nil
}

// hasRoute reports whether l has a route to want.Dst via want.Gw (or
// via none, if that is nil) in want.Table (main if unset).
func hasRoute(l netlink.Link, want netlink.Route) (bool, error) {
	family := netlink.FAMILY_V6
	if want.Dst.IP.To4() != nil {
		family = netlink.FAMILY_V4
	}
	filter := &netlink.Route{LinkIndex: l.Attrs().Index, Table: want.Table}
	if filter.Table == 0 {
		filter.Table = unix.RT_TABLE_MAIN
	}
	rs, err := netlinksafe.RouteListFiltered(family, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return false, err
	}
	for _, r := range rs {
		if samePrefix(r.Dst, want.Dst) && r.Gw.Equal(want.Gw) {
			return true, nil
		}
	}
	return false, nil
}

// samePrefix compares destinations; netlink may give a default route's
// as nil or as the zero prefix.
func samePrefix(a, b *net.IPNet) bool {
	ao, bo := prefixLen(a), prefixLen(b)
	return ao == bo && (ao == 0 || a.IP.Mask(a.Mask).Equal(b.IP.Mask(b.Mask)))
}

func prefixLen(n *net.IPNet) int {
	if n == nil {
		return 0
	}
	ones, _ := n.Mask.Size()
	return ones
}

// checkError is a difference Check found. Its message already says in
// plain words what differs, so it does not repeat the sentinel, which
// errors.Is still matches.
type checkError struct {
	msg  string
	kind error
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.kind }

func differs(kind error, format string, args ...any) error {
	return &checkError{msg: fmt.Sprintf(format, args...), kind: kind}
}
