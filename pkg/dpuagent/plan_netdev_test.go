package dpuagent

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Representors whose network device goes away under a plugged port, and
// ports removed from the bridge behind the agent's back.

const testRootUUID = "open-vswitch-root"

// withRoot gives st an Open_vSwitch row with next_cfg and cur_cfg.
func withRoot(st ovsState, next, cur int) ovsState {
	st.root = &vswitchd.OpenvSwitch{UUID: testRootUUID, NextCfg: next, CurCfg: cur}
	return st
}

func ifindex(n int) *int { return &n }

func reopenOf(lsp, rep string) change {
	return change{kind: changeReopen, lsp: lsp, iface: rep, oldPort: portUUID(rep), oldBridge: brRef(testBridge), root: testRootUUID}
}

// vanished is an interface of lsp1 whose device ovs-vswitchd still holds
// open after it vanished: ofport kept, ifindex 0, no error.
func vanished() row {
	r := ourRow("rep0", "lsp1", "a1", installed...)
	r.ifindex = ifindex(0)
	return r
}

// unopened is an interface of lsp1 ovs-vswitchd could not open.
func unopened() row {
	r := ourRow("rep0", "lsp1", "a1")
	r.ofport, r.err = -1, "could not open network device rep0 (No such device)"
	return r
}

func TestPlanRepresentorGone(t *testing.T) {
	lsp1 := requests(binding{lsp: "lsp1", attachment: "a1", vf: 0})
	graceUsed := map[string]seen{"lsp1": {attachment: "a1", at: t0.Add(-repWait)}}
	reopening := func(cfg int, at time.Time) map[string]reopen {
		return map[string]reopen{"rep0": {lsp: "lsp1", at: at, cfg: cfg}}
	}
	byOVN := vanished()
	byOVN.ids = map[string]string{vifplug.IfaceID: "lsp1", vifplug.IfaceOVNPlugged: vifplug.PlugTypeRepresentor,
		vifplug.IfaceOVNInstalled: "true"}
	runPlanCases(t, []planCase{{
		name:     "ifindex not reported yet: nothing is gone",
		reqs:     lsp1,
		ovs:      withRoot(world(nil, ourRow("rep0", "lsp1", "a1", installed...)), 3, 3),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:     "a device ovs-vswitchd has open: ifindex > 0, READY",
		reqs:     lsp1,
		ovs:      withRoot(world(nil, func() row { r := vanished(); r.ifindex = ifindex(12); return r }()), 3, 3),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:    "vanished while plugged: its port is removed at once, next_cfg bumped; PENDING for the grace, naming it",
		reqs:    lsp1,
		ovs:     withRoot(world(nil, vanished()), 3, 3),
		reps:    reps(0),
		changes: []change{reopenOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {pending,
			"waiting for the representor: representor rep0 is gone from the DPU (OVS shows interface rep0 with ifindex 0: it has no network device)"}},
		wakeAt: t0.Add(repWait),
		notes:  []string{"representor's network device vanished while plugged"},
	}, {
		name:     "vanished, grace used: ERROR naming the representor",
		reqs:     lsp1,
		ovs:      withRoot(world(nil, vanished()), 3, 3),
		reps:     reps(0),
		mem:      memory{missingSince: graceUsed},
		changes:  []change{reopenOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {errorPhase, "representor rep0 is gone from the DPU (OVS shows interface rep0 with ifindex 0"}},
		notes:    []string{"vanished"},
	}, {
		name:     "its port removed, ovs-vswitchd not there yet: nothing plugged, PENDING naming ovs-vswitchd",
		reqs:     lsp1,
		ovs:      withRoot(world(nil), 4, 3),
		reps:     reps(0),
		mem:      memory{reopening: reopening(4, t0)},
		statuses: map[string]phase{"lsp1": {pending, "waiting for ovs-vswitchd to remove its old port (cur_cfg 3, want 4)"}},
	}, {
		name: "the cache shows the port gone before our next_cfg: still waiting",
		reqs: lsp1,
		ovs:  withRoot(world(nil), 3, 3),
		reps: reps(0),
		mem:  memory{reopening: reopening(4, t0)},
		statuses: map[string]phase{"lsp1": {pending,
			"re-plugging representor rep0, whose network device vanished: waiting for ovs-vswitchd"}},
	}, {
		name:     "ovs-vswitchd removed it: plugged again",
		reqs:     lsp1,
		ovs:      withRoot(world(nil), 4, 4),
		reps:     reps(0),
		mem:      memory{reopening: reopening(4, t0)},
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0 into br-int again (its network device vanished)"}},
	}, {
		name:     "a reconnect since the removal: the database may be new, cur_cfg = next_cfg will do",
		reqs:     lsp1,
		ovs:      withRoot(world(nil), 1, 1),
		reps:     reps(0),
		mem:      memory{reopening: reopening(4, t0.Add(-time.Second)), reconnectedAt: t0},
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "again (its network device vanished)"}},
	}, {
		name:     "plugged while the device is still gone: OVS cannot open it; PENDING for the grace, nothing to write",
		reqs:     lsp1,
		ovs:      withRoot(world(nil, unopened()), 4, 4),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor: representor rep0 is gone from the DPU (OVS: could not open network device rep0 (No such device))"}},
		wakeAt:   t0.Add(repWait),
	}, {
		name:     "OVS cannot open it, grace used: ERROR naming it; the interface stays (ovs-vswitchd opens the device when it is back)",
		reqs:     lsp1,
		ovs:      withRoot(world(nil, unopened()), 4, 4),
		reps:     reps(0),
		mem:      memory{missingSince: graceUsed, unwantedSince: map[string]time.Time{"rep0": t0.Add(-time.Hour)}},
		statuses: map[string]phase{"lsp1": {errorPhase, "representor rep0 is gone from the DPU (OVS: could not open network device rep0 (No such device))"}},
	}, {
		name:    "OVS cannot open it and the MTU changed: the update is still written",
		reqs:    requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, mtu: 9000}),
		ovs:     withRoot(world(nil, unopened()), 4, 4),
		reps:    reps(0),
		changes: []change{withMTU(updateOf("lsp1", "rep0", nil, nil), mtu(9000))},
		statuses: map[string]phase{"lsp1": {pending,
			"representor rep0 is gone from the DPU (OVS: could not open network device rep0 (No such device))"}},
		wakeAt: t0.Add(repWait),
	}, {
		name:     "--plugger ovn-controller: the status says so, ovn-controller's port is left alone",
		plugger:  PluggerOVNController,
		reqs:     lsp1,
		ovs:      withRoot(world(nil, byOVN), 3, 3),
		reps:     reps(0),
		statuses: map[string]phase{"lsp1": {pending, "representor rep0 is gone from the DPU"}},
		wakeAt:   t0.Add(repWait),
	}})
}

