package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
)

// Defaults of a Session's timing.
const (
	// DefaultProbeInterval is how often a Session echoes its server; a
	// server that does not answer within it is given up on. OVN's own
	// daemons probe every 5 s; a hung RAFT leader then costs at most two
	// intervals before the session moves to the new one.
	DefaultProbeInterval = 5 * time.Second
	// DefaultConnectTimeout bounds one connection attempt to one remote,
	// monitors included.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxBackoff caps the wait between rounds over every remote.
	DefaultMaxBackoff = 10 * time.Second
)

// Setup prepares a freshly connected client before anyone else uses it:
// it adds cache event handlers and starts the monitors. It runs again on
// every new connection.
type Setup func(ctx context.Context, c client.Client) error

// Session keeps one live client of a database across server failures. It
// does not use libovsdb's own reconnect, which on v0.8.1 cannot leave a
// hung server (it retries the remote it was connected to first, with one
// deadline for all remotes, so a server that accepts connections but never
// answers stalls it for good) and whose inactivity check can panic
// ("send on closed channel") when a reply races a disconnect. Instead each
// connection is a new client of one remote; a remote that fails or stops
// answering echo within the probe interval is tried last next time, and
// the next one is connected (for a cluster with LeaderOnly: the leader).
//
// A new connection starts with an empty cache that Setup's monitors fill
// before the session reports it up, so a cache read after Wait reflects the
// server as of that connection; deletions that happened while down are not
// notified (the new cache simply lacks the rows).
type Session struct {
	model model.ClientDBModel
	cfg   Config
	setup Setup
	log   *slog.Logger // with the database name
	base  *slog.Logger // without: libovsdb adds it itself

	mu       sync.Mutex
	cur      client.Client // latest client; nil before the first connection
	up       bool
	endpoint string
	// connCtx ends when the current connection is given up, releasing
	// calls stuck on a server that stopped answering.
	connCtx    context.Context
	connCancel context.CancelFunc
	remotes    []string // the order of the next round of attempts
	changed    chan struct{}
	upSince    time.Time

	reconnect chan string // Reconnect's reason, to watch

	stop context.CancelFunc // set by Open
	done chan struct{}      // closed when Open's Run returns
}

// Open starts a session that runs until Close, and waits (within ctx) for
// its first connection.
func Open(ctx context.Context, dbModel model.ClientDBModel, cfg Config, setup Setup, log *slog.Logger) (*Session, error) {
	s, err := NewSession(dbModel, cfg, setup, log)
	if err != nil {
		return nil, err
	}
	var runCtx context.Context
	runCtx, s.stop = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		_ = s.Run(runCtx)
	}()
	if _, err := s.Wait(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close ends a session started by Open and waits until its client is
// closed.
func (s *Session) Close() {
	if s.stop == nil {
		return
	}
	s.stop()
	<-s.done
}

// NewSession validates cfg; Run connects.
func NewSession(dbModel model.ClientDBModel, cfg Config, setup Setup, log *slog.Logger) (*Session, error) {
	if len(cfg.Remotes) == 0 {
		return nil, fmt.Errorf("no OVSDB remotes for database %s", dbModel.Name())
	}
	if NeedsTLS(cfg.Remotes) && cfg.TLS == nil {
		return nil, fmt.Errorf("database %s: ssl: remote in %v needs a certificate, key and CA", dbModel.Name(), cfg.Remotes)
	}
	if setup == nil {
		setup = func(context.Context, client.Client) error { return nil }
	}
	return &Session{model: dbModel, cfg: cfg.withDefaults(), setup: setup, log: log.With("database", dbModel.Name()), base: log,
		remotes: slices.Clone(cfg.Remotes), changed: make(chan struct{}), reconnect: make(chan string, 1)}, nil
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = DefaultProbeInterval
	}
	return c
}

// Run connects and keeps the session connected until ctx ends, then closes
// the client. It returns ctx's error.
func (s *Session) Run(ctx context.Context) error {
	for {
		c, endpoint, err := s.connect(ctx)
		if err != nil {
			s.close()
			return err
		}
		s.publish(c, endpoint)
		reason, requested := s.watch(ctx, c)
		s.retire(c, endpoint, reason, !requested)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// Wait returns the client once the session is up (connected, monitors
// filled), or ctx's error.
func (s *Session) Wait(ctx context.Context) (client.Client, error) {
	c, _, err := s.wait(ctx)
	return c, err
}

// Do waits until the session is up and runs fn with its client and a
// context that also ends when that connection is given up, so a call stuck
// on a server that stopped answering returns as soon as the session moves
// on (with an error wrapping context.Canceled while ctx itself is live).
func (s *Session) Do(ctx context.Context, fn func(context.Context, client.Client) error) error {
	c, connCtx, err := s.wait(ctx)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(connCtx, cancel)()
	return fn(callCtx, c)
}

func (s *Session) wait(ctx context.Context) (client.Client, context.Context, error) {
	for {
		s.mu.Lock()
		c, up, connCtx, changed := s.cur, s.up, s.connCtx, s.changed
		s.mu.Unlock()
		if up {
			return c, connCtx, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("database %s not connected (remotes %v): %w", s.model.Name(), s.cfg.Remotes, ctx.Err())
		case <-changed:
		}
	}
}

// Client is the latest client, up or not (nil before the first
// connection). Its cache may be stale while the session is down; Up says.
func (s *Session) Client() client.Client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Up reports whether the session is connected and when that connection
// started (its cache was filled then).
func (s *Session) Up() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up, s.upSince
}

// Endpoint is the remote of the current connection ("" while down).
func (s *Session) Endpoint() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return ""
	}
	return s.endpoint
}

