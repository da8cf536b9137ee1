package netns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// benchReq is a CNI ADD as the host agent makes it: name, MAC, MTU, a
// dual-stack address pair and routes, so the cycle measured is a real
// ADD and DEL, not only the moves.
func benchReq(b testing.TB, host, pod testNS, v vf) MoveInRequest {
	return MoveInRequest{
		HostNetns: host.path, VFNetdev: v.name, PodNetns: pod.path, IfName: "eth0",
		MAC: net.HardwareAddr{0x0a, 0x58, 0x0a, 0x14, 0x00, 0x05}, MTU: 1450,
		IPs: []*current.IPConfig{
			ipConfig(b, "10.20.0.5/24", "10.20.0.1"),
			ipConfig(b, "fd00:20::5/64", "fd00:20::1"),
		},
		Routes: []*types.Route{route(b, "0.0.0.0/0", ""), route(b, "::/0", "")},
	}
}

func benchOut(host, pod testNS, v vf) MoveOutRequest {
	return MoveOutRequest{PodNetns: pod.path, IfName: "eth0", HostNetns: host.path,
		Original: Original{Name: v.name, MAC: v.mac, MTU: v.mtu}}
}

// cycle is one ADD and DEL of one VF.
func cycle(p *Plumber, in MoveInRequest, out MoveOutRequest) error {
	if _, err := p.MoveIn(context.Background(), in); err != nil {
		return err
	}
	return p.MoveOut(context.Background(), out)
}

// BenchmarkMoveInOut measures MoveIn then MoveOut of one VF.
func BenchmarkMoveInOut(b *testing.B) {
	requireRoot(b)
	host, pod := newTestNS(b), newTestNS(b)
	v := newVF(b, host)
	p := New(WithLogger(slog.New(slog.DiscardHandler)))
	in, out := benchReq(b, host, pod, v), benchOut(host, pod, v)
	for b.Loop() {
		if err := cycle(p, in, out); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMoveInOutConcurrent32 measures a burst: 32 VFs, each into a
// pod of its own, moved in and out at once; one op is the whole burst.
func BenchmarkMoveInOutConcurrent32(b *testing.B) {
	const n = 32
	requireRoot(b)
	host := newTestNS(b)
	p := New(WithLogger(slog.New(slog.DiscardHandler)))
	ins, outs := make([]MoveInRequest, n), make([]MoveOutRequest, n)
	for i := range n {
		pod, v := newTestNS(b), newVF(b, host)
		ins[i], outs[i] = benchReq(b, host, pod, v), benchOut(host, pod, v)
	}
	errs := make([]error, n)
	for b.Loop() {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = cycle(p, ins[i], outs[i]) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				b.Fatalf("VF %d: %v", i, err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/VF")
}

// threads is the number of OS threads of this process.
func threads(t testing.TB) int {
	t.Helper()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no Threads line in /proc/self/status")
	return 0
}

// A burst of moves keeps at most the plumber's slots inside namespaces at
// once, so it leaves few OS threads behind (the Go runtime keeps every
// thread it started, and each ns.Do locks one).
func TestBurstKeepsFewThreads(t *testing.T) {
	const n = 32
	requireRoot(t)
	host := newTestNS(t)
	ins, outs := make([]MoveInRequest, n), make([]MoveOutRequest, n)
	for i := range n {
		pod, v := newTestNS(t), newVF(t, host)
		ins[i], outs[i] = benchReq(t, host, pod, v), benchOut(host, pod, v)
	}
	for _, tc := range []struct {
		name    string
		threads int
	}{{"default", DefaultThreads}, {"unbounded", n}} {
		t.Run(tc.name, func(t *testing.T) {
			p := New(WithLogger(slog.New(slog.DiscardHandler)), WithThreads(tc.threads))
			before := threads(t)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { errs[i] = cycle(p, ins[i], outs[i]) })
			}
			wg.Wait()
			if err := errors.Join(errs...); err != nil {
				t.Fatal(err)
			}
			peak := int(p.inside.peak.Load())
			t.Logf("threads %d before, %d after %d concurrent moves in and out; at most %d at once in namespaces, %d slots",
				before, threads(t), n, peak, tc.threads)
			if peak > tc.threads || peak < 2 {
				t.Errorf("%d goroutines at once in namespaces, want 2 to %d: every namespace entry must take a slot", peak, tc.threads)
			}
		})
	}
}
