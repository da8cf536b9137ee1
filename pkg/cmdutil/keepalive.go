package cmdutil

import (
	"flag"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"
)

// gRPC keepalive between the host agent and the DPU agent. Without it a
// DPU that goes silent (link cut, DPU hung) leaves the host's WatchPorts
// stream open on a half-open TCP connection for as long as the kernel
// keeps retransmitting — many minutes — and STATUS keeps saying ready.
const (
	// DefaultKeepaliveTime: a peer silent this long is pinged.
	DefaultKeepaliveTime = 10 * time.Second
	// DefaultKeepaliveTimeout: a ping unanswered this long gives the
	// connection up. A silent DPU is noticed within time + timeout.
	DefaultKeepaliveTimeout = 5 * time.Second
	// MinKeepaliveTime is gRPC's floor for a client's ping interval.
	MinKeepaliveTime = 10 * time.Second
	// KeepaliveEnforcementMinTime: the DPU agent accepts client pings this
	// often (below MinKeepaliveTime, so any allowed client setting passes);
	// gRPC's default of 5 minutes would make it close every connection of a
	// pinging client with "too_many_pings".
	KeepaliveEnforcementMinTime = 5 * time.Second
	// ReconnectMaxDelay caps the backoff between attempts to reach the DPU
	// agent (gRPC's default grows to 2 minutes), and ConnectTimeout bounds
	// one attempt: a link that comes back is used within a few seconds.
	ReconnectMaxDelay = 2 * time.Second
	ConnectTimeout    = 5 * time.Second
)

// KeepaliveFlags are --grpc-keepalive-time and --grpc-keepalive-timeout.
type KeepaliveFlags struct {
	Time, Timeout time.Duration
}

// Register adds the flags to fs.
func (k *KeepaliveFlags) Register(fs *flag.FlagSet) {
	fs.DurationVar(&k.Time, "grpc-keepalive-time", DefaultKeepaliveTime,
		"ping the host<->DPU gRPC peer after this much silence (at least 10s)")
	fs.DurationVar(&k.Timeout, "grpc-keepalive-timeout", DefaultKeepaliveTimeout,
		"give the host<->DPU gRPC connection up when a ping is not answered within this")
}

// Validate checks the values against gRPC's limits.
func (k KeepaliveFlags) Validate() error {
	if k.Time < MinKeepaliveTime {
		return fmt.Errorf("--grpc-keepalive-time %v: gRPC clients ping at most every %v", k.Time, MinKeepaliveTime)
	}
	if k.Timeout <= 0 {
		return fmt.Errorf("--grpc-keepalive-timeout %v must be positive", k.Timeout)
	}
	return nil
}

// DialOptions are the host agent's options for its connection to the DPU
// agent: keepalive pings (also while no stream is open), and a reconnect
// backoff from 100 ms capped at ReconnectMaxDelay.
func (k KeepaliveFlags) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: k.Time, Timeout: k.Timeout, PermitWithoutStream: true}),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
			MinConnectTimeout: ConnectTimeout,
		}),
	}
}

// ServerOptions are the DPU agent's: it pings its clients the same way
// (a host gone silent frees its stream), and permits their pings.
func (k KeepaliveFlags) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: k.Time, Timeout: k.Timeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: KeepaliveEnforcementMinTime, PermitWithoutStream: true}),
	}
}
