package hostagent

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// The milestones of one ADD on the host, in the order they usually happen
// (the LSP and the VF move run in parallel, so those two may swap).
const (
	stageVFResolved   = "vf_resolved"   // VF looked up, claim recorded
	stageIPAMDone     = "ipam_done"     // addresses known (or OVN to assign them)
	stageLSPCommitted = "lsp_committed" // NB transaction committed
	stageVFConfigured = "vf_configured" // VF in the pod, configured
	stageReady        = "ready"         // the DPU's READY received
	stageAnswered     = "answered"      // result encoded, about to answer
)

var hostStages = []string{stageVFResolved, stageIPAMDone, stageLSPCommitted, stageVFConfigured, stageReady, stageAnswered}

// stageClock records when an ADD passed each milestone, as offsets from
// the moment the agent received it; the plugin's own start (its process
// start, on the same host clock) comes with the request.
type stageClock struct {
	mu       sync.Mutex // the LSP and the VF move mark from two goroutines
	received time.Time
	plugin   time.Time // zero when the plugin did not say
	at       map[string]time.Duration
}

func newStageClock(received time.Time, req *ovndpuv1.CNIRequest) *stageClock {
	c := &stageClock{received: received, at: map[string]time.Duration{}}
	if req.PluginStarted != nil {
		c.plugin = req.PluginStarted.AsTime()
	}
	return c
}

func (c *stageClock) mark(stage string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at[stage] = time.Since(c.received)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// report logs the breakdown of a successful ADD (one line, the fields an
// operator or the benchmark reads) and feeds the histograms. ready is the
// DPU's READY status: its milestones are on the DPU's clock, so only their
// differences are logged.
func (c *stageClock) report(log *slog.Logger, m *metrics, ready *ovndpuv1.PortStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	attrs := make([]any, 0, 2*(len(hostStages)+4))
	if !c.plugin.IsZero() {
		attrs = append(attrs, "plugin_started_ms", ms(c.plugin.Sub(c.received)))
		m.stage.WithLabelValues("plugin_to_agent").Observe(c.received.Sub(c.plugin).Seconds())
	}
	for _, stage := range hostStages {
		if d, ok := c.at[stage]; ok {
			attrs = append(attrs, stage+"_ms", ms(d))
			m.stage.WithLabelValues(stage).Observe(d.Seconds())
		}
	}
	attrs = append(attrs, dpuSpans(ready)...)
	log.Info("ADD stages", attrs...)
}

// dpuSpans are the DPU-side durations between the milestones a READY
// status carries, as log attributes; absent milestones are skipped.
func dpuSpans(st *ovndpuv1.PortStatus) []any {
	milestones := []struct {
		name string
		at   *timestamppb.Timestamp
	}{{"seen", st.GetFirstSeen()}, {"plugged", st.GetPlugged()}, {"claimed", st.GetClaimed()}, {"installed", st.GetInstalled()}}
	var attrs []any
	for i := 1; i < len(milestones); i++ {
		from, to := milestones[i-1], milestones[i]
		if from.at != nil && to.at != nil {
			attrs = append(attrs, "dpu_"+from.name+"_to_"+to.name+"_ms", ms(to.at.AsTime().Sub(from.at.AsTime())))
		}
	}
	return attrs
}

func newStageHistogram() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ovndpu", Subsystem: "host", Name: "add_stage_seconds",
		Help: "Time from receiving an ADD to each milestone (vf_resolved, ipam_done, lsp_committed, vf_configured, " +
			"ready, answered), and from the plugin's start to the agent receiving it (plugin_to_agent); successful ADDs only.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"stage"})
}
