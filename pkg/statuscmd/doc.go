// Package statuscmd is the read-only status commands of the two daemons,
// `ovn-dpu-agent ports` and `ovn-dpu-host-agent attachments`: their flags,
// the gRPC calls to the running daemon (DPUAdmin on the DPU agent's
// --admin-socket, HostAdmin on the host agent's --socket), and the table,
// JSON and `--why` renderings. The main packages only dispatch to it when
// their first argument names a subcommand.
//
// The commands ask the daemon, never the databases: they show what the
// agent itself believes and waits for, which is what an operator needs
// when a pod is stuck. docs/status.md describes the output; the server
// side lives with each daemon (pkg/dpuagent/admin.go,
// pkg/hostagent/admin.go).
package statuscmd
