package ops

import (
	"fmt"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
)

// CreateLSP returns the operations that create lsp (its UUID field a
// named-uuid) and add it to the logical switch lsUUID.
func CreateLSP(c client.Client, lsUUID string, lsp *nbdb.LogicalSwitchPort) ([]ovsdb.Operation, error) {
	ops, err := c.Create(lsp)
	if err != nil {
		return nil, fmt.Errorf("create logical switch port %s: %w", lsp.Name, err)
	}
	ls := &nbdb.LogicalSwitch{UUID: lsUUID}
	add, err := c.Where(ls).Mutate(ls, model.Mutation{Field: &ls.Ports, Mutator: ovsdb.MutateOperationInsert, Value: []string{lsp.UUID}})
	if err != nil {
		return nil, fmt.Errorf("add logical switch port %s to switch %s: %w", lsp.Name, lsUUID, err)
	}
	return append(ops, add...), nil
}

// DeleteLSP returns the operation that removes lspUUID from whichever
// logical switch holds it; OVSDB then garbage-collects the port. The
// switch is found by the server (ports includes the UUID), so callers
// need not monitor the switches' port lists, and a port already gone is a
// no-op.
func DeleteLSP(c client.Client, lspUUID string) ([]ovsdb.Operation, error) {
	ls := &nbdb.LogicalSwitch{}
	ops, err := c.WhereAll(ls, model.Condition{Field: &ls.Ports, Function: ovsdb.ConditionIncludes, Value: []string{lspUUID}}).
		Mutate(ls, model.Mutation{Field: &ls.Ports, Mutator: ovsdb.MutateOperationDelete, Value: []string{lspUUID}})
	if err != nil {
		return nil, fmt.Errorf("delete logical switch port %s: %w", lspUUID, err)
	}
	return ops, nil
}

// SetLSPAddresses returns the operation that sets the addresses and
// port_security of the LSP lspUUID, provided its external_ids still carry
// key=value, so a row that has changed hands is never touched; the
// result's Count says whether it matched.
func SetLSPAddresses(c client.Client, lspUUID, key, value string, addresses, portSecurity []string) ([]ovsdb.Operation, error) {
	lsp := &nbdb.LogicalSwitchPort{UUID: lspUUID, Addresses: addresses, PortSecurity: portSecurity}
	ops, err := c.WhereAll(lsp,
		model.Condition{Field: &lsp.UUID, Function: ovsdb.ConditionEqual, Value: lspUUID},
		model.Condition{Field: &lsp.ExternalIDs, Function: ovsdb.ConditionIncludes, Value: map[string]string{key: value}},
	).Update(lsp, &lsp.Addresses, &lsp.PortSecurity)
	if err != nil {
		return nil, fmt.Errorf("set addresses and port_security of logical switch port %s: %w", lspUUID, err)
	}
	return ops, nil
}
