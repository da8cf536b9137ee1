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
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
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
	return a.delLocked(ctx, key, req, log)
}

// delLocked is DEL with the key's lock held.
func (a *Agent) delLocked(ctx context.Context, key hoststate.Key, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
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
	if err := a.undo(ctx, att, req, log.With("logical_port", att.LSPName, "attachment", att.AttachmentID), a.opts.delTimeout); err != nil {
		// What is left is recorded; a retried DEL resumes there.
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("DEL of attachment %s (logical port %s) could not undo every step yet",
			att.AttachmentID, att.LSPName), err.Error())
	}
	return nil
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
		start := time.Now()
		err := a.undoStep(ctx, att, step, req)
		log.Debug("undo step", "step", step.Name, "ms", ms(time.Since(start)), "err", err)
		if err != nil {
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
	start := time.Now()
	if att.UnplugPending && !a.unplugConfirmed(ctx, att, unplugWait) {
		// DEL succeeds (the runtime must not retry it for ever), but the
		// record keeps the VF claimed until the DPU confirms.
		log.Warn("DPU did not confirm the unplug in time; the VF stays claimed until it does", "wait", unplugWait)
		return nil
	}
	log.Debug("undo: the DPU confirmed the unplug", "ms", ms(time.Since(start)))
	att.UnplugPending = false
	return a.state.Delete(att.Key)
}

// unplugConfirmed waits up to wait for the DPU to report att's port gone
// (UNPLUGGED, or absent from a complete snapshot); wait 0 only looks.
func (a *Agent) unplugConfirmed(ctx context.Context, att *hoststate.Attachment, wait time.Duration) bool {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	d, err := a.dpus.of(wctx, att)
	return err == nil && d.WaitGone(wctx, att.LSPName, att.AttachmentID) == nil
}

func (a *Agent) undoStep(ctx context.Context, att *hoststate.Attachment, step hoststate.Step, req *ovndpuv1.CNIRequest) error {
	switch step.Name {
	case hoststate.StepVFMoved:
		return a.bringVFHome(ctx, att)
	case hoststate.StepLSP:
		return a.removeLSP(ctx, att, step.State == hoststate.StepIntent)
	case hoststate.StepIPAM:
		if att.IPAM == nil {
			return nil
		}
		return a.ipam.Del(ctx, a.ipamRequest(att, req))
	default:
		return fmt.Errorf("unknown step %q in attachment state", step.Name)
	}
}

// removeLSP deletes the attachment's LSP; undo then waits (bounded) for
// the DPU to confirm the unplug, so a following ADD on the same VF starts
// clean. When the create was never confirmed (unsure: its step only
// intended), its outcome may still be pending, and the delete is settled
// too.
func (a *Agent) removeLSP(ctx context.Context, att *hoststate.Attachment, unsure bool) error {
	if err := a.nb.DeleteOwnLSP(ctx, att.LSPName, att.AttachmentID); err != nil {
		return fmt.Errorf("delete logical switch port %s: %w", att.LSPName, err)
	}
	if unsure {
		if err := a.nb.SettleDeleted(ctx, att.LSPName, att.AttachmentID); err != nil {
			return fmt.Errorf("settle the delete of logical switch port %s: %w", att.LSPName, err)
		}
	}
	att.UnplugPending = true
	a.releaseClaim(ctx, att)
	return nil
}

// bringVFHome moves the VF back from the pod. A VF that is at home under
// neither its recorded name nor our alias (renamed after a reboot, or a
// crash between the rename and the alias) is looked up by its PCI address;
// one that exists nowhere (numvfs changed, netdev not back yet) is logged
// and its step dropped: DEL must not fail for ever on it, and the next ADD
// looks the VF up afresh.
func (a *Agent) bringVFHome(ctx context.Context, att *hoststate.Attachment) error {
	req := netns.MoveOutRequest{PodNetns: att.NetnsPath, IfName: att.Key.IfName, HostNetns: a.cfg.HostNetns, Original: original(att.VF)}
	err := a.plumber.MoveOut(ctx, req)
	if !errors.Is(err, netns.ErrLinkNotFound) {
		return err
	}
	vf, lerr := a.vfs.LookupVF(att.DeviceID)
	switch {
	case lerr == nil && vf.Netdev != "" && vf.Netdev != att.VF.HostNetdev:
		a.log.Info("VF found at home under another name by its PCI address; restoring it", "device_id", att.DeviceID,
			"found", vf.Netdev, "recorded", att.VF.HostNetdev)
		req.HomeName = vf.Netdev
		return a.plumber.MoveOut(ctx, req)
	case lerr == nil:
		return err // where sysfs says it is, and still not found: retry
	case errors.Is(lerr, sysfs.ErrNoDevice), errors.Is(lerr, sysfs.ErrNoNetdev):
		a.log.Warn("VF exists nowhere; dropping its move-out", "device_id", att.DeviceID, "recorded", att.VF.HostNetdev,
			"attachment", att.AttachmentID, "err", errors.Join(err, lerr))
		return nil
	default:
		return errors.Join(err, lerr)
	}
}

func original(vf hoststate.VF) netns.Original {
	o := netns.Original{Name: vf.HostNetdev, MTU: vf.MTU}
	if mac, err := net.ParseMAC(vf.MAC); err == nil {
		o.MAC = mac
	}
	return o
}
