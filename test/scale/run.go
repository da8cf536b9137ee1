package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/bench"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// Config chooses what a run measures.
type Config struct {
	// N are the fleet sizes, one bed each, in order.
	N []int
	// Pods is K, the pods each host attaches and then detaches in each
	// round of the churn.
	Pods int
	// MinOps is the least number of churn operations (ADDs and DELs): a
	// small fleet repeats its churn until it has made that many.
	MinOps int
	// Concurrency is how many churn operations run at once across the
	// whole fleet (not per host): the same offered load at every N, so
	// that latency growing with N is the fleet's cost, not more load.
	// Default 4: every simulated host shares this machine's kernel, whose
	// namespace moves are serialised, and its cores; at 8 they saturate
	// at N=100 and the growth measured is theirs (docs/scale.md).
	Concurrency int
	// Measured is how many single operations (half ADD, half DEL) are
	// attributed to their owner and everyone else, one at a time.
	Measured int
	// References is how many real ovn-controllers join the SB relay for
	// the reference per-session figure (0: skip).
	References int
	// Settle is how long every counter must stay still before an
	// operation's effects count as all delivered (waitQuiet).
	Settle time.Duration
	// IdleWindow is how long the idle fleet is watched for traffic that
	// is not a reply to anything (polling).
	IdleWindow time.Duration
	// TraceDir, when set, gets every message each agent received, one
	// file per session (node.traceFile).
	TraceDir string
	// Progress, when set, gets a line per phase.
	Progress io.Writer
}

func (c *Config) defaults() error {
	if len(c.N) == 0 {
		return errors.New("no fleet size (N)")
	}
	for _, n := range c.N {
		if n < 1 || n > 1000 {
			return fmt.Errorf("fleet size %d: want 1..1000", n)
		}
	}
	if c.Pods < 1 || c.Pods > 64 {
		return fmt.Errorf("pods %d: want 1..64", c.Pods)
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 4
	}
	if c.MinOps <= 0 {
		c.MinOps = 1000
	}
	if c.Measured < 2 {
		c.Measured = 2
	}
	if c.Settle <= 0 {
		c.Settle = 300 * time.Millisecond
	}
	if c.IdleWindow <= 0 {
		c.IdleWindow = 5 * time.Second
	}
	return nil
}

// Result is one fleet size's figures.
type Result struct {
	N, Pods, Concurrency int
	Took                 time.Duration
	// Add and Del are the churn's operation latencies (request → answer;
	// an ADD answers once its port is READY).
	Add, Del []time.Duration
	// Empty is every central server with no agent yet (the reference
	// ovn-controllers connected); Idle with the N host agents and N DPU
	// agents connected and quiet.
	Empty, Idle map[string]Sample
	// Drift and Warm are two samples 2 s apart before anything connects:
	// Warm - Drift is what the servers move by themselves.
	Drift, Warm map[string]Sample
	// ChurnBefore and ChurnAfter bracket the churn (2·N·Pods operations).
	ChurnBefore, ChurnAfter map[string]Sample
	ChurnOps                int
	ChurnTook               time.Duration
	// NorthdRuns are northd's stopwatches over the churn, by name
	// ("ovnnb_db_run", "ovnsb_db_run", …).
	NorthdRuns map[string]Stopwatch
	// Peak is a sample with every pod of the last round attached:
	// PeakPorts LSPs and Port_Bindings.
	Peak      map[string]Sample
	PeakPorts int
	// Ops are the measured single operations.
	Ops []OpCost
	// Sync is what each session got to come up (initial monitor replies
	// and updates), summed over the fleet: NB (host agents) and SB (DPU
	// agents); IdleTraffic what they got during IdleWindow, idle.
	SyncNB, SyncSB Counts
	IdleNB, IdleSB Counts
	IdleWindow     time.Duration
	// Stages are the churn ADDs' "ADD stages" (ms), by stage.
	Stages                map[string][]float64
	HostRSS, DPURSS       []int64 // each agent, idle
	HostRSSEnd, DPURSSEnd []int64 // each agent, after the churn
	Ref                   *Reference
}

// OpCost is what one operation sent to its owner's sessions and to every
// other agent's.
type OpCost struct {
	Verb                                 string // "ADD", "DEL"
	Took                                 time.Duration
	OwnerNB, OwnerSB, OthersNB, OthersSB Counts
}

// Reference is the idle cost of real ovn-controller sessions on the same
// SB relay.
type Reference struct {
	Count         int
	Before, After Sample // the SB relay
	Sync          Counts // what they got to come up, summed
}

