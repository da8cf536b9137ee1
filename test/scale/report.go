package scale

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/bench"
)

// Figures derived from a Result, as the report, the plot and the cost
// model use them.

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// AddP50, AddP99 are the churn ADDs' latency percentiles.
func (r *Result) AddP50() time.Duration { return bench.Quantile(r.Add, 0.5) }
func (r *Result) AddP99() time.Duration { return bench.Quantile(r.Add, 0.99) }

// DelP50, DelP99 are the churn DELs'.
func (r *Result) DelP50() time.Duration { return bench.Quantile(r.Del, 0.5) }
func (r *Result) DelP99() time.Duration { return bench.Quantile(r.Del, 0.99) }

// PerSession is how much a server's RSS grew per agent session between
// Empty and Idle (bytes; N sessions of each kind).
func (r *Result) PerSession(server string) float64 {
	return float64(r.Idle[server].RSS-r.Empty[server].RSS) / float64(r.N)
}

// RefPerSession is the SB relay's RSS growth per real ovn-controller
// session (NaN without a reference).
func (r *Result) RefPerSession() float64 {
	if r.Ref == nil || r.Ref.Count == 0 {
		return nan()
	}
	return float64(r.Ref.After.RSS-r.Ref.Before.RSS) / float64(r.Ref.Count)
}

func nan() float64 { var z float64; return z / z }

// CPUPer1000 is a server's CPU seconds per 1000 churn operations.
func (r *Result) CPUPer1000(server string) float64 {
	if r.ChurnOps == 0 {
		return 0
	}
	return (r.ChurnAfter[server].CPU - r.ChurnBefore[server].CPU) * 1000 / float64(r.ChurnOps)
}

// CommitsPerOp is the RAFT log entries db's cluster ("nb", "sb") wrote
// per churn operation: its leader's log growth (every member has the
// same log; the largest growth is the leader's view).
func (r *Result) CommitsPerOp(db string) float64 {
	if r.ChurnOps == 0 {
		return 0
	}
	var most int64
	for name, after := range r.ChurnAfter {
		if strings.HasPrefix(name, db+"-") && after.RaftIndex > 0 {
			most = max(most, after.RaftIndex-r.ChurnBefore[name].RaftIndex)
		}
	}
	return float64(most) / float64(r.ChurnOps)
}

// ForeignUpdates is the update notifications the measured operations
// sent to agents that do not own them.
func (r *Result) ForeignUpdates() int64 {
	var n int64
	for _, op := range r.Ops {
		n += op.OthersNB.Updates + op.OthersSB.Updates
	}
	return n
}

// ForeignBytes is what they sent to agents that do not own them.
func (r *Result) ForeignBytes() int64 {
	var n int64
	for _, op := range r.Ops {
		n += op.OthersNB.Bytes() + op.OthersSB.Bytes()
	}
	return n
}

// OpMean is the mean of what the measured operations of verb sent to
// their owner.
func (r *Result) OpMean(verb string) (nb, sb Counts, n int) {
	for _, op := range r.Ops {
		if op.Verb == verb {
			nb, sb, n = nb.Add(op.OwnerNB), sb.Add(op.OwnerSB), n+1
		}
	}
	if n > 0 {
		nb, sb = nb.div(int64(n)), sb.div(int64(n))
	}
	return nb, sb, n
}

func (c Counts) div(n int64) Counts {
	return Counts{Updates: c.Updates / n, UpdateBytes: c.UpdateBytes / n, OtherBytes: c.OtherBytes / n, EchoBytes: c.EchoBytes / n}
}

// quantileF is bench.Quantile for milliseconds.
func quantileF(v []float64, q float64) float64 {
	ds := make([]time.Duration, len(v))
	for i, f := range v {
		ds[i] = time.Duration(f * float64(time.Millisecond))
	}
	return ms(bench.Quantile(ds, q))
}

