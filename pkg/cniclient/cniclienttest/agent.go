// Package cniclienttest serves a stand-in HostAgent on a unix socket, so
// the CNI plugin and its client can be tested against a real gRPC server
// without the host agent's NB, netlink and sysfs dependencies.
package cniclienttest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Handler answers one CNI call.
type Handler func(ctx context.Context, req *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error)

// Agent is a running stand-in host agent.
type Agent struct {
	ovndpuv1.UnimplementedHostAgentServer

	// Socket is the unix socket path the agent listens on.
	Socket string

	handler Handler
	mu      sync.Mutex
	reqs    []*ovndpuv1.CNIRequest
	stop    func()
}

// SocketPath returns a fresh path for a unix socket under a temporary
// directory that t removes.
func SocketPath(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.sock")
	// sun_path holds 108 bytes; long test names under a long TMPDIR do not
	// fit, so fall back to a short directory.
	if len(p) >= 100 {
		dir, err := os.MkdirTemp("", "ovndpu")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		p = filepath.Join(dir, "agent.sock")
	}
	return p
}

// Start serves h on socket (SocketPath(t) when empty) until t ends.
func Start(t testing.TB, socket string, h Handler) *Agent {
	t.Helper()
	if socket == "" {
		socket = SocketPath(t)
	}
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatalf("listening on %s: %v", socket, err)
	}
	a := &Agent{Socket: socket, handler: h}
	s := grpc.NewServer()
	ovndpuv1.RegisterHostAgentServer(s, a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	var once sync.Once
	// Stop, not GracefulStop: handlers that never answer must not hold
	// the test up.
	a.stop = func() { once.Do(func() { s.Stop(); <-done }) }
	t.Cleanup(a.stop)
	return a
}

// Stop ends the agent at once, calls in flight included, as a crash
// would; its socket file goes with it.
func (a *Agent) Stop() { a.stop() }

// CNI implements ovndpuv1.HostAgentServer.
func (a *Agent) CNI(ctx context.Context, req *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
	a.mu.Lock()
	a.reqs = append(a.reqs, proto.Clone(req).(*ovndpuv1.CNIRequest))
	a.mu.Unlock()
	return a.handler(ctx, req)
}

// Requests returns copies of the requests received so far, in order.
func (a *Agent) Requests() []*ovndpuv1.CNIRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*ovndpuv1.CNIRequest, len(a.reqs))
	for i, r := range a.reqs {
		out[i] = proto.Clone(r).(*ovndpuv1.CNIRequest)
	}
	return out
}

// Result answers every call with result.
func Result(result []byte) Handler {
	return func(context.Context, *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
		return &ovndpuv1.CNIResponse{Result: result}, nil
	}
}

// Error answers every call with a CNI error.
func Error(code uint32, msg, details string) Handler {
	return func(context.Context, *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
		return &ovndpuv1.CNIResponse{Error: &ovndpuv1.CNIError{Code: code, Msg: msg, Details: details}}, nil
	}
}

// Hang never answers; the call ends when the client gives up.
func Hang(ctx context.Context, _ *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
