package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// VF is a fake SR-IOV VF: a veth pair whose VF end sits on the host (the
// host namespace when the bed has one, else the root namespace; an added
// host's namespace for Host.AddVFs) and whose peer, the representor, sits
// in the dpu namespace (an added DPU's for DPU.AddVFs). The host's sysfs
// tree describes the VF; the DPU's devlink dump lists the representor
// once published.
// The VF end checksums in software (TX checksum offload off, offload.go),
// where a real VF does it in hardware.
type VF struct {
	PF          int
	Index       int
	Netdev      string // VF end, on the host
	Representor string // peer, in the dpu namespace
	MAC         net.HardwareAddr
	PCI         string // fake PCI address of the VF
	PFPCI       string
	PFMAC       net.HardwareAddr

	host *hostSide
	dpu  *dpuSide
}

// PFMAC is the MAC of fake host PF pf: locally administered, unique per
// bed, lower case when printed as OVN options want.
func (b *Bed) PFMAC(pf int) net.HardwareAddr { return b.host.pfMAC(pf) }

// PFPCI is the fake PCI address of host PF pf.
func (b *Bed) PFPCI(pf int) string { return b.host.pfPCI(pf) }

func (b *Bed) idByte(i int) byte {
	var v byte
	fmt.Sscanf(b.ID[2*i:2*i+2], "%02x", &v)
	return v
}

// VFOptions tune AddVFs.
type VFOptions struct {
	// Unpublished leaves the representors out of the devlink dump, as
	// while a VF is still being created; PublishRepresentor adds them.
	Unpublished bool
}

// AddVF creates VF index of PF pf and publishes its representor.
func (b *Bed) AddVF(ctx context.Context, pf, index int) (*VF, error) {
	return firstVF(b.AddVFs(ctx, pf, []int{index}, VFOptions{}))
}

func firstVF(vfs []*VF, err error) (*VF, error) {
	if err != nil {
		return nil, err
	}
	return vfs[0], nil
}

// AddVFs creates the VFs of PF pf with the given indices in one `ip -batch`
// (hundreds take about a second) and describes them in sysfs and devlink.
// Names are unique per bed and fit IFNAMSIZ.
func (b *Bed) AddVFs(ctx context.Context, pf int, indices []int, opts VFOptions) ([]*VF, error) {
	return b.addVFs(ctx, b.host, b.dpu, pf, indices, opts)
}

// addVFs is AddVFs for host h's PF pf, wired to DPU d.
func (b *Bed) addVFs(ctx context.Context, h *hostSide, d *dpuSide, pf int, indices []int, opts VFOptions) ([]*VF, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Refused before any link exists, so that a refusal leaves nothing.
	if err := h.checkVFs(d, pf, indices); err != nil {
		return nil, err
	}
	vfs := make([]*VF, 0, len(indices))
	pairs := make([]veth, 0, len(indices))
	for _, index := range indices {
		b.vfs++
		vf := b.newVF(h, d, pf, index, b.vfs)
		vfs = append(vfs, vf)
		pairs = append(pairs, veth{end: vf.Netdev, mac: vf.MAC, peer: vf.Representor})
	}
	if err := b.vethsLocked(ctx, h, d, pairs); err != nil {
		return nil, fmt.Errorf("fake VFs %v of PF %d: %w", indices, pf, err)
	}
	for _, vf := range vfs {
		if err := b.describeVF(vf); err != nil {
			return nil, err
		}
		if !opts.Unpublished {
			d.ports = append(d.ports, representorPort(vf))
		}
	}
	return vfs, d.writeDevlinkLocked()
}

// veth is one fake function's pair: end on the host, with mac; peer on
// the DPU.
type veth struct {
	end  string
	mac  net.HardwareAddr
	peer string
}

