package dpuagent

import (
	"cmp"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// The planner's world in these tests: chassis dpu1 (registered), one host
// PF, bridge br-int, representors rep<N> for VF N.

const (
	testChassisUUID = "chassis-uuid"
	testBridge      = "br-int"
	repWait         = 5 * time.Second
	unplugDelay     = time.Second
)

var (
	testPFMAC, _ = net.ParseMAC("0c:42:a1:00:00:01")
	t0           = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	dpu1         = chassisIdentity{name: "dpu1", hostname: "dpu1.example", uuid: testChassisUUID}
)

func mtu(n int) *int { return &n }

// fakeReps is a devlink table: VF number to representor; VFs in ambiguous
// are claimed twice. sfs maps SF numbers to representors; pf, when set,
// is the PF's own representor.
type fakeReps struct {
	vfs       map[int]string
	ambiguous map[int]bool
	sfs       map[uint32]string
	pf        string
	// controller is every representor's devlink controller.
	controller uint32
}

func (f fakeReps) LookupFunction(pfMAC net.HardwareAddr, fn devlink.Function) (devlink.Representor, error) {
	fail := func(err error) error { return &devlink.LookupError{PFMAC: pfMAC, VFNum: int(fn.Num), Fn: fn, Err: err} }
	if pfMAC.String() != testPFMAC.String() {
		return devlink.Representor{}, fail(devlink.ErrNoPF)
	}
	switch fn.Flavour {
	case devlink.PCISF:
		if netdev, ok := f.sfs[fn.Num]; ok {
			return devlink.Representor{Netdev: netdev, Flavour: devlink.PCISF, SFNum: fn.Num, PFMAC: testPFMAC, Controller: f.controller}, nil
		}
		return devlink.Representor{}, fail(devlink.ErrNoSF)
	case devlink.PCIPF:
		if f.pf != "" {
			return devlink.Representor{Netdev: f.pf, Flavour: devlink.PCIPF, PFMAC: testPFMAC, Controller: f.controller}, nil
		}
		return devlink.Representor{}, fail(devlink.ErrNoPFPort)
	}
	vfNum := int(fn.Num)
	netdev, ok := f.vfs[vfNum]
	if !ok {
		return devlink.Representor{}, fail(devlink.ErrNoVF)
	}
	rep := devlink.Representor{Netdev: netdev, Flavour: devlink.PCIVF, VFNum: uint16(vfNum), PFMAC: testPFMAC, Controller: f.controller}
	if f.ambiguous[vfNum] {
		return rep, fail(devlink.ErrAmbiguous)
	}
	return rep, nil
}

// reps has representor rep<N> for each VF N given.
func reps(vfs ...int) fakeReps {
	f := fakeReps{vfs: map[int]string{}, ambiguous: map[int]bool{}}
	for _, vf := range vfs {
		f.vfs[vf] = fmt.Sprintf("rep%d", vf)
	}
	return f
}

// binding is a Port_Binding as the host agent's LSP becomes in SB:
// requested on dpu1, claimed by it.
type binding struct {
	lsp, attachment string
	vf, mtu         int
	// kind and sf ask for an SF or the PF instead of VF vf.
	kind      vifplug.FunctionKind
	sf        uint32
	unclaimed bool
	options   map[string]string // overrides
	owner     string            // default host1
	// ls is the NB logical switch of its datapath, as read on a DPU
	// serving several hosts.
	ls string
}

func (b binding) request() request {
	opts := vifplug.Request{Chassis: dpu1.name, PFMAC: testPFMAC, Kind: b.kind, VFNum: b.vf, SFNum: b.sf, MTU: b.mtu}.Options()
	maps.Copy(opts, b.options)
	pb := &sbdb.PortBinding{LogicalPort: b.lsp, Options: opts, ExternalIDs: map[string]string{vifplug.ExtOwner: cmp.Or(b.owner, "host1")}}
	if b.attachment != "" {
		pb.ExternalIDs[vifplug.ExtAttachment] = b.attachment
	}
	if !b.unclaimed {
		uuid := dpu1.uuid
		pb.Chassis = &uuid
	}
	r := parseRequest(pb, dpu1)
	r.logicalSwitch = b.ls
	return r
}

func requests(bs ...binding) map[string]request {
	out := map[string]request{}
	for _, b := range bs {
		out[b.lsp] = b.request()
	}
	return out
}

// row is an OVS interface with its own port, in bridge (testBridge when
// empty).
type row struct {
	name   string
	ids    map[string]string
	bridge string
	mtu    *int
	ofport int
	err    string
	// ifindex, when set, is the interface's ifindex column (0: OVS
	// found no network device).
	ifindex *int
}

// ourRow is an interface the agent plugged for lsp; extra are more
// external_ids, key then value.
func ourRow(name, lsp, attachment string, extra ...string) row {
	ids := vifplug.InterfaceIDs(lsp, attachment)
	for i := 0; i+1 < len(extra); i += 2 {
		ids[extra[i]] = extra[i+1]
	}
	return row{name: name, ids: ids, ofport: 7}
}

var installed = []string{vifplug.IfaceOVNInstalled, "true"}

func ifaceUUID(name string) string { return "iface-" + name }
func portUUID(name string) string  { return "port-" + name }
func bridgeUUID(name string) string {
	return "bridge-" + name
}
func brRef(name string) bridgeRef { return bridgeRef{uuid: bridgeUUID(name), name: name} }

// world builds the OVS state: the bridges (br-int unless given) and rows.
func world(bridges []string, rows ...row) ovsState {
	if bridges == nil {
		bridges = []string{testBridge}
	}
	brs := map[string]*vswitchd.Bridge{}
	var bs []*vswitchd.Bridge
	for _, name := range bridges {
		b := &vswitchd.Bridge{UUID: bridgeUUID(name), Name: name}
		brs[name] = b
		bs = append(bs, b)
	}
	var ports []*vswitchd.Port
	var ifaces []*vswitchd.Interface
	for _, r := range rows {
		i := &vswitchd.Interface{UUID: ifaceUUID(r.name), Name: r.name, ExternalIDs: r.ids, MTURequest: r.mtu}
		if r.ofport != 0 {
			i.Ofport = &r.ofport
		}
		if r.err != "" {
			i.Error = &r.err
		}
		i.Ifindex = r.ifindex
		ifaces = append(ifaces, i)
		p := &vswitchd.Port{UUID: portUUID(r.name), Name: r.name, Interfaces: []string{i.UUID}}
		ports = append(ports, p)
		br := r.bridge
		if br == "" {
			br = testBridge
		}
		if b := brs[br]; b != nil {
			b.Ports = append(b.Ports, p.UUID)
		}
	}
	return newOVSState(testBridge, bs, ports, ifaces)
}

func noBridge() []string { return []string{} }

// Expected changes.

func plugOf(lsp, rep, attachment string, mtu *int) change {
	return change{kind: changePlug, lsp: lsp, iface: rep, bridge: brRef(testBridge),
		spec: ops.PortSpec{Name: rep, ExternalIDs: vifplug.InterfaceIDs(lsp, attachment), MTURequest: mtu}}
}

func replugOf(lsp, rep, attachment string, mtu *int, from string) change {
	c := plugOf(lsp, rep, attachment, mtu)
	c.kind, c.oldPort, c.oldBridge = changeReplug, portUUID(rep), brRef(from)
	return c
}

func unplugOf(lsp, rep string) change {
	return change{kind: changeUnplug, lsp: lsp, iface: rep, oldPort: portUUID(rep), oldBridge: brRef(testBridge)}
}

func updateOf(lsp, rep string, set map[string]string, remove []string) change {
	return change{kind: changeUpdate, lsp: lsp, iface: rep, observed: &vswitchd.Interface{UUID: ifaceUUID(rep)},
		setIDs: set, removeIDs: remove}
}

func withMTU(c change, mtu *int) change {
	c.setMTU, c.mtu = true, mtu
	return c
}

// render makes a change comparable and readable in a failure.
func render(c change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s lsp=%s", c.what(), c.lsp)
	if c.kind == changePlug || c.kind == changeReplug {
		fmt.Fprintf(&b, " into=%v spec{name=%s ids=%v mtu=%s}", c.bridge, c.spec.Name, c.spec.ExternalIDs, ptrString(c.spec.MTURequest))
	}
	if c.kind == changeReplug || c.kind == changeUnplug || c.kind == changeReopen {
		fmt.Fprintf(&b, " remove-port=%s from=%v", c.oldPort, c.oldBridge)
	}
	if c.kind == changeReopen {
		fmt.Fprintf(&b, " bump-next-cfg-of=%s", c.root)
	}
	if c.kind == changeUpdate {
		uuid := "<nil>"
		if c.observed != nil {
			uuid = c.observed.UUID
		}
		fmt.Fprintf(&b, " iface-uuid=%s set=%v remove=%v", uuid, c.setIDs, c.removeIDs)
	}
	if c.setMTU {
		fmt.Fprintf(&b, " mtu_request=%s", ptrString(c.mtu))
	}
	return b.String()
}

func ptrString(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

// phase is an expected status: its phase and a substring of its reason
// ("" for none at all).
type phase struct {
	phase  ovndpuv1.Phase
	reason string
}

const (
	pending    = ovndpuv1.Phase_PHASE_PENDING
	plugged    = ovndpuv1.Phase_PHASE_PLUGGED
	ready      = ovndpuv1.Phase_PHASE_READY
	errorPhase = ovndpuv1.Phase_PHASE_ERROR
)

type planCase struct {
	name    string
	plugger Plugger
	chassis *chassisIdentity // default dpu1
	reqs    map[string]request
	ovs     ovsState
	reps    fakeReps
	mem     memory
	now     time.Time // default t0
	// hosts and claims: a DPU serving several hosts.
	hosts  Hosts
	claims map[claimKey]claim

	changes   []change
	statuses  map[string]phase
	wakeAt    time.Time
	competing int
	foreign   int
	notes     []string // substrings of the notes' messages, in order
}

func (tc planCase) input() planInput {
	lookup := tc.reps
	if lookup.vfs == nil {
		lookup = reps()
	}
	in := planInput{chassis: dpu1, requests: tc.reqs, ovs: tc.ovs, reps: lookup, now: tc.now, mem: tc.mem, hosts: tc.hosts, claims: tc.claims,
		cfg: planConfig{plugger: tc.plugger, bridge: testBridge, representorWait: repWait, unplugDelay: unplugDelay}}
	if tc.chassis != nil {
		in.chassis = *tc.chassis
	}
	if in.now.IsZero() {
		in.now = t0
	}
	if in.cfg.plugger == "" {
		in.cfg.plugger = PluggerAgent
	}
	if in.ovs.ifaces == nil {
		in.ovs = world(nil)
	}
	return in
}

func (tc planCase) check(t *testing.T, got plan) {
	t.Helper()
	var gotC, wantC []string
	for _, c := range got.changes {
		gotC = append(gotC, render(c))
		if c.kind == changeUpdate && c.observed != tc.input().ovs.ifaces[c.iface] {
			t.Errorf("update of %s is not planned against the interface row it read", c.iface)
		}
	}
	for _, c := range tc.changes {
		wantC = append(wantC, render(c))
	}
	if !slices.Equal(gotC, wantC) {
		t.Errorf("changes:\n got  %s\n want %s", strings.Join(gotC, "\n      "), strings.Join(wantC, "\n      "))
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got.statuses)), slices.Sorted(maps.Keys(tc.statuses))) {
		t.Errorf("statuses for %v, want %v", slices.Sorted(maps.Keys(got.statuses)), slices.Sorted(maps.Keys(tc.statuses)))
	}
	for lsp, want := range tc.statuses {
		st := got.statuses[lsp]
		if st == nil {
			continue
		}
		if st.LogicalPort != lsp || st.Phase != want.phase || (want.reason == "") != (st.Reason == "") ||
			!strings.Contains(st.Reason, want.reason) {
			t.Errorf("%s: %v %q, want %v with a reason containing %q", lsp, st.Phase, st.Reason, want.phase, want.reason)
		}
	}
	if !got.wakeAt.Equal(tc.wakeAt) {
		t.Errorf("wakeAt = %v, want %v", got.wakeAt, tc.wakeAt)
	}
	if got.competing != tc.competing || got.foreign != tc.foreign {
		t.Errorf("competing, foreign = %d, %d; want %d, %d", got.competing, got.foreign, tc.competing, tc.foreign)
	}
	var msgs []string
	for _, n := range got.notes {
		msgs = append(msgs, n.msg)
	}
	if len(msgs) != len(tc.notes) {
		t.Errorf("notes %q, want %d containing %q", msgs, len(tc.notes), tc.notes)
	} else {
		for i, want := range tc.notes {
			if !strings.Contains(msgs[i], want) {
				t.Errorf("note %d %q, want it to contain %q", i, msgs[i], want)
			}
		}
	}
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, planPass(tc.input()))
		})
	}
}

