package netns

import (
	"context"
	"fmt"
	"log/slog"
)

// Plumber moves VF netdevs between the host's and pods' network
// namespaces. The zero value is not usable; create one with New. It holds
// no per-VF state, so one Plumber serves concurrent requests for
// different VFs; the caller serialises requests for the same VF.
type Plumber struct {
	log    *slog.Logger
	slots  chan struct{} // see place.do
	inside *occupancy
}

// DefaultThreads is how many OS threads a Plumber keeps in namespaces at
// once unless WithThreads says otherwise.
const DefaultThreads = 8

// New returns a Plumber.
func New(opts ...Option) *Plumber {
	o := newOptions(opts)
	return &Plumber{log: o.logger, slots: make(chan struct{}, o.threads), inside: &occupancy{}}
}

// bound makes work in these places take the plumber's slots.
func (p *Plumber) bound(places ...*place) {
	for _, pl := range places {
		pl.slots, pl.inside = p.slots, p.inside
	}
}

func inspect(host place, name string) (linkState, error) {
	st, err := readState(host, name)
	if err != nil {
		return linkState{}, fmt.Errorf("find VF %q in %s: %w", name, host.desc, err)
	}
	return st, nil
}

// MoveIn moves the VF into the pod namespace under req.IfName, with the
// host name as its alias, then sets MAC and MTU, calls req.Addresses if
// set, prepares IPv6 (see the package doc), adds the addresses, sets the
// link up and adds the routes. IPv6 on the link is usable on return: its
// only link-local address is the EUI-64 one of its MAC and no address is
// tentative. On error nothing of it remains: the VF is back in its host
// namespace under its original name, MAC and MTU, down.
func (p *Plumber) MoveIn(ctx context.Context, req MoveInRequest) (Placed, error) {
	if err := req.validate(); err != nil {
		return Placed{}, err
	}
	host, pod, err := openPair(req.HostNetns, req.PodNetns)
	if err != nil {
		return Placed{}, err
	}
	defer host.close()
	defer pod.close()
	p.bound(&host, &pod)
	home, err := inspect(host, req.VFNetdev)
	if err != nil {
		return Placed{}, err
	}
	log := p.log.With("vf", home.name, "pod", req.PodNetns, "ifname", req.IfName)
	st, a, err := moveIn(newTxn(ctx, log), host, pod, req, home)
	if err != nil {
		return Placed{}, err
	}
	return Placed{IfName: req.IfName, MAC: st.mac, MTU: st.mtu, IPs: a.ips, Routes: a.routes}, nil
}

// moveIn is MoveIn's transaction: all of it or, on error, none of it. It
// returns the link as placed, read inside the transaction so that even
// that read failing leaves nothing behind, and the addressing applied.
//
// The alias, our mark on the VF, is set at home before the move, so the
// VF is never in the pod unmarked: not even when the process dies right
// after the move (IFLA_IFALIAS survives a namespace move).
func moveIn(t *txn, host, pod place, req MoveInRequest, home linkState) (st linkState, a addressing, err error) {
	defer func() {
		if err != nil {
			err = t.rollback(err)
		}
	}()
	if err = t.setAlias(host, home.name, home.alias, home.name); err != nil {
		return linkState{}, addressing{}, err
	}
	if err = t.move(host, home.name, pod, req.IfName); err != nil {
		return linkState{}, addressing{}, err
	}
	orig := Original{Name: home.name, MAC: home.mac, MTU: home.mtu}
	if a, err = t.configure(pod, req, orig); err != nil {
		return linkState{}, addressing{}, err
	}
	if st, err = readState(pod, req.IfName); err != nil {
		return linkState{}, addressing{}, fmt.Errorf("read %q in %s: %w", req.IfName, pod.desc, err)
	}
	return st, a, nil
}

// openPair opens the host and pod namespaces and refuses them being one:
// "moving" a VF into its own namespace would only rename it there.
func openPair(hostPath, podPath string) (host, pod place, err error) {
	host, err = openHost(hostPath)
	if err != nil {
		return place{}, place{}, err
	}
	pod, err = openNS(podPath, "pod")
	if err != nil {
		host.close()
		return place{}, place{}, err
	}
	same, err := sameNS(host, pod)
	if err == nil && same {
		err = fmt.Errorf("%w: %w: %s", ErrInvalidRequest, ErrHostNetns, pod.desc)
	}
	if err != nil {
		host.close()
		pod.close()
		return place{}, place{}, err
	}
	return host, pod, nil
}
