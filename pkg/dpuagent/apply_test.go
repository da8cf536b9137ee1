package dpuagent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/database"
	"github.com/ovn-kubernetes/libovsdb/database/inmemory"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
	"github.com/ovn-kubernetes/libovsdb/server"
	dto "github.com/prometheus/client_model/go"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// These tests write through a real libovsdb client to libovsdb's in-memory
// OVSDB server with the Open_vSwitch schema: no root, no ovsdb-server.

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// recordingDB is the server's database, recording every transaction it is
// asked to run, so tests can read the comments the agent sends.
type recordingDB struct {
	database.Database
	mu   sync.Mutex
	txns [][]ovsdb.Operation
	// stall, while open, holds every transaction: a wedged server.
	stall chan struct{}
}

func (db *recordingDB) NewTransaction(name string) database.Transaction {
	return recordingTxn{Transaction: db.Database.NewTransaction(name), db: db}
}

type recordingTxn struct {
	database.Transaction
	db *recordingDB
}

// Transact records operations and runs them. libovsdb's in-memory
// transaction answers "not supported" to a comment, which ovsdb-server
// records in its log and otherwise ignores: so does this.
func (t recordingTxn) Transact(operations ...ovsdb.Operation) ([]*ovsdb.OperationResult, database.Update) {
	t.db.mu.Lock()
	t.db.txns = append(t.db.txns, slices.Clone(operations))
	stall := t.db.stall
	t.db.mu.Unlock()
	if stall != nil {
		<-stall
	}
	var rest []ovsdb.Operation
	for _, op := range operations {
		if op.Op != ovsdb.OperationComment {
			rest = append(rest, op)
		}
	}
	inner, update := t.Transaction.Transact(rest...)
	results := make([]*ovsdb.OperationResult, 0, len(inner)+1)
	j := 0
	for _, op := range operations {
		switch {
		case op.Op == ovsdb.OperationComment:
			results = append(results, &ovsdb.OperationResult{})
		case j < len(inner):
			results = append(results, inner[j])
			j++
		}
	}
	return append(results, inner[j:]...), update // and any error past the last operation
}

// comments returns the comment of each recorded transaction after the
// first skip ("" for one without).
func (db *recordingDB) comments(skip int) []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	var out []string
	for _, txn := range db.txns[skip:] {
		c := ""
		for _, op := range txn {
			if op.Op == ovsdb.OperationComment && op.Comment != nil {
				c = *op.Comment
			}
		}
		out = append(out, c)
	}
	return out
}

func (db *recordingDB) count() int {
	db.mu.Lock()
	defer db.mu.Unlock()
	return len(db.txns)
}

// testOVS is an in-memory Open_vSwitch database with bridge br-int and a
// client monitoring all of it.
type testOVS struct {
	t   *testing.T
	ctx context.Context
	s   *conn.Session
	c   client.Client
	db  *recordingDB
}

