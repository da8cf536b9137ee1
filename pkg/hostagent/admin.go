package hostagent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// This file serves `ovn-dpu-host-agent attachments` (docs/status.md): a
// read-only view of the recorded attachments joined with the DPU's last
// status of each one's logical port. It changes nothing.

// Host-side phases of an attachment, beside the DPU's (AttachmentRow.phase).
const (
	phaseAdding     = "ADDING"
	phaseUnplugging = "UNPLUGGING"
	phaseUnknown    = "UNKNOWN"
	phaseNotSeen    = "NOT_SEEN"
)

// RegisterAdmin serves the HostAdmin API on s (the host agent's socket).
func (a *Agent) RegisterAdmin(s *grpc.Server) {
	ovndpuv1.RegisterHostAdminServer(s, &hostAdmin{a: a})
}

type hostAdmin struct {
	ovndpuv1.UnimplementedHostAdminServer
	a *Agent
}

// portSnapshot is implemented by *dpuclient.Client: every port at once,
// without waiting.
type portSnapshot interface {
	Snapshot() (map[string]*ovndpuv1.PortStatus, error)
}

// Attachments lists the recorded attachments, oldest first.
func (h *hostAdmin) Attachments(ctx context.Context, _ *ovndpuv1.AttachmentsRequest) (*ovndpuv1.AttachmentsResponse, error) {
	atts, err := h.a.state.List()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "read --state-dir %s: %v", h.a.cfg.StateDir, err)
	}
	resp := &ovndpuv1.AttachmentsResponse{DpuSynced: true, Dpus: h.a.dpus.chassis()}
	var errs []error
	for _, att := range atts {
		st, err := h.a.dpuPort(ctx, att)
		if err != nil {
			resp.DpuSynced = false
			errs = append(errs, err)
		}
		resp.Attachments = append(resp.Attachments, attachmentRow(att, st, err))
	}
	if err := h.a.dpus.connected(); err != nil {
		resp.DpuSynced = false
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		resp.DpuError = errors.Join(uniqueErrors(errs)...).Error()
	}
	slices.SortStableFunc(resp.Attachments, func(x, y *ovndpuv1.AttachmentRow) int {
		if c := x.GetCreated().AsTime().Compare(y.GetCreated().AsTime()); c != 0 {
			return c
		}
		return strings.Compare(x.GetLogicalPort(), y.GetLogicalPort())
	})
	return resp, nil
}

// dpuPort is the last status att's DPU reported for its port, or why there
// is none, at once: status commands must answer now.
func (a *Agent) dpuPort(ctx context.Context, att *hoststate.Attachment) (*ovndpuv1.PortStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	d, err := a.dpus.of(ctx, att)
	if err != nil {
		return nil, err
	}
	if s, ok := d.(portSnapshot); ok {
		ports, err := s.Snapshot()
		return ports[att.LSPName], err
	}
	if err := d.Connected(); err != nil {
		return nil, err
	}
	return d.PortStatus(ctx, att.LSPName)
}

// uniqueErrors drops repeats: every attachment of a DPU that is down
// fails for the same reason.
func uniqueErrors(errs []error) []error {
	seen := map[string]bool{}
	return slices.DeleteFunc(errs, func(err error) bool {
		dup := seen[err.Error()]
		seen[err.Error()] = true
		return dup
	})
}

// attachmentRow joins a record with the DPU's status of its port (st; nil
// when the DPU reports none, dpuErr when its stream is not in sync).
func attachmentRow(att *hoststate.Attachment, st *ovndpuv1.PortStatus, dpuErr error) *ovndpuv1.AttachmentRow {
	row := &ovndpuv1.AttachmentRow{LogicalPort: att.LSPName, AttachmentId: att.AttachmentID,
		ContainerId: att.Key.ContainerID, Ifname: att.Key.IfName, Network: att.Network,
		PodNamespace: att.PodNamespace, PodName: att.PodName, DeviceId: att.DeviceID, VfNetdev: att.VF.HostNetdev,
		Created: timestamppb.New(att.CreatedAt), Dpu: att.DPU}
	if st != nil && st.GetAttachmentId() == att.AttachmentID {
		row.Representor = st.GetRepresentor()
	}
	var unfinished []string
	for _, s := range att.Steps {
		if s.State != hoststate.StepDone {
			unfinished = append(unfinished, string(s.Name))
		}
	}
	switch {
	case att.UnplugPending:
		row.Phase, row.Reason = phaseUnplugging, "the LSP is deleted; waiting for the DPU to unplug the representor (the VF stays claimed until it does)"
	case len(unfinished) > 0:
		row.Phase, row.Reason = phaseAdding, "steps not finished: "+strings.Join(unfinished, ", ")+
			" (an ADD in progress, or one that failed and waits for its DEL)"
	case dpuErr != nil:
		row.Phase, row.Reason = phaseUnknown, dpuErr.Error()
	case st == nil:
		row.Phase, row.Reason = phaseNotSeen, "the DPU agent reports nothing for this port (SB has no binding requesting its chassis yet, or the LSP is gone)"
	case st.GetAttachmentId() != "" && st.GetAttachmentId() != att.AttachmentID:
		row.Phase, row.Reason = phaseNotSeen, fmt.Sprintf("the DPU reports attachment %s for this port, not this one", st.GetAttachmentId())
	default:
		row.Phase = strings.TrimPrefix(st.GetPhase().String(), "PHASE_")
		row.Reason = st.GetReason()
	}
	return row
}
