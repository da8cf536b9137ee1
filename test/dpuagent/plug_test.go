package dpuagent_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

const (
	ready     = ovndpuv1.Phase_PHASE_READY
	errPhase  = ovndpuv1.Phase_PHASE_ERROR
	unplugged = ovndpuv1.Phase_PHASE_UNPLUGGED
	waitLong  = 60 * time.Second
)

// env is one bed with a running agent and a watcher.
type env struct {
	bed   *testbed.Bed
	agent *testbed.DPUAgent
	watch *testbed.Watcher
	ctx   context.Context
}

func setup(t *testing.T, agentFlags ...string) *env {
	t.Helper()
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	agent := testbed.Must(bed.StartDPUAgent(ctx, agentFlags...))(t)
	w := testbed.Must(agent.Watch(ctx, ""))(t)
	t.Cleanup(w.Close)
	return &env{bed: bed, agent: agent, watch: w, ctx: ctx}
}

func (e *env) vsctl(t *testing.T, args ...string) string {
	t.Helper()
	return testbed.Must(e.bed.VSCtl(e.ctx, args...))(t)
}

func (e *env) nbctl(t *testing.T, args ...string) string {
	t.Helper()
	return testbed.Must(e.bed.NBCtl(e.ctx, args...))(t)
}

// pluggedByAgent lists the interfaces carrying ovn-dpu-plugged.
func (e *env) pluggedByAgent(t *testing.T) []string {
	t.Helper()
	out := e.vsctl(t, "--bare", "--columns=name", "find", "Interface", "external_ids:ovn-dpu-plugged=representor")
	return strings.Fields(out)
}

// agentWrites counts the transactions ovn-dpu-agent committed to the OVS
// database: each carries a comment that ovsdb-server records in its log.
func (e *env) agentWrites(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(e.bed.Dir + "/ovs.db")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), `"_comment":"ovn-dpu-agent:`)
}

// TestPlugReadyAndPing: two LSPs written with ovn-nbctl as Neutron would;
// the agent plugs both representors, ovn-controller installs them (READY,
// NB up=true), the MTU request reaches the interface, and the two fake VFs
// ping each other across OVN.
func TestPlugReadyAndPing(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	ips := []string{"10.1.0.1", "10.1.0.2"}
	lsps := []string{"pod-a", "pod-b"}
	for i, vf := range vfs {
		testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", lsps[i], vf, ips[i], "vif-plug-mtu-request=1400"))(t)
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	for i, vf := range vfs {
		st := e.watch.Latest(lsps[i])
		assertMilestones(t, st)
		if st.Representor != vf.Representor || st.Ofport <= 0 || st.Mtu != 1400 || st.PfMac != vf.PFMAC.String() {
			t.Errorf("status of %s = %+v, want representor %s, an ofport, mtu 1400, pf_mac %s", lsps[i], st, vf.Representor, vf.PFMAC)
		}
		e.nbctl(t, "wait-until", "Logical_Switch_Port", lsps[i], "up=true")
		if got := e.vsctl(t, "get", "Interface", vf.Representor, "mtu_request"); got != "1400" {
			t.Errorf("interface %s mtu_request = %s, want 1400", vf.Representor, got)
		}
		if got := strings.Trim(e.vsctl(t, "get", "Interface", vf.Representor, "external_ids:iface-id"), `"`); got != lsps[i] {
			t.Errorf("interface %s iface-id = %s, want %s", vf.Representor, got, lsps[i])
		}
	}
	for i, vf := range vfs {
		pod := testbed.Must(e.bed.AddPod(e.ctx, lsps[i]))(t)
		testbed.Must(0, e.bed.PlumbVF(e.ctx, vf, pod, "eth0", ips[i]+"/24"))(t)
	}
	if err := e.bed.Ping(e.ctx, e.bed.Pod(lsps[0]), ips[1]); err != nil {
		t.Fatal(err)
	}
}

// assertMilestones checks that a READY status carries the DPU-side
// milestones of its attachment, in the order an attach passes them.
func assertMilestones(t *testing.T, st *ovndpuv1.PortStatus) {
	t.Helper()
	steps := []struct {
		name string
		ts   *timestamppb.Timestamp
	}{{"first_seen", st.FirstSeen}, {"plugged", st.Plugged}, {"claimed", st.Claimed}, {"installed", st.Installed}}
	for i, s := range steps {
		if s.ts == nil {
			t.Errorf("READY status of %s has no %s: %v", st.LogicalPort, s.name, st)
			return
		}
		if i > 0 && s.ts.AsTime().Before(steps[i-1].ts.AsTime()) {
			t.Errorf("%s of %s (%v) is before its %s (%v)", s.name, st.LogicalPort, s.ts.AsTime(), steps[i-1].name, steps[i-1].ts.AsTime())
		}
	}
	if updated := st.Updated.AsTime(); updated.Before(st.Installed.AsTime()) {
		t.Errorf("READY of %s published at %v, before installed %v", st.LogicalPort, updated, st.Installed.AsTime())
	}
}

// TestUnplugWhenRequestGoes: deleting the LSP, moving requested-chassis
// away and removing vif-plug-type each unplug promptly.
func TestUnplugWhenRequestGoes(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1, 2}, testbed.VFOptions{}))(t)
	lsps := []string{"deleted", "moved", "unplug-type"}
	for i, vf := range vfs {
		testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", lsps[i], vf, ""))(t)
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	e.nbctl(t, "lsp-del", "deleted")
	e.nbctl(t, "lsp-set-options", "moved", "requested-chassis=elsewhere", "vif-plug-type=representor",
		"vif-plug:representor:pf-mac="+vfs[1].PFMAC.String(), "vif-plug:representor:vf-num=1")
	e.nbctl(t, "remove", "Logical_Switch_Port", "unplug-type", "options", "vif-plug-type")
	if err := e.watch.WaitPhase(e.ctx, waitLong, unplugged, lsps...); err != nil {
		t.Fatal(err)
	}
	if left := e.pluggedByAgent(t); len(left) != 0 {
		t.Fatalf("interfaces still plugged after their requests went: %v", left)
	}
}

