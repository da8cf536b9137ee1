package dpuagent

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

var lspMAC1 = net.HardwareAddr{0x0e, 0, 0, 0, 0, 0x01}

// fnTable is a devlink table as --set-function-mac reads it: representors
// with handles, and each port's function hw_addr.
type fnTable struct {
	fakeReps
	ports map[string]devlink.Port // by handle
}

func fnHandle(netdev string) string { return "pci/0000:03:00.0/" + strings.TrimPrefix(netdev, "rep") }

func (f fnTable) LookupFunction(pfMAC net.HardwareAddr, fn devlink.Function) (devlink.Representor, error) {
	rep, err := f.fakeReps.LookupFunction(pfMAC, fn)
	if rep.Netdev != "" {
		rep.Handle = fnHandle(rep.Netdev)
	}
	return rep, err
}

func (f fnTable) Port(handle string) (devlink.Port, bool) {
	p, ok := f.ports[handle]
	return p, ok
}

// newFnTable has rep<N> for each VF with function hw_addr hwaddr.
func newFnTable(hwaddr net.HardwareAddr, vfs ...int) fnTable {
	f := fnTable{fakeReps: reps(vfs...), ports: map[string]devlink.Port{}}
	for vf, netdev := range f.vfs {
		f.ports[fnHandle(netdev)] = devlink.Port{Device: "pci/0000:03:00.0", Index: uint32(vf), Netdev: netdev,
			Flavour: devlink.PCIVF, VFNum: uint16(vf), HWAddr: hwaddr}
	}
	return f
}

// withMAC is a binding's request whose Port_Binding mac column is macs.
func withMAC(b binding, macs ...string) request {
	r := b.request()
	r.mac = lspMAC(macs)
	return r
}

func fnPlan(tc planCase, tbl fnTable, on bool) plan {
	in := tc.input()
	in.reps, in.functions, in.cfg.setFunctionMAC = tbl, tbl, on
	return planPass(in)
}

func TestLSPMAC(t *testing.T) {
	for _, c := range []struct {
		entries []string
		want    string
	}{
		{nil, ""},
		{[]string{"dynamic"}, ""},
		{[]string{"unknown"}, ""},
		{[]string{"router"}, ""},
		{[]string{"0e:00:00:00:00:01 10.0.0.5"}, "0e:00:00:00:00:01"},
		{[]string{"0E:00:00:00:00:01"}, "0e:00:00:00:00:01"},
		{[]string{"unknown", "0e:00:00:00:00:02 10.0.0.6 fd00::6"}, "0e:00:00:00:00:02"},
		{[]string{"0e:00:00:00:00:09 10.0.0.9", "0e:00:00:00:00:03"}, "0e:00:00:00:00:03"}, // sorted: the same every time
		{[]string{"00:00:00:00:00:00:00:01"}, ""},                                          // EUI-64: not an Ethernet MAC
	} {
		got := lspMAC(c.entries)
		if (got == nil && c.want != "") || (got != nil && got.String() != c.want) {
			t.Errorf("lspMAC(%q) = %v, want %q", c.entries, got, c.want)
		}
	}
	// parseRequest reads it from the binding's mac column.
	pb := &sbdb.PortBinding{LogicalPort: "lsp1", MAC: []string{"0e:00:00:00:00:01 10.0.0.5"},
		Options: vifplug.Request{Chassis: dpu1.name, PFMAC: testPFMAC, VFNum: 1}.Options()}
	if r := parseRequest(pb, dpu1); !bytes.Equal(r.mac, lspMAC1) {
		t.Errorf("parseRequest: mac %v", r.mac)
	}
}

