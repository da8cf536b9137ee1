package dpuagent

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// attachWorld is one port's world at one pass: what SB and OVS show.
type attachWorld struct {
	at         time.Duration // after t0
	attachment string
	ovs        ovsState
	unclaimed  bool
	committed  map[string]seen // the agent's news from the previous pass
}

// passes threads the planner's memory through the worlds of lsp1 (VF 0)
// and returns each pass's plan.
func passes(plugger Plugger, worlds ...attachWorld) []plan {
	var mem memory
	var out []plan
	for _, w := range worlds {
		tc := planCase{plugger: plugger, reqs: requests(binding{lsp: "lsp1", attachment: w.attachment, vf: 0, unclaimed: w.unclaimed}),
			ovs: w.ovs, reps: reps(0), now: t0.Add(w.at)}
		in := tc.input()
		mem.plugCommitted = w.committed
		in.mem = mem
		p := planPass(in)
		out = append(out, p)
		mem = p.mem
	}
	return out
}

// times are a status's first_seen, plugged, claimed and installed after
// t0, -1 for unset.
type times [4]time.Duration

func timesOf(st *ovndpuv1.PortStatus) times {
	var out times
	for i, ts := range []*timestamppb.Timestamp{st.FirstSeen, st.Plugged, st.Claimed, st.Installed} {
		out[i] = -1
		if ts != nil {
			out[i] = ts.AsTime().Sub(t0)
		}
	}
	return out
}

func (tt times) String() string {
	return fmt.Sprintf("seen %v plugged %v claimed %v installed %v", tt[0], tt[1], tt[2], tt[3])
}

func checkTimes(t *testing.T, plans []plan, want []times) {
	t.Helper()
	for i, p := range plans {
		st := p.statuses["lsp1"]
		if got := timesOf(st); got != want[i] {
			t.Errorf("pass %d (%v %q):\n got  %v\n want %v", i, st.Phase, st.Reason, got, want[i])
		}
	}
}

const ms10 = 10 * time.Millisecond

var (
	noIface   = world(nil)
	bare      = world(nil, ourRow("rep0", "lsp1", "a1"))
	withFlows = world(nil, ourRow("rep0", "lsp1", "a1", installed...))
)

// TestMilestonesOfAnAttach follows one attachment from its binding to
// READY: each milestone at the pass that saw it, the plug at its commit.
func TestMilestonesOfAnAttach(t *testing.T) {
	commit := map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(ms10)}}
	plans := passes(PluggerAgent,
		attachWorld{at: 0, attachment: "a1", ovs: noIface, unclaimed: true},
		attachWorld{at: 2 * ms10, attachment: "a1", ovs: bare, unclaimed: true, committed: commit},
		attachWorld{at: 5 * ms10, attachment: "a1", ovs: bare},
		attachWorld{at: 8 * ms10, attachment: "a1", ovs: withFlows},
		attachWorld{at: time.Second, attachment: "a1", ovs: withFlows},
	)
	checkTimes(t, plans, []times{
		{0, -1, -1, -1},
		{0, ms10, -1, -1},
		{0, ms10, 5 * ms10, -1},
		{0, ms10, 5 * ms10, 8 * ms10},
		{0, ms10, 5 * ms10, 8 * ms10}, // steady: nothing moves
	})
	phases := []ovndpuv1.Phase{pending, plugged, plugged, ready, ready}
	for i, p := range plans {
		if got := p.statuses["lsp1"].Phase; got != phases[i] {
			t.Errorf("pass %d: %v, want %v", i, got, phases[i])
		}
	}
	if m := plans[3].mem.milestones["lsp1"]; !m.complete() {
		t.Errorf("READY with incomplete milestones %+v", m)
	}
	if plans[1].mem.plugCommitted != nil {
		t.Errorf("commit news kept past the pass that used it: %v", plans[1].mem.plugCommitted)
	}
}