func TestPlanRestoresRemovedPort(t *testing.T) {
	lsp1 := requests(binding{lsp: "lsp1", attachment: "a1", vf: 0})
	wasPlugged := func(attachment, iface string) memory {
		return memory{milestones: map[string]milestones{"lsp1": {attachment: attachment, iface: iface, seen: t0.Add(-time.Minute),
			plugged: t0.Add(-time.Minute)}}}
	}
	runPlanCases(t, []planCase{{
		name:     "an operator removed the port of a plugged representor: restored, and said so",
		reqs:     lsp1,
		reps:     reps(0),
		mem:      wasPlugged("a1", "rep0"),
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0 into br-int again (its port was removed from the bridge by someone else)"}},
		notes:    []string{"plugged representor was removed from the bridge by someone else; restoring it"},
	}, {
		name: "removed with ovs-vsctl (next_cfg bumped): restored once ovs-vswitchd has applied the removal",
		reqs: lsp1,
		ovs:  withRoot(world(nil), 8, 7),
		reps: reps(0),
		mem:  wasPlugged("a1", "rep0"),
		statuses: map[string]phase{"lsp1": {pending,
			"restoring representor rep0, whose port was removed from the bridge by someone else: waiting for ovs-vswitchd to apply the removal (cur_cfg 7, next_cfg 8)"}},
	}, {
		name:     "and then plugged",
		reqs:     lsp1,
		ovs:      withRoot(world(nil), 8, 8),
		reps:     reps(0),
		mem:      wasPlugged("a1", "rep0"),
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "again (its port was removed from the bridge by someone else)"}},
		notes:    []string{"restoring it"},
	}, {
		name:     "a new attachment is a first plug",
		reqs:     lsp1,
		reps:     reps(0),
		mem:      wasPlugged("a0", "rep0"),
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0 into br-int"}},
	}, {
		name:     "so is the port's new VF",
		reqs:     lsp1,
		reps:     reps(0),
		mem:      wasPlugged("a1", "rep7"),
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0 into br-int"}},
	}})
}

