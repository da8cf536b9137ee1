package testbed

import (
	"context"
	"fmt"
	"net"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
)

// SF is a fake Scalable Function: like a VF, a veth pair whose SF end (the
// SF's netdev) sits on the host and whose peer, the representor, sits in
// the dpu namespace. The host sysfs tree describes it as the auxiliary
// device Aux inside its PF; the devlink dump lists the representor as a
// pcisf port (controller 1, pfnum PF, sfnum SFNum).
type SF struct {
	PF          int
	SFNum       uint32
	Aux         string // auxiliary device name, the deviceID: mlx5_core.sf.N
	Netdev      string // SF end, on the host
	Representor string // peer, in the dpu namespace
	MAC         net.HardwareAddr
	PFPCI       string
	PFMAC       net.HardwareAddr
}

// AddSF creates SF sfnum of PF pf and publishes its representor.
func (b *Bed) AddSF(ctx context.Context, pf int, sfnum uint32) (*SF, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.host.addPF(b.dpu, pf); err != nil {
		return nil, err
	}
	b.vfs++
	sf := &SF{
		PF: pf, SFNum: sfnum,
		Aux:         fmt.Sprintf("mlx5_core.sf.%d", b.vfs),
		Netdev:      fmt.Sprintf("s%s%d", b.ID, b.vfs),
		Representor: fmt.Sprintf("q%s%d", b.ID, b.vfs),
		MAC:         net.HardwareAddr{0x0e, 0x44, b.idByte(0), b.idByte(1), byte(pf), byte(sfnum)},
		PFPCI:       b.PFPCI(pf),
		PFMAC:       b.PFMAC(pf),
	}
	if err := b.vethsLocked(ctx, b.host, b.dpu, []veth{{sf.Netdev, sf.MAC, sf.Representor}}); err != nil {
		return nil, fmt.Errorf("fake SF %d of PF %d: %w", sfnum, pf, err)
	}
	if err := b.host.sysfs.AddSF(sf.PFPCI, sf.Aux, sfnum, sf.Netdev, sf.MAC); err != nil {
		return nil, err
	}
	b.dpu.ports = append(b.dpu.ports, devlink.Port{
		Device: dpuDevice(pf), Index: uint32(0x10000*(pf+3) + 0x8000 + int(sfnum)), Type: "eth", Netdev: sf.Representor,
		Flavour: devlink.PCISF, Controller: hostController, PFNum: uint16(pf), SFNum: sfnum, External: true,
	})
	return sf, b.dpu.writeDevlinkLocked()
}

// PF is a fake host PF handed to a pod whole: a veth pair whose host end
// is the PF's netdev (with the PF MAC) and whose peer, in the dpu
// namespace, is its pcipf representor.
type PF struct {
	PF          int
	PCI         string // the deviceID
	Netdev      string // host end: the PF netdev
	Representor string // peer: the pcipf port's netdev
	MAC         net.HardwareAddr
}

// AddWholePF creates host PF pf with a real netdev, for attaching the PF
// itself. pf must not be described yet (by a VF or SF of it).
func (b *Bed) AddWholePF(ctx context.Context, pf int) (*PF, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.host.pfs[pf] != nil {
		return nil, fmt.Errorf("PF %d is described already", pf)
	}
	b.vfs++
	p := &PF{PF: pf, PCI: b.PFPCI(pf), MAC: b.PFMAC(pf),
		Netdev: fmt.Sprintf("p%s%d", b.ID, b.vfs), Representor: fmt.Sprintf("h%s%d", b.ID, b.vfs)}
	if err := b.vethsLocked(ctx, b.host, b.dpu, []veth{{p.Netdev, p.MAC, p.Representor}}); err != nil {
		return nil, fmt.Errorf("fake PF %d: %w", pf, err)
	}
	if err := b.host.sysfs.AddPF(p.PCI, p.Netdev, p.MAC); err != nil {
		return nil, err
	}
	b.host.pfs[pf] = b.dpu
	b.dpu.ports = append(b.dpu.ports, b.host.pfPort(pf, p.Representor))
	return p, b.dpu.writeDevlinkLocked()
}
