// Package metricsserver serves a daemon's Prometheus metrics and its health
// endpoints on the --metrics address: /metrics, /healthz (the process
// answers) and /readyz (the daemon's own readiness check passes), and has
// the scrape-time collector both daemons build their state metrics with.
package metricsserver
