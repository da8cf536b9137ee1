package dpuagent

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// This file serves the read-only status commands (`ovn-dpu-agent ports`,
// docs/status.md) on the agent's admin socket. They answer from the
// agent's own view — its status store, its database caches and its
// devlink table — and change nothing.

// RegisterAdmin serves the DPUAdmin API on s (the admin socket's server).
func (a *Agent) RegisterAdmin(s *grpc.Server) {
	ovndpuv1.RegisterDPUAdminServer(s, &adminServer{a: a})
}

type adminServer struct {
	ovndpuv1.UnimplementedDPUAdminServer
	a *Agent
}

// notSynced is the answer before the first full reconcile pass: there
// are no caches to read yet and the status table is not complete.
var notSynced = status.Error(codes.FailedPrecondition,
	"the agent has not finished its first reconcile pass yet (is it connected to SB and OVS? see its log)")

// waitSynced waits for the first full reconcile pass when wait is set,
// else refuses at once: a one-shot status command must answer now.
func (s *adminServer) waitSynced(ctx context.Context, wait bool) error {
	select {
	case <-s.a.synced:
		return nil
	default:
	}
	if !wait {
		return notSynced
	}
	select {
	case <-s.a.synced:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

// Ports streams the status table with each port's pod (from its
// binding's external_ids), like WatchPorts but for every owner node.
func (s *adminServer) Ports(req *ovndpuv1.PortsRequest, stream grpc.ServerStreamingServer[ovndpuv1.PortsResponse]) error {
	ctx := stream.Context()
	if err := s.waitSynced(ctx, req.GetWatch()); err != nil {
		return err
	}
	snapshot, sub := s.a.store.Subscribe("")
	defer sub.Close()
	ids := s.a.bindingIDs(ctx)
	for _, st := range snapshot {
		if err := stream.Send(portRow(st, ids[st.GetLogicalPort()])); err != nil {
			return err
		}
	}
	marker := &ovndpuv1.PortsResponse{Event: &ovndpuv1.PortsResponse_SnapshotComplete{
		SnapshotComplete: &ovndpuv1.SnapshotComplete{Ports: uint32(len(snapshot))}}}
	if err := stream.Send(marker); err != nil || !req.GetWatch() {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case st, ok := <-sub.Events():
			if !ok {
				return status.Errorf(codes.ResourceExhausted, "%v; run the command again", sub.Err())
			}
			row := portRow(st, s.a.bindingIDsOf(ctx, st.GetLogicalPort()))
			if err := stream.Send(row); err != nil {
				return err
			}
		}
	}
}

func portRow(st *ovndpuv1.PortStatus, ids map[string]string) *ovndpuv1.PortsResponse {
	att := vifplug.AttachmentOf(ids)
	return &ovndpuv1.PortsResponse{Event: &ovndpuv1.PortsResponse_Port{Port: &ovndpuv1.PortRow{
		Status: st, PodNamespace: att.PodNamespace, PodName: att.PodName, DeviceId: att.DeviceID}}}
}

// bindingIDs maps the monitored Port_Bindings' logical ports to their
// external_ids (nil when the cache cannot be read: rows then show no pod).
func (a *Agent) bindingIDs(ctx context.Context) map[string]map[string]string {
	var pbs []*sbdb.PortBinding
	if err := a.sb().List(ctx, &pbs); err != nil {
		return nil
	}
	out := make(map[string]map[string]string, len(pbs))
	for _, pb := range pbs {
		out[pb.LogicalPort] = pb.ExternalIDs
	}
	return out
}

// bindingIDsOf is the external_ids of lsp's monitored Port_Binding (nil
// when there is none), copying no other row.
func (a *Agent) bindingIDsOf(ctx context.Context, lsp string) map[string]string {
	var pbs []*sbdb.PortBinding
	err := a.sb().WhereCache(func(pb *sbdb.PortBinding) bool { return pb.LogicalPort == lsp }).List(ctx, &pbs)
	if err != nil || len(pbs) == 0 {
		return nil
	}
	return pbs[0].ExternalIDs
}

// Why explains one logical port from the agent's caches (explain).
func (s *adminServer) Why(ctx context.Context, req *ovndpuv1.WhyRequest) (*ovndpuv1.WhyResponse, error) {
	lsp := req.GetLogicalPort()
	if lsp == "" {
		return nil, status.Error(codes.InvalidArgument, "name a logical port")
	}
	if err := s.waitSynced(ctx, false); err != nil {
		return nil, err
	}
	a := s.a
	id := a.identity()
	var pbs []*sbdb.PortBinding
	if err := a.sb().List(ctx, &pbs); err != nil {
		return nil, status.Errorf(codes.Unavailable, "read SB cache: %v", err)
	}
	in := explainInput{lsp: lsp, chassis: id, reps: a.table}
	for _, pb := range pbs {
		if pb.LogicalPort == lsp && id.requestedHere(pb) {
			in.binding = pb
		}
	}
	ovs, err := a.readOVS(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "%v", err)
	}
	in.ovs = ovs
	in.status, _ = a.store.Get(lsp)
	return explain(in), nil
}

