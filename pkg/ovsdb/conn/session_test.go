package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ovsdbtest"
)

func startServer(t *testing.T, dir, name string) *ovsdbtest.Server {
	return ovsdbtest.Start(t, dir, name, ovsdbtest.NBSchema)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func nbModel(t *testing.T) model.ClientDBModel {
	t.Helper()
	m, err := nbdb.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func monitorSwitches(ctx context.Context, c client.Client) error {
	ls := &nbdb.LogicalSwitch{}
	_, err := c.Monitor(ctx, c.NewMonitor(client.WithTable(ls, &ls.Name)))
	return err
}

// waitEndpoint waits until the session is up on remote.
func waitEndpoint(t *testing.T, s *Session, remote string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		changed := s.Changed()
		if s.Endpoint() == remote {
			return time.Since(start)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("session not up on %s within %v (endpoint %q)", remote, within, s.Endpoint())
		case <-changed:
		}
	}
}

func addSwitch(ctx context.Context, c client.Client, name string) error {
	ops1, err := c.Create(&nbdb.LogicalSwitch{UUID: "ls", Name: name})
	if err != nil {
		return err
	}
	_, err = ops.Transact(ctx, c, ops1)
	return err
}

func TestSessionMovesOnWhenItsServerDies(t *testing.T) {
	dir := t.TempDir()
	a, b := startServer(t, dir, "a"), startServer(t, dir, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, nbModel(t), Config{Remotes: []string{a.Remote, b.Remote}, ProbeInterval: 200 * time.Millisecond},
		monitorSwitches, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Endpoint() != a.Remote {
		t.Fatalf("first connection to %q, want the first remote %s", s.Endpoint(), a.Remote)
	}
	a.Kill()
	took := waitEndpoint(t, s, b.Remote, 10*time.Second)
	t.Logf("up on the second server %v after the first was killed", took)
	// The new connection's cache is the new server's, monitors included.
	if err := s.Do(ctx, func(ctx context.Context, c client.Client) error { return addSwitch(ctx, c, "on-b") }); err != nil {
		t.Fatal(err)
	}
	for {
		var found []*nbdb.LogicalSwitch
		if err := s.Client().List(ctx, &found); err != nil {
			t.Fatal(err)
		}
		if len(found) == 1 && found[0].Name == "on-b" {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("cache of the new connection never showed the switch: %v", found)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// A server that accepts connections but never answers (a SIGSTOPped RAFT
// leader) must not hold the session, nor calls in flight on it.
func TestSessionLeavesAHungServer(t *testing.T) {
	dir := t.TempDir()
	a, b := startServer(t, dir, "a"), startServer(t, dir, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const probe = 300 * time.Millisecond
	s, err := Open(ctx, nbModel(t), Config{Remotes: []string{a.Remote, b.Remote}, ProbeInterval: probe,
		ConnectTimeout: time.Second}, monitorSwitches, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a.Signal(syscall.SIGSTOP)
	start := time.Now()
	stuck := make(chan error, 1)
	go func() {
		stuck <- s.Do(ctx, func(ctx context.Context, c client.Client) error { return addSwitch(ctx, c, "lost") })
	}()
	// A writer queued on the client's lock behind the stuck call (libovsdb
	// takes it on a leader change or a disconnect) must not stall the
	// probe: new readers of the lock, libovsdb's Echo among them, queue
	// behind it.
	c := s.Client()
	time.Sleep(50 * time.Millisecond) // let the call get stuck first
	go c.Disconnect()
	select {
	case err := <-stuck:
		if err == nil || !ops.OutcomeUnknown(err) {
			t.Errorf("call on the hung server: %v, want an error of unknown outcome", err)
		}
		if took := time.Since(start); took > 3*probe+time.Second {
			t.Errorf("call on the hung server released after %v, want within about two probe intervals", took)
		}
	case <-ctx.Done():
		t.Fatal("a call on the hung server was never released")
	}
	took := waitEndpoint(t, s, b.Remote, 10*time.Second)
	t.Logf("up on the second server %v after the first hung (probe %v)", took, probe)
	if err := s.Do(ctx, func(ctx context.Context, c client.Client) error { return addSwitch(ctx, c, "on-b") }); err != nil {
		t.Fatal(err)
	}
}

// Transactions racing disconnects must never crash the process nor hang.
// With libovsdb v0.8.1's inactivity check, a reply arriving while the
// client handled a disconnect panicked with "send on closed channel"
// (crashing the host agent mid-burst on a real cluster); a Session does not
// turn that check on, so the send cannot happen. The race is too narrow to
// hit on demand here (it did not in 3 runs of 10 s with the check on): this
// stress test guards the rest — every call returns, writes go on between
// disconnects.
func TestSessionSurvivesTransactionsRacingDisconnects(t *testing.T) {
	dir := t.TempDir()
	a, b := startServer(t, dir, "a"), startServer(t, dir, "b")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, nbModel(t), Config{Remotes: []string{a.Remote, b.Remote}, ProbeInterval: 100 * time.Millisecond},
		monitorSwitches, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	done := 0
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := s.Do(ctx, func(ctx context.Context, c client.Client) error {
					return addSwitch(ctx, c, fmt.Sprintf("w%d-%d", w, i))
				})
				if err == nil {
					mu.Lock()
					done++
					mu.Unlock()
				} else if ctx.Err() != nil {
					return
				}
			}
		})
	}
	// Cut the connection under the writers again and again: from the
	// client's side (as a failed probe does) and by killing a server.
	for round := range 40 {
		if c := s.Client(); c != nil {
			c.Disconnect()
		}
		if round == 20 {
			a.Kill()
		}
		time.Sleep(25 * time.Millisecond) // let writes get in flight again
	}
	close(stop)
	wg.Wait()
	if ctx.Err() != nil {
		t.Fatal("writers did not finish")
	}
	if done == 0 {
		t.Fatal("no write succeeded between the disconnects")
	}
	t.Logf("%d writes through 40 disconnects and a server kill", done)
	_ = b
}

func TestSessionWaitEndsWithContext(t *testing.T) {
	s, err := NewSession(nbModel(t), Config{Remotes: []string{"unix:" + filepath.Join(t.TempDir(), "none.sock")}}, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()
	if _, err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want the context's deadline", err)
	}
	if err := <-runDone; !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run = %v, want the context's deadline", err)
	}
}

func TestNewSessionValidates(t *testing.T) {
	if _, err := NewSession(nbModel(t), Config{}, nil, quiet()); err == nil {
		t.Error("no remotes accepted")
	}
	if _, err := NewSession(nbModel(t), Config{Remotes: []string{"ssl:127.0.0.1:1"}}, nil, quiet()); err == nil {
		t.Error("ssl: remote without TLS accepted")
	}
}
