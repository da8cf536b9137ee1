package tlsutil_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
)

// poll is short so that rotations show up within a few milliseconds.
const poll = 10 * time.Millisecond

// logBuf collects a Reloader's log; goroutines may still write to it while
// the test reads it.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func discard() tlsutil.Option {
	return tlsutil.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func withDefaults(opts []tlsutil.Option) []tlsutil.Option {
	return append([]tlsutil.Option{tlsutil.WithPollInterval(poll), discard()}, opts...)
}

// startServer serves the gRPC health service with mTLS from files and runs
// its Reloader until the test ends.
func startServer(t *testing.T, files tlsutil.Files, opts ...tlsutil.Option) (string, *tlsutil.Reloader) {
	t.Helper()
	creds, r, err := tlsutil.ServerCredentials(files, false, withDefaults(opts)...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Stop() })
	return lis.Addr().String(), r
}

func clientCreds(t *testing.T, files tlsutil.Files, opts ...tlsutil.Option) credentials.TransportCredentials {
	t.Helper()
	creds, _, err := tlsutil.ClientCredentials(files, false, "", withDefaults(opts)...)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

// call makes one health check on a new connection and returns the
// certificate the server presented.
func call(addr string, creds credentials.TransportCredentials) (*x509.Certificate, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		return nil, err
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return nil, fmt.Errorf("peer auth info %T, want TLS", p.AuthInfo)
	}
	return info.State.PeerCertificates[0], nil
}

// eventually retries f until it succeeds or 3s pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(poll)
	}
}

func servesSerial(addr string, creds credentials.TransportCredentials, want *x509.Certificate) func() error {
	return func() error {
		got, err := call(addr, creds)
		if err != nil {
			return err
		}
		if got.SerialNumber.Cmp(want.SerialNumber) != 0 {
			return fmt.Errorf("server serial %s, want %s", got.SerialNumber, want.SerialNumber)
		}
		return nil
	}
}
