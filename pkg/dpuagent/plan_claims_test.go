package dpuagent

import (
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// On a DPU serving several hosts (--hosts host1=1,host2=2) a representor
// of host1's controller is plugged only for an attachment host1 claimed,
// for the very LSP, function and logical switch its binding names.

func twoHosts(t *testing.T) Hosts {
	t.Helper()
	h, err := ParseHosts("host1=1,host2=2")
	if err != nil {
		t.Fatal(err)
	}
	return h
}

const (
	ls1 = "ls-uuid-1"
	ls2 = "ls-uuid-2"
)

func claimOf(host, attachment, lsp, function, ls string) map[claimKey]claim {
	return map[claimKey]claim{{host, attachment}: {lsp: lsp, pfMAC: testPFMAC.String(), function: function, logicalSwitch: ls}}
}

// claimedPlugOf is plugOf on a DPU serving several hosts: the interface
// records the logical switch.
func claimedPlugOf(lsp, rep, attachment, ls string) change {
	return change{kind: changePlug, lsp: lsp, iface: rep, bridge: brRef(testBridge),
		spec: ops.PortSpec{Name: rep, ExternalIDs: vifplug.ClaimedInterfaceIDs(lsp, attachment, ls)}}
}

// claimedRow is an interface plugged for lsp's attachment in switch ls,
// installed.
func claimedRow(rep, lsp, attachment, ls string) row {
	return ourRow(rep, lsp, attachment, append([]string{vifplug.IfaceSwitch, ls}, installed...)...)
}

func TestPlanClaims(t *testing.T) {
	hosts := twoHosts(t)
	host1Reps := reps(0, 1)
	host1Reps.controller = 1
	unmapped := reps(0)
	unmapped.controller = 3
	req := requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, ls: ls1})
	noClaim := "waiting for the host's claim: no claim from host host1 for attachment \"a1\" of logical port lsp1"
	contradicted := "host host1 claimed attachment \"a1\" for logical port lsp1 in logical switch "
	runPlanCases(t, []planCase{{
		name: "claimed by its host: plugged, the interface naming the switch", hosts: hosts, reps: host1Reps, reqs: req,
		claims:   claimOf("host1", "a1", "lsp1", "vf 0", ls1),
		changes:  []change{claimedPlugOf("lsp1", "rep0", "a1", ls1)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0"}},
	}, {
		name: "no claim: PENDING for the grace period, nothing plugged", hosts: hosts, reps: host1Reps, reqs: req,
		statuses: map[string]phase{"lsp1": {pending, noClaim}},
		wakeAt:   t0.Add(repWait),
	}, {
		name: "another host claimed the attachment id: not host1's claim", hosts: hosts, reps: host1Reps, reqs: req,
		claims:   claimOf("host2", "a1", "lsp1", "vf 0", ls1),
		statuses: map[string]phase{"lsp1": {pending, noClaim}},
		wakeAt:   t0.Add(repWait),
	}, {
		name: "the claim names another function: ERROR at once", hosts: hosts, reps: host1Reps, reqs: req,
		claims:   claimOf("host1", "a1", "lsp1", "vf 1", ls1),
		statuses: map[string]phase{"lsp1": {errorPhase, contradicted + ls1 + " (vif-plug:representor:pf-mac=0c:42:a1:00:00:01 vf 1)"}},
	}, {
		name: "the claim names another LSP: ERROR at once", hosts: hosts, reps: host1Reps, reqs: req,
		claims:   claimOf("host1", "a1", "lsp-other", "vf 0", ls1),
		statuses: map[string]phase{"lsp1": {errorPhase, "claimed attachment \"a1\" for logical port lsp-other"}},
	}, {
		name:  "re-created in another switch: ERROR, and the plug of the old one is unplugged at once",
		hosts: hosts, reps: host1Reps, reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, ls: ls2}),
		claims:   claimOf("host1", "a1", "lsp1", "vf 0", ls1),
		ovs:      world(nil, claimedRow("rep0", "lsp1", "a1", ls1)),
		changes:  []change{unplugOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {errorPhase, contradicted + ls1}},
	}, {
		name:  "re-created in another switch while no claim is held (agent restarted): ERROR, unplugged at once",
		hosts: hosts, reps: host1Reps, reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, ls: ls2}),
		ovs:      world(nil, claimedRow("rep0", "lsp1", "a1", ls1)),
		changes:  []change{unplugOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {errorPhase, "was plugged for attachment \"a1\" of logical port lsp1 in logical switch " + ls1}},
	}, {
		name: "owner is another host than the function's: ERROR at once", hosts: hosts, reps: host1Reps,
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, owner: "host2", ls: ls1}),
		claims:   claimOf("host2", "a1", "lsp1", "vf 0", ls1),
		statuses: map[string]phase{"lsp1": {errorPhase, `is host host1's (devlink controller 1), but the port's ovn-dpu:owner is "host2"`}},
	}, {
		name: "a controller --hosts does not map: ERROR at once", hosts: hosts, reps: unmapped, reqs: req,
		claims:   claimOf("host1", "a1", "lsp1", "vf 0", ls1),
		statuses: map[string]phase{"lsp1": {errorPhase, "devlink controller 3, which this DPU's --hosts maps to no host"}},
	}, {
		name: "the switch of the datapath not known yet: PENDING", hosts: hosts, reps: host1Reps,
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		claims:   claimOf("host1", "a1", "lsp1", "vf 0", ls1),
		statuses: map[string]phase{"lsp1": {pending, "the logical switch of the binding's datapath is not known yet"}},
		wakeAt:   t0.Add(repWait),
	}, {
		name: "plugged for this attachment and switch before a restart: kept and READY without a claim", hosts: hosts, reps: host1Reps, reqs: req,
		ovs:      world(nil, claimedRow("rep0", "lsp1", "a1", ls1)),
		statuses: map[string]phase{"lsp1": {ready, ""}},
	}, {
		name:  "plugged for an earlier attachment, the new one unclaimed: the old plug is unplugged, nothing re-plugged",
		hosts: hosts, reps: host1Reps, reqs: req,
		ovs:      world(nil, claimedRow("rep0", "lsp1", "a0", ls1)),
		changes:  []change{unplugOf("lsp1", "rep0")},
		statuses: map[string]phase{"lsp1": {pending, noClaim}},
		wakeAt:   t0.Add(repWait),
	}, {
		name: "without --hosts no claim is needed", reps: host1Reps, reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0}),
		changes:  []change{plugOf("lsp1", "rep0", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor rep0"}},
	}})
}

