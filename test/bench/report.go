package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// label names each method in the report and the plot.
var label = map[string]string{
	Ours:      "ours whole (cnitool add → result)",
	OursAgent: "ours agent-side (ADD received → answered)",
	OVNPlug:   "OVN's own plug (dummy provider)",
	CMSPlug:   "CMS-side plug (ovs-vsctl on SB binding)",
	ExecFloor: "exec floor (plugin + IPAM, VERSION)",
}

var singleOrder = []string{Ours, OursAgent, OVNPlug, CMSPlug, ExecFloor}

// Target is one of the goals, evaluated on a run; never asserted.
type Target struct {
	Moonshot bool
	Met      bool
	What     string
}

const (
	goneWithin = 200 * time.Millisecond
	hostRSSMax = 40 << 20
)

// Targets evaluates the goals: agent-side single attach p50 ≤ the
// CMS-side plug's; each burst's ADDs and DELs all returned ≤ the CMS-side
// plug of the same count + the burst exec floor; after the last of the
// largest burst's DELs every port gone within 200 ms; host agent RSS ≤ 40
// MiB with the largest burst attached. Moonshots: the first two against
// OVN's own plug.
func (res *Result) Targets() []Target {
	var ts []Target
	agent := median(res.Single[OursAgent])
	for _, base := range []string{CMSPlug, OVNPlug} {
		b := median(res.Single[base])
		ts = append(ts, Target{Moonshot: base == OVNPlug, Met: agent > 0 && agent <= b,
			What: fmt.Sprintf("agent-side single-attach p50 %s ≤ 1.0 × %s p50 %s (%.2f×)", fmtD(agent), short(base), fmtD(b), ratio(agent, b))})
	}
	for _, base := range []string{CMSPlug, OVNPlug} {
		for _, br := range res.Bursts {
			for _, verb := range []string{"ADD", "DEL"} {
				m := br.Add
				if verb == "DEL" {
					m = br.Del
				}
				ours, limit := maxOf(m[Ours]), maxOf(m[base])+maxOf(m[ExecFloor])
				ts = append(ts, Target{Moonshot: base == OVNPlug, Met: ours <= limit,
					What: fmt.Sprintf("burst of %d %ss all returned %s ≤ %s %s + exec floor %s = %s (%.2f×)",
						br.N, verb, fmtD(ours), short(base), fmtD(maxOf(m[base])), fmtD(maxOf(m[ExecFloor])), fmtD(limit), ratio(ours, limit))})
			}
		}
	}
	if br, ok := res.largestBurst(); ok {
		ts = append(ts, Target{Met: br.GoneAfterLastDel <= goneWithin,
			What: fmt.Sprintf("after the last of %d DELs returned, every port gone from br-int and NB within %s: %s",
				br.N, fmtD(goneWithin), goneText(br.GoneAfterLastDel))})
		ts = append(ts, Target{Met: res.RSS.HostBurst <= hostRSSMax,
			What: fmt.Sprintf("host agent RSS ≤ 40 MiB at %d attachments: %s", res.RSS.BurstN, mib(res.RSS.HostBurst))})
	}
	// Moonshots first among their kind would hide the real targets.
	slices.SortStableFunc(ts, func(a, b Target) int {
		switch {
		case a.Moonshot == b.Moonshot:
			return 0
		case a.Moonshot:
			return 1
		default:
			return -1
		}
	})
	return ts
}

func (res *Result) largestBurst() (BurstResult, bool) {
	if len(res.Bursts) == 0 {
		return BurstResult{}, false
	}
	return slices.MaxFunc(res.Bursts, func(a, b BurstResult) int { return a.N - b.N }), true
}

func short(method string) string {
	switch method {
	case OVNPlug:
		return "OVN's own plug"
	case CMSPlug:
		return "CMS-side plug"
	}
	return method
}

func goneText(d time.Duration) string {
	if d <= 0 {
		return "all were gone by then"
	}
	return fmtD(d) + " later"
}

