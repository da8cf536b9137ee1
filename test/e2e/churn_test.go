package e2e

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// The churn suite's size: make test runs the short form; make test-faults
// sets ODPU_CHURN_CYCLES=500. ODPU_CHURN_SEED replays a run's fault order
// and timing (the suite logs the seed it used).
const (
	churnWorkers       = 20
	churnCyclesDefault = 60
	// churnADDTimeout is each ADD's timeoutSeconds, the plugin's default
	// (what a runtime gets unless it asks otherwise): ovn-northd, which
	// backs off up to 8 s per attempt while it looks for a new leader, can
	// take longer than 20 s to carry an LSP into SB after a leader kill. An
	// ADD that has not answered by then plus the plugin's call margin
	// broke its promise.
	churnADDTimeout = 60 * time.Second
	// churnDeadline is when an ADD that has not returned at all counts as
	// hung rather than failed: the agent's timeout, the plugin's margin
	// (cniclient.DefaultCallMargin) and cnitool's own start-up.
	churnDeadline = churnADDTimeout + 15*time.Second + 5*time.Second
	// churnMinSuccess is the share of ADDs that must succeed although a
	// component is killed every few seconds.
	churnMinSuccess = 0.90
)

// faultKind is one component the suite kill -9s and brings back.
type faultKind struct {
	name    string
	kill    func(ctx context.Context) (restore func(context.Context) error, err error)
	injects atomic.Int64
}

// churnEnv is a clustered bed with both agents, churnWorkers VFs and pods,
// and objects ovn-dpu does not own.
type churnEnv struct {
	*env
	vfs     []*testbed.VF
	pods    []string
	links   []string // each VF's link before the suite (vfLink)
	started time.Time
	logf    func(format string, args ...any)
	faults  []*faultKind
}

func setupChurn(t *testing.T) *churnEnv {
	t.Helper()
	opts := testbed.Options{Clustered: true}
	e := &churnEnv{env: setupWith(t, opts, func(*testbed.Bed) (dpu, host []string) {
		// A server silent for a second is given up on (see failover_test.go).
		return []string{"--ovsdb-probe-interval=1s"}, []string{"--ovsdb-probe-interval=1s"}
	})}
	indices := make([]int, churnWorkers)
	for i := range indices {
		indices[i] = i
	}
	e.vfs = testbed.Must(e.bed.AddVFs(e.ctx, 0, indices, testbed.VFOptions{}))(t)
	for i, vf := range e.vfs {
		e.pods = append(e.pods, testbed.Must(e.bed.AddPod(e.ctx, fmt.Sprint("c", i)))(t))
		e.links = append(e.links, e.vfLink(t, vf))
	}
	e.faults = e.faultKinds()
	e.logf = t.Logf
	return e
}

// vfLink is the VF's link as the host shows it, reduced to what must
// survive an attachment: name, MAC and MTU.
func (e *churnEnv) vfLink(t *testing.T, vf *testbed.VF) string {
	t.Helper()
	out, err := e.bed.HostIP(e.ctx, "-o", "link", "show", vf.Netdev)
	if err != nil {
		return "absent: " + err.Error()
	}
	f := strings.Fields(out)
	field := func(key string) string {
		if i := slices.Index(f, key); i >= 0 && i+1 < len(f) {
			return f[i+1]
		}
		return "?"
	}
	return fmt.Sprintf("%s mac %s mtu %s", vf.Netdev, field("link/ether"), field("mtu"))
}

