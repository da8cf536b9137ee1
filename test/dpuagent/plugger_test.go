package dpuagent_test

import (
	"strings"
	"testing"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// addLikeOVNController writes an interface the way ovn-controller's
// built-in representor plug provider (ovn-vif) does.
func addLikeOVNController(t *testing.T, e *env, iface, lsp string) {
	t.Helper()
	e.vsctl(t, "add-port", "br-int", iface, "--", "set", "Interface", iface,
		"external_ids:ovn-plugged=representor", "external_ids:iface-id="+lsp)
}

// TestCompetingPluggerIsReported: with --plugger agent, a representor that
// ovn-controller already plugged is an ERROR naming ovn-controller and the
// flag to use; the agent leaves it alone.
func TestCompetingPluggerIsReported(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	addLikeOVNController(t, e, vf.Representor, "p")
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "p", vf, ""))(t)
	if err := e.watch.WaitPhase(e.ctx, waitLong, errPhase, "p"); err != nil {
		t.Fatal(err)
	}
	reason := e.watch.Latest("p").Reason
	for _, want := range []string{"ovn-controller", "--plugger ovn-controller", vf.Representor} {
		if !strings.Contains(reason, want) {
			t.Errorf("reason %q should mention %q", reason, want)
		}
	}
	if n := e.agentWrites(t); n != 0 {
		t.Errorf("agent wrote %d OVS transactions; it must not fight ovn-controller", n)
	}
}

// TestObserveOnlyWithOVNControllerPlugger: with --plugger ovn-controller the
// agent writes nothing: it reports PENDING until ovn-controller's provider
// plugs the representor, then READY once installed.
func TestObserveOnlyWithOVNControllerPlugger(t *testing.T) {
	e := setup(t, "--plugger=ovn-controller")
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "p", vf, ""))(t)
	err := e.watch.WaitUntil(e.ctx, waitLong, "p PENDING on ovn-controller", func(l map[string]*ovndpuv1.PortStatus) bool {
		return l["p"] != nil && strings.Contains(l["p"].Reason, "waiting for ovn-controller to plug")
	})
	if err != nil {
		t.Fatal(err)
	}
	addLikeOVNController(t, e, vf.Representor, "p")
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "p"); err != nil {
		t.Fatal(err)
	}
	if n := e.agentWrites(t); n != 0 {
		t.Errorf("observe-only agent wrote %d OVS transactions", n)
	}

	// The port is UNPLUGGED only once ovn-controller removed its interface.
	e.nbctl(t, "lsp-del", "p")
	e.nbctl(t, "--wait=sb", "sync")
	if err := e.watch.WaitUntil(e.ctx, waitLong, "agent processed the deletion", func(l map[string]*ovndpuv1.PortStatus) bool {
		return l["p"].Phase != ready
	}); err != nil {
		t.Fatal(err)
	}
	if st := e.watch.Latest("p"); st.Phase == unplugged {
		t.Fatalf("reported UNPLUGGED while ovn-controller's interface %s is still in the bridge", vf.Representor)
	}
	e.vsctl(t, "del-port", vf.Representor)
	if err := e.watch.WaitPhase(e.ctx, waitLong, unplugged, "p"); err != nil {
		t.Fatal(err)
	}
}