// WriteReport prints the run as a readable report.
func (res *Result) WriteReport(w io.Writer) {
	c := res.Config
	fmt.Fprintf(w, "ovn-dpu attach-speed bench, %s\n", res.Started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "machine: %s\n", res.Machine)
	fmt.Fprintf(w, "run: %d single attaches per method, bursts %v, %d foreign bindings; took %s\n\n",
		c.Samples, c.Bursts, c.Foreign, res.Took.Round(100*time.Millisecond))

	fmt.Fprintf(w, "Warm-up (first attach and detach, not counted): ours %s, OVN's own plug %s, CMS-side plug %s, exec floor %s\n\n",
		fmtD(res.Warmup[Ours]), fmtD(res.Warmup[OVNPlug]), fmtD(res.Warmup[CMSPlug]), fmtD(res.Warmup[ExecFloor]))

	fmt.Fprintf(w, "Single attach (same sandbox, methods interleaved)\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tn\tp50\tp90\tmin\tmax\t\n")
	for _, m := range singleOrder {
		s := res.Single[m]
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t\n", label[m], len(s), fmtD(median(s)), fmtD(p90(s)), fmtD(quantile(s, 0)), fmtD(maxOf(s)))
	}
	tw.Flush()
	if res.AgentSideFrom != "" {
		fmt.Fprintf(w, "  (agent-side from the host agent's log: %s)\n", res.AgentSideFrom)
	}
	fmt.Fprintf(w, "Single detach, p50 (p90): ours %s (%s) cnitool del → representor out of br-int and LSP out of NB; "+
		"OVN's own plug %s (%s), CMS-side plug %s (%s) LSP delete → interface out of br-int\n",
		fmtD(median(res.SingleDel[Ours])), fmtD(p90(res.SingleDel[Ours])), fmtD(median(res.SingleDel[OVNPlug])),
		fmtD(p90(res.SingleDel[OVNPlug])), fmtD(median(res.SingleDel[CMSPlug])), fmtD(p90(res.SingleDel[CMSPlug])))
	fmt.Fprintf(w, "Ratios, p50 (p90)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, num := range []string{Ours, OursAgent} {
		for _, den := range []string{CMSPlug, OVNPlug} {
			a, b := res.Single[num], res.Single[den]
			fmt.Fprintf(tw, "  %s / %s\t%.2f× (%.2f×)\n", short2(num), short(den), ratio(median(a), median(b)), ratio(p90(a), p90(b)))
		}
	}
	a := res.Single[Ours]
	fmt.Fprintf(tw, "  ours whole − agent-side (cnitool, plugin, gRPC)\t%s\n", fmtD(median(a)-median(res.Single[OursAgent])))
	fmt.Fprintf(tw, "  OVN's own plug / CMS-side plug\t%.2f×\n", ratio(median(res.Single[OVNPlug]), median(res.Single[CMSPlug])))
	tw.Flush()
	fmt.Fprintln(w)

	res.writeStages(w)

	if len(res.Bursts) > 0 {
		fmt.Fprintf(w, "Bursts: N concurrent ADDs, then N concurrent DELs; time until all returned\n")
		fmt.Fprintf(w, "(baselines: until every interface has ovn-installed / has left br-int and every LSP is gone)\n")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "N\tverb\tours\tOVN plug\tCMS plug\texec floor\tours/OVN\tours/(CMS+floor)\tours p50 per pod\t\n")
		for _, br := range res.Bursts {
			for _, verb := range []string{"ADD", "DEL"} {
				m := br.Add
				if verb == "DEL" {
					m = br.Del
				}
				ours := maxOf(m[Ours])
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%.2f×\t%.2f×\t%s\t\n", br.N, verb, fmtD(ours), fmtD(maxOf(m[OVNPlug])),
					fmtD(maxOf(m[CMSPlug])), fmtD(maxOf(m[ExecFloor])), ratio(ours, maxOf(m[OVNPlug])),
					ratio(ours, maxOf(m[CMSPlug])+maxOf(m[ExecFloor])), fmtD(median(m[Ours])))
			}
		}
		tw.Flush()
		for _, br := range res.Bursts {
			fmt.Fprintf(w, "  after the last of %d DELs returned, every port gone from br-int and NB: %s\n", br.N, goneText(br.GoneAfterLastDel))
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "Memory (VmRSS)\n")
	r := res.RSS
	fmt.Fprintf(w, "  host agent: %s idle, %s with %d attachments", mib(r.HostIdle), mib(r.HostBurst), r.BurstN)
	if res.Foreign.Count > 0 {
		fmt.Fprintf(w, ", %s with %d foreign bindings in SB", mib(r.HostForeign), res.Foreign.Count)
	}
	fmt.Fprintf(w, "\n  DPU agent:  %s idle, %s with %d attachments", mib(r.DPUIdle), mib(r.DPUBurst), r.BurstN)
	if f := res.Foreign; f.Count > 0 {
		fmt.Fprintf(w, ", %s with %d foreign Port_Bindings requested by %d real foreign chassis (requested_chassis resolved: %v) on a switch with no port on this DPU\n",
			mib(r.DPUForeign), f.Count, f.Chassis, f.Resolved)
		fmt.Fprintf(w, "  (foreign bindings written and bound by northd in %s; one attach of ours with them in SB: %s)",
			fmtD(f.Took), fmtD(f.Attach))
	}
	fmt.Fprintf(w, "\n\n")

	fmt.Fprintf(w, "Targets\n")
	moon := false
	for _, t := range res.Targets() {
		if t.Moonshot && !moon {
			fmt.Fprintf(w, "Moonshot (the same against OVN's own plug)\n")
			moon = true
		}
		state := "missed"
		if t.Met {
			state = "met"
		}
		fmt.Fprintf(w, "  [%-6s] %s\n", state, t.What)
	}
}