// TestReplugWhenVFChanges: changing vf-num moves the port to the new
// representor, recreating the interface.
func TestReplugWhenVFChanges(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "p", vfs[0], ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "p"); err != nil {
		t.Fatal(err)
	}
	e.nbctl(t, "set", "Logical_Switch_Port", "p", `options:"vif-plug:representor:vf-num"=1`)
	err := e.watch.WaitUntil(e.ctx, waitLong, "p READY on the new representor", func(l map[string]*ovndpuv1.PortStatus) bool {
		return l["p"] != nil && l["p"].Phase == ready && l["p"].Representor == vfs[1].Representor
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitPlugged(t, vfs[1].Representor)
}

// waitPlugged waits until exactly want are the interfaces the agent
// plugged (unplugs wait out the agent's unplug delay).
func (e *env) waitPlugged(t *testing.T, want ...string) {
	t.Helper()
	slices.Sort(want)
	err := testbed.Eventually(e.ctx, waitLong, "plugged interfaces", func() error {
		got := e.pluggedByAgent(t)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return fmt.Errorf("plugged %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestBadRequestsErrorAlone: malformed options and unknown PFs turn only
// their own port ERROR with a reason naming what to fix; a good port next
// to them is plugged and READY.
func TestBadRequestsErrorAlone(t *testing.T) {
	e := setup(t, "--representor-wait=500ms")
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	cases := map[string]struct{ option, want string }{
		"bad-mac":    {"vif-plug:representor:pf-mac=0c:42:zz:00:00:01", `vif-plug:representor:pf-mac="0c:42:zz:00:00:01" is not a MAC address`},
		"neg-vf":     {"vif-plug:representor:vf-num=-3", `vif-plug:representor:vf-num="-3" is not a decimal VF index`},
		"word-vf":    {"vif-plug:representor:vf-num=seven", `vif-plug:representor:vf-num="seven"`},
		"bad-mtu":    {"vif-plug-mtu-request=70000", `vif-plug-mtu-request="70000" is not an MTU`},
		"unknown-pf": {"vif-plug:representor:pf-mac=0c:42:a1:00:00:01", "no representor for pf-mac 0c:42:a1:00:00:01 vf-num 0 on this DPU"},
		"unknown-vf": {"vif-plug:representor:vf-num=7", "vf-num 7"},
	}
	var args []string
	for lsp, c := range cases {
		args = append(args, e.bed.RequestArgs("net1", lsp, vf, "", c.option)...)
	}
	e.nbctl(t, args...)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "good", vf, ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "good"); err != nil {
		t.Fatal(err)
	}
	for lsp, c := range cases {
		if err := e.watch.WaitPhase(e.ctx, waitLong, errPhase, lsp); err != nil {
			t.Fatal(err)
		}
		if reason := e.watch.Latest(lsp).Reason; !strings.Contains(reason, c.want) {
			t.Errorf("%s: reason %q, want it to contain %q", lsp, reason, c.want)
		}
	}
	if reason := e.watch.Latest("unknown-pf").Reason; !strings.Contains(reason, vf.PFMAC.String()) {
		t.Errorf("unknown-pf reason %q does not list the known PF %s", reason, vf.PFMAC)
	}
	if got := e.pluggedByAgent(t); len(got) != 1 || got[0] != vf.Representor {
		t.Fatalf("plugged = %v, want only the good port's %s", got, vf.Representor)
	}
}

// TestLateRepresentorIsPlugged: a port whose representor is not in the
// devlink table yet turns ERROR after the grace period, and is plugged as
// soon as the representor appears in the dump.
func TestLateRepresentorIsPlugged(t *testing.T) {
	e := setup(t, "--representor-wait=200ms")
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{4}, testbed.VFOptions{Unpublished: true}))(t)
	// The PF is known (another VF of it is published), VF 4 is not yet.
	testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "late", vfs[0], ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, errPhase, "late"); err != nil {
		t.Fatal(err)
	}
	if got := e.pluggedByAgent(t); len(got) != 0 {
		t.Fatalf("plugged %v before the representor exists", got)
	}
	testbed.Must(0, e.bed.PublishRepresentor(vfs[0]))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "late"); err != nil {
		t.Fatal(err)
	}
}

