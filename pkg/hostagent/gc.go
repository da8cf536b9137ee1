package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// gc undoes this network's attachments that the runtime no longer lists
// in cni.dev/valid-attachments.
func (a *Agent) gc(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
	var conf struct {
		Name  string `json:"name"`
		Valid []struct {
			ContainerID string `json:"containerID"`
			IfName      string `json:"ifname"`
		} `json:"cni.dev/valid-attachments"`
	}
	if err := json.Unmarshal(req.Config, &conf); err != nil {
		return types.NewError(types.ErrDecodingFailure, "cannot decode the GC configuration", err.Error())
	}
	valid := map[hoststate.Key]bool{}
	for _, v := range conf.Valid {
		valid[hoststate.Key{ContainerID: v.ContainerID, IfName: v.IfName}] = true
	}
	// Unreadable records are reported, not skipped silently: GC goes on
	// with the readable ones, and its answer names the bad files.
	atts, err := a.state.ListByNetwork(conf.Name)
	if err != nil {
		log.Error("GC: attachment state unreadable; those attachments are left for DEL or an operator", "err", err)
	}
	errs := []error{err}
	for _, att := range atts {
		if valid[att.Key] {
			continue
		}
		log.Info("GC: removing stale attachment", "key", att.Key.String(), "attachment", att.AttachmentID)
		del := &ovndpuv1.CNIRequest{Command: "DEL", ContainerId: att.Key.ContainerID, Ifname: att.Key.IfName, Path: req.Path}
		errs = append(errs, a.del(ctx, del, log))
	}
	errs = append(errs, a.gcOrphanLSPs(ctx, conf.Name, valid, log))
	if err := errors.Join(errs...); err != nil {
		// Whatever GC could not remove yet stays recorded for the next GC.
		return types.NewError(types.ErrTryAgainLater, "GC could not remove every stale attachment of network "+conf.Name+" yet", err.Error())
	}
	return nil
}

// gcOrphanLSPs deletes this node's LSPs of network that neither a valid
// attachment nor any saved state accounts for: an ADD whose LSP create
// outcome was unknown when it was undone, or state lost with a disk.
func (a *Agent) gcOrphanLSPs(ctx context.Context, network string, valid map[hoststate.Key]bool, log *slog.Logger) error {
	if err := a.waitReady(ctx); err != nil {
		return err
	}
	lsps, err := a.nb.OwnLSPs(ctx, network)
	if err != nil {
		return err
	}
	var errs []error
	for _, lsp := range lsps {
		key := hoststate.Key{ContainerID: lsp.ExternalIDs[vifplug.ExtContainerID], IfName: lsp.ExternalIDs[vifplug.ExtIfName]}
		if valid[key] {
			continue
		}
		if _, err := a.state.Load(key); !errors.Is(err, hoststate.ErrNotFound) {
			continue // state exists (or is unreadable): DEL owns it
		}
		log.Info("GC: removing orphan logical switch port", "logical_port", lsp.Name, "attachment", lsp.ExternalIDs[vifplug.ExtAttachment])
		errs = append(errs, a.nb.DeleteOwnLSP(ctx, lsp.Name, lsp.ExternalIDs[vifplug.ExtAttachment]))
	}
	return errors.Join(errs...)
}
