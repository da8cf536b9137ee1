package tlsutil

import (
	"log/slog"
	"time"
)

// Option configures a Reloader and the configurations built on it.
type Option func(*options)

type options struct {
	pollInterval  time.Duration
	logger        *slog.Logger
	skipHostCheck bool
}

func newOptions(opts []Option) options {
	o := options{pollInterval: 2 * time.Second, logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithPollInterval sets how often the files are re-read, both by Run and,
// at most, by handshakes; default 2s.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.pollInterval = d
		}
	}
}

// WithLogger sets where reloads and broken files are reported; default
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithoutHostnameCheck makes a client verify that the server's certificate
// chains to the CA but not which host it names. This is how Open vSwitch's
// own SSL treats OVSDB peers: certificates from ovs-pki carry only a CN,
// no subject alternative names, so an ssl:IP:PORT remote could never match
// by name. Trust then rests entirely on the CA: use a CA that signs only
// OVSDB servers and clients. Servers ignore it.
func WithoutHostnameCheck() Option {
	return func(o *options) { o.skipHostCheck = true }
}
