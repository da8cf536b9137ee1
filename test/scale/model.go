package scale

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// The cost model: the measured per-session and per-operation figures,
// fitted across N and extrapolated to cloud-sized fleets. It is an
// estimate — straight lines through at most a few points measured on one
// 2-core machine — and says so wherever it is printed.

// Assumptions of the model, printed with it.
const (
	// modelPodsPerHost is the pods a host runs at a time (LSPs and
	// Port_Bindings per host).
	modelPodsPerHost = 20
	// modelOpsPerHostMin is the churn: attach/detach operations per host
	// per minute (1 pod started and 1 stopped per host per minute).
	modelOpsPerHostMin = 2.0
	// relayBudget is the share of one core a relay may use: ovsdb-server
	// is single-threaded, and a relay at half a core still absorbs a
	// burst or a reconnect storm.
	relayBudget = 0.5
)

var modelHosts = []int{1000, 5000, 10000}

// line is y = a + b·x.
type line struct{ a, b float64 }

func (l line) at(x float64) float64 { return l.a + l.b*x }

// fit is the least-squares line through the points (a flat line through
// one point; the slope is floored at 0: a cost never falls with size).
func fit(xs, ys []float64) line {
	n := float64(len(xs))
	if len(xs) == 0 {
		return line{}
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	den := n*sxx - sx*sx
	if len(xs) == 1 || den == 0 {
		return line{a: sy / n}
	}
	b := max(0, (n*sxy-sx*sy)/den)
	return line{a: (sy - b*sx) / n, b: b}
}

// Model is the fitted costs.
type Model struct {
	// Seconds of CPU per operation: relays as a function of the sessions
	// they serve, northd of the ports in the databases, cluster leaders
	// flat.
	NBRelay, SBRelay, Northd line
	NBLeader, SBLeader       float64
	// Bytes: RSS growth per agent session on each relay (largest N), per
	// reference ovn-controller session, and per port on the busiest
	// member of each cluster (at the churn's peak).
	NBSession, SBSession, RefSession float64
	NBPort, SBPort                   float64
	// RelayBase is a relay's RSS with no agent session.
	RelayBase float64
}

// Fit builds the model from results (any number of fleet sizes).
func Fit(results []*Result) Model {
	var m Model
	var ns, ports, nbr, sbr, nd []float64
	var nbl, sbl float64
	for _, r := range results {
		ns = append(ns, float64(r.N))
		ports = append(ports, float64(r.N*r.Pods)/2) // the churn's mean number of live ports
		nbr = append(nbr, r.CPUPer1000("nb-relay")/1000)
		sbr = append(sbr, r.CPUPer1000("sb-relay")/1000)
		nd = append(nd, r.CPUPer1000("northd")/1000)
		nbl += r.busiest("nb-") / 1000
		sbl += r.busiest("sb-") / 1000
	}
	m.NBRelay, m.SBRelay, m.Northd = fit(ns, nbr), fit(ns, sbr), fit(ports, nd)
	m.NBLeader, m.SBLeader = nbl/float64(len(results)), sbl/float64(len(results))
	big := results[len(results)-1]
	for _, r := range results {
		if r.N > big.N {
			big = r
		}
	}
	m.NBSession, m.SBSession, m.RefSession = big.PerSession("nb-relay"), big.PerSession("sb-relay"), big.RefPerSession()
	m.NBPort, m.SBPort = big.perPort("nb-"), big.perPort("sb-")
	m.RelayBase = float64(max(big.Empty["nb-relay"].RSS, big.Empty["sb-relay"].RSS))
	return m
}

// busiest is the highest CPU seconds per 1000 operations among a
// cluster's members (prefix "nb-" or "sb-"): its leader's.
func (r *Result) busiest(prefix string) float64 {
	best := 0.0
	for name := range r.ChurnAfter {
		if strings.HasPrefix(name, prefix) && !strings.HasSuffix(name, "relay") {
			best = max(best, r.CPUPer1000(name))
		}
	}
	return best
}

// perPort is the largest RSS growth per port among a cluster's members
// from before the churn to its peak (an upper bound: the churn's
// transactions and RAFT log grow the heap too).
func (r *Result) perPort(prefix string) float64 {
	if r.PeakPorts == 0 {
		return nan()
	}
	best := 0.0
	for name, peak := range r.Peak {
		if strings.HasPrefix(name, prefix) && !strings.HasSuffix(name, "relay") {
			best = max(best, float64(peak.RSS-r.ChurnBefore[name].RSS)/float64(r.PeakPorts))
		}
	}
	return best
}

// Fleet is the model's estimate for one fleet size.
type Fleet struct {
	Hosts int
	Ports int
	// OpsPerSec is the churn's offered load.
	OpsPerSec float64
	// Cores each component needs (CPU seconds per second); for northd,
	// above 1 is a load it cannot carry one run per operation.
	Northd, NBLeader, SBLeader float64
	// NorthdRun is northd's CPU seconds per operation at this size: once
	// northd is saturated it batches, and this is about how long each
	// batch (a recompute) takes, a floor under every ADD's latency.
	NorthdRun float64
	// Relays needed for the host agents (NB) and the DPU agents (SB), each
	// within relayBudget; 0 = no number of relays suffices (the per-op
	// cost every relay pays alone exceeds it).
	NBRelays, SBRelays int
	// Bytes: per relay and in all (relays plus the members' share of the
	// ports, three members per cluster).
	RelayRSS, CentralRSS float64
}

// Predict applies the model to a fleet of hosts hosts.
func (m Model) Predict(hosts int) Fleet {
	f := Fleet{Hosts: hosts, Ports: hosts * modelPodsPerHost}
	f.OpsPerSec = modelOpsPerHostMin * float64(hosts) / 60
	f.NorthdRun = m.Northd.at(float64(f.Ports))
	f.Northd = f.OpsPerSec * f.NorthdRun
	f.NBLeader, f.SBLeader = f.OpsPerSec*m.NBLeader, f.OpsPerSec*m.SBLeader
	f.NBRelays = relaysFor(m.NBRelay, f.OpsPerSec, hosts)
	f.SBRelays = relaysFor(m.SBRelay, f.OpsPerSec, hosts)
	// A relay holds its database's ports (members' per-port growth: an
	// upper bound, a relay has no RAFT log) and its share of sessions.
	perRelay := func(relays int, perSession, perPort float64) float64 {
		if relays == 0 {
			return nan()
		}
		sessions := math.Ceil(float64(hosts) / float64(relays))
		return m.RelayBase + sessions*perSession + float64(f.Ports)*perPort
	}
	nbRelay, sbRelay := perRelay(f.NBRelays, m.NBSession, m.NBPort), perRelay(f.SBRelays, m.SBSession, m.SBPort)
	f.RelayRSS = max(nbRelay, sbRelay)
	f.CentralRSS = float64(f.NBRelays)*nbRelay + float64(f.SBRelays)*sbRelay + 3*float64(f.Ports)*(m.NBPort+m.SBPort)
	return f
}

// relaysFor is how many relays keep each within relayBudget: every relay
// sees every operation (it holds the whole database) and evaluates its
// own sessions' monitor conditions on it, so its CPU per operation is
// l.a + l.b·sessions.
func relaysFor(l line, opsPerSec float64, sessions int) int {
	if opsPerSec == 0 {
		return 1
	}
	perOp := relayBudget / opsPerSec // CPU seconds a relay may spend per operation
	if l.a >= perOp {
		return 0
	}
	if l.b == 0 {
		return 1
	}
	most := math.Floor((perOp - l.a) / l.b)
	if most < 1 {
		return 0
	}
	return int(math.Ceil(float64(sessions) / most))
}

// saturation is the fleet size at which a component needing perOp(hosts)
// CPU seconds per operation reaches budget cores, by bisection (0: not
// below 1 000 000 hosts).
func saturation(perOp func(hosts float64) float64, budget float64) int {
	need := func(h float64) float64 { return modelOpsPerHostMin * h / 60 * perOp(h) }
	lo, hi := 1.0, 1e6
	if need(hi) < budget {
		return 0
	}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if need(mid) < budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return int(hi)
}

// WriteModel prints the model, its assumptions and its estimates.
func WriteModel(w io.Writer, results []*Result) {
	if len(results) == 0 {
		return
	}
	m := Fit(results)
	fmt.Fprintln(w, "cost model (ESTIMATE: straight lines fitted through the measured N, extrapolated far beyond them)")
	if sizes := distinctN(results); sizes < 2 {
		fmt.Fprintln(w, "  ONE fleet size only: no growth with N can be fitted, every cost is taken as flat and per-port memory is dominated by")
		fmt.Fprintln(w, "  fixed overheads; run several (make scale) for a model worth reading")
	}
	fmt.Fprintf(w, "  assumptions: %d pods per host at a time; churn %.0f attach/detach per host per minute; a relay may use %.0f%% of a core;\n",
		modelPodsPerHost, modelOpsPerHostMin, 100*relayBudget)
	fmt.Fprintln(w, "  relays hold the whole database and see every operation (all their CPU per op is charged to every relay, though a write's forwarding")
	fmt.Fprintln(w, "  is its own relay's alone: conservative); agent sessions spread evenly over relays; one northd, one leader per cluster; per-port")
	fmt.Fprintln(w, "  memory is members' RSS growth to the churn's peak (an upper bound: RAFT log and transaction buffers included)")
	fmt.Fprintf(w, "  CPU per op: northd %.2f ms + %.4f ms per port; NB relay %.2f ms + %.4f ms per session; SB relay %.2f ms + %.4f ms per session; NB leader %.2f ms; SB leader %.2f ms\n",
		1000*m.Northd.a, 1000*m.Northd.b, 1000*m.NBRelay.a, 1000*m.NBRelay.b, 1000*m.SBRelay.a, 1000*m.SBRelay.b, 1000*m.NBLeader, 1000*m.SBLeader)
	fmt.Fprintf(w, "  memory: %s KiB per host-agent session (NB relay), %s KiB per DPU-agent session (SB relay), %s KiB per real ovn-controller session; %s KiB per port on an NB member, %s on an SB member\n",
		kib(m.NBSession), kib(m.SBSession), kib(m.RefSession), kibF(m.NBPort), kibF(m.SBPort))
	fmt.Fprintln(w, "  northd load = ops/s × northd ms/op (its CPU per operation at that size, ~3 northd loop runs each here, one of them a full")
	fmt.Fprintln(w, "  logical-flow recompute); above 1 northd is saturated: it batches, every ADD waits for one or two recomputes of the whole")
	fmt.Fprintln(w, "  database, and those grow with the ports. Leaders in cores; relay MiB = one relay (its share of sessions and a whole copy of")
	fmt.Fprintln(w, "  its database's ports); central GiB = every relay plus 3 members of each cluster.")
	fmt.Fprintf(w, "  %7s %9s %8s %11s %12s %9s %9s %9s %9s %10s %11s\n", "hosts", "ports", "ops/s", "northd load", "northd ms/op", "NB lead", "SB lead",
		"NB relays", "SB relays", "relay MiB", "central GiB")
	for _, h := range modelHosts {
		f := m.Predict(h)
		fmt.Fprintf(w, "  %7d %9d %8.1f %10.1fx %9.0f ms %7.2f c %7.2f c %9s %9s %10.0f %11.1f\n", f.Hosts, f.Ports, f.OpsPerSec, f.Northd,
			1000*f.NorthdRun, f.NBLeader, f.SBLeader, relays(f.NBRelays), relays(f.SBRelays), f.RelayRSS/(1<<20), f.CentralRSS/(1<<30))
	}
	first := []struct {
		what  string
		hosts int
	}{
		{"ovn-northd (one core)", saturation(func(h float64) float64 { return m.Northd.at(h * modelPodsPerHost) }, 1)},
		{"NB leader (one core)", saturation(func(float64) float64 { return m.NBLeader }, 1)},
		{"SB leader (one core)", saturation(func(float64) float64 { return m.SBLeader }, 1)},
		{"a single NB relay (its budget)", saturation(func(h float64) float64 { return m.NBRelay.at(h) }, relayBudget)},
		{"a single SB relay (its budget)", saturation(func(h float64) float64 { return m.SBRelay.at(h) }, relayBudget)},
	}
	var parts []string
	for _, c := range first {
		if c.hosts > 0 {
			parts = append(parts, fmt.Sprintf("%s at ~%d hosts", c.what, c.hosts))
		} else {
			parts = append(parts, c.what+" not below 1 000 000 hosts")
		}
	}
	fmt.Fprintf(w, "  saturates: %s\n", strings.Join(parts, "; "))
}

func relays(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprint(n)
}

func kibF(b float64) string { return fmt.Sprintf("%.2f", b/1024) }

func distinctN(results []*Result) int {
	seen := map[int]bool{}
	for _, r := range results {
		seen[r.N] = true
	}
	return len(seen)
}