func short2(method string) string {
	if method == OursAgent {
		return "ours agent-side"
	}
	return "ours whole"
}

// writeStages prints the medians of the host agent's ADD stages.
func (res *Result) writeStages(w io.Writer) {
	fmt.Fprintf(w, "ADD stages (host agent's \"ADD stages\" log line; medians, ms; host stages are offsets from the agent receiving the ADD,\n")
	fmt.Fprintf(w, "dpu_* are durations on the DPU's clock)\n")
	if len(res.SingleStages) == 0 {
		fmt.Fprintf(w, "  no \"ADD stages\" lines matched the ADDs: this host agent does not log them\n\n")
		return
	}
	sets := []struct {
		name   string
		stages []map[string]float64
	}{{fmt.Sprintf("single (n=%d)", len(res.SingleStages)), res.SingleStages}}
	for _, br := range res.Bursts {
		sets = append(sets, struct {
			name   string
			stages []map[string]float64
		}{fmt.Sprintf("burst %d (n=%d)", br.N, len(res.BurstStages[br.N])), res.BurstStages[br.N]})
	}
	keys := stageKeys(res)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "stage\t")
	for _, s := range sets {
		fmt.Fprintf(tw, "%s\tΔ prev\t", s.name)
	}
	fmt.Fprintf(tw, "\n")
	for i, k := range keys {
		fmt.Fprintf(tw, "%s\t", k)
		for _, s := range sets {
			var vals, deltas []float64
			for _, st := range s.stages {
				v, ok := st[k]
				if !ok {
					continue
				}
				vals = append(vals, v)
				if prev := prevHostStage(keys, i, st); prev != "" {
					deltas = append(deltas, v-st[prev])
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t", fmtF(medianF(vals)), fmtF(medianF(deltas)))
		}
		fmt.Fprintf(tw, "\n")
	}
	tw.Flush()
	fmt.Fprintf(w, "  (Δ prev: median of each ADD's gap from the previous host stage it logged; the LSP write and the VF move run in\n")
	fmt.Fprintf(w, "  parallel, so vf_configured's Δ may be negative. Stages missing from a line are left out, not zeroed.)\n\n")
}

// stageKeys lists the stages found: the known ones in order, then any
// other *_ms attribute.
func stageKeys(res *Result) []string {
	seen := map[string]bool{}
	for _, st := range res.SingleStages {
		for k := range st {
			seen[k] = true
		}
	}
	for _, sts := range res.BurstStages {
		for _, st := range sts {
			for k := range st {
				seen[k] = true
			}
		}
	}
	var keys []string
	for _, k := range append(append([]string(nil), hostStages...), dpuStages...) {
		if seen[k] {
			keys = append(keys, k)
			delete(seen, k)
		}
	}
	var extra []string
	for k := range seen {
		extra = append(extra, k)
	}
	sort.Strings(extra)
	return append(keys, extra...)
}

// prevHostStage is the host stage before keys[i] that st has (none for
// the first and for the DPU durations).
func prevHostStage(keys []string, i int, st map[string]float64) string {
	if !slices.Contains(hostStages, keys[i]) {
		return ""
	}
	for j := i - 1; j >= 0; j-- {
		if _, ok := st[keys[j]]; ok && slices.Contains(hostStages, keys[j]) {
			return keys[j]
		}
	}
	return ""
}

func fmtD(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 10*time.Millisecond && d > -10*time.Millisecond:
		return fmt.Sprintf("%.2fms", ms(d))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", ms(d))
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}

func fmtF(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0")
}

func mib(b int64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}