// TestPlanMovedLSPNeverKeepsItsPlug: however else the LSP of a plugged
// port is changed along with its move to another switch — owner, attachment,
// options, PF — its plug is unplugged at once rather than kept for it; in
// its own switch, what keeps a plug for a transient problem still does.
func TestPlanMovedLSPNeverKeepsItsPlug(t *testing.T) {
	hosts := twoHosts(t)
	host1Reps := reps(0)
	host1Reps.controller = 1
	claims := claimOf("host1", "a1", "lsp1", "vf 0", ls1)
	plugged := world(nil, claimedRow("rep0", "lsp1", "a1", ls1))
	moved := func(b binding) map[string]request {
		b.lsp, b.ls = "lsp1", ls2
		return requests(b)
	}
	unplugged := []change{unplugOf("lsp1", "rep0")}
	runPlanCases(t, []planCase{{
		name: "moved, owner made another host", hosts: hosts, reps: host1Reps, claims: claims, ovs: plugged,
		reqs: moved(binding{attachment: "a1", owner: "host2"}), changes: unplugged,
		statuses: map[string]phase{"lsp1": {errorPhase, "but the port's ovn-dpu:owner"}},
	}, {
		name: "moved, attachment changed", hosts: hosts, reps: host1Reps, claims: claims, ovs: plugged,
		reqs: moved(binding{attachment: "forged"}), changes: unplugged,
		statuses: map[string]phase{"lsp1": {pending, "no claim from host host1"}}, wakeAt: t0.Add(repWait),
	}, {
		name: "moved, an option made invalid", hosts: hosts, reps: host1Reps, claims: claims, ovs: plugged,
		reqs: moved(binding{attachment: "a1", options: map[string]string{vifplug.OptVFNum: "x"}}), changes: unplugged,
		statuses: map[string]phase{"lsp1": {errorPhase, vifplug.OptVFNum}},
	}, {
		name: "moved, pointed at a PF the DPU does not know", hosts: hosts, reps: host1Reps, claims: claims, ovs: plugged,
		reqs: moved(binding{attachment: "a1", options: map[string]string{vifplug.OptPFMAC: "0e:00:00:00:00:99"}}), changes: unplugged,
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor"}}, wakeAt: t0.Add(repWait),
	}, {
		name: "in its own switch, owner made another host: the plug stays", hosts: hosts, reps: host1Reps, claims: claims, ovs: plugged,
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", owner: "host2", ls: ls1}),
		statuses: map[string]phase{"lsp1": {errorPhase, "but the port's ovn-dpu:owner"}},
	}, {
		name: "in its own switch, the representor briefly gone from devlink: the plug stays", hosts: hosts, reps: reps(), claims: claims,
		ovs: plugged, reqs: requests(binding{lsp: "lsp1", attachment: "a1", ls: ls1}),
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor"}}, wakeAt: t0.Add(repWait),
	}})
}

