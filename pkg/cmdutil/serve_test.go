package cmdutil

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := Listen("unix:" + filepath.Join(t.TempDir(), "api.sock"))
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// A daemon whose API stops serving must not go on without it.
func TestServeEndsWhenTheServerStops(t *testing.T) {
	lis := listen(t)
	runStopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Serve(t.Context(), grpc.NewServer(), lis, func(ctx context.Context) error {
			<-ctx.Done()
			close(runStopped)
			return nil
		})
	}()
	// What a failing listener looks like to the server: Accept errors.
	lis.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "gRPC server on") || !strings.Contains(err.Error(), "api.sock") {
			t.Errorf("Serve = %v, want an error naming the address", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running after its server stopped")
	}
	select {
	case <-runStopped:
	default:
		t.Error("run's context was not cancelled")
	}
}

func TestServeReturnsRunsResult(t *testing.T) {
	lis := listen(t)
	want := errors.New("agent failed")
	err := Serve(t.Context(), grpc.NewServer(), lis, func(context.Context) error { return want })
	if !errors.Is(err, want) {
		t.Errorf("Serve = %v, want run's error", err)
	}
	if _, err := net.Dial("unix", lis.Addr().String()); err == nil {
		t.Error("the server still accepts connections after Serve returned")
	}
}