func TestPlanPlug(t *testing.T) {
	runPlanCases(t, []planCase{{
		name:     "new request is plugged with its ids and MTU",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, mtu: 1400}),
		reps:     reps(0),
		changes:  []change{plugOf("lsp1", "rep0", "a1", mtu(1400))},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0 into br-int"}},
	}, {
		name:     "a binding without attachment id is plugged without one",
		reqs:     requests(binding{lsp: "lsp1", vf: 0}),
		reps:     reps(0),
		changes:  []change{plugOf("lsp1", "rep0", "", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0"}},
	}, {
		name:     "bridge missing: PENDING until ovn-controller creates it",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:      world(noBridge()),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "bridge br-int does not exist yet"}},
	}, {
		name: "plugged, installed and claimed: READY, nothing to write",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, mtu: 1400}),
		ovs: world(nil, func() row {
			r := ourRow("rep0", "lsp1", "a1", installed...)
			r.mtu = mtu(1400)
			return r
		}()),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:     "plugged but not claimed yet: PLUGGED",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, unclaimed: true}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {plugged, "waiting for ovn-controller to claim the binding on chassis dpu1"}},
	}, {
		name:     "plugged and claimed but flows not installed: PLUGGED",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1")),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {plugged, "waiting for ovn-controller to install flows (" + vifplug.IfaceOVNInstalled + ")"}},
	}, {
		name: "interface error: PENDING with OVS's error",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs: world(nil, func() row {
			r := ourRow("rep0", "lsp1", "a1", installed...)
			r.err, r.ofport = "could not add network device rep0 to ofproto (Invalid argument)", -1
			return r
		}()),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "interface rep0: could not add network device rep0 to ofproto (Invalid argument)"}},
	}, {
		name: "plugged but not opened by ovs-vswitchd yet: PLUGGED, naming it",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, unclaimed: true}),
		ovs: world(nil, func() row {
			r := ourRow("rep0", "lsp1", "a1")
			r.ofport = 0
			return r
		}()),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {plugged, "waiting for ovs-vswitchd to open interface rep0 (no ofport yet)"}},
	}})
}

