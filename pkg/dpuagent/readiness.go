package dpuagent

import (
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// DPU readiness checks: configuration of this DPU that does not stop the
// agent but makes it plug into a switch that will not work well, or at
// all. They are read from the OVS rows the agent monitors, re-evaluated on
// every reconcile pass, and logged only when a check's verdict changes
// (WARN with what to do when a problem appears, INFO when it is gone); the
// gauge ovndpu_dpu_readiness_problem{check} mirrors them. They are not
// part of /readyz: a DPU without hardware offload still plugs ports
// correctly, and a missing br-int already shows as PENDING ports — a
// failing readiness probe would only take the agent's Service away from
// hosts that need it to hear why. docs/dpu-setup.md explains each check.

// Readiness check names, the check label of the metric.
const (
	// CheckVIFPlugProvider: ovn-controller's own representor VIF plug
	// provider plugs representors while this agent does too.
	CheckVIFPlugProvider = "ovn-controller-vif-plug"
	// CheckHWOffload: Open_vSwitch other_config:hw-offload is not true.
	CheckHWOffload = "hw-offload"
	// CheckBridge: the integration bridge is missing, is not the one
	// ovn-controller uses, or has another datapath type than OVN asks for.
	CheckBridge = "bridge"
)

// readinessChecks lists every check, in the order they are logged.
var readinessChecks = []string{CheckVIFPlugProvider, CheckHWOffload, CheckBridge}

// Open_vSwitch keys the checks read: OVS's and ovn-controller's, not the
// vifplug contract's.
const (
	ovsHWOffload             = "hw-offload"               // other_config
	ovsOVNBridge             = "ovn-bridge"               // external_ids; ovn-controller's default br-int
	ovsOVNBridgeDatapathType = "ovn-bridge-datapath-type" // external_ids; unset: not managed
	datapathSystem           = "system"                   // a bridge's datapath_type "" means this
)

// readinessProblem is one failed check: a message and structured detail,
// with "fix" saying what to do.
type readinessProblem struct {
	msg  string
	args []any
}

// key identifies a problem's content, so a verdict that did not change is
// not logged again.
func (p readinessProblem) key() string { return fmt.Sprint(p.msg, p.args) }

// checkReadiness evaluates every check against st; a check that passes is
// absent from the result.
func checkReadiness(st ovsState, bridge string, plugger Plugger) map[string]readinessProblem {
	out := map[string]readinessProblem{}
	if p, bad := checkVIFPlug(st, plugger); bad {
		out[CheckVIFPlugProvider] = p
	}
	if p, bad := checkHWOffload(st.root); bad {
		out[CheckHWOffload] = p
	}
	if p, bad := checkBridge(st, bridge); bad {
		out[CheckBridge] = p
	}
	return out
}

// checkVIFPlug: OVN 23.03 publishes no database key or command saying which
// VIF plug providers ovn-controller has; what shows is its work, interfaces
// it marked external_ids:ovn-plugged=representor.
func checkVIFPlug(st ovsState, plugger Plugger) (readinessProblem, bool) {
	if plugger != PluggerAgent {
		return readinessProblem{}, false
	}
	var ifaces []string
	for _, i := range st.ifaces {
		if vifplug.PluggedByOVN(i.ExternalIDs) {
			ifaces = append(ifaces, i.Name)
		}
	}
	if len(ifaces) == 0 {
		return readinessProblem{}, false
	}
	slices.Sort(ifaces)
	return readinessProblem{
		msg: "ovn-controller's own representor VIF plug provider plugs representors on this DPU too; the two pluggers race",
		args: []any{"interfaces", ifaces, "marked", vifplug.IfaceOVNPlugged + "=" + vifplug.PlugTypeRepresentor,
			"fix", "run ovn-dpu-agent with --plugger " + string(PluggerOVNController) +
				", or run an ovn-controller built without the representor provider"},
	}, true
}

func checkHWOffload(root *vswitchd.OpenvSwitch) (readinessProblem, bool) {
	if root == nil {
		return readinessProblem{}, false // before ovs-vsctl init: the bridge check says enough
	}
	v, set := root.OtherConfig[ovsHWOffload]
	if v == "true" {
		return readinessProblem{}, false
	}
	if !set {
		v = "unset"
	}
	return readinessProblem{
		msg: "OVS hardware offload is off: this DPU switches every packet in software",
		args: []any{"other_config:" + ovsHWOffload, v,
			"fix", "ovs-vsctl set Open_vSwitch . other_config:" + ovsHWOffload + "=true, then restart ovs-vswitchd " +
				"(it reads hw-offload at start)"},
	}, true
}

func checkBridge(st ovsState, bridge string) (readinessProblem, bool) {
	var ids map[string]string
	if st.root != nil {
		ids = st.root.ExternalIDs
	}
	if ovnBridge := chassisExternalID(ids, ovsOVNBridge); ovnBridge != "" && ovnBridge != bridge {
		return readinessProblem{
			msg: "the agent plugs into another bridge than ovn-controller integrates",
			args: []any{"bridge", bridge, "external_ids:" + ovsOVNBridge, ovnBridge,
				"fix", "run ovn-dpu-agent with --bridge " + ovnBridge},
		}, true
	}
	if st.bridge == nil {
		return readinessProblem{
			msg: "integration bridge missing: ovn-controller is not running or not configured yet (it creates the bridge)",
			args: []any{"bridge", bridge,
				"fix", "start ovn-controller on this DPU and set Open_vSwitch external_ids:system-id, ovn-remote, " +
					"ovn-encap-type and ovn-encap-ip (docs/dpu-setup.md)"},
		}, true
	}
	// Unset, ovn-controller leaves the bridge's datapath type alone.
	asked := chassisExternalID(ids, ovsOVNBridgeDatapathType)
	want, have := datapathType(asked), datapathType(st.bridge.DatapathType)
	if asked == "" || want == have {
		return readinessProblem{}, false
	}
	return readinessProblem{
		msg: "integration bridge has another datapath type than OVN asks for",
		args: []any{"bridge", bridge, "datapath_type", have, "external_ids:" + ovsOVNBridgeDatapathType, want,
			"fix", "ovn-controller sets the bridge's datapath_type from external_ids:" + ovsOVNBridgeDatapathType +
				": check it runs; on a DPU with hardware offload use " + datapathSystem},
	}, true
}

// chassisExternalID reads an ovn-controller setting from Open_vSwitch
// external_ids the way newer ovn-controllers do (several chassis on one
// OVS): KEY-<system-id> first, then KEY, which is all older ones read.
func chassisExternalID(ids map[string]string, key string) string {
	if v := ids[key+"-"+ids[ovsSystemID]]; ids[ovsSystemID] != "" && v != "" {
		return v
	}
	return ids[key]
}

// datapathType spells OVS's default datapath type.
func datapathType(t string) string {
	if t == "" {
		return datapathSystem
	}
	return t
}

// readiness is the agent's record of the checks' last verdicts; owned by
// the reconcile goroutine.
type readiness struct {
	evaluated bool
	problems  map[string]readinessProblem
}

// update records verdicts and logs the changes: a WARN for each new or
// changed problem, an INFO for each resolved one, and once, at the first
// evaluation without problems, that every check passed.
func (r *readiness) update(log *slog.Logger, gauge *prometheus.GaugeVec, now map[string]readinessProblem) {
	first := !r.evaluated
	r.evaluated = true
	for _, check := range readinessChecks {
		p, bad := now[check]
		old, wasBad := r.problems[check]
		switch {
		case bad && (!wasBad || old.key() != p.key()):
			log.Warn("DPU readiness: "+p.msg, append([]any{"check", check}, p.args...)...)
		case !bad && wasBad:
			log.Info("DPU readiness: problem resolved", "check", check, "was", old.msg)
		}
		v := 0.0
		if bad {
			v = 1
		}
		gauge.WithLabelValues(check).Set(v)
	}
	if first && len(now) == 0 {
		log.Info("DPU readiness: all checks passed", "checks", readinessChecks)
	}
	r.problems = now
}

// newReadinessGauge has a series per check from the start, at 0 until the
// first evaluation says otherwise.
func newReadinessGauge() *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: "ovndpu", Subsystem: "dpu", Name: "readiness_problem",
		Help: "1 while a DPU readiness check fails (check: " + fmt.Sprint(readinessChecks) + "), else 0; " +
			"the agent logs each change. See docs/dpu-setup.md.",
	}, []string{"check"})
	for _, c := range readinessChecks {
		g.WithLabelValues(c)
	}
	return g
}
