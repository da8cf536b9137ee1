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
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Defaults of the flags that have them.
const (
	DefaultStateDir   = "/var/lib/ovn-dpu"
	DefaultDelTimeout = 10 * time.Second
)

// Config is what the host agent needs; docs/contract.md lists the flags
// that fill it.
type Config struct {
	NBRemotes []string
	NBTLS     *tls.Config
	Node      string
	SysfsRoot string // default sysfs.DefaultRoot
	StateDir  string // default DefaultStateDir
	// HostNetns is the path of the namespace holding the VFs; "" is the
	// agent's own.
	HostNetns string
	// NBProbeInterval: how often NB is echoed; a server silent that long is
	// left for the next remote (default conn.DefaultProbeInterval).
	NBProbeInterval time.Duration
}

// Agent carries out CNI requests. Create it with New, then Run.
type Agent struct {
	ovndpuv1.UnimplementedHostAgentServer
	cfg       Config
	opts      options
	log       *slog.Logger
	connectNB NBConnector
	nb        Northbound // set by Run before ready is closed
	dpus      dpus
	vfs       VFLookup
	plumber   Plumber
	ipam      IPAM
	state     *hoststate.Store
	locks     *hoststate.Locker
	ready     chan struct{} // closed once NB is connected
	// claimMu makes "is this VF free?" and reserving it one step; claiming
	// holds the reservations of ADDs whose record is not saved yet.
	claimMu  sync.Mutex
	claiming map[string]hoststate.Key
	// ipamGate keeps IPAM ADDs (readers) out of an IPAM GC (the writer),
	// which frees every lease not on the list it was given.
	ipamGate sync.RWMutex
	metrics  *metrics
}

type options struct {
	log           *slog.Logger
	delTimeout    time.Duration
	now           func() time.Time
	unknownPFWait time.Duration
	dpuConns      []grpc.ClientConnInterface
	dpus          []DPU
	connectNB     NBConnector
	vfs           VFLookup
	plumber       Plumber
	ipam          IPAM
}

// Option tunes an Agent.
type Option func(*options)

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithDelTimeout bounds how long DEL waits for the DPU to report the port
// unplugged before it answers anyway (the DPU may be down; DEL must finish).
func WithDelTimeout(d time.Duration) Option { return func(o *options) { o.delTimeout = d } }

// WithClock replaces time.Now for the timestamps in attachment state.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithDPUConn follows the DPU agents behind conns (the production DPUs:
// one per --dpu address).
func WithDPUConn(conns ...grpc.ClientConnInterface) Option {
	return func(o *options) { o.dpuConns = append(o.dpuConns, conns...) }
}

// WithUnknownPFWait replaces DefaultUnknownPFWait.
func WithUnknownPFWait(d time.Duration) Option { return func(o *options) { o.unknownPFWait = d } }

// WithDPU replaces the DPU agent streams.
func WithDPU(ds ...DPU) Option { return func(o *options) { o.dpus = append(o.dpus, ds...) } }

// WithNorthbound replaces how the NB session is opened (default: a
// libovsdb client of Config.NBRemotes).
func WithNorthbound(connect NBConnector) Option { return func(o *options) { o.connectNB = connect } }

// WithVFLookup replaces the sysfs VF lookup under Config.SysfsRoot.
func WithVFLookup(v VFLookup) Option { return func(o *options) { o.vfs = v } }

// WithPlumber replaces the netns plumbing.
func WithPlumber(p Plumber) Option { return func(o *options) { o.plumber = p } }

// WithIPAM replaces the IPAM delegate.
func WithIPAM(i IPAM) Option { return func(o *options) { o.ipam = i } }

// New prepares an agent; it connects nothing until Run. Collaborators not
// given by options are the production ones built from cfg.
func New(cfg Config, opts ...Option) (*Agent, error) {
	o := options{log: slog.Default(), delTimeout: DefaultDelTimeout, now: time.Now, unknownPFWait: DefaultUnknownPFWait}
	for _, opt := range opts {
		opt(&o)
	}
	if cfg.Node == "" {
		return nil, errors.New("no node name: set --node-name")
	}
	if cfg.SysfsRoot == "" {
		cfg.SysfsRoot = sysfs.DefaultRoot
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir
	}
	if o.connectNB == nil {
		if len(cfg.NBRemotes) == 0 {
			return nil, errors.New("no Northbound remote: set --nb")
		}
		o.connectNB = func(ctx context.Context) (Northbound, error) {
			return connectNB(ctx, conn.Config{Remotes: cfg.NBRemotes, TLS: cfg.NBTLS, LeaderOnly: true,
				ProbeInterval: cfg.NBProbeInterval}, cfg.Node, o.log)
		}
	}
	if len(o.dpus) == 0 && len(o.dpuConns) == 0 {
		return nil, errors.New("no DPU agent connection: set --dpu")
	}
	if o.vfs == nil {
		o.vfs = sysfs.New(cfg.SysfsRoot)
	}
	if o.plumber == nil {
		o.plumber = netns.New(netns.WithLogger(o.log))
	}
	if o.ipam == nil {
		o.ipam = &ipam.Delegate{}
	}
	state, err := hoststate.Open(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("--state-dir %s: %w", cfg.StateDir, err)
	}
	a := &Agent{
		cfg: cfg, opts: o, log: o.log, connectNB: o.connectNB,
		dpus: o.dpus, vfs: o.vfs, plumber: o.plumber, ipam: o.ipam,
		state:    state,
		locks:    &hoststate.Locker{},
		claiming: map[string]hoststate.Key{},
		ready:    make(chan struct{}),
		metrics:  newMetrics(),
	}
	if len(a.dpus) == 0 {
		// The production streams re-claim the agent's attachments on every
		// reconnect, so they are made once the agent exists.
		for _, conn := range o.dpuConns {
			a.dpus = append(a.dpus, dpuclient.New(conn, cfg.Node, o.log, dpuclient.WithClaimSource(a.claimsFor)))
		}
	}
	return a, nil
}

// Run connects to NB and follows the DPU agent until ctx ends. CNI calls
// that arrive before NB is connected wait for it (within their timeout).
func (a *Agent) Run(ctx context.Context) error {
	a.dpus.run(ctx)
	nb, err := a.connectNB(ctx)
	if err != nil {
		return err
	}
	defer nb.Close()
	a.nb = nb
	close(a.ready)
	a.log.Info("connected to OVN NB", "nb", a.cfg.NBRemotes, "node", a.cfg.Node)
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
	if !a.nb.Connected() {
		return fmt.Errorf("OVN NB %v not connected", a.cfg.NBRemotes)
	}
	return a.dpus.connected()
}
