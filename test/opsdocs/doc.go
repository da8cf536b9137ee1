// Package opsdocs tests what the operations documents promise against the
// code: that the example Prometheus rules (deploy/prometheus/alerts.yaml)
// use only metrics the agents export and that docs/metrics.md lists every
// one of them (alerts_test.go), and that the openssl recipe of
// docs/certificates.md yields certificates pkg/tlsutil accepts for mutual
// TLS, the host one naming its node (certificates_test.go).
package opsdocs