// TestMilestonesKeepTheirOrder: steps seen out of order (ovn-installed
// before the claim reaches the SB monitor; a commit reported for a request
// seen again after it went away) never make a stage negative.
func TestMilestonesKeepTheirOrder(t *testing.T) {
	t.Run("installed before the claim counts from the claim", func(t *testing.T) {
		plans := passes(PluggerAgent,
			attachWorld{at: 0, attachment: "a1", ovs: withFlows, unclaimed: true},
			attachWorld{at: ms10, attachment: "a1", ovs: withFlows},
		)
		checkTimes(t, plans, []times{{0, 0, -1, -1}, {0, 0, ms10, ms10}})
	})
	t.Run("a claim is not a milestone before the interface is plugged", func(t *testing.T) {
		plans := passes(PluggerAgent,
			attachWorld{at: 0, attachment: "a1", ovs: noIface},
			attachWorld{at: ms10, attachment: "a1", ovs: noIface, committed: map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(ms10 / 2)}}},
			attachWorld{at: 2 * ms10, attachment: "a1", ovs: bare},
		)
		checkTimes(t, plans, []times{{0, -1, -1, -1}, {0, ms10 / 2, -1, -1}, {0, ms10 / 2, 2 * ms10, -1}})
	})
	t.Run("a commit is not before the request was seen", func(t *testing.T) {
		plans := passes(PluggerAgent, attachWorld{at: ms10, attachment: "a1", ovs: noIface,
			committed: map[string]seen{"lsp1": {attachment: "a1", at: t0}}})
		checkTimes(t, plans, []times{{ms10, ms10, -1, -1}})
	})
}

// TestMilestonesPerAttachment: a new attachment starts over, and news of
// another attachment's plug is not its own.
func TestMilestonesPerAttachment(t *testing.T) {
	replug := world(nil, ourRow("rep0", "lsp1", "a2"))
	plans := passes(PluggerAgent,
		attachWorld{at: 0, attachment: "a1", ovs: withFlows},
		attachWorld{at: ms10, attachment: "a2", ovs: withFlows, committed: map[string]seen{"lsp1": {attachment: "a1", at: t0}}},
		attachWorld{at: 3 * ms10, attachment: "a2", ovs: replug, committed: map[string]seen{"lsp1": {attachment: "a2", at: t0.Add(2 * ms10)}}},
	)
	checkTimes(t, plans, []times{{0, 0, 0, 0}, {ms10, -1, -1, -1}, {ms10, 2 * ms10, 3 * ms10, -1}})
	if len(plans[1].changes) != 1 || plans[1].changes[0].kind != changeReplug {
		t.Errorf("new attachment: changes %v, want the re-plug", plans[1].changes)
	}
	// A request that goes away forgets its milestones.
	in := planCase{ovs: withFlows}.input()
	in.mem = plans[2].mem
	if out := planPass(in); len(out.mem.milestones) != 0 {
		t.Errorf("milestones of a request that went away kept: %v", out.mem.milestones)
	}
}

// TestMilestonesWhenOVNControllerPlugs: the agent commits nothing, so
// plugged is the pass that first found ovn-controller's interface.
func TestMilestonesWhenOVNControllerPlugs(t *testing.T) {
	byOVN := world(nil, row{name: "rep0", ids: map[string]string{vifplug.IfaceID: "lsp1", vifplug.IfaceOVNPlugged: vifplug.PlugTypeRepresentor}, ofport: 9})
	plans := passes(PluggerOVNController,
		attachWorld{at: 0, attachment: "a1", ovs: noIface},
		attachWorld{at: ms10, attachment: "a1", ovs: byOVN, unclaimed: true},
	)
	checkTimes(t, plans, []times{{0, -1, -1, -1}, {0, ms10, -1, -1}})
}

// stageHarness is an agent reduced to what turns plans into published
// statuses, metrics and log lines: no database.
type stageHarness struct {
	t   *testing.T
	a   *Agent
	log *bytes.Buffer
	now time.Time
}

func newStageHarness(t *testing.T) *stageHarness {
	h := &stageHarness{t: t, log: &bytes.Buffer{}, now: t0}
	log := slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.a = &Agent{log: log, store: portstatus.NewStore(portstatus.WithLogger(quiet)), metrics: newMetrics(),
		readyObserved: map[string]string{}, opts: options{now: func() time.Time { return h.now }}}
	return h
}

