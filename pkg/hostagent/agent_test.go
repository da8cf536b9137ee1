package hostagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// harness is a host agent whose every collaborator is a fake sharing one
// journal: no root, no sysfs, no OVN, no DPU.
type harness struct {
	t       *testing.T
	agent   *Agent
	j       *journal
	vfs     fakeVFs
	plumber *fakePlumber
	ipam    *fakeIPAM
	nb      *fakeNB
	dpu     *fakeDPU
	// more are further DPUs of the host, after dpu.
	more  []*fakeDPU
	state *hoststate.Store
	dir   string
	logs  *testenv.LogBuffer // what the agent logged (Info and up)
}

const (
	testNode   = "node1"
	testDevice = "0000:03:00.5"
	testNetns  = "/var/run/netns/pod1"
)

// newHarness builds the fakes, lets each of tune change them, and starts
// the agent.
func newHarness(t *testing.T, tune ...func(*harness)) *harness {
	t.Helper()
	j := &journal{}
	pfMAC, _ := net.ParseMAC("0C:42:A1:00:00:01")
	vfMAC, _ := net.ParseMAC("0e:00:00:00:00:05")
	h := &harness{
		t: t, j: j, dir: t.TempDir(),
		vfs: fakeVFs{testDevice: sysfs.VF{PCIAddress: testDevice, Netdev: "ens1f0v3", MAC: vfMAC, MTU: 1500,
			PFMAC: pfMAC, VFIndex: 3}},
		plumber: &fakePlumber{j: j, inPod: map[string]string{}},
		ipam:    &fakeIPAM{j: j, leases: map[string]string{}},
		nb: &fakeNB{j: j, node: testNode, switches: map[string]*nbdb.LogicalSwitch{
			"ls0":     {UUID: "ls0-uuid", Name: "ls0"},
			"dynamic": {UUID: "dyn-uuid", Name: "dynamic", OtherConfig: map[string]string{"subnet": "10.20.0.0/24", "ipv6_prefix": "fd00:20::"}}}, lsps: map[string]*nbdb.LogicalSwitchPort{}},
		dpu:  &fakeDPU{j: j},
		logs: &testenv.LogBuffer{},
	}
	for _, f := range tune {
		f(h)
	}
	h.start()
	return h
}

// start (re)creates the agent over the same state dir and fakes, as a
// restarted daemon would find them.
func (h *harness) start() {
	h.t.Helper()
	agent, err := New(Config{Node: testNode, StateDir: h.dir},
		WithLogger(slog.New(slog.NewTextHandler(h.logs, nil))),
		WithNorthbound(func(context.Context) (Northbound, error) { return h.nb, nil }),
		WithDPU(append([]DPU{h.dpu}, fakeDPUs(h.more)...)...), WithVFLookup(h.vfs), WithPlumber(h.plumber), WithIPAM(h.ipam),
		WithDelTimeout(100*time.Millisecond), WithUnknownPFWait(300*time.Millisecond))
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
	h.agent = agent
	<-agent.ready // NB "connected": verbs need not wait
	if h.state, err = hoststate.Open(h.dir); err != nil {
		h.t.Fatal(err)
	}
}

// waitLog waits until the agent has logged a line containing text.
func (h *harness) waitLog(text string) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.logs.String(), text) {
		if time.Now().After(deadline) {
			h.t.Fatalf("the agent never logged %q; it logged:\n%s", text, h.logs)
		}
		time.Sleep(time.Millisecond)
	}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func netConf(extra string) []byte {
	return []byte(`{"cniVersion":"1.1.0","name":"net1","type":"ovn-dpu-cni","logicalSwitch":"ls0","deviceID":"` +
		testDevice + `","mtu":1400,"ipam":{"type":"host-local"}` + extra + `}`)
}

func request(command, container string, conf []byte) *ovndpuv1.CNIRequest {
	return &ovndpuv1.CNIRequest{Command: command, ContainerId: container, Netns: testNetns, Ifname: "eth0",
		Args: "K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0", Path: "/opt/cni/bin", Config: conf}
}

// call runs one CNI verb and returns its result and error (nil on success).
func (h *harness) call(req *ovndpuv1.CNIRequest) ([]byte, *ovndpuv1.CNIError) {
	h.t.Helper()
	resp, err := h.agent.CNI(context.Background(), req)
	if err != nil {
		h.t.Fatalf("%s: gRPC error %v", req.Command, err)
	}
	return resp.Result, resp.Error
}

func (h *harness) add(container string, conf []byte) ([]byte, *ovndpuv1.CNIError) {
	return h.call(request("ADD", container, conf))
}

// mustAdd runs a successful ADD and clears the journal.
func (h *harness) mustAdd(container string) {
	h.t.Helper()
	if _, e := h.add(container, netConf("")); e != nil {
		h.t.Fatalf("ADD %s: %v", container, e)
	}
	h.j.reset()
}

func wantCode(t *testing.T, e *ovndpuv1.CNIError, code uint32, msgHas string) {
	t.Helper()
	if e == nil || e.Code != code || !strings.Contains(e.Msg+" "+e.Details, msgHas) {
		t.Fatalf("error %v, want code %d mentioning %q", e, code, msgHas)
	}
}

