package hostagent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Config is what the host agent needs; see DESIGN.md for the flags.
type Config struct {
	NBRemotes []string
	NBTLS     *tls.Config
	Node      string
	SysfsRoot string
	StateDir  string
	// HostNetns is the path of the namespace holding the VFs; "" is the
	// agent's own.
	HostNetns string
}

// Agent carries out CNI requests. Create it with New, then Run.
type Agent struct {
	ovndpuv1.UnimplementedHostAgentServer
	cfg     Config
	opts    options
	log     *slog.Logger
	nb      *northbound
	dpu     *dpuclient.Client
	sysfs   *sysfs.Reader
	plumber *netns.Plumber
	ipam    *ipam.Delegate
	state   *hoststate.Store
	locks   *hoststate.Locker
	ready   chan struct{} // closed once NB is connected
	// claimMu makes "is this VF free?" and recording the claim one step.
	claimMu sync.Mutex
	metrics *metrics
}

type options struct {
	log        *slog.Logger
	delTimeout time.Duration
	now        func() time.Time
}

// Option tunes an Agent.
type Option func(*options)

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithDelTimeout bounds how long DEL waits for the DPU to report the port
// unplugged before it answers anyway (the DPU may be down; DEL must finish).
func WithDelTimeout(d time.Duration) Option { return func(o *options) { o.delTimeout = d } }

// New prepares an agent that reaches the DPU agent through dpuConn.
func New(cfg Config, dpuConn grpc.ClientConnInterface, opts ...Option) (*Agent, error) {
	o := options{log: slog.Default(), delTimeout: 10 * time.Second, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if len(cfg.NBRemotes) == 0 {
		return nil, errors.New("no Northbound remote: set --nb")
	}
	if cfg.Node == "" {
		return nil, errors.New("no node name: set --node-name")
	}
	state, err := hoststate.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("--state-dir %s: %w", cfg.StateDir, err)
	}
	return &Agent{
		cfg: cfg, opts: o, log: o.log,
		dpu:     dpuclient.New(dpuConn, cfg.Node, o.log),
		sysfs:   sysfs.New(cfg.SysfsRoot),
		plumber: netns.New(netns.WithLogger(o.log)),
		ipam:    &ipam.Delegate{},
		state:   state,
		locks:   &hoststate.Locker{},
		ready:   make(chan struct{}),
		metrics: newMetrics(),
	}, nil
}

// Run connects to NB and follows the DPU agent until ctx ends. CNI calls
// that arrive before NB is connected wait for it (within their timeout).
func (a *Agent) Run(ctx context.Context) error {
	go a.dpu.Run(ctx)
	nb, err := connectNB(ctx, a.cfg.NBRemotes, a.cfg.NBTLS, a.cfg.Node, a.log)
	if err != nil {
		return err
	}
	defer nb.c.Close()
	a.nb = nb
	close(a.ready)
	a.log.Info("connected to OVN NB", "nb", nb.c.CurrentEndpoint(), "node", a.cfg.Node)
	<-ctx.Done()
	return nil
}

// waitReady waits until NB is connected.
func (a *Agent) waitReady(ctx context.Context) error {
	select {
	case <-a.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("OVN NB %v not connected yet: %w", a.cfg.NBRemotes, ctx.Err())
	}
}

// Ready reports why ADDs cannot succeed now (STATUS, /readyz).
func (a *Agent) Ready() error {
	select {
	case <-a.ready:
	default:
		return fmt.Errorf("OVN NB %v not connected yet", a.cfg.NBRemotes)
	}
	if !a.nb.c.Connected() {
		return fmt.Errorf("OVN NB %v not connected", a.cfg.NBRemotes)
	}
	return a.dpu.Connected()
}
