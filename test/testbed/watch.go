package testbed

import (
	"context"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Watcher records a WatchPorts stream for assertions.
type Watcher struct {
	mu       sync.Mutex
	changed  chan struct{}
	events   []*ovndpuv1.WatchPortsResponse
	latest   map[string]*ovndpuv1.PortStatus
	synced   bool
	err      error
	cancel   context.CancelFunc
	finished chan struct{}
}

// Watch starts a WatchPorts stream on the agent (node filter optional).
func (a *DPUAgent) Watch(ctx context.Context, node string) (*Watcher, error) {
	conn, err := a.Dial()
	if err != nil {
		return nil, err
	}
	return WatchConn(ctx, conn, node)
}

// WatchConn is Watch over conn (a TLS connection, say), which the Watcher
// closes when its stream ends.
func WatchConn(ctx context.Context, conn *grpc.ClientConn, node string) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := ovndpuv1.NewDPUAgentClient(conn).WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: node})
	if err != nil {
		cancel()
		conn.Close()
		return nil, err
	}
	w := &Watcher{changed: make(chan struct{}), latest: map[string]*ovndpuv1.PortStatus{}, cancel: cancel, finished: make(chan struct{})}
	go func() {
		defer close(w.finished)
		defer conn.Close()
		for {
			ev, err := stream.Recv()
			w.record(ev, err)
			if err != nil {
				return
			}
		}
	}()
	return w, nil
}

func (w *Watcher) record(ev *ovndpuv1.WatchPortsResponse, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.err = err
	} else {
		w.events = append(w.events, ev)
		if p := ev.GetPort(); p != nil {
			w.latest[p.LogicalPort] = p
		} else {
			w.synced = true
		}
	}
	close(w.changed)
	w.changed = make(chan struct{})
}

// Close ends the stream.
func (w *Watcher) Close() { w.cancel(); <-w.finished }

// Events returns everything received so far, in order.
func (w *Watcher) Events() []*ovndpuv1.WatchPortsResponse {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*ovndpuv1.WatchPortsResponse(nil), w.events...)
}

// Latest is the last status received for each port.
func (w *Watcher) Latest(lsp string) *ovndpuv1.PortStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.latest[lsp]
}

// WaitUntil waits until cond, evaluated under the watcher's lock on the
// latest statuses, holds; it reports the statuses it last saw on timeout.
func (w *Watcher) WaitUntil(ctx context.Context, timeout time.Duration, what string, cond func(latest map[string]*ovndpuv1.PortStatus) bool) error {
	deadline := time.After(timeout)
	for {
		w.mu.Lock()
		ok, err, changed := cond(w.latest), w.err, w.changed
		w.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: stream ended: %w", what, err)
		}
		select {
		case <-changed:
		case <-deadline:
			return fmt.Errorf("%s: not within %v; last statuses: %s", what, timeout, w.describe())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// WaitPhase waits until every lsp's latest status has phase.
func (w *Watcher) WaitPhase(ctx context.Context, timeout time.Duration, phase ovndpuv1.Phase, lsps ...string) error {
	return w.WaitUntil(ctx, timeout, fmt.Sprintf("%d ports %v", len(lsps), phase), func(latest map[string]*ovndpuv1.PortStatus) bool {
		for _, lsp := range lsps {
			if st := latest[lsp]; st == nil || st.Phase != phase {
				return false
			}
		}
		return true
	})
}

func (w *Watcher) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := ""
	n := 0
	for lsp, st := range w.latest {
		if n++; n > 10 {
			return s + fmt.Sprintf(" ... (%d ports)", len(w.latest))
		}
		s += fmt.Sprintf("\n  %s: %v %q", lsp, st.Phase, st.Reason)
	}
	return s
}