// wantJournal compares what the fakes saw, ignoring the order of entries
// in the same group (steps that run in parallel).
func (h *harness) wantJournal(groups ...[]string) {
	h.t.Helper()
	got := h.j.list()
	var want []string
	i := 0
	for _, g := range groups {
		want = append(want, g...)
		if i+len(g) > len(got) {
			break
		}
		part := slices.Clone(got[i : i+len(g)])
		slices.Sort(part)
		sorted := slices.Sorted(slices.Values(g))
		copy(got[i:], part)
		copy(want[len(want)-len(g):], sorted)
		i += len(g)
	}
	if !slices.Equal(got, want) {
		h.t.Fatalf("side effects:\n  got  %q\n  want %q", got, want)
	}
}

// wantNothingLeft asserts that the attachment left no trace anywhere.
func (h *harness) wantNothingLeft() {
	h.t.Helper()
	atts, err := h.state.List()
	if err != nil || len(atts) != 0 {
		h.t.Errorf("state: %d records (%v), want none", len(atts), err)
	}
	if n := h.nb.count(); n != 0 {
		h.t.Errorf("%d LSPs left in NB", n)
	}
	if n := h.plumber.placed(); n != 0 {
		h.t.Errorf("%d VFs left in pods", n)
	}
	if n := h.ipam.leased(); n != 0 {
		h.t.Errorf("%d IPAM leases left", n)
	}
}

const testLSP = testNode + "_c1_eth0"

var (
	// The steps of an ADD run in parallel (IPAM and the LSP create, then
	// its addresses; the VF move), so they form one journal group.
	ipamAdd   = "ipam.add 10.0.0.2/24"
	addressed = "nb.addresses " + testLSP + " [0e:00:00:00:00:05 10.0.0.2]"
	moveIn    = "vf.movein ens1f0v3 -> eth0 mac 0e:00:00:00:00:05 mtu 1400 ips 1"
	addAll    = []string{ipamAdd, createdLSP, addressed, moveIn}
	moveOut   = "vf.moveout ens1f0v3 mac 0e:00:00:00:00:05 mtu 1500"
	undoAll   = []string{moveOut, "nb.delete " + testLSP, "ipam.del"}
	// undoUnsure: the create's outcome was unknown, so its delete is
	// settled; undoNoLSP: the create surely wrote nothing.
	undoUnsure = []string{moveOut, "nb.delete " + testLSP, "nb.settle " + testLSP, "ipam.del"}
	undoNoLSP  = []string{moveOut, "ipam.del"}
	createdLSP = "nb.create " + testLSP
)

func TestAddWritesTheRequestAndMovesTheVF(t *testing.T) {
	h := newHarness(t)
	result, e := h.add("c1", netConf(""))
	if e != nil {
		t.Fatalf("ADD: %v", e)
	}
	h.wantJournal(addAll, []string{"dpu.ready " + testLSP})

	lsp := h.nb.lsp(testLSP)
	req, err := vifplug.ParseOptions(lsp.Options)
	if err != nil || req.Chassis != "dpu1" || req.PFMAC.String() != "0c:42:a1:00:00:01" || req.VFNum != 3 || req.MTU != 1400 {
		t.Errorf("LSP options %v parse as %+v, %v", lsp.Options, req, err)
	}
	att := vifplug.AttachmentOf(lsp.ExternalIDs)
	if att.Owner != testNode || att.ID == "" || att.Network != "net1" || att.ContainerID != "c1" || att.IfName != "eth0" ||
		att.DeviceID != testDevice || att.PodNamespace != "prod" || att.PodName != "web-0" {
		t.Errorf("LSP external_ids %v", lsp.ExternalIDs)
	}
	if want := []string{"0e:00:00:00:00:05 10.0.0.2"}; !slices.Equal(lsp.Addresses, want) || !slices.Equal(lsp.PortSecurity, want) {
		t.Errorf("addresses %v port_security %v, want %v", lsp.Addresses, lsp.PortSecurity, want)
	}

	var res struct {
		Interfaces []struct{ Name, Mac, PciID string }
		IPs        []struct{ Address string }
	}
	if err := json.Unmarshal(result, &res); err != nil || len(res.IPs) != 1 || res.IPs[0].Address != "10.0.0.2/24" ||
		len(res.Interfaces) != 1 || res.Interfaces[0].PciID != testDevice {
		t.Errorf("result %s (%v)", result, err)
	}
	st, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []hoststate.StepName{hoststate.StepIPAM, hoststate.StepLSP, hoststate.StepVFMoved} {
		if s, ok := st.Step(step); !ok || s.State != hoststate.StepDone {
			t.Errorf("step %s: %+v, want done", step, s)
		}
	}
	if st.AttachmentID != att.ID || st.VF.HostNetdev != "ens1f0v3" || st.VF.MTU != 1500 {
		t.Errorf("state %+v does not record the attachment and the VF as found", st)
	}
}

