package dpuagent_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// plugMany requests n ports in one NB transaction and waits until all are
// READY, returning their names and how long that took.
func plugMany(t *testing.T, e *env, n int) ([]string, time.Duration) {
	t.Helper()
	indices := make([]int, n)
	for i := range indices {
		indices[i] = i
	}
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, indices, testbed.VFOptions{}))(t)
	lsps := make([]string, n)
	var args []string
	for i, vf := range vfs {
		lsps[i] = fmt.Sprintf("port%03d", i)
		args = append(args, e.bed.RequestArgs("net1", lsps[i], vf, "")...)
	}
	start := time.Now()
	e.nbctl(t, args...)
	if err := e.watch.WaitPhase(e.ctx, 3*time.Minute, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	return lsps, time.Since(start)
}

// TestManyPortsInOneTransaction: 200 LSPs created in one NB transaction
// are all plugged and READY; deleted in one transaction, all unplugged
// (OVN 23.03's own provider left such a batch plugged for ~10 minutes).
func TestManyPortsInOneTransaction(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the 200-port run")
	}
	e := setup(t)
	const n = 200
	lsps, plugTime := plugMany(t, e, n)
	writes := e.agentWrites(t)
	t.Logf("%d ports: NB transaction to all READY in %v, %d agent OVS transactions", n, plugTime, writes)

	start := time.Now()
	var del []string
	for _, lsp := range lsps {
		del = append(del, "--", "lsp-del", lsp)
	}
	e.nbctl(t, del...)
	if err := e.watch.WaitPhase(e.ctx, 3*time.Minute, unplugged, lsps...); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d ports: NB delete transaction to all UNPLUGGED in %v, %d agent OVS transactions", n, time.Since(start), e.agentWrites(t)-writes)
	if left := e.pluggedByAgent(t); len(left) != 0 {
		t.Fatalf("%d interfaces still plugged after their LSPs were deleted", len(left))
	}
}

// TestRestartWritesNothing: an agent killed under load, and one stopped
// with SIGTERM, leave every port plugged; the agent started again finds
// everything right and writes nothing to OVS.
func TestRestartWritesNothing(t *testing.T) {
	e := setup(t)
	lsps, _ := plugMany(t, e, 20)
	writes := e.agentWrites(t)

	e.agent.Kill()
	assertRestartQuiet(t, e, lsps, writes)
	if err := e.agent.Stop(); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if got := len(e.pluggedByAgent(t)); got != len(lsps) {
		t.Fatalf("after SIGTERM %d of %d interfaces remain plugged", got, len(lsps))
	}
	assertRestartQuiet(t, e, lsps, writes)
}

func assertRestartQuiet(t *testing.T, e *env, lsps []string, writes int) {
	t.Helper()
	e.agent = testbed.Must(e.bed.StartDPUAgent(e.ctx))(t)
	w := testbed.Must(e.agent.Watch(e.ctx, ""))(t)
	defer w.Close()
	// The snapshot comes after the agent's first full reconcile.
	if err := w.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	if got := e.agentWrites(t); got != writes {
		t.Fatalf("restarted agent wrote %d OVS transactions, want 0", got-writes)
	}
}