// run is one fleet size in progress.
type run struct {
	cfg   Config
	n     int
	ctx   context.Context
	t0    time.Time
	bed   *testbed.Bed
	nodes []*node
	ctl   *controller
	res   *Result
	// refProxies front the reference ovn-controllers (reference.go).
	refProxies []*Proxy
}

// Run measures every fleet size of cfg, one fresh bed each, and tears
// each down, on failure too.
func Run(ctx context.Context, cfg Config) ([]*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, err := testbed.BinDir(); err != nil {
		return nil, err
	}
	var out []*Result
	for _, n := range cfg.N {
		res, err := runOne(ctx, cfg, n)
		if err != nil {
			return out, fmt.Errorf("fleet of %d: %w", n, err)
		}
		out = append(out, res)
	}
	return out, nil
}

func runOne(ctx context.Context, cfg Config, n int) (_ *Result, err error) {
	r := &run{cfg: cfg, n: n, t0: time.Now(), res: &Result{N: n, Pods: cfg.Pods, Concurrency: cfg.Concurrency}}
	ctx, cancel := context.WithCancel(ctx)
	r.ctx = ctx
	defer func() {
		cancel()
		if r.ctl != nil {
			r.ctl.close()
		}
		for _, nd := range r.nodes {
			nd.close()
		}
		for _, p := range r.refProxies {
			p.Close()
		}
		if r.bed != nil {
			if err != nil {
				err = fmt.Errorf("%w\n%s", err, r.failureLogs())
			}
			if cerr := r.bed.Close(); cerr != nil {
				err = errors.Join(err, fmt.Errorf("tear down: %w", cerr))
			}
		}
	}()
	for _, phase := range []func() error{r.startCentral, r.startFleet, r.churn, r.measure} {
		if err := phase(); err != nil {
			return nil, err
		}
		if err := r.ctl.Err(); err != nil {
			return nil, err
		}
	}
	r.res.Took = time.Since(r.t0)
	return r.res, nil
}

func (r *run) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "[N=%d %6.1fs] %s\n", r.n, time.Since(r.t0).Seconds(), fmt.Sprintf(format, args...))
	}
}

// failureLogs is the tail of the logs of the central daemons and of the
// first node's agents.
func (r *run) failureLogs() string {
	var sb strings.Builder
	sb.WriteString(r.bed.Logs(8))
	for _, nd := range r.nodes[:min(2, len(r.nodes))] {
		for _, p := range []*testbed.Process{nd.dpu, nd.hostAg} {
			if p != nil {
				fmt.Fprintf(&sb, "=== %s\n%s\n", filepath.Base(p.Log), testbed.Tail(p.Log, 15))
			}
		}
	}
	return sb.String()
}

// switches is how many logical switches the fleet's pods spread over.
const switches = 4

func switchName(i int) string { return fmt.Sprintf("scale%d", i%switches) }

// startCentral starts the clustered NB and SB with a relay each, the
// logical switches and the simulated ovn-controller's SB session.
func (r *run) startCentral() error {
	r.progress("starting clustered NB and SB (3 members each) with relays")
	var err error
	r.bed, err = testbed.Start(r.ctx, testbed.Options{Clustered: true, NBRelay: true, SBRelay: true, NoController: true})
	if err != nil {
		return fmt.Errorf("start the central databases: %w", err)
	}
	for i := range switches {
		if _, err := r.bed.NBCtl(r.ctx, "ls-add", switchName(i)); err != nil {
			return err
		}
	}
	r.ctl, err = newController(r.ctx, strings.Split(r.bed.SBTCPRemote, ","))
	return err
}

