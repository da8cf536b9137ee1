package hostagent

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics of CNI requests, by command and CNI result code ("0" = success).
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	stage    *prometheus.HistogramVec // milestones of successful ADDs
	// dpuAdds: ADDs by the DPU they went to and their result code.
	dpuAdds *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovndpu", Subsystem: "host", Name: "cni_requests_total",
			Help: "CNI requests served, by command and CNI result code (0 = success).",
		}, []string{"command", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "ovndpu", Subsystem: "host", Name: "cni_request_duration_seconds",
			Help:    "Wall time of CNI requests, by command.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"command"}),
		stage: newStageHistogram(),
		dpuAdds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovndpu", Subsystem: "host", Name: "dpu_adds_total",
			Help: "CNI ADDs that chose a DPU, by that DPU's chassis and CNI result code (0 = success): which DPU's ADDs fail.",
		}, []string{"chassis", "code"}),
	}
}

// Register adds the agent's metrics to reg.
func (a *Agent) Register(reg prometheus.Registerer) error {
	return errors.Join(reg.Register(a.metrics.requests), reg.Register(a.metrics.duration), reg.Register(a.metrics.stage),
		reg.Register(a.metrics.dpuAdds), reg.Register(a.dpus.collector()))
}
