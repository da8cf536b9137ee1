package testbed

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
)

// VF is a fake SR-IOV VF: a veth pair whose VF end sits on the host (the
// host namespace when the bed has one, else the root namespace) and whose
// peer, the representor, sits in the dpu namespace. The host sysfs tree
// describes the VF; the devlink dump lists the representor once published.
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
}

// PFMAC is the MAC of fake host PF pf: locally administered, unique per
// bed, lower case when printed as OVN options want.
func (b *Bed) PFMAC(pf int) net.HardwareAddr {
	return net.HardwareAddr{0x0e, 0x42, b.idByte(0), b.idByte(1), 0xf0, byte(pf)}
}

// PFPCI is the fake PCI address of host PF pf.
func (b *Bed) PFPCI(pf int) string { return fmt.Sprintf("0000:%02x:00.0", 0x10+pf) }

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
	vfs, err := b.AddVFs(ctx, pf, []int{index}, VFOptions{})
	if err != nil {
		return nil, err
	}
	return vfs[0], nil
}

// AddVFs creates the VFs of PF pf with the given indices in one `ip -batch`
// (hundreds take about a second) and describes them in sysfs and devlink.
// Names are unique per bed and fit IFNAMSIZ.
func (b *Bed) AddVFs(ctx context.Context, pf int, indices []int, opts VFOptions) ([]*VF, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	// Two batches: ip -batch cannot switch namespaces per line.
	var batch, up strings.Builder
	vfs := make([]*VF, 0, len(indices))
	for _, index := range indices {
		b.vfs++
		vf := b.newVF(pf, index, b.vfs)
		vfs = append(vfs, vf)
		hostSide := ""
		if b.HostNetns != "" {
			hostSide = "netns " + b.HostNetns
		}
		fmt.Fprintf(&batch, "link add %s %s address %s type veth peer name %s netns %s\n",
			vf.Netdev, hostSide, vf.MAC, vf.Representor, b.DPUNetns)
		fmt.Fprintf(&up, "link set %s up\n", vf.Representor)
	}
	if err := b.ipBatch(ctx, "", batch.String()); err != nil {
		return nil, fmt.Errorf("fake VFs %v of PF %d: %w", indices, pf, err)
	}
	if err := b.ipBatch(ctx, b.DPUNetns, up.String()); err != nil {
		return nil, fmt.Errorf("fake VFs %v of PF %d: %w", indices, pf, err)
	}
	// The VF ends checksum in software, or TCP between pods fails (see
	// offload.go); the representors need not: ovs-vswitchd writes them
	// frames it holds in full, checksums included.
	netdevs := make([]string, len(vfs))
	for i, vf := range vfs {
		netdevs[i] = vf.Netdev
	}
	if err := txChecksumOff(b.HostNetns, netdevs...); err != nil {
		return nil, fmt.Errorf("fake VFs %v of PF %d: %w", indices, pf, err)
	}
	for _, vf := range vfs {
		if err := b.describeVF(vf); err != nil {
			return nil, err
		}
		if !opts.Unpublished {
			b.hw.ports = append(b.hw.ports, b.representorPort(vf))
		}
	}
	return vfs, b.writeDevlinkLocked()
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

func (b *Bed) newVF(pf, index, n int) *VF {
	return &VF{
		PF: pf, Index: index,
		Netdev:      fmt.Sprintf("v%s%d", b.ID, n),
		Representor: fmt.Sprintf("r%s%d", b.ID, n),
		MAC:         net.HardwareAddr{0x0e, 0x43, b.idByte(0), b.idByte(1), byte(pf), byte(index)},
		PCI:         fmt.Sprintf("0000:%02x:%02x.%d", 0x10+pf, 1+index/8, index%8),
		PFPCI:       b.PFPCI(pf),
		PFMAC:       b.PFMAC(pf),
	}
}

// HostIP runs `ip args...` in the namespace that holds host-side VFs.
func (b *Bed) HostIP(ctx context.Context, args ...string) (string, error) {
	if b.HostNetns != "" {
		args = append([]string{"-n", b.HostNetns}, args...)
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
	if _, err := b.HostIP(ctx, "link", "set", vf.Netdev, "netns", pod); err != nil {
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
