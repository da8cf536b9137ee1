package dpuclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Client follows one DPU agent. Create it with New and run Run.
type Client struct {
	api  ovndpuv1.DPUAgentClient
	node string
	log  *slog.Logger

	mu      sync.Mutex
	info    *ovndpuv1.InfoResponse
	ports   map[string]*ovndpuv1.PortStatus
	synced  bool          // the current stream's snapshot is complete
	lastErr error         // why the stream is down, for error messages
	changed chan struct{} // closed and replaced on every change
}

// New follows the DPU agent behind conn, watching the ports of node.
func New(conn grpc.ClientConnInterface, node string, log *slog.Logger) *Client {
	return &Client{api: ovndpuv1.NewDPUAgentClient(conn), node: node, log: log,
		ports: map[string]*ovndpuv1.PortStatus{}, changed: make(chan struct{})}
}

// Run keeps Info and the WatchPorts stream current until ctx ends.
func (c *Client) Run(ctx context.Context) {
	wait := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := c.follow(ctx)
		c.setDown(err)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("DPU agent stream lost; reconnecting", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// follow asks Info, then reads one WatchPorts stream to its end.
func (c *Client) follow(ctx context.Context) error {
	info, err := c.api.Info(ctx, &ovndpuv1.InfoRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("DPU agent Info: %w", err)
	}
	c.mu.Lock()
	c.info = info
	c.mu.Unlock()
	stream, err := c.api.WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: c.node}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("DPU agent WatchPorts: %w", err)
	}
	snapshot := map[string]*ovndpuv1.PortStatus{}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("DPU agent WatchPorts stream: %w", err)
		}
		if p := ev.GetPort(); p != nil && snapshot != nil {
			snapshot[p.LogicalPort] = p
			continue
		}
		if ev.GetSnapshotComplete() != nil {
			c.replace(snapshot)
			snapshot = nil
			continue
		}
		c.apply(ev.GetPort())
	}
}

// replace installs a complete snapshot: ports missing from it are gone.
func (c *Client) replace(ports map[string]*ovndpuv1.PortStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ports, c.synced, c.lastErr = ports, true, nil
	c.notifyLocked()
}

func (c *Client) apply(p *ovndpuv1.PortStatus) {
	if p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.ports[p.LogicalPort]; cur != nil && cur.Generation > p.Generation {
		return // stale
	}
	if p.Phase == ovndpuv1.Phase_PHASE_UNPLUGGED {
		delete(c.ports, p.LogicalPort)
	} else {
		c.ports[p.LogicalPort] = p
	}
	c.notifyLocked()
}

func (c *Client) setDown(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.synced, c.lastErr = false, err
	c.notifyLocked()
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Info is the DPU agent's last Info answer, or an error when none came yet.
func (c *Client) Info() (*ovndpuv1.InfoResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info == nil {
		return nil, c.downErr()
	}
	return c.info, nil
}

// Connected reports whether the stream is up with a complete snapshot.
func (c *Client) Connected() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return c.downErr()
	}
	return nil
}

func (c *Client) downErr() error {
	if c.lastErr != nil {
		return fmt.Errorf("DPU agent not reachable: %w", c.lastErr)
	}
	return errors.New("DPU agent not reachable yet")
}

// WaitChassis waits for the DPU's chassis name, learned from Info.
func (c *Client) WaitChassis(ctx context.Context) (string, error) {
	var chassis string
	err := c.wait(ctx, func() bool {
		if c.info != nil {
			chassis = c.info.Chassis
		}
		return chassis != ""
	})
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return "", fmt.Errorf("DPU chassis name not learned: %w; %v", err, c.downErr())
	}
	return chassis, nil
}

// wait evaluates done under the lock now and after every change, so a
// change between the caller's last look and its wait can never be missed.
func (c *Client) wait(ctx context.Context, done func() bool) error {
	for {
		c.mu.Lock()
		ok, changed := done(), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}
