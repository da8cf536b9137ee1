package cmdutil

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
)

// NewLogger builds the daemon's structured logger at level (debug, info,
// warn, error).
func NewLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// TLSFlags are the gRPC mTLS flags (--tls-cert --tls-key --tls-ca --insecure)
// and the OVSDB SSL flags (--ovsdb-cert --ovsdb-key --ovsdb-ca).
type TLSFlags struct {
	GRPC     tlsutil.Files
	Insecure bool
	OVSDB    tlsutil.Files
}

// Register adds the flags to fs.
func (f *TLSFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.GRPC.Cert, "tls-cert", "", "gRPC certificate (PEM); with --tls-key and --tls-ca enables mutual TLS")
	fs.StringVar(&f.GRPC.Key, "tls-key", "", "gRPC private key (PEM)")
	fs.StringVar(&f.GRPC.CA, "tls-ca", "", "CA (PEM) that peer certificates must chain to")
	fs.BoolVar(&f.Insecure, "insecure", false, "serve/dial gRPC without TLS")
	fs.StringVar(&f.OVSDB.Cert, "ovsdb-cert", "", "certificate (PEM) for ssl: OVSDB remotes")
	fs.StringVar(&f.OVSDB.Key, "ovsdb-key", "", "private key (PEM) for ssl: OVSDB remotes")
	fs.StringVar(&f.OVSDB.CA, "ovsdb-ca", "", "CA (PEM) for ssl: OVSDB remotes")
}

// OVSDBTLS returns the TLS config for remotes, or nil when none is ssl:.
// Like OVS itself it verifies the server's chain against the CA but not
// its host name: ovs-pki certificates carry no subject alternative names.
func (f *TLSFlags) OVSDBTLS(remotes []string, log *slog.Logger) (*tls.Config, *tlsutil.Reloader, error) {
	if !conn.NeedsTLS(remotes) {
		return nil, nil, nil
	}
	if f.OVSDB.IsZero() {
		return nil, nil, fmt.Errorf("ssl: remote in %v needs --ovsdb-cert, --ovsdb-key and --ovsdb-ca", remotes)
	}
	if err := f.OVSDB.ValidateFlags("--ovsdb-"); err != nil {
		return nil, nil, err
	}
	return tlsutil.ClientConfig(f.OVSDB, "", tlsutil.WithoutHostnameCheck(), tlsutil.WithLogger(log))
}

// Listen opens HOST:PORT or unix:PATH; a unix socket left by a previous run
// is replaced, and a new one is made mode 0600 (owner-only access is the
// authorisation of a unix-socket API).
func Listen(addr string) (net.Listener, error) {
	path, ok := strings.CutPrefix(addr, "unix:")
	if !ok {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("listen on %s: %w", addr, err)
		}
		return lis, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		lis.Close()
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return lis, nil
}

// Main is a daemon's main: exit 2 on a flag error, a logger at logLevel, a
// context cancelled by SIGTERM or SIGINT, exit 1 when run fails.
func Main(name string, flagErr error, logLevel string, run func(context.Context, *slog.Logger) error) {
	if flagErr != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, flagErr)
		os.Exit(2)
	}
	log, err := NewLogger(logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, log); err != nil {
		log.Error(name+" failed", "err", err)
		stop()
		os.Exit(1)
	}
}

// Serve runs srv on lis alongside run and returns when either ends. A
// daemon must not keep running without its API: when the server stops by
// itself (its listener failed, the socket was removed under it), run's
// context is cancelled and Serve returns an error naming the address, so
// the daemon exits non-zero and its supervisor restarts it. When run
// returns first, the server is stopped and run's result returned.
func Serve(ctx context.Context, srv *grpc.Server, lis net.Listener, run func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	addr := lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	ran := make(chan error, 1)
	go func() { ran <- run(ctx) }()
	select {
	case err := <-ran:
		// Stop, not GracefulStop: streams last as long as their clients,
		// and clients reconnect to the next instance anyway.
		srv.Stop()
		<-served
		return err
	case err := <-served:
		cancel()
		if runErr := <-ran; runErr != nil {
			err = errors.Join(err, runErr)
		}
		if err == nil {
			err = errors.New("no error reported")
		}
		return fmt.Errorf("gRPC server on %s stopped: %w", addr, err)
	}
}
