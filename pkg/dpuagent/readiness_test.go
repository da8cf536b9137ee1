package dpuagent

import (
	"bytes"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
)

// readinessRows is a DPU's OVS database as the checks read it.
type readinessRows struct {
	root    *vswitchd.OpenvSwitch
	bridges []*vswitchd.Bridge
	ifaces  []*vswitchd.Interface
}

func (r readinessRows) state(bridge string) ovsState {
	st := newOVSState(bridge, r.bridges, nil, r.ifaces)
	st.root = r.root
	return st
}

// dpuRoot is the Open_vSwitch row of a DPU set up as docs/dpu-setup.md says.
func dpuRoot(otherConfig, externalIDs map[string]string) *vswitchd.OpenvSwitch {
	root := &vswitchd.OpenvSwitch{UUID: "root", OtherConfig: map[string]string{"hw-offload": "true"},
		ExternalIDs: map[string]string{"system-id": "dpu1", "ovn-remote": "ssl:sb:6642"}}
	for k, v := range otherConfig {
		if v == "" {
			delete(root.OtherConfig, k)
			continue
		}
		root.OtherConfig[k] = v
	}
	for k, v := range externalIDs {
		root.ExternalIDs[k] = v
	}
	return root
}

func brInt(datapathType string) []*vswitchd.Bridge {
	return []*vswitchd.Bridge{{UUID: "br", Name: "br-int", DatapathType: datapathType}}
}

func TestCheckReadiness(t *testing.T) {
	ovnPlugged := []*vswitchd.Interface{{UUID: "i1", Name: "pf0vf3",
		ExternalIDs: map[string]string{"ovn-plugged": "representor", "iface-id": "p"}}}
	ours := []*vswitchd.Interface{{UUID: "i2", Name: "pf0vf4",
		ExternalIDs: map[string]string{"ovn-dpu-plugged": "representor", "iface-id": "q"}}}
	for _, tc := range []struct {
		name    string
		rows    readinessRows
		bridge  string
		plugger Plugger
		want    map[string]string // check -> a word of its message
	}{{
		name: "a DPU set up right: no problem",
		rows: readinessRows{root: dpuRoot(nil, nil), bridges: brInt(""), ifaces: ours},
	}, {
		name: "datapath_type system spelled out equals the default",
		rows: readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge-datapath-type": "system"}), bridges: brInt("system")},
	}, {
		name: "the test bed: netdev asked for and got, hw-offload unset",
		rows: readinessRows{root: dpuRoot(map[string]string{"hw-offload": ""}, map[string]string{"ovn-bridge-datapath-type": "netdev"}),
			bridges: brInt("netdev")},
		want: map[string]string{CheckHWOffload: "software"},
	}, {
		name: "hw-offload false",
		rows: readinessRows{root: dpuRoot(map[string]string{"hw-offload": "false"}, nil), bridges: brInt("")},
		want: map[string]string{CheckHWOffload: "software"},
	}, {
		name: "no br-int: ovn-controller not running",
		rows: readinessRows{root: dpuRoot(nil, nil)},
		want: map[string]string{CheckBridge: "missing"},
	}, {
		name: "no Open_vSwitch row yet: only the bridge is reported",
		rows: readinessRows{},
		want: map[string]string{CheckBridge: "missing"},
	}, {
		name: "br-int netdev and no ovn-bridge-datapath-type: ovn-controller leaves it, so do the checks",
		rows: readinessRows{root: dpuRoot(nil, nil), bridges: brInt("netdev")},
	}, {
		name: "br-int netdev while OVN asks for system",
		rows: readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge-datapath-type": "system"}), bridges: brInt("netdev")},
		want: map[string]string{CheckBridge: "datapath type"},
	}, {
		name: "the per-chassis key wins, as in OVN 23.09+",
		rows: readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge-datapath-type": "netdev",
			"ovn-bridge-datapath-type-dpu1": "system"}), bridges: brInt("netdev")},
		want: map[string]string{CheckBridge: "datapath type"},
	}, {
		name: "br-int system while OVN asks for netdev",
		rows: readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge-datapath-type": "netdev"}), bridges: brInt("")},
		want: map[string]string{CheckBridge: "datapath type"},
	}, {
		name: "ovn-controller integrates another bridge",
		rows: readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge": "br-ovn"}), bridges: brInt("")},
		want: map[string]string{CheckBridge: "another bridge"},
	}, {
		name:   "--bridge matches ovn-bridge",
		rows:   readinessRows{root: dpuRoot(nil, map[string]string{"ovn-bridge": "br-ovn"}), bridges: []*vswitchd.Bridge{{Name: "br-ovn"}}},
		bridge: "br-ovn",
	}, {
		name: "ovn-controller plugs representors with --plugger agent",
		rows: readinessRows{root: dpuRoot(nil, nil), bridges: brInt(""), ifaces: slices.Concat(ovnPlugged, ours)},
		want: map[string]string{CheckVIFPlugProvider: "race"},
	}, {
		name:    "ovn-controller plugs representors with --plugger ovn-controller: as it should",
		rows:    readinessRows{root: dpuRoot(nil, nil), bridges: brInt(""), ifaces: ovnPlugged},
		plugger: PluggerOVNController,
	}, {
		name: "everything wrong at once",
		rows: readinessRows{root: dpuRoot(map[string]string{"hw-offload": ""}, nil), ifaces: ovnPlugged},
		want: map[string]string{CheckVIFPlugProvider: "race", CheckHWOffload: "software", CheckBridge: "missing"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			bridge, plugger := tc.bridge, tc.plugger
			if bridge == "" {
				bridge = testBridge
			}
			if plugger == "" {
				plugger = PluggerAgent
			}
			got := checkReadiness(tc.rows.state(bridge), bridge, plugger)
			for check, p := range got {
				word, ok := tc.want[check]
				if !ok {
					t.Errorf("unexpected problem %s: %s %v", check, p.msg, p.args)
					continue
				}
				if !strings.Contains(p.msg, word) {
					t.Errorf("%s: message %q should say %q", check, p.msg, word)
				}
				if !slices.Contains(p.args, any("fix")) {
					t.Errorf("%s: no fix in %v", check, p.args)
				}
			}
			for check := range tc.want {
				if _, ok := got[check]; !ok {
					t.Errorf("problem %s not reported", check)
				}
			}
		})
	}
}

