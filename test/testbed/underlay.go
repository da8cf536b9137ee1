package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// Geneve between the bed's DPUs (Options.Underlay, AddDPU). With the
// netdev datapath ovs-vswitchd encapsulates itself ("userspace
// tunnelling"): it routes a tunnel only out of an OVS bridge of its own
// datapath, so each DPU's endpoint address sits on the tap of its br-phy,
// and it decapsulates only what reaches br-phy for that bridge's MAC and
// address.

// underlayMTU is the underlay veths' MTU: Geneve as OVN uses it adds 58
// bytes and sets DF, so at 1500 a full-size pod packet is dropped without
// any error.
const underlayMTU = "9000"

// maxEncaps is how many DPUs besides the primary get an endpoint in
// 172.31.77.0/24.
const maxEncaps = 253

var errUnderlayFull = errors.New("no Geneve endpoint left in 172.31.77.0/24")

// underlayAddr is DPU n's Geneve endpoint (the primary is 0: 172.31.77.1)
// and its br-phy's MAC.
func (b *Bed) underlayAddr(n int) (net.IP, net.HardwareAddr) {
	return net.IPv4(172, 31, 77, byte(n+1)), net.HardwareAddr{0x0e, 0x45, b.idByte(0), b.idByte(1), 0x4d, byte(n + 1)}
}

// startPhyBridge makes d's br-phy with its endpoint address, idempotently
// (a restarted ovs-vswitchd has a new tap without it), and tells it its
// peers' MACs. A fixed MAC lets peers know it in advance: a packet that
// must wait for ARP is lost.
func (b *Bed) startPhyBridge(ctx context.Context, d *dpuSide) error {
	if _, err := b.vsctl(ctx, d, "--may-exist", "add-br", "br-phy", "--", "set", "Bridge", "br-phy",
		"datapath_type=netdev", "fail-mode=standalone", "other_config:hwaddr="+d.phyMAC.String()); err != nil {
		return err
	}
	if err := b.runAll(ctx, [][]string{
		{"ip", "-n", d.netns, "addr", "replace", d.encapIP.String() + "/24", "dev", "br-phy"},
		{"ip", "-n", d.netns, "link", "set", "br-phy", "up"},
	}); err != nil {
		return err
	}
	for _, peer := range b.dpuSides() {
		if peer != d {
			if err := b.seedNeighbour(ctx, d, peer); err != nil {
				return err
			}
		}
	}
	return nil
}

// seedNeighbour puts peer's endpoint in on's tunnel neighbour cache.
func (b *Bed) seedNeighbour(ctx context.Context, on, peer *dpuSide) error {
	_, err := b.appctl(ctx, on, string(Vswitchd), "tnl/arp/set", "br-phy", peer.encapIP.String(), peer.phyMAC.String())
	return err
}

// joinUnderlay links d's br-phy to the primary's by a veth, up<id><name>
// at the primary and ud<id><name> at d: a star, as br-phy is a learning
// switch without STP and the links must form a tree. Each peer learns d's
// MAC; d learnt theirs when its br-phy was made.
func (b *Bed) joinUnderlay(ctx context.Context, d *DPU, peers []*dpuSide) error {
	atPrimary, atDPU := "up"+b.ID+d.Name, "ud"+b.ID+d.Name
	if _, err := b.run(ctx, "ip", "link", "add", atPrimary, "netns", b.DPUNetns, "mtu", underlayMTU,
		"type", "veth", "peer", "name", atDPU, "netns", d.Netns, "mtu", underlayMTU); err != nil {
		return err
	}
	if err := b.underlayPort(ctx, b.dpu, atPrimary); err != nil {
		return err
	}
	if err := b.underlayPort(ctx, d.side, atDPU); err != nil {
		return err
	}
	for _, peer := range peers {
		if err := b.seedNeighbour(ctx, peer, d.side); err != nil {
			return err
		}
	}
	return nil
}

// underlayPort makes link a port of s's br-phy on which the kernel stays
// silent. It sees every frame of the port too, and with ARP on it answers
// for br-phy's address with the veth's own MAC: snooped into the peer's
// neighbour cache, that MAC makes the peer's tunnelled packets arrive
// where they are not decapsulated. IPv6 off stops its ND and MLD.
func (b *Bed) underlayPort(ctx context.Context, s *dpuSide, link string) error {
	if err := b.runAll(ctx, [][]string{
		{"ip", "netns", "exec", s.netns, "sysctl", "-qw", "net.ipv6.conf." + link + ".disable_ipv6=1"},
		{"ip", "-n", s.netns, "link", "set", link, "arp", "off", "up"},
	}); err != nil {
		return err
	}
	_, err := b.vsctl(ctx, s, "add-port", "br-phy", link)
	return err
}

// waitTunnels waits until d and each of peers have a Geneve port to each
// other, which ovn-controller makes for every remote chassis in SB.
func (b *Bed) waitTunnels(ctx context.Context, d *dpuSide, peers []*dpuSide) error {
	return b.pollReady(ctx, "Geneve tunnels between "+d.chassis+" and the other DPUs", func() error {
		for _, peer := range peers {
			if err := b.hasTunnel(ctx, d, peer); err != nil {
				return err
			}
			if err := b.hasTunnel(ctx, peer, d); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *Bed) hasTunnel(ctx context.Context, from, to *dpuSide) error {
	out, err := b.vsctl(ctx, from, "--bare", "--columns=name", "find", "Interface", "type=geneve",
		"options:remote_ip="+to.encapIP.String())
	if err == nil && out == "" {
		err = fmt.Errorf("%s has no Geneve port to %s (%s) yet", from.chassis, to.chassis, to.encapIP)
	}
	return err
}
