package ops

import (
	"context"
	"errors"
	"fmt"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"
)

// Transact runs ops in one transaction and fails unless every operation
// succeeded. An OVSDB server answers a failed transaction with a normal RPC
// reply whose per-operation results carry the error, so checking only the
// RPC error would silently drop failed writes.
func Transact(ctx context.Context, c client.Client, ops []ovsdb.Operation) ([]ovsdb.OperationResult, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	results, err := c.Transact(ctx, ops...)
	if err != nil {
		return nil, fmt.Errorf("ovsdb transaction of %d operations: %w", len(ops), err)
	}
	if opErrs, err := ovsdb.CheckOperationResults(results, ops); err != nil {
		return results, fmt.Errorf("ovsdb transaction of %d operations failed: %w", len(ops), describe(err, opErrs))
	}
	return results, nil
}

// SelectByName reads rows of table whose name column equals name straight
// from the server, for the few lookups a client's monitor deliberately
// does not cover. columns may include "_uuid".
func SelectByName(ctx context.Context, c client.Client, table, name string, columns ...string) ([]ovsdb.Row, error) {
	op := ovsdb.Operation{Op: ovsdb.OperationSelect, Table: table,
		Where: []ovsdb.Condition{{Column: "name", Function: ovsdb.ConditionEqual, Value: name}}, Columns: columns}
	res, err := c.Transact(ctx, op)
	if err != nil {
		return nil, fmt.Errorf("select %s named %q: %w", table, name, err)
	}
	if opErrs, err := ovsdb.CheckOperationResults(res, []ovsdb.Operation{op}); err != nil {
		return nil, fmt.Errorf("select %s named %q: %w", table, name, describe(err, opErrs))
	}
	return res[0].Rows, nil
}

// RowUUID is the _uuid of a selected row ("" when not selected).
func RowUUID(row ovsdb.Row) string {
	uuid, _ := row["_uuid"].(ovsdb.UUID)
	return uuid.GoUUID
}

// describe names each failed operation, so a log says which table and
// which error ("constraint violation", "timed out"...) rather than a count.
func describe(err error, opErrs []ovsdb.OperationError) error {
	errs := []error{err}
	for _, e := range opErrs {
		if op := e.Operation(); op != nil {
			errs = append(errs, fmt.Errorf("%s on %s: %w", op.Op, op.Table, e))
		} else {
			errs = append(errs, e)
		}
	}
	return errors.Join(errs...)
}
