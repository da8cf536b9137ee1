package hostagent

import (
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
// operator or the benchmark reads) and feeds the histograms.
func (c *stageClock) report(log *slog.Logger, m *metrics) {
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
	log.Info("ADD stages", attrs...)
}

func newStageHistogram() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ovndpu", Subsystem: "host", Name: "add_stage_seconds",
		Help: "Time from receiving an ADD to each milestone (vf_resolved, ipam_done, lsp_committed, vf_configured, " +
			"ready, answered), and from the plugin's start to the agent receiving it (plugin_to_agent); successful ADDs only.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"stage"})
}
