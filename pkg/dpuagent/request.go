package dpuagent

import (
	"net"
	"slices"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// request is what one Port_Binding asks of this DPU.
type request struct {
	vifplug.Request
	lsp        string
	attachment string
	owner      string
	pod        string // namespace/name, when the LSP says
	// mac: the logical port's MAC (lspMAC), read only with
	// --set-function-mac, which monitors the binding's mac column.
	mac net.HardwareAddr
	// claimed: the binding's chassis column is this chassis, i.e.
	// ovn-controller has claimed it here.
	claimed bool
	// logicalSwitch: the NB Logical_Switch UUID of the binding's
	// datapath, read only on a DPU serving several hosts (claims.go).
	logicalSwitch string
	// invalid says which option is malformed; the port is ERROR.
	invalid error
}

// podOf names the attachment's pod as namespace/name; "" when the LSP
// does not say (one written by another CMS).
func podOf(att vifplug.Attachment) string {
	if att.PodName == "" {
		return ""
	}
	return att.PodNamespace + "/" + att.PodName
}

// function is the devlink function the request names: its VF, its SF, or
// the PF itself.
func (r request) function() devlink.Function {
	switch r.Kind {
	case vifplug.SF:
		return devlink.SF(r.SFNum)
	case vifplug.PF:
		return devlink.PF()
	}
	return devlink.VF(uint16(r.VFNum))
}

// interfaceIDs are the external_ids of the request's interface.
func (r request) interfaceIDs() map[string]string {
	return vifplug.ClaimedInterfaceIDs(r.lsp, r.attachment, r.logicalSwitch)
}

// mtuRequest is the request's MTU as OVS's optional mtu_request column.
func (r request) mtuRequest() *int {
	if r.MTU == 0 {
		return nil
	}
	mtu := r.MTU
	return &mtu
}

// chassisIdentity is who this DPU is in OVN.
type chassisIdentity struct {
	name     string
	hostname string
	uuid     string // empty while the Chassis row is absent
}

// requestedHere reports whether pb asks for this chassis: by name or
// hostname in requested-chassis (a list since OVN 22.06), or by UUID in the
// columns northd resolved.
func (id chassisIdentity) requestedHere(pb *sbdb.PortBinding) bool {
	if id.uuid != "" && ((pb.RequestedChassis != nil && *pb.RequestedChassis == id.uuid) ||
		slices.Contains(pb.RequestedAdditionalChassis, id.uuid)) {
		return true
	}
	return vifplug.Requests(pb.Options, id.name, id.hostname)
}

func parseRequest(pb *sbdb.PortBinding, id chassisIdentity) request {
	att := vifplug.AttachmentOf(pb.ExternalIDs)
	r := request{
		lsp:        pb.LogicalPort,
		attachment: att.ID,
		owner:      att.Owner,
		pod:        podOf(att),
		mac:        lspMAC(pb.MAC),
		claimed:    id.uuid != "" && pb.Chassis != nil && *pb.Chassis == id.uuid,
	}
	r.Request, r.invalid = vifplug.ParseOptions(pb.Options)
	return r
}
