package testbed

import (
	"context"
	"fmt"
	"net"
	"slices"
	"syscall"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
)

// DaemonName names one of the dpu's OVS/OVN daemons, for the fault tests
// that kill or freeze it.
type DaemonName string

const (
	Controller DaemonName = "controller" // ovn-controller
	Vswitchd   DaemonName = "vswitchd"   // ovs-vswitchd
)

// daemonsNamed lists the running daemons called name.
func (b *Bed) daemonsNamed(name DaemonName) []*daemon {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*daemon
	for _, d := range b.daemons {
		if d.name == string(name) && !d.exited() {
			out = append(out, d)
		}
	}
	return out
}

// KillDaemon ends name with SIGKILL, as a crash or the OOM killer would:
// nothing is cleaned up (ovn-controller's chassis stays, ovs-vswitchd's
// datapath ports vanish with it). StartController or StartVswitchd bring
// it back.
func (b *Bed) KillDaemon(name DaemonName) error {
	ds := b.daemonsNamed(name)
	if len(ds) == 0 {
		return fmt.Errorf("kill %s: not running", name)
	}
	for _, d := range ds {
		b.kill(d)
	}
	return nil
}

// PauseDaemon freezes name with SIGSTOP, as a hung process: its sockets
// stay open and it answers nothing. The returned func continues it; Close
// continues it too.
func (b *Bed) PauseDaemon(name DaemonName) (resume func() error, err error) {
	ds := b.daemonsNamed(name)
	if len(ds) == 0 {
		return nil, fmt.Errorf("pause %s: not running", name)
	}
	signal := func(sig syscall.Signal) error {
		for _, d := range ds {
			if err := syscall.Kill(-d.cmd.Process.Pid, sig); err != nil {
				return fmt.Errorf("signal %v to %s: %w", sig, name, err)
			}
		}
		return nil
	}
	if err := signal(syscall.SIGSTOP); err != nil {
		return nil, err
	}
	return func() error { return signal(syscall.SIGCONT) }, nil
}

// HideRepresentor makes vf's representor netdev vanish from the dpu, as
// when its driver deletes it, by moving it into a namespace of its own:
// its veth peer, the VF, stays where it is (in a pod, say), which a
// deleted veth end would not. The returned func brings it back under its
// name, up, as the driver recreating it would.
func (b *Bed) HideRepresentor(ctx context.Context, vf *VF) (restore func() error, err error) {
	limbo, err := b.limboNetns(ctx)
	if err != nil {
		return nil, err
	}
	dpuNetns := vf.dpu.netns
	if err := b.ipBatch(ctx, dpuNetns, fmt.Sprintf("link set %s netns %s\n", vf.Representor, limbo)); err != nil {
		return nil, fmt.Errorf("hide representor %s: %w", vf.Representor, err)
	}
	return func() error {
		// Leaving a namespace takes a link down; the driver's new netdev is up.
		if err := b.ipBatch(ctx, limbo, fmt.Sprintf("link set %s netns %s\n", vf.Representor, dpuNetns)); err != nil {
			return fmt.Errorf("restore representor %s: %w", vf.Representor, err)
		}
		if err := b.ipBatch(ctx, dpuNetns, fmt.Sprintf("link set %s up\n", vf.Representor)); err != nil {
			return fmt.Errorf("restore representor %s: %w", vf.Representor, err)
		}
		return nil
	}, nil
}

// UnpublishRepresentors drops the representors of vfs from their DPUs'
// devlink dumps (all VF representors of the primary DPU when vfs is
// empty), as a DPU that rebooted lists none until its VFs are created
// again; PublishRepresentor adds one back. The PFs' ports stay.
func (b *Bed) UnpublishRepresentors(vfs ...*VF) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	dpus := []*dpuSide{b.dpu}
	if len(vfs) > 0 {
		dpus = nil
		for _, vf := range vfs {
			if !slices.Contains(dpus, vf.dpu) {
				dpus = append(dpus, vf.dpu)
			}
		}
	}
	for _, d := range dpus {
		d.ports = slices.DeleteFunc(d.ports, func(p devlink.Port) bool {
			if p.Flavour != devlink.PCIVF {
				return false
			}
			return len(vfs) == 0 || slices.ContainsFunc(vfs, func(vf *VF) bool { return vf.Representor == p.Netdev })
		})
		if err := d.writeDevlinkLocked(); err != nil {
			return err
		}
	}
	return nil
}

// limboNetns is where hidden representors wait, created on first use.
func (b *Bed) limboNetns(ctx context.Context) (string, error) {
	b.limbo.once.Do(func() { b.limbo.name, b.limbo.err = b.AddNetns(ctx, "limbo") })
	return b.limbo.name, b.limbo.err
}

// DialerIn returns a gRPC context dialer whose TCP connections start in
// netns, for tests that talk to an agent the way the host agent does:
// from the host namespace, over the host<->dpu link.
func (b *Bed) DialerIn(netns string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNetns(netns, func() error {
			var err error
			conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return conn, err
	}
}
