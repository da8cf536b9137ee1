package dpuagent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// defaultTxnTimeout bounds one OVS transaction; a timeout is retried like
// any failure.
const defaultTxnTimeout = 30 * time.Second

// outcome of applying a pass's changes.
type outcome struct {
	failed    map[string]error // by logical port: the transaction failed
	rejected  map[string]error // by logical port: the plug could not even be expressed as operations
	unplugged map[string]bool  // logical ports whose interface left the bridge
	// plugged: logical ports whose plug or re-plug committed, with the
	// attachment plugged and when: their milestone, for the next pass.
	plugged map[string]seen
}

// apply writes the changes (see writeChanges), logs and counts each one's
// fate and schedules the retry of failed ones.
func (a *Agent) apply(ctx context.Context, changes []change) outcome {
	out := outcome{failed: map[string]error{}, rejected: map[string]error{}, unplugged: map[string]bool{}, plugged: map[string]seen{}}
	// --set-function-mac: the VF's MAC first, then the plug.
	if changes = a.setFunctionMACs(changes, out); len(changes) == 0 {
		return out
	}
	results := writeChanges(ctx, a.ovs(), a.log, a.opts.txnTimeout, changes)
	// The transactions' replies are in: what committed, committed by now.
	committed := a.opts.now()
	for i, res := range results {
		a.record(&out, changes[i], res, committed)
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

func (a *Agent) record(out *outcome, c change, res written, committed time.Time) {
	switch {
	case res.buildErr != nil:
		a.log.Error("plan OVS change", "logical_port", c.lsp, "change", c.what(), "err", res.buildErr)
		if c.kind == changePlug || c.kind == changeReplug {
			out.rejected[c.lsp] = res.buildErr
		}
	case res.txnErr != nil:
		a.metrics.txnErrors.Inc()
		a.log.Error("OVS change failed", "logical_port", c.lsp, "change", c.what(), "err", res.txnErr)
		out.failed[c.lsp] = res.txnErr
	default:
		a.log.Info("OVS change applied", "logical_port", c.lsp, "change", c.what())
		switch c.kind {
		case changeUnplug:
			out.unplugged[c.lsp] = true
		case changePlug, changeReplug:
			out.plugged[c.lsp] = seen{attachment: c.spec.ExternalIDs[vifplug.IfaceAttachment], at: committed}
		}
	}
}

// written is what became of one change: buildErr when its operations
// could not be built (it was not sent), else txnErr when the transaction
// carrying it failed.
type written struct{ buildErr, txnErr error }

// writeChanges builds every change's operations and writes them all in one
// commented transaction; if the server refuses it, each change alone, so
// one bad port cannot hold back the others. The results are in the order of changes.
func writeChanges(ctx context.Context, c client.Client, log *slog.Logger, timeout time.Duration, changes []change) []written {
	res := make([]written, len(changes))
	var batch []int // indexes of the changes that were built
	built := make([][]ovsdb.Operation, len(changes))
	for i, ch := range changes {
		if built[i], res[i].buildErr = changeOps(c, ch, namedID(i)); res[i].buildErr == nil {
			batch = append(batch, i)
		}
	}
	if len(batch) == 0 {
		return res
	}
	err := transact(ctx, c, timeout, changes, built, batch)
	// Port by port only when the server refused the batch: after a timeout
	// or a lost connection each retry would wait as long again.
	if err != nil && len(batch) > 1 && !ops.OutcomeUnknown(err) {
		log.Warn("batched OVS transaction failed; retrying port by port", "changes", len(batch), "err", err)
		for _, i := range batch {
			res[i].txnErr = transact(ctx, c, timeout, changes, built, []int{i})
		}
		return res
	}
	for _, i := range batch {
		res[i].txnErr = err
	}
	return res
}

// transact writes the changes at indexes in one transaction whose comment
// says what they are.
func transact(ctx context.Context, c client.Client, timeout time.Duration, changes []change, built [][]ovsdb.Operation, indexes []int) error {
	in := make([]change, 0, len(indexes))
	var txn []ovsdb.Operation
	for _, i := range indexes {
		in = append(in, changes[i])
		txn = append(txn, built[i]...)
	}
	txn = append([]ovsdb.Operation{ops.Comment(describeChanges(in))}, txn...)
	// libovsdb holds a transaction until it has reconnected; a bound keeps
	// one stuck server from freezing every port's status.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := ops.Transact(ctx, c, txn)
	return err
}

// changeOps turns one change into operations; namedID names the rows it
// creates, unique within the transaction.
func changeOps(c client.Client, ch change, namedID string) ([]ovsdb.Operation, error) {
	var txn []ovsdb.Operation
	if ch.kind == changeReplug || ch.kind == changeUnplug || ch.kind == changeReopen {
		del, err := ops.DeletePort(c, &vswitchd.Bridge{UUID: ch.oldBridge.uuid, Name: ch.oldBridge.name}, ch.oldPort)
		if err != nil {
			return nil, err
		}
		txn = append(txn, del...)
	}
	switch ch.kind {
	case changePlug, changeReplug:
		add, err := ops.AddPort(c, &vswitchd.Bridge{UUID: ch.bridge.uuid, Name: ch.bridge.name}, ch.spec, namedID)
		if err != nil {
			return nil, err
		}
		txn = append(txn, add...)
	case changeUpdate:
		ids, err := ops.SetExternalIDs(c, ch.observed, ch.setIDs, ch.removeIDs)
		if err != nil {
			return nil, err
		}
		txn = append(txn, ids...)
		if ch.setMTU {
			mtu, err := ops.SetMTURequest(c, ch.observed, ch.mtu)
			if err != nil {
				return nil, err
			}
			txn = append(txn, mtu...)
		}
	case changeUnplug:
	case changeReopen:
		bump, err := ops.BumpNextCfg(c, ch.root)
		if err != nil {
			return nil, err
		}
		txn = append(txn, bump...)
	default:
		return nil, fmt.Errorf("%s: unknown kind of change", ch.what())
	}
	if len(txn) == 0 {
		return nil, fmt.Errorf("%s: no operation to write", ch.what())
	}
	return txn, nil
}

// namedID gives each port in a transaction its own OVSDB named-uuid.
func namedID(n int) string { return fmt.Sprintf("rep%d", n) }

// describeChanges summarises a transaction for the database log.
func describeChanges(changes []change) string {
	whats := make([]string, 0, len(changes))
	for _, c := range changes {
		whats = append(whats, c.what())
	}
	if len(whats) > 8 {
		whats = append(whats[:8], fmt.Sprintf("and %d more", len(whats)-8))
	}
	return "ovn-dpu-agent: " + strings.Join(whats, ", ")
}

// publish stores this pass's statuses (logging each change) and retires
// ports that are no longer requested once their interface is gone.
func (a *Agent) publish(p *pass, out outcome) {
	for lsp, st := range p.statuses {
		if err := out.rejected[lsp]; err != nil {
			setPhase(st, ovndpuv1.Phase_PHASE_ERROR, err.Error())
		}
		if err := out.failed[lsp]; err != nil {
			setPhase(st, ovndpuv1.Phase_PHASE_PENDING, err.Error())
		}
		// Observed before Set streams it: whoever sees the port READY
		// finds its stages in the metrics already.
		if prev, seenBefore := a.store.Get(lsp); seenBefore {
			a.observeReady(prev, st)
		}
		if a.store.Set(st) {
			a.log.Info("port status", "logical_port", lsp, "attachment", st.AttachmentId, "node", st.OwnerNode,
				"pod", p.reqs[lsp].pod, "phase", st.Phase.String(), "reason", st.Reason, "representor", st.Representor)
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
		reason := fmt.Sprintf("no longer requested on chassis %s (binding deleted, %s moved or %s=%s removed)",
			p.id.name, vifplug.OptRequestedChassis, vifplug.OptPlugType, vifplug.PlugTypeRepresentor)
		a.store.Remove(lsp, reason)
		a.log.Info("port status", "logical_port", lsp, "attachment", st.AttachmentId, "node", st.OwnerNode,
			"phase", ovndpuv1.Phase_PHASE_UNPLUGGED.String(), "reason", reason)
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

// observeReady records the plug latency and the stages of a port that
// became READY for the first time in this attachment, and logs the
// stages. Ports found already READY (after a restart) say nothing about
// plug latency and are skipped by the caller.
func (a *Agent) observeReady(prev, st *ovndpuv1.PortStatus) {
	lsp := st.LogicalPort
	if st.Phase != ovndpuv1.Phase_PHASE_READY || prev.Phase == ovndpuv1.Phase_PHASE_READY {
		return
	}
	if att, ok := a.readyObserved[lsp]; ok && att == st.AttachmentId {
		return
	}
	a.readyObserved[lsp] = st.AttachmentId
	// The planner's milestones rather than st's timestamps: they keep the
	// monotonic clock reading, so a wall clock step cannot skew a stage.
	m, ok := a.mem.milestones[lsp]
	if !ok || m.attachment != st.AttachmentId || !m.complete() {
		a.log.Error("READY port without its milestones; stages not recorded", "logical_port", lsp, "attachment", st.AttachmentId)
		return
	}
	ready := a.opts.now()
	a.metrics.plugLatency.Observe(ready.Sub(m.seen).Seconds())
	attrs := []any{"logical_port", lsp, "attachment", st.AttachmentId}
	for _, s := range m.stages(ready) {
		a.metrics.stage.WithLabelValues(s.stage).Observe(s.d.Seconds())
		attrs = append(attrs, s.stage+"_ms", ms(s.d))
	}
	a.log.Debug("port READY: attach stages", attrs...)
}
