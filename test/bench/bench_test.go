package bench

import (
	"context"
	"encoding/xml"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestSmoke runs the whole bench — the code `make bench` runs — with tiny
// parameters, so that it cannot rot: one attach per method, bursts of 2,
// a few foreign bindings. Nothing is asserted about speed.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real-OVN bed")
	}
	testbed.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var progress strings.Builder
	res, err := Run(ctx, Config{Samples: 1, Bursts: []int{2}, Foreign: 20, ForeignChassis: 2, Progress: &progress})
	t.Log(progress.String())
	if err != nil {
		t.Fatal(err)
	}
	var report strings.Builder
	res.WriteReport(&report)
	t.Log("\n" + report.String())
	for _, m := range singleOrder {
		if len(res.Single[m]) != 1 || res.Single[m][0] <= 0 {
			t.Errorf("single %s: %v, want one positive sample", m, res.Single[m])
		}
	}
	if len(res.SingleStages) != 1 {
		t.Errorf("ADD stages of the single attach: %v, want one line", res.SingleStages)
	}
	if len(res.Bursts) != 1 {
		t.Fatalf("bursts: %+v", res.Bursts)
	}
	for _, m := range []string{Ours, OVNPlug, CMSPlug, ExecFloor} {
		if len(res.Bursts[0].Add[m]) != 2 || len(res.Bursts[0].Del[m]) != 2 {
			t.Errorf("burst %s: ADD %v, DEL %v; want 2 each", m, res.Bursts[0].Add[m], res.Bursts[0].Del[m])
		}
	}
	if r := res.RSS; r.HostBurst == 0 || r.DPUBurst == 0 || r.DPUForeign == 0 {
		t.Errorf("RSS not read: %+v", r)
	}
	if !res.Foreign.Resolved {
		t.Errorf("foreign bindings' requested_chassis is not a registered chassis")
	}
	for _, want := range []string{"Single attach", "ADD stages", "Bursts", "Memory", "Targets", "Moonshot"} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
	path := filepath.Join(t.TempDir(), "plot", "bench.svg")
	if err := res.WriteSVG(path); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, path)
}

// sampleLine is the host agent's ADD stages line in slog's text format.
const sampleLine = `time=2026-12-01T12:44:42.123Z level=INFO msg="ADD stages" command=ADD container_id=c1 ifname=eth0 ` +
	`logical_port=x attachment=y plugin_started_ms=-8.1 vf_resolved_ms=0.4 ipam_done_ms=6.25 lsp_committed_ms=9 ` +
	`vf_configured_ms=12.5 ready_ms=40.75 answered_ms=41 dpu_seen_to_plugged_ms=3.5 dpu_plugged_to_claimed_ms=10 ` +
	`dpu_claimed_to_installed_ms=12.125 new_stage_ms=1.5 not_ms=abc`

func TestParseSlogLine(t *testing.T) {
	attrs := parseSlogLine(sampleLine)
	for k, want := range map[string]string{"msg": "ADD stages", "command": "ADD", "container_id": "c1",
		"level": "INFO", "plugin_started_ms": "-8.1", "dpu_claimed_to_installed_ms": "12.125"} {
		if attrs[k] != want {
			t.Errorf("%s = %q, want %q", k, attrs[k], want)
		}
	}
	st := stageValues(attrs)
	want := map[string]float64{"plugin_started_ms": -8.1, "vf_resolved_ms": 0.4, "ipam_done_ms": 6.25, "lsp_committed_ms": 9,
		"vf_configured_ms": 12.5, "ready_ms": 40.75, "answered_ms": 41, "dpu_seen_to_plugged_ms": 3.5,
		"dpu_plugged_to_claimed_ms": 10, "dpu_claimed_to_installed_ms": 12.125, "new_stage_ms": 1.5}
	if len(st) != len(want) {
		t.Errorf("stages %v, want %v", st, want)
	}
	for k, v := range want {
		if got, ok := st[k]; !ok || math.Abs(got-v) > 1e-9 {
			t.Errorf("%s = %v (%v), want %v", k, got, ok, v)
		}
	}

	// Quotes with spaces, escapes and = inside; a duration; a stray word.
	attrs = parseSlogLine(`time=t level=ERROR msg="CNI request failed" err="a \"b\" c=d" stray duration=1.5ms x=`)
	if attrs["err"] != `a "b" c=d` || attrs["duration"] != "1.5ms" || attrs["msg"] != "CNI request failed" {
		t.Errorf("attrs %q", attrs)
	}
}

func TestParseAgentLog(t *testing.T) {
	log := strings.Join([]string{
		`time=t level=INFO msg="ovn-dpu-host-agent serving" socket=/x`,
		`time=t level=INFO msg="logical switch port requested" command=ADD container_id=c1 ifname=eth0 switch=bench`,
		sampleLine,
		`time=t level=INFO msg="CNI request done" command=ADD container_id=c1 ifname=eth0 duration=41.5ms`,
		// An agent without the stages line: agent-side from "CNI request done".
		`time=t level=INFO msg="CNI request done" command=ADD container_id=c2 ifname=eth0 duration=52.25ms`,
		`time=t level=INFO msg="CNI request done" command=DEL container_id=c2 ifname=eth0 duration=9ms`,
		// A stages line with fewer stages, one logged as a duration.
		`time=t level=INFO msg="ADD stages" command=ADD container_id=c3 ifname=eth0 vf_resolved_ms=1.5 ready_ms=30ms`,
		`garbage line`, ``,
	}, "\n")
	path := filepath.Join(t.TempDir(), "host-agent.stderr")
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	lines, err := parseAgentLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if d, from, ok := lines["c1"].answered(); !ok || d != 41*time.Millisecond || !strings.Contains(from, "answered_ms") {
		t.Errorf("c1 answered %v %q %v, want 41ms from answered_ms", d, from, ok)
	}
	if d, from, ok := lines["c2"].answered(); !ok || d != 52250*time.Microsecond || !strings.Contains(from, "CNI request done") {
		t.Errorf("c2 answered %v %q %v, want 52.25ms from CNI request done", d, from, ok)
	}
	if st := lines["c3"].stages; st["vf_resolved_ms"] != 1.5 || st["ready_ms"] != 30 || len(st) != 2 {
		t.Errorf("c3 stages %v", st)
	}
	if _, _, ok := lines["c3"].answered(); ok {
		t.Errorf("c3 has no answer time")
	}
}