// TestPlanRepresentorVanishesAndReturns follows a plugged port through
// passes while its representor's device vanishes and comes back, as the
// bed's userspace datapath shows it.
func TestPlanRepresentorVanishesAndReturns(t *testing.T) {
	tc := planCase{reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}), reps: reps(0)}
	in := tc.input()
	healthy := ourRow("rep0", "lsp1", "a1", installed...)
	healthy.ifindex = ifindex(12)
	fresh := ourRow("rep0", "lsp1", "a1", installed...)
	fresh.ifindex = ifindex(13)
	steps := []struct {
		what    string
		at      time.Duration
		ovs     ovsState
		changes []changeKind
		phase   ovndpuv1.Phase
	}{
		{"plugged and READY", 0, withRoot(world(nil, healthy), 3, 3), nil, ready},
		{"the device vanishes", time.Second, withRoot(world(nil, vanished()), 3, 3), []changeKind{changeReopen}, pending},
		{"the port is removed; ovs-vswitchd is behind", 1100 * time.Millisecond, withRoot(world(nil), 4, 3), nil, pending},
		{"ovs-vswitchd applied it", 1200 * time.Millisecond, withRoot(world(nil), 4, 4), []changeKind{changePlug}, pending},
		{"plugged, the device still gone", 1300 * time.Millisecond, withRoot(world(nil, unopened()), 4, 4), nil, pending},
		{"the grace is over", time.Second + repWait, withRoot(world(nil, unopened()), 4, 4), nil, errorPhase},
		{"the device is back and opened", 20 * time.Second, withRoot(world(nil, fresh), 4, 4), nil, ready},
	}
	for _, step := range steps {
		in.now, in.ovs = t0.Add(step.at), step.ovs
		out := planPass(in)
		var kinds []changeKind
		for _, c := range out.changes {
			kinds = append(kinds, c.kind)
		}
		if st := out.statuses["lsp1"]; st.Phase != step.phase || !slices.Equal(kinds, step.changes) {
			t.Fatalf("%s: %v %q, changes %v; want %v, changes %v", step.what, st.Phase, st.Reason, kinds, step.phase, step.changes)
		}
		in.mem = out.mem
	}
	if len(in.mem.reopening) != 0 {
		t.Errorf("re-open marks left: %v", in.mem.reopening)
	}
}

// TestPlanRepresentorLeavesDevlinkWithItsDevice: the host re-creates its
// VFs, so the representor leaves the devlink table with its device and
// comes back. The stale port is removed while the request cannot be
// resolved, the mark outlives the absence, and the representor is plugged
// again when it is back.
func TestPlanRepresentorLeavesDevlinkWithItsDevice(t *testing.T) {
	tc := planCase{reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}), reps: reps()}
	in := tc.input()
	steps := []struct {
		what    string
		ovs     ovsState
		reps    fakeReps
		changes []changeKind
		reason  string
	}{
		{"device and devlink port gone", withRoot(world(nil, vanished()), 3, 3), reps(), []changeKind{changeReopen},
			"waiting for the representor: no representor for pf-mac"},
		{"port removed, representor still gone", withRoot(world(nil), 4, 4), reps(), nil, "waiting for the representor: no representor"},
		{"another pass", withRoot(world(nil), 4, 4), reps(), nil, "no representor"},
		{"the VF is back", withRoot(world(nil), 4, 4), reps(0), []changeKind{changePlug}, "plugging representor rep0 into br-int again (its network device vanished)"},
	}
	for i, step := range steps {
		in.now, in.ovs, in.reps = t0.Add(time.Duration(i)*100*time.Millisecond), step.ovs, step.reps
		out := planPass(in)
		var kinds []changeKind
		for _, c := range out.changes {
			kinds = append(kinds, c.kind)
		}
		st := out.statuses["lsp1"]
		if !slices.Equal(kinds, step.changes) || !strings.Contains(st.Reason, step.reason) {
			t.Fatalf("%s: changes %v, %v %q; want changes %v and a reason containing %q", step.what, kinds, st.Phase, st.Reason,
				step.changes, step.reason)
		}
		in.mem = out.mem
	}
	if len(in.mem.reopening) != 0 {
		t.Errorf("re-open marks left: %v", in.mem.reopening)
	}
	// A request that goes away forgets its mark.
	in.mem.reopening = map[string]reopen{"rep0": {lsp: "lsp1", at: t0, cfg: 4}}
	in.requests, in.ovs = nil, withRoot(world(nil), 4, 4)
	if out := planPass(in); len(out.mem.reopening) != 0 {
		t.Errorf("the mark of a request that went away is kept: %v", out.mem.reopening)
	}
}