// Each failure of ADD must undo exactly what was done and leave nothing.
func TestAddFailureUndoesEveryStep(t *testing.T) {
	tests := []struct {
		name    string
		inject  func(h *harness)
		conf    []byte
		code    uint32
		msgHas  string
		journal [][]string
		// keepLSPs: LSPs of others that must survive
		keepLSPs int
	}{
		{name: "IPAM fails", inject: func(h *harness) { h.ipam.addErr = errInjected },
			code: 999, msgHas: "injected",
			// The intended IPAM step is undone too: a delegate that failed
			// half-way may hold an address. The VF move, started at once,
			// gave up waiting for the addresses and rolled itself back; the
			// LSP, written in parallel, is deleted.
			journal: [][]string{{"ipam.add-failed", createdLSP, "vf.movein-failed ens1f0v3 (addresses: the pod's addresses could not be set up)"},
				undoAll}},
		{name: "LSP create fails", inject: func(h *harness) { h.nb.createErr = errInjected },
			code: 11, msgHas: "cannot write logical switch port",
			journal: [][]string{{ipamAdd, "nb.create-failed " + testLSP, moveIn}, undoUnsure}},
		{name: "LSP create outcome unknown", inject: func(h *harness) { h.nb.createErr, h.nb.createCommits = errInjected, true },
			code: 11, msgHas: "cannot write logical switch port",
			journal: [][]string{{ipamAdd, createdLSP, "nb.create-failed " + testLSP, moveIn}, undoUnsure}},
		{name: "LSP name taken", inject: func(h *harness) {
			h.nb.lsps[testLSP] = &nbdb.LogicalSwitchPort{Name: testLSP, ExternalIDs: map[string]string{vifplug.ExtOwner: "node2"}}
		}, code: 7, msgHas: "already exists in OVN NB and is not this attachment's",
			// The other owner's LSP stays: nothing of ours to delete.
			journal: [][]string{{ipamAdd, "nb.create-taken " + testLSP, moveIn}, undoNoLSP}, keepLSPs: 1},
		{name: "VF move fails", inject: func(h *harness) { h.plumber.moveInErr = errInjected },
			code: 5, msgHas: "cannot move VF " + testDevice,
			journal: [][]string{{ipamAdd, createdLSP, addressed, "vf.movein-failed ens1f0v3"}, undoAll}},
		{name: "DPU rejects", inject: func(h *harness) { h.dpu.rejectReason = "no representor for pf-mac 0c:42:a1:00:00:01 vf-num 3" },
			code: 100, msgHas: "no representor for pf-mac",
			journal: [][]string{addAll, {"dpu.error " + testLSP}, undoAll}},
		{name: "not ready in time", inject: func(h *harness) { h.dpu.pending = "waiting for ovn-controller to claim the binding" },
			conf: netConf(`,"timeoutSeconds":1`), code: 101, msgHas: "waiting for ovn-controller to claim",
			journal: [][]string{addAll, undoAll}},
		{name: "DPU unreachable", inject: func(h *harness) { h.dpu.unreachable = "keepalive ping failed to receive ACK within timeout" },
			code: 11, msgHas: "DPU agent at 192.0.2.2:50151 unreachable for 5s: keepalive ping failed",
			journal: [][]string{addAll, undoAll}},
		{name: "switch missing", conf: []byte(`{"cniVersion":"1.1.0","name":"net1","logicalSwitch":"nope","deviceID":"` + testDevice + `","ipam":{"type":"host-local"}}`),
			code: 7, msgHas: `logical switch "nope" does not exist`,
			journal: nil}, // found before anything is allocated
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.inject != nil {
				tt.inject(h)
			}
			conf := tt.conf
			if conf == nil {
				conf = netConf("")
			}
			_, e := h.add("c1", conf)
			wantCode(t, e, tt.code, tt.msgHas)
			h.wantJournal(tt.journal...)
			if n := h.nb.count(); n != tt.keepLSPs {
				t.Errorf("%d LSPs in NB, want %d", n, tt.keepLSPs)
			}
			delete(h.nb.lsps, testLSP)
			h.wantNothingLeft()
		})
	}
}

func TestAddRejectsBadInputBeforeAnySideEffect(t *testing.T) {
	tests := []struct {
		name   string
		conf   []byte
		code   uint32
		msgHas string
	}{
		{"not a PCI address", []byte(`{"cniVersion":"1.1.0","name":"n","logicalSwitch":"ls0","deviceID":"eth0"}`), 7, `deviceID "eth0" is not a PCI address`},
		{"not a VF", []byte(`{"cniVersion":"1.1.0","name":"n","logicalSwitch":"ls0","deviceID":"0000:03:00.1"}`), 102, "VF 0000:03:00.1 cannot be attached"},
		{"bad mtu", netConf(`,"mtu":"big"`), 7, "mtu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			_, e := h.add("c1", tt.conf)
			wantCode(t, e, tt.code, tt.msgHas)
			h.wantJournal()
			h.wantNothingLeft()
		})
	}
}

func TestDelUndoesAddInReverse(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("DEL: %v", e)
	}
	h.wantJournal(undoAll)
	h.wantNothingLeft()
	// Idempotent: a second DEL finds nothing to undo and succeeds.
	h.j.reset()
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("second DEL: %v", e)
	}
	h.wantJournal()
}

// A DEL whose undo fails part-way keeps what is left and finishes it on
// the next DEL, without redoing what was already undone.
func TestDelResumesWhereItStopped(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	h.nb.deleteErr = errInjected
	_, e := h.call(request("DEL", "c1", netConf("")))
	wantCode(t, e, 11, "undo lsp")
	h.wantJournal([]string{moveOut, "nb.delete-failed " + testLSP, "ipam.del"})
	st, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if err != nil {
		t.Fatalf("state after a failed DEL: %v", err)
	}
	if len(st.Steps) != 1 || st.Steps[0].Name != hoststate.StepLSP {
		t.Fatalf("steps left %+v, want only the LSP", st.Steps)
	}
	h.nb.deleteErr = nil
	h.j.reset()
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("second DEL: %v", e)
	}
	h.wantJournal([]string{"nb.delete " + testLSP})
	h.wantNothingLeft()
}

