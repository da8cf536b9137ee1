package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
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
	s    *conn.Session
	node string
	log  *slog.Logger
	// settleTime bounds the waits that settle unknown outcomes
	// (takenSettleTime; shorter in tests).
	settleTime time.Duration
	// lspChanged is closed (and replaced) whenever the cache's LSPs change,
	// so waits for northd's dynamic_addresses need not poll.
	mu         sync.Mutex
	lspChanged chan struct{}
	// blocked, when set (tests), is told each time WaitDynamicAddresses
	// has looked and is about to block.
	blocked func()
}

// Connected reports whether the session is up.
func (nb *northbound) Connected() bool {
	up, _ := nb.s.Up()
	return up
}

// Close ends the session.
func (nb *northbound) Close() { nb.s.Close() }

// connectNB monitors what the verbs read: every Logical_Switch's name and
// other_config (subnet and ipv6_prefix size OVN-assigned addresses; not its
// ports column, which on a cloud-sized NB is most of the data) and this
// node's own LSPs, found by their ovn-dpu:owner, with the columns CHECK
// compares and northd's dynamic_addresses. It returns once the first
// connection is up; the session then rides reconnects and leader changes
// by itself.
func connectNB(ctx context.Context, cfg conn.Config, node string, log *slog.Logger) (*northbound, error) {
	dbModel, err := nbdb.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	nb := &northbound{node: node, log: log, settleTime: takenSettleTime, lspChanged: make(chan struct{})}
	monitor := func(ctx context.Context, c client.Client) error {
		c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
			AddFunc:    func(string, model.Model) { nb.notifyLSPs() },
			UpdateFunc: func(string, model.Model, model.Model) { nb.notifyLSPs() },
			DeleteFunc: func(string, model.Model) { nb.notifyLSPs() },
		})
		ls, lsp := &nbdb.LogicalSwitch{}, &nbdb.LogicalSwitchPort{}
		_, err := c.Monitor(ctx, c.NewMonitor(
			client.WithTable(ls, &ls.Name, &ls.OtherConfig),
			client.WithConditionalTable(lsp,
				[]model.Condition{{Field: &lsp.ExternalIDs, Function: ovsdb.ConditionIncludes, Value: vifplug.OwnerSelector(node)}},
				&lsp.Name, &lsp.ExternalIDs, &lsp.Options, &lsp.Addresses, &lsp.PortSecurity, &lsp.DynamicAddresses),
		))
		return err
	}
	if nb.s, err = conn.Open(ctx, dbModel, cfg, monitor, log); err != nil {
		return nil, err
	}
	return nb, nil
}

func (nb *northbound) notifyLSPs() {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	close(nb.lspChanged)
	nb.lspChanged = make(chan struct{})
}

func (nb *northbound) lspsChanged() <-chan struct{} {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.lspChanged
}

// cache is the latest connection's client, for cache reads and building
// operations; while the session is down its cache may be stale.
func (nb *northbound) cache(ctx context.Context) (client.Client, error) {
	if c := nb.s.Client(); c != nil {
		return c, nil
	}
	return nb.s.Wait(ctx)
}

// LogicalSwitch finds the logical switch named name (its UUID, name and
// other_config). A name several switches share is an error, not a guess:
// NB does not make names unique.
func (nb *northbound) LogicalSwitch(ctx context.Context, name string) (*nbdb.LogicalSwitch, error) {
	var found []*nbdb.LogicalSwitch
	c, err := nb.cache(ctx)
	if err != nil {
		return nil, err
	}
	err = c.WhereCache(func(ls *nbdb.LogicalSwitch) bool { return ls.Name == name }).List(ctx, &found)
	if err != nil {
		return nil, err
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("logical switch %q does not exist in OVN NB", name)
	case 1:
		return found[0], nil
	default:
		return nil, fmt.Errorf("logical switch name %q matches %d switches in OVN NB; rename them or use a unique name", name, len(found))
	}
}

// WaitDynamicAddresses waits until northd has filled the dynamic_addresses
// of this attachment's LSP name and returns them ("MAC [IPv4] [IPv6]"). An
// LSP that vanishes from the cache once seen (deleted behind our back)
// ends the wait with errLSPGone rather than at the ADD's deadline.
func (nb *northbound) WaitDynamicAddresses(ctx context.Context, name, attachment string) (string, error) {
	seen := false
	for {
		changed := nb.lspsChanged() // before the look, so no change is missed
		c, err := nb.s.Wait(ctx)
		if err != nil {
			return "", err
		}
		lsp, err := ownLSP(ctx, c, name)
		if err != nil {
			return "", err
		}
		ours := lsp != nil && lsp.ExternalIDs[vifplug.ExtAttachment] == attachment
		switch {
		case ours && lsp.DynamicAddresses != nil && *lsp.DynamicAddresses != "":
			return *lsp.DynamicAddresses, nil
		case ours:
			seen = true
		case seen:
			return "", fmt.Errorf("%w while waiting for northd's dynamic_addresses: logical switch port %s of attachment %s", errLSPGone, name, attachment)
		}
		if nb.blocked != nil {
			nb.blocked()
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-changed:
		case <-nb.s.Changed(): // reconnected: the new cache may have it
		}
	}
}

