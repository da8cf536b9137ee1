package dpuagent_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// garbage is one bad option of a plug request: its key and value, or
// missing; the port's ERROR reason must name both. without is an option
// of the good request to leave out (vf-num, for an sf-num kind); conflict
// sets the option next to vf-num, which must be refused naming both.
type garbage struct {
	option, value string
	missing       bool
	without       string
	conflict      bool
}

// reasonPrefix is how the ERROR reason of a port with g must start: the
// option, and the value quoted, cut at vifplug.MaxQuotedValue bytes.
func (g garbage) reasonPrefix() string {
	if g.missing {
		return "option " + g.option + " is missing"
	}
	if g.conflict {
		return "options " + vifplug.OptVFNum + " and " + g.option + " are both set"
	}
	v := strconv.Quote(g.value)
	if len(g.value) > vifplug.MaxQuotedValue {
		v = strconv.Quote(g.value[:vifplug.MaxQuotedValue]) + fmt.Sprintf("… (%d bytes)", len(g.value))
	}
	return "option " + g.option + "=" + v + " is not "
}

// garbageKinds are the bad spellings a CMS other than ovn-dpu may write.
// The rest of each request is good and names one of the bed's real VFs,
// so a lax parser (ovn-vif reads "seven", "0x1" and "65536" as VF 0, "1x"
// and "+1" as VF 1) would plug or fight over a working port's
// representor instead of reporting the option.
var garbageKinds = []garbage{
	{option: vifplug.OptPFMAC, value: "0c:42:zz:00:00:01"},
	{option: vifplug.OptPFMAC, value: "0c:42:a1:00:00"},
	{option: vifplug.OptPFMAC, value: "0c:42:a1:00:00:01:02:03"},
	{option: vifplug.OptPFMAC, value: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"},
	{option: vifplug.OptPFMAC, value: "01:00:5e:00:00:01"},
	{option: vifplug.OptPFMAC, value: "ff:ff:ff:ff:ff:ff"},
	{option: vifplug.OptPFMAC, value: "00:00:00:00:00:00"},
	{option: vifplug.OptPFMAC, value: ""},
	{option: vifplug.OptPFMAC, missing: true},
	{option: vifplug.OptVFNum, value: "seven"},
	{option: vifplug.OptVFNum, value: "-1"},
	{option: vifplug.OptVFNum, value: "65536"},
	{option: vifplug.OptVFNum, value: "1" + strings.Repeat("0", 30)},
	{option: vifplug.OptVFNum, value: "1x"},
	{option: vifplug.OptVFNum, value: " 1"},
	{option: vifplug.OptVFNum, value: "+1"},
	{option: vifplug.OptVFNum, value: "0x1"},
	{option: vifplug.OptVFNum, value: "01"},
	{option: vifplug.OptVFNum, value: "\u0661"}, // ARABIC-INDIC DIGIT ONE
	{option: vifplug.OptVFNum, value: ""},
	// Without vf-num the request is for the PF itself; sf-num is ovn-dpu's
	// extension, as strict as vf-num, and never beside it.
	{option: vifplug.OptSFNum, value: "seven", without: vifplug.OptVFNum},
	{option: vifplug.OptSFNum, value: "-1", without: vifplug.OptVFNum},
	{option: vifplug.OptSFNum, value: "4294967296", without: vifplug.OptVFNum},
	{option: vifplug.OptSFNum, value: "", without: vifplug.OptVFNum},
	{option: vifplug.OptSFNum, value: "1", conflict: true},
	{option: vifplug.OptMTURequest, value: "jumbo"},
	{option: vifplug.OptMTURequest, value: "-1500"},
	{option: vifplug.OptMTURequest, value: "67"},
	{option: vifplug.OptMTURequest, value: "65536"},
	{option: vifplug.OptMTURequest, value: " 1500"},
}

// hugeGarbage are option values of 1 MiB: too long for a command line, so
// WriteLSPs writes them over OVSDB; their reasons quote 64 bytes.
var hugeGarbage = []garbage{
	{option: vifplug.OptPFMAC, value: strings.Repeat("0c:", 1<<20/3)},
	{option: vifplug.OptVFNum, value: strings.Repeat("1", 1<<20)},
	{option: vifplug.OptMTURequest, value: strings.Repeat("9", 1<<20)},
}

const (
	garbagePorts = 10000
	goodPorts    = 5
	// Bounds on the agent's resident memory. Measured on a 2-core machine
	// with OVN 23.03: 21 MiB with the good ports alone; 124-130 MiB with
	// the 10 000 garbage bindings too (up to 182 MiB when they come in
	// four NB transactions, i.e. more planning passes); 92-135 MiB right
	// after they are deleted (42 MiB once the Go runtime's next forced GC
	// has run, two minutes later).
	rssWithGarbage  = 256 << 20
	rssAfterGarbage = 160 << 20
)

// TestGarbageRequestsAtScale: another CMS writes 10 000 LSPs for this DPU
// whose plug options are garbage of every kind, next to 5 good ones. Each
// garbage port is ERROR with a bounded reason naming its option and value,
// nothing is plugged or written to OVS for any of them, the good ports
// stay READY and pass traffic, a host's stream never sees the garbage and
// survives it, a fresh watcher gets all 10 005 statuses in small messages,
// and the agent's memory stays bounded; once the garbage is deleted the
// agent forgets it and its goroutines are back where they were.
func TestGarbageRequestsAtScale(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	agent := testbed.Must(bed.StartDPUAgentIn(ctx, "", "--metrics=127.0.0.1:0"))(t)
	all := testbed.Must(agent.Watch(ctx, ""))(t)
	defer all.Close()
	host := testbed.Must(agent.Watch(ctx, "node1"))(t)
	defer host.Close()
	e := &env{bed: bed, agent: agent, watch: all, ctx: ctx}
	metrics := "http://" + metricsAddr(t, ctx, agent) + "/metrics"

	// The good ports, owned by node1 (the host watcher sees them).
	indices := make([]int, goodPorts)
	for i := range indices {
		indices[i] = i
	}
	vfs := testbed.Must(bed.AddVFs(ctx, 0, indices, testbed.VFOptions{}))(t)
	var good, reps []string
	var args []string
	for i, vf := range vfs {
		lsp := fmt.Sprintf("good%d", i)
		good, reps = append(good, lsp), append(reps, vf.Representor)
		args = append(args, bed.RequestArgs("net1", lsp, vf, fmt.Sprintf("10.1.0.%d", i+1))...)
		args = append(args, "--", "set", "Logical_Switch_Port", lsp, `external_ids:"`+vifplug.ExtOwner+`"=node1`)
	}
	e.nbctl(t, args...)
	if err := host.WaitPhase(ctx, waitLong, ready, good...); err != nil {
		t.Fatal(err)
	}
	before := sampleAgent(t, agent, metrics)
	writesBefore := e.agentWrites(t)
	hostEvents := len(host.Events())
	t.Logf("with %d good ports: %v", goodPorts, before)

	// The garbage, on a switch of its own, as another CMS writes it.
	ports, want := garbageLSPs(bed, garbagePorts)
	start := time.Now()
	testbed.Must(0, bed.WriteLSPs(ctx, "junk", ports, len(ports)))(t)
	t.Logf("%d garbage LSPs in NB and SB in %v", len(ports), time.Since(start))

	// A fresh watcher gets every port, each garbage one ERROR naming its
	// option, in messages far below gRPC's 4 MiB default limit.
	var snapshot []*ovndpuv1.WatchPortsResponse
	err := testbed.Eventually(ctx, 3*time.Minute, "a fresh watcher sees every garbage port ERROR", func() error {
		var err error
		snapshot, err = watchSnapshot(ctx, agent)
		if err != nil {
			return err
		}
		return checkGarbageStatuses(snapshot, want, good)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all %d statuses published %v after the write began", len(snapshot)-1, time.Since(start))
	total, largest := 0, 0
	for _, ev := range snapshot {
		n := proto.Size(ev)
		total, largest = total+n, max(largest, n)
	}
	t.Logf("snapshot: %d messages, %d bytes, the largest %d bytes", len(snapshot), total, largest)
	if largest > 2<<10 {
		t.Errorf("largest snapshot message is %d bytes: a port's status must stay small whatever its options", largest)
	}
	with := sampleAgent(t, agent, metrics)
	t.Logf("with %d garbage bindings too: %v", garbagePorts, with)
	if with.errorPorts != garbagePorts {
		t.Errorf("metrics count %d ERROR ports, want %d", with.errorPorts, garbagePorts)
	}
	if with.rss > rssWithGarbage {
		t.Errorf("agent RSS %d MiB with %d garbage bindings, bound %d MiB", with.rss>>20, garbagePorts, rssWithGarbage>>20)
	}

	// The watcher that was connected all along either kept up or was told
	// to reconnect (it is not node-scoped, so it got the whole burst); the
	// host's stream, scoped to node1, saw no garbage and no change.
	err = all.WaitUntil(ctx, waitLong, "the unscoped watcher has every status", func(latest map[string]*ovndpuv1.PortStatus) bool {
		for lsp := range want {
			if st := latest[lsp]; st == nil || st.Phase != errPhase {
				return false
			}
		}
		return true
	})
	if err != nil && status.Code(all.Err()) != codes.ResourceExhausted {
		t.Errorf("unscoped watcher: %v", err)
	}
	t.Logf("the unscoped watcher connected all along: %d events, stream error %v", len(all.Events()), all.Err())
	checkHostStream(t, host, hostEvents, good)
	if got := e.pluggedByAgent(t); !sameSet(got, reps) {
		t.Errorf("plugged = %v, want only the good ports' %v", got, reps)
	}
	if ids := e.vsctl(t, "--bare", "--columns=external_ids", "list", "Interface"); strings.Contains(ids, "junk") {
		t.Errorf("an interface carries a garbage port's iface-id: %s", ids)
	}
	if n := e.agentWrites(t); n != writesBefore {
		t.Errorf("agent wrote %d OVS transactions for garbage requests, want none", n-writesBefore)
	}
	for i, vf := range vfs[:2] {
		pod := testbed.Must(bed.AddPod(ctx, good[i]))(t)
		testbed.Must(0, bed.PlumbVF(ctx, vf, pod, "eth0", fmt.Sprintf("10.1.0.%d/24", i+1)))(t)
	}
	if err := bed.Ping(ctx, bed.Pod(good[0]), "10.1.0.2"); err != nil {
		t.Fatal(err)
	}

	// Deleting the garbage (one transaction: the switch and its ports)
	// brings the agent back to about where it was.
	start = time.Now()
	e.nbctl(t, "ls-del", "junk")
	e.nbctl(t, "--timeout=600", "--wait=sb", "sync")
	err = testbed.Eventually(ctx, 2*time.Minute, "the garbage ports are gone from a fresh snapshot", func() error {
		snap, err := watchSnapshot(ctx, agent)
		if err != nil {
			return err
		}
		if len(snap) != goodPorts+1 {
			return fmt.Errorf("%d statuses", len(snap)-1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("garbage deleted and forgotten in %v", time.Since(start))
	// Go returns freed memory to the OS lazily: RSS falls to about 42 MiB
	// only at the runtime's next forced GC, two minutes later, which the
	// test does not wait for. It checks that what the agent holds for the
	// ports is gone and that RSS did not grow past the bound on the way.
	var after agentSample
	err = testbed.Eventually(ctx, time.Minute, "the agent's memory and goroutines come back down", func() error {
		after = sampleAgent(t, agent, metrics)
		if after.errorPorts != 0 || after.rss > rssAfterGarbage || after.goroutines > before.goroutines+5 {
			return fmt.Errorf("%v; bounds 0 ERROR ports, %d MiB RSS, %d goroutines", after, rssAfterGarbage>>20, before.goroutines+5)
		}
		return nil
	})
	t.Logf("after the garbage is deleted: %v", after)
	if err != nil {
		t.Error(err)
	}
	checkHostStream(t, host, hostEvents, good)
	for _, lsp := range good {
		if st := host.Latest(lsp); st.Phase != ready {
			t.Errorf("%s is %v: %s", lsp, st.Phase, st.Reason)
		}
	}
}

// garbageLSPs are n ports on the bed's chassis, each with one kind of
// garbage (the huge ones once each), and the reason prefix each must get.
func garbageLSPs(bed *testbed.Bed, n int) ([]testbed.LSP, map[string]string) {
	ports := make([]testbed.LSP, 0, n)
	want := make(map[string]string, n)
	for i := range n {
		g := garbageKinds[i%len(garbageKinds)]
		if i < len(hugeGarbage) {
			g = hugeGarbage[i]
		}
		opts := vifplug.Request{Chassis: bed.Chassis, PFMAC: bed.PFMAC(0), VFNum: i % goodPorts}.Options()
		if g.missing {
			delete(opts, g.option)
		} else {
			opts[g.option] = g.value
		}
		if g.without != "" {
			delete(opts, g.without)
		}
		name := fmt.Sprintf("junk%05d", i)
		ports = append(ports, testbed.LSP{Name: name, Options: opts})
		want[name] = g.reasonPrefix()
	}
	return ports, want
}

// watchSnapshot is a fresh watcher's snapshot, the marker last.
func watchSnapshot(ctx context.Context, agent *testbed.DPUAgent) ([]*ovndpuv1.WatchPortsResponse, error) {
	conn, err := agent.Dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := ovndpuv1.NewDPUAgentClient(conn).WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{})
	if err != nil {
		return nil, err
	}
	var events []*ovndpuv1.WatchPortsResponse
	for {
		ev, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("snapshot after %d events: %w", len(events), err)
		}
		events = append(events, ev)
		if m := ev.GetSnapshotComplete(); m != nil {
			if int(m.Ports) != len(events)-1 {
				return nil, fmt.Errorf("marker counts %d ports, %d came", m.Ports, len(events)-1)
			}
			return events, nil
		}
	}
}

// checkGarbageStatuses checks a snapshot: the good ports READY, every
// garbage port ERROR with its reason, bounded, and nothing else.
func checkGarbageStatuses(snapshot []*ovndpuv1.WatchPortsResponse, want map[string]string, good []string) error {
	seen := 0
	for _, ev := range snapshot {
		st := ev.GetPort()
		if st == nil {
			continue
		}
		seen++
		if slices.Contains(good, st.LogicalPort) {
			if st.Phase != ready {
				return fmt.Errorf("good port %s is %v: %s", st.LogicalPort, st.Phase, st.Reason)
			}
			continue
		}
		prefix, ok := want[st.LogicalPort]
		switch {
		case !ok:
			return fmt.Errorf("status for unknown port %s", st.LogicalPort)
		case st.Phase != errPhase:
			return fmt.Errorf("garbage port %s is %v: %.300s", st.LogicalPort, st.Phase, st.Reason)
		case !strings.HasPrefix(st.Reason, prefix) || len(st.Reason) > vifplug.MaxErrorLen:
			return fmt.Errorf("garbage port %s: reason %.600q, want %d bytes at most starting %.300q",
				st.LogicalPort, st.Reason, vifplug.MaxErrorLen, prefix)
		case st.Representor != "":
			return fmt.Errorf("garbage port %s matched representor %s", st.LogicalPort, st.Representor)
		}
	}
	if seen != len(want)+len(good) {
		return fmt.Errorf("%d statuses, want %d", seen, len(want)+len(good))
	}
	return nil
}

// checkHostStream checks that node1's stream is alive and sent nothing
// since it had its first hostEvents events (the good ports READY).
func checkHostStream(t *testing.T, host *testbed.Watcher, hostEvents int, good []string) {
	t.Helper()
	if err := host.Err(); err != nil {
		t.Errorf("host stream ended: %v", err)
	}
	for _, ev := range host.Events()[hostEvents:] {
		t.Errorf("host stream got an event during the garbage: %v", ev)
	}
}

// agentSample is what the agent holds: resident memory, heap, goroutines,
// and how many ports it reports ERROR.
type agentSample struct {
	rss        int64
	heap       int64 // bytes in in-use heap spans
	goroutines int
	errorPorts int
}

func (s agentSample) String() string {
	return fmt.Sprintf("RSS %.1f MiB, heap in use %.1f MiB, %d goroutines, %d ERROR ports",
		float64(s.rss)/(1<<20), float64(s.heap)/(1<<20), s.goroutines, s.errorPorts)
}

var sampledMetric = regexp.MustCompile(`(?m)^(go_goroutines|go_memstats_heap_inuse_bytes|ovndpu_dpu_ports\{phase="PHASE_ERROR"\}) (\S+)$`)

func sampleAgent(t *testing.T, agent *testbed.DPUAgent, metrics string) agentSample {
	t.Helper()
	s := agentSample{rss: testbed.Must(testbed.RSS(agent.Pid()))(t)}
	code, body := httpGet(t, metrics)
	if code != http.StatusOK {
		t.Fatalf("%s: %d", metrics, code)
	}
	found := 0
	for _, m := range sampledMetric.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", metrics, m[0], err)
		}
		found++
		switch m[1] {
		case "go_goroutines":
			s.goroutines = int(v)
		case "go_memstats_heap_inuse_bytes":
			s.heap = int64(v)
		default:
			s.errorPorts = int(v)
		}
	}
	if found != 3 {
		t.Fatalf("%s lacks one of %s", metrics, sampledMetric)
	}
	return s
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
