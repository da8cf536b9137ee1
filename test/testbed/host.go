package testbed

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
)

// Host is a host added with AddHost: one more host of the primary DPU, as
// on a multi-host NIC, where each host is a devlink controller of its own
// on the DPU. It has its own namespace, link to the DPU, sysfs tree, node
// name and PFs (MACs and PCI addresses apart from every other host's).
// Fields are read-only.
type Host struct {
	Name       string
	Node       string // its host agent's --node-name; a DNS name, for a certificate SAN
	Netns      string
	Controller int
	Addr       net.IP // host end of its link to the primary DPU
	DPUAddr    net.IP // DPU end

	bed  *Bed
	side *hostSide
}

// AddHost adds host name behind devlink controller controller (2 to 8;
// the primary host is 1) of the primary DPU.
func (b *Bed) AddHost(ctx context.Context, name string, controller int) (_ *Host, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("AddHost %s: %w", name, err)
		}
	}()
	if err := b.claimHost(name, controller); err != nil {
		return nil, err
	}
	ns, err := b.AddNetns(ctx, "host-"+name)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.Dir, "host-"+name)
	side := b.newHostSide(name, controller, dir, filepath.Join(dir, "sysfs"), "host-"+b.ID+"-"+name)
	side.netns = ns
	h := &Host{Name: name, Node: side.node, Netns: ns, Controller: controller, bed: b, side: side}
	if h.Addr, h.DPUAddr, err = b.hostLink(ctx, ns, b.DPUNetns, name); err != nil {
		return nil, err
	}
	return h, nil
}

// claimHost reserves name and controller.
func (b *Bed) claimHost(name string, controller int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case controller == hostController:
		return fmt.Errorf("controller %d is the primary host's", controller)
	case controller < hostController || controller > maxController:
		return fmt.Errorf("controller %d: want %d to %d", controller, hostController+1, maxController)
	case b.added.controllers[controller]:
		return fmt.Errorf("controller %d is another added host's", controller)
	}
	if err := b.claimNameLocked(name); err != nil {
		return err
	}
	if b.added.controllers == nil {
		b.added.controllers = map[int]bool{}
	}
	b.added.controllers[controller] = true
	return nil
}

// AddVFs is Bed.AddVFs for this host's PF pf (0 to 15): the VF ends in its
// namespace and sysfs tree, the representors in the primary DPU's
// namespace and devlink dump, behind this host's controller.
func (h *Host) AddVFs(ctx context.Context, pf int, indices []int, opts VFOptions) ([]*VF, error) {
	return h.bed.addVFs(ctx, h.side, h.bed.dpu, pf, indices, opts)
}

// AddVF creates VF index of this host's PF pf and publishes its representor.
func (h *Host) AddVF(ctx context.Context, pf, index int) (*VF, error) {
	return firstVF(h.AddVFs(ctx, pf, []int{index}, VFOptions{}))
}

// StartHostAgent is Bed.StartHostAgent for this host: in its namespace,
// on its sysfs tree, as its Node, with socket and state in its dir.
func (h *Host) StartHostAgent(ctx context.Context, dpuAddr string, extra ...string) (*HostAgent, error) {
	return h.bed.startHostAgent(ctx, h.side, dpuAddr, extra)
}

// SysfsRoot is this host's fake sysfs root (its host agent's --sysfs-root).
func (h *Host) SysfsRoot() string { return h.side.sysfs.Root() }

// Sysfs is this host's fake sysfs tree.
func (h *Host) Sysfs() *sysfstest.Tree { return h.side.sysfs }

// IP runs `ip args...` in this host's namespace.
func (h *Host) IP(ctx context.Context, args ...string) (string, error) {
	return h.bed.hostIP(ctx, h.side, args...)
}

// PFMAC is the MAC of this host's PF pf.
func (h *Host) PFMAC(pf int) net.HardwareAddr { return h.side.pfMAC(pf) }

// PFPCI is the fake PCI address of this host's PF pf.
func (h *Host) PFPCI(pf int) string { return h.side.pfPCI(pf) }