// vethsLocked creates pairs between host h and DPU d, the peers up.
func (b *Bed) vethsLocked(ctx context.Context, h *hostSide, d *dpuSide, pairs []veth) error {
	hostSide := ""
	if h.netns != "" {
		hostSide = "netns " + h.netns
	}
	// Two batches: ip -batch cannot switch namespaces per line.
	var batch, up strings.Builder
	ends := make([]string, len(pairs))
	for i, p := range pairs {
		fmt.Fprintf(&batch, "link add %s %s address %s type veth peer name %s netns %s\n",
			p.end, hostSide, p.mac, p.peer, d.netns)
		fmt.Fprintf(&up, "link set %s up\n", p.peer)
		ends[i] = p.end
	}
	if err := b.ipBatch(ctx, "", batch.String()); err != nil {
		return err
	}
	if err := b.ipBatch(ctx, d.netns, up.String()); err != nil {
		return err
	}
	// The host ends checksum in software, or TCP between pods fails (see
	// offload.go); the peers need not: ovs-vswitchd writes them frames it
	// holds in full, checksums included.
	return txChecksumOff(h.netns, ends...)
}

// ipBatch runs ip commands, one per line, in netns ("" = root namespace).
func (b *Bed) ipBatch(ctx context.Context, netns, commands string) error {
	f, err := os.CreateTemp(b.Dir, "ip-*.batch")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(commands); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	argv := []string{"ip", "-batch", f.Name()}
	if netns != "" {
		argv = []string{"ip", "-n", netns, "-batch", f.Name()}
	}
	_, err = b.run(ctx, argv...)
	return err
}

func (b *Bed) newVF(h *hostSide, d *dpuSide, pf, index, n int) *VF {
	return &VF{
		PF: pf, Index: index,
		Netdev:      fmt.Sprintf("v%s%d", b.ID, n),
		Representor: fmt.Sprintf("r%s%d", b.ID, n),
		MAC:         net.HardwareAddr{0x0e, 0x43, h.bedID[0], h.bedID[1], h.pfByte(pf), byte(index)},
		PCI:         fmt.Sprintf("0000:%02x:%02x.%d", h.pfBus(pf), 1+index/8, index%8),
		PFPCI:       h.pfPCI(pf),
		PFMAC:       h.pfMAC(pf),
		host:        h,
		dpu:         d,
	}
}

// HostIP runs `ip args...` in the namespace that holds host-side VFs.
func (b *Bed) HostIP(ctx context.Context, args ...string) (string, error) {
	return b.hostIP(ctx, b.host, args...)
}

func (b *Bed) hostIP(ctx context.Context, h *hostSide, args ...string) (string, error) {
	if h.netns != "" {
		args = append([]string{"-n", h.netns}, args...)
	}
	return b.run(ctx, append([]string{"ip"}, args...)...)
}

// AddPod creates a namespace standing in for a pod.
func (b *Bed) AddPod(ctx context.Context, name string) (string, error) {
	return b.AddNetns(ctx, "pod-"+name)
}

// Pod is the namespace name AddPod gives the pod called name.
func (b *Bed) Pod(name string) string { return b.nsName("pod-" + name) }

// PlumbVF moves vf's host end into pod (as a CNI plugin would), names it
// ifname and gives it cidr. Tests of the bed itself use it; the product
// does this in the host agent.
func (b *Bed) PlumbVF(ctx context.Context, vf *VF, pod, ifname, cidr string) error {
	if _, err := b.hostIP(ctx, vf.host, "link", "set", vf.Netdev, "netns", pod); err != nil {
		return err
	}
	return b.runAll(ctx, [][]string{
		{"ip", "-n", pod, "link", "set", vf.Netdev, "name", ifname},
		{"ip", "-n", pod, "addr", "add", cidr, "dev", ifname},
		{"ip", "-n", pod, "link", "set", ifname, "up"},
	})
}

// Ping checks that pod reaches ip, retrying until timeout: the first
// packets may race ovn-controller's flow installation.
func (b *Bed) Ping(ctx context.Context, pod, ip string) error {
	return Eventually(ctx, startTimeout, fmt.Sprintf("ping %s from %s", ip, pod), func() error {
		_, err := b.InNetns(ctx, pod, "ping", "-c", "1", "-W", "1", ip)
		return err
	})
}
