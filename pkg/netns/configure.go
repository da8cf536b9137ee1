package netns

import (
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// addressing is the IPs and routes a link gets.
type addressing struct {
	ips    []*current.IPConfig
	routes []*types.Route
}

// configure applies req's MAC and MTU to the link req.IfName in pod, then
// its addressing (from req.Addresses if set), IPv6 preparation, up state
// and routes, each as an undoable step whose inverse puts back what orig
// recorded. Routes come after "up" because the kernel only installs the
// prefix routes a gateway must be reachable through on an up link. It
// returns the addressing it applied.
func (t *txn) configure(pod place, req MoveInRequest, orig Original) (addressing, error) {
	name := req.IfName
	if err := t.setLink(pod, req, orig); err != nil {
		return addressing{}, err
	}
	a, err := t.addressing(pod, req)
	if err != nil {
		return addressing{}, err
	}
	llMAC := req.LinkLocalMAC
	if len(req.MAC) > 0 {
		llMAC = nil // the link has req.MAC by now
	}
	if err := t.prepareIPv6For(pod, name, a.ips, llMAC); err != nil {
		return addressing{}, err
	}
	for _, ipc := range a.ips {
		if err := t.addAddr(pod, name, ipc.Address); err != nil {
			return addressing{}, err
		}
	}
	if err := t.step(fmt.Sprintf("set %q up in %s", name, pod.desc),
		func() error { return setUp(pod, name, true) },
		func() error { return setUp(pod, name, false) }); err != nil {
		return addressing{}, err
	}
	gw4, gw6 := gateways(a.ips)
	for _, r := range a.routes {
		if err := t.addRoute(pod, name, routeFor(r, gw4, gw6)); err != nil {
			return addressing{}, err
		}
	}
	return a, nil
}

// setLink sets the MAC and MTU req asks for; their inverses restore orig.
func (t *txn) setLink(pod place, req MoveInRequest, orig Original) error {
	name := req.IfName
	if len(req.MAC) > 0 {
		if err := t.step(fmt.Sprintf("set MAC %s on %q in %s", req.MAC, name, pod.desc),
			func() error { return setMAC(pod, name, req.MAC) },
			func() error { return setMAC(pod, name, orig.MAC) }); err != nil {
			return err
		}
	}
	if req.MTU > 0 {
		return t.step(fmt.Sprintf("set MTU %d on %q in %s", req.MTU, name, pod.desc),
			func() error { return setMTU(pod, name, req.MTU) },
			func() error { return setMTU(pod, name, orig.MTU) })
	}
	return nil
}

// addressing returns req's IPs and routes or, with req.Addresses set, what
// it returns now that the link sits in the pod. It runs as a step, with
// nothing to undo, so that a context ended before is honoured and its
// error names what failed while keeping the callback's error for
// errors.Is.
func (t *txn) addressing(pod place, req MoveInRequest) (addressing, error) {
	if req.Addresses == nil {
		return addressing{ips: req.IPs, routes: req.Routes}, nil
	}
	var a addressing
	err := t.step(fmt.Sprintf("get addresses for %q in %s", req.IfName, pod.desc),
		func() (err error) {
			if a.ips, a.routes, err = req.Addresses(t.ctx); err != nil {
				return err
			}
			return validateAddressing(a.ips, a.routes)
		}, nil)
	return a, err
}

// addAddr adds ipn to the link, IPv6 without DAD (see addrFlags).
func (t *txn) addAddr(pod place, name string, ipn net.IPNet) error {
	ipn = normalize(ipn)
	addr := func() *netlink.Addr { n := ipn; return &netlink.Addr{IPNet: &n, Flags: addrFlags(n.IP)} }
	return t.step(fmt.Sprintf("add address %s to %q in %s", ipn.String(), name, pod.desc),
		func() error {
			return withLink(pod, name, func(l netlink.Link) error { return netlink.AddrAdd(l, addr()) })
		},
		func() error { return withLink(pod, name, func(l netlink.Link) error { return delAddr(l, addr()) }) })
}

func (t *txn) addRoute(pod place, name string, rt netlink.Route) error {
	onLink := func(op func(*netlink.Route) error) func() error {
		return func() error {
			return withLink(pod, name, func(l netlink.Link) error {
				r := rt
				r.LinkIndex = l.Attrs().Index
				return op(&r)
			})
		}
	}
	return t.step(fmt.Sprintf("add route %s on %q in %s", describeRoute(rt), name, pod.desc),
		onLink(netlink.RouteAdd), onLink(netlink.RouteDel))
}

// gateways picks the first gateway of each family; CNI results carry the
// gateway on the IP config, and routes that name none use it.
func gateways(ips []*current.IPConfig) (gw4, gw6 net.IP) {
	for _, ipc := range ips {
		switch {
		case ipc.Gateway == nil:
		case ipc.Gateway.To4() != nil && gw4 == nil:
			gw4 = ipc.Gateway
		case ipc.Gateway.To4() == nil && gw6 == nil:
			gw6 = ipc.Gateway
		}
	}
	return gw4, gw6
}

func routeFor(r *types.Route, gw4, gw6 net.IP) netlink.Route {
	dst := normalize(r.Dst)
	gw := r.GW
	if gw == nil {
		gw = gw6
		if dst.IP.To4() != nil {
			gw = gw4
		}
	}
	rt := netlink.Route{Dst: &dst, Gw: gw, Priority: r.Priority, MTU: r.MTU, AdvMSS: r.AdvMSS}
	if r.Table != nil {
		rt.Table = *r.Table
	}
	if r.Scope != nil {
		rt.Scope = netlink.Scope(*r.Scope)
	}
	return rt
}

func describeRoute(rt netlink.Route) string {
	s := rt.Dst.String()
	if rt.Gw != nil {
		s += " via " + rt.Gw.String()
	}
	if rt.Table != 0 && rt.Table != unix.RT_TABLE_MAIN {
		s += fmt.Sprintf(" (table %d)", rt.Table)
	}
	return s
}

// normalize gives an IPv4 network its 4-byte form: the kernel takes the
// prefix length from the mask, and a 16-byte mask for an IPv4 address
// (as net.IPNet literals may have) would read as /120.
func normalize(ipn net.IPNet) net.IPNet {
	if ip4 := ipn.IP.To4(); ip4 != nil && len(ipn.Mask) == net.IPv6len {
		return net.IPNet{IP: ip4, Mask: ipn.Mask[12:]}
	}
	return ipn
}
