package dpuagent

import (
	"context"
	"crypto/tls"
	"log/slog"
	"time"
)

// Plugger says who writes representor interfaces into the bridge.
type Plugger string

const (
	// PluggerAgent: this agent plugs; interfaces of other owners on a
	// representor are conflicts.
	PluggerAgent Plugger = "agent"
	// PluggerOVNController: ovn-controller's built-in representor provider
	// (ovn-vif) plugs; this agent only observes and reports.
	PluggerOVNController Plugger = "ovn-controller"
)

// Defaults of the configuration (and of the flags that set it).
const (
	DefaultOVSRemote = "unix:/var/run/openvswitch/db.sock"
	DefaultBridge    = "br-int"
	// DefaultRepresentorWait: see WithRepresentorWait.
	DefaultRepresentorWait = 5 * time.Second
)

// Config is what the agent needs to run; zero values get defaults in New.
type Config struct {
	SBRemotes   []string
	OVSRemote   string
	SBTLS       *tls.Config // for ssl: SB remotes
	OVSTLS      *tls.Config // for an ssl: OVS remote
	Chassis     string      // default: Open_vSwitch external_ids:system-id
	Bridge      string      // default br-int
	Plugger     Plugger     // default agent
	SysfsRoot   string      // default /sys
	DevlinkDump string      // `devlink -j port show` JSON file; empty: netlink
	// SetFunctionMAC: set each representor's devlink function hw_addr to
	// its logical port's MAC before plugging it (--set-function-mac;
	// function_mac.go). Needs Plugger agent.
	SetFunctionMAC bool
	// Hosts: the hosts a multi-host DPU serves and their devlink
	// controllers (--hosts; hosts.go). Set, every host sees only its own
	// PFs and ports, and a representor is plugged only for an attachment
	// its host claimed (claims.go). Needs WithPeerIdentity and Plugger
	// agent.
	Hosts Hosts
}

type options struct {
	log             *slog.Logger
	representorWait time.Duration
	resync          time.Duration
	unplugDelay     time.Duration
	retryMin        time.Duration
	retryMax        time.Duration
	probeInterval   time.Duration
	txnTimeout      time.Duration
	now             func() time.Time
	peerIdentity    func(context.Context) (string, bool)
}

// Option tunes an Agent.
type Option func(*options)

// WithLogger sets the structured logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithPeerIdentity tells the agent who a gRPC caller is (with mutual TLS:
// tlsutil.PeerIdentity), for Config.Hosts.
func WithPeerIdentity(identity func(context.Context) (string, bool)) Option {
	return func(o *options) { o.peerIdentity = identity }
}

// WithRepresentorWait sets how long a newly requested port whose
// representor is not in the devlink table stays PENDING (the VF may still
// be being created) before it turns ERROR. The port is plugged whenever the
// representor appears, also after it turned ERROR.
func WithRepresentorWait(d time.Duration) Option { return func(o *options) { o.representorWait = d } }

// WithUnplugDelay sets how long an interface must stay unrequested before
// it is unplugged (default 1s): long enough to ride out a database cache
// that is being replayed after a reconnect, short against the minutes OVN's
// own provider can take.
func WithUnplugDelay(d time.Duration) Option { return func(o *options) { o.unplugDelay = d } }

// WithResync sets how often the agent reconciles even without events, as a
// safety net for anything a notification could miss.
func WithResync(d time.Duration) Option { return func(o *options) { o.resync = d } }

// WithProbeInterval sets how often SB and OVS are echoed; a server that
// does not answer within it is given up on and the next remote tried
// (default conn.DefaultProbeInterval).
func WithProbeInterval(d time.Duration) Option { return func(o *options) { o.probeInterval = d } }

// WithRetryBackoff bounds the backoff of retried OVS transactions.
func WithRetryBackoff(minWait, maxWait time.Duration) Option {
	return func(o *options) { o.retryMin, o.retryMax = minWait, maxWait }
}

func newOptions(opts []Option) options {
	o := options{
		log:             slog.Default(),
		representorWait: DefaultRepresentorWait,
		resync:          time.Minute,
		unplugDelay:     time.Second,
		retryMin:        200 * time.Millisecond,
		retryMax:        30 * time.Second,
		txnTimeout:      defaultTxnTimeout,
		now:             time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
