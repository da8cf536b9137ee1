package ops

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
		return results, &TxnError{n: len(ops), opErrs: opErrs, err: err}
	}
	return results, nil
}

// TxnError is a transaction the server answered with an error. Unless
// OutcomeUnknown says otherwise, it did not commit.
type TxnError struct {
	n      int
	opErrs []ovsdb.OperationError // operations that failed before commit
	err    error                  // the commit's error, or a summary of opErrs
}

func (e *TxnError) Error() string {
	return fmt.Sprintf("ovsdb transaction of %d operations failed: %v", e.n, describe(e.err, e.opErrs))
}

func (e *TxnError) Unwrap() []error {
	errs := []error{e.err}
	for _, oe := range e.opErrs {
		errs = append(errs, oe)
	}
	return errs
}

// IndexConflict reports whether err is a transaction that failed because a
// row would have duplicated another's indexed columns, e.g. a second
// Logical_Switch_Port with the same name: the server has such a row.
func IndexConflict(err error) bool {
	var txn *TxnError
	var cv *ovsdb.ConstraintViolation
	return errors.As(err, &txn) && errors.As(err, &cv) && strings.Contains(cv.Error(), "index")
}

// OutcomeUnknown reports whether err leaves open whether the transaction
// committed: the connection broke or the call timed out before an answer,
// or a clustered server answered with an error of its own (lost
// leadership, for one) rather than an operation's. Retrying such a write
// must first find out whether the first attempt took effect.
func OutcomeUnknown(err error) bool {
	var txn *TxnError
	if err == nil || !errors.As(err, &txn) {
		return err != nil
	}
	if len(txn.opErrs) > 0 {
		return false // an operation failed: nothing was committed
	}
	var (
		cv *ovsdb.ConstraintViolation
		ri *ovsdb.ReferentialIntegrityViolation
	)
	return !errors.As(txn.err, &cv) && !errors.As(txn.err, &ri)
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