func TestPlanReadyReportsInterface(t *testing.T) {
	tc := planCase{reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 3, mtu: 9000}),
		ovs: world(nil, func() row {
			r := ourRow("rep3", "lsp1", "a1", installed...)
			r.mtu = mtu(9000)
			return r
		}()), reps: reps(3)}
	st := planPass(tc.input()).statuses["lsp1"]
	if st.Representor != "rep3" || st.Ofport != 7 || st.AttachmentId != "a1" || st.OwnerNode != "host1" ||
		st.VfNum != 3 || st.Mtu != 9000 || st.PfMac != testPFMAC.String() {
		t.Errorf("READY status %v does not describe the request and its interface", st)
	}
}

func TestPlanBadRequests(t *testing.T) {
	bad := map[string]string{vifplug.OptVFNum: "seven"}
	// An interface of lsp1 that nothing holds would be unplugged at once:
	// its binding was reported deleted and it has been unwanted for long.
	longUnwanted := memory{unwantedSince: map[string]time.Time{"rep0": t0.Add(-time.Hour)}, gone: goneAt(t0, "lsp1")}
	runPlanCases(t, []planCase{{
		name:     "invalid options: ERROR naming the option",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, options: bad}),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {errorPhase, vifplug.OptVFNum + `="seven"`}},
	}, {
		name:     "invalid options keep the existing interface",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, options: bad}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0),
		mem:      longUnwanted,
		statuses: map[string]phase{"lsp1": {errorPhase, vifplug.OptVFNum}},
	}, {
		name:     "representor missing: PENDING within the wait",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 4}),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor: "}},
		wakeAt:   t0.Add(repWait),
	}, {
		name:     "representor missing: ERROR after the wait",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 4}),
		reps:     reps(0),
		mem:      memory{missingSince: map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(-repWait)}}},
		statuses: map[string]phase{"lsp1": {errorPhase, "unknown VF"}},
	}, {
		name:     "representor missing: a new attachment gets a new wait",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a2", vf: 4}),
		reps:     reps(0),
		mem:      memory{missingSince: map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(-time.Hour)}}},
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor"}},
		wakeAt:   t0.Add(repWait),
	}, {
		name:     "unknown PF: PENDING within the wait",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, options: map[string]string{vifplug.OptPFMAC: "0c:42:a1:00:00:99"}}),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "unknown PF"}},
		wakeAt:   t0.Add(repWait),
	}, {
		name:     "representor missing keeps the existing interface, also after the wait",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(),
		mem:      memory{missingSince: map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(-time.Hour)}}, unwantedSince: longUnwanted.unwantedSince},
		statuses: map[string]phase{"lsp1": {errorPhase, "no representor for pf-mac"}},
	}, {
		name: "ambiguous representor: ERROR, nothing plugged",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		reps: func() fakeReps {
			r := reps(0)
			r.ambiguous[0] = true
			return r
		}(),
		statuses: map[string]phase{"lsp1": {errorPhase, "ambiguous representor"}},
	}})
}

