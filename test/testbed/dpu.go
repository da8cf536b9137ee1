package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sync"
)

// DPU is a DPU added with AddDPU: one more OVN chassis serving the bed's
// host, with a namespace, Open_vSwitch database, ovs-vswitchd and
// ovn-controller of its own, registered in the bed's SB and joined to the
// primary DPU by an underlay link that carries Geneve. Fields are
// read-only.
type DPU struct {
	Name      string
	Chassis   string // b.Chassis + "-" + Name
	Hostname  string // its external_ids:hostname
	Netns     string
	Dir       string // its OVS database, daemons' files and sockets
	OVSRemote string
	EncapIP   net.IP // its Geneve endpoint, on br-phy's tap
	// Its own link to the bed's host namespace, for a host agent there.
	Addr     net.IP // DPU end
	HostAddr net.IP // host end

	bed  *Bed
	side *dpuSide
}

// addedSides are the DPUs and hosts added to a bed, and what keeps their
// names and addresses apart.
type addedSides struct {
	// dpuMu makes AddDPU calls one at a time: each tells every DPU before
	// it its br-phy MAC, and waits for tunnels to all of them.
	dpuMu       sync.Mutex
	dpus        []*DPU
	names       map[string]bool
	controllers map[int]bool
	encaps      int // Geneve endpoints handed out, the primary's included
	links       int // host<->DPU links made
}

// sideName is what AddDPU and AddHost take as a name: it goes into link
// names ("hl" + the bed's ID + name, at most IFNAMSIZ-1 = 15 bytes),
// directories, and a host's node name, which must be a DNS name.
var sideName = regexp.MustCompile(`^[a-z][a-z0-9]{0,7}$`)

// claimNameLocked reserves name for an added DPU or host.
func (b *Bed) claimNameLocked(name string) error {
	if !sideName.MatchString(name) {
		return fmt.Errorf("name %q: want 1 to 8 lower-case letters and digits, a letter first", name)
	}
	if b.added.names[name] {
		return fmt.Errorf("name %q: the bed has a DPU or host of that name already", name)
	}
	if b.added.names == nil {
		b.added.names = map[string]bool{}
	}
	b.added.names[name] = true
	return nil
}

// AddDPU adds DPU name and returns once its chassis is in SB, its br-int
// exists and it and every DPU before it have a Geneve port to each other.
// It needs Options.Underlay (the primary DPU's Geneve endpoint must be
// routable) and Options.HostNetns (the host it serves, and its link).
// Close stops its daemons and removes its namespace and dir.
func (b *Bed) AddDPU(ctx context.Context, name string) (_ *DPU, err error) {
	if !b.opts.Underlay || !b.opts.HostNetns {
		return nil, fmt.Errorf("AddDPU %s needs a bed with Options.Underlay (Geneve between chassis) and Options.HostNetns (the host the DPU serves)", name)
	}
	// Ready means tunnels both ways, and the primary's ovn-controller makes its end.
	if len(b.daemonsNamed(Controller)) == 0 {
		return nil, fmt.Errorf("AddDPU %s: the primary DPU's ovn-controller does not run", name)
	}
	b.added.dpuMu.Lock()
	defer b.added.dpuMu.Unlock()
	d, err := b.newDPU(name)
	if err != nil {
		return nil, fmt.Errorf("AddDPU %s: %w", name, err)
	}
	if err := b.startDPU(ctx, d, b.dpuSides()); err != nil {
		return nil, fmt.Errorf("AddDPU %s: %w", name, err)
	}
	b.mu.Lock()
	b.added.dpus = append(b.added.dpus, d)
	b.mu.Unlock()
	return d, nil
}

