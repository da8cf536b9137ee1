package dpuagent

import (
	"maps"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// portBinding is b as the SB row the planner's request comes from.
func (b binding) portBinding() *sbdb.PortBinding {
	opts := vifplug.Request{Chassis: dpu1.name, PFMAC: testPFMAC, VFNum: b.vf, MTU: b.mtu}.Options()
	maps.Copy(opts, b.options)
	pb := &sbdb.PortBinding{LogicalPort: b.lsp, Options: opts,
		ExternalIDs: map[string]string{vifplug.ExtOwner: "host1", vifplug.ExtAttachment: b.attachment}}
	uuid := dpu1.uuid
	pb.RequestedChassis = &uuid
	if !b.unclaimed {
		pb.Chassis = &uuid
	}
	return pb
}

// TestExplain runs the planner over each case's inputs, then explain over
// the same inputs and the status the planner gave, as Why does.
func TestExplain(t *testing.T) {
	other := "other-chassis-uuid"
	cases := []struct {
		name    string
		b       *binding
		mutate  func(*sbdb.PortBinding)
		ovs     ovsState
		reps    fakeReps
		check   func(t *testing.T, w *ovndpuv1.WhyResponse)
		waiting string // prefix of waiting_for
	}{{
		name: "ready", b: &binding{lsp: "lsp1", attachment: "att1", vf: 0},
		ovs: world(nil, ourRow("rep0", "lsp1", "att1", installed...)), reps: reps(0),
		waiting: "nothing: the port is READY",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if b := w.GetBinding(); !b.GetClaimed() || b.GetRequestedChassis() != "dpu1" || !b.GetRepresentorRequest() || b.GetInvalid() != "" {
				t.Errorf("binding %v", b)
			}
			if r := w.GetRepresentor(); r.GetNetdev() != "rep0" || r.GetError() != "" || r.GetPfMac() != testPFMAC.String() {
				t.Errorf("representor %v", r)
			}
			if i := w.GetInterface(); i.GetName() != "rep0" || i.GetBridge() != testBridge || i.GetOfport() != 7 || !i.GetOvnInstalled() ||
				i.GetIfindex() != -1 || i.GetExternalIds()[vifplug.IfaceID] != "lsp1" {
				t.Errorf("interface %v", i)
			}
			if w.GetStatus().GetPhase() != ovndpuv1.Phase_PHASE_READY {
				t.Errorf("status %v", w.GetStatus())
			}
		},
	}, {
		name: "no representor", b: &binding{lsp: "lsp1", attachment: "att1", vf: 4},
		ovs: world(nil), reps: reps(0),
		waiting: "PENDING: waiting for the representor: ",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if r := w.GetRepresentor(); r.GetNetdev() != "" || !strings.Contains(r.GetError(), "vf-num 4") {
				t.Errorf("representor %v", r)
			}
			if w.GetInterface() != nil {
				t.Errorf("interface %v, want none", w.GetInterface())
			}
		},
	}, {
		name: "plugged, not claimed", b: &binding{lsp: "lsp1", attachment: "att1", vf: 0, unclaimed: true},
		ovs: world(nil, ourRow("rep0", "lsp1", "att1")), reps: reps(0),
		waiting: "PLUGGED: waiting for ovn-controller to claim the binding on chassis dpu1",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if w.GetBinding().GetClaimed() || w.GetInterface().GetOvnInstalled() {
				t.Errorf("binding %v, interface %v", w.GetBinding(), w.GetInterface())
			}
		},
	}, {
		name: "claimed by another chassis", b: &binding{lsp: "lsp1", attachment: "att1", vf: 0},
		mutate: func(pb *sbdb.PortBinding) { pb.Chassis = &other },
		ovs:    world(nil, ourRow("rep0", "lsp1", "att1")), reps: reps(0),
		waiting: "PLUGGED: waiting for ovn-controller to claim",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if b := w.GetBinding(); b.GetClaimed() || b.GetClaimedByOther() != other {
				t.Errorf("binding %v", b)
			}
		},
	}, {
		name: "malformed vf-num", b: &binding{lsp: "lsp1", attachment: "att1", options: map[string]string{vifplug.OptVFNum: "07"}},
		ovs: world(nil), reps: reps(0),
		waiting: "ERROR: option " + vifplug.OptVFNum,
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if !strings.Contains(w.GetBinding().GetInvalid(), vifplug.OptVFNum) || w.GetRepresentor() != nil {
				t.Errorf("binding %v, representor %v", w.GetBinding(), w.GetRepresentor())
			}
		},
	}, {
		name: "foreign interface on the representor", b: &binding{lsp: "lsp1", attachment: "att1", vf: 0},
		ovs: world(nil, row{name: "rep0", ids: map[string]string{vifplug.IfaceID: "someone"}, ofport: 2}), reps: reps(0),
		waiting: "ERROR: representor rep0 is already in bridge br-int as an interface ovn-dpu did not plug",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if i := w.GetInterface(); i.GetName() != "rep0" || i.GetExternalIds()[vifplug.IfaceID] != "someone" {
				t.Errorf("interface %v", i)
			}
		},
	}, {
		name: "another plug provider's port", b: &binding{lsp: "lsp1", options: map[string]string{vifplug.OptPlugType: "dummy"}},
		ovs: world(nil), reps: reps(0),
		waiting: `nothing from this agent: the binding's vif-plug-type is "dummy"`,
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if w.GetBinding().GetRepresentorRequest() || w.GetRepresentor() != nil || w.GetStatus() != nil {
				t.Errorf("binding %v, representor %v, status %v", w.GetBinding(), w.GetRepresentor(), w.GetStatus())
			}
		},
	}, {
		name: "no binding, stale interface", ovs: world(nil, ourRow("rep3", "lsp1", "att0")), reps: reps(3),
		waiting: "no Port_Binding in SB requests chassis dpu1 for lsp1",
		check: func(t *testing.T, w *ovndpuv1.WhyResponse) {
			if w.GetBinding() != nil || w.GetRepresentor() != nil || w.GetInterface().GetName() != "rep3" {
				t.Errorf("binding %v, representor %v, interface %v", w.GetBinding(), w.GetRepresentor(), w.GetInterface())
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := explainInput{lsp: "lsp1", chassis: dpu1, ovs: tc.ovs, reps: tc.reps}
			reqs := map[string]request{}
			if tc.b != nil {
				in.binding = tc.b.portBinding()
				if tc.mutate != nil {
					tc.mutate(in.binding)
				}
				if vifplug.IsRepresentorRequest(in.binding.Options) {
					reqs["lsp1"] = parseRequest(in.binding, dpu1)
				}
			}
			p := planPass(planInput{chassis: dpu1, requests: reqs, ovs: tc.ovs, reps: tc.reps, now: t0,
				cfg: planConfig{plugger: PluggerAgent, bridge: testBridge, representorWait: repWait, unplugDelay: unplugDelay}})
			in.status = p.statuses["lsp1"]
			w := explain(in)
			if w.GetLogicalPort() != "lsp1" || w.GetChassis() != "dpu1" {
				t.Errorf("port %q chassis %q", w.GetLogicalPort(), w.GetChassis())
			}
			if !strings.HasPrefix(w.GetWaitingFor(), tc.waiting) {
				t.Errorf("waiting_for %q, want it to start with %q", w.GetWaitingFor(), tc.waiting)
			}
			tc.check(t, w)
		})
	}
}