// A crash leaves a state file whose steps may be only intended; DEL after
// a restart undoes each of them, whatever got done.
func TestDelAfterCrashBetweenSteps(t *testing.T) {
	tests := []struct {
		name    string
		steps   map[hoststate.StepName]hoststate.StepState
		journal []string
	}{
		{"crashed during IPAM", map[hoststate.StepName]hoststate.StepState{hoststate.StepIPAM: hoststate.StepIntent},
			[]string{"ipam.del"}},
		{"crashed during LSP write and VF move", map[hoststate.StepName]hoststate.StepState{hoststate.StepIPAM: hoststate.StepDone,
			hoststate.StepLSP: hoststate.StepIntent, hoststate.StepVFMoved: hoststate.StepIntent}, undoUnsure},
		{"crashed while waiting for the DPU", map[hoststate.StepName]hoststate.StepState{hoststate.StepIPAM: hoststate.StepDone,
			hoststate.StepLSP: hoststate.StepDone, hoststate.StepVFMoved: hoststate.StepDone}, undoAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			now := time.Now()
			att := &hoststate.Attachment{Version: hoststate.SchemaVersion, Key: hoststate.Key{ContainerID: "c1", IfName: "eth0"},
				Network: "net1", AttachmentID: "a1", LSPName: testLSP, LogicalSwitch: "ls0", DeviceID: testDevice, NetnsPath: testNetns,
				VF:   hoststate.VF{HostNetdev: "ens1f0v3", MAC: "0e:00:00:00:00:05", MTU: 1500, PFMAC: "0c:42:a1:00:00:01", VFIndex: 3},
				IPAM: &hoststate.IPAM{Type: "host-local", Config: netConf("")}, CreatedAt: now, UpdatedAt: now}
			for _, name := range []hoststate.StepName{hoststate.StepIPAM, hoststate.StepLSP, hoststate.StepVFMoved} {
				if state, ok := tt.steps[name]; ok {
					att.Intend(name, now)
					if state == hoststate.StepDone {
						att.Done(name, now)
					}
				}
			}
			if err := h.state.Save(att); err != nil {
				t.Fatal(err)
			}
			// What the crashed ADD may have done before dying.
			h.nb.lsps[testLSP] = &nbdb.LogicalSwitchPort{Name: testLSP,
				ExternalIDs: vifplug.Attachment{Owner: testNode, ID: "a1", Network: "net1"}.ExternalIDs()}
			h.plumber.inPod[podKey(testNetns, "eth0")] = "ens1f0v3"
			h.ipam.leases["c1/eth0"] = "10.0.0.2/24"
			if _, ok := tt.steps[hoststate.StepLSP]; !ok {
				delete(h.nb.lsps, testLSP)
				delete(h.plumber.inPod, podKey(testNetns, "eth0"))
			}
			h.start() // the restarted agent
			if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
				t.Fatalf("DEL: %v", e)
			}
			h.wantJournal(tt.journal)
			h.wantNothingLeft()
		})
	}
}

func TestRepeatedAddUndoesThePreviousAttachment(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	first := h.nb.lsp(testLSP).ExternalIDs[vifplug.ExtAttachment]
	if _, e := h.add("c1", netConf("")); e != nil {
		t.Fatalf("second ADD: %v", e)
	}
	h.wantJournal(undoAll, []string{"ipam.add 10.0.0.3/24", createdLSP, "nb.addresses " + testLSP + " [0e:00:00:00:00:05 10.0.0.3]", moveIn},
		[]string{"dpu.ready " + testLSP})
	if second := h.nb.lsp(testLSP).ExternalIDs[vifplug.ExtAttachment]; second == first {
		t.Errorf("the repeated ADD kept attachment id %s", first)
	}
}

func TestVFHeldByAnotherAttachment(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	_, e := h.add("c2", netConf(""))
	wantCode(t, e, 11, "VF "+testDevice+" is still held by attachment")
	h.wantJournal()
}

// A record that cannot be read may hold the very VF an ADD asks for.
func TestUnreadableStateIsNeverFree(t *testing.T) {
	h := newHarness(t)
	bad := filepath.Join(h.dir, "k.broken.eth0.json")
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.state.List(); err == nil {
		t.Fatalf("the test's corrupt record %s is not one the store reads", bad)
	}
	_, e := h.add("c1", netConf(""))
	wantCode(t, e, 11, "cannot tell whether VF "+testDevice+" is free")
	if !strings.Contains(e.Details, "k.broken") {
		t.Errorf("details %q do not name the unreadable file", e.Details)
	}
	h.wantJournal()
}

// checkConf is the CHECK configuration of conf after an ADD that printed
// result: the same, with the result as prevResult.
func checkConf(conf, result []byte) []byte {
	return []byte(strings.TrimSuffix(string(conf), "}") + `,"prevResult":` + string(result) + `}`)
}