// TestPlanRepresentorWaitAcrossPasses threads the planner's memory through
// passes: the wait counts from the first pass that saw the request.
func TestPlanRepresentorWaitAcrossPasses(t *testing.T) {
	tc := planCase{reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 4}), reps: reps(0)}
	in := tc.input()
	var phases []string
	for _, at := range []time.Duration{0, 2 * time.Second, repWait} {
		in.now = t0.Add(at)
		out := planPass(in)
		phases = append(phases, out.statuses["lsp1"].Phase.String())
		in.mem = out.mem
	}
	if want := []string{"PHASE_PENDING", "PHASE_PENDING", "PHASE_ERROR"}; !slices.Equal(phases, want) {
		t.Errorf("phases at 0s, 2s, 5s: %v, want %v", phases, want)
	}
	// The representor appears: plugged, and the request forgets its wait
	// only when it goes away.
	in.reps = fakeReps{vfs: map[int]string{4: "rep4"}}
	out := planPass(in)
	if len(out.changes) != 1 || out.changes[0].kind != changePlug || len(out.mem.missingSince) != 1 {
		t.Errorf("late representor: changes %v, memory %v", out.changes, out.mem.missingSince)
	}
	in.requests, in.mem = nil, out.mem
	if out := planPass(in); len(out.mem.missingSince) != 0 {
		t.Errorf("a request that went away is still remembered: %v", out.mem.missingSince)
	}
}