func newTestOVS(t *testing.T) *testOVS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	clientModel, err := vswitchd.FullDatabaseModel()
	if err != nil {
		t.Fatal(err)
	}
	schema := vswitchd.Schema()
	dbModel, errs := model.NewDatabaseModel(schema, clientModel)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	discard := logr.Discard()
	db := &recordingDB{Database: inmemory.NewDatabase(map[string]model.ClientDBModel{schema.Name: clientModel}, &discard)}
	srv, err := server.NewOvsdbServer(db, &discard, dbModel)
	if err != nil {
		t.Fatal(err)
	}
	// A short directory: unix socket paths are limited to ~100 bytes.
	dir, err := os.MkdirTemp("", "ovsdb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "db.sock")
	served := make(chan error, 1)
	go func() { served <- srv.Serve("unix", sock) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil {
			t.Errorf("in-memory OVSDB server: %v", err)
		}
	})
	for !srv.Ready() {
		select {
		case err := <-served:
			t.Fatalf("in-memory OVSDB server: %v", err)
		case <-ctx.Done():
			t.Fatal("in-memory OVSDB server not ready")
		case <-time.After(time.Millisecond):
		}
	}
	s, err := conn.Open(ctx, clientModel, conn.Config{Remotes: []string{"unix:" + sock}}, func(ctx context.Context, c client.Client) error {
		_, err := c.MonitorAll(ctx)
		return err
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := s.Client()
	o := &testOVS{t: t, ctx: ctx, s: s, c: c, db: db}
	// What ovn-controller creates: the root row and the bridge.
	o.write(&vswitchd.OpenvSwitch{UUID: "ovs", Bridges: []string{"br"}}, &vswitchd.Bridge{UUID: "br", Name: testBridge})
	o.waitFor("bridge "+testBridge, func(st ovsState) bool { return st.bridge != nil })
	return o
}

// write creates rows in one transaction; UUIDs are named-uuids.
func (o *testOVS) write(rows ...model.Model) {
	o.t.Helper()
	var txn []ovsdb.Operation
	for _, m := range rows {
		op, err := o.c.Create(m)
		if err != nil {
			o.t.Fatal(err)
		}
		txn = append(txn, op...)
	}
	if _, err := ops.Transact(o.ctx, o.c, txn); err != nil {
		o.t.Fatal(err)
	}
}

// plugByHand adds an interface to br-int the way ovs-vsctl add-port would,
// with external_ids and mtu_request.
func (o *testOVS) plugByHand(name string, ids map[string]string, mtu *int) {
	o.t.Helper()
	add, err := ops.AddPort(o.c, o.state().bridge, ops.PortSpec{Name: name, ExternalIDs: ids, MTURequest: mtu}, "hand")
	if err != nil {
		o.t.Fatal(err)
	}
	if _, err := ops.Transact(o.ctx, o.c, add); err != nil {
		o.t.Fatal(err)
	}
	o.waitFor("interface "+name, func(st ovsState) bool { return st.ifaces[name] != nil && st.inBridge(st.ifaces[name]) })
}

// state reads the client's cache as the agent does.
func (o *testOVS) state() ovsState {
	o.t.Helper()
	a := &Agent{ovsSession: o.s, cfg: Config{Bridge: testBridge}}
	st, err := a.readOVS(o.ctx)
	if err != nil {
		o.t.Fatal(err)
	}
	return st
}

// waitFor waits until the cache (which a transaction's reply can beat)
// satisfies cond.
func (o *testOVS) waitFor(what string, cond func(ovsState) bool) ovsState {
	o.t.Helper()
	for {
		if st := o.state(); cond(st) {
			return st
		}
		select {
		case <-o.ctx.Done():
			o.t.Fatalf("OVS cache never showed %s", what)
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// plan plans reqs against the current cache with representors rep<N>.
func (o *testOVS) plan(reqs map[string]request, vfs ...int) plan {
	o.t.Helper()
	tc := planCase{reqs: reqs, ovs: o.state(), reps: reps(vfs...)}
	return planPass(tc.input())
}

func (o *testOVS) write1(changes []change) []written {
	o.t.Helper()
	return writeChanges(o.ctx, o.c, quiet, defaultTxnTimeout, changes)
}

func noErrors(t *testing.T, res []written) {
	t.Helper()
	for i, r := range res {
		if r.buildErr != nil || r.txnErr != nil {
			t.Fatalf("change %d: %+v", i, r)
		}
	}
}

func TestApplyPlug(t *testing.T) {
	o := newTestOVS(t)
	before := o.db.count()
	reqs := requests(binding{lsp: "lsp1", attachment: "a1", vf: 1, mtu: 9000}, binding{lsp: "lsp2", vf: 2})
	p := o.plan(reqs, 1, 2)
	noErrors(t, o.write1(p.changes))

	st := o.waitFor("both interfaces", func(st ovsState) bool { return st.ifaces["rep1"] != nil && st.ifaces["rep2"] != nil })
	for name, want := range map[string]struct {
		ids map[string]string
		mtu *int
	}{
		"rep1": {vifplug.InterfaceIDs("lsp1", "a1"), mtu(9000)},
		"rep2": {vifplug.InterfaceIDs("lsp2", ""), nil},
	} {
		iface := st.ifaces[name]
		if !st.inBridge(iface) {
			t.Errorf("%s is not a port of %s", name, testBridge)
		}
		if port := st.portOf[iface.UUID]; port.Name != name || len(port.Interfaces) != 1 {
			t.Errorf("port of %s: %+v, want one named after its only interface", name, port)
		}
		if !maps.Equal(iface.ExternalIDs, want.ids) || !equalInt(iface.MTURequest, want.mtu) {
			t.Errorf("%s: external_ids %v mtu_request %s, want %v and %s", name, iface.ExternalIDs, ptrString(iface.MTURequest),
				want.ids, ptrString(want.mtu))
		}
	}
	if got, want := o.db.comments(before), []string{"ovn-dpu-agent: plug rep1, plug rep2"}; !slices.Equal(got, want) {
		t.Errorf("transactions %q, want exactly %q", got, want)
	}

	// What was written is what is wanted: a new pass plans nothing.
	if p := o.plan(reqs, 1, 2); len(p.changes) != 0 {
		t.Errorf("a second pass plans %v", p.changes)
	}
}

func TestApplyUpdateTouchesOnlyOurKeys(t *testing.T) {
	o := newTestOVS(t)
	ids := vifplug.InterfaceIDs("lsp1", "a1")
	ids[vifplug.IfaceOVNInstalled] = "true" // ovn-controller's
	ids["other-owner"] = "kept"
	o.plugByHand("rep1", ids, mtu(1400))

	// The attachment id goes away and the MTU changes.
	p := o.plan(requests(binding{lsp: "lsp1", vf: 1, mtu: 9000}), 1)
	if len(p.changes) != 1 || p.changes[0].kind != changeUpdate {
		t.Fatalf("planned %v, want one update", p.changes)
	}
	noErrors(t, o.write1(p.changes))
	want := vifplug.InterfaceIDs("lsp1", "")
	want[vifplug.IfaceOVNInstalled], want["other-owner"] = "true", "kept"
	o.waitFor("the update", func(st ovsState) bool {
		i := st.ifaces["rep1"]
		return maps.Equal(i.ExternalIDs, want) && equalInt(i.MTURequest, mtu(9000))
	})

	// And comes back, the MTU request is dropped.
	p = o.plan(requests(binding{lsp: "lsp1", attachment: "a2", vf: 1}), 1)
	noErrors(t, o.write1(p.changes))
	want[vifplug.IfaceAttachment] = "a2"
	st := o.waitFor("the second update", func(st ovsState) bool {
		i := st.ifaces["rep1"]
		return maps.Equal(i.ExternalIDs, want) && i.MTURequest == nil
	})
	if p := o.plan(requests(binding{lsp: "lsp1", attachment: "a2", vf: 1}), 1); len(p.changes) != 0 {
		t.Errorf("after the updates a pass plans %v", p.changes)
	}

	// An update that changes a value replaces it (delete, then insert).
	iface := st.ifaces["rep1"]
	noErrors(t, o.write1([]change{{kind: changeUpdate, lsp: "lsp1", iface: "rep1", observed: iface,
		setIDs: map[string]string{vifplug.IfaceAttachment: "a3"}}}))
	want[vifplug.IfaceAttachment] = "a3"
	o.waitFor("a changed value", func(st ovsState) bool { return maps.Equal(st.ifaces["rep1"].ExternalIDs, want) })
}

func TestApplyReplugAndUnplug(t *testing.T) {
	o := newTestOVS(t)
	old := vifplug.InterfaceIDs("old-lsp", "a1")
	old[vifplug.IfaceOVNInstalled] = "true"
	o.plugByHand("rep1", old, nil)
	o.plugByHand("rep2", vifplug.InterfaceIDs("gone", ""), nil)
	oldPort := o.state().portOf[o.state().ifaces["rep1"].UUID].UUID

	// VF 1 now belongs to new-lsp; gone's binding was deleted.
	in := planCase{reqs: requests(binding{lsp: "new-lsp", attachment: "a2", vf: 1}), ovs: o.state(), reps: reps(1, 2),
		mem: memory{gone: goneAt(t0, "gone")}}.input()
	p := planPass(in)
	if whats := []string{p.changes[0].what(), p.changes[1].what()}; len(p.changes) != 2 ||
		!slices.Equal(whats, []string{"re-plug rep1", "unplug rep2"}) {
		t.Fatalf("planned %v", p.changes)
	}
	before := o.db.count()
	noErrors(t, o.write1(p.changes))
	st := o.waitFor("re-plug and unplug", func(st ovsState) bool {
		i := st.ifaces["rep1"]
		return i != nil && i.ExternalIDs[vifplug.IfaceID] == "new-lsp" && st.ifaces["rep2"] == nil
	})
	if i := st.ifaces["rep1"]; !maps.Equal(i.ExternalIDs, vifplug.InterfaceIDs("new-lsp", "a2")) || !st.inBridge(i) {
		t.Errorf("re-plugged rep1: %v, want only new-lsp's ids (no %s of the old binding)", i.ExternalIDs, vifplug.IfaceOVNInstalled)
	}
	if st.portOf[st.ifaces["rep1"].UUID].UUID == oldPort {
		t.Error("rep1 kept its port: a re-plug must recreate it")
	}
	var ports []*vswitchd.Port
	if err := o.c.List(o.ctx, &ports); err != nil || len(ports) != 1 {
		t.Errorf("ports after the unplug: %d (%v); the unplugged one must be gone, not just detached", len(ports), err)
	}
	if got := o.db.comments(before); !slices.Equal(got, []string{"ovn-dpu-agent: re-plug rep1, unplug rep2"}) {
		t.Errorf("transactions %q", got)
	}
}

// TestApplyFallsBackPortByPort: when the batch fails, each change is
// tried alone and the good ones land; Agent.apply reports the bad one for
// a retry and counts it.
func TestApplyFallsBackPortByPort(t *testing.T) {
	o := newTestOVS(t)
	o.plugByHand("rep0", map[string]string{"owner": "someone"}, nil) // plugged behind our back
	o.plugByHand("rep9", vifplug.InterfaceIDs("lsp9", ""), nil)
	st := o.state()
	br := bridgeRef{uuid: st.bridge.UUID, name: st.bridge.Name}
	changes := []change{
		{kind: changePlug, lsp: "lsp1", iface: "rep1", bridge: br, spec: portSpec(binding{lsp: "lsp1", vf: 1}.request(), "rep1")},
		// The cache was stale: rep0 exists, so its name is taken.
		{kind: changePlug, lsp: "lsp0", iface: "rep0", bridge: br, spec: portSpec(binding{lsp: "lsp0", vf: 0}.request(), "rep0")},
		{kind: changeUpdate, lsp: "lsp9", iface: "rep9", observed: st.ifaces["rep9"], setMTU: true, mtu: mtu(1400)},
	}
	a, err := New(Config{SBRemotes: []string{"unix:/nonexistent"}}, portstatus.NewStore(), WithLogger(quiet),
		WithRetryBackoff(time.Second, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	a.ovsSession = o.s
	before := o.db.count()
	out := a.apply(o.ctx, changes)

	if len(out.failed) != 1 || out.failed["lsp0"] == nil || !strings.Contains(out.failed["lsp0"].Error(), "OVS transaction failed, retrying in 1s") {
		t.Errorf("failed = %v, want only lsp0, to be retried", out.failed)
	}
	if len(out.rejected) != 0 || len(out.unplugged) != 0 {
		t.Errorf("outcome %+v", out)
	}
	// Only the plug that committed is news for lsp1's milestones; the
	// failed plug and the update are not.
	if c, ok := out.plugged["lsp1"]; len(out.plugged) != 1 || !ok || c.attachment != "" || c.at.IsZero() {
		t.Errorf("plugged = %v, want only lsp1, with its commit time", out.plugged)
	}
	var m dto.Metric
	if err := a.metrics.txnErrors.Write(&m); err != nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("transaction errors counted: %v (%v), want 1", m.GetCounter().GetValue(), err)
	}
	if a.retry.wakeAt.IsZero() {
		t.Error("no retry scheduled for the failed change")
	}
	want := []string{"ovn-dpu-agent: plug rep1, plug rep0, update rep9",
		"ovn-dpu-agent: plug rep1", "ovn-dpu-agent: plug rep0", "ovn-dpu-agent: update rep9"}
	if got := o.db.comments(before); !slices.Equal(got, want) {
		t.Errorf("transactions:\n got  %q\n want %q", got, want)
	}
	o.waitFor("the good changes", func(st ovsState) bool {
		return st.ifaces["rep1"] != nil && equalInt(st.ifaces["rep9"].MTURequest, mtu(1400))
	})
	if ids := o.state().ifaces["rep0"].ExternalIDs; !maps.Equal(ids, map[string]string{"owner": "someone"}) {
		t.Errorf("rep0's interface was changed: %v", ids)
	}

	// A later pass with everything fine clears the backoff.
	a.apply(o.ctx, nil)
	out = a.apply(o.ctx, []change{{kind: changeUpdate, lsp: "lsp9", iface: "rep9", observed: o.state().ifaces["rep9"],
		setMTU: true, mtu: nil}})
	if len(out.failed) != 0 || a.retry.backoff != 0 {
		t.Errorf("after a good transaction: failed %v, backoff %v", out.failed, a.retry.backoff)
	}
}

// TestApplyOneFailingChangeIsNotRetriedAlone: a batch of one that fails is
// not sent twice.
func TestApplyOneFailingChangeIsNotRetriedAlone(t *testing.T) {
	o := newTestOVS(t)
	o.plugByHand("rep0", nil, nil)
	st := o.state()
	before := o.db.count()
	res := o.write1([]change{{kind: changePlug, lsp: "lsp0", iface: "rep0", bridge: bridgeRef{uuid: st.bridge.UUID, name: testBridge},
		spec: ops.PortSpec{Name: "rep0"}}})
	if res[0].txnErr == nil || !strings.Contains(res[0].txnErr.Error(), "constraint violation") {
		t.Errorf("result %+v, want the server's constraint violation", res[0])
	}
	if n := o.db.count() - before; n != 1 {
		t.Errorf("%d transactions, want 1", n)
	}
}

// TestApplyWedgedServerIsNotAskedPortByPort: a batch whose outcome is
// unknown (the server did not answer in time) is not retried change by
// change — N more timeouts would stall the loop N times as long — but
// failed as a whole, for the next pass to retry.
func TestApplyWedgedServerIsNotAskedPortByPort(t *testing.T) {
	o := newTestOVS(t)
	st := o.state()
	br := bridgeRef{uuid: st.bridge.UUID, name: st.bridge.Name}
	var changes []change
	for i := range 3 {
		lsp, rep := fmt.Sprint("lsp", i), fmt.Sprint("rep", i)
		changes = append(changes, change{kind: changePlug, lsp: lsp, iface: rep, bridge: br,
			spec: portSpec(binding{lsp: lsp, vf: i}.request(), rep)})
	}
	o.db.mu.Lock()
	o.db.stall = make(chan struct{})
	o.db.mu.Unlock()
	defer close(o.db.stall)
	before := o.db.count()
	start := time.Now()
	const timeout = 500 * time.Millisecond
	res := writeChanges(o.ctx, o.c, quiet, timeout, changes)
	// One timeout, not one more per change (4 x 500 ms).
	if took := time.Since(start); took > timeout*5/2 {
		t.Errorf("writeChanges took %v against a wedged server, want one timeout of %v", took, timeout)
	}
	for i, r := range res {
		if r.txnErr == nil {
			t.Errorf("change %d: no error from a wedged server", i)
		}
	}
	if n := o.db.count() - before; n < 1 {
		t.Errorf("%d transactions reached the wedged server, want the batch", n)
	}
}

func TestApplyNothingWritesNothing(t *testing.T) {
	o := newTestOVS(t)
	before := o.db.count()
	if res := o.write1(nil); len(res) != 0 {
		t.Errorf("results %v", res)
	}
	// A change that turns out to need no operation is refused, not sent
	// as an empty commented transaction.
	o.plugByHand("rep1", vifplug.InterfaceIDs("lsp1", ""), nil)
	n := o.db.count()
	res := o.write1([]change{{kind: changeUpdate, lsp: "lsp1", iface: "rep1", observed: o.state().ifaces["rep1"]}})
	if res[0].buildErr == nil || o.db.count() != n {
		t.Errorf("empty update: %+v, %d transactions", res[0], o.db.count()-n)
	}
	if before+1 != n {
		t.Errorf("%d transactions before plugging by hand", n-before)
	}
}

// TestApplyReopen: the port of a representor whose device vanished is
// removed with next_cfg incremented in one transaction, and plugged again
// only once cur_cfg (ovs-vswitchd) has caught up.
func TestApplyReopen(t *testing.T) {
	o := newTestOVS(t)
	ids := vifplug.InterfaceIDs("lsp1", "a1")
	ids[vifplug.IfaceOVNInstalled] = "true"
	o.plugByHand("rep1", ids, nil)
	// What ovs-vswitchd writes of a device that vanished under it.
	ofport := 7
	iface := &vswitchd.Interface{UUID: o.state().ifaces["rep1"].UUID, Ofport: &ofport, Ifindex: ifindex(0)}
	update, err := o.c.Where(iface).Update(iface, &iface.Ofport, &iface.Ifindex)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Transact(o.ctx, o.c, update); err != nil {
		t.Fatal(err)
	}
	o.waitFor("ifindex 0", func(st ovsState) bool { i := st.ifaces["rep1"]; return i.Ifindex != nil && *i.Ifindex == 0 })

	reqs := requests(binding{lsp: "lsp1", attachment: "a1", vf: 1})
	before := o.db.count()
	tc := planCase{reqs: reqs, ovs: o.state(), reps: reps(1)}
	p := planPass(tc.input())
	if len(p.changes) != 1 || p.changes[0].kind != changeReopen {
		t.Fatalf("planned %v, want the re-open", p.changes)
	}
	noErrors(t, o.write1(p.changes))
	o.waitFor("the port removed, next_cfg 1", func(st ovsState) bool {
		return st.ifaces["rep1"] == nil && st.root != nil && st.root.NextCfg == 1
	})
	if got, want := o.db.comments(before), []string{"ovn-dpu-agent: unplug vanished rep1"}; !slices.Equal(got, want) {
		t.Errorf("transactions %q, want exactly %q", got, want)
	}
	tc.ovs, tc.mem = o.state(), p.mem
	if p := planPass(tc.input()); len(p.changes) != 0 {
		t.Fatalf("planned %v before ovs-vswitchd applied the removal", p.changes)
	}
	// ovs-vswitchd catches up.
	root := &vswitchd.OpenvSwitch{UUID: o.state().root.UUID, CurCfg: 1}
	update, err = o.c.Where(root).Update(root, &root.CurCfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.Transact(o.ctx, o.c, update); err != nil {
		t.Fatal(err)
	}
	tc.ovs = o.waitFor("cur_cfg 1", func(st ovsState) bool { return st.root.CurCfg == 1 })
	p = planPass(tc.input())
	if len(p.changes) != 1 || p.changes[0].kind != changePlug {
		t.Fatalf("planned %v once ovs-vswitchd applied the removal, want the plug", p.changes)
	}
	noErrors(t, o.write1(p.changes))
	o.waitFor("rep1 plugged again", func(st ovsState) bool {
		i := st.ifaces["rep1"]
		return i != nil && st.inBridge(i) && maps.Equal(i.ExternalIDs, vifplug.InterfaceIDs("lsp1", "a1"))
	})
}
