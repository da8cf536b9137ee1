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
var capabilities = []string{"watch-ports", "snapshot-marker", "node-filter", "info", "claims"}

// Info answers the gRPC Info call. pf_macs lists the PFs the devlink table
// can match: every one on a DPU serving the one host its NIC sits in, and
// only the caller's own (its devlink controller's) with --hosts.
func (a *Agent) Info(ctx context.Context) (*ovndpuv1.InfoResponse, error) {
	id := a.identity()
	if id.name == "" {
		// Host agents cache the chassis from Info: never hand out an empty
		// one (OVS may not have its system-id yet at boot).
		return nil, status.Error(codes.Unavailable, "chassis name not known yet: waiting for Open_vSwitch external_ids:"+ovsSystemID)
	}
	pfs := a.table.KnownPFs()
	if a.cfg.Hosts.Enabled() {
		_, controller, err := a.caller(ctx)
		if err != nil {
			return nil, err
		}
		pfs = a.table.KnownPFsOf(controller)
	}
	return &ovndpuv1.InfoResponse{
		Chassis:           id.name,
		ChassisRegistered: id.uuid != "",
		Bridge:            a.cfg.Bridge,
		Version:           version.Version,
		Capabilities:      capabilities,
		PfMacs:            pfs,
		Plugger:           string(a.cfg.Plugger),
		SetsFunctionMac:   a.cfg.SetFunctionMAC,
		RequiresClaims:    a.cfg.Hosts.Enabled(),
	}, nil
}

// RegisterGRPC serves the agent's gRPC API on s. WatchPorts waits until the
// agent has synced, so that a watcher's snapshot is never an empty guess.
// opts configure the portstatus.Server: with mutual TLS pass
// portstatus.WithIdentity(tlsutil.PeerIdentity), so that each host sees only
// the ports it owns; without it the request's node filter is trusted.
func (a *Agent) RegisterGRPC(s *grpc.Server, opts ...portstatus.Option) {
	opts = append([]portstatus.Option{portstatus.WithLogger(a.log)}, opts...)
	ovndpuv1.RegisterDPUAgentServer(s, agentServer{Server: portstatus.NewServer(a.store, a.Info, opts...), agent: a})
}

// agentServer is the agent's gRPC API: portstatus' Info and WatchPorts,
// with the agent's own checks, and the claims.
type agentServer struct {
	*portstatus.Server
	agent *Agent
}

func (s agentServer) Claim(ctx context.Context, req *ovndpuv1.ClaimRequest) (*ovndpuv1.ClaimResponse, error) {
	return s.agent.Claim(ctx, req)
}

func (s agentServer) Release(ctx context.Context, req *ovndpuv1.ReleaseRequest) (*ovndpuv1.ReleaseResponse, error) {
	return s.agent.Release(ctx, req)
}

func (s agentServer) WatchPorts(req *ovndpuv1.WatchPortsRequest, stream grpc.ServerStreamingServer[ovndpuv1.WatchPortsResponse]) error {
	// A watcher that may not have this stream is told now, not after the
	// first pass.
	if _, err := s.Scope(stream.Context(), req.GetNode()); err != nil {
		return err
	}
	if s.agent.cfg.Hosts.Enabled() {
		if _, _, err := s.agent.caller(stream.Context()); err != nil {
			return err
		}
	}
	select {
	case <-s.agent.synced:
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	return s.Server.WatchPorts(req, stream)
}
