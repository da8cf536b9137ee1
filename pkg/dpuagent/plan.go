package dpuagent

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// This file is the planner: a pure function from what SB asks of this
// chassis, what OVS holds and what the devlink table knows to the OVS
// changes to make and every port's status. It reads no database, no clock
// and logs nothing; the agent does that around it (reconcile.go) and turns
// its changes into transactions (apply.go).

// representors finds the representor of a host function (VF, SF or the PF
// itself); *devlink.Table is one.
type representors interface {
	LookupFunction(pfMAC net.HardwareAddr, fn devlink.Function) (devlink.Representor, error)
}

// planConfig is the part of the agent's configuration planning depends on.
type planConfig struct {
	plugger Plugger
	bridge  string
	// representorWait: how long a request whose representor is missing
	// stays PENDING before it turns ERROR.
	representorWait time.Duration
	// unplugDelay: how long an interface of ours stays unrequested before
	// it is unplugged (unless its binding was reported deleted).
	unplugDelay time.Duration
	// setFunctionMAC: a plug first sets the representor's function
	// hw_addr to the logical port's MAC (function_mac.go).
	setFunctionMAC bool
}

// memory is what the planner carries from one pass to the next. A pass
// returns the memory for the next; reconnectedAt, gone and plugCommitted
// are the agent's news for this pass.
type memory struct {
	// missingSince: when each request, per attachment, was first found
	// without its representor, so a late representor gets its grace
	// period once per request. (Not first_seen: a request found with its
	// representor has none.)
	missingSince map[string]seen
	// milestones: how far each request's current attachment has got, and
	// when (milestones.go).
	milestones map[string]milestones
	// plugCommitted: the plug and re-plug transactions that committed
	// after the previous pass planned them, by logical port, with the
	// attachment they plugged. A pass consumes them: the memory it returns
	// has none.
	plugCommitted map[string]seen
	// unwantedSince: when each interface of ours was first seen with no
	// request holding it (the unplug delay counts from there).
	unwantedSince map[string]time.Time
	// reconnectedAt: when the databases last answered again after a
	// break; unplug delays restart from there.
	reconnectedAt time.Time
	// gone: logical ports whose binding the server reported deleted, and
	// when. A mark lasts until its interface is unplugged, the port is
	// requested again, or the unplug delay has passed (the delay then
	// unplugs anyway): a deletion reported before the interface shows in
	// the OVS cache must not cost the delay.
	// the previous pass; their interfaces are unplugged at once. A pass
	// consumes them: the memory it returns has none.
	gone map[string]time.Time
	// reopening: representors whose network device vanished while
	// plugged, by netdev: their port was removed so that the next plug,
	// once ovs-vswitchd has applied the removal, opens the device afresh
	// (representorGone). A mark lasts until that plug is planned.
	reopening map[string]reopen
}

// reopen is a representor's removal for re-opening: for which logical
// port, when, and the Open_vSwitch next_cfg the removal asked
// ovs-vswitchd to reach.
type reopen struct {
	lsp string
	at  time.Time
	cfg int
}

// seen remembers when a request was first seen, per attachment.
type seen struct {
	attachment string
	at         time.Time
}

// planInput is everything one planning pass looks at.
type planInput struct {
	chassis chassisIdentity
	// requests: the parsed representor requests for this chassis, by
	// logical port.
	requests map[string]request
	ovs      ovsState
	reps     representors
	// functions reads devlink ports' function hw_addr; used with
	// cfg.setFunctionMAC only.
	functions functionPorts
	now       time.Time
	mem       memory
	cfg       planConfig
	// hosts and claims: on a DPU serving several hosts, which host each
	// devlink controller is and what the hosts claimed (claims.go).
	hosts  Hosts
	claims map[claimKey]claim
}

// plan is one pass's decisions.
type plan struct {
	// changes to make in OVS, in order: requests already holding their
	// representor first, then by logical port; unplugs last, by interface.
	changes  []change
	statuses map[string]*ovndpuv1.PortStatus // by logical port
	// wakeAt: when a pass is needed though no event may come (the end of
	// a representor grace period or of an unplug delay); zero for never.
	wakeAt time.Time
	// competing counts ports whose representor ovn-controller plugged
	// while this agent is the plugger; foreign, those whose representor
	// any other owner plugged.
	competing, foreign int
	mem                memory // for the next pass
	notes              []note // worth a log line
}