func TestPlanOwnership(t *testing.T) {
	runPlanCases(t, []planCase{{
		name: "the port holding a representor keeps it; the newcomer is ERROR naming the holder",
		reqs: requests(binding{lsp: "aa-newcomer", attachment: "a2", vf: 0},
			binding{lsp: "zz-working", attachment: "a1", vf: 0}),
		ovs:  world(nil, ourRow("rep0", "zz-working", "a1", installed...)),
		reps: reps(0),
		statuses: map[string]phase{
			"zz-working":  {ready, ""},
			"aa-newcomer": {errorPhase, "belongs to logical port zz-working; only one port can use it"},
		},
	}, {
		name:    "two new requests for one representor: the first by name plugs it",
		reqs:    requests(binding{lsp: "lsp-b", attachment: "a2", vf: 0}, binding{lsp: "lsp-a", attachment: "a1", vf: 0}),
		reps:    reps(0),
		changes: []change{plugOf("lsp-a", "rep0", "a1", nil)},
		statuses: map[string]phase{
			"lsp-a": {pending, "plugging representor rep0"},
			"lsp-b": {errorPhase, "representor rep0 (" + vifplug.OptPFMAC + "=0c:42:a1:00:00:01 " + vifplug.OptVFNum + "=0) belongs to logical port lsp-a"},
		},
	}, {
		name:     "a VF given to another LSP is re-plugged for it",
		reqs:     requests(binding{lsp: "new-lsp", attachment: "a2", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "old-lsp", "a1", installed...)),
		reps:     reps(0),
		changes:  []change{replugOf("new-lsp", "rep0", "a2", nil, testBridge)},
		statuses: map[string]phase{"new-lsp": {pending, `re-plugging representor rep0 (was iface-id "old-lsp")`}},
	}, {
		name:     "an LSP moved to another VF: the new one is plugged, the old one unplugged once unwanted long enough",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 1}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0, 1),
		mem:      memory{unwantedSince: map[string]time.Time{"rep0": t0.Add(-unplugDelay)}},
		changes:  []change{plugOf("lsp1", "rep1", "a1", nil), unplugOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep1"}},
	}, {
		name:     "a new attachment of the same LSP is re-plugged",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a2", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0),
		changes:  []change{replugOf("lsp1", "rep0", "a2", nil, testBridge)},
		statuses: map[string]phase{"lsp1": {pending, "re-plugging representor rep0"}},
	}, {
		name: "an interface of ours in another bridge is re-plugged into ours",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs: world([]string{testBridge, "br-other"}, func() row {
			r := ourRow("rep0", "lsp1", "a1")
			r.bridge = "br-other"
			return r
		}()),
		reps:     reps(0),
		changes:  []change{replugOf("lsp1", "rep0", "a1", nil, "br-other")},
		statuses: map[string]phase{"lsp1": {pending, "re-plugging representor rep0"}},
	}})
}

