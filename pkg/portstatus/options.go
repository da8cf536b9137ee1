package portstatus

import (
	"log/slog"
	"time"
)

// Option configures a Store (NewStore) or a Server (NewServer); each
// ignores the options that do not concern it, so the agent can pass one
// list to both.
type Option func(*options)

type options struct {
	now        func() time.Time
	subsBuffer int
	logger     *slog.Logger
	identity   IdentityFunc
}

// DefaultSubscriberBuffer is how many events a watcher may lag behind
// before it is dropped. A full reconcile of a large DPU after an OVN
// reconnect can change every port at once; 1024 covers that for the port
// counts a DPU serves while bounding memory per watcher.
const DefaultSubscriberBuffer = 1024

func newOptions(opts []Option) options {
	o := options{
		now:        time.Now,
		subsBuffer: DefaultSubscriberBuffer,
		logger:     slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithClock sets where the Store reads the time for updated, and for
// first_seen when Set is given none, so tests can control it; default
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithSubscriberBuffer sets how many undelivered events a subscriber may
// accumulate before the Store drops it; default DefaultSubscriberBuffer.
// Values below 1 are ignored: an unbuffered subscriber would be dropped on
// its first event unless it happened to be waiting.
func WithSubscriberBuffer(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.subsBuffer = n
		}
	}
}

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithIdentity makes a Server scope each WatchPorts stream to the node its
// caller is authenticated as, by identity (with mutual TLS:
// tlsutil.PeerIdentity): no node filter means that node's ports, a filter
// naming another node is refused with codes.PermissionDenied, and a caller
// without an identity is refused too. Without it (the default, for
// --insecure) the request's filter is trusted as it stands. A nil identity
// is ignored.
func WithIdentity(identity IdentityFunc) Option {
	return func(o *options) {
		if identity != nil {
			o.identity = identity
		}
	}
}