// note is a log line the planner asks for.
type note struct {
	level slog.Level
	msg   string
	args  []any
}

// changeKind says what a change does.
type changeKind int

const (
	// changePlug creates spec's Port and Interface in the bridge.
	changePlug changeKind = iota + 1
	// changeReplug removes the interface's port and creates spec's in one
	// transaction, so no ovn-installed of the old binding survives.
	changeReplug
	// changeUpdate brings an interface's external_ids and mtu_request in
	// line, touching no key ovn-dpu does not own.
	changeUpdate
	// changeUnplug removes a port from its bridge.
	changeUnplug
	// changeReopen removes the port of a representor whose network
	// device vanished while plugged, and increments next_cfg, so that
	// cur_cfg tells when ovs-vswitchd has applied it: the userspace
	// datapath keeps a vanished device open, and opens it afresh only for
	// a port it has seen removed.
	changeReopen
)

// bridgeRef names a bridge row.
type bridgeRef struct{ uuid, name string }

// change is the OVS work for one logical port (or one stale interface),
// as intent: apply turns it into operations. Kept apart so that a failing
// port can be retried alone.
type change struct {
	kind  changeKind
	lsp   string // whose status reflects the outcome
	iface string // the representor, as OVS interface (and port) name

	// plug, replug: the port to create, in bridge.
	bridge bridgeRef
	spec   ops.PortSpec

	// replug, unplug, reopen: the port to remove, from oldBridge.
	oldPort   string
	oldBridge bridgeRef

	// reopen: the Open_vSwitch row, whose next_cfg to increment.
	root string

	// plug, replug with --set-function-mac: set fnPort's function
	// hw_addr to fnMAC before writing anything to OVS; nil when it has
	// that MAC already.
	fnPort devlink.Port
	fnMAC  net.HardwareAddr

	// update: the interface row as planned against (apply builds the
	// mutation from it), the external_ids to set (new or changed values
	// only) and to remove, and, when setMTU, the mtu_request (nil clears).
	observed  *vswitchd.Interface
	setIDs    map[string]string
	removeIDs []string
	setMTU    bool
	mtu       *int
}

// what describes c for logs and the transaction comment.
func (c change) what() string {
	switch c.kind {
	case changePlug:
		return "plug " + c.iface
	case changeReplug:
		return "re-plug " + c.iface
	case changeUpdate:
		return "update " + c.iface
	case changeUnplug:
		return "unplug " + c.iface
	case changeReopen:
		return "unplug vanished " + c.iface
	}
	return fmt.Sprintf("change %d of %s", c.kind, c.iface)
}

// planPass is one level-triggered planning pass: the requests against
// what OVS holds and the devlink table knows. It is deterministic in its
// input and does not modify it.
func planPass(in planInput) plan {
	p := &planner{in: in, wanted: map[string]string{}, plugged: map[string]*vswitchd.Interface{}, reopened: map[string]bool{},
		evicted: map[string]bool{}, out: plan{
			statuses: make(map[string]*ovndpuv1.PortStatus, len(in.requests)),
			mem: memory{
				missingSince:  map[string]seen{},
				milestones:    make(map[string]milestones, len(in.requests)),
				unwantedSince: map[string]time.Time{},
				reconnectedAt: in.mem.reconnectedAt,
			},
		}}
	p.reps = make(map[string]devlink.Representor, len(in.requests))
	// A request that went away forgets its grace period.
	for lsp, s := range in.mem.missingSince {
		if _, ok := in.requests[lsp]; ok {
			p.out.mem.missingSince[lsp] = s
		}
	}
	for _, rr := range p.resolve() {
		p.planPort(rr)
	}
	p.planUnplugs()
	p.keepGone()
	p.keepReopening()
	return p.out
}