func TestCheck(t *testing.T) {
	h := newHarness(t)
	result, e := h.add("c1", netConf(""))
	if e != nil {
		t.Fatalf("ADD: %v", e)
	}
	healthy := checkConf(netConf(""), result)
	if _, e := h.call(request("CHECK", "c1", healthy)); e != nil {
		t.Fatalf("CHECK of a live attachment: %v", e)
	}
	got := h.plumber.lastCheck()
	if got == nil || got.MAC.String() != "0e:00:00:00:00:05" || len(got.IPs) != 1 || got.IPs[0].Address.String() != "10.0.0.2/24" ||
		got.PodNetns != testNetns || got.IfName != "eth0" {
		t.Fatalf("the pod was checked against %+v, not against prevResult", got)
	}
	if !slices.Contains(h.j.list(), "ipam.check c1/eth0") {
		t.Errorf("CHECK was not forwarded to the IPAM delegate: %v", h.j.list())
	}
	tamper := []struct {
		name   string
		break_ func()
		heal   func()
		code   uint32
		msg    string
	}{
		{"pod interface", func() { h.plumber.checkErr = errors.New("eth0 in pod lacks 10.0.0.2/24") }, func() { h.plumber.checkErr = nil },
			codeCheckFailed, "eth0 in pod lacks 10.0.0.2/24"},
		{"port security", func() { h.nb.lsps[testLSP].PortSecurity = []string{"0e:00:00:00:00:05"} },
			func() { h.nb.lsps[testLSP].PortSecurity = []string{"0e:00:00:00:00:05 10.0.0.2"} },
			codeCheckFailed, `port_security ["0e:00:00:00:00:05"], the result says "0e:00:00:00:00:05 10.0.0.2"`},
		{"DPU unplugged", func() { h.dpu.forget(testLSP) },
			func() {
				h.dpu.set(&ovndpuv1.PortStatus{LogicalPort: testLSP, AttachmentId: h.nb.lsps[testLSP].ExternalIDs[vifplug.ExtAttachment], Phase: ovndpuv1.Phase_PHASE_READY})
			},
			codeCheckFailed, "the DPU reports logical port " + testLSP + " not plugged"},
		{"IPAM", func() { h.ipam.checkErr = errors.New("host-local: no lease") }, func() { h.ipam.checkErr = nil },
			codeCheckFailed, "the IPAM plugin host-local's CHECK failed: host-local: no lease"},
		{"IPAM's own code", func() { h.ipam.checkErr = types.NewError(types.ErrTryAgainLater, "store locked", "") },
			func() { h.ipam.checkErr = nil }, 11, "store locked"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			tc.break_()
			_, e := h.call(request("CHECK", "c1", healthy))
			wantCode(t, e, tc.code, tc.msg)
			tc.heal()
			if _, e := h.call(request("CHECK", "c1", healthy)); e != nil {
				t.Fatalf("CHECK after healing: %v", e)
			}
		})
	}
	otherMAC := []byte(strings.Replace(string(healthy), `"mac":"0e:00:00:00:00:05"`, `"mac":"0e:00:00:00:00:99"`, 1))
	_, e = h.call(request("CHECK", "c1", otherMAC))
	wantCode(t, e, codeCheckFailed, "port_security")
	_, e = h.call(request("CHECK", "c1", netConf("")))
	wantCode(t, e, 7, "prevResult is missing")
	_, e = h.call(request("CHECK", "c9", healthy))
	wantCode(t, e, 3, "no attachment for c9/eth0")
	delete(h.nb.lsps, testLSP)
	_, e = h.call(request("CHECK", "c1", healthy))
	wantCode(t, e, codeCheckFailed, "logical switch port "+testLSP+" is missing from OVN NB")
}

func TestDynamicAddressing(t *testing.T) {
	dynConf := func(lsName, extra string) []byte {
		return []byte(`{"cniVersion":"1.1.0","name":"net1","type":"ovn-dpu-cni","logicalSwitch":"` + lsName + `","deviceID":"` +
			testDevice + `"` + extra + `}`)
	}
	h := newHarness(t)
	h.nb.dynamic = "10.20.0.5 fd00:20::c00:ff:fe00:5"
	conf := dynConf("dynamic", `,"gateway":["10.20.0.1"],"routes":[{"dst":"0.0.0.0/0"}]`)
	result, e := h.add("c1", conf)
	if e != nil {
		t.Fatalf("ADD: %v", e)
	}
	lsp := h.nb.lsp(testLSP)
	if want := []string{"0e:00:00:00:00:05 dynamic"}; !slices.Equal(lsp.Addresses, want) {
		t.Errorf("addresses %v, want %v", lsp.Addresses, want)
	}
	if want := []string{"0e:00:00:00:00:05 10.20.0.5 fd00:20::c00:ff:fe00:5"}; !slices.Equal(lsp.PortSecurity, want) {
		t.Errorf("port_security %v, want %v", lsp.PortSecurity, want)
	}
	var res struct {
		IPs    []struct{ Address, Gateway string }
		Routes []struct{ Dst string }
	}
	if err := json.Unmarshal(result, &res); err != nil || len(res.IPs) != 2 || res.IPs[0].Address != "10.20.0.5/24" ||
		res.IPs[0].Gateway != "10.20.0.1" || res.IPs[1].Address != "fd00:20::c00:ff:fe00:5/64" || res.IPs[1].Gateway != "" ||
		len(res.Routes) != 1 || res.Routes[0].Dst != "0.0.0.0/0" {
		t.Errorf("result %s (%v)", result, err)
	}
	if !slices.Contains(h.j.list(), "vf.movein ens1f0v3 -> eth0 mac 0e:00:00:00:00:05 mtu 0 ips 2") {
		t.Errorf("the VF was not configured with OVN's addresses: %v", h.j.list())
	}
	if _, e := h.call(request("CHECK", "c1", checkConf(conf, result))); e != nil {
		t.Errorf("CHECK of a dynamic attachment: %v", e)
	}
	if _, e := h.call(request("DEL", "c1", conf)); e != nil || h.nb.count() != 0 {
		t.Fatalf("DEL: %v, %d LSPs left", e, h.nb.count())
	}

	h.nb.switches["bare"] = &nbdb.LogicalSwitch{UUID: "bare-uuid", Name: "bare"}
	h.j.reset()
	_, e = h.add("c2", dynConf("bare", ""))
	wantCode(t, e, 7, "logical switch bare has neither other_config:subnet nor other_config:ipv6_prefix")
	h.wantJournal() // found before anything was done

	h.nb.dynamic = "" // northd does not answer
	_, e = h.add("c3", dynConf("dynamic", `,"timeoutSeconds":1`))
	wantCode(t, e, codeNotReady, "ovn-northd did not assign addresses to logical switch port "+testNode+"_c3_eth0")
	if h.nb.count() != 0 || h.plumber.placed() != 0 {
		t.Errorf("a failed dynamic ADD left %d LSPs, %d VFs in pods", h.nb.count(), h.plumber.placed())
	}
}

