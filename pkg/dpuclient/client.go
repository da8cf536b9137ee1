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

// DefaultDownGrace is how long a wait for the DPU (WaitReady,
// WaitChassis) lets the stream stay down before it gives up with
// ErrUnreachable: a DPU agent restart or a reconnect is a short blip and
// must not fail ADDs, a DPU that stays away must fail them as "try again
// later" rather than hold them until their timeout.
const DefaultDownGrace = 5 * time.Second

// ErrUnreachable is returned by waits when the WatchPorts stream has been
// down for the grace period: no verdict can arrive while it is.
var ErrUnreachable = errors.New("unreachable")

// Client follows one DPU agent. Create it with New and run Run.
type Client struct {
	api    ovndpuv1.DPUAgentClient
	node   string
	log    *slog.Logger
	target string // the DPU agent's address, for messages ("" if unknown)
	grace  time.Duration
	// claimSource and claimMu: claims (claims.go).
	claimSource ClaimSource
	claimMu     sync.Mutex

	mu        sync.Mutex
	info      *ovndpuv1.InfoResponse
	ports     map[string]*ovndpuv1.PortStatus
	synced    bool          // the current stream's snapshot is complete
	downSince time.Time     // when the stream was lost (or New); while !synced
	lastErr   error         // why the stream is down, for error messages
	changed   chan struct{} // closed and replaced on every change
}

// Option tunes a Client.
type Option func(*Client)

// WithDownGrace replaces DefaultDownGrace.
func WithDownGrace(d time.Duration) Option { return func(c *Client) { c.grace = d } }

// New follows the DPU agent behind conn, watching the ports of node.
func New(conn grpc.ClientConnInterface, node string, log *slog.Logger, opts ...Option) *Client {
	c := &Client{api: ovndpuv1.NewDPUAgentClient(conn), node: node, log: log, grace: DefaultDownGrace,
		ports: map[string]*ovndpuv1.PortStatus{}, downSince: time.Now(), changed: make(chan struct{})}
	if t, ok := conn.(interface{ Target() string }); ok {
		c.target = t.Target()
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Run keeps Info and the WatchPorts stream current until ctx ends.
func (c *Client) Run(ctx context.Context) {
	const firstWait = 100 * time.Millisecond
	wait := firstWait
	for ctx.Err() == nil {
		err := c.follow(ctx)
		if c.setDown(err) {
			// That stream worked: this is a new outage, not a repeat.
			wait = firstWait
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("DPU agent stream lost; reconnecting", "dpu", c.target, "err", err, "retry_in", wait)
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
	c.setInfo(info)
	c.reclaim(ctx, info)
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
	c.ports, c.synced, c.lastErr, c.downSince = ports, true, nil, time.Time{}
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

// setDown records that the stream ended with err, and reports whether it
// had been synced.
func (c *Client) setDown(err error) (wasSynced bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	wasSynced = c.synced
	if wasSynced {
		c.downSince = time.Now()
	}
	c.synced, c.lastErr = false, err
	c.notifyLocked()
	return wasSynced
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) setInfo(info *ovndpuv1.InfoResponse) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.info = info
	c.notifyLocked()
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
		return fmt.Errorf("%s not reachable: %w", c.agentName(), c.lastErr)
	}
	return fmt.Errorf("%s not reachable yet", c.agentName())
}

// unreachableLocked is the error of a wait that gave up on the stream.
func (c *Client) unreachableLocked() error {
	why := "not connected yet"
	if c.lastErr != nil {
		why = c.lastErr.Error()
	}
	return fmt.Errorf("%s %w for %v: %s", c.agentName(), ErrUnreachable, time.Since(c.downSince).Round(100*time.Millisecond), why)
}

func (c *Client) agentName() string {
	if c.target == "" {
		return "DPU agent"
	}
	return "DPU agent at " + c.target
}

// WaitChassis waits for the DPU's chassis name, learned from Info.
func (c *Client) WaitChassis(ctx context.Context) (string, error) {
	var chassis string
	err := c.waitStream(ctx, func() bool {
		if c.info != nil {
			chassis = c.info.Chassis
		}
		return chassis != ""
	})
	if errors.Is(err, ErrUnreachable) {
		return "", fmt.Errorf("DPU chassis name not learned: %w", err)
	}
	if err != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return "", fmt.Errorf("DPU chassis name not learned: %w; %v", err, c.downErr())
	}
	return chassis, nil
}

// SetsFunctionMAC waits for the DPU's Info and reports whether the DPU
// agent sets VF MACs itself (ovn-dpu-agent --set-function-mac): the host
// must then leave them as the DPU sets them.
func (c *Client) SetsFunctionMAC(ctx context.Context) (bool, error) {
	var sets, known bool
	err := c.waitStream(ctx, func() bool {
		if c.info != nil {
			sets, known = c.info.GetSetsFunctionMac(), true
		}
		return known
	})
	if err != nil {
		return false, fmt.Errorf("DPU Info not received: %w", err)
	}
	return sets, nil
}

// wait evaluates done under the lock now and after every change, so a
// change between the caller's last look and its wait can never be missed.
func (c *Client) wait(ctx context.Context, done func() bool) error {
	return c.waitFor(ctx, false, done)
}

// waitStream is wait for an answer only the stream can bring: it gives up
// with ErrUnreachable once the stream has been down for the grace period,
// counted from when it went down or from the start of this wait, whichever
// is later (so a wait that begins during an outage gets the grace too).
func (c *Client) waitStream(ctx context.Context, done func() bool) error {
	return c.waitFor(ctx, true, done)
}

func (c *Client) waitFor(ctx context.Context, needStream bool, done func() bool) error {
	start := time.Now()
	for {
		c.mu.Lock()
		ok, changed := done(), c.changed
		var expired <-chan time.Time
		if needStream && !ok && !c.synced {
			left := c.grace - time.Since(maxTime(c.downSince, start))
			if left <= 0 {
				err := c.unreachableLocked()
				c.mu.Unlock()
				return err
			}
			expired = time.After(left)
		}
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-expired:
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Registered asks the DPU agent now (Info) whether its chassis is
// registered in OVN SB: without a Chassis row ovn-controller on the DPU
// claims no binding, so no port can become READY.
func (c *Client) Registered(ctx context.Context) error {
	info, err := c.RefreshInfo(ctx)
	if err != nil {
		return err
	}
	if !info.ChassisRegistered {
		return fmt.Errorf("DPU chassis %q is not registered in OVN SB (is ovn-controller running on the DPU?)", info.Chassis)
	}
	return nil
}