// TestReadinessLoggedOnChange: a problem is logged once when it appears,
// once when it goes, never again while it stays; the gauge follows.
func TestReadinessLoggedOnChange(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gauge := newReadinessGauge()
	var r readiness
	offloadOff := readinessRows{root: dpuRoot(map[string]string{"hw-offload": ""}, nil), bridges: brInt("")}
	fine := readinessRows{root: dpuRoot(nil, nil), bridges: brInt("")}
	noBridge := readinessRows{root: dpuRoot(nil, nil)}
	steps := []struct {
		rows  readinessRows
		lines []string // what this step logs
		gauge map[string]float64
	}{
		{offloadOff, []string{`level=WARN msg="DPU readiness: OVS hardware offload is off`},
			map[string]float64{CheckHWOffload: 1, CheckBridge: 0, CheckVIFPlugProvider: 0}},
		{offloadOff, nil, map[string]float64{CheckHWOffload: 1}},
		{offloadOff, nil, map[string]float64{CheckHWOffload: 1}},
		{fine, []string{`level=INFO msg="DPU readiness: problem resolved" check=hw-offload`}, map[string]float64{CheckHWOffload: 0}},
		{fine, nil, map[string]float64{CheckHWOffload: 0}},
		{noBridge, []string{`level=WARN msg="DPU readiness: integration bridge missing`}, map[string]float64{CheckBridge: 1}},
		{noBridge, nil, map[string]float64{CheckBridge: 1}},
	}
	for i, s := range steps {
		buf.Reset()
		r.update(log, gauge, checkReadiness(s.rows.state(testBridge), testBridge, PluggerAgent))
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		if buf.Len() == 0 {
			lines = nil
		}
		if len(lines) != len(s.lines) {
			t.Fatalf("step %d logged %d lines, want %d:\n%s", i, len(lines), len(s.lines), buf.String())
		}
		for j, want := range s.lines {
			if !strings.Contains(lines[j], want) {
				t.Errorf("step %d line %q should contain %q", i, lines[j], want)
			}
		}
		for check, want := range s.gauge {
			if got := testutil.ToFloat64(gauge.WithLabelValues(check)); got != want {
				t.Errorf("step %d: readiness_problem{check=%q} = %v, want %v", i, check, got, want)
			}
		}
	}
}

// TestReadinessAllPassedOnce: a healthy DPU says so once, at the first
// evaluation.
func TestReadinessAllPassedOnce(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	var r readiness
	fine := readinessRows{root: dpuRoot(nil, nil), bridges: brInt("")}
	for range 3 {
		r.update(log, newReadinessGauge(), checkReadiness(fine.state(testBridge), testBridge, PluggerAgent))
	}
	if n := strings.Count(buf.String(), "all checks passed"); n != 1 {
		t.Errorf("logged %d times that all checks passed, want 1:\n%s", n, buf.String())
	}
}
