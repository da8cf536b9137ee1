package cmdutil

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// A peer that is not root is closed before it is served, even when the
// socket's mode would let it in; root is served.
func TestRootPeersOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: connects as another uid")
	}
	// A directory and socket anyone may reach: only the peer check stands.
	dir, err := os.MkdirTemp("", "peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(dir, "api.sock")
	lis, err := Listen("unix:" + socket)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(socket, 0o666); err != nil {
		t.Fatal(err)
	}
	var logs testenv.LogBuffer
	lis = RootPeersOnly(lis, slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello\n"))
			c.Close()
		}
	}()
	read := func(c net.Conn) string {
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, unix.ECONNRESET) {
			t.Errorf("read: %v", err)
		}
		return string(b)
	}

	c, err := testenv.DialUnixAs(socket, 65534)
	if err != nil {
		t.Fatalf("connect as uid 65534 (the socket is 0666): %v", err)
	}
	if got := read(c); got != "" {
		t.Errorf("uid 65534 was served %q", got)
	}
	if !strings.Contains(logs.String(), "not root") || !strings.Contains(logs.String(), "uid=65534") {
		t.Errorf("refusal not logged with the uid: %q", logs.String())
	}
	c, err = net.Dial("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	if got := read(c); got != "hello\n" {
		t.Errorf("root was served %q, want hello", got)
	}
}