func (e *churnEnv) faultKinds() []*faultKind {
	b := e.bed
	leader := func(db testbed.Database) func(ctx context.Context) (func(context.Context) error, error) {
		return func(ctx context.Context) (func(context.Context) error, error) {
			m, err := b.KillLeader(ctx, db)
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context) error { return b.RestartMember(ctx, m) }, nil
		}
	}
	daemon := func(name testbed.DaemonName, start func(context.Context) error) func(ctx context.Context) (func(context.Context) error, error) {
		return func(context.Context) (func(context.Context) error, error) {
			return start, b.KillDaemon(name)
		}
	}
	return []*faultKind{
		{name: "ovn-dpu-agent", kill: func(context.Context) (func(context.Context) error, error) {
			e.dpu.Kill()
			return e.dpu.Restart, nil
		}},
		{name: "ovn-dpu-host-agent", kill: func(context.Context) (func(context.Context) error, error) {
			e.host.Kill()
			return e.host.Restart, nil
		}},
		{name: "ovn-controller", kill: daemon(testbed.Controller, b.StartController)},
		{name: "ovs-vswitchd", kill: daemon(testbed.Vswitchd, b.StartVswitchd)},
		{name: "NB leader", kill: leader(testbed.Northbound)},
		{name: "SB leader", kill: leader(testbed.Southbound)},
	}
}

// injectFaults kill -9s the components in a shuffled order, round after
// round, at random moments (1 to 4 s apart, each down for up to 1 s: time
// enough to recover, which ovn-northd needs most — it backs off for up to
// 8 s while it looks for a new leader),
// until ctx ends; it closes roundDone once every component has been
// killed once. Every component is running again when it returns.
func (e *churnEnv) injectFaults(ctx context.Context, t *testing.T, rng *rand.Rand, roundDone chan<- struct{}) {
	pause := func(lo, hi time.Duration) bool {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(lo + time.Duration(rng.Int64N(int64(hi-lo)))):
			return true
		}
	}
	for round := 0; ; round++ {
		order := slices.Clone(e.faults)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, f := range order {
			if !pause(time.Second, 4*time.Second) {
				return
			}
			// Restarts use the suite's context, not ctx: a component is
			// brought back even when the workers finished meanwhile.
			restore, err := f.kill(e.ctx)
			if err != nil {
				t.Errorf("kill %s: %v", f.name, err)
				return
			}
			f.injects.Add(1)
			t.Logf("churn: %s killed at %v", f.name, time.Since(e.started).Round(time.Millisecond))
			pause(0, time.Second)
			if err := restore(e.ctx); err != nil {
				t.Errorf("bring %s back: %v\n%s", f.name, err, e.bed.Logs(20))
				return
			}
			t.Logf("churn: %s back at %v", f.name, time.Since(e.started).Round(time.Millisecond))
		}
		if round == 0 {
			close(roundDone)
		}
	}
}

// churnTally counts the outcomes of the workers' calls.
type churnTally struct {
	mu       sync.Mutex
	adds, ok int
	took     []time.Duration
	reasons  map[string]int // CNI errors, by message with names elided
	broken   []string       // an ADD that hung or failed without a CNI error
	delTries int
}

func (c *churnTally) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var reasons []string
	for _, r := range slices.Sorted(maps.Keys(c.reasons)) {
		reasons = append(reasons, fmt.Sprintf("%d× %q", c.reasons[r], r))
	}
	took := slices.Sorted(slices.Values(c.took))
	p50, slowest := time.Duration(0), time.Duration(0)
	if len(took) > 0 {
		p50, slowest = took[len(took)/2], took[len(took)-1]
	}
	return fmt.Sprintf("%d ADDs, %d succeeded (%.1f %%; p50 %v, slowest %v), %d failed with a CNI error [%s], %d broken promises, %d DEL retries",
		c.adds, c.ok, 100*float64(c.ok)/float64(max(c.adds, 1)), p50.Round(time.Millisecond), slowest.Round(time.Millisecond),
		c.adds-c.ok-len(c.broken), strings.Join(reasons, ", "), len(c.broken), c.delTries)
}

// elided are the parts of an error message that differ per attachment.
var elided = regexp.MustCompile(`/[^ ;:"]+|[0-9a-f]{12,}|\b[0-9]+(\.[0-9]+)+\b|host-[0-9a-f]+_[^ ]+`)

