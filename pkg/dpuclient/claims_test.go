package dpuclient

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// claimingAgent is the real status server with Info saying whether claims
// are required, recording the Claim calls it gets.
type claimingAgent struct {
	*portstatus.Server
	mu    sync.Mutex
	calls []*ovndpuv1.ClaimRequest
}

func (a *claimingAgent) Claim(_ context.Context, req *ovndpuv1.ClaimRequest) (*ovndpuv1.ClaimResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, req)
	return &ovndpuv1.ClaimResponse{Held: uint32(len(req.Claims))}, nil
}

func (a *claimingAgent) received() []*ovndpuv1.ClaimRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]*ovndpuv1.ClaimRequest(nil), a.calls...)
}

func serveClaiming(t *testing.T, socket string, requires bool) (*claimingAgent, *grpc.Server) {
	t.Helper()
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	info := func(context.Context) (*ovndpuv1.InfoResponse, error) {
		return &ovndpuv1.InfoResponse{Chassis: "dpu-1", ChassisRegistered: true, RequiresClaims: requires}, nil
	}
	a := &claimingAgent{Server: portstatus.NewServer(portstatus.NewStore(), info)}
	srv := grpc.NewServer()
	ovndpuv1.RegisterDPUAgentServer(srv, a)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return a, srv
}

func claim(id string) *ovndpuv1.AttachmentClaim {
	return &ovndpuv1.AttachmentClaim{AttachmentId: id, LogicalPort: "lsp-" + id, PfMac: "0e:00:00:00:00:01", Function: "vf 0"}
}

// TestClaimsOnConnectAndPerADD: on a DPU that requires claims the client
// sends every claim of the host (replace_all) when it connects and again
// when it reconnects, and a Claim when asked; on one that does not, it
// sends nothing.
func TestClaimsOnConnectAndPerADD(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	a, srv := serveClaiming(t, socket, true)
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	held := []*ovndpuv1.AttachmentClaim{claim("a1")}
	c := New(conn, "h1", slog.New(slog.DiscardHandler), WithClaimSource(func(chassis string) []*ovndpuv1.AttachmentClaim {
		if chassis != "dpu-1" {
			t.Errorf("claims asked for chassis %q, want dpu-1", chassis)
		}
		return held
	}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	waitClaims := func(n int) []*ovndpuv1.ClaimRequest {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(a.received()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d Claim calls, want %d", len(a.received()), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return a.received()
	}
	first := waitClaims(1)[0]
	if !first.ReplaceAll || len(first.Claims) != 1 || first.Claims[0].AttachmentId != "a1" {
		t.Errorf("on connect: %v, want replace_all with a1", first)
	}
	if _, err := c.WaitChassis(waitCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(waitCtx(t, 5*time.Second), false, []*ovndpuv1.AttachmentClaim{claim("a2")}); err != nil {
		t.Fatal(err)
	}
	if got := waitClaims(2)[1]; got.ReplaceAll || got.Claims[0].AttachmentId != "a2" {
		t.Errorf("an ADD's claim: %v, want a2 alone", got)
	}

	// The DPU agent restarts: the client claims everything again.
	srv.Stop()
	held = append(held, claim("a2"))
	a, _ = serveClaiming(t, socket, true)
	if got := waitClaims(1)[0]; !got.ReplaceAll || len(got.Claims) != 2 {
		t.Errorf("after a reconnect: %v, want replace_all with both", got)
	}
}

func TestNoClaimsWhereNotRequired(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	a, _ := serveClaiming(t, socket, false)
	c := follow(t, socket, "h1")
	if _, err := c.WaitChassis(waitCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Claim(waitCtx(t, 5*time.Second), false, []*ovndpuv1.AttachmentClaim{claim("a1")}); err != nil {
		t.Fatal(err)
	}
	if got := a.received(); len(got) != 0 {
		t.Errorf("Claim calls to a DPU that requires none: %v", got)
	}
}