// TestPlanPlugFromBeforeHosts: a port plugged before --hosts was set
// records no switch; it is kept while its host's claim is awaited, and
// unplugged once the wait is over without one; a claim records the switch.
func TestPlanPlugFromBeforeHosts(t *testing.T) {
	r := reps(0)
	r.controller = 1
	tc := planCase{hosts: twoHosts(t), reps: r, reqs: requests(binding{lsp: "lsp1", attachment: "a1", ls: ls1}),
		ovs: world(nil, ourRow("rep0", "lsp1", "a1", installed...))}
	in := tc.input()
	out := planPass(in)
	if len(out.changes) != 0 || out.statuses["lsp1"].Phase != pending {
		t.Fatalf("while the claim is awaited: %v %v, want the plug kept, PENDING", out.changes, out.statuses["lsp1"].Phase)
	}
	first := out.mem
	in.mem, in.now = first, t0.Add(repWait)
	if out := planPass(in); len(out.changes) != 1 || out.changes[0].kind != changeUnplug {
		t.Fatalf("after the wait, no claim: changes %v, want the unplug", out.changes)
	}
	in.mem, in.now, in.claims = first, t0.Add(time.Second), claimOf("host1", "a1", "lsp1", "vf 0", ls1)
	out = planPass(in)
	if len(out.changes) != 1 || out.changes[0].kind != changeUpdate || out.changes[0].setIDs[vifplug.IfaceSwitch] != ls1 {
		t.Errorf("its claim arrives: changes %v, want the switch recorded on the interface", out.changes)
	}
}

// TestPlanUnclaimedTurnsError: an unclaimed request is ERROR once the
// grace period is over, naming the missing claim; a claim arriving after
// that plugs it.
func TestPlanUnclaimedTurnsError(t *testing.T) {
	r := reps(0)
	r.controller = 1
	tc := planCase{hosts: twoHosts(t), reps: r, reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0, ls: ls1})}
	in := tc.input()
	out := planPass(in)
	in.mem, in.now = out.mem, t0.Add(repWait)
	out = planPass(in)
	if st := out.statuses["lsp1"]; st.Phase != errorPhase || !strings.Contains(st.Reason, "no claim from host host1") || len(out.changes) != 0 {
		t.Fatalf("after the grace period: %v %q, changes %v; want ERROR naming the claim, no change", st.Phase, st.Reason, out.changes)
	}
	in.mem, in.claims = out.mem, claimOf("host1", "a1", "lsp1", "vf 0", ls1)
	if out := planPass(in); len(out.changes) != 1 || out.changes[0].kind != changePlug {
		t.Errorf("a late claim: changes %v, want the plug", out.changes)
	}
}

func TestParseHosts(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "", want: ""},
		{in: "host-a=1", want: "host-a=1"},
		{in: "host-b=2, host-a=1", want: "host-a=1,host-b=2"},
		{in: "host-a", err: "want NAME=CONTROLLER"},
		{in: "=1", err: "want NAME=CONTROLLER"},
		{in: "host-a=x", err: `controller "x" is not a devlink controller number`},
		{in: "host-a=-1", err: "not a devlink controller number"},
		{in: "host-a=0", err: "controller 0 is the DPU's own functions"},
		{in: "host-a=1,host-a=2", err: `host "host-a" is named twice`},
		{in: "host-a=1,host-b=1", err: `controller 1 is mapped to both "host-a" and "host-b"`},
	} {
		h, err := ParseHosts(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseHosts(%q): %v, want an error containing %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("ParseHosts(%q): %v", tc.in, err)
		case h.String() != tc.want || h.Enabled() != (tc.want != ""):
			t.Errorf("ParseHosts(%q) = %q (enabled %v), want %q", tc.in, h.String(), h.Enabled(), tc.want)
		}
	}
}
