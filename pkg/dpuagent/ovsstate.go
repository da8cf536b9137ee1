package dpuagent

import (
	"context"
	"fmt"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// ovsState is the slice of the local OVS database plugging looks at.
type ovsState struct {
	bridge *vswitchd.Bridge // nil until ovn-controller creates it
	// root is the Open_vSwitch row (nil before ovs-vsctl init): its
	// next_cfg and cur_cfg tell whether ovs-vswitchd has applied the
	// database yet.
	root   *vswitchd.OpenvSwitch
	ifaces map[string]*vswitchd.Interface
	// portOf maps an interface UUID to its port, bridgeOf a port UUID to
	// its bridge name.
	portOf      map[string]*vswitchd.Port
	bridgeOf    map[string]string
	bridgeUUIDs map[string]string // by bridge name
}

func (a *Agent) readOVS(ctx context.Context) (ovsState, error) {
	var bridges []*vswitchd.Bridge
	var ports []*vswitchd.Port
	var ifaces []*vswitchd.Interface
	var roots []*vswitchd.OpenvSwitch
	for _, list := range []any{&bridges, &ports, &ifaces, &roots} {
		if err := a.ovs().List(ctx, list); err != nil {
			return ovsState{}, fmt.Errorf("read OVS cache: %w", err)
		}
	}
	st := newOVSState(a.cfg.Bridge, bridges, ports, ifaces)
	if len(roots) == 1 {
		st.root = roots[0]
	}
	return st, nil
}

// newOVSState indexes the rows of the OVS database; bridge is the agent's.
func newOVSState(bridge string, bridges []*vswitchd.Bridge, ports []*vswitchd.Port, ifaces []*vswitchd.Interface) ovsState {
	st := ovsState{ifaces: map[string]*vswitchd.Interface{}, portOf: map[string]*vswitchd.Port{}, bridgeOf: map[string]string{},
		bridgeUUIDs: map[string]string{}}
	for _, b := range bridges {
		st.bridgeUUIDs[b.Name] = b.UUID
		if b.Name == bridge {
			st.bridge = b
		}
		for _, p := range b.Ports {
			st.bridgeOf[p] = b.Name
		}
	}
	for _, p := range ports {
		for _, i := range p.Interfaces {
			st.portOf[i] = p
		}
	}
	for _, i := range ifaces {
		st.ifaces[i.Name] = i
	}
	return st
}

// ours reports whether this agent plugged iface.
func ours(iface *vswitchd.Interface) bool {
	return vifplug.PluggedByAgent(iface.ExternalIDs)
}

// inBridge reports whether iface is a port of the agent's bridge.
func (st ovsState) inBridge(iface *vswitchd.Interface) bool {
	p := st.portOf[iface.UUID]
	return p != nil && st.bridge != nil && st.bridgeOf[p.UUID] == st.bridge.Name
}

// oursInBridge lists the interfaces this agent plugged into its bridge,
// by name.
func (st ovsState) oursInBridge() []*vswitchd.Interface {
	var out []*vswitchd.Interface
	for _, i := range st.ifaces {
		if ours(i) && st.inBridge(i) {
			out = append(out, i)
		}
	}
	return sortedIfaces(out)
}

// vswitchdApplied reports whether ovs-vswitchd has applied the database
// up to configuration request cfg (its next_cfg then), and every request
// since: cur_cfg is the last next_cfg it acted on. Without an
// Open_vSwitch row there is nothing to wait for.
func (st ovsState) vswitchdApplied(cfg int) bool {
	return st.root == nil || st.root.CurCfg >= max(cfg, st.root.NextCfg)
}

// bridgeRefOf names the bridge holding port.
func (st ovsState) bridgeRefOf(port *vswitchd.Port) bridgeRef {
	name := st.bridgeOf[port.UUID]
	return bridgeRef{uuid: st.bridgeUUIDs[name], name: name}
}