func TestUnknownIPAMPluginIsAConfigError(t *testing.T) {
	notFound := fmt.Errorf("%w: type %q, CNI_PATH %q", ipam.ErrPluginNotFound, "host-local", "/opt/cni/bin")
	t.Run("found missing before anything is done", func(t *testing.T) {
		h := newHarness(t)
		h.ipam.findErr = notFound
		_, e := h.add("c1", netConf(""))
		wantCode(t, e, 7, `ipam.type "host-local"`)
		h.wantJournal()
	})
	t.Run("gone by the time it runs", func(t *testing.T) {
		h := newHarness(t)
		h.ipam.addErr = notFound
		_, e := h.add("c1", netConf(""))
		wantCode(t, e, 7, `ipam.type "host-local"`)
		if h.nb.count() != 0 || h.plumber.placed() != 0 {
			t.Errorf("left %d LSPs, %d VFs in pods", h.nb.count(), h.plumber.placed())
		}
	})
}

func TestGC(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	h.vfs["0000:03:00.6"] = sysfs.VF{PCIAddress: "0000:03:00.6", Netdev: "ens1f0v4", MAC: net.HardwareAddr{0x0e, 0, 0, 0, 0, 6},
		MTU: 1500, PFMAC: h.vfs[testDevice].PFMAC, VFIndex: 4}
	conf2 := []byte(strings.Replace(string(netConf("")), testDevice, "0000:03:00.6", 1))
	if _, e := h.add("c2", conf2); e != nil {
		t.Fatalf("ADD c2: %v", e)
	}
	// An orphan: this node's LSP with no state (its ADD's create outcome
	// was unknown when it was undone), and another node's LSP.
	h.nb.lsps["orphan"] = &nbdb.LogicalSwitchPort{Name: "orphan", ExternalIDs: vifplug.Attachment{Owner: testNode, ID: "a9",
		Network: "net1", ContainerID: "c9", IfName: "eth0"}.ExternalIDs()}
	h.nb.lsps["foreign"] = &nbdb.LogicalSwitchPort{Name: "foreign", ExternalIDs: vifplug.Attachment{Owner: "node2", ID: "b1",
		Network: "net1", ContainerID: "c8", IfName: "eth0"}.ExternalIDs()}
	h.j.reset()
	h.ipam.leases["gone/eth0"] = "10.0.0.99/24" // leaked by a DEL that never came
	if _, e := h.call(gcRequest(`[{"containerID":"c1","ifname":"eth0"}]`)); e != nil {
		t.Fatalf("GC: %v", e)
	}
	h.wantJournal([]string{"vf.moveout ens1f0v4 mac 0e:00:00:00:00:06 mtu 1500", "nb.delete " + testNode + "_c2_eth0", "ipam.del"},
		[]string{"nb.delete orphan"}, []string{"ipam.gc-freed gone/eth0"})
	if !slices.Equal(h.ipam.gcValid, []string{"c1/eth0"}) || h.ipam.leased() != 1 {
		t.Errorf("IPAM GC was given %v and left %d leases, want [c1/eth0] and 1", h.ipam.gcValid, h.ipam.leased())
	}
	if h.nb.lsp(testLSP) == nil || h.nb.lsp("foreign") == nil || h.nb.count() != 2 {
		t.Errorf("GC removed a valid or a foreign LSP: %d left", h.nb.count())
	}
	if _, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"}); err != nil {
		t.Errorf("GC removed the valid attachment's state: %v", err)
	}
}

func gcRequest(valid string) *ovndpuv1.CNIRequest {
	return &ovndpuv1.CNIRequest{Command: "GC", Path: "/opt/cni/bin", Config: []byte(`{"cniVersion":"1.1.0","name":"net1",` +
		`"type":"ovn-dpu-cni","ipam":{"type":"host-local"},"cni.dev/valid-attachments":` + valid + `}`)}
}

