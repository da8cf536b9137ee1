package dpuagent

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/version"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Capabilities this agent's API offers, for clients that must cope with
// older agents.
var capabilities = []string{"watch-ports", "snapshot-marker", "node-filter", "info"}

// Info answers the gRPC Info call.
func (a *Agent) Info(ctx context.Context) (*ovndpuv1.InfoResponse, error) {
	id := a.identity()
	if id.name == "" {
		// Host agents cache the chassis from Info: never hand out an empty
		// one (OVS may not have its system-id yet at boot).
		return nil, status.Error(codes.Unavailable, "chassis name not known yet: waiting for Open_vSwitch external_ids:"+ovsSystemID)
	}
	return &ovndpuv1.InfoResponse{
		Chassis:           id.name,
		ChassisRegistered: id.uuid != "",
		Bridge:            a.cfg.Bridge,
		Version:           version.Version,
		Capabilities:      capabilities,
		PfMacs:            a.table.KnownPFs(),
		Plugger:           string(a.cfg.Plugger),
	}, nil
}

// RegisterGRPC serves the agent's gRPC API on s. WatchPorts waits until the
// agent has synced, so that a watcher's snapshot is never an empty guess.
func (a *Agent) RegisterGRPC(s *grpc.Server) {
	ovndpuv1.RegisterDPUAgentServer(s, syncedServer{Server: portstatus.NewServer(a.store, a.Info), synced: a.synced})
}

type syncedServer struct {
	*portstatus.Server
	synced <-chan struct{}
}

func (s syncedServer) WatchPorts(req *ovndpuv1.WatchPortsRequest, stream grpc.ServerStreamingServer[ovndpuv1.WatchPortsResponse]) error {
	select {
	case <-s.synced:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	return s.Server.WatchPorts(req, stream)
}
