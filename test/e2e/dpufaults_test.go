package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// DPU-side surprises: what the DPU does to plugged ports behind both
// agents' backs — a representor netdev that vanishes, an operator's
// del-port, ovn-controller or ovs-vswitchd down or hung, a DPU reboot —
// each through the real CNI path, with pods that ping each other.

const (
	phaseReady   = ovndpuv1.Phase_PHASE_READY
	phasePlugged = ovndpuv1.Phase_PHASE_PLUGGED
	phaseError   = ovndpuv1.Phase_PHASE_ERROR
	// faultWait bounds a convergence: a loaded 2-core CI machine, with
	// ovn-controller's flow installation after each (re)plug.
	faultWait = 60 * time.Second
)

// faultPod is one attached pod.
type faultPod struct {
	name, ns, ip string
	vf           *testbed.VF
	conf         map[string]any
	lsp          string
}

// watchDPU streams the DPU agent's statuses the way the host agent sees
// them: over mTLS, from the host namespace, with the host's certificate
// (setupWith's pki/host-agent), scoped to the host's ports.
func (e *env) watchDPU(t *testing.T) *testbed.Watcher {
	t.Helper()
	return e.watchDPUAt(t, e.bed.DPUAddr.String()+":50151")
}

// attachPod creates pod name on vf, ADDs it with cnitool and host-local
// IPAM, and waits for its port READY on w.
func (e *env) attachPod(t *testing.T, w *testbed.Watcher, name string, vf *testbed.VF) *faultPod {
	t.Helper()
	p := &faultPod{name: name, ns: testbed.Must(e.bed.AddPod(e.ctx, name))(t), vf: vf, conf: e.netconf(vf.PCI, e.hostLocal(), nil)}
	res, took := e.add(t, p.ns, p.conf)
	if len(res.IPs) != 1 {
		t.Fatalf("ADD pod %s: %+v, want one IP", name, res)
	}
	p.ip = res.IPs[0].Address.IP.String()
	p.lsp = e.lspOfVF(t, vf)
	if p.lsp == "" {
		t.Fatalf("no LSP for pod %s's VF %s after its ADD", name, vf.PCI)
	}
	testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, p.lsp))(t)
	t.Logf("pod %s attached (%s, %s, representor %s) in %v", name, p.lsp, p.ip, vf.Representor, took.Round(time.Millisecond))
	return p
}

// lspOfVF names the LSP of the attachment on vf ("" when none).
func (e *env) lspOfVF(t *testing.T, vf *testbed.VF) string {
	t.Helper()
	return testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=name", "find", "Logical_Switch_Port",
		`external_ids:ovn-dpu\:device-id="`+vf.PCI+`"`))(t)
}

// pingAll checks that each pod reaches the next one, both ways round.
func (e *env) pingAll(t *testing.T, pods ...*faultPod) {
	t.Helper()
	for i, p := range pods {
		peer := pods[(i+1)%len(pods)]
		if err := e.bed.Ping(e.ctx, p.ns, peer.ip); err != nil {
			t.Fatalf("pod %s -> pod %s: %v", p.name, peer.name, err)
		}
	}
}

// ifaceRow reads columns of rep's OVS interface; "" when there is none.
func (e *env) ifaceRow(t *testing.T, rep string, columns ...string) string {
	t.Helper()
	return testbed.Must(e.bed.VSCtl(e.ctx, "--bare", "--columns="+strings.Join(columns, ","), "find", "Interface", "name="+rep))(t)
}

// ifaceOpen reports whether rep is an interface ovs-vswitchd has open
// (an ofport, no error) and ovn-controller installed.
func (e *env) ifaceOpen(t *testing.T, rep string) error {
	t.Helper()
	out := e.ifaceRow(t, rep, "ofport", "error", "external_ids")
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || lines[0] == "" || strings.HasPrefix(lines[0], "-") || lines[1] != "" ||
		!strings.Contains(" "+lines[2]+" ", " ovn-installed=true ") {
		return fmt.Errorf("interface %s: %q", rep, out)
	}
	return nil
}

