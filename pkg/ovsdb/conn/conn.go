package conn

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
)

// Config says where and how to connect.
type Config struct {
	// Remotes are OVSDB connection strings; the first that answers is used
	// and the others are tried on reconnect.
	Remotes []string
	// TLS is required when any remote is ssl:.
	TLS *tls.Config
	// LeaderOnly makes a clustered follower count as down, so writes and
	// monitors always reach the leader (NB and SB clients).
	LeaderOnly bool
	// ConnectTimeout bounds each connection attempt; default 10s.
	ConnectTimeout time.Duration
	// MaxBackoff caps the reconnect backoff; default 10s.
	MaxBackoff time.Duration
}

// ParseRemotes splits a comma-separated remote list (the form ovn-nbctl and
// ovn-controller accept) and checks each scheme.
func ParseRemotes(s string) ([]string, error) {
	var remotes []string
	for _, r := range strings.Split(s, ",") {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		scheme, rest, ok := strings.Cut(r, ":")
		if !ok || rest == "" {
			return nil, fmt.Errorf("OVSDB remote %q: want unix:PATH, tcp:HOST:PORT or ssl:HOST:PORT", r)
		}
		switch scheme {
		case "unix", "tcp", "ssl":
		default:
			return nil, fmt.Errorf("OVSDB remote %q: unsupported scheme %q (want unix, tcp or ssl)", r, scheme)
		}
		remotes = append(remotes, r)
	}
	if len(remotes) == 0 {
		return nil, fmt.Errorf("OVSDB remote list %q is empty", s)
	}
	return remotes, nil
}

// NeedsTLS reports whether any remote is ssl:.
func NeedsTLS(remotes []string) bool {
	for _, r := range remotes {
		if strings.HasPrefix(r, "ssl:") {
			return true
		}
	}
	return false
}

// New builds a client for dbModel. It does not connect: the caller sets up
// its monitors right after Connect so that reconnects re-establish them.
func New(dbModel model.ClientDBModel, cfg Config, log *slog.Logger) (client.Client, error) {
	if len(cfg.Remotes) == 0 {
		return nil, fmt.Errorf("no OVSDB remotes for database %s", dbModel.Name())
	}
	if NeedsTLS(cfg.Remotes) && cfg.TLS == nil {
		return nil, fmt.Errorf("database %s: ssl: remote in %v needs a certificate, key and CA", dbModel.Name(), cfg.Remotes)
	}
	timeout := cfg.ConnectTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	maxBackoff := cfg.MaxBackoff
	if maxBackoff == 0 {
		maxBackoff = 10 * time.Second
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = maxBackoff
	bo.MaxElapsedTime = 0 // keep trying: a daemon outlives an OVSDB restart
	logger := logrFromSlog(log.With("database", dbModel.Name()))
	// Reconnect with backoff, and probe with echo after 3 x timeout of
	// silence: a half-open TCP/SSL session would otherwise look alive
	// until the kernel's keepalive gives up, many minutes later.
	opts := []client.Option{
		client.WithLeaderOnly(cfg.LeaderOnly),
		client.WithInactivityCheck(3*timeout, timeout, bo),
		client.WithLogger(&logger),
	}
	for _, r := range cfg.Remotes {
		opts = append(opts, client.WithEndpoint(r))
	}
	if cfg.TLS != nil {
		opts = append(opts, client.WithTLSConfig(cfg.TLS))
	}
	c, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, fmt.Errorf("OVSDB client for %s at %v: %w", dbModel.Name(), cfg.Remotes, err)
	}
	return c, nil
}

// Connect connects c, retrying until ctx ends so that a daemon started
// before its database keeps waiting instead of exiting.
func Connect(ctx context.Context, c client.Client, log *slog.Logger) error {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = 100 * time.Millisecond
	bo.MaxInterval = 5 * time.Second
	bo.MaxElapsedTime = 0
	for {
		err := c.Connect(ctx)
		if err == nil {
			return nil
		}
		wait := bo.NextBackOff()
		log.Warn("OVSDB connect failed, retrying", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("connecting to OVSDB: %w (last error: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
