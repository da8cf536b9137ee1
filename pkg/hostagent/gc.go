package hostagent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// validAttachmentsKey is where CNI GC lists the attachments still in use.
const validAttachmentsKey = "cni.dev/valid-attachments"

// gcConfig is what GC reads of its configuration.
type gcConfig struct {
	Name  string            `json:"name"`
	Valid []validAttachment `json:"cni.dev/valid-attachments"`
}

// validAttachment is one entry of cni.dev/valid-attachments.
type validAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// gc undoes this network's attachments that the runtime no longer lists
// in cni.dev/valid-attachments, then forwards GC to the IPAM delegate. The
// runtime's list predates this call, so GC leaves alone every attachment
// an operation holds (an ADD in flight) and every one created since it
// began; only this node's records and LSPs of this network are touched.
func (a *Agent) gc(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
	began := a.opts.now()
	var conf gcConfig
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
		if !valid[att.Key] {
			errs = append(errs, a.gcAttachment(ctx, att.Key, began, req, log))
		}
	}
	errs = append(errs, a.gcOrphanLSPs(ctx, conf.Name, valid, log))
	if err == nil { // an unreadable record may hold a lease: keep them all
		errs = append(errs, a.gcIPAM(ctx, req, conf, valid))
	}
	if err := errors.Join(errs...); err != nil {
		// Whatever GC could not remove yet stays recorded for the next GC.
		return types.NewError(types.ErrTryAgainLater, "GC could not remove every stale attachment of network "+conf.Name+" yet", err.Error())
	}
	return nil
}

// gcAttachment removes one stale attachment, unless an operation holds its
// key or it was (re)created since GC began.
func (a *Agent) gcAttachment(ctx context.Context, key hoststate.Key, began time.Time, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
	unlock, ok := a.locks.TryLock(key)
	if !ok {
		log.Info("GC: attachment busy (an ADD or DEL in flight); left alone", "key", key.String())
		return nil
	}
	defer unlock()
	att, err := a.state.Load(key) // again, under the lock
	switch {
	case errors.Is(err, hoststate.ErrNotFound):
		return nil
	case err != nil:
		return err
	case !att.CreatedAt.Before(began):
		log.Info("GC: attachment created since GC began; left alone", "key", key.String(), "attachment", att.AttachmentID)
		return nil
	}
	log.Info("GC: removing stale attachment", "key", key.String(), "attachment", att.AttachmentID)
	del := &ovndpuv1.CNIRequest{Command: "DEL", ContainerId: key.ContainerID, Ifname: key.IfName, Path: req.Path}
	dctx, cancel := context.WithTimeout(ctx, a.opts.delTimeout+30*time.Second)
	defer cancel()
	return a.delLocked(dctx, key, del, log)
}

// gcOrphanLSPs deletes this node's LSPs of network that neither a valid
// attachment nor any saved state accounts for: an ADD whose LSP create
// outcome was unknown when it was undone, or state lost with a disk. An
// ADD saves its state before writing its LSP, so no in-flight ADD's LSP
// is an orphan.
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

// gcIPAM forwards GC to the network's IPAM delegate. A delegate such as
// host-local frees every lease not on the list it is given, so the list is
// the runtime's plus every attachment this agent still records — which
// includes every ADD in flight, since an ADD records itself before its
// IPAM ADD — built and used while no IPAM ADD runs (ipamGate).
func (a *Agent) gcIPAM(ctx context.Context, req *ovndpuv1.CNIRequest, conf gcConfig, valid map[hoststate.Key]bool) error {
	ipamType, err := netconf.IPAMType(req.Config)
	if err != nil || ipamType == "" {
		return err
	}
	a.ipamGate.Lock()
	defer a.ipamGate.Unlock()
	atts, err := a.state.ListByNetwork(conf.Name)
	if err != nil {
		return err
	}
	keep := map[hoststate.Key]bool{}
	for k := range valid {
		keep[k] = true
	}
	for _, att := range atts {
		keep[att.Key] = true
	}
	netConf, err := withValidAttachments(req.Config, keep)
	if err != nil {
		return err
	}
	return a.ipam.GC(ctx, ipam.Request{PluginType: ipamType, NetConf: netConf, Path: filepath.SplitList(req.Path)})
}

// withValidAttachments is the GC configuration with its list replaced.
func withValidAttachments(config []byte, keep map[hoststate.Key]bool) ([]byte, error) {
	var conf map[string]json.RawMessage
	if err := json.Unmarshal(config, &conf); err != nil {
		return nil, err
	}
	list := []validAttachment{} // never null: an empty list means "none valid"
	for k := range keep {
		list = append(list, validAttachment{k.ContainerID, k.IfName})
	}
	slices.SortFunc(list, func(a, b validAttachment) int { // same input, same config
		return cmp.Or(cmp.Compare(a.ContainerID, b.ContainerID), cmp.Compare(a.IfName, b.IfName))
	})
	raw, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	conf[validAttachmentsKey] = raw
	return json.Marshal(conf)
}
