package hostagent

import (
	"context"
	"fmt"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// check verifies a live attachment: state, LSP, the VF in the pod with its
// addresses, and the DPU's READY.
func (a *Agent) check(ctx context.Context, req *ovndpuv1.CNIRequest) error {
	key := hoststate.Key{ContainerID: req.ContainerId, IfName: req.Ifname}
	att, err := a.state.Load(key)
	if err != nil {
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("no attachment for %s", key), err.Error())
	}
	if err := a.waitReady(ctx); err != nil {
		return types.NewError(types.ErrTryAgainLater, "ovn-dpu host agent is not connected to OVN yet", err.Error())
	}
	if err := a.dpu.Connected(); err != nil {
		return types.NewError(types.ErrTryAgainLater, "cannot check the attachment's DPU status", err.Error())
	}
	if lsp, err := a.nb.OwnLSP(ctx, att.LSPName); err != nil || lsp == nil || lsp.ExternalIDs[vifplug.ExtAttachment] != att.AttachmentID {
		return fmt.Errorf("logical switch port %s of attachment %s is missing from OVN NB", att.LSPName, att.AttachmentID)
	}
	if err := a.plumber.Check(ctx, att.NetnsPath, att.Key.IfName, nil); err != nil {
		return fmt.Errorf("VF %s in the pod: %w", att.DeviceID, err)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := a.dpu.WaitReady(cctx, att.LSPName, att.AttachmentID); err != nil {
		return fmt.Errorf("DPU: %w", err)
	}
	return nil
}
