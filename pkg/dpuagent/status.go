package dpuagent

import (
	"fmt"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

func baseStatus(r request) *ovndpuv1.PortStatus {
	st := &ovndpuv1.PortStatus{
		LogicalPort:  r.lsp,
		AttachmentId: r.attachment,
		OwnerNode:    r.owner,
		VfNum:        int32(r.VFNum),
		Function:     r.Label(),
		Mtu:          int32(r.MTU),
	}
	if r.PFMAC != nil {
		st.PfMac = r.PFMAC.String()
	}
	return st
}

func setPhase(st *ovndpuv1.PortStatus, phase ovndpuv1.Phase, reason string) {
	st.Phase, st.Reason = phase, reason
}

// observe derives the phase of a plugged interface: READY only when
// ovn-controller has installed its flows (ovn-installed=true) and claimed
// the binding for this chassis. Until ovs-vswitchd has opened the
// interface (an ofport) ovn-controller does neither, so that is what the
// port waits for then — the planner makes an error saying the device is
// missing a representor gone (representorGone).
func observe(st *ovndpuv1.PortStatus, iface *vswitchd.Interface, r request, id chassisIdentity) {
	st.Representor = iface.Name
	opened := iface.Ofport != nil && *iface.Ofport > 0
	if opened {
		st.Ofport = int64(*iface.Ofport)
	}
	switch {
	case iface.Error != nil && *iface.Error != "":
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("interface %s: %s", iface.Name, *iface.Error))
	case !opened:
		setPhase(st, ovndpuv1.Phase_PHASE_PLUGGED, fmt.Sprintf("waiting for ovs-vswitchd to open interface %s (no ofport yet)", iface.Name))
	case !r.claimed:
		setPhase(st, ovndpuv1.Phase_PHASE_PLUGGED, fmt.Sprintf("waiting for ovn-controller to claim the binding on chassis %s", id.name))
	case !vifplug.OVNInstalled(iface.ExternalIDs):
		setPhase(st, ovndpuv1.Phase_PHASE_PLUGGED, "waiting for ovn-controller to install flows ("+vifplug.IfaceOVNInstalled+")")
	default:
		setPhase(st, ovndpuv1.Phase_PHASE_READY, "")
	}
}
