package testbed

import (
	"context"
	"fmt"
	"net"
)

// VF is a fake SR-IOV VF: a veth pair whose VF end sits on the host (the
// host namespace when the bed has one, else the root namespace) and whose
// peer, the representor, sits in the dpu namespace.
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

// AddVF creates the veth pair for VF index of PF pf. Names are unique per
// bed and fit IFNAMSIZ.
func (b *Bed) AddVF(ctx context.Context, pf, index int) (*VF, error) {
	b.mu.Lock()
	b.vfs++
	n := b.vfs
	b.mu.Unlock()
	vf := &VF{
		PF: pf, Index: index,
		Netdev:      fmt.Sprintf("v%s%d", b.ID, n),
		Representor: fmt.Sprintf("r%s%d", b.ID, n),
		MAC:         net.HardwareAddr{0x0e, 0x43, b.idByte(0), b.idByte(1), byte(pf), byte(index)},
		PCI:         fmt.Sprintf("0000:%02x:%02x.%d", 0x10+pf, 1+index/8, index%8),
		PFPCI:       b.PFPCI(pf),
		PFMAC:       b.PFMAC(pf),
	}
	hostSide := []string{}
	if b.HostNetns != "" {
		hostSide = []string{"netns", b.HostNetns}
	}
	add := append([]string{"ip", "link", "add", vf.Netdev}, hostSide...)
	add = append(add, "address", vf.MAC.String(), "type", "veth", "peer", "name", vf.Representor, "netns", b.DPUNetns)
	err := b.runAll(ctx, [][]string{add, {"ip", "-n", b.DPUNetns, "link", "set", vf.Representor, "up"}})
	if err != nil {
		return nil, fmt.Errorf("fake VF %d of PF %d: %w", index, pf, err)
	}
	return vf, nil
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
	return poll(ctx, startTimeout, fmt.Sprintf("ping %s from %s", ip, pod), func() error {
		_, err := b.InNetns(ctx, pod, "ping", "-c", "1", "-W", "1", ip)
		return err
	})
}