// planner is one planPass's working set.
type planner struct {
	in  planInput
	out plan
	// wanted maps each representor a request holds to that request's LSP;
	// interfaces of ours that no request holds are unplugged.
	wanted map[string]string
	// plugged maps each request found plugged in this pass to its
	// interface, for its milestones.
	plugged map[string]*vswitchd.Interface
	// reopened: representors whose re-open this pass finished (plugged
	// again); their marks end.
	reopened map[string]bool
	// reps: the representor each request resolved to, by logical port.
	reps map[string]devlink.Representor
	// evicted: interfaces of ours unplugged at once (keepExisting).
	evicted map[string]bool
}

// wake asks for a pass no later than t.
func (p *planner) wake(t time.Time) {
	if p.out.wakeAt.IsZero() || t.Before(p.out.wakeAt) {
		p.out.wakeAt = t
	}
}

func (p *planner) note(level slog.Level, msg string, args ...any) {
	p.out.notes = append(p.out.notes, note{level: level, msg: msg, args: args})
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
func (p *planner) resolve() []resolved {
	out := make([]resolved, 0, len(p.in.requests))
	for _, lsp := range slices.Sorted(maps.Keys(p.in.requests)) {
		rr := resolved{request: p.in.requests[lsp]}
		if rr.invalid == nil {
			rr.rep, rr.err = p.in.reps.LookupFunction(rr.PFMAC, rr.function())
		}
		out = append(out, rr)
	}
	holds := func(rr resolved) bool {
		iface := p.in.ovs.ifaces[rr.rep.Netdev]
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

// planPort decides what one request needs and what its status is, and
// brings its milestones up to date.
func (p *planner) planPort(rr resolved) {
	p.decide(rr)
	p.track(rr.request)
}

// decide plans one request's changes and sets its status.
func (p *planner) decide(rr resolved) {
	r, rep, err := rr.request, rr.rep, rr.err
	st := baseStatus(r)
	p.out.statuses[r.lsp] = st
	if r.invalid != nil {
		p.keepExisting(r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, r.invalid.Error())
		return
	}
	if err != nil && !errors.Is(err, devlink.ErrAmbiguous) {
		p.representorMissing(st, r, err)
		p.keepExisting(r) // after: keepable reads the grace period it started
		return
	}
	st.Representor = rep.Netdev
	p.reps[r.lsp] = rep
	if holder, taken := p.wanted[rep.Netdev]; taken {
		p.keepExisting(r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf(
			"representor %s (%s=%s %s) belongs to logical port %s; only one port can use it",
			rep.Netdev, vifplug.OptPFMAC, r.PFMAC, r.Function(), holder))
		return
	}
	if err != nil { // ambiguous: two netdevs claim this VF
		p.keepExisting(r)
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, p.lookupReason(err))
		return
	}
	iface := p.in.ovs.ifaces[rep.Netdev]
	if p.in.hosts.Enabled() {
		if v, why := p.checkClaim(r, rep.Controller, iface); v != claimHolds {
			p.refuse(st, r, why, v == claimAwaited)
			p.keepExisting(r) // after refuse: keepable reads its grace period
			return
		}
	}
	p.wanted[rep.Netdev] = r.lsp
	switch {
	case iface == nil:
		p.plugMissing(r, rep.Netdev, st)
	case !ours(iface):
		p.foreignInterface(r, iface, st)
	case iface.ExternalIDs[vifplug.IfaceID] != r.lsp || !p.in.ovs.inBridge(iface) || attachmentChanged(iface, r):
		p.planReplug(r, iface, st)
	default:
		p.observe(st, iface, r)
		if !p.representorGone(r, iface, st) {
			p.planUpdate(r, iface)
		}
	}
}

// observe derives st from the interface plugged for r (status.go) and
// notes it for r's milestones.
func (p *planner) observe(st *ovndpuv1.PortStatus, iface *vswitchd.Interface, r request) {
	observe(st, iface, r, p.in.chassis)
	p.plugged[r.lsp] = iface
}

// keepExisting holds on to the interface a request already has while the
// request cannot be resolved (bad options, representor briefly missing
// from the table during a devlink resync): never unplug working traffic
// for a problem that may be transient. An interface whose vanished device
// ovs-vswitchd still holds carries no traffic and never will again: its
// port is removed for re-opening (planReopen) — the VF's representor
// typically leaves devlink and comes back with it when the host
// re-creates its VFs.
//
// On a DPU serving several hosts only an interface proven to be this very
// request's is kept (keepable); any other one of the LSP is evicted:
// unplugged in this pass, since ovn-controller binds an interface by LSP
// name alone, and keeping it would carry the function to wherever someone
// else has put the LSP.
func (p *planner) keepExisting(r request) {
	for _, iface := range p.in.ovs.oursInBridge() {
		if iface.ExternalIDs[vifplug.IfaceID] == r.lsp {
			if p.in.hosts.Enabled() && !p.keepable(r, iface) {
				p.evicted[iface.Name] = true
				continue
			}
			p.wanted[iface.Name] = r.lsp
			if why, stale := netdevGone(iface); stale {
				p.planReopen(r, iface, why)
			}
		}
	}
}

// representorMissing makes a request whose representor is not in the
// devlink table PENDING for the grace period (the VF may be being created)
// and ERROR after it. Either way a later table change re-plans it.
func (p *planner) representorMissing(st *ovndpuv1.PortStatus, r request, err error) {
	p.missing(st, r, p.lookupReason(err))
}

// lookupReason is a lookup error as a port's reason. On a DPU serving
// several hosts it leaves out what the table knows besides — other hosts'
// PFs among it — since the reason goes to whoever wrote the LSP's owner.
func (p *planner) lookupReason(err error) string {
	var le *devlink.LookupError
	if p.in.hosts.Enabled() && errors.As(err, &le) {
		return le.Brief()
	}
	return err.Error()
}

// refuse sets the status of a request that may not be plugged (why):
// ERROR, after the grace period when a claim may still come.
func (p *planner) refuse(st *ovndpuv1.PortStatus, r request, why string, pending bool) {
	if !pending {
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, why)
		return
	}
	p.await(st, r, "waiting for the host's claim: ", why)
}

// missing makes r, whose representor is missing as what says, PENDING
// for the grace period and ERROR with what after it.
func (p *planner) missing(st *ovndpuv1.PortStatus, r request, what string) {
	p.await(st, r, "waiting for the representor: ", what)
}

// await makes r PENDING (waiting, then what) for the grace period and
// ERROR with what after it. The grace counts once per attachment: a
// representor that comes and goes does not make a port wait for ever.
func (p *planner) await(st *ovndpuv1.PortStatus, r request, waiting, what string) {
	now := p.in.now
	s, ok := p.out.mem.missingSince[r.lsp]
	if !ok || s.attachment != r.attachment {
		s = seen{attachment: r.attachment, at: now}
		p.out.mem.missingSince[r.lsp] = s
	}
	deadline := s.at.Add(p.in.cfg.representorWait)
	if now.Before(deadline) {
		p.wake(deadline)
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, waiting+what)
		return
	}
	setPhase(st, ovndpuv1.Phase_PHASE_ERROR, what)
}

