package dpuagent_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestWatchPortsScopedByCertificate: the agent started with --tls-* serves
// each client certificate only the ports whose ovn-dpu:owner is its
// identity (first DNS SAN, else CN), in the snapshot and in live events,
// refuses a filter naming another node, and shows a certificate whose
// identity owns nothing no port; Info still answers every certificate.
func TestWatchPortsScopedByCertificate(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ovn-dpu CA")
	server := ca.MustIssue(t, dir, "agent")
	agent := testbed.Must(bed.StartDPUAgent(ctx, "--insecure=false",
		"--tls-cert="+server.Cert, "--tls-key="+server.Key, "--tls-ca="+server.CA))(t)
	dial := func(name string, opts ...tlstest.CertOption) *grpc.ClientConn {
		t.Helper()
		leaf := ca.MustIssue(t, dir, name, opts...)
		creds, _, err := tlsutil.ClientCredentials(leaf.Files, false, "localhost",
			tlsutil.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient("unix:"+agent.Socket, grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	hostA := dial("host-a", tlstest.WithDNSNames("host-a"))
	hostB := dial("host-b", tlstest.WithDNSNames("host-b"))
	stranger := dial("stranger", tlstest.WithDNSNames()) // CN only, owning nothing
	watch := func(conn *grpc.ClientConn) *testbed.Watcher {
		t.Helper()
		w := testbed.Must(testbed.WatchConn(ctx, conn, ""))(t)
		t.Cleanup(w.Close)
		return w
	}

	vfs := testbed.Must(bed.AddVFs(ctx, 0, []int{0, 1, 2, 3, 4}, testbed.VFOptions{}))(t)
	request := func(lsp string, vf *testbed.VF, owner string) {
		t.Helper()
		args := append(bed.RequestArgs("net1", lsp, vf, ""),
			"--", "set", "Logical_Switch_Port", lsp, `external_ids:"ovn-dpu:owner"=`+owner)
		testbed.Must(bed.NBCtl(ctx, args...))(t)
	}
	wait := func(w *testbed.Watcher, lsps ...string) {
		t.Helper()
		if err := w.WaitPhase(ctx, waitLong, ready, lsps...); err != nil {
			t.Fatal(err)
		}
	}
	// Snapshot: a1 and b1 are READY (as their owners' first watchers
	// show) before the watchers under test connect.
	request("a1", vfs[0], "host-a")
	request("b1", vfs[1], "host-b")
	wait(watch(hostA), "a1")
	wait(watch(hostB), "b1")
	wa, wb, ws := watch(hostA), watch(hostB), watch(stranger)
	wait(wa, "a1")
	wait(wb, "b1")

	// Another node's ports are refused, naming both nodes.
	stream, err := ovndpuv1.NewDPUAgentClient(hostB).WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: "host-a"})
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `"host-b"`) || !strings.Contains(err.Error(), `"host-a"`) {
		t.Errorf("host-b watching host-a: %v, want PermissionDenied naming both", err)
	}

	// Live: one more port each, then one of the stranger's; each stream
	// gets its own, and the stranger's first port event is its own port.
	request("a2", vfs[2], "host-a")
	request("b2", vfs[3], "host-b")
	wait(wa, "a2")
	wait(wb, "b2")
	request("s1", vfs[4], "stranger")
	wait(ws, "s1")

	for who, w := range map[string]*testbed.Watcher{"host-a": wa, "host-b": wb, "stranger": ws} {
		var snapshot, live, foreign []string
		seen, synced := &snapshot, false
		for _, ev := range w.Events() {
			p := ev.GetPort()
			if p == nil {
				seen, synced = &live, true
				continue
			}
			if p.GetOwnerNode() != who && !slices.Contains(foreign, p.GetLogicalPort()) {
				foreign = append(foreign, p.GetLogicalPort())
				t.Errorf("%s received %s, a port of %q: %v", who, p.GetLogicalPort(), p.GetOwnerNode(), p)
			}
			if !slices.Contains(*seen, p.GetLogicalPort()) {
				*seen = append(*seen, p.GetLogicalPort())
			}
		}
		if !synced {
			t.Errorf("%s never got the snapshot marker", who)
		}
		t.Logf("%s: snapshot %v, then %v", who, snapshot, live)
		want := map[string][2][]string{
			"host-a":   {{"a1"}, {"a2"}},
			"host-b":   {{"b1"}, {"b2"}},
			"stranger": {nil, {"s1"}},
		}[who]
		if !slices.Equal(snapshot, want[0]) || !slices.Equal(live, want[1]) {
			t.Errorf("%s saw snapshot %v then %v, want %v then %v", who, snapshot, live, want[0], want[1])
		}
	}

	// Info is not scoped (a DPU serves one host today).
	info, err := ovndpuv1.NewDPUAgentClient(hostB).Info(ctx, &ovndpuv1.InfoRequest{})
	if err != nil || !slices.Contains(info.GetPfMacs(), vfs[0].PFMAC.String()) {
		t.Errorf("Info with host-b's certificate: %v, %v; want the PF MAC %s", info, err, vfs[0].PFMAC)
	}
}
