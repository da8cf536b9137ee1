package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// MoveOut brings the VF home: in the pod it flushes the addresses and sets
// the link down, then moves it, in one move, into the host namespace
// under req.Original.Name, where it clears the alias and restores the
// original MAC and MTU. The alias goes only once the VF is home: cleared
// in the pod, a crash before the move would leave a VF there that a
// retried DEL no longer recognised.
//
// It is idempotent. A pod namespace that is gone (or req.PodNetns "") is
// not an error: a real VF then returns to the host on its own, under its
// pod name but still carrying its alias, and is found and renamed by that.
// A VF already home under its name only has MAC and MTU restored. If the
// VF is in neither place the error wraps ErrLinkNotFound; that is also
// what happens when HostNetns is not the initial namespace, since the
// kernel returns VFs of a destroyed namespace to the initial one.
//
// A failure on the pod side is rolled back (the VF stays in the pod as it
// was); a failure after the VF arrived home is reported, naming the step,
// and a retry resumes from there.
func (p *Plumber) MoveOut(ctx context.Context, req MoveOutRequest) error {
	if err := req.validate(); err != nil {
		return err
	}
	host, err := openHost(req.HostNetns)
	if err != nil {
		return err
	}
	defer host.close()
	log := p.log.With("vf", req.Original.Name, "pod", req.PodNetns, "ifname", req.IfName)
	pod, gone, err := openPodForDel(req.PodNetns)
	if err != nil {
		return err
	}
	p.bound(&host, &pod)
	if gone {
		log.Debug("pod netns gone; looking for the VF at home")
	} else {
		defer pod.close()
		if err := p.leavePod(ctx, log, host, pod, req); err != nil {
			return err
		}
	}
	return p.settleHome(ctx, log, host, req.Original, req.HomeName)
}

// openPodForDel treats a namespace that no longer exists, or whose bind
// mount is gone, as a pod already torn down: DEL must succeed then.
func openPodForDel(path string) (pod place, gone bool, err error) {
	if path == "" {
		return place{}, true, nil
	}
	pod, err = openNS(path, "pod")
	if errors.Is(err, ErrNetnsNotFound) || errors.Is(err, ErrNotNetns) {
		return place{}, true, nil
	}
	return pod, false, err
}

// leavePod moves the VF from the pod to the host under its original name.
// A link called IfName whose alias is not the VF's name is not ours (an
// ifname reused by another plugin) and is left alone.
//
// A VF renamed inside the pod (by a later plugin or the workload) is found
// by its alias: left there, it would go home only when the pod dies.
func (p *Plumber) leavePod(ctx context.Context, log *slog.Logger, host, pod place, req MoveOutRequest) (err error) {
	st, err := readState(pod, req.IfName)
	if errors.Is(err, ErrLinkNotFound) {
		st, err = findByAlias(pod, req.Original.Name)
		if errors.Is(err, ErrLinkNotFound) {
			return nil
		}
		log.Info("VF renamed in the pod; found by its alias", "found", st.name)
		req.IfName = st.name
	}
	if err != nil {
		return fmt.Errorf("read %q in %s: %w", req.IfName, pod.desc, err)
	}
	if st.alias != req.Original.Name {
		log.Warn("link in pod is not this VF; leaving it", "alias", st.alias)
		return nil
	}
	t := newTxn(ctx, log)
	defer func() {
		if err != nil {
			err = t.rollback(err)
		}
	}()
	if err = t.strip(pod, req.IfName, st.up); err != nil {
		return err
	}
	return t.move(pod, req.IfName, host, req.Original.Name)
}

// strip removes the pod's addresses and sets the link down, so the pod
// stops using them before the link vanishes. Its inverses re-add what was
// there, routes last since they need the addresses. The first inverse to
// run puts back the link's IPv6 settings: a move out and back before it
// (the undo of the move home, or a move the kernel made though the name
// was taken at home) reset them to the pod's defaults, and the link must
// have them before it goes up, lest the kernel add a link-local address
// of its own (see prepareIPv6).
func (t *txn) strip(pod place, name string, wasUp bool) error {
	var addrs []netlink.Addr
	var routes []netlink.Route
	var v6 v6Link
	if err := t.step(fmt.Sprintf("list addresses, routes and IPv6 settings of %q in %s", name, pod.desc),
		func() (err error) { addrs, routes, v6, err = snapshot(pod, name); return err },
		func() error { return restoreRoutes(pod, name, routes) }); err != nil {
		return err
	}
	if err := t.step(fmt.Sprintf("flush addresses of %q in %s", name, pod.desc),
		func() error { return delAddrs(pod, name, addrs) },
		func() error { return restoreAddrs(pod, name, addrs) }); err != nil {
		return err
	}
	if err := t.step(fmt.Sprintf("set %q down in %s", name, pod.desc),
		func() error { return setUp(pod, name, false) },
		func() error { return setUp(pod, name, wasUp) }); err != nil {
		return err
	}
	return t.step(fmt.Sprintf("keep IPv6 settings of %q in %s", name, pod.desc),
		func() error { return nil },
		func() error { return restoreV6(pod, name, v6) })
}

// snapshot lists the addresses, routes and IPv6 settings of the link.
// IPv6 link-local addresses are included: MoveIn turned off the kernel's
// generation of them, so they would not come back by themselves.
// Kernel-made routes are left out; the addresses bring them back.
func snapshot(pod place, name string) (addrs []netlink.Addr, routes []netlink.Route, v6 v6Link, err error) {
	if v6, err = readV6Link(pod, name); err != nil {
		return nil, nil, v6Link{}, err
	}
	err = withLink(pod, name, func(l netlink.Link) error {
		all, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		addrs = all
		rs, err := netlinksafe.RouteList(l, netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Protocol != unix.RTPROT_KERNEL {
				routes = append(routes, r)
			}
		}
		return nil
	})
	return addrs, routes, v6, err
}