func TestPlanUpdate(t *testing.T) {
	runPlanCases(t, []planCase{{
		name:     "MTU change: update, no re-plug",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, mtu: 9000}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0),
		changes:  []change{withMTU(updateOf("lsp1", "rep0", nil, nil), mtu(9000))},
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name: "MTU request dropped: mtu_request cleared",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs: world(nil, func() row {
			r := ourRow("rep0", "lsp1", "a1", installed...)
			r.mtu = mtu(9000)
			return r
		}()),
		reps:     reps(0),
		changes:  []change{withMTU(updateOf("lsp1", "rep0", nil, nil), nil)},
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:     "attachment id removed from the binding: external_id removed",
		reqs:     requests(binding{lsp: "lsp1", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...)),
		reps:     reps(0),
		changes:  []change{updateOf("lsp1", "rep0", nil, []string{vifplug.IfaceAttachment})},
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:     "attachment id added to the binding: external_id set, no re-plug",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "", installed...)),
		reps:     reps(0),
		changes:  []change{updateOf("lsp1", "rep0", map[string]string{vifplug.IfaceAttachment: "a1"}, nil)},
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}})
}

func TestPlanOtherOwners(t *testing.T) {
	byOVN := row{name: "rep0", ids: map[string]string{vifplug.IfaceID: "lsp1", vifplug.IfaceOVNPlugged: vifplug.PlugTypeRepresentor,
		vifplug.IfaceOVNInstalled: "true"}, ofport: 9}
	runPlanCases(t, []planCase{{
		name: "foreign interface: ERROR, left alone",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:  world(nil, row{name: "rep0", ids: map[string]string{vifplug.IfaceID: "someone"}}),
		reps: reps(0),
		statuses: map[string]phase{"lsp1": {errorPhase,
			"already in bridge br-int as an interface ovn-dpu did not plug (iface-id \"someone\", no external_ids:" + vifplug.IfacePlugged +
				"); remove it (ovs-vsctl del-port rep0)"}},
		foreign: 1,
	}, {
		name: "ovn-controller's interface with --plugger agent: ERROR, competing",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		ovs:  world(nil, byOVN),
		reps: reps(0),
		statuses: map[string]phase{"lsp1": {errorPhase,
			"plugged by ovn-controller's representor plug provider (external_ids:" + vifplug.IfaceOVNPlugged + "=" +
				vifplug.PlugTypeRepresentor + "); two pluggers race for it: run ovn-dpu-agent with --plugger ovn-controller"}},
		competing: 1,
		notes:     []string{"competing plugger"},
	}, {
		name:     "ovn-controller's interface with --plugger ovn-controller: observed",
		plugger:  PluggerOVNController,
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, mtu: 9000}),
		ovs:      world(nil, byOVN),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:     "--plugger ovn-controller, not plugged yet: PENDING, nothing written",
		plugger:  PluggerOVNController,
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "waiting for ovn-controller to plug representor rep0"}},
	}, {
		name:     "--plugger ovn-controller never unplugs or updates",
		plugger:  PluggerOVNController,
		reqs:     requests(binding{lsp: "lsp1", vf: 0, mtu: 1400}),
		ovs:      world(nil, ourRow("rep0", "lsp1", "a1", installed...), ourRow("rep1", "gone", "a9")),
		reps:     reps(0, 1),
		mem:      memory{unwantedSince: map[string]time.Time{"rep1": t0.Add(-time.Hour)}, gone: goneAt(t0, "gone")},
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}})
}

func TestPlanUnplug(t *testing.T) {
	stale := world(nil, ourRow("rep0", "old", "a1", installed...))
	unknown := dpu1
	unknown.uuid = ""
	runPlanCases(t, []planCase{{
		name:   "an unwanted interface waits for the unplug delay",
		ovs:    stale,
		wakeAt: t0.Add(unplugDelay),
	}, {
		name:    "and is unplugged once unwanted that long",
		ovs:     stale,
		mem:     memory{unwantedSince: map[string]time.Time{"rep0": t0.Add(-unplugDelay)}},
		changes: []change{unplugOf("old", "rep0")},
	}, {
		name:    "at once when the server reported its binding deleted",
		ovs:     stale,
		mem:     memory{gone: goneAt(t0, "old")},
		changes: []change{unplugOf("old", "rep0")},
	}, {
		name:    "never while this chassis's UUID is unknown",
		chassis: &unknown,
		ovs:     stale,
		mem:     memory{unwantedSince: map[string]time.Time{"rep0": t0.Add(-time.Hour)}, gone: goneAt(t0, "old")},
		notes:   []string{"own Chassis row absent; not unplugging"},
	}, {
		name:   "the delay restarts after a reconnect",
		ovs:    stale,
		mem:    memory{unwantedSince: map[string]time.Time{"rep0": t0.Add(-time.Hour)}, reconnectedAt: t0.Add(-time.Millisecond)},
		wakeAt: t0.Add(unplugDelay),
	}, {
		name: "interfaces of others are never unplugged",
		ovs: world(nil, row{name: "rep0", ids: map[string]string{vifplug.IfaceID: "x"}},
			row{name: "rep1", ids: map[string]string{vifplug.IfaceID: "y", vifplug.IfaceOVNPlugged: vifplug.PlugTypeRepresentor}}),
		mem: memory{gone: goneAt(t0, "x", "y")},
	}, {
		name:    "several unplugs come in interface order",
		ovs:     world(nil, ourRow("rep2", "c", ""), ourRow("rep0", "a", ""), ourRow("rep1", "b", "")),
		mem:     memory{gone: goneAt(t0, "a", "b", "c")},
		changes: []change{unplugOf("a", "rep0"), unplugOf("b", "rep1"), unplugOf("c", "rep2")},
	}})
}

