package conn

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"
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
	// ConnectTimeout bounds each connection attempt to one remote, its
	// monitors included; default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// MaxBackoff caps the wait between rounds of attempts over every
	// remote; default DefaultMaxBackoff.
	MaxBackoff time.Duration
	// ProbeInterval is how often the server is echoed, and how long it has
	// to answer; default DefaultProbeInterval.
	ProbeInterval time.Duration
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
