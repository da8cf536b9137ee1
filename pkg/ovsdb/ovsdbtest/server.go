package ovsdbtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// Schemas shipped by Debian's ovn-central and openvswitch-common.
const (
	NBSchema  = "/usr/share/ovn/ovn-nb.ovsschema"
	OVSSchema = "/usr/share/openvswitch/vswitch.ovsschema"
)

// Server is one ovsdb-server serving a fresh database on a unix socket in
// dir. It is killed when the test ends.
type Server struct {
	Remote string // unix:<dir>/<name>.sock
	t      *testing.T
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start creates a database from schema and serves it; it skips the test
// (fails in CI) when ovsdb-server or the schema is missing.
func Start(t *testing.T, dir, name, schema string) *Server {
	t.Helper()
	testenv.Require(t, "tests with a real ovsdb-server", false, []string{"ovsdb-server", "ovsdb-tool"}, "run `make deps`")
	if _, err := os.Stat(schema); err != nil {
		testenv.SkipOrFail(t, "tests with a real ovsdb-server need %s: %v (run `make deps`)", schema, err)
	}
	db := filepath.Join(dir, name+".db")
	if out, err := exec.Command("ovsdb-tool", "create", db, schema).CombinedOutput(); err != nil {
		t.Fatalf("ovsdb-tool create %s: %v: %s", db, err, out)
	}
	sock := filepath.Join(dir, name+".sock")
	s := &Server{Remote: "unix:" + sock, t: t, done: make(chan struct{})}
	s.cmd = exec.Command("ovsdb-server", "--remote=punix:"+sock, "--unixctl="+filepath.Join(dir, name+".ctl"),
		"--log-file="+filepath.Join(dir, name+".log"), "-vconsole:off", db)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Kill)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovsdb-server %s did not create %s", name, sock)
		}
		select {
		case <-s.done:
			t.Fatalf("ovsdb-server %s exited at start", name)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Signal sends sig to the server (SIGSTOP: a hung server).
func (s *Server) Signal(sig syscall.Signal) {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(sig)
	}
}

// Kill ends the server with SIGKILL, as a crash would; a stopped one too.
func (s *Server) Kill() {
	s.Signal(syscall.SIGCONT)
	s.Signal(syscall.SIGKILL)
	<-s.done
}