// startFleet lays out the N nodes and registers their chassis, measures
// the central servers, starts every agent, waits until every session is
// quiet and measures again.
func (r *run) startFleet() error {
	r.progress("laying out %d hosts and DPUs (%d VFs and pods each)", r.n, r.cfg.Pods)
	r.nodes = make([]*node, r.n)
	err := parallel(r.ctx, r.n, 4, func(i int) error {
		nd, err := newNode(r.ctx, r.bed, i, r.cfg.Pods)
		if err != nil {
			return err
		}
		r.nodes[i] = nd
		if err := nd.register(r.ctx, r.bed); err != nil {
			return err
		}
		uuid, err := r.bed.SBCtl(r.ctx, "--bare", "--columns=_uuid", "find", "Chassis", "name="+nd.chassis)
		if err != nil {
			return err
		}
		return r.ctl.addDPU(r.ctx, nd.ovs, uuid)
	})
	r.nodes = compact(r.nodes)
	if err != nil {
		return err
	}
	servers := centralServers(r.bed)
	// Two samples before any agent: the first call of memory/show and
	// the registrations just made move RSS by themselves; the second
	// sample is the baseline, the difference the servers' drift.
	if r.res.Drift, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-time.After(2 * time.Second): // a stretch of idle time is what the drift is measured over
	}
	if r.res.Warm, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	if err := r.reference(); err != nil {
		return err
	}
	if r.res.Empty, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	r.progress("starting %d host agents and %d DPU agents", r.n, r.n)
	nb, sb := r.bed.Relay(testbed.Northbound).Remote, r.bed.Relay(testbed.Southbound).Remote
	if err := parallel(r.ctx, r.n, 4, func(i int) error { return r.nodes[i].startAgents(r.ctx, r.bed, nb, sb, r.cfg.TraceDir) }); err != nil {
		return err
	}
	if err := waitQuiet(r.ctx, r.snapshot, 4*r.cfg.Settle); err != nil {
		return err
	}
	if r.res.Idle, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	r.res.SyncNB, r.res.SyncSB = r.sum(r.snapshot())
	r.res.HostRSS, r.res.DPURSS, err = r.agentRSS()
	if err != nil {
		return err
	}
	r.progress("idle: watching the fleet's sessions for %v", r.cfg.IdleWindow)
	before := r.snapshot()
	select {
	case <-r.ctx.Done():
		return r.ctx.Err()
	case <-time.After(r.cfg.IdleWindow): // a window of time is what is measured here
	}
	r.res.IdleWindow = r.cfg.IdleWindow
	r.res.IdleNB, r.res.IdleSB = r.sumDelta(before, r.snapshot())
	return r.proxyErr()
}

// snapshot is every node's NB then SB counts, in node order.
func (r *run) snapshot() []Counts {
	out := make([]Counts, 0, 2*len(r.nodes))
	for _, nd := range r.nodes {
		nb, sb := nd.counts()
		out = append(out, nb, sb)
	}
	return out
}

func (r *run) sum(s []Counts) (nb, sb Counts) {
	for i := 0; i+1 < len(s); i += 2 {
		nb, sb = nb.Add(s[i]), sb.Add(s[i+1])
	}
	return nb, sb
}

func (r *run) sumDelta(before, after []Counts) (nb, sb Counts) {
	d := make([]Counts, len(after))
	for i := range after {
		d[i] = after[i].Sub(before[i])
	}
	return r.sum(d)
}

func (r *run) proxyErr() error {
	for _, nd := range r.nodes {
		for _, p := range []*Proxy{nd.nbProxy, nd.sbProxy} {
			if err := p.Err(); err != nil {
				return fmt.Errorf("node %d: %w", nd.i, err)
			}
		}
	}
	return nil
}

func (r *run) agentRSS() (host, dpu []int64, err error) {
	for _, nd := range r.nodes {
		h, err := testbed.RSS(nd.hostAg.Pid())
		if err != nil {
			return nil, nil, fmt.Errorf("node %d host agent: %w", nd.i, err)
		}
		d, err := testbed.RSS(nd.dpu.Pid())
		if err != nil {
			return nil, nil, fmt.Errorf("node %d DPU agent: %w", nd.i, err)
		}
		host, dpu = append(host, h), append(dpu, d)
	}
	return host, dpu, nil
}

