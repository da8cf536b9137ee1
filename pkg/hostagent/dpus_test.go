package hostagent

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// A host with two DPUs: the harness's VF is on PF 0c:42:a1:00:00:01;
// dpuA lists another PF, dpuB the VF's.
const (
	vfPF    = "0c:42:a1:00:00:01"
	otherPF = "0c:42:a1:00:00:99"
)

func twoDPUs(a, b []string) func(*harness) {
	return func(h *harness) {
		h.dpu.chassis, h.dpu.pfMACs = "dpuA", a
		h.more = []*fakeDPU{{j: h.j, chassis: "dpuB", pfMACs: b}}
	}
}

// TestAddGoesToTheDPUOfItsPF: the LSP names the chassis of the DPU whose
// Info lists the VF's PF, the verdict comes from that DPU, the record
// names it, and DEL and CHECK follow it there.
func TestAddGoesToTheDPUOfItsPF(t *testing.T) {
	h := newHarness(t, twoDPUs([]string{otherPF}, []string{vfPF}))
	result, e := h.add("c1", netConf(""))
	if e != nil {
		t.Fatalf("ADD: %v", e)
	}
	h.wantJournal(addAll, []string{"dpu.ready " + testLSP + " on dpuB"})
	req, err := vifplug.ParseOptions(h.nb.lsp(testLSP).Options)
	if err != nil || req.Chassis != "dpuB" {
		t.Fatalf("requested-chassis %q (%v), want dpuB", req.Chassis, err)
	}
	att, err := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if err != nil || att.DPU != "dpuB" || att.Function != "vf 3" {
		t.Fatalf("record: DPU %q function %q (%v), want dpuB and vf 3", att.DPU, att.Function, err)
	}
	if _, e := h.call(request("CHECK", "c1", checkConf(netConf(""), result))); e != nil {
		t.Errorf("CHECK: %v", e)
	}
	h.j.reset()
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("DEL: %v", e)
	}
	h.wantNothingLeft()
}

func TestAddRoutingFailures(t *testing.T) {
	tests := []struct {
		name string
		tune func(*harness)
		code uint32
		msg  []string
	}{
		{"no DPU lists the PF", twoDPUs([]string{otherPF}, []string{}), codeVFLookup,
			[]string{"no DPU has PF " + vfPF, "DPU dpuA (at dpu-agent-of-dpuA) has PFs [" + otherPF + "]", "DPU dpuB (at dpu-agent-of-dpuB) has PFs none"}},
		{"two DPUs list the PF", twoDPUs([]string{vfPF}, []string{vfPF}), codeVFLookup,
			[]string{"PF " + vfPF + " is listed by 2 DPUs", "dpuA", "dpuB"}},
		{"the only other DPU refuses this host", func(h *harness) {
			twoDPUs([]string{otherPF}, []string{vfPF})(h)
			h.more[0].down, h.more[0].refusal = true, status.Error(codes.PermissionDenied, `host "node1" is not one this DPU serves`)
		}, codeVFLookup, []string{"no DPU has PF " + vfPF, `refused: `, `host "node1" is not one this DPU serves`}},
		{"the DPU that may list it cannot be asked", func(h *harness) {
			twoDPUs([]string{otherPF}, []string{vfPF})(h)
			h.more[0].down = true
		}, 11, []string{"no DPU that answered lists PF " + vfPF, "dpu-agent-of-dpuB not reachable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.tune)
			_, e := h.add("c1", netConf(""))
			for _, m := range tt.msg {
				wantCode(t, e, tt.code, m)
			}
			h.wantJournal()
			h.wantNothingLeft()
		})
	}
}

// TestOneDPUDownFailsOnlyItsOwn: with dpuA down, an ADD of dpuB's VF
// succeeds, and STATUS passes; with both down, STATUS fails naming both.
func TestOneDPUDownFailsOnlyItsOwn(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		twoDPUs([]string{otherPF}, []string{vfPF})(h)
		h.dpu.down = true
	})
	if _, e := h.add("c1", netConf("")); e != nil {
		t.Fatalf("ADD of the VF of the DPU that is up: %v", e)
	}
	if _, e := h.call(request("STATUS", "", netConf(""))); e != nil {
		t.Errorf("STATUS with one DPU of two up: %v", e)
	}
	h.dpu.unregistered = true
	h.more[0].down, h.more[0].unregistered = true, true
	if err := h.agent.dpus.registered(t.Context()); err == nil {
		t.Error("registered with no DPU registered")
	}
}

