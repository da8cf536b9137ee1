package portstatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// InfoFunc answers the Info RPC. It is a function rather than a value
// because chassis_registered and pf_macs change while the agent runs.
type InfoFunc func(ctx context.Context) (*ovndpuv1.InfoResponse, error)

// IdentityFunc returns the node the caller of an RPC is authenticated as,
// from the call's context; ok is false when the caller has none. With
// mutual TLS it is tlsutil.PeerIdentity: the client certificate's first DNS
// SAN, else its CN.
type IdentityFunc func(ctx context.Context) (node string, ok bool)

// Server implements ovndpuv1.DPUAgentServer on top of a Store.
type Server struct {
	ovndpuv1.UnimplementedDPUAgentServer

	store    *Store
	info     InfoFunc
	identity IdentityFunc // nil: trust the request's node filter
	log      *slog.Logger
}

var _ ovndpuv1.DPUAgentServer = (*Server)(nil)

// NewServer returns a Server streaming store's statuses and answering Info
// with info (nil: Info is Unimplemented). It uses WithLogger and
// WithIdentity.
func NewServer(store *Store, info InfoFunc, opts ...Option) *Server {
	o := newOptions(opts)
	return &Server{store: store, info: info, identity: o.identity, log: o.logger}
}

// Register registers s on r (typically a *grpc.Server); the same as
// ovndpuv1.RegisterDPUAgentServer(r, s).
func (s *Server) Register(r grpc.ServiceRegistrar) {
	ovndpuv1.RegisterDPUAgentServer(r, s)
}

// WatchPorts sends the snapshot for the stream's node (see Scope), the
// SnapshotComplete marker, then every change, until the client goes away or
// falls so far behind that the Store dropped it (codes.ResourceExhausted:
// reconnect for a fresh snapshot).
func (s *Server) WatchPorts(req *ovndpuv1.WatchPortsRequest, stream grpc.ServerStreamingServer[ovndpuv1.WatchPortsResponse]) error {
	node, err := s.Scope(stream.Context(), req.GetNode())
	if err != nil {
		return err
	}
	snapshot, sub := s.store.Subscribe(node)
	defer sub.Close()
	s.log.Debug("port watcher connected", "node", node, "requested", req.GetNode(), "snapshot", len(snapshot))
	if err := sendSnapshot(stream, snapshot); err != nil {
		return err
	}
	return s.sendEvents(stream, sub)
}

// Scope returns the owner node a WatchPorts stream from ctx's caller that
// asked for requested ("" = every node) is limited to. Without an
// IdentityFunc that is requested, trusted as it stands (--insecure). With
// one, it is the caller's identity: requested must be empty or that same
// node, else the call is refused with codes.PermissionDenied naming both;
// a caller without an identity is refused too, never widened to every node.
func (s *Server) Scope(ctx context.Context, requested string) (string, error) {
	if s.identity == nil {
		return requested, nil
	}
	node, ok := s.identity(ctx)
	if !ok || node == "" {
		s.log.Warn("port watcher without a node identity refused", "requested", requested)
		return "", status.Error(codes.PermissionDenied,
			"the caller's credentials name no node (a client certificate needs a DNS SAN or a CN naming its node)")
	}
	if requested != "" && requested != node {
		s.log.Warn("port watcher asking for another node's ports refused", "identity", node, "requested", requested)
		return "", status.Errorf(codes.PermissionDenied,
			"the caller is node %q and may watch only its own ports, not those of node %q", node, requested)
	}
	return node, nil
}

func sendSnapshot(stream grpc.ServerStreamingServer[ovndpuv1.WatchPortsResponse], snapshot []*ovndpuv1.PortStatus) error {
	for _, st := range snapshot {
		if err := stream.Send(portEvent(st)); err != nil {
			return fmt.Errorf("sending snapshot of %s: %w", st.GetLogicalPort(), err)
		}
	}
	marker := &ovndpuv1.WatchPortsResponse{Event: &ovndpuv1.WatchPortsResponse_SnapshotComplete{
		SnapshotComplete: &ovndpuv1.SnapshotComplete{Ports: uint32(len(snapshot))},
	}}
	if err := stream.Send(marker); err != nil {
		return fmt.Errorf("sending snapshot marker: %w", err)
	}
	return nil
}

func (s *Server) sendEvents(stream grpc.ServerStreamingServer[ovndpuv1.WatchPortsResponse], sub *Subscription) error {
	ctx := stream.Context()
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case st, ok := <-sub.Events():
			if !ok {
				return fellBehind(sub)
			}
			if err := stream.Send(portEvent(st)); err != nil {
				return fmt.Errorf("sending %s generation %d: %w", st.GetLogicalPort(), st.GetGeneration(), err)
			}
		}
	}
}

// fellBehind turns a closed subscription into the stream's final status.
// Only the Store closes the channel while the stream is still running, so
// the cause is the watcher's lag; Err confirms it for the message.
func fellBehind(sub *Subscription) error {
	err := sub.Err()
	if err == nil {
		err = ErrFellBehind
	}
	return status.Errorf(codes.ResourceExhausted, "%v; reconnect to get a fresh snapshot", err)
}

// Info answers with the agent's InfoFunc. Errors that already carry a gRPC
// status keep it, context errors become Canceled or DeadlineExceeded, and
// others become Internal rather than grpc's default Unknown.
func (s *Server) Info(ctx context.Context, _ *ovndpuv1.InfoRequest) (*ovndpuv1.InfoResponse, error) {
	if s.info == nil {
		return s.UnimplementedDPUAgentServer.Info(ctx, nil)
	}
	resp, err := s.info(ctx)
	if err == nil {
		return resp, nil
	}
	if _, ok := status.FromError(err); ok {
		return nil, err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, status.FromContextError(err).Err()
	}
	return nil, status.Errorf(codes.Internal, "info: %v", err)
}

func portEvent(st *ovndpuv1.PortStatus) *ovndpuv1.WatchPortsResponse {
	return &ovndpuv1.WatchPortsResponse{Event: &ovndpuv1.WatchPortsResponse_Port{Port: st}}
}