func TestPlanFunctionMAC(t *testing.T) {
	zero := make(net.HardwareAddr, 6)
	b1 := binding{lsp: "lsp1", attachment: "a1", vf: 1}
	cases := []struct {
		name    string
		on      bool
		req     request
		hwaddr  net.HardwareAddr
		ovs     ovsState
		kind    changeKind // 0: no change
		setMAC  net.HardwareAddr
		status  phase
		handles string
	}{
		{name: "plug sets a zero hw_addr first", on: true, req: withMAC(b1, "0e:00:00:00:00:01 10.0.0.5"), hwaddr: zero,
			kind: changePlug, setMAC: lspMAC1,
			status: phase{pending, "setting the function hw_addr of pci/0000:03:00.0/1 to 0e:00:00:00:00:01, then plugging representor rep1"}},
		{name: "hw_addr already equal: plug only", on: true, req: withMAC(b1, "0e:00:00:00:00:01 10.0.0.5"), hwaddr: lspMAC1,
			kind: changePlug, status: phase{pending, "plugging representor rep1 into"}},
		{name: "no MAC yet: wait", on: true, req: withMAC(b1, "dynamic"), hwaddr: zero,
			status: phase{pending, "waiting for the Port_Binding's mac column"}},
		{name: "re-plug for a new attachment sets it too", on: true, req: withMAC(b1, "0e:00:00:00:00:01"), hwaddr: zero,
			ovs:  world(nil, ourRow("rep1", "lsp1", "a0")),
			kind: changeReplug, setMAC: lspMAC1, status: phase{pending, "setting the function hw_addr"}},
		{name: "plugged with the MAC: nothing", on: true, req: withMAC(b1, "0e:00:00:00:00:01"), hwaddr: lspMAC1,
			ovs: world(nil, ourRow("rep1", "lsp1", "a1")), status: phase{plugged, ""}},
		{name: "option off: never set", req: withMAC(b1, "0e:00:00:00:00:01"), hwaddr: zero,
			kind: changePlug, status: phase{pending, "plugging representor rep1 into"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tc := planCase{reqs: map[string]request{"lsp1": c.req}, ovs: c.ovs}
			p := fnPlan(tc, newFnTable(c.hwaddr, 1), c.on)
			st := p.statuses["lsp1"]
			if st.Phase != c.status.phase || !strings.Contains(st.Reason, c.status.reason) {
				t.Errorf("status %v %q, want %v containing %q", st.Phase, st.Reason, c.status.phase, c.status.reason)
			}
			if c.kind == 0 {
				if len(p.changes) != 0 {
					t.Fatalf("changes %v, want none", p.changes)
				}
				return
			}
			if len(p.changes) != 1 || p.changes[0].kind != c.kind {
				t.Fatalf("changes %v, want one of kind %d", p.changes, c.kind)
			}
			ch := p.changes[0]
			if !bytes.Equal(ch.fnMAC, c.setMAC) {
				t.Errorf("fnMAC %v, want %v", ch.fnMAC, c.setMAC)
			}
			if c.setMAC != nil && ch.fnPort.Handle() != "pci/0000:03:00.0/1" {
				t.Errorf("fnPort %s", ch.fnPort.Handle())
			}
		})
	}
}

// recordingSetter is the devlink source's setter; check runs at each set.
type recordingSetter struct {
	calls []string
	err   error
	check func()
}

func (r *recordingSetter) SetFunctionHWAddr(port devlink.Port, mac net.HardwareAddr) error {
	r.calls = append(r.calls, port.Handle()+" "+mac.String())
	if r.check != nil {
		r.check()
	}
	return r.err
}

func fnAgent(o *testOVS, set *recordingSetter) *Agent {
	return &Agent{ovsSession: o.s, cfg: Config{Bridge: testBridge, SetFunctionMAC: true}, opts: newOptions(nil), log: quiet,
		metrics: newMetrics(), functions: set}
}

