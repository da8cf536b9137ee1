package testbed

import (
	"context"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// requiredCommands are what a bed runs; Debian packages openvswitch-switch,
// ovn-central, ovn-host, iproute2 and iputils-ping provide them.
var requiredCommands = []string{"ovsdb-server", "ovsdb-tool", "ovsdb-client", "ovs-vswitchd", "ovs-vsctl",
	"ovs-appctl", "ovn-northd", "ovn-controller", "ovn-nbctl", "ovn-sbctl", "ip", "ping"}

// Require skips the test when the machine cannot run a bed (not root, a
// command missing), naming what is missing — but in CI (CI=true) it fails
// instead, so a missing dependency can never pass silently.
func Require(t testing.TB) {
	t.Helper()
	testenv.Require(t, "the real-OVN test bed", true, requiredCommands, "run `make deps` as root")
}

// New starts a bed for t and tears it down when t ends, dumping the
// daemons' logs if t failed.
func New(t testing.TB, opts Options) *Bed {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*startTimeout)
	defer cancel()
	b, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start test bed: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("test bed %s logs:\n%s", b.ID, b.Logs(30))
		}
		if err := b.Close(); err != nil {
			t.Errorf("tear down test bed %s: %v", b.ID, err)
		}
	})
	return b
}

// Must turns a bed call's (value, error) into the value, failing the test
// on error: testbed.Must(bed.NBCtl(ctx, "ls-add", "sw"))(t). Bed methods
// return errors rather than take a *testing.T so the demo can use them too.
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