// SetAddresses sets the addresses and port_security of this attachment's
// LSP name. The update matches the row by UUID and attachment, so it
// cannot touch an LSP that replaced ours; it is idempotent, so an unknown
// outcome is simply tried again on the next connection.
func (nb *northbound) SetAddresses(ctx context.Context, name, attachment string, addresses, portSecurity []string) error {
	for attempt := 1; ; attempt++ {
		err := nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
			lsp, err := ownLSP(ctx, c, name)
			if err != nil {
				return err
			}
			if lsp == nil || lsp.ExternalIDs[vifplug.ExtAttachment] != attachment {
				return fmt.Errorf("%w: logical switch port %s of attachment %s", errLSPGone, name, attachment)
			}
			txn, err := ops.SetLSPAddresses(c, lsp.UUID, vifplug.ExtAttachment, attachment, addresses, portSecurity)
			if err != nil {
				return err
			}
			res, err := ops.Transact(ctx, c, txn)
			if err == nil && res[0].Count != 1 {
				return fmt.Errorf("%w: logical switch port %s of attachment %s, while setting its addresses", errLSPGone, name, attachment)
			}
			return err
		})
		if err == nil || ctx.Err() != nil || errors.Is(err, errLSPGone) || !ops.OutcomeUnknown(err) {
			return err
		}
		nb.log.Warn("NB update outcome unknown; retrying", "logical_port", name, "attachment", attachment, "attempt", attempt, "err", err)
	}
}

// OwnLSP returns this node's LSP called name, nil when there is none.
func (nb *northbound) OwnLSP(ctx context.Context, name string) (*nbdb.LogicalSwitchPort, error) {
	c, err := nb.cache(ctx)
	if err != nil {
		return nil, err
	}
	return ownLSP(ctx, c, name)
}

func ownLSP(ctx context.Context, c client.Client, name string) (*nbdb.LogicalSwitchPort, error) {
	var found []*nbdb.LogicalSwitchPort
	err := c.WhereCache(func(p *nbdb.LogicalSwitchPort) bool { return p.Name == name }).List(ctx, &found)
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return found[0], nil
}

// OwnLSPs lists this node's LSPs of a CNI network, from the cache.
func (nb *northbound) OwnLSPs(ctx context.Context, network string) ([]*nbdb.LogicalSwitchPort, error) {
	c, err := nb.cache(ctx)
	if err != nil {
		return nil, err
	}
	var found []*nbdb.LogicalSwitchPort
	err = c.WhereCache(func(p *nbdb.LogicalSwitchPort) bool { return p.ExternalIDs[vifplug.ExtNetwork] == network }).List(ctx, &found)
	return found, err
}

// errLSPGone: the attachment's LSP is no longer in NB (deleted behind our
// back, or replaced by another attachment's).
var errLSPGone = errors.New("gone from OVN NB")

// errLSPTaken: an LSP of that name exists and is not this attachment's.
var errLSPTaken = errors.New("logical switch port name taken")

// CreateLSP writes lsp into the switch in one transaction and rides
// connection losses and leader changes: a write whose outcome is unknown
// is settled before it is retried. NB's unique index on the port name
// makes the retry safe — if the first attempt committed, the retry fails
// with an index conflict, and the monitor cache (which holds this node's
// LSPs) then tells whether the row is this attachment's. A switch deleted
// since the lookup would make the insert a no-op (the unreferenced port
// is garbage-collected), so the mutation must have hit exactly one switch.
func (nb *northbound) CreateLSP(ctx context.Context, lsUUID string, lsp *nbdb.LogicalSwitchPort) error {
	attachment := lsp.ExternalIDs[vifplug.ExtAttachment]
	log := nb.log.With("logical_port", lsp.Name, "attachment", attachment)
	for attempt := 1; ; attempt++ {
		err := nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
			txn, err := ops.CreateLSP(c, lsUUID, lsp)
			if err != nil {
				return err
			}
			res, err := ops.Transact(ctx, c, txn)
			if err == nil && res[len(txn)-1].Count != 1 {
				return fmt.Errorf("logical switch %s disappeared while adding port %s", lsUUID, lsp.Name)
			}
			return err
		})
		switch {
		case err == nil:
			return nil
		case ops.IndexConflict(err):
			return nb.settleTaken(ctx, lsp.Name, attachment, attempt, log)
		case ctx.Err() != nil || !ops.OutcomeUnknown(err):
			return err
		}
		log.Warn("NB write outcome unknown; settling it before a retry", "attempt", attempt, "err", err)
		if ours, err := nb.committed(ctx, lsp.Name, attachment); err != nil || ours {
			return err
		}
	}
}

