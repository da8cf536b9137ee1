package ops_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

func connect(t *testing.T, ctx context.Context, dbModel func() (model.ClientDBModel, error), remote string) client.Client {
	t.Helper()
	m, err := dbModel()
	if err != nil {
		t.Fatal(err)
	}
	s, err := conn.Open(ctx, m, conn.Config{Remotes: []string{remote}}, nil, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.Client()
}

// TestModelsRoundTripLSPToPortBinding writes an LSP with the generated NB
// models in one transaction and reads back, with the generated SB models,
// the Port_Binding northd derives from it: requested_chassis resolved to
// the bed's chassis, options and external_ids copied.
func TestModelsRoundTripLSPToPortBinding(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	nb := connect(t, ctx, nbdb.FullDatabaseModel, bed.NBRemote)
	sb := connect(t, ctx, sbdb.FullDatabaseModel, bed.SBRemote)
	if _, err := sb.MonitorAll(ctx); err != nil {
		t.Fatal(err)
	}

	options := map[string]string{
		"requested-chassis":           bed.Chassis,
		"vif-plug-type":               "representor",
		"vif-plug:representor:pf-mac": "0c:42:a1:00:00:01",
		"vif-plug:representor:vf-num": "3",
		"vif-plug-mtu-request":        "1400",
	}
	externalIDs := map[string]string{"ovn-dpu:owner": "host-1", "ovn-dpu:attachment": "att-1"}
	lsp := &nbdb.LogicalSwitchPort{UUID: "lsp", Name: "pod1_eth0", Addresses: []string{"0e:00:00:00:00:01 10.0.0.5"},
		Options: options, ExternalIDs: externalIDs}
	ls := &nbdb.LogicalSwitch{UUID: "ls", Name: "net1", Ports: []string{lsp.UUID}}
	var txn []ovsdb.Operation
	for _, m := range []model.Model{lsp, ls} {
		op, err := nb.Create(m)
		if err != nil {
			t.Fatal(err)
		}
		txn = append(txn, op...)
	}
	if _, err := ops.Transact(ctx, nb, txn); err != nil {
		t.Fatal(err)
	}

	chassis := &sbdb.Chassis{Name: bed.Chassis}
	var pb *sbdb.PortBinding
	err := testbed.Eventually(ctx, 30*time.Second, "Port_Binding with requested_chassis in SB", func() error {
		if err := sb.Get(ctx, chassis); err != nil {
			return err
		}
		var pbs []*sbdb.PortBinding
		err := sb.WhereCache(func(p *sbdb.PortBinding) bool { return p.LogicalPort == lsp.Name }).List(ctx, &pbs)
		if err != nil || len(pbs) != 1 || pbs[0].RequestedChassis == nil {
			return fmt.Errorf("bindings %v, err %v", pbs, err)
		}
		pb = pbs[0]
		return nil
	})
	if err != nil {
		t.Fatalf("Port_Binding %s with requested_chassis never appeared in SB: %v", lsp.Name, err)
	}
	if *pb.RequestedChassis != chassis.UUID {
		t.Errorf("requested_chassis = %s, want chassis %s's UUID %s", *pb.RequestedChassis, bed.Chassis, chassis.UUID)
	}
	for k, want := range options {
		if got := pb.Options[k]; got != want {
			t.Errorf("Port_Binding options[%s] = %q, want %q (copied from the LSP)", k, got, want)
		}
	}
	for k, want := range externalIDs {
		if got := pb.ExternalIDs[k]; got != want {
			t.Errorf("Port_Binding external_ids[%s] = %q, want %q (copied from the LSP)", k, got, want)
		}
	}
}

// TestTransactReportsFailedOperations proves Transact fails when the server
// rejects an operation even though the RPC itself succeeds.
func TestTransactReportsFailedOperations(t *testing.T) {
	bed := testbed.New(t, testbed.Options{NoController: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nb := connect(t, ctx, nbdb.FullDatabaseModel, bed.NBRemote)

	// A wait with timeout 0 for a row that does not exist: the server
	// answers the RPC normally and reports "timed out" in the result.
	op := ovsdb.Operation{Op: ovsdb.OperationWait, Table: nbdb.LogicalSwitchTable, Timeout: ptr(0),
		Where:   []ovsdb.Condition{{Column: "name", Function: ovsdb.ConditionEqual, Value: "absent"}},
		Columns: []string{"name"}, Until: "==", Rows: []ovsdb.Row{{"name": "absent"}}}
	_, err := ops.Transact(ctx, nb, []ovsdb.Operation{op})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Transact of a failing wait operation: err = %v, want the server's \"timed out\"", err)
	}
}

func ptr[T any](v T) *T { return &v }
