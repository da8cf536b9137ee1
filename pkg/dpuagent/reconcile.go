package dpuagent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// change is the OVS work for one logical port (or one stale interface),
// kept apart so that a failing port can be retried alone.
type change struct {
	lsp    string // whose status reflects the outcome
	what   string
	ops    []ovsdb.Operation
	unplug bool
}

// pass is one reconcile pass's working set.
type pass struct {
	id       chassisIdentity
	st       ovsState
	reqs     map[string]request
	statuses map[string]*ovndpuv1.PortStatus
	changes  []change
	// wanted maps each representor a request holds to that request's LSP;
	// interfaces of ours that no request holds are unplugged.
	wanted map[string]string
	// competing counts ports whose representor ovn-controller plugged
	// while this agent is the plugger; foreign, those whose representor
	// any other owner plugged.
	competing, foreign int
}

// reconcile is one level-triggered pass: desired state from SB and the
// devlink table, actual state from OVS, write the difference.
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
	for _, rr := range a.resolve(p) {
		a.planPort(p, rr)
	}
	a.planUnplugs(p)
	a.metrics.competing.Set(float64(p.competing))
	a.metrics.foreign.Set(float64(p.foreign))
	a.publish(p, a.apply(ctx, p))
	return true
}

func (a *Agent) newPass(ctx context.Context) (*pass, error) {
	p := &pass{id: a.identity(), statuses: map[string]*ovndpuv1.PortStatus{}, wanted: map[string]string{}}
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
	if err := a.sb.List(ctx, &pbs); err != nil {
		return nil, fmt.Errorf("read SB cache: %w", err)
	}
	reqs := make(map[string]request, len(pbs))
	for _, pb := range pbs {
		if !id.requestedHere(pb) {
			continue
		}
		if !vifplug.IsRepresentorRequest(pb.Options) {
			a.log.Debug("binding for this chassis is not a representor request; not ours", "logical_port", pb.LogicalPort,
				"vif_plug_type", pb.Options[vifplug.OptPlugType])
			continue
		}
		reqs[pb.LogicalPort] = parseRequest(pb, id)
	}
	return reqs, nil
}

// resolved is a request with its representor looked up.
type resolved struct {
	request
	rep devlink.Representor
	err error
}

// resolve looks every request's representor up and orders the requests so
// that those already holding their representor come first: a newcomer
// asking for the same VF (a typo, a stale LSP) must never take it from a
// working port.
func (a *Agent) resolve(p *pass) []resolved {
	out := make([]resolved, 0, len(p.reqs))
	for _, lsp := range slices.Sorted(maps.Keys(p.reqs)) {
		rr := resolved{request: p.reqs[lsp]}
		if rr.invalid == nil {
			rr.rep, rr.err = a.table.Lookup(rr.PFMAC, rr.VFNum)
		}
		out = append(out, rr)
	}
	holds := func(rr resolved) bool {
		iface := p.st.ifaces[rr.rep.Netdev]
		return rr.invalid == nil && rr.rep.Netdev != "" && iface != nil && ours(iface) && iface.ExternalIDs[vifplug.IfaceID] == rr.lsp
	}
	slices.SortStableFunc(out, func(x, y resolved) int {
		switch hx, hy := holds(x), holds(y); {
		case hx && !hy:
			return -1
		case hy && !hx:
			return 1
		}
		return 0
	})
	return out
}

// planPort decides what one request needs and what its status is.
func (a *Agent) planPort(p *pass, rr resolved) {
	r, rep, err := rr.request, rr.rep, rr.err
	st := baseStatus(r)
	p.statuses[r.lsp] = st
	if r.invalid != nil {
		a.keepExisting(p, r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, r.invalid.Error())
		return
	}
	if err != nil && !errors.Is(err, devlink.ErrAmbiguous) {
		a.keepExisting(p, r)
		a.representorMissing(st, r, err)
		return
	}
	st.Representor = rep.Netdev
	if holder, taken := p.wanted[rep.Netdev]; taken {
		a.keepExisting(p, r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf(
			"representor %s (pf-mac %s vf-num %d) belongs to logical port %s; only one port can use it",
			rep.Netdev, r.PFMAC, r.VFNum, holder))
		return
	}
	if err != nil { // ambiguous: two netdevs claim this VF
		a.keepExisting(p, r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, err.Error())
		return
	}
	p.wanted[rep.Netdev] = r.lsp
	iface := p.st.ifaces[rep.Netdev]
	switch {
	case iface == nil:
		a.planPlug(p, r, rep.Netdev, st)
	case !ours(iface):
		a.foreignInterface(p, r, iface, st)
	case iface.ExternalIDs[vifplug.IfaceID] != r.lsp || !p.st.inBridge(iface) || attachmentChanged(iface, r):
		a.planReplug(p, r, iface, st)
	default:
		a.planUpdate(p, r, iface)
		observe(st, iface, r, p.id)
	}
}

