package hostagent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// TestAttachmentRow: the host's phase of an attachment from its record and
// the DPU's status of its port.
func TestAttachmentRow(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(edit func(*hoststate.Attachment)) *hoststate.Attachment {
		a := &hoststate.Attachment{Key: hoststate.Key{ContainerID: "c1", IfName: "eth0"}, Network: "net", AttachmentID: "att1",
			LSPName: "node1_c1_eth0", DeviceID: "0000:03:00.2", PodNamespace: "prod", PodName: "web-0",
			VF: hoststate.VF{HostNetdev: "ens1f0v0"}, CreatedAt: at,
			Steps: []hoststate.Step{{Name: hoststate.StepLSP, State: hoststate.StepDone}, {Name: hoststate.StepVFMoved, State: hoststate.StepDone}}}
		if edit != nil {
			edit(a)
		}
		return a
	}
	ready := &ovndpuv1.PortStatus{LogicalPort: "node1_c1_eth0", AttachmentId: "att1", Phase: ovndpuv1.Phase_PHASE_READY, Representor: "pf0vf0"}
	pending := &ovndpuv1.PortStatus{LogicalPort: "node1_c1_eth0", AttachmentId: "att1", Phase: ovndpuv1.Phase_PHASE_PENDING,
		Reason: "waiting for the representor: no representor"}
	for _, tc := range []struct {
		name          string
		att           *hoststate.Attachment
		st            *ovndpuv1.PortStatus
		dpuErr        error
		phase, reason string
		representor   string
	}{
		{name: "ready", att: rec(nil), st: ready, phase: "READY", representor: "pf0vf0"},
		{name: "pending", att: rec(nil), st: pending, phase: "PENDING", reason: "waiting for the representor"},
		{name: "adding", att: rec(func(a *hoststate.Attachment) { a.Steps[1].State = hoststate.StepIntent }), st: pending,
			phase: "ADDING", reason: "steps not finished: vf-moved"},
		{name: "unplugging", att: rec(func(a *hoststate.Attachment) { a.UnplugPending, a.Steps = true, nil }), st: ready,
			phase: "UNPLUGGING", reason: "waiting for the DPU to unplug", representor: "pf0vf0"},
		{name: "stream down", att: rec(nil), dpuErr: errors.New("DPU agent x not reachable: refused"), phase: "UNKNOWN",
			reason: "not reachable: refused"},
		{name: "not seen", att: rec(nil), phase: "NOT_SEEN", reason: "reports nothing"},
		{name: "another attachment", att: rec(nil), st: &ovndpuv1.PortStatus{LogicalPort: "node1_c1_eth0", AttachmentId: "old",
			Phase: ovndpuv1.Phase_PHASE_READY, Representor: "pf0vf0"}, phase: "NOT_SEEN", reason: "attachment old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := attachmentRow(tc.att, tc.st, tc.dpuErr)
			if row.GetPhase() != tc.phase || !strings.Contains(row.GetReason(), tc.reason) || row.GetRepresentor() != tc.representor {
				t.Errorf("phase %q reason %q representor %q; want %q, a reason with %q, %q", row.GetPhase(), row.GetReason(),
					row.GetRepresentor(), tc.phase, tc.reason, tc.representor)
			}
			if row.GetLogicalPort() != "node1_c1_eth0" || row.GetPodName() != "web-0" || row.GetVfNetdev() != "ens1f0v0" ||
				row.GetContainerId() != "c1" || !row.GetCreated().AsTime().Equal(at) {
				t.Errorf("row %v", row)
			}
		})
	}
}
