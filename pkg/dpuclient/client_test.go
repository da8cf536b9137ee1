package dpuclient

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ovn-dpu/ovn-dpu/pkg/cmdutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// agent is the DPU agent's real status server on a unix socket.
type agent struct {
	store  *portstatus.Store
	srv    *grpc.Server
	socket string
}

func startAgent(t *testing.T, socket string, store *portstatus.Store) *agent {
	t.Helper()
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	info := func(context.Context) (*ovndpuv1.InfoResponse, error) {
		return &ovndpuv1.InfoResponse{Chassis: "dpu-1", ChassisRegistered: true}, nil
	}
	srv := grpc.NewServer()
	portstatus.NewServer(store, info).Register(srv)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return &agent{store: store, srv: srv, socket: socket}
}

func follow(t *testing.T, socket, node string) *Client {
	t.Helper()
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := New(conn, node, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	return c
}

func status(lsp, att, node string, phase ovndpuv1.Phase, reason string) *ovndpuv1.PortStatus {
	return &ovndpuv1.PortStatus{LogicalPort: lsp, AttachmentId: att, OwnerNode: node, Phase: phase, Reason: reason}
}

func waitCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestVerdicts(t *testing.T) {
	store := portstatus.NewStore()
	a := startAgent(t, filepath.Join(t.TempDir(), "a.sock"), store)
	// READY before anyone waits: the waiter must still see it.
	store.Set(status("early", "att1", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	store.Set(status("bad", "att2", "h1", ovndpuv1.Phase_PHASE_ERROR, "no representor for pf-mac x"))
	store.Set(status("stale", "old", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	store.Set(status("pending", "att4", "h1", ovndpuv1.Phase_PHASE_PENDING, "waiting for the representor"))
	store.Set(status("other-host", "att5", "h2", ovndpuv1.Phase_PHASE_READY, ""))
	c := follow(t, a.socket, "h1")

	if chassis, err := c.WaitChassis(waitCtx(t, 10*time.Second)); err != nil || chassis != "dpu-1" {
		t.Fatalf("WaitChassis = %q, %v", chassis, err)
	}
	if _, err := c.WaitReady(waitCtx(t, 10*time.Second), "early", "att1"); err != nil {
		t.Errorf("READY before the wait: %v", err)
	}
	if _, err := c.WaitReady(waitCtx(t, 10*time.Second), "bad", "att2"); !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "no representor") {
		t.Errorf("ERROR port: %v, want ErrRejected with the DPU's reason", err)
	}
	cases := map[string]struct{ lsp, att, want string }{
		"previous attachment": {"stale", "new", "previous attachment old"},
		"pending":             {"pending", "att4", "waiting for the representor"},
		"never seen":          {"ghost", "att9", "has not seen logical port ghost"},
		"other node filtered": {"other-host", "att5", "has not seen"},
	}
	for name, tc := range cases {
		_, err := c.WaitReady(waitCtx(t, 300*time.Millisecond), tc.lsp, tc.att)
		if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrNotReady mentioning %q", name, err, tc.want)
		}
	}
	// A change after the wait began.
	done := make(chan error, 1)
	go func() { _, err := c.WaitReady(waitCtx(t, 10*time.Second), "pending", "att4"); done <- err }()
	store.Set(status("pending", "att4", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	if err := <-done; err != nil {
		t.Errorf("READY after the wait began: %v", err)
	}
	store.Remove("early", "deleted")
	if err := c.WaitGone(waitCtx(t, 10*time.Second), "early", "att1"); err != nil {
		t.Errorf("WaitGone after UNPLUGGED: %v", err)
	}
}

// TestReconnectReplacesState: after the agent restarts, the client's view
// is the new snapshot — ports the new agent does not report are gone.
func TestReconnectReplacesState(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	first := startAgent(t, socket, portstatus.NewStore())
	first.store.Set(status("p1", "a1", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	c := follow(t, socket, "h1")
	if _, err := c.WaitReady(waitCtx(t, 10*time.Second), "p1", "a1"); err != nil {
		t.Fatal(err)
	}
	first.srv.Stop()
	second := startAgent(t, socket, portstatus.NewStore())
	second.store.Set(status("p2", "a2", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	if _, err := c.WaitReady(waitCtx(t, 20*time.Second), "p2", "a2"); err != nil {
		t.Fatalf("after reconnect: %v", err)
	}
	if err := c.WaitGone(waitCtx(t, 10*time.Second), "p1", "a1"); err != nil {
		t.Fatalf("p1 is not in the new snapshot but still reported: %v", err)
	}
}

// followWith is follow with the production dial options and client options.
func followWith(t *testing.T, socket, node string, opts ...Option) *Client {
	t.Helper()
	ka := cmdutil.KeepaliveFlags{Time: cmdutil.DefaultKeepaliveTime, Timeout: cmdutil.DefaultKeepaliveTimeout}
	conn, err := grpc.NewClient("unix:"+socket, append(ka.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := New(conn, node, slog.New(slog.DiscardHandler), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go c.Run(ctx)
	return c
}

// A DPU agent that stays away fails waits after the grace period with
// ErrUnreachable naming its address — also waits that began during the
// outage — and STATUS (Connected) says so; it is not held until the
// caller's timeout.
func TestUnreachableAfterGrace(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	a := startAgent(t, socket, portstatus.NewStore())
	a.store.Set(status("p1", "a1", "h1", ovndpuv1.Phase_PHASE_PENDING, "waiting for ovn-controller"))
	const grace = 300 * time.Millisecond
	c := followWith(t, socket, "h1", WithDownGrace(grace))
	if _, err := c.WaitChassis(waitCtx(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := eventually(10*time.Second, c.Connected); err != nil {
		t.Fatal(err)
	}
	a.srv.Stop()
	for _, name := range []string{"wait begun before the drop is noticed", "wait begun during the outage"} {
		start := time.Now()
		_, err := c.WaitReady(waitCtx(t, 30*time.Second), "p1", "a1")
		took := time.Since(start)
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "DPU agent at unix:"+socket+" unreachable") {
			t.Errorf("%s: %v, want ErrUnreachable naming the agent", name, err)
		}
		if took > grace+5*time.Second {
			t.Errorf("%s: gave up after %v; the grace is %v", name, took, grace)
		}
	}
	if err := c.Connected(); err == nil || !strings.Contains(err.Error(), "DPU agent at unix:"+socket+" not reachable") {
		t.Errorf("Connected = %v, want not reachable naming the agent", err)
	}
	// A short caller deadline during the outage: still unreachable, not
	// "not ready" (the DPU may well have plugged the port).
	c2 := followWith(t, socket, "h1", WithDownGrace(time.Hour))
	if _, err := c2.WaitReady(waitCtx(t, 200*time.Millisecond), "p1", "a1"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("deadline while down: %v, want ErrUnreachable", err)
	}
	if _, err := c2.WaitChassis(waitCtx(t, 200*time.Millisecond)); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Errorf("WaitChassis of a never reached agent: %v", err)
	}
}

// A stream that comes back within the grace does not fail a wait: the
// verdict from the new agent's snapshot arrives.
func TestShortBlipKeepsWaiting(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	first := startAgent(t, socket, portstatus.NewStore())
	first.store.Set(status("p1", "a1", "h1", ovndpuv1.Phase_PHASE_PENDING, "waiting for ovn-controller"))
	c := followWith(t, socket, "h1", WithDownGrace(10*time.Second))
	if err := eventually(10*time.Second, c.Connected); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.WaitReady(waitCtx(t, 30*time.Second), "p1", "a1"); done <- err }()
	first.srv.Stop()
	waitDrop(t, c)
	start := time.Now()
	second := startAgent(t, socket, portstatus.NewStore())
	second.store.Set(status("p1", "a1", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	if err := <-done; err != nil {
		t.Fatalf("WaitReady across a short blip: %v", err)
	}
	t.Logf("stream back and verdict in %v after the agent returned", time.Since(start))
}

// waitDrop waits until c has seen its stream drop.
func waitDrop(t *testing.T, c *Client) {
	t.Helper()
	if err := eventually(10*time.Second, func() error {
		if c.Connected() == nil {
			return errors.New("the drop is not seen yet")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// eventually polls f until it returns nil or d passes.
func eventually(d time.Duration, f func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PortStatus (what CHECK reads) waits out a short blip for the new
// agent's snapshot, and after the grace says the DPU is unreachable.
func TestPortStatusAcrossABlip(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "a.sock")
	first := startAgent(t, socket, portstatus.NewStore())
	first.store.Set(status("p1", "a1", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	const grace = 2 * time.Second
	c := followWith(t, socket, "h1", WithDownGrace(grace))
	if err := eventually(10*time.Second, c.Connected); err != nil {
		t.Fatal(err)
	}
	first.srv.Stop()
	waitDrop(t, c)
	got := make(chan *ovndpuv1.PortStatus, 1)
	go func() {
		st, err := c.PortStatus(waitCtx(t, 30*time.Second), "p1")
		if err != nil {
			t.Errorf("PortStatus across a short blip: %v", err)
		}
		got <- st
	}()
	second := startAgent(t, socket, portstatus.NewStore())
	second.store.Set(status("p1", "a2", "h1", ovndpuv1.Phase_PHASE_READY, ""))
	if st := <-got; st.GetAttachmentId() != "a2" {
		t.Errorf("PortStatus = %v, want the new agent's snapshot (attachment a2)", st)
	}
	second.srv.Stop()
	waitDrop(t, c)
	start := time.Now()
	if _, err := c.PortStatus(waitCtx(t, 30*time.Second), "p1"); !errors.Is(err, ErrUnreachable) {
		t.Errorf("PortStatus with the agent gone: %v, want ErrUnreachable", err)
	}
	if took := time.Since(start); took > grace+5*time.Second {
		t.Errorf("gave up after %v; the grace is %v", took, grace)
	}
}