// TestClaimBeforeTheLSP: on a DPU that requires claims the attachment is
// claimed before its LSP is written, and released after the DEL deletes
// it; the reconnect's claims list what the host holds.
func TestClaimBeforeTheLSP(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.dpu.requiresClaims = true })
	if _, e := h.add("c1", netConf("")); e != nil {
		t.Fatalf("ADD: %v", e)
	}
	got := h.j.list()
	claimAt, createAt := slices.Index(got, "dpu.claim "+testLSP), slices.Index(got, createdLSP)
	if claimAt < 0 || createAt < 0 || claimAt > createAt {
		t.Fatalf("journal %q: want the claim before the LSP create", got)
	}
	c := h.dpu.claims[0]
	att, _ := h.state.Load(hoststate.Key{ContainerID: "c1", IfName: "eth0"})
	if c.AttachmentId != att.AttachmentID || c.LogicalPort != testLSP || c.PfMac != vfPF || c.Function != "vf 3" {
		t.Errorf("claim %v does not describe attachment %s of %s (%s vf 3)", c, att.AttachmentID, testLSP, vfPF)
	}
	if again := h.agent.claimsFor("dpu1"); len(again) != 1 || again[0].AttachmentId != att.AttachmentID {
		t.Errorf("claims after a reconnect: %v, want the one attachment", again)
	}
	if _, e := h.call(request("DEL", "c1", netConf(""))); e != nil {
		t.Fatalf("DEL: %v", e)
	}
	if !slices.Equal(h.dpu.released, []string{att.AttachmentID}) {
		t.Errorf("released %v, want [%s]", h.dpu.released, att.AttachmentID)
	}
	if again := h.agent.claimsFor("dpu1"); len(again) != 0 {
		t.Errorf("claims after DEL: %v, want none", again)
	}
}

// TestClaimRefusedWritesNothing: a DPU refusing the claim fails the ADD
// with its reason (code 100), and no LSP is written.
func TestClaimRefusedWritesNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		code uint32
	}{
		"refused":     {status.Error(codes.PermissionDenied, "PF "+vfPF+" is not one of host node1's PFs (devlink controller 2)"), codeRejected},
		"unreachable": {status.Error(codes.Unavailable, "connection refused"), 11},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(h *harness) { h.dpu.requiresClaims, h.dpu.claimErr = true, tc.err })
			_, e := h.add("c1", netConf(""))
			wantCode(t, e, tc.code, status.Convert(tc.err).Message())
			if slices.Contains(h.j.list(), createdLSP) {
				t.Errorf("the LSP was written: %q", h.j.list())
			}
			h.wantNothingLeft()
		})
	}
}

// TestDPUConnectedMetric: one series per DPU, 1 while its stream is up.
func TestDPUConnectedMetric(t *testing.T) {
	h := newHarness(t, func(h *harness) {
		twoDPUs([]string{otherPF}, []string{vfPF})(h)
		h.more[0].down = true
	})
	want := `# HELP ovndpu_host_dpu_connected Whether the host agent's stream from each DPU agent (--dpu) is up with a complete snapshot (1) or not (0).
# TYPE ovndpu_host_dpu_connected gauge
ovndpu_host_dpu_connected{chassis="dpuA",dpu="dpu-agent-of-dpuA"} 1
ovndpu_host_dpu_connected{chassis="",dpu="dpu-agent-of-dpuB"} 0
`
	if err := testutil.CollectAndCompare(h.agent.dpus.collector(), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

// TestDPUAddsMetric: each ADD that chose a DPU counts under its chassis
// and result; one that found none counts nowhere.
func TestDPUAddsMetric(t *testing.T) {
	h := newHarness(t, twoDPUs([]string{otherPF}, []string{vfPF}))
	h.mustAdd("c1")
	h.call(request("DEL", "c1", netConf("")))
	h.more[0].rejectReason = "no representor"
	if _, e := h.add("c2", netConf("")); e == nil || e.Code != codeRejected {
		t.Fatalf("ADD on a rejecting DPU: %v", e)
	}
	h.more[0].pfMACs = []string{}
	if _, e := h.add("c3", netConf("")); e == nil || e.Code != codeVFLookup {
		t.Fatalf("ADD with no DPU for the PF: %v", e)
	}
	adds := h.agent.metrics.dpuAdds
	if n := testutil.CollectAndCount(adds); n != 2 {
		t.Errorf("ovndpu_host_dpu_adds_total has %d series, want dpuB/0 and dpuB/100", n)
	}
	for code, want := range map[string]float64{"0": 1, "100": 1} {
		if got := testutil.ToFloat64(adds.WithLabelValues("dpuB", code)); got != want {
			t.Errorf("ovndpu_host_dpu_adds_total{chassis=dpuB,code=%s} = %v, want %v", code, got, want)
		}
	}
}

// TestClaimReleasedWhenNoLSPFollows: a claim whose LSP write was refused
// is released at once: no DEL will delete an LSP, so nothing else would.
func TestClaimReleasedWhenNoLSPFollows(t *testing.T) {
	h := newHarness(t, func(h *harness) { h.dpu.requiresClaims = true })
	h.nb.createErr = errInjected
	if _, e := h.add("c1", netConf("")); e == nil {
		t.Fatal("ADD succeeded with the LSP write failing")
	}
	if len(h.dpu.claims) != 1 || !slices.Equal(h.dpu.released, []string{h.dpu.claims[0].AttachmentId}) {
		t.Errorf("claims %v, released %v: want the one claim released", h.dpu.claims, h.dpu.released)
	}
}
