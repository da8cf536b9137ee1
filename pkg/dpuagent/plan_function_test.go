package dpuagent

import (
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// SFs and the PF itself are planned like VFs: only the lookup differs.
func TestPlanFunctions(t *testing.T) {
	withFunctions := func(f fakeReps) fakeReps {
		f.sfs = map[uint32]string{88: "pf0sf88"}
		f.pf = "pf0hpf"
		return f
	}
	runPlanCases(t, []planCase{{
		name:     "an sf-num request plugs the SF representor",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", kind: vifplug.SF, sf: 88}),
		reps:     withFunctions(reps(0)),
		changes:  []change{plugOf("lsp1", "pf0sf88", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor pf0sf88 into br-int"}},
	}, {
		name:     "a request with neither vf-num nor sf-num plugs the PF representor",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", kind: vifplug.PF}),
		reps:     withFunctions(reps(0)),
		changes:  []change{plugOf("lsp1", "pf0hpf", "a1", nil)},
		statuses: map[string]phase{"lsp1": {pending, "plugging representor pf0hpf into br-int"}},
	}, {
		name:     "an unknown SF waits for its representor, naming the sf-num",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", kind: vifplug.SF, sf: 89}),
		reps:     withFunctions(reps(0)),
		statuses: map[string]phase{"lsp1": {pending, "waiting for the representor: no representor for pf-mac 0c:42:a1:00:00:01 sf-num 89"}},
		wakeAt:   t0.Add(repWait),
	}, {
		name: "vf-num and sf-num together: ERROR naming both",
		reqs: requests(binding{lsp: "lsp1", attachment: "a1", vf: 0,
			options: map[string]string{vifplug.OptSFNum: "88"}}),
		reps: withFunctions(reps(0)),
		statuses: map[string]phase{"lsp1": {errorPhase,
			"options " + vifplug.OptVFNum + " and " + vifplug.OptSFNum + " are both set"}},
	}, {
		name:     "a bad sf-num: ERROR naming it",
		reqs:     requests(binding{lsp: "lsp1", attachment: "a1", kind: vifplug.SF, options: map[string]string{vifplug.OptSFNum: "4294967296"}}),
		reps:     withFunctions(reps(0)),
		statuses: map[string]phase{"lsp1": {errorPhase, vifplug.OptSFNum + `="4294967296" is not a decimal SF number`}},
	}, {
		name: "an SF representor held by another port names the sf-num",
		reqs: requests(binding{lsp: "lsp-a", attachment: "a1", kind: vifplug.SF, sf: 88},
			binding{lsp: "lsp-b", attachment: "b1", kind: vifplug.SF, sf: 88}),
		reps:    withFunctions(reps(0)),
		changes: []change{plugOf("lsp-a", "pf0sf88", "a1", nil)},
		statuses: map[string]phase{
			"lsp-a": {pending, "plugging representor pf0sf88"},
			"lsp-b": {errorPhase, "representor pf0sf88 (" + vifplug.OptPFMAC + "=0c:42:a1:00:00:01 " + vifplug.OptSFNum + "=88) belongs to logical port lsp-a"},
		},
	}})
}