// A GC whose list predates an ADD in flight neither cancels nor undoes it,
// and the IPAM delegate's GC keeps its lease.
func TestGCSparesAnAddInFlight(t *testing.T) {
	h := newHarness(t)
	h.ipam.addStarted, h.ipam.release = make(chan struct{}), make(chan struct{})
	added := make(chan *ovndpuv1.CNIError, 1)
	go func() {
		_, e := h.add("c1", netConf(""))
		added <- e
	}()
	<-h.ipam.addStarted // the ADD is recorded and inside its IPAM ADD
	gcDone := make(chan *ovndpuv1.CNIError, 1)
	go func() {
		_, e := h.call(gcRequest(`[]`))
		gcDone <- e
	}()
	h.waitLog("GC: attachment busy")
	close(h.ipam.release)
	if e := <-added; e != nil {
		t.Fatalf("ADD in flight during GC: %v", e)
	}
	if e := <-gcDone; e != nil {
		t.Fatalf("GC: %v", e)
	}
	if h.nb.lsp(testLSP) == nil || h.plumber.placed() != 1 || h.ipam.leased() != 1 {
		t.Fatalf("GC undid an ADD in flight: LSP %v, %d VFs placed, %d leases", h.nb.lsp(testLSP), h.plumber.placed(), h.ipam.leased())
	}
	if !slices.Equal(h.ipam.gcValid, []string{"c1/eth0"}) {
		t.Errorf("IPAM GC was given %v, want the ADD in flight listed", h.ipam.gcValid)
	}
}

// GC goes on past an unreadable record but says so in its answer.
func TestGCReportsUnreadableState(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	if err := os.WriteFile(filepath.Join(h.dir, "k.broken.eth0.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	gc := []byte(`{"cniVersion":"1.1.0","name":"net1","cni.dev/valid-attachments":[]}`)
	_, e := h.call(&ovndpuv1.CNIRequest{Command: "GC", Path: "/opt/cni/bin", Config: gc})
	wantCode(t, e, 11, "k.broken")
	h.wantJournal(undoAll)
	if h.nb.count() != 0 {
		t.Error("GC stopped at the unreadable record instead of removing the stale attachment")
	}
}

func TestStatus(t *testing.T) {
	h := newHarness(t)
	status := func() *ovndpuv1.CNIError {
		_, e := h.call(&ovndpuv1.CNIRequest{Command: "STATUS", Path: "/opt/cni/bin", Config: netConf("")})
		return e
	}
	if e := status(); e != nil {
		t.Fatalf("STATUS: %v", e)
	}
	h.wantJournal([]string{"ipam.status"})
	h.ipam.statusErr = errors.New("dhcp daemon not running")
	wantCode(t, status(), 50, "the IPAM plugin host-local is not ready")
	h.ipam.statusErr = nil
	h.dpu.unregistered = true
	wantCode(t, status(), 50, `DPU chassis "dpu1" is not registered in OVN SB`)
	_, e := h.call(&ovndpuv1.CNIRequest{Command: "BOGUS"})
	wantCode(t, e, 4, "unknown CNI_COMMAND BOGUS")
}

func TestNewNeedsItsCollaborators(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  Config
		opts []Option
		want string
	}{
		"no node":   {Config{NBRemotes: []string{"tcp:127.0.0.1:1"}}, nil, "--node-name"},
		"no nb":     {Config{Node: "n"}, nil, "--nb"},
		"no dpu":    {Config{Node: "n", NBRemotes: []string{"tcp:127.0.0.1:1"}}, nil, "--dpu"},
		"bad state": {Config{Node: "n", NBRemotes: []string{"tcp:127.0.0.1:1"}, StateDir: "/dev/null/x"}, []Option{WithDPU(&fakeDPU{})}, "--state-dir"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(tc.cfg, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// A VF whose previous attachment's unplug the DPU has not confirmed stays
// claimed: the next ADD would meet the old binding on the DPU.
func TestVFClaimedUntilTheUnplugIsConfirmed(t *testing.T) {
	h := newHarness(t)
	h.mustAdd("c1")
	first := h.nb.lsp(testLSP).ExternalIDs[vifplug.ExtAttachment]
	h.dpu.slowUnplugs()
	for range 2 { // DEL succeeds, also when repeated
		if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
			t.Fatalf("DEL with the unplug unconfirmed: %v", e)
		}
	}
	st, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if err != nil || !st.UnplugPending || len(st.Steps) != 0 {
		t.Fatalf("state after DEL: %+v (%v), want only the pending unplug", st, err)
	}
	if h.nb.count() != 0 || h.plumber.placed() != 0 || h.ipam.leased() != 0 {
		t.Errorf("DEL left LSPs %d, placed VFs %d, leases %d", h.nb.count(), h.plumber.placed(), h.ipam.leased())
	}
	// An ADD waits for the confirmation as long as its timeout allows...
	_, e := h.add("c2", netConf(`,"timeoutSeconds":1`))
	wantCode(t, e, 11, "still being unplugged on the DPU for attachment "+first)
	// ...and goes on as soon as the DPU reports the old port gone.
	added := make(chan *ovndpuv1.CNIError, 1)
	go func() { _, e := h.add("c2", netConf("")); added <- e }()
	h.dpu.confirmUnplugs()
	if e := <-added; e != nil {
		t.Fatalf("ADD once the unplug is confirmed: %v", e)
	}
	if _, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"}); err == nil {
		t.Error("the old attachment's record outlived the confirmation")
	}
}

// DEL must finish when the VF cannot be found where it was left: at home
// under another name (found by PCI address and renamed back), or nowhere
// at all (its step dropped, logged).
func TestDelFindsOrForgetsALostVF(t *testing.T) {
	for name, tc := range map[string]struct {
		sysfs   func(h *harness)
		journal []string
	}{
		"renamed at home": {func(h *harness) {
			vf := h.vfs[testDevice]
			vf.Netdev = "eth7"
			h.vfs[testDevice] = vf
		}, []string{"vf.moveout-lost ens1f0v3", "vf.moveout ens1f0v3 (home as eth7) mac 0e:00:00:00:00:05 mtu 1500",
			"nb.delete " + testLSP, "ipam.del"}},
		"gone": {func(h *harness) { delete(h.vfs, testDevice) },
			[]string{"vf.moveout-lost ens1f0v3", "nb.delete " + testLSP, "ipam.del"}},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			h.mustAdd("c1")
			h.plumber.lost = true // neither by name nor by alias
			tc.sysfs(h)
			if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
				t.Fatalf("DEL: %v", e)
			}
			h.wantJournal(tc.journal)
			if _, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"}); err == nil {
				t.Error("the attachment's state outlived its DEL")
			}
		})
	}
}