// noSuchDevice is how OVS words ENODEV in an interface's error: "could not
// open network device r1 (No such device)".
const noSuchDevice = "(No such device)"

// netdevGone says why OVS shows iface's network device gone from the DPU,
// or "" when it does not. stale: ovs-vswitchd still has the vanished
// device open. The userspace (netdev) datapath keeps the port of a device
// that vanished, shows ifindex 0 and no error, and never opens the device
// again when it comes back, even in a transaction that deletes and
// re-creates the port; a port whose device could not be opened (error
// "... (No such device)", as the kernel datapath shows a vanished one)
// is opened by ovs-vswitchd itself once the device exists.
func netdevGone(iface *vswitchd.Interface) (why string, stale bool) {
	switch {
	case iface.Error != nil && strings.Contains(*iface.Error, noSuchDevice):
		return "OVS: " + *iface.Error, false
	case (iface.Error == nil || *iface.Error == "") && iface.Ifindex != nil && *iface.Ifindex == 0:
		return fmt.Sprintf("OVS shows interface %s with ifindex 0: it has no network device", iface.Name), true
	}
	return "", false
}

// representorGone handles an interface of r whose network device OVS
// shows gone (netdevGone): r is a missing representor (PENDING for the
// grace, then ERROR, naming it) and its interface stays — the request
// still holds it. When ovs-vswitchd still holds the vanished device, and
// the port is ours, the port is removed now (changeReopen) and plugged
// again once ovs-vswitchd has applied that (plugMissing): ovs-vswitchd
// then opens the device as soon as it is back. It reports whether it
// planned that removal.
func (p *planner) representorGone(r request, iface *vswitchd.Interface, st *ovndpuv1.PortStatus) bool {
	why, stale := netdevGone(iface)
	if why == "" {
		return false
	}
	p.missing(st, r, fmt.Sprintf("representor %s is gone from the DPU (%s)", iface.Name, why))
	return stale && p.planReopen(r, iface, why)
}