func TestCnitoolContainerID(t *testing.T) {
	// What cnitool v1.3 names the attachment in /var/run/netns/pod-a.
	if got := cnitoolContainerID("pod-a"); !strings.HasPrefix(got, "cnitool-") || len(got) != len("cnitool-")+20 {
		t.Errorf("container ID %q", got)
	}
}

func TestQuantile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if median(ds) != 3 || quantile(ds, 0) != 1 || quantile(ds, 1) != 5 || p90(ds) != 4 {
		t.Errorf("median %v p90 %v", median(ds), p90(ds))
	}
	if quantile(nil, 0.5) != 0 || !math.IsNaN(medianF(nil)) || medianF([]float64{1, 3}) != 2 {
		t.Error("empty or even quantiles wrong")
	}
}

func fakeResult() *Result {
	ms := func(vs ...float64) []time.Duration {
		var out []time.Duration
		for _, v := range vs {
			out = append(out, time.Duration(v*float64(time.Millisecond)))
		}
		return out
	}
	return &Result{
		Config: Config{Samples: 3, Bursts: []int{4}}, Machine: "test <machine> & co", Started: time.Now(), Took: time.Second,
		Warmup: map[string]time.Duration{Ours: time.Second},
		Single: map[string][]time.Duration{Ours: ms(100, 110, 120), OursAgent: ms(50, 60, 70), OVNPlug: ms(40, 45, 50),
			CMSPlug: ms(55, 60, 65), ExecFloor: ms(5, 6, 7)},
		AgentSideFrom: "answered_ms",
		SingleStages:  []map[string]float64{{"plugin_started_ms": -8, "vf_resolved_ms": 1, "answered_ms": 60}},
		BurstStages:   map[int][]map[string]float64{4: {{"vf_resolved_ms": 3, "ready_ms": 90}}},
		Bursts: []BurstResult{{N: 4, GoneAfterLastDel: 30 * time.Millisecond,
			Add: map[string][]time.Duration{Ours: ms(100, 200, 300, 400), OVNPlug: ms(50, 60, 70, 80), CMSPlug: ms(90, 100, 110, 120), ExecFloor: ms(10, 20, 30, 40)},
			Del: map[string][]time.Duration{Ours: ms(50, 60, 70, 80), OVNPlug: ms(50, 60, 70, 80), CMSPlug: ms(90, 100, 110, 120), ExecFloor: ms(10, 20, 30, 40)}}},
		RSS: RSSResult{HostBurst: 30 << 20, DPUBurst: 20 << 20, BurstN: 4},
	}
}

func TestTargets(t *testing.T) {
	got := map[string]bool{}
	for _, tg := range fakeResult().Targets() {
		got[tg.What] = tg.Met
	}
	want := map[string]bool{
		"agent-side single-attach p50 60.0ms ≤ 1.0 × CMS-side plug p50 60.0ms (1.00×)":                       true,
		"agent-side single-attach p50 60.0ms ≤ 1.0 × OVN's own plug p50 45.0ms (1.33×)":                      false,
		"burst of 4 ADDs all returned 400.0ms ≤ CMS-side plug 120.0ms + exec floor 40.0ms = 160.0ms (2.50×)": false,
		"burst of 4 DELs all returned 80.0ms ≤ CMS-side plug 120.0ms + exec floor 40.0ms = 160.0ms (0.50×)":  true,
		"after the last of 4 DELs returned, every port gone from br-int and NB within 200.0ms: 30.0ms later": true,
		"host agent RSS ≤ 40 MiB at 4 attachments: 30.0 MiB":                                                 true,
		"burst of 4 DELs all returned 80.0ms ≤ OVN's own plug 80.0ms + exec floor 40.0ms = 120.0ms (0.67×)":  true,
		"burst of 4 ADDs all returned 400.0ms ≤ OVN's own plug 80.0ms + exec floor 40.0ms = 120.0ms (3.33×)": false,
	}
	for what, met := range want {
		if m, ok := got[what]; !ok || m != met {
			t.Errorf("target %q: met %v (present %v), want %v; have %v", what, m, ok, met, got)
		}
	}
}

func TestReportAndSVG(t *testing.T) {
	res := fakeResult()
	var b strings.Builder
	res.WriteReport(&b)
	for _, want := range []string{"ours whole (cnitool add → result)", "1.83×", "plugin_started_ms", "[met   ]", "[missed]", "Moonshot"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	path := filepath.Join(t.TempDir(), "bench.svg")
	if err := res.WriteSVG(path); err != nil {
		t.Fatal(err)
	}
	checkSVG(t, path)
}

// checkSVG parses the file as XML and counts its curves.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	paths := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s is not well-formed XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "path" {
			paths++
		}
	}
	if paths < 5+2*4 { // five singles, four methods per burst panel
		t.Errorf("%s has %d curves", path, paths)
	}
}