func median64(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func max64(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

func kib(b float64) string { return fmt.Sprintf("%.0f", b/1024) }
func mib(b int64) string   { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }

// Summary is the one line per N that `make scale` ends with.
func (r *Result) Summary() string {
	return fmt.Sprintf("scale N=%d: add p50 %.0f ms p99 %.0f ms; foreign updates %d; nb %s KiB/session; sb %s KiB/session",
		r.N, ms(r.AddP50()), ms(r.AddP99()), r.ForeignUpdates(), kib(r.PerSession("nb-relay")), kib(r.PerSession("sb-relay")))
}

// WriteReport prints every figure of every result, then the summary lines.
func WriteReport(w io.Writer, results []*Result) {
	for _, r := range results {
		writeOne(w, r)
	}
	if len(results) > 1 {
		first, last := results[0], results[len(results)-1]
		ratio := ms(last.AddP99()) / ms(first.AddP99())
		verdict := "met"
		if ratio > 2 {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "target: ADD p99 at N=%d within 2x N=%d: %.2fx (%s)\n", last.N, first.N, ratio, verdict)
	}
	for _, r := range results {
		verdict := "met"
		if r.ForeignUpdates() != 0 {
			verdict = "MISSED"
		}
		fmt.Fprintf(w, "target: N=%d updates to agents that do not own the row: %d (%s)\n", r.N, r.ForeignUpdates(), verdict)
	}
	fmt.Fprintln(w)
	WriteModel(w, results)
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintln(w, r.Summary())
	}
}

func writeOne(w io.Writer, r *Result) {
	fmt.Fprintf(w, "== N=%d hosts + %d DPUs, %d pods each, concurrency %d (took %.0fs)\n", r.N, r.N, r.Pods, r.Concurrency, r.Took.Seconds())
	fmt.Fprintf(w, "churn: %d ops in %.1fs; ADD p50 %.0f ms p99 %.0f ms max %.0f ms; DEL p50 %.0f ms p99 %.0f ms\n",
		r.ChurnOps, r.ChurnTook.Seconds(), ms(r.AddP50()), ms(r.AddP99()), ms(bench.Quantile(r.Add, 1)), ms(r.DelP50()), ms(r.DelP99()))
	var st []string
	for _, k := range []string{"lsp_committed_ms", "vf_configured_ms", "ready_ms", "dpu_seen_to_plugged_ms", "dpu_plugged_to_claimed_ms",
		"dpu_claimed_to_installed_ms"} {
		if v := r.Stages[k]; len(v) > 0 {
			st = append(st, fmt.Sprintf("%s %.1f/%.1f", strings.TrimSuffix(k, "_ms"), quantileF(v, 0.5), quantileF(v, 0.99)))
		}
	}
	fmt.Fprintf(w, "churn ADD stages, ms p50/p99: %s\n", strings.Join(st, ", "))
	if lf, ok := r.NorthdRuns["build_lflows"]; ok {
		loop := r.NorthdRuns["ovn-northd-loop"]
		fmt.Fprintf(w, "northd over the churn: %d logical-flow builds (full recomputes; %.2f per op), mean %.1f ms p95 %.1f ms max %.0f ms; %d loop runs, p95 %.1f ms\n",
			lf.Samples, float64(lf.Samples)/float64(max(1, r.ChurnOps)), lf.Mean, lf.P95, lf.Max, loop.Samples, loop.P95)
	}
	fmt.Fprintf(w, "central writes per churn op (RAFT log entries): NB %.2f, SB %.2f\n", r.CommitsPerOp("nb"), r.CommitsPerOp("sb"))
	fmt.Fprintf(w, "%-9s %9s %9s %9s %10s %12s %8s %8s %10s\n", "server", "drift KiB", "RSS0 MiB", "RSSn MiB", "KiB/sess", "CPU s/1k op",
		"sessions", "monitors", "cells")
	for _, name := range serverOrder(r) {
		e, i := r.Empty[name], r.Idle[name]
		fmt.Fprintf(w, "%-9s %9s %9s %9s %10s %12.2f %8s %8s %10s\n", name, kib(float64(r.Warm[name].RSS-r.Drift[name].RSS)), mib(e.RSS), mib(i.RSS),
			kib(r.PerSession(name)), r.CPUPer1000(name), memDelta(e, i, "sessions"), memDelta(e, i, "monitors"), memDelta(e, i, "cells"))
	}
	if r.Ref != nil {
		fmt.Fprintf(w, "reference: %d real ovn-controller sessions on sb-relay: %s KiB/session RSS; sync %s B/session (%d updates)\n",
			r.Ref.Count, kib(r.RefPerSession()), fmt.Sprint(r.Ref.Sync.Bytes()/int64(r.Ref.Count)), r.Ref.Sync.Updates/int64(r.Ref.Count))
	}
	fmt.Fprintf(w, "session sync, per agent: host agent (NB) %d B, %d updates; DPU agent (SB) %d B, %d updates\n",
		r.SyncNB.Bytes()/int64(r.N), r.SyncNB.Updates/int64(r.N), r.SyncSB.Bytes()/int64(r.N), r.SyncSB.Updates/int64(r.N))
	fmt.Fprintf(w, "idle %v, whole fleet: NB %d B (%d updates, %d B echo), SB %d B (%d updates, %d B echo)\n", r.IdleWindow,
		r.IdleNB.Bytes(), r.IdleNB.Updates, r.IdleNB.EchoBytes, r.IdleSB.Bytes(), r.IdleSB.Updates, r.IdleSB.EchoBytes)
	for _, verb := range []string{"ADD", "DEL"} {
		nb, sb, n := r.OpMean(verb)
		fmt.Fprintf(w, "per %s (mean of %d): owner NB %d updates %d B (+%d B replies); owner SB %d updates %d B (+%d B replies)\n",
			verb, n, nb.Updates, nb.UpdateBytes, nb.OtherBytes, sb.Updates, sb.UpdateBytes, sb.OtherBytes)
	}
	fmt.Fprintf(w, "foreign: %d measured ops sent %d updates, %d B to the other %d host agents and %d DPU agents\n",
		len(r.Ops), r.ForeignUpdates(), r.ForeignBytes(), r.N-1, r.N-1)
	fmt.Fprintf(w, "agent RSS MiB (median/max): host idle %s/%s, after churn %s/%s; DPU idle %s/%s, after churn %s/%s\n\n",
		mib(median64(r.HostRSS)), mib(max64(r.HostRSS)), mib(median64(r.HostRSSEnd)), mib(max64(r.HostRSSEnd)),
		mib(median64(r.DPURSS)), mib(max64(r.DPURSS)), mib(median64(r.DPURSSEnd)), mib(max64(r.DPURSSEnd)))
}

func memDelta(before, after Sample, key string) string {
	if after.Memory == nil {
		return "-"
	}
	return fmt.Sprintf("%+d", after.Memory[key]-before.Memory[key])
}

// serverOrder is the servers in a stable order: NB, then SB, then northd.
func serverOrder(r *Result) []string {
	var names []string
	for name := range r.Idle {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return strings.Compare(rank(a), rank(b)) })
	return names
}

func rank(name string) string {
	if name == "northd" {
		return "z"
	}
	return name
}
