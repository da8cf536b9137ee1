package dpuagent

import (
	"slices"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// request is what one Port_Binding asks of this DPU.
type request struct {
	vifplug.Request
	lsp        string
	attachment string
	owner      string
	// claimed: the binding's chassis column is this chassis, i.e.
	// ovn-controller has claimed it here.
	claimed bool
	// invalid says which option is malformed; the port is ERROR.
	invalid error
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
		claimed:    id.uuid != "" && pb.Chassis != nil && *pb.Chassis == id.uuid,
	}
	r.Request, r.invalid = vifplug.ParseOptions(pb.Options)
	return r
}