// churn has every host attach its Pods pods and then detach them,
// Concurrency operations at a time across the fleet, hosts interleaved.
func (r *run) churn() error {
	r.progress("churn: %d round(s) of %d ADDs then %d DELs, %d at a time", r.rounds(), r.n*r.cfg.Pods, r.n*r.cfg.Pods, r.cfg.Concurrency)
	servers := centralServers(r.bed)
	var err error
	if r.res.ChurnBefore, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	// northd's stopwatches time each of its runs: reset, they give the
	// churn's runs alone.
	if _, err := r.bed.AppCtl(r.ctx, "northd", "stopwatch/reset"); err != nil {
		return fmt.Errorf("northd stopwatch/reset: %w", err)
	}
	start := time.Now()
	jobs := r.n * r.cfg.Pods
	for round := range r.rounds() {
		for _, verb := range []string{"ADD", "DEL"} {
			lat := make([]time.Duration, jobs)
			err := parallel(r.ctx, jobs, r.cfg.Concurrency, func(j int) error {
				nd, k := r.nodes[j%r.n], j/r.n
				took, err := nd.cni1(r.ctx, verb, fmt.Sprintf("churn-%d-%d", round, k), k)
				lat[j] = took
				return err
			})
			if err != nil {
				return err
			}
			if verb == "ADD" {
				r.res.Add = append(r.res.Add, lat...)
				if round == r.rounds()-1 {
					// Every pod attached: the databases at their largest.
					if r.res.Peak, err = sample(r.ctx, r.bed, servers); err != nil {
						return err
					}
					r.res.PeakPorts = jobs
				}
			} else {
				r.res.Del = append(r.res.Del, lat...)
			}
		}
	}
	r.res.ChurnTook = time.Since(start)
	r.res.ChurnOps = len(r.res.Add) + len(r.res.Del)
	if r.res.ChurnAfter, err = sample(r.ctx, r.bed, servers); err != nil {
		return err
	}
	sw, err := r.bed.AppCtl(r.ctx, "northd", "stopwatch/show")
	if err != nil {
		return fmt.Errorf("northd stopwatch/show: %w", err)
	}
	r.res.NorthdRuns = parseStopwatches(sw)
	r.res.HostRSSEnd, r.res.DPURSSEnd, err = r.agentRSS()
	if err != nil {
		return err
	}
	return r.churnStages()
}

// churnStages collects the host agents' "ADD stages" of the churn's ADDs:
// where an ADD's time went (the NB write, the VF move, READY).
func (r *run) churnStages() error {
	r.res.Stages = map[string][]float64{}
	for _, nd := range r.nodes {
		stages, err := bench.AddStages(nd.hostAg.Log)
		if err != nil {
			return fmt.Errorf("node %d host agent log: %w", nd.i, err)
		}
		for id, st := range stages {
			if !strings.Contains(id, "-churn-") {
				continue
			}
			for k, v := range st {
				r.res.Stages[k] = append(r.res.Stages[k], v)
			}
		}
	}
	return nil
}

// rounds is how often the fleet repeats its attach-then-detach of every
// pod: enough for MinOps operations, so that every N has as many samples
// (a p99 of 50 samples is their maximum, of 500 a percentile) and as
// many operations behind its CPU figures.
func (r *run) rounds() int {
	per := 2 * r.n * r.cfg.Pods
	return max(1, (r.cfg.MinOps+per-1)/per)
}

// measure runs single operations one at a time on hosts in turn (an ADD
// and its DEL each), and after each waits until every session is quiet:
// the deltas are then that operation's, split between its owner (that
// host's agent and its DPU's) and every other agent.
func (r *run) measure() error {
	r.progress("measuring %d single operations", r.cfg.Measured)
	if err := waitQuiet(r.ctx, r.snapshot, r.cfg.Settle); err != nil {
		return err
	}
	for j := range r.cfg.Measured {
		owner := (j / 2) % r.n
		verb := "ADD"
		if j%2 == 1 {
			verb = "DEL"
		}
		before := r.snapshot()
		took, err := r.nodes[owner].cni1(r.ctx, verb, fmt.Sprintf("measured-%d", j/2), 0)
		if err != nil {
			return err
		}
		if err := waitQuiet(r.ctx, r.snapshot, r.cfg.Settle); err != nil {
			return err
		}
		after := r.snapshot()
		op := OpCost{Verb: verb, Took: took}
		for i := range r.nodes {
			nb, sb := after[2*i].Sub(before[2*i]), after[2*i+1].Sub(before[2*i+1])
			if i == owner {
				op.OwnerNB, op.OwnerSB = nb, sb
			} else {
				op.OthersNB, op.OthersSB = op.OthersNB.Add(nb), op.OthersSB.Add(sb)
			}
		}
		r.res.Ops = append(r.res.Ops, op)
	}
	return r.proxyErr()
}

// parallel runs fn(0..n-1), at most width at a time, and returns the
// first error (the others still finish).
func parallel(ctx context.Context, n, width int, fn func(int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, width)
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return errors.Join(first, ctx.Err())
		}
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(i); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func compact(nodes []*node) []*node {
	out := nodes[:0]
	for _, nd := range nodes {
		if nd != nil {
			out = append(out, nd)
		}
	}
	return out
}

// WriteJSON writes results as indented JSON.
func WriteJSON(path string, results []*Result) error {
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// ReadJSON reads results WriteJSON wrote, to report or plot them again.
func ReadJSON(path string) ([]*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var results []*Result
	if err := json.Unmarshal(data, &results); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return results, nil
}
