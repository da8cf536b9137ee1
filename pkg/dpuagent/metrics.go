package dpuagent

import (
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovn-dpu/ovn-dpu/pkg/metricsserver"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// metrics are the agent's Prometheus metrics. Gauges that mirror state
// (ports by phase, table size) are read at scrape time so they can never
// drift from the truth.
type metrics struct {
	plugLatency prometheus.Histogram
	stage       *prometheus.HistogramVec // by stage of an attach; see milestones
	txnErrors   prometheus.Counter
	competing   prometheus.Gauge
	foreign     prometheus.Gauge
	readiness   *prometheus.GaugeVec // by check; see readiness.go
	// claimsRefused: Claim calls refused (--hosts), by reason.
	claimsRefused *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		plugLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "plug_latency_seconds",
			Help:    "Time from the agent first seeing a port's binding to the port being READY.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14), // 10ms .. ~80s
		}),
		stage: newStageHistogram(),
		claimsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "claims_refused_total",
			Help: "Claim and other calls of hosts refused on a DPU serving several hosts (--hosts), by reason: unknown-host, " +
				"not-the-hosts (a PF of another host), unknown-pf, invalid, too-many.",
		}, []string{"reason"}),
		readiness: newReadinessGauge(),
		txnErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "ovs_transaction_errors_total",
			Help: "OVS transactions of the agent that failed.",
		}),
		competing: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "competing_plugger_ports",
			Help: "Ports whose representor ovn-controller's own plug provider already plugged while --plugger=agent.",
		}),
		foreign: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "foreign_interface_ports",
			Help: "Ports whose representor is already an interface of another owner (not ovn-dpu, not ovn-controller).",
		}),
	}
}

// newStageHistogram has a series per stage from the start, so a scrape
// shows the metric (at count 0) before the first port is READY. Its
// buckets are the host agent's ADD stage buckets, so the two compare.
func newStageHistogram() *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "ovndpu", Subsystem: "dpu", Name: "port_stage_seconds",
		Help: "DPU-side stages of an attach, observed once per attachment when it turns READY: from the agent first " +
			"seeing the binding to the plug transaction's commit (seen_to_plugged), to ovn-controller's claim " +
			"(plugged_to_claimed), to ovn-installed (claimed_to_installed), and from seen to READY (seen_to_ready).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. ~16s
	}, []string{"stage"})
	for _, s := range (milestones{}).stages(time.Time{}) {
		h.WithLabelValues(s.stage)
	}
	return h
}

// Register adds the agent's metrics to reg.
func (a *Agent) Register(reg prometheus.Registerer) error {
	phases := prometheus.NewDesc("ovndpu_dpu_ports", "Ports requested on this chassis, by phase.", []string{"phase"}, nil)
	claims := prometheus.NewDesc("ovndpu_dpu_claims", "Attachments each host has claimed (--hosts).", []string{"host"}, nil)
	collectors := []prometheus.Collector{
		a.metrics.plugLatency, a.metrics.stage, a.metrics.txnErrors, a.metrics.competing, a.metrics.foreign,
		a.metrics.readiness, a.metrics.claimsRefused,
		metricsserver.CollectorFunc{Desc: claims, Samples: func(ch chan<- prometheus.Metric) {
			for host, n := range a.claims.held() {
				ch <- prometheus.MustNewConstMetric(claims, prometheus.GaugeValue, float64(n), host)
			}
		}},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "ovndpu", Subsystem: "dpu", Name: "representors",
			Help: "Devlink ports in the representor table.",
		}, func() float64 { return float64(a.table.Len()) }),
		metricsserver.CollectorFunc{Desc: phases, Samples: func(ch chan<- prometheus.Metric) {
			for phase, n := range a.store.CountByPhase() {
				if phase == ovndpuv1.Phase_PHASE_UNSPECIFIED {
					continue
				}
				ch <- prometheus.MustNewConstMetric(phases, prometheus.GaugeValue, float64(n), phase.String())
			}
		}},
	}
	var errs []error
	for _, c := range collectors {
		errs = append(errs, reg.Register(c))
	}
	return errors.Join(errs...)
}

// Ready reports why the agent cannot serve yet: readiness needs SB and OVS
// connected and the initial dumps reconciled.
func (a *Agent) Ready() error {
	select {
	case <-a.synced:
	default:
		return errors.New("initial SB, OVS and devlink dumps not processed yet")
	}
	if !a.dbsUp.Load() {
		return fmt.Errorf("southbound database %v or Open_vSwitch database %s not answering", a.cfg.SBRemotes, a.cfg.OVSRemote)
	}
	return nil
}
