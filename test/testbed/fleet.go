package testbed

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Helpers for tools that run many simulated hosts and DPUs around one
// bed's central databases (test/scale): processes and commands of their
// own, with the bed's environment, torn down with the bed.

// Process is a long-running command a tool started with StartProcess.
type Process struct {
	bed *Bed
	d   *daemon
	// Log holds what it printed (stdout and stderr).
	Log string
}

// StartProcess runs argv (in netns when not empty) as a child that dies
// with this process and that Close stops; its output goes to
// <dir>/<name>.stderr, so name must be unique in the bed.
func (b *Bed) StartProcess(name, netns string, argv ...string) (*Process, error) {
	log := filepath.Join(b.Dir, name+".stderr")
	d, err := b.startProcess(name, netns, log, argv...)
	if err != nil {
		return nil, err
	}
	return &Process{bed: b, d: d, Log: log}, nil
}

// Pid is the process id (ip netns exec execs, so it is argv's own).
func (p *Process) Pid() int { return p.d.cmd.Process.Pid }

// WaitLogged waits until the process's output contains line.
func (p *Process) WaitLogged(ctx context.Context, line string) error {
	return p.bed.waitLogged(ctx, p.Log, line)
}

// Run runs a short command with the bed's environment (OVS and OVN tools
// pointed at its dir) and returns its trimmed stdout; the error carries
// stderr.
func (b *Bed) Run(ctx context.Context, argv ...string) (string, error) {
	return b.run(ctx, argv...)
}

// IPBatch runs `ip -batch` on commands (one per line) in netns ("" = the
// root namespace): hundreds of links in one exec.
func (b *Bed) IPBatch(ctx context.Context, netns, commands string) error {
	return b.ipBatch(ctx, netns, commands)
}

// DaemonPid is the pid in the pidfile of one of the bed's OVS/OVN daemons
// ("northd", "ovs-ovsdb", …), 0 when it has none.
func (b *Bed) DaemonPid(name string) int {
	data, err := os.ReadFile(filepath.Join(b.Dir, name+".pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}
