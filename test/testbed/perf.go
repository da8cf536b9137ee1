package testbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Helpers for benchmarks: process memory, exec floors, bursts of cnitool
// runs and a loaded SB.

// Pid is the host agent's process id (ip netns exec execs, so it is the
// agent itself).
func (h *HostAgent) Pid() int { return h.d.cmd.Process.Pid }

// RSS is the resident set size of process pid in bytes: VmRSS from
// /proc/<pid>/status.
func RSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest) // "12345 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("pid %d: unexpected VmRSS line %q", pid, line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("pid %d: VmRSS %q: %w", pid, line, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("pid %d: no VmRSS in /proc/%d/status", pid, pid)
}

// ExecBinary runs one of the bed's binaries (BinDir: ovn-dpu-cni,
// host-local, ...) with stdin and env added to the test's environment,
// the way a runtime or the host agent execs a CNI plugin: with
// CNI_COMMAND=VERSION it measures what an exec costs with no work behind it.
func (b *Bed) ExecBinary(ctx context.Context, name string, stdin []byte, env ...string) CNIResult {
	path, err := Binary(name)
	if err != nil {
		return CNIResult{Err: err}
	}
	dir := filepath.Dir(path)
	cmd := exec.CommandContext(ctx, path)
	cmd.Env = append(append(os.Environ(), "CNI_PATH="+dir), env...)
	return runCNI(cmd, stdin)
}

// CNICall is one cnitool run of CNIToolConcurrent: the pod namespace (as
// AddPod returns it), its network configuration and extra environment.
type CNICall struct {
	Pod  string
	Conf map[string]any
	Env  []string
}

// TimedCNIResult is one run's result and when it returned: counted from
// the moment the burst started, and on the wall clock.
type TimedCNIResult struct {
	CNIResult
	Returned time.Duration
	Ended    time.Time
}

// CNIToolConcurrent runs `cnitool command` (CNITool) for every call at
// once, as a node does when a deployment scales, and returns each run's
// result in the calls' order. Every run starts as soon as its goroutine
// does; the burst starts before the first.
func (b *Bed) CNIToolConcurrent(ctx context.Context, command string, calls []CNICall) []TimedCNIResult {
	results := make([]TimedCNIResult, len(calls))
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := b.CNITool(ctx, command, c.Pod, c.Conf, c.Env...)
			end := time.Now()
			results[i] = TimedCNIResult{CNIResult: r, Returned: end.Sub(start), Ended: end}
		}()
	}
	wg.Wait()
	return results
}

// ForeignBindings describes Port_Bindings for chassis other than the
// bed's, the bulk of a cloud-sized SB that a DPU must not load.
type ForeignBindings struct {
	// Switch holds the foreign ports; AddForeignBindings creates it when
	// it does not exist. Nothing of this bed should be on it.
	Switch string
	// Count ports named foreign00000, foreign00001, ...; each asks to be
	// plugged as a representor (pf-mac 0c:42:a1:00:00:01, vf-num i%100)
	// on Chassis[i%len(Chassis)].
	Count   int
	Chassis []string
	// Register adds each of Chassis to SB first (ovn-sbctl chassis-add,
	// Geneve on 198.51.100.<n>), so that northd resolves requested-chassis
	// and the bindings' requested_chassis column refers to real Chassis
	// rows, as in a real cloud; without it the names match no chassis and
	// requested_chassis stays empty.
	Register bool
	// Batch is how many ports go in one ovn-nbctl transaction (default
	// 1000).
	Batch int
}

// AddForeignBindings writes fb's ports into NB and waits (up to 10
// minutes) until northd has bound them in SB. 20 000 ports take about a
// minute on a 2-core machine.
func (b *Bed) AddForeignBindings(ctx context.Context, fb ForeignBindings) error {
	if fb.Count > 0 && len(fb.Chassis) == 0 {
		return fmt.Errorf("foreign bindings on %s: no chassis to request", fb.Switch)
	}
	if fb.Register && len(fb.Chassis) > 250 {
		return fmt.Errorf("foreign bindings: %d chassis to register, at most 250", len(fb.Chassis))
	}
	batch := fb.Batch
	if batch <= 0 {
		batch = 1000
	}
	if fb.Register {
		for n, name := range fb.Chassis {
			if _, err := b.SBCtl(ctx, "chassis-add", name, "geneve", fmt.Sprintf("198.51.100.%d", n+1)); err != nil {
				return err
			}
		}
	}
	if _, err := b.NBCtl(ctx, "--may-exist", "ls-add", fb.Switch); err != nil {
		return err
	}
	for first := 0; first < fb.Count; first += batch {
		var args []string
		for i := first; i < min(first+batch, fb.Count); i++ {
			lsp := fmt.Sprintf("foreign%05d", i)
			args = append(args, "--", "lsp-add", fb.Switch, lsp, "--", "lsp-set-options", lsp,
				"requested-chassis="+fb.Chassis[i%len(fb.Chassis)], "vif-plug-type=representor",
				"vif-plug:representor:pf-mac=0c:42:a1:00:00:01", fmt.Sprintf("vif-plug:representor:vf-num=%d", i%100))
		}
		if _, err := b.NBCtl(ctx, args...); err != nil {
			return err
		}
	}
	_, err := b.NBCtl(ctx, "--timeout=600", "--wait=sb", "sync")
	return err
}

// ControllerAppCtl runs ovs-appctl against the bed's ovn-controller,
// whose control socket is named after its pid (<dir>/ovn-controller.<pid>.ctl):
// e.g. debug/ignore-startup-delay, without which ovn-controller neither
// unplugs what its VIF plug providers plugged nor releases ports in its
// first 10 seconds.
func (b *Bed) ControllerAppCtl(ctx context.Context, args ...string) (string, error) {
	pid, err := os.ReadFile(filepath.Join(b.Dir, "controller.pid"))
	if err != nil {
		return "", fmt.Errorf("ovn-controller's pidfile: %w", err)
	}
	ctl := filepath.Join(b.Dir, fmt.Sprintf("ovn-controller.%s.ctl", strings.TrimSpace(string(pid))))
	return b.run(ctx, append([]string{"ovs-appctl", "-t", ctl}, args...)...)
}
