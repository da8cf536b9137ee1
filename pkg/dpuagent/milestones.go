package dpuagent

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// milestones are when the current attachment of a request passed each
// DPU-side step of an attach, on the agent's clock: the breakdown a host
// agent reports for a slow ADD, and the stage histograms. Each step is
// recorded once, the first time a pass sees it done, and never before the
// step ahead of it: a binding still claimed from a previous attachment, or
// a claim seen in SB before the re-plugged interface is in the OVS cache,
// must not make a stage look negative. So a READY request has them all,
// in order.
type milestones struct {
	attachment string
	// iface: the interface this attachment was last found plugged as
	// (plugMissing tells a port removed behind the agent's back by it).
	iface string
	// seen: the pass that first found the request.
	seen time.Time
	// plugged: the plug transaction committed (plugCommitted news) or,
	// when the agent did not plug it, the pass that first found the
	// interface in the bridge.
	plugged time.Time
	// claimed: the first pass with the interface plugged and the binding's
	// chassis this chassis.
	claimed time.Time
	// installed: the first pass after the claim with ovn-installed=true on
	// the interface.
	installed time.Time
}

// track brings r's milestones up to date with this pass and stamps them on
// its status. A request that went away, or whose attachment changed,
// starts over: the milestones describe one attachment.
func (p *planner) track(r request) {
	now := p.in.now
	m, ok := p.in.mem.milestones[r.lsp]
	if !ok || m.attachment != r.attachment {
		m = milestones{attachment: r.attachment, seen: now}
	}
	if c, ok := p.in.mem.plugCommitted[r.lsp]; ok && c.attachment == r.attachment {
		m.committed(c.at)
	}
	if iface := p.plugged[r.lsp]; iface != nil {
		m.iface = iface.Name
		m.observed(now, r.claimed, vifplug.OVNInstalled(iface.ExternalIDs))
	}
	p.out.mem.milestones[r.lsp] = m
	m.stamp(p.out.statuses[r.lsp])
}

// committed records the commit of the attachment's plug transaction. A
// request forgotten and seen again in between (it went away for a pass)
// has a later seen; the plug is not earlier than that.
func (m *milestones) committed(at time.Time) {
	if m.plugged.IsZero() {
		m.plugged = later(at, m.seen)
	}
}

// observed records what a pass that found the interface plugged saw.
func (m *milestones) observed(now time.Time, claimed, installed bool) {
	if m.plugged.IsZero() {
		m.plugged = now
	}
	if claimed && m.claimed.IsZero() {
		m.claimed = now
	}
	if installed && !m.claimed.IsZero() && m.installed.IsZero() {
		m.installed = now
	}
}

// stamp sets first_seen and the milestones reached on st.
func (m milestones) stamp(st *ovndpuv1.PortStatus) {
	st.FirstSeen = timestamp(m.seen)
	st.Plugged, st.Claimed, st.Installed = timestamp(m.plugged), timestamp(m.claimed), timestamp(m.installed)
}

// stageTime is how long one stage of an attach took.
type stageTime struct {
	stage string // the stage label of the histogram
	d     time.Duration
}

// stages are the durations of a READY attachment's stages, in order:
// between consecutive milestones, and from seen until ready, when READY
// was published.
func (m milestones) stages(ready time.Time) []stageTime {
	return []stageTime{
		{"seen_to_plugged", m.plugged.Sub(m.seen)},
		{"plugged_to_claimed", m.claimed.Sub(m.plugged)},
		{"claimed_to_installed", m.installed.Sub(m.claimed)},
		{"seen_to_ready", ready.Sub(m.seen)},
	}
}

// complete reports whether every milestone is reached, as for a READY
// request.
func (m milestones) complete() bool {
	return !m.seen.IsZero() && !m.plugged.IsZero() && !m.claimed.IsZero() && !m.installed.IsZero()
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ms is d in milliseconds, to the microsecond, for log fields.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