// planReopen removes the port of iface, an interface of ours in the
// bridge whose vanished device ovs-vswitchd still holds, and marks its
// representor for the plug that follows (plugMissing). It reports
// whether it did: never for another owner's interface, nor with
// --plugger ovn-controller.
func (p *planner) planReopen(r request, iface *vswitchd.Interface, why string) bool {
	ovs := p.in.ovs
	port := ovs.portOf[iface.UUID]
	if p.in.cfg.plugger != PluggerAgent || !ours(iface) || !ovs.inBridge(iface) || ovs.root == nil || port == nil {
		return false
	}
	p.out.changes = append(p.out.changes, change{kind: changeReopen, lsp: r.lsp, iface: iface.Name,
		oldPort: port.UUID, oldBridge: ovs.bridgeRefOf(port), root: ovs.root.UUID})
	p.markReopening(iface.Name, reopen{lsp: r.lsp, at: p.in.now, cfg: ovs.root.NextCfg + 1})
	p.note(slog.LevelWarn, "representor's network device vanished while plugged; removing its port so that ovs-vswitchd opens the device again when it is back",
		"logical_port", r.lsp, "interface", iface.Name, "ovs", why)
	return true
}

func (p *planner) markReopening(rep string, m reopen) {
	if p.out.mem.reopening == nil {
		p.out.mem.reopening = map[string]reopen{}
	}
	p.out.mem.reopening[rep] = m
}

// keepReopening carries the re-open marks no pass has finished into the
// next one: those of representors still without an interface, for a
// logical port still requested — one that cannot be resolved just now
// (its representor left devlink with the device) included.
func (p *planner) keepReopening() {
	in := p.in
	for rep, m := range in.mem.reopening {
		_, requested := in.requests[m.lsp]
		_, marked := p.out.mem.reopening[rep]
		if !requested || marked || p.reopened[rep] || in.ovs.ifaces[rep] != nil {
			continue
		}
		p.markReopening(rep, m)
	}
}

// plugMissing plans the plug of r's representor, which has no interface:
// a first plug; the second half of a re-open (representorGone), once
// ovs-vswitchd has removed the old port; or the restore of a port that
// someone else (an operator's ovs-vsctl del-port) removed from the bridge.
func (p *planner) plugMissing(r request, rep string, st *ovndpuv1.PortStatus) {
	in := p.in
	if in.cfg.plugger != PluggerAgent || in.ovs.bridge == nil {
		p.planPlug(r, rep, st, "")
		return
	}
	if m, ok := in.mem.reopening[rep]; ok && m.lsp == r.lsp {
		cfg := m.cfg
		if m.at.Before(in.mem.reconnectedAt) {
			cfg = 0 // the database may have been replaced meanwhile
		}
		if root := in.ovs.root; !in.ovs.vswitchdApplied(cfg) {
			setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf(
				"re-plugging representor %s, whose network device vanished: waiting for ovs-vswitchd to remove its old port (cur_cfg %d, want %d)",
				rep, root.CurCfg, max(cfg, root.NextCfg)))
			return
		}
		p.reopened[rep] = true
		p.planPlug(r, rep, st, " again (its network device vanished)")
		return
	}
	if m, ok := in.mem.milestones[r.lsp]; ok && m.attachment == r.attachment && m.iface == rep {
		// Once ovs-vswitchd has applied the removal (ovs-vsctl without
		// --no-wait asks it to), so that it opens the device afresh
		// rather than seeing nothing change.
		if !in.ovs.vswitchdApplied(0) {
			setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf(
				"restoring representor %s, whose port was removed from the bridge by someone else: waiting for ovs-vswitchd to apply the removal (cur_cfg %d, next_cfg %d)",
				rep, in.ovs.root.CurCfg, in.ovs.root.NextCfg))
			return
		}
		p.note(slog.LevelWarn, "plugged representor was removed from the bridge by someone else; restoring it",
			"logical_port", r.lsp, "interface", rep, "bridge", in.cfg.bridge)
		p.planPlug(r, rep, st, " again (its port was removed from the bridge by someone else)")
		return
	}
	p.planPlug(r, rep, st, "")
}