// stayedReady checks that, from event index since on, every event for p's
// port said READY.
func stayedReady(t *testing.T, w *testbed.Watcher, since int, p *faultPod) {
	t.Helper()
	for _, ev := range w.Events()[since:] {
		if st := ev.GetPort(); st != nil && st.LogicalPort == p.lsp && st.Phase != phaseReady {
			t.Errorf("pod %s's port %s was disturbed: %v %q", p.name, p.lsp, st.Phase, st.Reason)
		}
	}
}

// undisturbed checks that p's port stayed READY since event since on the
// same interface row (iface, its _uuid then).
func (e *env) undisturbed(t *testing.T, w *testbed.Watcher, since int, p *faultPod, iface string) {
	t.Helper()
	stayedReady(t, w, since, p)
	if now := e.ifaceRow(t, p.vf.Representor, "_uuid"); now != iface {
		t.Errorf("pod %s's interface was re-created: %s, was %s", p.name, now, iface)
	}
}

// detachAll DELs every pod and checks that nothing is left (nothingLeftOf).
func (e *env) detachAll(t *testing.T, pods ...*faultPod) {
	t.Helper()
	for _, p := range pods {
		e.del(t, p.ns, p.conf)
	}
	e.nothingLeftOf(t, pods...)
}

// nothingLeftOf checks that no attachment left anything: no LSP of this
// host, no interface ovn-dpu plugged, the pods' VFs home, no lease.
func (e *env) nothingLeftOf(t *testing.T, pods ...*faultPod) {
	t.Helper()
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left: %v", got)
	}
	err := testbed.Eventually(e.ctx, faultWait, "the DPU agent unplugs everything", func() error {
		if left := e.agentPlugged(t); left != "" {
			return fmt.Errorf("interfaces with ovn-dpu-plugged left: %s", left)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	for _, p := range pods {
		e.vfHome(t, p.vf)
	}
	if left := e.leases(t); len(left) != 0 {
		t.Errorf("host-local leases left: %v", left)
	}
}

// agentPlugged lists the interfaces carrying ovn-dpu-plugged.
func (e *env) agentPlugged(t *testing.T) string {
	t.Helper()
	return strings.Join(strings.Fields(testbed.Must(e.bed.VSCtl(e.ctx, "--bare", "--columns=name", "find", "Interface",
		"external_ids:ovn-dpu-plugged=representor"))(t)), " ")
}

// dpuLogged waits until the DPU agent's log has a line with every part.
func (e *env) dpuLogged(t *testing.T, parts ...string) {
	t.Helper()
	err := testbed.Eventually(e.ctx, 10*time.Second, fmt.Sprintf("the DPU agent logs %q", parts), func() error {
		data, err := os.ReadFile(e.dpu.Log)
		if err != nil {
			return err
		}
	lines:
		for _, line := range strings.Split(string(data), "\n") {
			for _, part := range parts {
				if !strings.Contains(line, part) {
					continue lines
				}
			}
			return nil
		}
		return errors.New("not yet")
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, tailFile(e.dpu.Log, 30))
	}
}

// restoreOnce makes a restore safe to call both in the test and its cleanup.
func restoreOnce(restore func() error) func() error {
	var o sync.Once
	var err error
	return func() error {
		o.Do(func() { err = restore() })
		return err
	}
}

// TestDPUSurpriseRepresentorDeleted: the representor netdev of a plugged
// port vanishes from the DPU (its driver deleted it; the VF stays in the
// pod). The port turns ERROR naming the representor and OVS's word for
// it; traffic stops. When the netdev is back, the agent's re-plug (the
// userspace datapath never reopens a vanished device by itself) makes
// the port READY again without any host action, and the pods ping. The
// other pod's port stays READY and its interface untouched throughout.
func TestDPUSurpriseRepresentorDeleted(t *testing.T) {
	e := setup(t)
	w := e.watchDPU(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	a, b := e.attachPod(t, w, "a", vfs[0]), e.attachPod(t, w, "b", vfs[1])
	e.pingAll(t, a, b)
	aIface := e.ifaceRow(t, a.vf.Representor, "_uuid")
	since := len(w.Events())

	rep := b.vf.Representor
	restore := restoreOnce(testbed.Must(e.bed.HideRepresentor(e.ctx, b.vf))(t))
	t.Cleanup(func() { _ = restore() })
	hidden := time.Now()
	var reason string
	gone := "representor " + rep + " is gone from the DPU"
	err := w.WaitUntil(e.ctx, faultWait, "ERROR naming the representor", func(latest map[string]*ovndpuv1.PortStatus) bool {
		st := latest[b.lsp]
		if st != nil {
			reason = st.Reason
		}
		return st != nil && st.Phase == phaseError && strings.Contains(st.Reason, gone) &&
			strings.Contains(st.Reason, "could not open network device "+rep+" (No such device)")
	})
	if err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, tailFile(e.dpu.Log, 30))
	}
	t.Logf("representor hidden -> ERROR in %v: %q", time.Since(hidden).Round(time.Millisecond), reason)
	// PENDING naming it first, for --representor-wait (1s here).
	sawPending := false
	for _, ev := range w.Events()[since:] {
		if st := ev.GetPort(); st != nil && st.LogicalPort == b.lsp && st.Phase == ovndpuv1.Phase_PHASE_PENDING &&
			strings.Contains(st.Reason, "waiting for the representor: "+gone) {
			sawPending = true
		}
	}
	if !sawPending {
		t.Errorf("no PENDING %q before the ERROR: %v", "waiting for the representor: "+gone, w.Events()[since:])
	}
	e.dpuLogged(t, "representor's network device vanished while plugged", "interface="+rep)
	if _, err := e.bed.InNetns(e.ctx, a.ns, "ping", "-c", "1", "-W", "1", b.ip); err == nil {
		t.Errorf("pod a still reaches pod b with b's representor gone")
	}

	back := time.Now()
	testbed.Must(0, restore())(t)
	if err := w.WaitPhase(e.ctx, faultWait, phaseReady, b.lsp); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, tailFile(e.dpu.Log, 30))
	}
	t.Logf("representor back -> READY in %v", time.Since(back).Round(time.Millisecond))
	e.pingAll(t, a, b)
	if err := e.ifaceOpen(t, rep); err != nil {
		t.Error(err)
	}

	// Again, the devlink port leaving first, as when the host re-creates
	// its VFs: the port is kept while its representor is unknown, its
	// stale port removed once the device goes, and plugged again when the
	// representor is back in devlink.
	testbed.Must(0, e.bed.UnpublishRepresentors(b.vf))(t)
	err = w.WaitUntil(e.ctx, faultWait, "no representor", func(latest map[string]*ovndpuv1.PortStatus) bool {
		st := latest[b.lsp]
		return st != nil && strings.Contains(st.Reason, "no representor for pf-mac "+b.vf.PFMAC.String())
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ifaceOpen(t, rep); err != nil {
		t.Errorf("the port was not kept while its representor left devlink: %v", err)
	}
	iface := e.ifaceRow(t, rep, "_uuid")
	restore = restoreOnce(testbed.Must(e.bed.HideRepresentor(e.ctx, b.vf))(t))
	t.Cleanup(func() { _ = restore() })
	err = testbed.Eventually(e.ctx, faultWait, "the stale port removed", func() error {
		if now := e.ifaceRow(t, rep, "_uuid"); now == iface {
			return fmt.Errorf("interface %s still %s", rep, now)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	testbed.Must(0, restore())(t)
	back = time.Now()
	testbed.Must(0, e.bed.PublishRepresentor(b.vf))(t)
	if err := w.WaitPhase(e.ctx, faultWait, phaseReady, b.lsp); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, tailFile(e.dpu.Log, 30))
	}
	t.Logf("representor back in devlink -> READY in %v", time.Since(back).Round(time.Millisecond))
	e.pingAll(t, a, b)

	e.undisturbed(t, w, since, a, aIface)
	e.detachAll(t, a, b)
}

// TestDPUSurpriseOperatorDeletesPort: an operator's `ovs-vsctl del-port
// br-int <rep>` of a plugged port. The agent plugs it again by itself and
// says so in its log; the port is READY again and the pods ping.
func TestDPUSurpriseOperatorDeletesPort(t *testing.T) {
	e := setup(t)
	w := e.watchDPU(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	a, b := e.attachPod(t, w, "a", vfs[0]), e.attachPod(t, w, "b", vfs[1])
	e.pingAll(t, a, b)
	rep := b.vf.Representor
	aIface, bIface := e.ifaceRow(t, a.vf.Representor, "_uuid"), e.ifaceRow(t, rep, "_uuid")
	since := len(w.Events())

	testbed.Must(e.bed.VSCtl(e.ctx, "del-port", "br-int", rep))(t)
	deleted := time.Now()
	err := testbed.Eventually(e.ctx, faultWait, "the agent restores "+rep, func() error {
		if now := e.ifaceRow(t, rep, "_uuid"); now == "" || now == bIface {
			return fmt.Errorf("interface %s: %q", rep, now)
		}
		return e.ifaceOpen(t, rep)
	})
	if err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, tailFile(e.dpu.Log, 30))
	}
	testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, b.lsp))(t)
	t.Logf("del-port -> restored and READY in %v", time.Since(deleted).Round(time.Millisecond))
	e.dpuLogged(t, `msg="plugged representor was removed from the bridge by someone else; restoring it"`,
		"logical_port="+b.lsp, "interface="+rep)
	e.dpuLogged(t, `msg="OVS change applied"`, "change="+`"plug `+rep+`"`)
	restoring := false
	for _, ev := range w.Events()[since:] {
		if st := ev.GetPort(); st != nil && st.LogicalPort == b.lsp &&
			strings.Contains(st.Reason, "plugging representor "+rep+" into br-int again (its port was removed from the bridge by someone else)") {
			restoring = true
		}
	}
	if !restoring {
		t.Errorf("no status said the port was being restored: %v", w.Events()[since:])
	}
	e.pingAll(t, a, b)
	e.undisturbed(t, w, since, a, aIface)
	e.detachAll(t, a, b)
}

