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
	log *slog.Logger
}

// New returns a Plumber.
func New(opts ...Option) *Plumber {
	o := newOptions(opts)
	return &Plumber{log: o.logger}
}

func inspect(host place, name string) (Original, error) {
	st, err := readState(host, name)
	if err != nil {
		return Original{}, fmt.Errorf("find VF %q in %s: %w", name, host.desc, err)
	}
	return Original{Name: st.name, MAC: st.mac, MTU: st.mtu}, nil
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
	orig, err := inspect(host, req.VFNetdev)
	if err != nil {
		return Placed{}, err
	}
	log := p.log.With("vf", orig.Name, "pod", req.PodNetns, "ifname", req.IfName)
	st, a, err := moveIn(newTxn(ctx, log), host, pod, req, orig)
	if err != nil {
		return Placed{}, err
	}
	return Placed{IfName: req.IfName, MAC: st.mac, MTU: st.mtu, IPs: a.ips, Routes: a.routes}, nil
}

// moveIn is MoveIn's transaction: all of it or, on error, none of it. It
// returns the link as placed, read inside the transaction so that even
// that read failing leaves nothing behind, and the addressing applied.
func moveIn(t *txn, host, pod place, req MoveInRequest, orig Original) (st linkState, a addressing, err error) {
	temp, err := openTemp()
	if err != nil {
		return linkState{}, addressing{}, err
	}
	// Registered before the rollback below, so it runs after it: undoing
	// the move into the pod goes back through temp.
	defer temp.close()
	defer func() {
		if err != nil {
			err = t.rollback(err)
		}
	}()
	err = t.relocate(relocation{temp: temp, src: host, dst: pod,
		name: orig.Name, newName: req.IfName, alias: orig.Name})
	if err != nil {
		return linkState{}, addressing{}, err
	}
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
		err = fmt.Errorf("%w: %s is the host netns", ErrInvalidRequest, pod.desc)
	}
	if err != nil {
		host.close()
		pod.close()
		return place{}, place{}, err
	}
	return host, pod, nil
}
