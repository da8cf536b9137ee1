package metricsserver

import "github.com/prometheus/client_golang/prometheus"

// CollectorFunc collects the one metric Desc describes, making its samples
// at scrape time: for state a daemon holds anyway (ports by phase, claims,
// DPU streams), read when asked rather than mirrored into gauges that
// could drift from it.
type CollectorFunc struct {
	Desc    *prometheus.Desc
	Samples func(chan<- prometheus.Metric)
}

func (c CollectorFunc) Describe(ch chan<- *prometheus.Desc) { ch <- c.Desc }
func (c CollectorFunc) Collect(ch chan<- prometheus.Metric) { c.Samples(ch) }
