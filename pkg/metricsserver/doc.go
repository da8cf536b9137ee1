// Package metricsserver serves a daemon's Prometheus metrics and its health
// endpoints on the --metrics address: /metrics, /healthz (the process
// answers) and /readyz (the daemon's own readiness check passes).
package metricsserver