// A successful ADD logs its stage breakdown, every milestone in order of
// the path, and feeds the stage histogram once per milestone.
func TestAddReportsItsStages(t *testing.T) {
	h := newHarness(t)
	req := request("ADD", "c1", netConf(""))
	req.PluginStarted = timestamppb.New(time.Now().Add(-5 * time.Millisecond))
	if _, e := h.call(req); e != nil {
		t.Fatalf("ADD: %v", e)
	}
	h.waitLog(`msg="ADD stages"`)
	var line string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, `msg="ADD stages"`) {
			line = l
		}
	}
	if !strings.Contains(line, "logical_port="+testLSP) || !strings.Contains(line, "plugin_started_ms=-") {
		t.Errorf("stage line lacks the port or the plugin's start: %s", line)
	}
	for _, stage := range hostStages {
		if !strings.Contains(line, " "+stage+"_ms=") {
			t.Errorf("stage line lacks %s: %s", stage, line)
		}
	}
	for _, span := range []string{"dpu_seen_to_plugged_ms=1", "dpu_plugged_to_claimed_ms=1", "dpu_claimed_to_installed_ms=1"} {
		if !strings.Contains(line, " "+span+" ") && !strings.HasSuffix(line, " "+span) {
			t.Errorf("stage line lacks the DPU's %s: %s", span, line)
		}
	}
	if n := testutil.CollectAndCount(h.agent.metrics.stage); n != len(hostStages)+1 {
		t.Errorf("stage histogram has %d series, want %d", n, len(hostStages)+1)
	}
}

// Between the claim and the save of its record, a VF is reserved in
// memory: a second ADD for it is refused, and the release frees it.
func TestClaimReservesTheVFUntilItsRecordIsSaved(t *testing.T) {
	h := newHarness(t)
	k1, k2 := hoststate.Key{ContainerID: "c1", IfName: "eth0"}, hoststate.Key{ContainerID: "c2", IfName: "eth0"}
	release, err := h.agent.claim(testDevice, k1, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.agent.claim(testDevice, k2, quietLog()); err == nil || !strings.Contains(err.Error(), "being claimed by another ADD (container c1, eth0)") {
		t.Fatalf("second claim of a reserved VF: %v", err)
	}
	release()
	release2, err := h.agent.claim(testDevice, k2, quietLog())
	if err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	release2()
}

func TestAddBudgetLeavesTheCallerTimeToHearTheAnswer(t *testing.T) {
	const timeout = 20 * time.Second
	for name, tc := range map[string]struct {
		callerLeft time.Duration // 0: no deadline
		want       time.Duration // within a second
	}{
		"no caller deadline":            {0, timeout},
		"first attempt (timeout + 15s)": {timeout + 15*time.Second, timeout},
		"re-sent with 12s left":         {12 * time.Second, 12*time.Second - answerMargin},
		"re-sent with 3s left":          {3 * time.Second, 0},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if tc.callerLeft > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.callerLeft)
				defer cancel()
			}
			if got := addBudget(ctx, timeout); got > tc.want || got < tc.want-time.Second {
				t.Errorf("addBudget = %v, want about %v", got, tc.want)
			}
		})
	}
}

// TestAddWithStaticIPsWritesTheLSPOnce: addresses runtimeConfig.ips gives
// are known up front, so the LSP is created with them and never updated
// (one NB write per ADD; see docs/scale.md).
func TestAddWithStaticIPsWritesTheLSPOnce(t *testing.T) {
	h := newHarness(t)
	conf := []byte(`{"cniVersion":"1.1.0","name":"net1","type":"ovn-dpu-cni","logicalSwitch":"ls0","deviceID":"` +
		testDevice + `","mtu":1400,"runtimeConfig":{"ips":["10.0.0.7/24"]}}`)
	if _, e := h.add("c1", conf); e != nil {
		t.Fatalf("ADD: %v", e)
	}
	h.wantJournal([]string{createdLSP, moveIn}, []string{"dpu.ready " + testLSP})
	lsp := h.nb.lsp(testLSP)
	if want := []string{"0e:00:00:00:00:05 10.0.0.7"}; !slices.Equal(lsp.Addresses, want) || !slices.Equal(lsp.PortSecurity, want) {
		t.Errorf("addresses %v port_security %v, want %v", lsp.Addresses, lsp.PortSecurity, want)
	}
}