// TestPlanUnplugMemory follows an unwanted interface through passes.
func TestPlanUnplugMemory(t *testing.T) {
	in := planCase{ovs: world(nil, ourRow("rep0", "old", "a1"))}.input()
	out := planPass(in)
	if len(out.changes) != 0 || !out.mem.unwantedSince["rep0"].Equal(t0) {
		t.Fatalf("first pass: changes %v, unwanted since %v; want none and t0", out.changes, out.mem.unwantedSince)
	}
	in.mem, in.now = out.mem, t0.Add(unplugDelay/2)
	if out = planPass(in); len(out.changes) != 0 || !out.wakeAt.Equal(t0.Add(unplugDelay)) {
		t.Fatalf("half way: changes %v, wake %v", out.changes, out.wakeAt)
	}
	// A reconnect in between restarts the delay.
	in.mem, in.now = out.mem, t0.Add(unplugDelay)
	in.mem.reconnectedAt = t0.Add(unplugDelay / 2)
	if out = planPass(in); len(out.changes) != 0 || !out.wakeAt.Equal(t0.Add(2*unplugDelay)) {
		t.Fatalf("after a reconnect: changes %v, wake %v", out.changes, out.wakeAt)
	}
	in.mem, in.now = out.mem, t0.Add(2*unplugDelay)
	if out = planPass(in); len(out.changes) != 1 || out.changes[0].kind != changeUnplug {
		t.Fatalf("after the delay: changes %v, want the unplug", out.changes)
	}
	if out.mem.gone != nil || !out.mem.reconnectedAt.Equal(in.mem.reconnectedAt) {
		t.Errorf("returned memory %+v: gone must be consumed, reconnectedAt kept", out.mem)
	}
	// A request taking the interface back forgets it was unwanted.
	in.mem, in.requests, in.reps = out.mem, requests(binding{lsp: "old", attachment: "a1", vf: 0}), reps(0)
	if out = planPass(in); len(out.changes) != 0 || len(out.mem.unwantedSince) != 0 {
		t.Errorf("wanted again: changes %v, unwanted %v", out.changes, out.mem.unwantedSince)
	}
}

// TestPlanSteadyStateWritesNothing: a fully plugged chassis (what a
// restarted agent finds) plans no change at all and asks for no wake-up.
func TestPlanSteadyStateWritesNothing(t *testing.T) {
	var bs []binding
	var rows []row
	var vfs []int
	want := map[string]phase{}
	for vf := range 20 {
		lsp := fmt.Sprintf("lsp%02d", vf)
		b := binding{lsp: lsp, attachment: "att-" + lsp, vf: vf}
		r := ourRow(fmt.Sprintf("rep%d", vf), lsp, b.attachment, installed...)
		if vf%2 == 0 {
			b.mtu, r.mtu = 1400, mtu(1400)
		}
		if vf%5 == 0 {
			b.attachment = "" // an LSP someone else wrote
			r.ids = vifplug.InterfaceIDs(lsp, "")
			r.ids[vifplug.IfaceOVNInstalled] = "true"
		}
		bs, rows, vfs = append(bs, b), append(rows, r), append(vfs, vf)
		want[lsp] = phase{ready, ""}
	}
	// Plus an interface ovn-controller owns and one of another owner that
	// nobody requests: left alone, silently.
	rows = append(rows, row{name: "tap-other", ids: map[string]string{"owner": "someone"}})
	tc := planCase{reqs: requests(bs...), ovs: world(nil, rows...), reps: reps(vfs...), statuses: want,
		mem: memory{reconnectedAt: t0.Add(-time.Minute)}}
	runPlanCases(t, []planCase{tc})
}

