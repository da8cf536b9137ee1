package dpuagent

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// VF MAC set from the DPU (--set-function-mac). On BlueField-class NICs
// in restricted host mode the host cannot change its VFs' MACs: the DPU
// sets them, through the devlink port function of the VF's representor
// (`devlink port function set DEV/INDEX hw_addr MAC`). With the option,
// every plug (and re-plug) first sets the function's hw_addr to the
// logical port's MAC — the first MAC of the Port_Binding's mac column,
// which northd copies from the LSP's addresses — unless the devlink table
// shows it already; a set that fails is an ERROR naming the representor,
// the MAC and the kernel's error, and nothing is plugged. The host agent
// learns from Info (sets_function_mac) that it must leave the VF's MAC
// alone. docs/architecture.md, "VF MAC set from the DPU".

// functionPorts reads the devlink ports' function hw_addr;
// *devlink.Table is one.
type functionPorts interface {
	Port(handle string) (devlink.Port, bool)
}

// fnStep is what a plug must do first about the function's hw_addr: set
// port's to mac, or nothing (mac nil).
type fnStep struct {
	port devlink.Port
	mac  net.HardwareAddr
}

// doing words the step for the port's status.
func (f fnStep) doing() string {
	if f.mac == nil {
		return ""
	}
	return fmt.Sprintf("setting the function hw_addr of %s to %s, then ", f.port.Handle(), f.mac)
}

// functionMAC decides, with --set-function-mac, what r's plug must do
// first (see fnStep). ok is false when it cannot plug yet; st then says
// why (PENDING: the binding has no MAC yet — dynamic addresses are
// filled in by northd — or the representor's port left the table).
func (p *planner) functionMAC(r request, st *ovndpuv1.PortStatus) (fnStep, bool) {
	if !p.in.cfg.setFunctionMAC {
		return fnStep{}, true
	}
	rep := p.reps[r.lsp]
	if r.mac == nil {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf(
			"waiting for the Port_Binding's mac column to name a MAC: --set-function-mac sets it on %s's devlink function before plugging",
			rep.Netdev))
		return fnStep{}, false
	}
	port, found := p.in.functions.Port(rep.Handle)
	if !found {
		setPhase(st, ovndpuv1.Phase_PHASE_PENDING, fmt.Sprintf(
			"waiting for the representor: devlink port %s of %s is not in the table", rep.Handle, rep.Netdev))
		return fnStep{}, false
	}
	if bytes.Equal(port.HWAddr, r.mac) {
		return fnStep{port: port}, true
	}
	return fnStep{port: port, mac: r.mac}, true
}

// lspMAC is the logical port's MAC: the first MAC of the Port_Binding's
// mac column ("MAC IP..." entries, as in the LSP's addresses; "unknown",
// "router" and "dynamic" name none). Entries are taken in sorted order,
// so a port with several gets the same one every time. nil when none.
func lspMAC(entries []string) net.HardwareAddr {
	for _, e := range slices.Sorted(slices.Values(entries)) {
		fields := strings.Fields(e)
		if len(fields) == 0 {
			continue
		}
		if mac, err := net.ParseMAC(fields[0]); err == nil && len(mac) == 6 {
			return mac
		}
	}
	return nil
}

// setFunctionMACs sets the function hw_addr of every plug that needs it,
// before anything is written to OVS, and returns the changes still to
// write: a plug whose set failed is dropped and its port is ERROR with
// the representor, the MAC and the kernel's error.
func (a *Agent) setFunctionMACs(changes []change, out outcome) []change {
	kept := changes[:0:0]
	for _, c := range changes {
		if c.fnMAC == nil {
			kept = append(kept, c)
			continue
		}
		var err error
		if a.functions == nil {
			err = fmt.Errorf("the devlink source cannot set port functions")
		} else {
			err = a.functions.SetFunctionHWAddr(c.fnPort, c.fnMAC)
		}
		if err != nil {
			err = fmt.Errorf("could not set the function hw_addr of representor %s (devlink port %s) to %s: %w",
				c.iface, c.fnPort.Handle(), c.fnMAC, err)
			a.log.Error("set representor function MAC", "logical_port", c.lsp, "representor", c.iface,
				"devlink_port", c.fnPort.Handle(), "mac", c.fnMAC.String(), "err", err)
			out.rejected[c.lsp] = err
			continue
		}
		a.log.Info("representor function MAC set", "logical_port", c.lsp, "representor", c.iface,
			"devlink_port", c.fnPort.Handle(), "mac", c.fnMAC.String())
		kept = append(kept, c)
	}
	return kept
}