// Changed returns a channel closed at the next change of Up.
func (s *Session) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Session) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Session) publish(c client.Client, endpoint string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur, s.up, s.endpoint, s.upSince = c, true, endpoint, time.Now()
	s.connCtx, s.connCancel = context.WithCancel(context.Background())
	s.notifyLocked()
	s.log.Info("OVSDB session up", "endpoint", endpoint)
}

// retire marks the session down and closes c; unless the reconnect was
// asked for, endpoint goes to the back of the line, so the next round
// starts with the other remotes.
func (s *Session) retire(c client.Client, endpoint, reason string, demote bool) {
	s.mu.Lock()
	s.up = false
	s.connCancel()
	s.notifyLocked()
	if i := slices.Index(s.remotes, endpoint); demote && i >= 0 && len(s.remotes) > 1 {
		s.remotes = append(append(s.remotes[:i:i], s.remotes[i+1:]...), endpoint)
	}
	s.mu.Unlock()
	// Close waits for calls in flight on c; connCancel has released them,
	// but none of that may hold up the next connection.
	go c.Close()
	if reason != "" {
		s.log.Warn("OVSDB session down; reconnecting", "endpoint", endpoint, "reason", reason)
	}
}

func (s *Session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		s.cur.Close()
	}
	if s.up {
		s.up = false
		s.connCancel()
		s.notifyLocked()
	}
}

// connect tries every remote in turn, each with its own deadline, until
// one connects and its Setup succeeds; between rounds it backs off.
func (s *Session) connect(ctx context.Context) (client.Client, string, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = s.cfg.MaxBackoff
	bo.MaxElapsedTime = 0 // a daemon outlives any database outage
	for round := 0; ; round++ {
		s.mu.Lock()
		remotes := slices.Clone(s.remotes)
		s.mu.Unlock()
		var errs []error
		for _, r := range remotes {
			c, err := s.dial(ctx, r)
			if err == nil {
				return c, r, nil
			}
			if ctx.Err() != nil {
				return nil, "", ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s: %w", r, err))
		}
		wait := bo.NextBackOff()
		// Every round while the database is away would flood the log.
		if round < 3 || round%20 == 0 {
			s.log.Warn("OVSDB connect failed, retrying", "err", errors.Join(errs...), "retry_in", wait, "round", round+1)
		}
		select {
		case <-ctx.Done():
			return nil, "", ctx.Err()
		case <-time.After(wait):
		}
	}
}

// dial connects a new client to one remote and runs Setup, within the
// connect timeout.
func (s *Session) dial(ctx context.Context, remote string) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ConnectTimeout)
	defer cancel()
	c, err := newClient(s.model, s.cfg, remote, s.base)
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		c.Close()
		return nil, err
	}
	if err := s.setup(ctx, c); err != nil {
		c.Close()
		return nil, fmt.Errorf("set up monitors: %w", err)
	}
	return c, nil
}

// watch returns why c stopped being usable: the server went away (or, as
// a RAFT leader, lost leadership: libovsdb disconnects then), an echo went
// unanswered for the probe interval, Reconnect asked (requested), or ctx
// ended ("").
func (s *Session) watch(ctx context.Context, c client.Client) (reason string, requested bool) {
	probeFailed := make(chan string, 1)
	pctx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	go func() {
		t := time.NewTicker(s.cfg.ProbeInterval)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C:
			}
			if err := s.echo(pctx, c); err != nil && pctx.Err() == nil {
				probeFailed <- err.Error()
				return
			}
		}
	}()
	select {
	case <-ctx.Done():
		return "", false
	case <-c.DisconnectNotify():
		return "connection closed", false
	case reason := <-probeFailed:
		return reason, false
	case reason := <-s.reconnect:
		return reason, true
	}
}

// Reconnect gives the current connection up and makes a new one, for a
// client whose monitor conditions changed (the new connection's Setup
// builds them afresh). The same remote may serve it again.
func (s *Session) Reconnect(reason string) {
	select {
	case s.reconnect <- reason:
	default: // one is pending already
	}
}

// echo asks the server for an echo and waits at most the probe interval
// for it. The wait is its own: libovsdb's Echo takes the client's lock
// before it looks at its context, and behind calls stuck on a hung server
// (which a waiting writer such as a leader-change handler makes it queue
// for) it could block for as long as they do.
func (s *Session) echo(ctx context.Context, c client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
	defer cancel()
	answered := make(chan error, 1)
	go func() { answered <- c.Echo(ctx) }()
	select {
	case err := <-answered:
		if err != nil {
			return fmt.Errorf("echo failed: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no echo reply within %v", s.cfg.ProbeInterval)
	}
}

// newClient builds a client of one remote without libovsdb's reconnect
// or inactivity check: the Session does both.
func newClient(dbModel model.ClientDBModel, cfg Config, remote string, log *slog.Logger) (client.Client, error) {
	logger := logrFromSlog(log)
	opts := []client.Option{
		client.WithLeaderOnly(cfg.LeaderOnly),
		client.WithEndpoint(remote),
		client.WithLogger(&logger),
	}
	if cfg.TLS != nil {
		opts = append(opts, client.WithTLSConfig(cfg.TLS))
	}
	c, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("OVSDB client for %s at %s: %w", dbModel.Name(), remote, err)
	}
	return c, nil
}
