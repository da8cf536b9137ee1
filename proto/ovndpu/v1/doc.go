// Package ovndpuv1 is the generated Go of the DPU agent's gRPC API
// (dpuagent.proto): WatchPorts streams port status, Info describes the agent.
package ovndpuv1

//go:generate protoc -I . -I /usr/include --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative dpuagent.proto
