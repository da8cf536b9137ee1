package hostagent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// northbound is the host agent's NB session.
type northbound struct {
	c    client.Client
	node string
}

// Connected reports whether the session is up.
func (nb *northbound) Connected() bool { return nb.c.Connected() }

// Close ends the session.
func (nb *northbound) Close() { nb.c.Close() }

// connectNB monitors what ADD and DEL read: every Logical_Switch's name
// (not its ports column, which on a cloud-sized NB is most of the data) and
// this node's own LSPs, found by their ovn-dpu:owner.
func connectNB(ctx context.Context, remotes []string, tlsCfg *tls.Config, node string, log *slog.Logger) (*northbound, error) {
	dbModel, err := nbdb.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	c, err := conn.New(dbModel, conn.Config{Remotes: remotes, TLS: tlsCfg, LeaderOnly: true}, log)
	if err != nil {
		return nil, err
	}
	if err := conn.Connect(ctx, c, log); err != nil {
		return nil, err
	}
	ls, lsp := &nbdb.LogicalSwitch{}, &nbdb.LogicalSwitchPort{}
	_, err = c.Monitor(ctx, c.NewMonitor(
		client.WithTable(ls, &ls.Name),
		client.WithConditionalTable(lsp,
			[]model.Condition{{Field: &lsp.ExternalIDs, Function: ovsdb.ConditionIncludes, Value: vifplug.OwnerSelector(node)}},
			&lsp.Name, &lsp.ExternalIDs, &lsp.Options, &lsp.Addresses),
	))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("monitor OVN NB %v: %w", remotes, err)
	}
	return &northbound{c: c, node: node}, nil
}

// SwitchUUID finds the logical switch named name. A name several switches
// share is an error, not a guess: NB does not make names unique.
func (nb *northbound) SwitchUUID(ctx context.Context, name string) (string, error) {
	var found []*nbdb.LogicalSwitch
	err := nb.c.WhereCache(func(ls *nbdb.LogicalSwitch) bool { return ls.Name == name }).List(ctx, &found)
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("logical switch %q does not exist in OVN NB", name)
	case 1:
		return found[0].UUID, nil
	default:
		return "", fmt.Errorf("logical switch name %q matches %d switches in OVN NB; rename them or use a unique name", name, len(found))
	}
}

// OwnLSP returns this node's LSP called name, nil when there is none.
func (nb *northbound) OwnLSP(ctx context.Context, name string) (*nbdb.LogicalSwitchPort, error) {
	var found []*nbdb.LogicalSwitchPort
	err := nb.c.WhereCache(func(p *nbdb.LogicalSwitchPort) bool { return p.Name == name }).List(ctx, &found)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return found[0], nil
}

// OwnLSPs lists this node's LSPs of a CNI network, from the cache.
func (nb *northbound) OwnLSPs(ctx context.Context, network string) ([]*nbdb.LogicalSwitchPort, error) {
	var found []*nbdb.LogicalSwitchPort
	err := nb.c.WhereCache(func(p *nbdb.LogicalSwitchPort) bool { return p.ExternalIDs[vifplug.ExtNetwork] == network }).List(ctx, &found)
	return found, err
}

// LSPExists asks the server (not the cache, which holds only our own LSPs)
// whether any LSP is called name.
func (nb *northbound) LSPExists(ctx context.Context, name string) (bool, error) {
	rows, err := ops.SelectByName(ctx, nb.c, nbdb.LogicalSwitchPortTable, name, "_uuid")
	return len(rows) > 0, err
}

// CreateLSP writes lsp into the switch in one transaction. A switch deleted
// since the lookup would make the insert a no-op (the unreferenced port is
// garbage-collected), so the mutation must have hit exactly one switch.
func (nb *northbound) CreateLSP(ctx context.Context, lsUUID string, lsp *nbdb.LogicalSwitchPort) error {
	txn, err := ops.CreateLSP(nb.c, lsUUID, lsp)
	if err != nil {
		return err
	}
	res, err := ops.Transact(ctx, nb.c, txn)
	if err != nil {
		return err
	}
	if last := res[len(txn)-1]; last.Count != 1 {
		return fmt.Errorf("logical switch %s disappeared while adding port %s", lsUUID, lsp.Name)
	}
	return nil
}

// DeleteOwnLSP deletes this node's LSP called name for attachment; it
// never touches an LSP another owner (or another attachment) holds, and
// succeeds when the LSP is already gone. It asks the server, not the
// cache: after an ADD whose create timed out, the LSP may exist although
// this agent never saw the reply.
func (nb *northbound) DeleteOwnLSP(ctx context.Context, name, attachment string) error {
	rows, err := ops.SelectByName(ctx, nb.c, nbdb.LogicalSwitchPortTable, name, "_uuid", "external_ids")
	if err != nil {
		return err
	}
	var txn []ovsdb.Operation
	for _, row := range rows {
		if !ownedBy(row, nb.node, attachment) {
			continue // another owner's, or a newer attachment took the name over
		}
		del, err := ops.DeleteLSP(nb.c, ops.RowUUID(row))
		if err != nil {
			return err
		}
		txn = append(txn, del...)
	}
	_, err = ops.Transact(ctx, nb.c, txn)
	return err
}

// ownedBy reports whether a selected LSP row carries this node's owner and
// the attachment id.
func ownedBy(row ovsdb.Row, node, attachment string) bool {
	ids, ok := row["external_ids"].(ovsdb.OvsMap)
	return ok && ids.GoMap[vifplug.ExtOwner] == node && ids.GoMap[vifplug.ExtAttachment] == attachment
}
