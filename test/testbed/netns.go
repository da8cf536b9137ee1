package testbed

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/containernetworking/plugins/pkg/ns"
)

// nsPrefix starts every namespace a bed creates; the test process's pid
// follows, so a later bed can tell leftovers of a dead process from the
// namespaces of a live one.
const nsPrefix = "odpu-"

func (b *Bed) nsName(role string) string {
	return fmt.Sprintf("%s%d-%s-%s", nsPrefix, os.Getpid(), b.ID, role)
}

// AddNetns creates a network namespace named after role with lo up and
// registers it for removal in Close.
func (b *Bed) AddNetns(ctx context.Context, role string) (string, error) {
	name := b.nsName(role)
	if len(name) > 64 {
		return "", fmt.Errorf("namespace name %q too long", name)
	}
	if _, err := b.run(ctx, "ip", "netns", "add", name); err != nil {
		return "", err
	}
	b.netns = append(b.netns, name)
	if _, err := b.run(ctx, "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return "", err
	}
	return name, nil
}

// InNetns runs argv inside netns (root namespace when netns is empty).
func (b *Bed) InNetns(ctx context.Context, netns string, argv ...string) (string, error) {
	if netns != "" {
		argv = append([]string{"ip", "netns", "exec", netns}, argv...)
	}
	return b.run(ctx, argv...)
}

// inNetns runs fn on a thread in netns ("" = the process's own namespace,
// where every goroutine runs that ns.Do has not locked elsewhere): ns.Do
// locks the goroutine to its thread while that thread is switched over.
// A socket fn creates stays in netns when used from other threads later.
func inNetns(netns string, fn func() error) error {
	if netns == "" {
		return fn()
	}
	return ns.WithNetNSPath(filepath.Join("/var/run/netns", netns), func(ns.NetNS) error { return fn() })
}

// sweepStaleNetns deletes namespaces left by bed processes that no longer
// run (a `go test` killed by a timeout cannot run its cleanups). Deleting
// the namespace also removes the veth pairs with an end in it.
func sweepStaleNetns(ctx context.Context, b *Bed) {
	out, err := b.run(ctx, "ip", "netns", "list")
	if err != nil {
		return
	}
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
		if !strings.HasPrefix(name, nsPrefix) || !ok {
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if err != nil || processAlive(pid) {
			continue
		}
		_, _ = b.run(ctx, "ip", "netns", "del", name)
	}
}

// sweepStaleDirs removes the temp dirs (beds, built binaries) of test
// processes that no longer run; their names carry the owner's pid.
func sweepStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nsPrefix+"*"))
	for _, dir := range dirs {
		rest := strings.TrimPrefix(filepath.Base(dir), nsPrefix)
		rest = strings.TrimPrefix(rest, "bin-")
		pidStr, _, _ := strings.Cut(rest, "-")
		if pid, err := strconv.Atoi(pidStr); err == nil && !processAlive(pid) {
			_ = os.RemoveAll(dir)
		}
	}
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