// keepExisting holds on to the interface a request already has while the
// request cannot be resolved (bad options, representor briefly missing
// from the table during a devlink resync): never unplug working traffic
// for a problem that may be transient.
func (a *Agent) keepExisting(p *pass, r request) {
	for _, iface := range p.st.oursInBridge() {
		if iface.ExternalIDs[vifplug.IfaceID] == r.lsp {
			p.wanted[iface.Name] = r.lsp
		}
	}
}

// representorMissing makes a request whose representor is not in the
// devlink table PENDING for the grace period (the VF may be being created)
// and ERROR after it. Either way a later table change re-plans it.
func (a *Agent) representorMissing(st *ovndpuv1.PortStatus, r request, err error) {
	now := a.opts.now()
	s, ok := a.firstSeen[r.lsp]
	if !ok || s.attachment != r.attachment {
		s = seen{attachment: r.attachment, at: now}
		a.firstSeen[r.lsp] = s
	}
	deadline := s.at.Add(a.opts.representorWait)
	if now.Before(deadline) {
		a.retry.at(deadline)
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, "waiting for the representor: "+err.Error())
		return
	}
	setPhase(st, ovndpuv1.Phase_PHASE_ERROR, err.Error())
}

func (a *Agent) planPlug(p *pass, r request, rep string, st *ovndpuv1.PortStatus) {
	if a.cfg.Plugger == PluggerOVNController {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("waiting for ovn-controller to plug representor %s", rep))
		return
	}
	if p.st.bridge == nil {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("bridge %s does not exist yet (ovn-controller creates it)", a.cfg.Bridge))
		return
	}
	add, err := ops.AddPort(a.ovs, p.st.bridge, a.portSpec(r, rep), namedID(len(p.changes)))
	if err != nil {
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, err.Error())
		return
	}
	p.changes = append(p.changes, change{lsp: r.lsp, what: "plug " + rep, ops: add})
	setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("plugging representor %s into %s", rep, a.cfg.Bridge))
}

// planReplug recreates an interface of ours whose logical port or
// attachment changes, so that an ovn-installed=true left from the previous
// attachment can never signal the new one.
func (a *Agent) planReplug(p *pass, r request, iface *vswitchd.Interface, st *ovndpuv1.PortStatus) {
	if a.cfg.Plugger == PluggerOVNController || p.st.bridge == nil {
		a.planPlug(p, r, iface.Name, st)
		return
	}
	del, err := a.deleteOps(p, iface)
	if err == nil {
		var add []ovsdb.Operation
		add, err = ops.AddPort(a.ovs, p.st.bridge, a.portSpec(r, iface.Name), namedID(len(p.changes)))
		del = append(del, add...)
	}
	if err != nil {
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, err.Error())
		return
	}
	p.changes = append(p.changes, change{lsp: r.lsp, what: "re-plug " + iface.Name, ops: del})
	setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("re-plugging representor %s (was %s %q)",
		iface.Name, vifplug.IfaceID, iface.ExternalIDs[vifplug.IfaceID]))
}

// planUpdate brings an interface of ours in line with its request
// (attachment id, MTU); nothing when it already is.
func (a *Agent) planUpdate(p *pass, r request, iface *vswitchd.Interface) {
	if a.cfg.Plugger == PluggerOVNController {
		return
	}
	want := a.portSpec(r, iface.Name)
	var remove []string
	if r.attachment == "" {
		remove = []string{vifplug.IfaceAttachment}
	}
	idOps, err := ops.SetExternalIDs(a.ovs, iface, want.ExternalIDs, remove)
	if err == nil {
		var mtuOps []ovsdb.Operation
		mtuOps, err = ops.SetMTURequest(a.ovs, iface, r.mtuRequest())
		idOps = append(idOps, mtuOps...)
	}
	if err != nil {
		a.log.Error("plan interface update", "logical_port", r.lsp, "interface", iface.Name, "err", err)
		return
	}
	if len(idOps) > 0 {
		p.changes = append(p.changes, change{lsp: r.lsp, what: "update " + iface.Name, ops: idOps})
	}
}

