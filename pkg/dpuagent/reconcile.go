package dpuagent

import (
	"context"
	"fmt"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// pass is one reconcile pass's working set: what was read and what the
// planner decided.
type pass struct {
	id   chassisIdentity
	st   ovsState
	reqs map[string]request
	plan
}

// reconcile is one level-triggered pass: read SB, OVS (from the client
// caches) and the devlink table, plan (plan.go), write the difference
// (apply.go) and publish the statuses.
// It reports whether it ran: a pass is skipped while a database is
// disconnected.
func (a *Agent) reconcile(ctx context.Context) bool {
	if !a.dbsUp.Load() {
		// A stale cache would make us unplug what was merely not replayed
		// yet; the reconnect kicks a fresh pass.
		a.log.Debug("database disconnected; reconcile deferred")
		return false
	}
	a.refreshChassisUUID(ctx)
	p, err := a.newPass(ctx)
	if err != nil {
		a.log.Error("reconcile: read caches", "err", err)
		a.retry.failed(a.opts.now(), a.opts.retryMin, a.opts.retryMax)
		return false
	}
	a.readiness.update(a.log, a.metrics.readiness, checkReadiness(p.st, a.cfg.Bridge, a.cfg.Plugger))
	mem := a.mem
	mem.reconnectedAt, mem.gone = a.reconnectedAt(), a.goneBindings.takeInto(mem.gone)
	p.plan = planPass(planInput{chassis: p.id, requests: p.reqs, ovs: p.st, reps: a.table, functions: a.table, now: a.opts.now(), mem: mem,
		cfg: a.planConfig(), hosts: a.cfg.Hosts, claims: a.claims.snapshot()})
	a.mem = p.mem
	for _, n := range p.notes {
		a.log.Log(ctx, n.level, n.msg, n.args...)
	}
	if !p.wakeAt.IsZero() {
		a.retry.at(p.wakeAt)
	}
	a.metrics.competing.Set(float64(p.competing))
	a.metrics.foreign.Set(float64(p.foreign))
	out := a.apply(ctx, p.changes)
	a.mem.plugCommitted = out.plugged // news for the next pass
	if a.cfg.Hosts.Enabled() {
		a.forgetUnplugged(p.changes, p.st, out)
	}
	a.publish(p, out)
	return true
}

func (a *Agent) planConfig() planConfig {
	return planConfig{plugger: a.cfg.Plugger, bridge: a.cfg.Bridge,
		representorWait: a.opts.representorWait, unplugDelay: a.opts.unplugDelay, setFunctionMAC: a.cfg.SetFunctionMAC}
}

func (a *Agent) newPass(ctx context.Context) (*pass, error) {
	p := &pass{id: a.identity()}
	var err error
	if p.st, err = a.readOVS(ctx); err != nil {
		return nil, err
	}
	if p.reqs, err = a.requests(ctx, p.id); err != nil {
		return nil, err
	}
	return p, nil
}

// requests lists what SB asks of this chassis, keyed by logical port.
func (a *Agent) requests(ctx context.Context, id chassisIdentity) (map[string]request, error) {
	var pbs []*sbdb.PortBinding
	if err := a.sb().List(ctx, &pbs); err != nil {
		return nil, fmt.Errorf("read SB cache: %w", err)
	}
	reqs := make(map[string]request, len(pbs))
	switches := map[string]string{} // datapath UUID -> NB logical switch UUID
	for _, pb := range pbs {
		if !id.requestedHere(pb) {
			continue
		}
		if !vifplug.IsRepresentorRequest(pb.Options) {
			a.log.Debug("binding for this chassis is not a representor request; not ours", "logical_port", pb.LogicalPort,
				"vif_plug_type", pb.Options[vifplug.OptPlugType])
			continue
		}
		r := parseRequest(pb, id)
		if a.cfg.Hosts.Enabled() {
			r.logicalSwitch = a.logicalSwitchOf(ctx, pb.Datapath, switches)
		}
		reqs[pb.LogicalPort] = r
	}
	return reqs, nil
}

// dpLogicalSwitch is the Datapath_Binding external_ids key where northd
// names the NB Logical_Switch (by UUID) a datapath stands for.
const dpLogicalSwitch = "logical-switch"

// logicalSwitchOf is the NB Logical_Switch UUID of SB datapath dp, from
// the cache (memo holds those already read this pass); "" when unknown.
func (a *Agent) logicalSwitchOf(ctx context.Context, dp string, memo map[string]string) string {
	if ls, ok := memo[dp]; ok {
		return ls
	}
	row := &sbdb.DatapathBinding{UUID: dp}
	if err := a.sb().Get(ctx, row); err == nil {
		memo[dp] = row.ExternalIDs[dpLogicalSwitch]
	}
	return memo[dp]
}
