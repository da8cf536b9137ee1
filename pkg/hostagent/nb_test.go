package hostagent

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ovn-kubernetes/libovsdb/client"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ovsdbtest"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// nbWith connects this node's NB client to a real standalone NB server
// holding one switch, and returns it with the switch's UUID.
func nbWith(t *testing.T) (*northbound, string, context.Context) {
	t.Helper()
	srv := ovsdbtest.Start(t, t.TempDir(), "nb", ovsdbtest.NBSchema)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	nb, err := connectNB(ctx, conn.Config{Remotes: []string{srv.Remote}, ProbeInterval: time.Second}, testNode, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nb.Close)
	err = nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
		create, err := c.Create(&nbdb.LogicalSwitch{UUID: "ls", Name: "ls0"})
		if err != nil {
			return err
		}
		_, err = ops.Transact(ctx, c, create)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var uuid string
	testEventually(t, ctx, "switch ls0 in the cache", func() bool {
		ls, err := nb.LogicalSwitch(ctx, "ls0")
		if err == nil {
			uuid = ls.UUID
		}
		return err == nil
	})
	return nb, uuid, ctx
}

func lspOf(owner, attachment string) *nbdb.LogicalSwitchPort {
	return &nbdb.LogicalSwitchPort{UUID: "newlsp", Name: "p1",
		ExternalIDs: vifplug.Attachment{Owner: owner, ID: attachment, Network: "net1"}.ExternalIDs()}
}

func testEventually(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within the test's deadline", what)
		case <-tick.C:
		}
	}
}

// A retried create of this attachment's LSP is success, whether or not the
// first attempt's answer arrived: the name index says the row exists, the
// cache says it is ours.
func TestCreateLSPIsIdempotentForItsAttachment(t *testing.T) {
	nb, ls, ctx := nbWith(t)
	if err := nb.CreateLSP(ctx, ls, lspOf(testNode, "a1")); err != nil {
		t.Fatal(err)
	}
	testEventually(t, ctx, "own LSP in the cache", func() bool {
		lsp, _ := nb.OwnLSP(ctx, "p1")
		return lsp != nil
	})
	if err := nb.CreateLSP(ctx, ls, lspOf(testNode, "a1")); err != nil {
		t.Errorf("repeated create of the same attachment: %v", err)
	}
	lsps, err := nb.OwnLSPs(ctx, "net1")
	if err != nil || len(lsps) != 1 {
		t.Errorf("own LSPs %v (%v), want exactly one", lsps, err)
	}
}