// TestDPUSurpriseControllerDown: with ovn-controller dead (kill -9), an
// ADD cannot become READY: it fails at its timeoutSeconds with code 101
// and the DPU's last reason, which names ovn-controller — not a generic
// timeout — and leaves nothing behind. Once ovn-controller is back an ADD
// on the same VF succeeds and the pods ping.
func TestDPUSurpriseControllerDown(t *testing.T) {
	e := setup(t)
	w := e.watchDPU(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	a := e.attachPod(t, w, "a", vfs[0])
	testbed.Must(0, e.bed.KillDaemon(testbed.Controller))(t)

	bNS := testbed.Must(e.bed.AddPod(e.ctx, "b"))(t)
	conf := e.netconf(vfs[1].PCI, e.hostLocal(), map[string]any{"timeoutSeconds": 8})
	start := time.Now()
	r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-b", bNS, "eth0", conf)
	took := time.Since(start)
	code, msg := r.CNIError()
	t.Logf("ADD with ovn-controller down failed after %v: code %d %q", took.Round(time.Millisecond), code, msg)
	want := "waiting for ovn-controller to claim the binding on chassis " + e.bed.Chassis
	if r.Err == nil || code != 101 || !strings.Contains(msg, "not ready within timeoutSeconds=8") || !strings.Contains(msg, want) {
		t.Fatalf("ADD: err %v, code %d, msg %q; want code 101 with the DPU's last reason %q", r.Err, code, msg, want)
	}
	if took < 8*time.Second || took > 20*time.Second {
		t.Errorf("ADD failed after %v; timeoutSeconds is 8", took)
	}
	// Nothing leaked from the failed ADD.
	if got := e.lsps(t); len(got) != 1 || got[0] != a.lsp {
		t.Errorf("LSPs after the failed ADD: %v, want only pod a's %s", got, a.lsp)
	}
	e.vfHome(t, vfs[1])
	err := testbed.Eventually(e.ctx, faultWait, "the failed ADD's representor unplugged", func() error {
		if left := e.ifaceRow(t, vfs[1].Representor, "name"); left != "" {
			return fmt.Errorf("interface %s still in OVS", left)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	if got := e.leases(t); len(got) != 1 || got[0] != a.ip {
		t.Errorf("host-local leases after the failed ADD: %v, want pod a's %s only", got, a.ip)
	}

	restarted := time.Now()
	testbed.Must(0, e.bed.StartController(e.ctx))(t)
	b := &faultPod{name: "b", ns: bNS, vf: vfs[1], conf: e.netconf(vfs[1].PCI, e.hostLocal(), nil)}
	res, addTook := e.add(t, b.ns, b.conf)
	b.ip, b.lsp = res.IPs[0].Address.IP.String(), e.lspOfVF(t, vfs[1])
	t.Logf("ovn-controller restarted; ADD on the same VF succeeded in %v (%v after the restart began)",
		addTook.Round(time.Millisecond), time.Since(restarted).Round(time.Millisecond))
	testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, a.lsp, b.lsp))(t)
	e.pingAll(t, a, b)
	e.detachAll(t, a, b)
}

// TestDPUSurpriseVswitchdPaused: ovs-vswitchd hangs (SIGSTOP) while ADDs
// are in flight. The port waits PLUGGED naming ovs-vswitchd; an ADD whose
// timeout outlasts the hang completes once it resumes, one that does not
// fails with code 101 naming ovs-vswitchd and leaves nothing. Afterwards
// everything converges READY, the pods ping and DEL works.
func TestDPUSurpriseVswitchdPaused(t *testing.T) {
	e := setup(t)
	w := e.watchDPU(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1, 2}, testbed.VFOptions{}))(t)
	a := e.attachPod(t, w, "a", vfs[0])
	waitingFor := func(vf *testbed.VF) func(map[string]*ovndpuv1.PortStatus) bool {
		reason := "waiting for ovs-vswitchd to open interface " + vf.Representor
		return func(latest map[string]*ovndpuv1.PortStatus) bool {
			for _, st := range latest {
				if st.Representor == vf.Representor && st.Phase == phasePlugged && strings.Contains(st.Reason, reason) {
					return true
				}
			}
			return false
		}
	}

	// An ADD that outlasts the hang.
	resume := restoreOnce(testbed.Must(e.bed.PauseDaemon(testbed.Vswitchd))(t))
	t.Cleanup(func() { _ = resume() })
	b := &faultPod{name: "b", ns: testbed.Must(e.bed.AddPod(e.ctx, "b"))(t), vf: vfs[1], conf: e.netconf(vfs[1].PCI, e.hostLocal(), nil)}
	added := make(chan testbed.CNIResult, 1)
	start := time.Now()
	go func() { added <- e.bed.ExecPlugin(e.ctx, "ADD", "ctr-b", b.ns, "eth0", b.conf) }()
	if err := w.WaitUntil(e.ctx, faultWait, "pod b's port waits for ovs-vswitchd", waitingFor(b.vf)); err != nil {
		t.Fatal(err)
	}
	testbed.Must(0, resume())(t)
	resumed := time.Now()
	r := <-added
	if r.Err != nil {
		t.Fatalf("ADD across the hang: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	t.Logf("pod b's port waited for ovs-vswitchd %v into its ADD; the ADD was done %v after ovs-vswitchd resumed",
		resumed.Sub(start).Round(time.Millisecond), time.Since(resumed).Round(time.Millisecond))
	var res current.Result
	testbed.Must(0, json.Unmarshal([]byte(r.Stdout), &res))(t)
	b.ip, b.lsp = res.IPs[0].Address.IP.String(), e.lspOfVF(t, b.vf)
	testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, a.lsp, b.lsp))(t)
	e.pingAll(t, a, b)

	// An ADD that does not: it fails naming ovs-vswitchd.
	resume = restoreOnce(testbed.Must(e.bed.PauseDaemon(testbed.Vswitchd))(t))
	t.Cleanup(func() { _ = resume() })
	cNS := testbed.Must(e.bed.AddPod(e.ctx, "c"))(t)
	start = time.Now()
	r = e.bed.ExecPlugin(e.ctx, "ADD", "ctr-c", cNS, "eth0", e.netconf(vfs[2].PCI, e.hostLocal(), map[string]any{"timeoutSeconds": 8}))
	took := time.Since(start)
	code, msg := r.CNIError()
	t.Logf("ADD during the hang failed after %v: code %d %q", took.Round(time.Millisecond), code, msg)
	want := "waiting for ovs-vswitchd to open interface " + vfs[2].Representor
	if r.Err == nil || code != 101 || !strings.Contains(msg, want) {
		t.Fatalf("ADD during the hang: err %v, code %d, msg %q; want code 101 naming ovs-vswitchd (%q)", r.Err, code, msg, want)
	}
	if took > 20*time.Second {
		t.Errorf("ADD took %v to fail; timeoutSeconds is 8", took)
	}
	testbed.Must(0, resume())(t)
	resumed = time.Now()
	if got := e.lsps(t); len(got) != 2 {
		t.Errorf("LSPs after the failed ADD: %v, want pods a's and b's", got)
	}
	e.vfHome(t, vfs[2])
	err := testbed.Eventually(e.ctx, faultWait, "the failed ADD's representor unplugged", func() error {
		if left := e.ifaceRow(t, vfs[2].Representor, "name"); left != "" {
			return fmt.Errorf("interface %s still in OVS", left)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
	for _, p := range []*faultPod{a, b} {
		if err := testbed.Eventually(e.ctx, faultWait, p.vf.Representor+" open again", func() error { return e.ifaceOpen(t, p.vf.Representor) }); err != nil {
			t.Error(err)
		}
	}
	testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, a.lsp, b.lsp))(t)
	t.Logf("after the second hang: converged %v after ovs-vswitchd resumed", time.Since(resumed).Round(time.Millisecond))
	e.pingAll(t, a, b)
	if r := e.bed.ExecPlugin(e.ctx, "DEL", "ctr-b", b.ns, "eth0", b.conf); r.Err != nil {
		t.Fatalf("DEL pod b: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	e.detachAll(t, a)
	e.nothingLeftOf(t, b)
}

// TestDPUReboot: the DPU reboots under two attached, pinging pods:
// ovs-vswitchd, ovn-controller and the DPU agent die, the ports vanish
// from the OVS database, the representors from devlink and from the
// DPU. Brought back in boot order — representors, ovs-vswitchd,
// ovn-controller, the agent — the ports become READY again by themselves
// (no host action), the pods ping, CHECK passes, and DEL leaves nothing.
func TestDPUReboot(t *testing.T) {
	e := setup(t)
	w := e.watchDPU(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	a, b := e.attachPod(t, w, "a", vfs[0]), e.attachPod(t, w, "b", vfs[1])
	e.pingAll(t, a, b)

	down := time.Now()
	testbed.Must(0, e.bed.KillDaemon(testbed.Vswitchd))(t)
	testbed.Must(0, e.bed.KillDaemon(testbed.Controller))(t)
	e.dpu.Kill()
	var restores []func() error
	for _, vf := range vfs {
		testbed.Must(e.bed.VSCtl(e.ctx, "--no-wait", "del-port", "br-int", vf.Representor))(t)
		restore := restoreOnce(testbed.Must(e.bed.HideRepresentor(e.ctx, vf))(t))
		t.Cleanup(func() { _ = restore() })
		restores = append(restores, restore)
	}
	testbed.Must(0, e.bed.UnpublishRepresentors())(t)
	if left := e.agentPlugged(t); left != "" {
		t.Fatalf("interfaces left in the rebooted DPU's OVS database: %s", left)
	}

	boot := time.Now()
	for i, vf := range vfs {
		testbed.Must(0, restores[i]())(t)
		testbed.Must(0, e.bed.PublishRepresentor(vf))(t)
	}
	testbed.Must(0, e.bed.StartVswitchd(e.ctx))(t)
	testbed.Must(0, e.bed.StartController(e.ctx))(t)
	testbed.Must(0, e.dpu.Restart(e.ctx))(t)
	agentUp := time.Now()
	w = e.watchDPU(t)
	if err := w.WaitPhase(e.ctx, faultWait, phaseReady, a.lsp, b.lsp); err != nil {
		t.Fatalf("%v\nagent log:\n%s", err, tailFile(e.dpu.Log, 30))
	}
	t.Logf("DPU down for %v; booted in %v; both ports READY %v after the agent started",
		boot.Sub(down).Round(time.Millisecond), agentUp.Sub(boot).Round(time.Millisecond), time.Since(agentUp).Round(time.Millisecond))
	e.pingAll(t, a, b)
	for _, p := range []*faultPod{a, b} {
		if err := e.ifaceOpen(t, p.vf.Representor); err != nil {
			t.Error(err)
		}
		if r := e.bed.CNITool(e.ctx, "check", p.ns, p.conf); r.Err != nil {
			t.Errorf("CHECK pod %s after the reboot: %v: %s %s", p.name, r.Err, r.Stdout, r.Stderr)
		}
	}
	e.detachAll(t, a, b)
}