// newDPU reserves name and a Geneve endpoint, and makes the DPU's dir and
// its empty devlink listing.
func (b *Bed) newDPU(name string) (*DPU, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.claimNameLocked(name); err != nil {
		return nil, err
	}
	if b.added.encaps >= maxEncaps {
		return nil, errUnderlayFull
	}
	b.added.encaps++
	dir := filepath.Join(b.Dir, "dpu-"+name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	chassis := b.Chassis + "-" + name
	side := newDPUSide(dir, chassis, chassis+".example")
	side.encapIP, side.phyMAC = b.underlayAddr(b.added.encaps)
	d := &DPU{Name: name, Chassis: chassis, Hostname: side.hostname, Dir: dir, OVSRemote: side.ovsRemote,
		EncapIP: side.encapIP, bed: b, side: side}
	return d, side.writeDevlinkLocked()
}

// startDPU brings d up in the order its chassis needs: br-phy (in
// startSwitch) before ovn-controller reads the encap IP, the underlay
// before the tunnels are waited for.
func (b *Bed) startDPU(ctx context.Context, d *DPU, peers []*dpuSide) (err error) {
	if d.Netns, err = b.AddNetns(ctx, "dpu-"+d.Name); err != nil {
		return err
	}
	d.side.netns = d.Netns
	if err := b.startSwitch(ctx, d.side); err != nil {
		return err
	}
	if err := b.joinUnderlay(ctx, d, peers); err != nil {
		return err
	}
	if err := b.startController(ctx, d.side); err != nil {
		return err
	}
	if d.HostAddr, d.Addr, err = b.hostLink(ctx, b.HostNetns, d.Netns, d.Name); err != nil {
		return err
	}
	return b.waitTunnels(ctx, d.side, peers)
}

// dpuSides are the primary DPU and those AddDPU has added.
func (b *Bed) dpuSides() []*dpuSide {
	b.mu.Lock()
	defer b.mu.Unlock()
	sides := []*dpuSide{b.dpu}
	for _, d := range b.added.dpus {
		sides = append(sides, d.side)
	}
	return sides
}

// VSCtl runs ovs-vsctl against the DPU's Open_vSwitch database.
func (d *DPU) VSCtl(ctx context.Context, args ...string) (string, error) {
	return d.bed.vsctl(ctx, d.side, args...)
}

// AppCtl runs ovs-appctl against one of the DPU's daemons ("vswitchd",
// "ovs-ovsdb").
func (d *DPU) AppCtl(ctx context.Context, daemon string, args ...string) (string, error) {
	return d.bed.appctl(ctx, d.side, daemon, args...)
}

// DevlinkDump is the DPU's `devlink -j port show` file (--devlink-dump).
func (d *DPU) DevlinkDump() string { return d.side.devlinkPath }

// StartDPUAgent is Bed.StartDPUAgent for this DPU: in its namespace,
// against its OVS and devlink dump, with sockets in its dir.
func (d *DPU) StartDPUAgent(ctx context.Context, extra ...string) (*DPUAgent, error) {
	return d.bed.startDPUAgent(ctx, d.side, d.Netns, extra)
}

// AddVFs is Bed.AddVFs for VFs of the bed's host whose representors are
// on this DPU. A PF belongs to one DPU: pf must not have VFs (or SFs) on
// another, so that PF MACs and PCI addresses differ between DPUs.
func (d *DPU) AddVFs(ctx context.Context, pf int, indices []int, opts VFOptions) ([]*VF, error) {
	return d.bed.addVFs(ctx, d.bed.host, d.side, pf, indices, opts)
}

// AddVF creates VF index of PF pf on this DPU and publishes its representor.
func (d *DPU) AddVF(ctx context.Context, pf, index int) (*VF, error) {
	return firstVF(d.AddVFs(ctx, pf, []int{index}, VFOptions{}))
}

// RequestArgs is Bed.RequestArgs asking this DPU's chassis to plug vf.
func (d *DPU) RequestArgs(logicalSwitch, lsp string, vf *VF, ip string, extra ...string) []string {
	return requestArgs(d.Chassis, logicalSwitch, lsp, vf, ip, extra)
}

// RequestRepresentor writes RequestArgs' LSP in its own NB transaction.
func (d *DPU) RequestRepresentor(ctx context.Context, logicalSwitch, lsp string, vf *VF, ip string, extra ...string) error {
	_, err := d.bed.NBCtl(ctx, d.RequestArgs(logicalSwitch, lsp, vf, ip, extra...)...)
	return err
}
