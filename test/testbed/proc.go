package testbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon is one OVS/OVN process the bed started.
type daemon struct {
	// name is unique in the bed: a daemon of an added DPU is called
	// after its dir ("dpu-b/vswitchd"), so that KillDaemon and the other
	// DaemonName helpers, which mean the primary DPU's, never match it.
	name    string
	cmd     *exec.Cmd
	logFile string
	stderr  string
	done    chan struct{}
	err     error
}

// startDaemon runs an OVS/OVN daemon (in netns when not empty) with its
// log, pidfile and console settings pointed at the bed's dir.
func (b *Bed) startDaemon(name, netns string, argv ...string) (*daemon, error) {
	return b.startDaemonIn(b.Dir, name, netns, argv...)
}

// startDaemonIn is startDaemon for a daemon whose files, and the sockets
// it finds its peers by, are in dir: an added DPU's.
func (b *Bed) startDaemonIn(dir, name, netns string, argv ...string) (*daemon, error) {
	logFile := filepath.Join(dir, name+".log")
	// Console logging off: the log file has it all, and stderr then holds
	// only what a daemon prints before logging starts (bad options).
	argv = append(argv, "--log-file="+logFile, "--pidfile="+filepath.Join(dir, name+".pid"), "-vconsole:off")
	return b.startProcessIn(dir, name, netns, logFile, argv...)
}

// startProcess runs argv (in netns when not empty), its output in
// <dir>/<name>.stderr. The child gets SIGKILL if the test process dies, so
// a killed `go test` leaves no daemons behind.
func (b *Bed) startProcess(name, netns, logFile string, argv ...string) (*daemon, error) {
	return b.startProcessIn(b.Dir, name, netns, logFile, argv...)
}

// startProcessIn is startProcess with dir as the working directory, the
// place of <name>.stderr and every OVS/OVN *_RUNDIR (runEnv).
func (b *Bed) startProcessIn(dir, name, netns, logFile string, argv ...string) (*daemon, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = runEnv(dir)
	cmd.Dir = dir
	stderr := filepath.Join(dir, name+".stderr")
	out, err := os.Create(stderr)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	name = b.daemonName(dir, name)
	if err := spawn(cmd); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	d := &daemon{name: name, cmd: cmd, logFile: logFile, stderr: stderr, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	b.mu.Lock()
	b.daemons = append(b.daemons, d)
	b.mu.Unlock()
	return d, nil
}

// spawner starts the bed's daemons from one OS thread that never exits.
// Pdeathsig is tied to the thread that forked the child, not to the
// process: a daemon forked from a thread the Go runtime later retires —
// it retires every thread whose goroutine exits locked to it, as netns
// work and testenv.DialUnixAs do — is SIGKILLed with that thread, at a
// random moment of some later test.
var spawner struct {
	once sync.Once
	reqs chan spawnRequest
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

// spawn is cmd.Start on the spawner's thread.
func spawn(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.reqs = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawner.reqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.reqs <- spawnRequest{cmd, done}
	return <-done
}

// kill ends d with SIGKILL, as a crash or the OOM killer would, and
// forgets it.
func (b *Bed) kill(d *daemon) {
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	<-d.done
	b.forget(d)
}

// forget drops d from the daemons whose death fails readiness checks and
// that Close stops, after the caller stopped it on purpose.
func (b *Bed) forget(d *daemon) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.daemons = slices.DeleteFunc(b.daemons, func(x *daemon) bool { return x == d })
}

// daemonName is name for a daemon of the bed's own dir, else name
// prefixed with dir relative to it.
func (b *Bed) daemonName(dir, name string) string {
	if rel, err := filepath.Rel(b.Dir, dir); err == nil && rel != "." {
		return rel + "/" + name
	}
	return name
}

func (b *Bed) ctlPath(name string) string { return ctlIn(b.Dir, name) }

func ctlIn(dir, name string) string { return filepath.Join(dir, name+".ctl") }

// env points every OVS/OVN tool at the bed's dir so that nothing touches
// the machine's own /var/run/openvswitch or /var/run/ovn.
func (b *Bed) env() []string { return runEnv(b.Dir) }

// runEnv points every OVS/OVN directory at dir. Each chassis needs a dir
// of its own: ovn-controller reaches br-int through $OVS_RUNDIR/br-int.mgmt,
// which ovs-vswitchd creates in its own $OVS_RUNDIR.
func runEnv(dir string) []string {
	env := os.Environ()
	for _, k := range []string{"OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR", "OVN_RUNDIR", "OVN_LOGDIR", "OVN_DBDIR", "OVN_SYSCONFDIR"} {
		env = append(env, k+"="+dir)
	}
	return env
}

// stop asks the daemon to exit and kills it if it does not within 5s. A
// SIGSTOPped daemon (StopMember) gets SIGCONT after SIGTERM, so that it
// handles the SIGTERM at once instead of hanging teardown for 5s.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// pollReady is poll that gives up at once when one of the bed's daemons
// has died, with its last words, instead of waiting out the timeout.
func (b *Bed) pollReady(ctx context.Context, what string, check func() error) error {
	return Eventually(ctx, startTimeout, what, func() error {
		if err := b.deadDaemon(); err != nil {
			return backoffStop{err}
		}
		return check()
	})
}

func (b *Bed) deadDaemon() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.daemons {
		if d.exited() {
			return fmt.Errorf("%s exited (%v): %s %s", d.name, d.err, Tail(d.logFile, 3), Tail(d.stderr, 3))
		}
	}
	return nil
}

// backoffStop tells poll that retrying cannot help.
type backoffStop struct{ error }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// run runs a short command and returns its trimmed stdout; the error
// carries stderr so a failing ovn-nbctl says why.
func (b *Bed) run(ctx context.Context, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = b.env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// Eventually calls check until it returns nil or timeout passes, backing
// off from 10ms to 200ms, and returns the last error wrapped with what.
// It is the one readiness poll of the bed and its tests: no fixed sleeps.
func Eventually(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	wait := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return nil
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			return fmt.Errorf("%s: %w", what, stop.error)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %v: %w", what, timeout, errors.Join(err, ctx.Err()))
		case <-time.After(wait):
		}
		wait = min(wait*2, 200*time.Millisecond)
	}
}

// Tail returns the last n lines of a file, for failure reports.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