// committed reports, once the session is up again, whether the cache
// shows this attachment's LSP: an earlier attempt committed after all.
func (nb *northbound) committed(ctx context.Context, name, attachment string) (bool, error) {
	c, err := nb.s.Wait(ctx)
	if err != nil {
		return false, err
	}
	lsp, err := ownLSP(ctx, c, name)
	return lsp != nil && lsp.ExternalIDs[vifplug.ExtAttachment] == attachment, err
}

// takenSettleTime bounds the wait for the monitor to show the row that an
// index conflict proved exists: an update follows the commit within
// milliseconds, through a relay a little later.
const takenSettleTime = 5 * time.Second

// settleTaken decides an index conflict on name: the row is this
// attachment's (an earlier attempt committed) once the cache shows it
// with our attachment id; anyone else's — another node's LSP never
// reaches this node's cache — is errLSPTaken. A first attempt's conflict
// is only ours if the cache already shows it.
func (nb *northbound) settleTaken(ctx context.Context, name, attachment string, attempt int, log *slog.Logger) error {
	wait := time.Duration(0)
	if attempt > 1 {
		wait = nb.settleTime
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := nb.s.Wait(ctx)
		if err != nil {
			return err
		}
		lsp, err := ownLSP(ctx, c, name)
		switch {
		case err != nil:
			return err
		case lsp != nil && lsp.ExternalIDs[vifplug.ExtAttachment] == attachment:
			log.Info("an earlier attempt of this write committed", "attempts", attempt)
			return nil
		case lsp != nil:
			return fmt.Errorf("%w: it belongs to attachment %s of this node", errLSPTaken, lsp.ExternalIDs[vifplug.ExtAttachment])
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("%w: it is not this node's", errLSPTaken)
		case <-tick.C:
		}
	}
}

// DeleteOwnLSP deletes this node's LSP called name for attachment; it
// never touches an LSP another owner (or another attachment) holds, and
// succeeds when the LSP is already gone. It asks the server, not the
// cache: after an ADD whose create timed out, the LSP may exist although
// this agent never saw the reply. Deleting is idempotent, so a call whose
// outcome is unknown is simply made again on the next connection.
func (nb *northbound) DeleteOwnLSP(ctx context.Context, name, attachment string) error {
	for attempt := 1; ; attempt++ {
		err := nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
			rows, err := ops.SelectByName(ctx, c, nbdb.LogicalSwitchPortTable, name, "_uuid", "external_ids")
			if err != nil {
				return err
			}
			var txn []ovsdb.Operation
			for _, row := range rows {
				if !ownedBy(row, nb.node, attachment) {
					continue // another owner's, or a newer attachment took the name over
				}
				del, err := ops.DeleteLSP(c, ops.RowUUID(row))
				if err != nil {
					return err
				}
				txn = append(txn, del...)
			}
			_, err = ops.Transact(ctx, c, txn)
			return err
		})
		if err == nil || ctx.Err() != nil || !ops.OutcomeUnknown(err) {
			return err
		}
		nb.log.Warn("NB delete outcome unknown; retrying", "logical_port", name, "attachment", attachment, "attempt", attempt, "err", err)
	}
}

// SettleDeleted watches the cache for the settle time: a create whose
// outcome was unknown may still commit (a RAFT entry the new leader
// carries over) after DeleteOwnLSP found nothing, and would leave an
// orphan. The cache holds this node's LSPs, so such a late row shows up
// there; it is deleted again.
func (nb *northbound) SettleDeleted(ctx context.Context, name, attachment string) error {
	wctx, cancel := context.WithTimeout(ctx, nb.settleTime)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-wctx.Done():
			return nil
		case <-tick.C:
		}
		c, err := nb.s.Wait(wctx)
		if err != nil {
			continue // not up again within the window: the next tick says
		}
		lsp, err := ownLSP(ctx, c, name)
		if err != nil {
			return err
		}
		if lsp != nil && lsp.ExternalIDs[vifplug.ExtAttachment] == attachment {
			nb.log.Warn("a create of unknown outcome committed after its undo; deleting it again", "logical_port", name, "attachment", attachment)
			if err := nb.DeleteOwnLSP(ctx, name, attachment); err != nil {
				return err
			}
		}
	}
}

// ownedBy reports whether a selected LSP row carries this node's owner and
// the attachment id.
func ownedBy(row ovsdb.Row, node, attachment string) bool {
	ids, ok := row["external_ids"].(ovsdb.OvsMap)
	return ok && ids.GoMap[vifplug.ExtOwner] == node && ids.GoMap[vifplug.ExtAttachment] == attachment
}