// TestPlanIsPure: the same input gives the same plan, and the input is
// left as it was.
func TestPlanIsPure(t *testing.T) {
	tc := planCase{
		reqs: requests(binding{lsp: "b", attachment: "a1", vf: 0, mtu: 9000}, binding{lsp: "a", attachment: "a2", vf: 1},
			binding{lsp: "c", attachment: "a3", vf: 7}, binding{lsp: "d", attachment: "a4", vf: 0}),
		ovs:  world(nil, ourRow("rep0", "b", "a1", installed...), ourRow("rep5", "x", ""), ourRow("rep6", "y", "")),
		reps: reps(0, 1, 5, 6),
		mem: memory{missingSince: map[string]seen{"c": {attachment: "a3", at: t0.Add(-time.Second)}, "zz": {at: t0}},
			unwantedSince: map[string]time.Time{"rep5": t0.Add(-time.Hour)}, gone: goneAt(t0, "y")},
	}
	in := tc.input()
	memBefore := fmt.Sprint(in.mem)
	first := planPass(in)
	for range 10 {
		again := planPass(in)
		if !reflect.DeepEqual(first, again) {
			t.Fatalf("two passes over one input differ:\n%+v\n%+v", first, again)
		}
	}
	if fmt.Sprint(in.mem) != memBefore {
		t.Errorf("planPass modified its input memory: %s, was %s", fmt.Sprint(in.mem), memBefore)
	}
	if _, ok := first.mem.missingSince["zz"]; ok {
		t.Error("memory of a request that went away was kept")
	}
	var whats []string
	for _, c := range first.changes {
		whats = append(whats, c.what())
	}
	if want := []string{"update rep0", "plug rep1", "unplug rep5", "unplug rep6"}; !slices.Equal(whats, want) {
		t.Errorf("changes %v, want %v", whats, want)
	}
}

// TestPlanNotesAreLogged checks the notes carry a level the agent can log.
func TestPlanNotesAreLogged(t *testing.T) {
	unknown := dpu1
	unknown.uuid = ""
	tc := planCase{chassis: &unknown, ovs: world(nil, ourRow("rep0", "old", ""))}
	out := planPass(tc.input())
	if len(out.notes) != 1 || out.notes[0].level != slog.LevelWarn || !slices.Contains(out.notes[0].args, any("rep0")) {
		t.Errorf("notes %+v, want one warning naming rep0", out.notes)
	}
}

// goneAt is a gone set of the logical ports, reported at t.
func goneAt(t time.Time, lsps ...string) map[string]time.Time {
	gone := map[string]time.Time{}
	for _, lsp := range lsps {
		gone[lsp] = t
	}
	return gone
}

// A deletion reported before the interface shows in the OVS cache (the
// plug's cache update still on its way) must still unplug at once when it
// does, and marks must not pile up.
func TestPlanGoneMarksLastUntilUsed(t *testing.T) {
	in := planCase{ovs: world(nil), mem: memory{gone: goneAt(t0, "old")}}.input()
	out := planPass(in)
	if _, ok := out.mem.gone["old"]; !ok || len(out.changes) != 0 {
		t.Fatalf("no interface yet: changes %v, marks %v; want the mark carried", out.changes, out.mem.gone)
	}
	in.ovs, in.mem, in.now = world(nil, ourRow("rep0", "old", "a1")), out.mem, t0.Add(unplugDelay/10)
	out = planPass(in)
	if len(out.changes) != 1 || out.changes[0].kind != changeUnplug {
		t.Fatalf("interface shown: changes %v, want the unplug at once", out.changes)
	}
	if len(out.mem.gone) != 0 {
		t.Errorf("marks %v after the unplug used it, want none", out.mem.gone)
	}
	// A mark nothing uses expires after the unplug delay.
	in = planCase{ovs: world(nil), mem: memory{gone: goneAt(t0, "never")}, now: t0.Add(unplugDelay)}.input()
	if out = planPass(in); len(out.mem.gone) != 0 {
		t.Errorf("marks %v after the unplug delay, want them expired", out.mem.gone)
	}
	// A port requested again drops its mark.
	in = planCase{reqs: requests(binding{lsp: "back", vf: 1}), ovs: world(nil), mem: memory{gone: goneAt(t0, "back")}}.input()
	if out = planPass(in); len(out.mem.gone) != 0 {
		t.Errorf("marks %v for a requested port, want none", out.mem.gone)
	}
}
