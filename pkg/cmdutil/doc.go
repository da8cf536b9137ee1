// Package cmdutil holds what the ovn-dpu daemons' main packages share:
// logger setup from --log-level, the TLS flag sets (gRPC mTLS and OVSDB
// SSL) and listening on HOST:PORT or unix:PATH.
package cmdutil