func TestCreateLSPNameTaken(t *testing.T) {
	for name, holder := range map[string]*nbdb.LogicalSwitchPort{
		"by another node":               lspOf("node2", "b1"),
		"by another attachment of ours": lspOf(testNode, "a0"),
	} {
		t.Run(name, func(t *testing.T) {
			nb, ls, ctx := nbWith(t)
			if err := nb.CreateLSP(ctx, ls, holder); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err := nb.CreateLSP(ctx, ls, lspOf(testNode, "a1"))
			if !errors.Is(err, errLSPTaken) {
				t.Errorf("create over a taken name: %v, want errLSPTaken", err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("a first attempt's conflict took %v to settle; it needs no wait", took)
			}
			// DEL of the newcomer must leave the holder alone.
			if err := nb.DeleteOwnLSP(ctx, "p1", "a1"); err != nil {
				t.Fatal(err)
			}
			if n := lspsNamed(t, ctx, nb, "p1"); n != 1 {
				t.Errorf("%d LSPs named p1 after the newcomer's delete, want the holder's", n)
			}
		})
	}
}

func TestDeleteOwnLSP(t *testing.T) {
	nb, ls, ctx := nbWith(t)
	if err := nb.DeleteOwnLSP(ctx, "p1", "a1"); err != nil {
		t.Errorf("delete of an LSP that never existed: %v", err)
	}
	if err := nb.CreateLSP(ctx, ls, lspOf(testNode, "a1")); err != nil {
		t.Fatal(err)
	}
	if err := nb.DeleteOwnLSP(ctx, "p1", "a1"); err != nil {
		t.Fatal(err)
	}
	testEventually(t, ctx, "own LSP gone from the cache", func() bool {
		lsp, _ := nb.OwnLSP(ctx, "p1")
		return lsp == nil
	})
}

// A create that commits after its undo's delete (a RAFT entry carried over
// by a new leader) is caught and deleted again.
func TestSettleDeletedCatchesALateCommit(t *testing.T) {
	nb, ls, ctx := nbWith(t)
	nb.settleTime = 2 * time.Second
	settled := make(chan error, 1)
	go func() { settled <- nb.SettleDeleted(ctx, "p1", "a1") }()
	if err := nb.CreateLSP(ctx, ls, lspOf(testNode, "a1")); err != nil {
		t.Fatal(err)
	}
	if err := <-settled; err != nil {
		t.Fatal(err)
	}
	if n := lspsNamed(t, ctx, nb, "p1"); n != 0 {
		t.Errorf("the late LSP survived the settle: %d rows", n)
	}
}

// lspsNamed asks the server (not the cache) how many LSPs are called name.
func lspsNamed(t *testing.T, ctx context.Context, nb *northbound, name string) int {
	t.Helper()
	var n int
	err := nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
		rows, err := ops.SelectByName(ctx, c, nbdb.LogicalSwitchPortTable, name, "_uuid")
		n = len(rows)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The wait for northd's dynamic_addresses ends when the monitor shows them
// (here written as northd would), and port_security then follows; neither
// touches an LSP of another attachment.
func TestDynamicAddressesAndPortSecurity(t *testing.T) {
	nb, ls, ctx := nbWith(t)
	lsp := lspOf(testNode, "a1")
	lsp.Addresses = []string{"0e:00:00:00:00:05 dynamic"}
	if err := nb.CreateLSP(ctx, ls, lsp); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		dyn, err := nb.WaitDynamicAddresses(ctx, "p1", "a1")
		if err != nil {
			t.Error(err)
		}
		got <- dyn
	}()
	const assigned = "0e:00:00:00:00:05 10.20.0.5 fd00:20::c00:ff:fe00:5"
	err := nb.s.Do(ctx, func(ctx context.Context, c client.Client) error {
		row, err := ownLSP(ctx, c, "p1")
		if err != nil {
			return err
		}
		row.DynamicAddresses = ptr(assigned)
		update, err := c.Where(row).Update(row, &row.DynamicAddresses)
		if err != nil {
			return err
		}
		_, err = ops.Transact(ctx, c, update)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if dyn := <-got; dyn != assigned {
		t.Fatalf("WaitDynamicAddresses = %q, want %q", dyn, assigned)
	}
	if err := nb.SetAddresses(ctx, "p1", "a1", lsp.Addresses, []string{assigned}); err != nil {
		t.Fatal(err)
	}
	testEventually(t, ctx, "port_security in the cache", func() bool {
		row, _ := nb.OwnLSP(ctx, "p1")
		return row != nil && len(row.PortSecurity) == 1 && row.PortSecurity[0] == assigned
	})
	if err := nb.SetAddresses(ctx, "p1", "a2", lsp.Addresses, []string{"0e:00:00:00:00:05"}); !errors.Is(err, errLSPGone) || ctx.Err() != nil {
		t.Errorf("SetAddresses for another attachment: %v, want errLSPGone at once", err)
	}
}

func ptr[T any](v T) *T { return &v }

// An LSP deleted while its ADD waits for northd ends the wait at once.
func TestWaitDynamicAddressesEndsWhenTheLSPGoes(t *testing.T) {
	nb, ls, ctx := nbWith(t)
	lsp := lspOf(testNode, "a1")
	lsp.Addresses = []string{"0e:00:00:00:00:05 dynamic"}
	if err := nb.CreateLSP(ctx, ls, lsp); err != nil {
		t.Fatal(err)
	}
	testEventually(t, ctx, "the LSP in the cache", func() bool {
		row, _ := nb.OwnLSP(ctx, "p1")
		return row != nil
	})
	looked := make(chan struct{}, 1)
	nb.blocked = func() {
		select {
		case looked <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := nb.WaitDynamicAddresses(ctx, "p1", "a1")
		done <- err
	}()
	<-looked // it has seen the LSP without addresses
	if err := nb.DeleteOwnLSP(ctx, "p1", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, errLSPGone) || ctx.Err() != nil {
		t.Fatalf("WaitDynamicAddresses after the LSP went: %v, want errLSPGone before the deadline", err)
	}
}
