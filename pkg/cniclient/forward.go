package cniclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

const (
	// DefaultConnectTimeout caps how long Forward waits for the host agent's
	// socket to accept a connection, e.g. while the agent restarts.
	DefaultConnectTimeout = 10 * time.Second
	// DefaultCallMargin is added to the configuration's timeoutSeconds for
	// the call's deadline, so the agent's own timeout (error 101 with the
	// DPU's last reason) answers before the plugin gives up blindly.
	DefaultCallMargin = 15 * time.Second
	// maxAttempts bounds how often one CNI call is sent again after the
	// agent went away under it.
	maxAttempts = 4
)

// Option tunes Forward.
type Option func(*options)

type options struct {
	connectTimeout time.Duration
	callMargin     time.Duration
	onDialError    func(error)
}

// WithConnectTimeout bounds the wait for the connection to the host agent.
// Without it the bound is DefaultConnectTimeout, or timeoutSeconds when that
// is shorter: an operation allowed 5s should not spend 10s finding the agent.
func WithConnectTimeout(d time.Duration) Option {
	return func(o *options) { o.connectTimeout = d }
}

// WithCallMargin replaces DefaultCallMargin.
func WithCallMargin(d time.Duration) Option {
	return func(o *options) { o.callMargin = d }
}

// withDialObserver lets tests learn that a dial failed, so they can start
// the agent "late" without sleeping.
func withDialObserver(f func(error)) Option {
	return func(o *options) { o.onDialError = f }
}

// Forward sends req to the host agent listening on the unix socket and
// returns the CNI result bytes it answered (empty for DEL, GC, STATUS).
// The call's deadline is req.Config's timeoutSeconds plus a margin.
//
// Every error is a *types.Error: the agent's own CNI error as it sent it;
// ErrTryAgainLater (11) when the agent cannot be reached within the
// connect bound, drops the connection or does not answer in time, because
// all of those are worth a retry by the runtime; the codes of
// netconf.Parse when req.Config is unusable; ErrInternal (999) otherwise.
func Forward(ctx context.Context, socket string, req *ovndpuv1.CNIRequest, opts ...Option) ([]byte, error) {
	conf, err := netconf.Parse(req.GetConfig())
	if err != nil {
		return nil, err
	}
	o := options{
		connectTimeout: min(DefaultConnectTimeout, conf.Timeout()),
		callMargin:     DefaultCallMargin,
	}
	for _, opt := range opts {
		opt(&o)
	}

	var (
		mu      sync.Mutex
		lastErr error
	)
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "unix", socket)
		if err != nil {
			mu.Lock()
			lastErr = err
			mu.Unlock()
			if o.onDialError != nil {
				o.onDialError(err)
			}
		}
		return c, err
	}
	conn, err := grpc.NewClient("unix:"+socket,
		// The socket's file mode (0600, root) is the authentication.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dial),
		// gRPC's default backoff starts at 1s; an agent coming back from a
		// restart should be found within a few tens of milliseconds.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  50 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   time.Second,
			},
			MinConnectTimeout: o.connectTimeout,
		}),
	)
	if err != nil {
		return nil, types.NewError(types.ErrInternal,
			fmt.Sprintf("creating the gRPC client for the ovn-dpu host agent on %s", socket), err.Error())
	}
	defer func() { _ = conn.Close() }()

	// One deadline for every attempt: a call the agent lost in a restart
	// is sent again, but the runtime's wait is not stretched by it.
	callTimeout := conf.Timeout() + o.callMargin
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	client := ovndpuv1.NewHostAgentClient(conn)
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			// The channel may not have noticed the loss yet; a call sent
			// on it now would fail the same way at once.
			leaveReady(callCtx, conn, 250*time.Millisecond)
		}
		if err := waitReady(callCtx, conn, o.connectTimeout); err != nil {
			mu.Lock()
			details := fmt.Sprintf("waited %s", o.connectTimeout)
			if lastErr != nil {
				details += "; last attempt: " + lastErr.Error()
			}
			mu.Unlock()
			msg := fmt.Sprintf("the ovn-dpu host agent is not reachable on %s (is ovn-dpu-host-agent running?)", socket)
			if attempt > 1 {
				msg = fmt.Sprintf("the ovn-dpu host agent on %s went away during the call and did not come back", socket)
			}
			return nil, types.NewError(types.ErrTryAgainLater, msg, details)
		}
		resp, err := client.CNI(callCtx, req)
		if err != nil {
			// The agent went away mid-call (killed, restarted, upgraded).
			// Every verb may be sent again: a repeated ADD replaces what
			// the lost one may have half made, DEL is idempotent, and
			// CHECK, GC and STATUS only read or converge. Bounded, so an
			// agent that answers Unavailable itself is not asked forever.
			if status.Code(err) == codes.Unavailable && attempt < maxAttempts && callCtx.Err() == nil {
				continue
			}
			return nil, callError(socket, callTimeout, attempt, err)
		}
		if e := resp.GetError(); e != nil {
			return nil, types.NewError(uint(e.GetCode()), e.GetMsg(), e.GetDetails())
		}
		return resp.GetResult(), nil
	}
}

// leaveReady waits (at most bound) until conn is no longer Ready.
func leaveReady(ctx context.Context, conn *grpc.ClientConn, bound time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	if s := conn.GetState(); s == connectivity.Ready {
		conn.WaitForStateChange(ctx, s)
	}
}

func waitReady(ctx context.Context, conn *grpc.ClientConn, bound time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.Idle:
			// An idle channel does not dial by itself.
			conn.Connect()
		case connectivity.Shutdown:
			return errors.New("connection shut down")
		}
		if !conn.WaitForStateChange(ctx, s) {
			return ctx.Err()
		}
	}
}

func callError(socket string, timeout time.Duration, attempts int, err error) *types.Error {
	st := status.Convert(err)
	switch st.Code() {
	case codes.Unavailable:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("the ovn-dpu host agent on %s became unavailable during the call (%d attempts)", socket, attempts), st.Message())
	case codes.DeadlineExceeded:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("the ovn-dpu host agent on %s did not answer within %s", socket, timeout), st.Message())
	case codes.Canceled:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("the call to the ovn-dpu host agent on %s was canceled", socket), st.Message())
	default:
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("the ovn-dpu host agent on %s failed the call: %s", socket, st.Code()), st.Message())
	}
}
