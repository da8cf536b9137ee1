package ops

import (
	"fmt"
	"maps"
	"slices"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
)

// Comment returns a comment operation. ovsdb-server records it with the
// transaction in its database log, so `ovsdb-tool show-log` tells who
// wrote what — and tests can count exactly which transactions we made.
func Comment(text string) ovsdb.Operation {
	return ovsdb.Operation{Op: ovsdb.OperationComment, Comment: &text}
}

// PortSpec is one single-interface port to add to a bridge, named after its
// interface as `ovs-vsctl add-port` does.
type PortSpec struct {
	Name        string
	ExternalIDs map[string]string
	MTURequest  *int
}

// AddPort returns the operations that create spec's Port and Interface and
// attach the port to bridge. namedID must be unique within the transaction
// and a valid identifier (letters, digits, underscore).
func AddPort(c client.Client, bridge *vswitchd.Bridge, spec PortSpec, namedID string) ([]ovsdb.Operation, error) {
	iface := &vswitchd.Interface{UUID: "i" + namedID, Name: spec.Name, ExternalIDs: spec.ExternalIDs, MTURequest: spec.MTURequest}
	port := &vswitchd.Port{UUID: "p" + namedID, Name: spec.Name, Interfaces: []string{iface.UUID}}
	var ops []ovsdb.Operation
	for _, m := range []model.Model{iface, port} { // Create takes one table at a time
		op, err := c.Create(m)
		if err != nil {
			return nil, fmt.Errorf("create port %s: %w", spec.Name, err)
		}
		ops = append(ops, op...)
	}
	attach, err := mutateBridgePorts(c, bridge, ovsdb.MutateOperationInsert, port.UUID)
	if err != nil {
		return nil, err
	}
	return append(ops, attach...), nil
}

// DeletePort detaches portUUID from bridge; OVSDB garbage-collects the Port
// and its Interfaces once nothing references them.
func DeletePort(c client.Client, bridge *vswitchd.Bridge, portUUID string) ([]ovsdb.Operation, error) {
	return mutateBridgePorts(c, bridge, ovsdb.MutateOperationDelete, portUUID)
}

// BumpNextCfg increments the Open_vSwitch row's next_cfg, as ovs-vsctl
// does unless --no-wait: ovs-vswitchd sets cur_cfg to it once it has
// applied the database as of that transaction, so cur_cfg >= the new
// next_cfg tells that the transaction's changes reached the datapath.
func BumpNextCfg(c client.Client, rootUUID string) ([]ovsdb.Operation, error) {
	root := &vswitchd.OpenvSwitch{UUID: rootUUID}
	ops, err := c.Where(root).Mutate(root, model.Mutation{Field: &root.NextCfg, Mutator: ovsdb.MutateOperationAdd, Value: 1})
	if err != nil {
		return nil, fmt.Errorf("increment next_cfg: %w", err)
	}
	return ops, nil
}

func mutateBridgePorts(c client.Client, bridge *vswitchd.Bridge, mutator ovsdb.Mutator, portUUID string) ([]ovsdb.Operation, error) {
	ops, err := c.Where(&vswitchd.Bridge{UUID: bridge.UUID}).Mutate(bridge, model.Mutation{
		Field: &bridge.Ports, Mutator: mutator, Value: []string{portUUID},
	})
	if err != nil {
		return nil, fmt.Errorf("%s port %s in bridge %s: %w", mutator, portUUID, bridge.Name, err)
	}
	return ops, nil
}

// SetExternalIDs makes iface's external_ids carry want (and lack every key
// in remove) by mutation, touching no other key: replacing the whole map
// would wipe keys others own, such as ovn-controller's ovn-installed.
// It returns no operation when nothing differs.
func SetExternalIDs(c client.Client, iface *vswitchd.Interface, want map[string]string, remove []string) ([]ovsdb.Operation, error) {
	var stale []string
	insert := map[string]string{}
	for k, v := range want {
		if cur, ok := iface.ExternalIDs[k]; !ok || cur != v {
			insert[k] = v
			if ok {
				stale = append(stale, k)
			}
		}
	}
	for _, k := range remove {
		if _, ok := iface.ExternalIDs[k]; ok {
			stale = append(stale, k)
		}
	}
	var mutations []model.Mutation
	if len(stale) > 0 {
		slices.Sort(stale)
		mutations = append(mutations, model.Mutation{Field: &iface.ExternalIDs, Mutator: ovsdb.MutateOperationDelete, Value: stale})
	}
	if len(insert) > 0 {
		mutations = append(mutations, model.Mutation{Field: &iface.ExternalIDs, Mutator: ovsdb.MutateOperationInsert, Value: maps.Clone(insert)})
	}
	if len(mutations) == 0 {
		return nil, nil
	}
	ops, err := c.Where(&vswitchd.Interface{UUID: iface.UUID}).Mutate(iface, mutations...)
	if err != nil {
		return nil, fmt.Errorf("mutate external_ids of interface %s: %w", iface.Name, err)
	}
	return ops, nil
}

// SetMTURequest sets or clears iface's mtu_request; no operation when it
// already matches.
func SetMTURequest(c client.Client, iface *vswitchd.Interface, mtu *int) ([]ovsdb.Operation, error) {
	if equalPtr(iface.MTURequest, mtu) {
		return nil, nil
	}
	update := &vswitchd.Interface{UUID: iface.UUID, Name: iface.Name, MTURequest: mtu}
	ops, err := c.Where(update).Update(update, &update.MTURequest)
	if err != nil {
		return nil, fmt.Errorf("set mtu_request of interface %s: %w", iface.Name, err)
	}
	return ops, nil
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