// planPlug plans the plug of rep for r; again says why it is plugged a
// second time, if it is.
func (p *planner) planPlug(r request, rep string, st *ovndpuv1.PortStatus, again string) {
	cfg, br := p.in.cfg, p.in.ovs.bridge
	if cfg.plugger == PluggerOVNController {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("waiting for ovn-controller to plug representor %s", rep))
		return
	}
	if br == nil {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("bridge %s does not exist yet (ovn-controller creates it)", cfg.bridge))
		return
	}
	fn, ok := p.functionMAC(r, st)
	if !ok {
		return
	}
	c := change{kind: changePlug, lsp: r.lsp, iface: rep,
		bridge: bridgeRef{uuid: br.UUID, name: br.Name}, spec: portSpec(r, rep)}
	c.fnPort, c.fnMAC = fn.port, fn.mac
	p.out.changes = append(p.out.changes, c)
	setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("%splugging representor %s into %s%s", fn.doing(), rep, cfg.bridge, again))
}

// planReplug recreates an interface of ours whose logical port or
// attachment changes, so that an ovn-installed=true left from the previous
// attachment can never signal the new one.
func (p *planner) planReplug(r request, iface *vswitchd.Interface, st *ovndpuv1.PortStatus) {
	ovs := p.in.ovs
	if p.in.cfg.plugger == PluggerOVNController || ovs.bridge == nil {
		p.planPlug(r, iface.Name, st, "")
		return
	}
	port := ovs.portOf[iface.UUID]
	if port == nil {
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf("interface %s has no port", iface.Name))
		return
	}
	fn, ok := p.functionMAC(r, st)
	if !ok {
		return
	}
	c := change{kind: changeReplug, lsp: r.lsp, iface: iface.Name,
		bridge: bridgeRef{uuid: ovs.bridge.UUID, name: ovs.bridge.Name}, spec: portSpec(r, iface.Name),
		oldPort: port.UUID, oldBridge: ovs.bridgeRefOf(port)}
	c.fnPort, c.fnMAC = fn.port, fn.mac
	p.out.changes = append(p.out.changes, c)
	setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf("%sre-plugging representor %s (was %s %q)",
		fn.doing(), iface.Name, vifplug.IfaceID, iface.ExternalIDs[vifplug.IfaceID]))
}

// planUpdate brings an interface of ours in line with its request
// (attachment id, MTU); nothing when it already is.
func (p *planner) planUpdate(r request, iface *vswitchd.Interface) {
	if p.in.cfg.plugger == PluggerOVNController {
		return
	}
	var set map[string]string
	for k, v := range r.interfaceIDs() {
		if cur, ok := iface.ExternalIDs[k]; !ok || cur != v {
			if set == nil {
				set = map[string]string{}
			}
			set[k] = v
		}
	}
	var remove []string
	if _, ok := iface.ExternalIDs[vifplug.IfaceAttachment]; ok && r.attachment == "" {
		remove = []string{vifplug.IfaceAttachment}
	}
	mtu := r.mtuRequest()
	setMTU := !equalInt(iface.MTURequest, mtu)
	if set == nil && remove == nil && !setMTU {
		return
	}
	c := change{kind: changeUpdate, lsp: r.lsp, iface: iface.Name, observed: iface, setIDs: set, removeIDs: remove, setMTU: setMTU}
	if setMTU {
		c.mtu = mtu
	}
	p.out.changes = append(p.out.changes, c)
}