// TestForeignInterfaceLeftAlone: an interface named like a representor that
// someone else added is reported, never touched.
func TestForeignInterfaceLeftAlone(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	e.vsctl(t, "add-port", "br-int", vf.Representor, "--", "set", "Interface", vf.Representor, "external_ids:owner=someone")
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "p", vf, ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, errPhase, "p"); err != nil {
		t.Fatal(err)
	}
	if reason := e.watch.Latest("p").Reason; !strings.Contains(reason, "ovn-dpu did not plug") || !strings.Contains(reason, vf.Representor) {
		t.Errorf("reason %q should name the representor and say ovn-dpu did not plug it", reason)
	}
	if got := e.vsctl(t, "get", "Interface", vf.Representor, "external_ids"); got != "{owner=someone}" {
		t.Errorf("foreign interface external_ids changed to %s", got)
	}
	if n := e.agentWrites(t); n != 0 {
		t.Errorf("agent wrote %d transactions; a foreign interface must be left alone", n)
	}
}

// TestLateWatcherGetsSnapshot: a watcher connecting after ports exist gets
// every port, then the marker with the count, then later changes.
func TestLateWatcherGetsSnapshot(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1, 2}, testbed.VFOptions{}))(t)
	for i, vf := range vfs[:2] {
		testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", fmt.Sprintf("early%d", i), vf, ""))(t)
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "early0", "early1"); err != nil {
		t.Fatal(err)
	}
	late := testbed.Must(e.agent.Watch(e.ctx, ""))(t)
	defer late.Close()
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "after", vfs[2], ""))(t)
	if err := late.WaitPhase(e.ctx, waitLong, ready, "after"); err != nil {
		t.Fatal(err)
	}
	evs := late.Events()
	if len(evs) < 3 || evs[0].GetPort() == nil || evs[1].GetPort() == nil || evs[2].GetSnapshotComplete() == nil {
		t.Fatalf("late watcher's first events = %v, want 2 ports then the snapshot marker", evs[:min(3, len(evs))])
	}
	if n := evs[2].GetSnapshotComplete().Ports; n != 2 {
		t.Errorf("snapshot marker counts %d ports, want 2", n)
	}
	for _, ev := range evs[:2] {
		if ev.GetPort().Phase != ready {
			t.Errorf("snapshot port %s is %v, want READY", ev.GetPort().LogicalPort, ev.GetPort().Phase)
		}
	}
	for _, ev := range evs[3:] {
		if p := ev.GetPort(); p == nil || p.LogicalPort != "after" {
			t.Errorf("after the marker only changes of 'after' were expected, got %v", ev)
		}
	}
}

// TestNewcomerDoesNotTakeARepresentor: a second LSP asking for a VF that a
// working port holds (a typo, a stale request) gets ERROR; the working
// port keeps its interface and stays READY, whatever the names' order.
func TestNewcomerDoesNotTakeARepresentor(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "zz-working", vf, ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "zz-working"); err != nil {
		t.Fatal(err)
	}
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "aa-newcomer", vf, ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, errPhase, "aa-newcomer"); err != nil {
		t.Fatal(err)
	}
	if reason := e.watch.Latest("aa-newcomer").Reason; !strings.Contains(reason, "belongs to logical port zz-working") {
		t.Errorf("newcomer reason %q should name the port holding the representor", reason)
	}
	if st := e.watch.Latest("zz-working"); st.Phase != ready {
		t.Errorf("working port is %v (%s), want READY", st.Phase, st.Reason)
	}
	if got := strings.Trim(e.vsctl(t, "get", "Interface", vf.Representor, "external_ids:iface-id"), `"`); got != "zz-working" {
		t.Errorf("representor iface-id = %s, want zz-working", got)
	}
}