// pass plans lsp1 in w and publishes the statuses as reconcile does, with
// w.committed as the news.
func (h *stageHarness) pass(w attachWorld) *ovndpuv1.PortStatus {
	h.now = t0.Add(w.at)
	p := &pass{id: dpu1, st: w.ovs, reqs: requests(binding{lsp: "lsp1", attachment: w.attachment, vf: 0, unclaimed: w.unclaimed})}
	tc := planCase{reqs: p.reqs, ovs: w.ovs, reps: reps(0), now: h.now}
	in := tc.input()
	in.mem = h.a.mem
	in.mem.plugCommitted = w.committed
	p.plan = planPass(in)
	h.a.mem = p.mem
	h.a.publish(p, outcome{})
	st, _ := h.a.store.Get("lsp1")
	return st
}

// histogram returns the stage's sample count and sum.
func (h *stageHarness) histogram(stage string) (uint64, float64) {
	h.t.Helper()
	var m dto.Metric
	if err := h.a.metrics.stage.WithLabelValues(stage).(prometheus.Metric).Write(&m); err != nil {
		h.t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// TestReadyObservesStagesOncePerAttachment: each attachment that turns
// READY adds one sample per stage and logs one line; staying READY adds
// nothing, and a port found READY (an agent restart) says nothing.
func TestReadyObservesStagesOncePerAttachment(t *testing.T) {
	h := newStageHarness(t)
	h.pass(attachWorld{at: 0, attachment: "a1", ovs: noIface, unclaimed: true})
	h.pass(attachWorld{at: 2 * ms10, attachment: "a1", ovs: bare, unclaimed: true,
		committed: map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(ms10)}}})
	h.pass(attachWorld{at: 5 * ms10, attachment: "a1", ovs: bare})
	st := h.pass(attachWorld{at: 8 * ms10, attachment: "a1", ovs: withFlows})
	if st.Phase != ready || timesOf(st) != (times{0, ms10, 5 * ms10, 8 * ms10}) {
		t.Fatalf("published %v with %v", st.Phase, timesOf(st))
	}
	h.pass(attachWorld{at: time.Second, attachment: "a1", ovs: withFlows})

	want := map[string]time.Duration{"seen_to_plugged": ms10, "plugged_to_claimed": 4 * ms10,
		"claimed_to_installed": 3 * ms10, "seen_to_ready": 8 * ms10}
	for stage, d := range want {
		if n, sum := h.histogram(stage); n != 1 || !near(sum, d.Seconds()) {
			t.Errorf("%s: %d samples summing to %vs, want one of %v", stage, n, sum, d)
		}
	}
	lines := strings.Count(h.log.String(), "port READY: attach stages")
	line := h.log.String()[strings.Index(h.log.String(), "port READY"):]
	line = line[:strings.IndexByte(line, '\n')]
	for _, field := range []string{"logical_port=lsp1", "attachment=a1", "seen_to_plugged_ms=10", "plugged_to_claimed_ms=40",
		"claimed_to_installed_ms=30", "seen_to_ready_ms=80"} {
		if !strings.Contains(line, field) {
			t.Errorf("stage log line %q lacks %s", line, field)
		}
	}
	if lines != 1 {
		t.Errorf("%d stage log lines, want 1", lines)
	}

	// A new attachment of the port is a new attach: one more sample.
	h.pass(attachWorld{at: 2 * time.Second, attachment: "a2", ovs: withFlows})
	h.pass(attachWorld{at: 3 * time.Second, attachment: "a2", ovs: world(nil, ourRow("rep0", "lsp1", "a2", installed...)),
		committed: map[string]seen{"lsp1": {attachment: "a2", at: t0.Add(2500 * time.Millisecond)}}})
	if n, _ := h.histogram("seen_to_ready"); n != 2 {
		t.Errorf("after a second attachment: %d samples, want 2", n)
	}

	// An agent that starts with the port READY observes nothing.
	h = newStageHarness(t)
	h.pass(attachWorld{at: 0, attachment: "a1", ovs: withFlows})
	for stage := range want {
		if n, _ := h.histogram(stage); n != 0 {
			t.Errorf("a port found READY added %d samples to %s", n, stage)
		}
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