// foreignInterface handles a representor that is already an interface we
// did not plug.
func (p *planner) foreignInterface(r request, iface *vswitchd.Interface, st *ovndpuv1.PortStatus) {
	byOVN := vifplug.PluggedByOVN(iface.ExternalIDs)
	if byOVN && p.in.cfg.plugger == PluggerOVNController {
		p.observe(st, iface, r)
		p.representorGone(r, iface, st) // observed only: ovn-controller's port
		return
	}
	where := "in OVS"
	if port := p.in.ovs.portOf[iface.UUID]; port != nil {
		where = "in bridge " + p.in.ovs.bridgeOf[port.UUID]
	}
	if byOVN {
		p.out.competing++
		setPhase(st, ovndpuv1.Phase_PHASE_ERROR, fmt.Sprintf(
			"representor %s is already %s, plugged by ovn-controller's representor plug provider (external_ids:%s=%s); "+
				"two pluggers race for it: run ovn-dpu-agent with --plugger %s",
			iface.Name, where, vifplug.IfaceOVNPlugged, vifplug.PlugTypeRepresentor, PluggerOVNController))
		p.note(slog.LevelError, "competing plugger: ovn-controller plugs representors itself; run ovn-dpu-agent with --plugger "+
			string(PluggerOVNController), "logical_port", r.lsp, "interface", iface.Name)
		return
	}
	p.out.foreign++
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
func (p *planner) planUnplugs() {
	in := p.in
	if in.cfg.plugger == PluggerOVNController {
		return
	}
	for _, iface := range in.ovs.oursInBridge() {
		if _, held := p.wanted[iface.Name]; held {
			continue
		}
		lsp := iface.ExternalIDs[vifplug.IfaceID]
		if in.chassis.uuid == "" {
			p.note(slog.LevelWarn, "own Chassis row absent; not unplugging", "chassis", in.chassis.name,
				"interface", iface.Name, "logical_port", lsp)
			continue
		}
		since, ok := in.mem.unwantedSince[iface.Name]
		if !ok || since.Before(in.mem.reconnectedAt) {
			since = in.now
		}
		p.out.mem.unwantedSince[iface.Name] = since
		if due := since.Add(in.cfg.unplugDelay); in.now.Before(due) && !p.gone(lsp) && !p.evicted[iface.Name] {
			p.wake(due)
			continue
		}
		port := in.ovs.portOf[iface.UUID] // in the bridge, so it has one
		p.out.changes = append(p.out.changes, change{kind: changeUnplug, lsp: lsp, iface: iface.Name,
			oldPort: port.UUID, oldBridge: in.ovs.bridgeRefOf(port)})
	}
}

// gone reports whether lsp's binding was reported deleted.
func (p *planner) gone(lsp string) bool {
	_, ok := p.in.mem.gone[lsp]
	return ok
}

// keepGone carries the deletion marks no unplug used this pass into the
// next one, until they expire.
func (p *planner) keepGone() {
	in := p.in
	for lsp, at := range in.mem.gone {
		_, requested := in.requests[lsp]
		unplugged := slices.ContainsFunc(p.out.changes, func(c change) bool { return c.kind == changeUnplug && c.lsp == lsp })
		if requested || unplugged || in.now.Sub(at) >= in.cfg.unplugDelay {
			continue
		}
		if p.out.mem.gone == nil {
			p.out.mem.gone = map[string]time.Time{}
		}
		p.out.mem.gone[lsp] = at
	}
}

func portSpec(r request, rep string) ops.PortSpec {
	return ops.PortSpec{Name: rep, ExternalIDs: r.interfaceIDs(), MTURequest: r.mtuRequest()}
}

func attachmentChanged(iface *vswitchd.Interface, r request) bool {
	cur := iface.ExternalIDs[vifplug.IfaceAttachment]
	return cur != "" && r.attachment != "" && cur != r.attachment
}

func equalInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// sortedIfaces orders interfaces by name, so plans do not depend on map
// iteration order.
func sortedIfaces(ifaces []*vswitchd.Interface) []*vswitchd.Interface {
	slices.SortFunc(ifaces, func(x, y *vswitchd.Interface) int { return cmp.Compare(x.Name, y.Name) })
	return ifaces
}
