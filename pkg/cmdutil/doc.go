// Package cmdutil holds what the ovn-dpu daemons' main packages share:
// logger setup from --log-level, the TLS flag sets (gRPC mTLS and OVSDB
// SSL), the gRPC keepalive flags between the agents, listening on
// HOST:PORT or unix:PATH, and the SO_PEERCRED check of a unix socket's peers.
package cmdutil
