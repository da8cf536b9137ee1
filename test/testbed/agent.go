package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// binaries are built once per test process unless ODPU_BIN_DIR points at
// a directory that has them all already.
var binaries struct {
	once sync.Once
	dir  string
	err  error
}

// commands maps each binary a bed runs to its package: the project's own
// and the CNI tools pinned in go.mod.
var commands = map[string]string{
	"ovn-dpu-agent":      "github.com/ovn-dpu/ovn-dpu/dpu-agent",
	"ovn-dpu-host-agent": "github.com/ovn-dpu/ovn-dpu/host-agent",
	"ovn-dpu-cni":        "github.com/ovn-dpu/ovn-dpu/cni",
	"cnitool":            "github.com/containernetworking/cni/cnitool",
	"host-local":         "github.com/containernetworking/plugins/plugins/ipam/host-local",
	"static":             "github.com/containernetworking/plugins/plugins/ipam/static",
	"tuning":             "github.com/containernetworking/plugins/plugins/meta/tuning",
}

// BinDir returns the directory holding every command of commands, building
// them on first use; it doubles as the CNI_PATH of the bed's CNI runs.
func BinDir() (string, error) {
	if dir := os.Getenv("ODPU_BIN_DIR"); dir != "" {
		return dir, nil
	}
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", fmt.Sprintf("%sbin-%d-", nsPrefix, os.Getpid()))
		if binaries.err != nil {
			return
		}
		for name, pkg := range commands {
			cmd := exec.Command("go", "build", "-o", filepath.Join(binaries.dir, name), pkg)
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = fmt.Errorf("go build %s: %w: %s", pkg, err, out)
				return
			}
		}
	})
	return binaries.dir, binaries.err
}

// Binary returns the path of one of commands.
func Binary(name string) (string, error) {
	dir, err := BinDir()
	return filepath.Join(dir, name), err
}

// DPUAgent is an ovn-dpu-agent process running in the bed's dpu namespace
// (or an added DPU's, DPU.StartDPUAgent).
type DPUAgent struct {
	bed    *Bed
	d      *daemon
	Socket string // gRPC on unix:Socket
	// AdminSocket is its --admin-socket (admin.go).
	AdminSocket string
	Log         string
	netns       string
	argv        []string
}

// StartDPUAgent runs ovn-dpu-agent in the dpu namespace against the bed
// (SB, the dpu's OVS, the devlink dump) with extra flags appended (later
// flags win), and waits until it answers Info.
func (b *Bed) StartDPUAgent(ctx context.Context, extra ...string) (*DPUAgent, error) {
	return b.StartDPUAgentIn(ctx, b.DPUNetns, extra...)
}

// StartDPUAgentIn is StartDPUAgent in another namespace ("" = the test's
// own), for tests that reach the agent's TCP listeners from the test.
func (b *Bed) StartDPUAgentIn(ctx context.Context, netns string, extra ...string) (*DPUAgent, error) {
	return b.startDPUAgent(ctx, b.dpu, netns, extra)
}

// startDPUAgent runs the agent of DPU d (its OVS, its devlink dump, its
// sockets in its dir) in netns.
func (b *Bed) startDPUAgent(ctx context.Context, d *dpuSide, netns string, extra []string) (*DPUAgent, error) {
	bin, err := Binary("ovn-dpu-agent")
	if err != nil {
		return nil, err
	}
	a := &DPUAgent{bed: b, Socket: filepath.Join(d.dir, "agent.sock"), AdminSocket: d.adminSocket(), netns: netns}
	a.argv = append([]string{bin, "--sb=" + b.SBRemote, "--ovs=" + d.ovsRemote, "--listen=unix:" + a.Socket,
		"--admin-socket=" + a.AdminSocket,
		"--devlink-dump=" + d.devlinkPath, "--insecure", "--log-level=debug"}, extra...)
	return a, a.start(ctx)
}

// Restart starts a killed or stopped agent again with the same flags, a
// fresh log (Log names it).
func (a *DPUAgent) Restart(ctx context.Context) error { return a.start(ctx) }

func (a *DPUAgent) start(ctx context.Context) error {
	b := a.bed
	b.mu.Lock()
	b.agents++
	name := fmt.Sprintf("dpu-agent-%d", b.agents)
	b.mu.Unlock()
	a.Log = filepath.Join(b.Dir, name+".stderr")
	// A socket left by a killed predecessor would look like readiness.
	if err := os.Remove(a.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var err error
	if a.d, err = b.startProcess(name, a.netns, a.Log, a.argv...); err != nil {
		return err
	}
	return b.waitLogged(ctx, a.Log, `msg="ovn-dpu-agent serving"`)
}

// Dial opens a gRPC connection to the agent.
func (a *DPUAgent) Dial() (*grpc.ClientConn, error) {
	return grpc.NewClient("unix:"+a.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// Kill ends the agent with SIGKILL, as a crash or OOM would.
func (a *DPUAgent) Kill() { a.bed.kill(a.d) }

// Stop sends SIGTERM and waits for a clean exit.
func (a *DPUAgent) Stop() error {
	_ = syscall.Kill(-a.d.cmd.Process.Pid, syscall.SIGTERM)
	<-a.d.done
	a.bed.forget(a.d)
	var exit *exec.ExitError
	if errors.As(a.d.err, &exit) {
		return fmt.Errorf("ovn-dpu-agent exited with %v: %s", a.d.err, Tail(a.Log, 5))
	}
	return a.d.err
}

// waitLogged waits until a daemon's log contains line: the agents log that
// they serve only once their listener is open, on any kind of address.
func (b *Bed) waitLogged(ctx context.Context, log, line string) error {
	return b.pollReady(ctx, fmt.Sprintf("%s logs %s", filepath.Base(log), line), func() error {
		data, err := os.ReadFile(log)
		if err != nil || !strings.Contains(string(data), line) {
			return fmt.Errorf("not yet: %v", err)
		}
		return nil
	})
}

// Pid is the agent's process id (ip netns exec execs, so it is the agent).
func (a *DPUAgent) Pid() int { return a.d.cmd.Process.Pid }