// cnitoolError reports whether cnitool's failure is a CNI error the
// plugin printed — libcni folds it into "plugin type=… failed (add): <msg>",
// and says "netplugin failed" when the plugin printed none — and its
// message with names elided, to count failures by kind.
func cnitoolError(r testbed.CNIResult) (reason string, ok bool) {
	out := r.Stdout + " " + r.Stderr
	_, msg, found := strings.Cut(out, "failed (add): ")
	if r.Err == nil || !found || strings.Contains(out, "netplugin failed") {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	msg, _, _ = strings.Cut(msg, ";")
	return elided.ReplaceAllString(msg, "…"), true
}

// cycle is one worker's ADD, then its DEL retried until it succeeds, as a
// runtime retries DEL.
func (e *churnEnv) cycle(i int, tally *churnTally) {
	conf := e.netconf(e.vfs[i].PCI, e.hostLocal(), map[string]any{"timeoutSeconds": int(churnADDTimeout / time.Second)})
	pod := filepath.Base(e.pods[i])
	start := time.Now()
	r := e.bed.CNITool(e.ctx, "add", pod, conf)
	took := time.Since(start)
	tally.mu.Lock()
	tally.adds++
	tally.took = append(tally.took, took)
	reason, isCNIError := cnitoolError(r)
	switch {
	case took > churnDeadline:
		tally.broken = append(tally.broken, fmt.Sprintf("ADD on VF %d took %v: %v %s", i, took.Round(time.Millisecond), r.Err, r.Stdout))
	case r.Err == nil:
		tally.ok++
	case !isCNIError:
		tally.broken = append(tally.broken, fmt.Sprintf("ADD on VF %d failed without a CNI error: %v: %s %s", i, r.Err, r.Stdout, r.Stderr))
	default:
		tally.reasons[reason]++
		e.logf("churn: ADD on VF %d started at %v failed after %v: %s", i, start.Sub(e.started).Round(time.Millisecond),
			took.Round(time.Millisecond), reason)
	}
	tally.mu.Unlock()
	e.delUntilDone(pod, conf, tally)
}

func (e *churnEnv) delUntilDone(pod string, conf map[string]any, tally *churnTally) {
	_ = testbed.Eventually(e.ctx, 2*time.Minute, "DEL of "+pod, func() error {
		r := e.bed.CNITool(e.ctx, "del", pod, conf)
		if r.Err != nil {
			tally.mu.Lock()
			tally.delTries++
			tally.mu.Unlock()
			return fmt.Errorf("%v: %s", r.Err, r.Stdout)
		}
		return nil
	})
}

// TestChurnUnderFaults: ADD/DEL cycles at concurrency 20 while every
// component the attach path depends on is kill -9ed and restarted at
// random moments. Every ADD answers success or a CNI error in time, 90 %
// succeed, and after a final DEL of everything and a GC nothing is left:
// no LSP of this node, no plugged interface, every VF home as it was, no
// IPAM lease, and what ovn-dpu does not own is untouched.
func TestChurnUnderFaults(t *testing.T) {
	cycles := envInt(t, "ODPU_CHURN_CYCLES", churnCyclesDefault)
	seed := uint64(envInt(t, "ODPU_CHURN_SEED", int(time.Now().UnixNano()%1e9)))
	t.Logf("churn: %d cycles at concurrency %d, seed %d (ODPU_CHURN_SEED replays it)", cycles, churnWorkers, seed)
	e := setupChurn(t)
	untouched := seedUntouched(t, e.env)
	before := untouched.snapshot(t)

	tally := &churnTally{reasons: map[string]int{}}
	faultCtx, stopFaults := context.WithCancel(e.ctx)
	roundDone := make(chan struct{})
	injected := make(chan struct{})
	e.started = time.Now()
	go func() {
		defer close(injected)
		// A round cut short by an error must not keep the workers going.
		defer func() {
			if !closed(roundDone) {
				close(roundDone)
			}
		}()
		e.injectFaults(faultCtx, t, rand.New(rand.NewPCG(seed, seed)), roundDone)
	}()
	var next atomic.Int64
	var wg sync.WaitGroup
	for i := range churnWorkers {
		wg.Go(func() {
			// Until the cycles are done and every component was killed
			// at least once under traffic.
			for int(next.Add(1)) <= cycles || !closed(roundDone) {
				if e.ctx.Err() != nil {
					return
				}
				e.cycle(i, tally)
			}
		})
	}
	wg.Wait()
	stopFaults()
	<-injected
	elapsed := time.Since(e.started)
	var injects []string
	for _, f := range e.faults {
		injects = append(injects, fmt.Sprintf("%s %d", f.name, f.injects.Load()))
	}
	t.Logf("churn: %s in %v; kill -9s: %s", tally, elapsed.Round(time.Millisecond), strings.Join(injects, ", "))

	// Everything is running again: DEL every pod once more, then GC.
	for i := range e.pods {
		conf := e.netconf(e.vfs[i].PCI, e.hostLocal(), nil)
		e.delUntilDone(filepath.Base(e.pods[i]), conf, tally)
	}
	gc := e.netconf(e.vfs[0].PCI, e.hostLocal(), map[string]any{"cni.dev/valid-attachments": []map[string]string{}})
	if r := e.bed.ExecPlugin(e.ctx, "GC", "", "", "", gc); r.Err != nil {
		t.Errorf("GC: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	left := e.leftovers(t)
	t.Logf("churn leftovers: %s", left)
	if !left.none() {
		t.Errorf("left behind after DEL of everything and a GC: %s\n%s", left, e.bed.Logs(30))
	}
	if after := untouched.snapshot(t); after != before {
		t.Errorf("objects ovn-dpu does not own changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if len(tally.broken) > 0 {
		t.Errorf("%d ADDs broke their promise:\n%s", len(tally.broken), strings.Join(tally.broken, "\n"))
	}
	if share := float64(tally.ok) / float64(max(tally.adds, 1)); share < churnMinSuccess {
		t.Errorf("%.1f %% of ADDs succeeded, want at least %.0f %%: %s", 100*share, 100*churnMinSuccess, tally)
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", key, v)
	}
	return n
}

// churnLeftovers counts what the suite must find gone.
type churnLeftovers struct {
	lsps, plugged, leases int
	vfsAway               []string
}

func (l churnLeftovers) none() bool {
	return l.lsps == 0 && l.plugged == 0 && l.leases == 0 && len(l.vfsAway) == 0
}

func (l churnLeftovers) String() string {
	return fmt.Sprintf("%d LSPs owned by the node, %d ovn-dpu-plugged interfaces, %d VFs not home as they were %v, %d IPAM leases",
		l.lsps, l.plugged, len(l.vfsAway), l.vfsAway, l.leases)
}

// leftovers waits (up to a minute: the DPU unplugs once the bindings are
// gone) for nothing to be left and returns what is.
func (e *churnEnv) leftovers(t *testing.T) churnLeftovers {
	t.Helper()
	var l churnLeftovers
	_ = testbed.Eventually(e.ctx, time.Minute, "nothing left", func() error {
		l = churnLeftovers{lsps: len(e.lsps(t))}
		out, _ := e.bed.VSCtl(e.ctx, "--bare", "--columns=name", "find", "Interface", "external_ids:ovn-dpu-plugged=representor")
		l.plugged = len(strings.Fields(out))
		for i, vf := range e.vfs {
			if got := e.vfLink(t, vf); got != e.links[i] {
				l.vfsAway = append(l.vfsAway, fmt.Sprintf("%q (was %q)", got, e.links[i]))
			}
		}
		entries, _ := os.ReadDir(filepath.Join(e.bed.Dir, "host-local", "ovnnet"))
		for _, ent := range entries {
			// host-local's own bookkeeping, not leases.
			if ent.Name() != "lock" && !strings.HasPrefix(ent.Name(), "last_reserved_ip") {
				l.leases++
			}
		}
		if !l.none() {
			return fmt.Errorf("%s", l)
		}
		return nil
	})
	return l
}

// untouchedObjects are rows ovn-dpu must never change: an LSP another
// node's host agent owns, a CMS's LSP with no owner, a representor binding
// for another chassis, and an interface in br-int it did not plug.
type untouchedObjects struct {
	e *env
}

func seedUntouched(t *testing.T, e *env) untouchedObjects {
	t.Helper()
	b := e.bed
	testbed.Must(b.SBCtl(e.ctx, "chassis-add", "other-chassis", "geneve", "198.51.100.7"))(t)
	testbed.Must(b.NBCtl(e.ctx,
		"lsp-add", "net1", "other-hosts-port", "--", "set", "Logical_Switch_Port", "other-hosts-port",
		`external_ids:"ovn-dpu:owner"=other-host`, `external_ids:"ovn-dpu:network"=ovnnet`, `external_ids:"ovn-dpu:attachment"=a1`,
		`external_ids:"ovn-dpu:container-id"=theirs`, `external_ids:"ovn-dpu:ifname"=eth0`,
		`addresses="0e:00:00:00:00:01 10.30.0.250"`,
		"--", "lsp-add", "net1", "cms-port", "--", "lsp-set-addresses", "cms-port", "0e:00:00:00:00:02 10.30.0.251",
		"--", "lsp-add", "net1", "other-chassis-port", "--", "lsp-set-options", "other-chassis-port",
		"requested-chassis=other-chassis", "vif-plug-type=representor",
		"vif-plug:representor:pf-mac="+b.PFMAC(0).String(), "vif-plug:representor:vf-num=0"))(t)
	testbed.Must(b.VSCtl(e.ctx, "add-port", "br-int", "cms-tap", "--", "set", "Interface", "cms-tap", "type=internal",
		"external_ids:iface-id=cms-port", "external_ids:owner=cms"))(t)
	testbed.Must(b.NBCtl(e.ctx, "--wait=sb", "sync"))(t)
	return untouchedObjects{e: e}
}

// snapshot renders the untouched objects' columns that anyone could
// change (not statistics or status, which OVS updates by itself).
func (u untouchedObjects) snapshot(t *testing.T) string {
	t.Helper()
	e := u.e
	var sb strings.Builder
	for _, lsp := range []string{"other-hosts-port", "cms-port", "other-chassis-port"} {
		sb.WriteString(testbed.Must(e.bed.NBCtl(e.ctx, "--columns=name,addresses,port_security,options,external_ids,type",
			"list", "Logical_Switch_Port", lsp))(t) + "\n")
	}
	sb.WriteString(testbed.Must(e.bed.SBCtl(e.ctx, "--columns=logical_port,options,chassis,requested_chassis,external_ids",
		"find", "Port_Binding", "logical_port=other-chassis-port"))(t) + "\n")
	// The interface's keys, not ovn-controller's own: it binds cms-port
	// here and sets ovn-installed (and its timestamp, anew after each
	// restart) whenever it gets to it.
	sb.WriteString(testbed.Must(e.bed.VSCtl(e.ctx, "--columns=name,type,options", "list", "Interface", "cms-tap"))(t) + "\n")
	sb.WriteString(testbed.Must(e.bed.VSCtl(e.ctx, "get", "Interface", "cms-tap", "external_ids:iface-id", "external_ids:owner"))(t) + "\n")
	ids := testbed.Must(e.bed.VSCtl(e.ctx, "get", "Interface", "cms-tap", "external_ids"))(t)
	if strings.Contains(ids, "ovn-dpu") {
		sb.WriteString("ovn-dpu keys on cms-tap: " + ids + "\n")
	}
	return sb.String()
}
