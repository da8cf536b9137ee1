package scale

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// server is one central process the tool watches: a cluster member, a
// relay or ovn-northd.
type server struct {
	Name string // "nb-1" … "sb-3", "nb-relay", "sb-relay", "northd"
	pid  int
	ctl  string // ovs-appctl target; empty for northd (no memory/show of interest)
	db   string // the database of a cluster member (cluster/status); empty otherwise
}

// centralServers lists the bed's NB and SB members, relays and northd.
func centralServers(b *testbed.Bed) []server {
	var out []server
	for _, db := range []testbed.Database{testbed.Northbound, testbed.Southbound} {
		for _, m := range append(b.Members(db), b.Relay(db)) {
			s := server{Name: m.Name, pid: m.Pid(), ctl: m.Ctl}
			if !m.IsRelay() {
				s.db = string(db)
			}
			out = append(out, s)
		}
	}
	return append(out, server{Name: "northd", pid: b.DaemonPid("northd")})
}

// Sample is what one central process looked like at one moment.
type Sample struct {
	RSS int64 // bytes
	CPU float64
	// Memory is `ovs-appctl memory/show` parsed: cells, monitors,
	// sessions, … (ovsdb-server only).
	Memory map[string]int64
	// RaftIndex is a cluster member's last RAFT log index: it grows by
	// one per committed transaction (and per cluster configuration or
	// snapshot entry), so its growth counts the writes the cluster made.
	RaftIndex int64
}

// sample reads every server's RSS, CPU time and memory/show.
func sample(ctx context.Context, b *testbed.Bed, servers []server) (map[string]Sample, error) {
	out := map[string]Sample{}
	for _, s := range servers {
		rss, err := testbed.RSS(s.pid)
		if err != nil {
			return nil, fmt.Errorf("%s RSS: %w", s.Name, err)
		}
		cpu, err := cpuSeconds(s.pid)
		if err != nil {
			return nil, fmt.Errorf("%s CPU: %w", s.Name, err)
		}
		smp := Sample{RSS: rss, CPU: cpu}
		if s.ctl != "" {
			mem, err := b.Run(ctx, "ovs-appctl", "-t", s.ctl, "memory/show")
			if err != nil {
				return nil, fmt.Errorf("%s memory/show: %w", s.Name, err)
			}
			smp.Memory = parseMemoryShow(mem)
		}
		if s.db != "" {
			st, err := b.Run(ctx, "ovs-appctl", "-t", s.ctl, "cluster/status", s.db)
			if err != nil {
				return nil, fmt.Errorf("%s cluster/status: %w", s.Name, err)
			}
			if smp.RaftIndex, err = parseRaftIndex(st); err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
		}
		out[s.Name] = smp
	}
	return out, nil
}

// parseMemoryShow reads ovsdb-server's "atoms:123 cells:456 monitors:3
// sessions:12 …" (one line, or one per database on some versions: the
// values are summed).
func parseMemoryShow(s string) map[string]int64 {
	out := map[string]int64{}
	for _, f := range strings.Fields(s) {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			out[k] += n
		}
	}
	return out
}

// clockTicks is USER_HZ, 100 on every Linux this runs on (sysconf is not
// in the standard library).
const clockTicks = 100

// cpuSeconds is utime + stime of pid from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(data))
}

// parseStatCPU reads fields 14 and 15 (utime, stime) of a /proc/PID/stat
// line; the command name (field 2) is in parentheses and may hold spaces.
func parseStatCPU(stat string) (float64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("/proc stat %q: no command name", stat)
	}
	f := strings.Fields(stat[end+1:])
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command", len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat utime %q stime %q", f[11], f[12])
	}
	return float64(utime+stime) / clockTicks, nil
}

// parseRaftIndex reads the last index of cluster/status's "Log: [first,
// last]" line.
func parseRaftIndex(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "Log: [")
		if !ok {
			continue
		}
		_, last, ok := strings.Cut(strings.TrimSuffix(rest, "]"), ",")
		if !ok {
			break
		}
		return strconv.ParseInt(strings.TrimSpace(last), 10, 64)
	}
	return 0, fmt.Errorf("no \"Log: [first, last]\" line in cluster/status: %q", status)
}

// Stopwatch is one of northd's `stopwatch/show` entries: how many times a
// stage ran and how long it took, in ms.
type Stopwatch struct {
	Samples        int64
	Mean, Max, P95 float64
}

// parseStopwatches reads `ovs-appctl stopwatch/show`:
//
//	Statistics for 'ovnnb_db_run'
//	  Total samples: 12
//	  Maximum: 25 msec
//	  Minimum: 3 msec
//	  95th percentile: 20.000000 msec
//	  Short term average: 10.000000 msec
//	  Long term average: 9.500000 msec
//
// Mean is the long-term average (an exponentially weighted one: recent
// runs weigh most).
func parseStopwatches(s string) map[string]Stopwatch {
	out := map[string]Stopwatch{}
	var name string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, "Statistics for '"); ok {
			name = strings.TrimSuffix(rest, "'")
			out[name] = Stopwatch{}
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimSpace(val), " ")
		f, err := strconv.ParseFloat(num, 64)
		if err != nil {
			continue
		}
		sw := out[name]
		switch key {
		case "Total samples":
			sw.Samples = int64(f)
		case "Maximum":
			sw.Max = f
		case "95th percentile":
			sw.P95 = f
		case "Long term average":
			sw.Mean = f
		}
		out[name] = sw
	}
	return out
}
