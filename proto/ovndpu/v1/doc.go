// Package ovndpuv1 is the generated Go of ovn-dpu's gRPC APIs:
// dpuagent.proto, the DPU agent's WatchPorts and Info (used by host
// agents), hostagent.proto, the host agent's CNI call (used by the CNI
// plugin), and admin.proto, the read-only status services behind
// `ovn-dpu-agent ports` and `ovn-dpu-host-agent attachments`.
package ovndpuv1

//go:generate protoc -I . -I /usr/include --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative dpuagent.proto hostagent.proto admin.proto
