package dpuagent

import (
	"context"
	"fmt"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// txnTimeout bounds one OVS transaction; a timeout is retried like any
// failure.
const txnTimeout = 30 * time.Second

// outcome of applying a pass's changes.
type outcome struct {
	failed    map[string]error // by logical port
	unplugged map[string]bool  // logical ports whose interface left the bridge
}

// apply writes every change in one transaction; if that fails, each change
// alone, so one bad port cannot hold back the others.
func (a *Agent) apply(ctx context.Context, p *pass) outcome {
	out := outcome{failed: map[string]error{}, unplugged: map[string]bool{}}
	if len(p.changes) == 0 {
		return out
	}
	err := a.transact(ctx, p.changes)
	if err != nil && len(p.changes) > 1 {
		a.log.Warn("batched OVS transaction failed; retrying port by port", "changes", len(p.changes), "err", err)
		for _, c := range p.changes {
			a.record(&out, c, a.transact(ctx, []change{c}))
		}
	} else {
		for _, c := range p.changes {
			a.record(&out, c, err)
		}
	}
	if len(out.failed) > 0 {
		wait := a.retry.failed(a.opts.now(), a.opts.retryMin, a.opts.retryMax)
		for lsp, err := range out.failed {
			out.failed[lsp] = fmt.Errorf("OVS transaction failed, retrying in %v: %w", wait, err)
		}
	} else {
		a.retry.succeeded()
	}
	return out
}

func (a *Agent) record(out *outcome, c change, err error) {
	if err != nil {
		a.metrics.txnErrors.Inc()
		a.log.Error("OVS change failed", "logical_port", c.lsp, "change", c.what, "err", err)
		out.failed[c.lsp] = err
		return
	}
	a.log.Info("OVS change applied", "logical_port", c.lsp, "change", c.what)
	if c.unplug {
		out.unplugged[c.lsp] = true
	}
}

func (a *Agent) transact(ctx context.Context, changes []change) error {
	txn := []ovsdb.Operation{ops.Comment(describeChanges(changes))}
	for _, c := range changes {
		txn = append(txn, c.ops...)
	}
	// libovsdb holds a transaction until it has reconnected; a bound keeps
	// one stuck server from freezing every port's status.
	ctx, cancel := context.WithTimeout(ctx, txnTimeout)
	defer cancel()
	_, err := ops.Transact(ctx, a.ovs, txn)
	return err
}

// publish stores this pass's statuses (logging each change) and retires
// ports that are no longer requested once their interface is gone.
func (a *Agent) publish(p *pass, out outcome) {
	for lsp, st := range p.statuses {
		if err := out.failed[lsp]; err != nil {
			setPhase(st, ovndpuv1.Phase_PHASE_PENDING, err.Error())
		}
		prev, seenBefore := a.store.Get(lsp)
		if a.store.Set(st) {
			if seenBefore {
				a.observeReady(prev, st)
			}
			a.log.Info("port status", "logical_port", lsp, "attachment", st.AttachmentId, "phase", st.Phase.String(),
				"reason", st.Reason, "representor", st.Representor)
		}
	}
	stillPlugged := a.stillPlugged(p, out)
	for _, st := range a.store.List() {
		lsp := st.LogicalPort
		if _, requested := p.statuses[lsp]; requested {
			continue
		}
		if iface, ok := stillPlugged[lsp]; ok {
			setPhase(st, ovndpuv1.Phase_PHASE_PLUGGED, a.unplugPendingReason(p, iface))
			a.store.Set(st)
			continue
		}
		reason := fmt.Sprintf("no longer requested on chassis %s (binding deleted, %s moved or the vif-plug options removed)",
			p.id.name, vifplug.OptRequestedChassis)
		a.store.Remove(lsp, reason)
		a.log.Info("port status", "logical_port", lsp, "attachment", st.AttachmentId, "phase", ovndpuv1.Phase_PHASE_UNPLUGGED.String(), "reason", reason)
	}
	for lsp := range a.firstSeen {
		if _, ok := p.reqs[lsp]; !ok {
			delete(a.firstSeen, lsp)
		}
	}
	for lsp := range a.readyObserved {
		if _, ok := p.reqs[lsp]; !ok {
			delete(a.readyObserved, lsp)
		}
	}
}

// stillPlugged maps logical ports to the interface that still carries them
// in the bridge after this pass: ours not unplugged yet, or, when
// ovn-controller plugs, its own.
func (a *Agent) stillPlugged(p *pass, out outcome) map[string]string {
	plugged := map[string]string{}
	for _, iface := range p.st.ifaces {
		if !p.st.inBridge(iface) {
			continue
		}
		lsp := iface.ExternalIDs[vifplug.IfaceID]
		byOVN := a.cfg.Plugger == PluggerOVNController && vifplug.PluggedByOVN(iface.ExternalIDs)
		if (ours(iface) && !out.unplugged[lsp]) || byOVN {
			plugged[lsp] = iface.Name
		}
	}
	return plugged
}

func (a *Agent) unplugPendingReason(p *pass, iface string) string {
	switch {
	case a.cfg.Plugger == PluggerOVNController:
		return fmt.Sprintf("no longer requested; waiting for ovn-controller to unplug %s", iface)
	case p.id.uuid == "":
		return fmt.Sprintf("no longer requested, but chassis %s is not registered in SB; %s stays plugged until it is", p.id.name, iface)
	default:
		return fmt.Sprintf("no longer requested; unplugging %s", iface)
	}
}

// observeReady records the plug latency of a port that became READY for
// the first time in this attachment, from when the agent first saw its
// binding. Ports found already READY (after a restart) say nothing about
// plug latency and are skipped by the caller.
func (a *Agent) observeReady(prev, st *ovndpuv1.PortStatus) {
	if st.Phase != ovndpuv1.Phase_PHASE_READY || prev.Phase == ovndpuv1.Phase_PHASE_READY {
		return
	}
	if att, ok := a.readyObserved[st.LogicalPort]; ok && att == st.AttachmentId {
		return
	}
	a.readyObserved[st.LogicalPort] = st.AttachmentId
	if stored, ok := a.store.Get(st.LogicalPort); ok && stored.FirstSeen != nil {
		a.metrics.plugLatency.Observe(a.opts.now().Sub(stored.FirstSeen.AsTime()).Seconds())
	}
}