// TestChassisReRegistrationWritesNothing: `ovn-sbctl chassis-del` clears
// requested_chassis everywhere until ovn-controller registers again; the
// agent must neither unplug nor replug anything meanwhile.
func TestChassisReRegistrationWritesNothing(t *testing.T) {
	e := setup(t)
	lsps, _ := plugMany(t, e, 10)
	writes := e.agentWrites(t)
	oldUUID := testbed.Must(e.bed.SBCtl(e.ctx, "--bare", "--columns=_uuid", "find", "Chassis", "name="+e.bed.Chassis))(t)

	testbed.Must(e.bed.SBCtl(e.ctx, "chassis-del", e.bed.Chassis))(t)
	err := e.watch.WaitUntil(e.ctx, waitLong, "chassis re-registered", func(map[string]*ovndpuv1.PortStatus) bool {
		uuid, err := e.bed.SBCtl(e.ctx, "--bare", "--columns=_uuid", "find", "Chassis", "name="+e.bed.Chassis)
		return err == nil && uuid != "" && uuid != oldUUID
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	if got := e.agentWrites(t); got != writes {
		t.Fatalf("agent wrote %d OVS transactions across chassis-del and re-registration, want 0", got-writes)
	}
	if got := len(e.pluggedByAgent(t)); got != len(lsps) {
		t.Fatalf("%d of %d interfaces plugged after re-registration", got, len(lsps))
	}
}

// TestSBReconnectsWriteNothing: SB connections dropped again and again
// (a restart, a raft leader change) neither unplug nor replug anything,
// and the agent still plugs new ports and unplugs deleted ones afterwards.
func TestSBReconnectsWriteNothing(t *testing.T) {
	e := setup(t)
	lsps, _ := plugMany(t, e, 10)
	writes := e.agentWrites(t)
	const reconnected = `msg="successfully connected" database=OVN_Southbound`
	connects := e.logCount(t, reconnected)
	for i := range 5 {
		testbed.Must(e.bed.AppCtl(e.ctx, "sb-ovsdb", "ovsdb-server/reconnect"))(t)
		e.waitLogCount(t, reconnected, connects+i+1)
		if err := e.watch.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, lsps...); err != nil {
		t.Fatal(err)
	}
	if got := e.agentWrites(t); got != writes {
		t.Fatalf("agent wrote %d OVS transactions across SB reconnects, want 0", got-writes)
	}
	if got := len(e.pluggedByAgent(t)); got != len(lsps) {
		t.Fatalf("%d of %d interfaces plugged after SB reconnects", got, len(lsps))
	}
	vf := testbed.Must(e.bed.AddVF(e.ctx, 1, 0))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "after-reconnect", vf, ""))(t)
	e.nbctl(t, "lsp-del", lsps[0])
	if err := e.watch.WaitPhase(e.ctx, waitLong, ready, "after-reconnect"); err != nil {
		t.Fatal(err)
	}
	if err := e.watch.WaitPhase(e.ctx, waitLong, unplugged, lsps[0]); err != nil {
		t.Fatal(err)
	}
}

// logCount counts lines of the agent's log containing s.
func (e *env) logCount(t *testing.T, s string) int {
	t.Helper()
	data, err := os.ReadFile(e.agent.Log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), s)
}

// waitLogCount waits until the agent's log has n lines containing s.
func (e *env) waitLogCount(t *testing.T, s string, n int) {
	t.Helper()
	err := testbed.Eventually(e.ctx, waitLong, fmt.Sprintf("agent log lines with %q", s), func() error {
		if got := e.logCount(t, s); got < n {
			return fmt.Errorf("%d of %d", got, n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMultiChassisBindingAfterReRegistration: a binding that names this
// chassis only as an additional one (requested-chassis=other,<us>) reaches
// the agent only through the monitor condition on the chassis UUID; after
// chassis-del and re-registration (a new UUID) a new such binding must
// still reach it.
func TestMultiChassisBindingAfterReRegistration(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	multi := "requested-chassis=elsewhere," + e.bed.Chassis
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "m0", vfs[0], "", multi))(t)
	e.waitPlugged(t, vfs[0].Representor)
	oldUUID := testbed.Must(e.bed.SBCtl(e.ctx, "--bare", "--columns=_uuid", "find", "Chassis", "name="+e.bed.Chassis))(t)
	testbed.Must(e.bed.SBCtl(e.ctx, "chassis-del", e.bed.Chassis))(t)
	testbed.Must(0, testbed.Eventually(e.ctx, waitLong, "chassis re-registered", func() error {
		uuid, err := e.bed.SBCtl(e.ctx, "--bare", "--columns=_uuid", "find", "Chassis", "name="+e.bed.Chassis)
		if err == nil && (uuid == "" || uuid == oldUUID) {
			err = fmt.Errorf("chassis UUID %q", uuid)
		}
		return err
	}))(t)
	testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "m1", vfs[1], "", multi))(t)
	e.waitPlugged(t, vfs[0].Representor, vfs[1].Representor)
}
