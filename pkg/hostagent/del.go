package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// del undoes whatever the attachment's state says was done. It succeeds
// when there is nothing left to undo, so it is idempotent; it cancels an
// ADD still running for the same key first.
func (a *Agent) del(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, a.opts.delTimeout+30*time.Second)
	defer cancel()
	key := hoststate.Key{ContainerID: req.ContainerId, IfName: req.Ifname}
	ctx, done, err := a.locks.Begin(ctx, key, hoststate.OpDel)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, "could not serialise DEL with the attachment's other operations", err.Error())
	}
	defer done()
	att, err := a.state.Load(key)
	if errors.Is(err, hoststate.ErrNotFound) {
		log.Info("DEL: no attachment state; nothing to undo")
		return nil
	}
	if err != nil {
		return fmt.Errorf("load attachment state of %s: %w", key, err)
	}
	if err := a.waitReady(ctx); err != nil {
		return types.NewError(types.ErrTryAgainLater, "ovn-dpu host agent is not connected to OVN yet", err.Error())
	}
	return a.undo(ctx, att, req, log.With("logical_port", att.LSPName, "attachment", att.AttachmentID), a.opts.delTimeout)
}

// undo reverses the recorded steps, latest first, forgetting each one
// once undone so an interrupted undo resumes where it stopped. It tries
// every step even when one fails, and deletes the state only when all
// succeeded. req is the CNI request at hand (DEL, or the ADD that undoes
// a failed or repeated attachment): IPAM delegates need its CNI_PATH.
// unplugWait bounds the wait for the DPU to confirm the LSP's unplug.
func (a *Agent) undo(ctx context.Context, att *hoststate.Attachment, req *ovndpuv1.CNIRequest, log *slog.Logger, unplugWait time.Duration) error {
	var errs []error
	for _, step := range att.UndoSteps() {
		if err := a.undoStep(ctx, att, step, req, log, unplugWait); err != nil {
			errs = append(errs, fmt.Errorf("undo %s: %w", step.Name, err))
			continue
		}
		att.Forget(step.Name)
		if err := a.state.Save(att); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	return a.state.Delete(att.Key)
}

func (a *Agent) undoStep(ctx context.Context, att *hoststate.Attachment, step hoststate.Step, req *ovndpuv1.CNIRequest, log *slog.Logger, unplugWait time.Duration) error {
	switch step.Name {
	case hoststate.StepVFMoved:
		return a.plumber.MoveOut(ctx, netns.MoveOutRequest{PodNetns: att.NetnsPath, IfName: att.Key.IfName,
			HostNetns: a.cfg.HostNetns, Original: original(att.VF)})
	case hoststate.StepLSP:
		return a.removeLSP(ctx, att, step.State == hoststate.StepIntent, log, unplugWait)
	case hoststate.StepIPAM:
		if att.IPAM == nil {
			return nil
		}
		return a.ipam.Del(ctx, a.ipamRequest(att, req))
	default:
		return fmt.Errorf("unknown step %q in attachment state", step.Name)
	}
}

// removeLSP deletes the attachment's LSP and waits (bounded) for the DPU
// to unplug it, so a following ADD on the same VF starts clean. When the
// create was never confirmed (unsure: its step only intended), its
// outcome may still be pending, and the delete is settled too.
func (a *Agent) removeLSP(ctx context.Context, att *hoststate.Attachment, unsure bool, log *slog.Logger, unplugWait time.Duration) error {
	if err := a.nb.DeleteOwnLSP(ctx, att.LSPName, att.AttachmentID); err != nil {
		return fmt.Errorf("delete logical switch port %s: %w", att.LSPName, err)
	}
	if unsure {
		if err := a.nb.SettleDeleted(ctx, att.LSPName, att.AttachmentID); err != nil {
			return fmt.Errorf("settle the delete of logical switch port %s: %w", att.LSPName, err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, unplugWait)
	defer cancel()
	if err := a.dpu.WaitGone(wctx, att.LSPName, att.AttachmentID); err != nil {
		log.Warn("DPU did not confirm the unplug in time; continuing", "err", err)
	}
	return nil
}

func original(vf hoststate.VF) netns.Original {
	o := netns.Original{Name: vf.HostNetdev, MTU: vf.MTU}
	if mac, err := net.ParseMAC(vf.MAC); err == nil {
		o.MAC = mac
	}
	return o
}