// explainInput is what Why looks at: the planner's inputs for one port
// (its binding, OVS, the representor table) and the status it last got.
type explainInput struct {
	lsp     string
	chassis chassisIdentity
	binding *sbdb.PortBinding // nil: SB has none requesting this chassis
	ovs     ovsState
	reps    representors
	status  *ovndpuv1.PortStatus // nil: the agent has none
}

// explain assembles the answer to Why. It is pure: the same inputs give
// the same answer, so it is table-tested over planner inputs.
func explain(in explainInput) *ovndpuv1.WhyResponse {
	out := &ovndpuv1.WhyResponse{LogicalPort: in.lsp, Chassis: in.chassis.name, Status: in.status}
	var rep devlink.Representor
	var req request
	if pb := in.binding; pb != nil {
		req = parseRequest(pb, in.chassis)
		b := &ovndpuv1.WhyBinding{Options: pb.Options, ExternalIds: pb.ExternalIDs, Claimed: req.claimed,
			RepresentorRequest: vifplug.IsRepresentorRequest(pb.Options)}
		if pb.RequestedChassis != nil {
			b.RequestedChassis = *pb.RequestedChassis
			if *pb.RequestedChassis == in.chassis.uuid && in.chassis.uuid != "" {
				b.RequestedChassis = in.chassis.name
			}
		}
		if pb.Chassis != nil && !req.claimed {
			b.ClaimedByOther = *pb.Chassis
		}
		if req.invalid != nil {
			b.Invalid = req.invalid.Error()
		}
		out.Binding = b
		if b.RepresentorRequest && req.invalid == nil {
			var err error
			rep, err = in.reps.LookupFunction(req.PFMAC, req.function())
			r := &ovndpuv1.WhyRepresentor{PfMac: req.PFMAC.String(), VfNum: int32(req.VFNum), Netdev: rep.Netdev,
				DevlinkHandle: rep.Handle, Function: req.Label()}
			if err != nil {
				r.Error = err.Error()
			}
			out.Representor = r
		}
	}
	if iface := in.ovs.interfaceFor(in.lsp, rep.Netdev); iface != nil {
		out.Interface = describeInterface(in.ovs, iface)
	}
	out.WaitingFor = waitingFor(in, out)
	return out
}

// interfaceFor is the interface of representor rep, else the one of ours
// (else anyone's) whose iface-id is lsp.
func (st ovsState) interfaceFor(lsp, rep string) *vswitchd.Interface {
	if iface := st.ifaces[rep]; rep != "" && iface != nil {
		return iface
	}
	var found *vswitchd.Interface
	for _, iface := range sortedIfaces(slices.Collect(maps.Values(st.ifaces))) {
		if iface.ExternalIDs[vifplug.IfaceID] == lsp && (found == nil || (ours(iface) && !ours(found))) {
			found = iface
		}
	}
	return found
}

func describeInterface(st ovsState, iface *vswitchd.Interface) *ovndpuv1.WhyInterface {
	w := &ovndpuv1.WhyInterface{Name: iface.Name, ExternalIds: iface.ExternalIDs, Ifindex: -1,
		OvnInstalled: vifplug.OVNInstalled(iface.ExternalIDs)}
	if p := st.portOf[iface.UUID]; p != nil {
		w.Bridge = st.bridgeOf[p.UUID]
	}
	if iface.Ofport != nil && *iface.Ofport > 0 {
		w.Ofport = int64(*iface.Ofport)
	}
	if iface.Ifindex != nil {
		w.Ifindex = int64(*iface.Ifindex)
	}
	if iface.Error != nil {
		w.Error = *iface.Error
	}
	return w
}

// waitingFor says in one sentence what the port waits for: the status's
// reason when the agent has one, else what the inputs show is missing.
func waitingFor(in explainInput, out *ovndpuv1.WhyResponse) string {
	st := in.status
	switch {
	case st != nil && st.GetPhase() == ovndpuv1.Phase_PHASE_READY:
		return "nothing: the port is READY"
	case st != nil && st.GetReason() != "":
		return fmt.Sprintf("%s: %s", phaseName(st.GetPhase()), st.GetReason())
	case out.Binding == nil:
		return fmt.Sprintf("no Port_Binding in SB requests chassis %s for %s: check the LSP's options:%s and that ovn-northd runs",
			in.chassis.name, in.lsp, vifplug.OptRequestedChassis)
	case !out.Binding.RepresentorRequest:
		return fmt.Sprintf("nothing from this agent: the binding's %s is %q, not %q (another plug provider's port)",
			vifplug.OptPlugType, out.Binding.Options[vifplug.OptPlugType], vifplug.PlugTypeRepresentor)
	case st != nil:
		return phaseName(st.GetPhase())
	}
	return "the agent's next reconcile pass (it has no status for the port yet)"
}

// phaseName is a phase as the commands print it: PENDING, READY...
func phaseName(p ovndpuv1.Phase) string {
	name := ovndpuv1.Phase_name[int32(p)]
	if len(name) > len("PHASE_") {
		return name[len("PHASE_"):]
	}
	return p.String()
}