func TestApplySetsFunctionMACBeforePlugging(t *testing.T) {
	o := newTestOVS(t)
	set := &recordingSetter{}
	set.check = func() {
		if st := o.state(); st.ifaces["rep1"] != nil {
			t.Error("rep1 was plugged before its function hw_addr was set")
		}
	}
	tbl := newFnTable(make(net.HardwareAddr, 6), 1)
	reqs := map[string]request{"lsp1": withMAC(binding{lsp: "lsp1", attachment: "a1", vf: 1}, "0e:00:00:00:00:01 10.0.0.5")}
	p := fnPlan(planCase{reqs: reqs, ovs: o.state()}, tbl, true)
	out := fnAgent(o, set).apply(context.Background(), p.changes)
	if len(out.rejected) != 0 || len(out.failed) != 0 {
		t.Fatalf("rejected %v failed %v", out.rejected, out.failed)
	}
	if want := "pci/0000:03:00.0/1 0e:00:00:00:00:01"; len(set.calls) != 1 || set.calls[0] != want {
		t.Fatalf("sets %q, want [%q]", set.calls, want)
	}
	o.waitFor("rep1 plugged", func(st ovsState) bool { return st.ifaces["rep1"] != nil && st.inBridge(st.ifaces["rep1"]) })

	// The table now shows the MAC (the source updates it on success): the
	// next pass sets nothing again and writes nothing.
	port := tbl.ports["pci/0000:03:00.0/1"]
	port.HWAddr = lspMAC1
	tbl.ports["pci/0000:03:00.0/1"] = port
	if p := fnPlan(planCase{reqs: reqs, ovs: o.state()}, tbl, true); len(p.changes) != 0 {
		t.Fatalf("a second pass plans %v", p.changes)
	}
}

func TestApplyFunctionMACFailureIsAnError(t *testing.T) {
	o := newTestOVS(t)
	before := o.db.count()
	set := &recordingSetter{err: syscall.EOPNOTSUPP}
	tbl := newFnTable(make(net.HardwareAddr, 6), 1, 2)
	reqs := map[string]request{
		"lsp1": withMAC(binding{lsp: "lsp1", attachment: "a1", vf: 1}, "0e:00:00:00:00:01"),
		"lsp2": withMAC(binding{lsp: "lsp2", attachment: "a2", vf: 2}, "0e:00:00:00:00:02"),
	}
	// lsp2's function has its MAC already: only lsp1's set fails.
	port := tbl.ports["pci/0000:03:00.0/2"]
	port.HWAddr = net.HardwareAddr{0x0e, 0, 0, 0, 0, 2}
	tbl.ports["pci/0000:03:00.0/2"] = port
	p := fnPlan(planCase{reqs: reqs, ovs: o.state()}, tbl, true)
	a := fnAgent(o, set)
	out := a.apply(context.Background(), p.changes)
	err := out.rejected["lsp1"]
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Fatalf("lsp1: %v, want the kernel's error", err)
	}
	for _, want := range []string{"representor rep1", "pci/0000:03:00.0/1", "0e:00:00:00:00:01", "operation not supported"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("reason %q does not name %q", err, want)
		}
	}
	if len(set.calls) != 1 {
		t.Errorf("sets %q, want lsp1's only", set.calls)
	}
	a.store = portstatus.NewStore(portstatus.WithLogger(quiet))
	a.publish(&pass{plan: p, reqs: reqs}, out)
	if st, _ := a.store.Get("lsp1"); st.Phase != errorPhase || !strings.Contains(st.Reason, "0e:00:00:00:00:01") {
		t.Errorf("lsp1 status %v %q, want ERROR naming the MAC", st.Phase, st.Reason)
	}
	st := o.waitFor("rep2 plugged", func(st ovsState) bool { return st.ifaces["rep2"] != nil })
	if st.ifaces["rep1"] != nil {
		t.Error("rep1 was plugged though its MAC could not be set")
	}
	if got := o.db.comments(before); len(got) != 1 || got[0] != "ovn-dpu-agent: plug rep2" {
		t.Errorf("transactions %q, want lsp2's plug only", got)
	}
}

func TestNewRefusesFunctionMACWithoutPlugging(t *testing.T) {
	_, err := New(Config{SBRemotes: []string{"unix:/x"}, Plugger: PluggerOVNController, SetFunctionMAC: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "--set-function-mac needs --plugger agent") {
		t.Fatalf("err = %v", err)
	}
}