// foreignInterface handles a representor that is already an interface we
// did not plug.
func (a *Agent) foreignInterface(p *pass, r request, iface *vswitchd.Interface, st *ovndpuv1.PortStatus) {
	byOVN := vifplug.PluggedByOVN(iface.ExternalIDs)
	if byOVN && a.cfg.Plugger == PluggerOVNController {
		observe(st, iface, r, p.id)
		return
	}
	where := "in OVS"
	if port := p.st.portOf[iface.UUID]; port != nil {
		where = "in bridge " + p.st.bridgeOf[port.UUID]
	}
	if byOVN {
		p.competing++
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf(
			"representor %s is already %s, plugged by ovn-controller's representor plug provider (external_ids:%s=%s); "+
				"two pluggers race for it: run ovn-dpu-agent with --plugger ovn-controller",
			iface.Name, where, vifplug.IfaceOVNPlugged, vifplug.PlugTypeRepresentor))
		a.log.Error("competing plugger: ovn-controller plugs representors itself; run ovn-dpu-agent with --plugger ovn-controller",
			"logical_port", r.lsp, "interface", iface.Name)
		return
	}
	p.foreign++
	setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf(
		"representor %s is already %s as an interface ovn-dpu did not plug (%s %q, no external_ids:%s); "+
			"remove it (ovs-vsctl del-port %s) or free the VF",
		iface.Name, where, vifplug.IfaceID, iface.ExternalIDs[vifplug.IfaceID], vifplug.IfacePlugged, iface.Name))
}

// planUnplugs removes interfaces of ours that no request holds any more:
// at once when the server reported their binding deleted, otherwise once
// they have been unwanted for the unplug delay — a cache caught mid-replay
// after a reconnect looks exactly like deleted bindings, and working
// traffic must not pay for that. Never while this chassis's own
// Chassis row is absent: OVN clears requested_chassis then, and
// ovn-controller will re-register.
func (a *Agent) planUnplugs(p *pass) {
	if a.cfg.Plugger == PluggerOVNController {
		return
	}
	now, unwanted, gone := a.opts.now(), map[string]time.Time{}, a.goneBindings.take()
	for _, iface := range p.st.oursInBridge() {
		if _, held := p.wanted[iface.Name]; held {
			continue
		}
		lsp := iface.ExternalIDs[vifplug.IfaceID]
		if p.id.uuid == "" {
			a.log.Warn("own Chassis row absent; not unplugging", "chassis", p.id.name, "interface", iface.Name, "logical_port", lsp)
			continue
		}
		since, ok := a.unwantedSince[iface.Name]
		if !ok || since.Before(a.reconnectedAt()) {
			since = now
		}
		unwanted[iface.Name] = since
		if due := since.Add(a.opts.unplugDelay); now.Before(due) && !gone[lsp] {
			a.retry.at(due)
			continue
		}
		del, err := a.deleteOps(p, iface)
		if err != nil {
			a.log.Error("plan unplug", "interface", iface.Name, "err", err)
			continue
		}
		p.changes = append(p.changes, change{lsp: lsp, what: "unplug " + iface.Name, ops: del, unplug: true})
	}
	a.unwantedSince = unwanted
}

func (a *Agent) deleteOps(p *pass, iface *vswitchd.Interface) ([]ovsdb.Operation, error) {
	port := p.st.portOf[iface.UUID]
	if port == nil {
		return nil, fmt.Errorf("interface %s has no port", iface.Name)
	}
	return ops.DeletePort(a.ovs, &vswitchd.Bridge{UUID: p.st.bridgeUUID(port), Name: p.st.bridgeOf[port.UUID]}, port.UUID)
}

func (a *Agent) portSpec(r request, rep string) ops.PortSpec {
	return ops.PortSpec{Name: rep, ExternalIDs: vifplug.InterfaceIDs(r.lsp, r.attachment), MTURequest: r.mtuRequest()}
}

func attachmentChanged(iface *vswitchd.Interface, r request) bool {
	cur := iface.ExternalIDs[vifplug.IfaceAttachment]
	return cur != "" && r.attachment != "" && cur != r.attachment
}

// namedID gives each port in a transaction its own OVSDB named-uuid.
func namedID(n int) string { return fmt.Sprintf("rep%d", n) }

// describeChanges summarises a transaction for the database log.
func describeChanges(changes []change) string {
	whats := make([]string, 0, len(changes))
	for _, c := range changes {
		whats = append(whats, c.what)
	}
	if len(whats) > 8 {
		whats = append(whats[:8], fmt.Sprintf("and %d more", len(whats)-8))
	}
	return "ovn-dpu-agent: " + strings.Join(whats, ", ")
}
