package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// InCI reports whether the tests run in CI, where nothing may be skipped
// for a missing dependency.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips t with the formatted reason — or, in CI, fails it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("cannot run in CI: "+format, args...)
		return // a real Fatalf does not return; a recording TB does
	}
	t.Skipf(format, args...)
}

// Require skips (in CI: fails) t unless the process is root (when root is
// true) and every command is on PATH; the message names what is missing
// and, when given, how to get it.
func Require(t testing.TB, what string, root bool, commands []string, hint string) {
	t.Helper()
	var missing []string
	if root && os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s needs %s", what, strings.Join(missing, ", "))
	if hint != "" {
		msg += "; " + hint
	}
	SkipOrFail(t, "%s", msg)
}

// DialUnixAs connects to the unix socket at path with effective uid uid,
// for tests of who a socket serves (SO_PEERCRED). Only the thread that
// connects changes its uid (setresuid on that thread, not Go's
// process-wide Setuid); it is locked to its goroutine and never unlocked,
// so it exits with it and nothing else ever runs as uid. The caller must
// be root, and uid must be able to reach path.
func DialUnixAs(path string, uid int) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		keep := ^uintptr(0) // -1: leave unchanged
		if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
			done <- result{err: e}
			return
		}
		c, err := net.Dial("unix", path)
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// LogBuffer collects what a logger writes, safely for concurrent writers,
// so a test can wait for a line instead of sleeping.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *LogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *LogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