func delAddrs(pod place, name string, addrs []netlink.Addr) error {
	return withLink(pod, name, func(l netlink.Link) error {
		for _, a := range addrs {
			if err := delAddr(l, &netlink.Addr{IPNet: a.IPNet}); err != nil {
				return fmt.Errorf("delete %s: %w", a.IPNet, err)
			}
		}
		return nil
	})
}

// delAddr tolerates an address already gone: deleting a primary IPv4
// address takes its secondaries with it, and setting a link down drops
// its IPv6 addresses.
func delAddr(l netlink.Link, a *netlink.Addr) error {
	if err := netlink.AddrDel(l, a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return err
	}
	return nil
}

// restoreAddrs re-adds addresses as MoveIn added them: IPv6 without DAD,
// so the pod can use them at once again (see addrFlags).
func restoreAddrs(pod place, name string, addrs []netlink.Addr) error {
	return withLink(pod, name, func(l netlink.Link) error {
		var errs []error
		for _, a := range addrs {
			if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: a.IPNet, Flags: addrFlags(a.IP)}); err != nil {
				errs = append(errs, fmt.Errorf("re-add %s: %w", a.IPNet, err))
			}
		}
		return errors.Join(errs...)
	})
}

func restoreRoutes(pod place, name string, routes []netlink.Route) error {
	return withLink(pod, name, func(l netlink.Link) error {
		var errs []error
		for _, r := range routes {
			r.LinkIndex = l.Attrs().Index
			if err := netlink.RouteReplace(&r); err != nil {
				errs = append(errs, fmt.Errorf("re-add route %s: %w", describeRoute(r), err))
			}
		}
		return errors.Join(errs...)
	})
}

// settleHome finds the VF in the host namespace, by name, else by the
// alias MoveIn gave it, else as homeName, and restores its name, alias,
// MAC and MTU.
func (p *Plumber) settleHome(ctx context.Context, log *slog.Logger, host place, orig Original, homeName string) error {
	st, err := findHome(host, orig.Name, homeName)
	if err != nil {
		return err
	}
	switch {
	case st.name != orig.Name:
		log.Info("VF came home under its pod name; renaming it", "current", st.name)
		if err := renameHome(ctx, log, host, st, orig.Name); err != nil {
			return err
		}
	case st.alias == orig.Name:
		if err := setAlias(host, orig.Name, ""); err != nil {
			return fmt.Errorf("clear alias of %q in %s: %w", orig.Name, host.desc, err)
		}
	}
	if len(orig.MAC) > 0 && !bytes.Equal(st.mac, orig.MAC) {
		if err := setMAC(host, orig.Name, orig.MAC); err != nil {
			return fmt.Errorf("restore MAC %s of %q in %s: %w", orig.MAC, orig.Name, host.desc, err)
		}
	}
	if orig.MTU > 0 && st.mtu != orig.MTU {
		if err := setMTU(host, orig.Name, orig.MTU); err != nil {
			return fmt.Errorf("restore MTU %d of %q in %s: %w", orig.MTU, orig.Name, host.desc, err)
		}
	}
	return nil
}

// findByAlias finds the link in p whose alias is alias.
func findByAlias(p place, alias string) (linkState, error) {
	var st linkState
	err := p.do(func() error {
		links, err := netlinksafe.LinkList()
		if err != nil {
			return fmt.Errorf("list links in %s: %w", p.desc, err)
		}
		for _, l := range links {
			if l.Attrs().Alias == alias {
				st = stateOf(l)
				return nil
			}
		}
		return fmt.Errorf("%w: alias %q in %s", ErrLinkNotFound, alias, p.desc)
	})
	return st, err
}

func findHome(host place, name, homeName string) (linkState, error) {
	var st linkState
	err := host.do(func() error {
		l, err := linkByName(name)
		if err == nil {
			st = stateOf(l)
			return nil
		}
		if !errors.Is(err, ErrLinkNotFound) {
			return fmt.Errorf("look for VF %q in %s: %w", name, host.desc, err)
		}
		links, err := netlinksafe.LinkList()
		if err != nil {
			return fmt.Errorf("list links in %s: %w", host.desc, err)
		}
		for _, l := range links {
			if l.Attrs().Alias == name || (homeName != "" && l.Attrs().Name == homeName) {
				st = stateOf(l)
				return nil
			}
		}
		return fmt.Errorf("%w: VF %q in %s, by name or alias", ErrLinkNotFound, name, host.desc)
	})
	return st, err
}

// renameHome renames the VF back in place and clears its alias. The
// temporary namespace the rename once went through bought nothing: a name
// taken at home fails the rename as it failed the move back, udev and
// NetworkManager see a rename instead of a removal and an addition, and a
// crash no longer risks the VF dying with a temporary namespace. What the
// moves did on the way, closing the link, is done first: a VF comes back
// from a dead pod down, but something at home may have brought it up,
// and kernels before 6.2 refuse to rename a running link. The alias goes
// last, so a crash leaves the VF marked under its name, which the next
// MoveOut finds.
func renameHome(ctx context.Context, log *slog.Logger, host place, st linkState, to string) (err error) {
	t := newTxn(ctx, log)
	defer func() {
		if err != nil {
			err = t.rollback(err)
		}
	}()
	if st.up {
		if err = t.setDown(host, st.name); err != nil {
			return err
		}
	}
	if err = t.rename(host, st.name, to); err != nil {
		return err
	}
	return t.setAlias(host, to, st.alias, "")
}
