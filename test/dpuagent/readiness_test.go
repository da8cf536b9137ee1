package dpuagent_test

import (
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// Log lines of the DPU readiness checks (the agent logs text).
const (
	hwOffloadWarn     = `level=WARN msg="DPU readiness: OVS hardware offload is off`
	hwOffloadResolved = `level=INFO msg="DPU readiness: problem resolved" check=hw-offload`
)

// TestReadinessHWOffloadWarnedOnce: the bed's OVS has no hw-offload, so the
// agent warns at start — once, however many passes a port's plug takes —
// and says once that it is resolved when hw-offload is set. The bed's
// netdev br-int is what its Open_vSwitch row asks for: no bridge warning.
// The port status lines name the pod the LSP names.
func TestReadinessHWOffloadWarnedOnce(t *testing.T) {
	e := setup(t)
	e.waitLogCount(t, hwOffloadWarn, 1)

	// A port going READY runs several reconcile passes.
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	args := append(e.bed.RequestArgs("net1", "p", vf, ""), "--", "set", "Logical_Switch_Port", "p",
		`external_ids:"ovn-dpu:pod-namespace"=ns1`, `external_ids:"ovn-dpu:pod-name"=web-0`)
	e.nbctl(t, args...)
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "p"); err != nil {
		t.Fatal(err)
	}
	log := testbed.Tail(e.agent.Log, 1<<20)
	if n := strings.Count(log, hwOffloadWarn); n != 1 {
		t.Errorf("hw-offload warned %d times, want once", n)
	}
	if !strings.Contains(log, `msg="port status" logical_port=p`) || !strings.Contains(log, "pod=ns1/web-0 phase=PHASE_READY") {
		t.Errorf("no READY port status line naming pod ns1/web-0:\n%s", testbed.Tail(e.agent.Log, 30))
	}
	for _, check := range []string{"check=bridge", "check=ovn-controller-vif-plug"} {
		if strings.Contains(log, check) {
			t.Errorf("the bed is set up right, but the agent reports %s:\n%s", check, testbed.Tail(e.agent.Log, 30))
		}
	}

	e.vsctl(t, "set", "Open_vSwitch", ".", "other_config:hw-offload=true")
	e.waitLogCount(t, hwOffloadResolved, 1)
	// Another change, and the problem back: one more warning, no repeats.
	e.vsctl(t, "remove", "Open_vSwitch", ".", "other_config", "hw-offload")
	e.waitLogCount(t, hwOffloadWarn, 2)
	if n := e.logCount(t, hwOffloadWarn); n != 2 {
		t.Errorf("hw-offload warned %d times, want twice", n)
	}
	if n := e.logCount(t, hwOffloadResolved); n != 1 {
		t.Errorf("resolution logged %d times, want once", n)
	}
	for line := range strings.Lines(testbed.Tail(e.agent.Log, 1<<20)) {
		if strings.Contains(line, "DPU readiness") {
			t.Log(strings.TrimSpace(line))
		}
	}
}
