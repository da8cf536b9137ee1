package portstatus

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// testIdentityKey carries a caller's identity in gRPC metadata for the unit
// tests, standing in for the client certificate; absent means no identity.
const testIdentityKey = "test-identity"

func metadataIdentity(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(testIdentityKey)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// fillScopeStore sets the ports every scope test starts from: two of
// host-a, one of host-b, one without an owner (not written by a host agent).
func fillScopeStore(s *Store) {
	s.Set(port("b1", "host-b", ready, ""))
	s.Set(port("a2", "host-a", pending, "no representor"))
	s.Set(port("a1", "host-a", ready, ""))
	s.Set(port("x", "", failed, "bad options"))
}

// changeScopeStore changes ports of every owner after the snapshot, then
// sets sentinel owned by last: had an event the watcher may not see leaked,
// it would arrive before the sentinel.
func changeScopeStore(s *Store, last string) {
	s.Set(port("b2", "host-b", pending, ""))
	s.Set(port("a1", "host-a", plugged, "waiting for ovn-installed"))
	s.Set(port("x", "", failed, "still bad"))
	s.Remove("b1", "gone")
	s.Set(port("a3", "host-a", ready, ""))
	s.Set(port("sentinel", last, ready, ""))
}

// TestWatchPortsScopedToIdentity drives the identity seam without TLS: with
// an IdentityFunc the caller's identity, not its request, decides which
// ports it sees.
func TestWatchPortsScopedToIdentity(t *testing.T) {
	tests := []struct {
		name         string
		identity     IdentityFunc // nil: none (--insecure)
		caller       []string     // the caller's identity, if it has one
		node         string       // the request's filter
		wantSnapshot []string
		wantEvents   []string
		wantRefusal  []string // PermissionDenied naming these
	}{
		{
			name: "no filter is the caller's node", identity: metadataIdentity, caller: []string{"host-a"},
			wantSnapshot: []string{"a1/READY/", "a2/PENDING/no representor"},
			wantEvents:   []string{"a1/PLUGGED/waiting for ovn-installed", "a3/READY/", "sentinel/READY/"},
		},
		{
			name: "own node as filter", identity: metadataIdentity, caller: []string{"host-a"}, node: "host-a",
			wantSnapshot: []string{"a1/READY/", "a2/PENDING/no representor"},
			wantEvents:   []string{"a1/PLUGGED/waiting for ovn-installed", "a3/READY/", "sentinel/READY/"},
		},
		{
			name: "other node as filter", identity: metadataIdentity, caller: []string{"host-b"}, node: "host-a",
			wantRefusal: []string{`"host-b"`, `"host-a"`},
		},
		{
			name: "identity owning nothing", identity: metadataIdentity, caller: []string{"host-c"},
			wantEvents: []string{"sentinel/READY/"},
		},
		{
			name: "no identity", identity: metadataIdentity,
			wantRefusal: []string{"name no node"},
		},
		{
			name: "no identity, with a filter", identity: metadataIdentity, node: "host-a",
			wantRefusal: []string{"name no node"},
		},
		{
			// "" must never become the store's "every node".
			name: "empty identity", identity: func(context.Context) (string, bool) { return "", true }, caller: []string{""},
			wantRefusal: []string{"name no node"},
		},
		{
			name: "without an IdentityFunc the filter is trusted", caller: []string{"host-b"}, node: "host-a",
			wantSnapshot: []string{"a1/READY/", "a2/PENDING/no representor"},
			wantEvents:   []string{"a1/PLUGGED/waiting for ovn-installed", "a3/READY/", "sentinel/READY/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestStore(t)
			client := startServer(t, NewServer(s, nil, WithLogger(testLogger(t)), WithIdentity(tt.identity)))
			fillScopeStore(s)
			ctx := t.Context()
			for _, id := range tt.caller {
				ctx = metadata.AppendToOutgoingContext(ctx, testIdentityKey, id)
			}
			stream, err := client.WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: tt.node})
			if err != nil {
				t.Fatalf("WatchPorts: %v", err)
			}
			if tt.wantRefusal != nil {
				assertRefused(t, stream, tt.wantRefusal)
				return
			}
			assertSummaries(t, "snapshot", recvSnapshot(t, stream), tt.wantSnapshot)
			owner := tt.node
			if owner == "" && len(tt.caller) > 0 {
				owner = tt.caller[0]
			}
			changeScopeStore(s, owner)
			var events []*ovndpuv1.PortStatus
			for range tt.wantEvents {
				events = append(events, recvPort(t, stream))
			}
			assertSummaries(t, "events", events, tt.wantEvents)
		})
	}
}

// assertRefused checks that stream ends at once with PermissionDenied whose
// message contains every one of want.
func assertRefused(t *testing.T, stream ovndpuv1.DPUAgent_WatchPortsClient, want []string) {
	t.Helper()
	resp, err := stream.Recv()
	if err == nil {
		t.Fatalf("got %v, want the stream refused", resp)
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("stream ended with %v, want PermissionDenied", err)
	}
	for _, w := range want {
		if !strings.Contains(status.Convert(err).Message(), w) {
			t.Errorf("refusal %q does not name %s", status.Convert(err).Message(), w)
		}
	}
}

// TestWatchPortsScopedByClientCertificate: over real mutual TLS, with
// tlsutil.PeerIdentity, every certificate from the CA sees only the ports
// its first DNS SAN (else its CN) owns, in the snapshot and in the live
// events; a foreign filter is refused; a certificate naming a node that
// owns nothing sees an empty snapshot and no events; one naming no node at
// all is refused.
func TestWatchPortsScopedByClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ovn-dpu test CA")
	quiet := tlsutil.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	serverCreds, _, err := tlsutil.ServerCredentials(ca.MustIssue(t, dir, "dpu").Files, false, quiet)
	if err != nil {
		t.Fatal(err)
	}
	s := newTestStore(t)
	info := func(context.Context) (*ovndpuv1.InfoResponse, error) {
		return &ovndpuv1.InfoResponse{Chassis: "dpu-1", PfMacs: []string{"0c:42:a1:00:00:01"}}, nil
	}
	srv := NewServer(s, info, WithLogger(testLogger(t)), WithIdentity(tlsutil.PeerIdentity))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(serverCreds))
	srv.Register(g)
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)

	dial := func(name string, opts ...tlstest.CertOption) ovndpuv1.DPUAgentClient {
		t.Helper()
		leaf := ca.MustIssue(t, filepath.Join(dir, "clients"), name, opts...)
		creds, _, err := tlsutil.ClientCredentials(leaf.Files, false, "", quiet)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return ovndpuv1.NewDPUAgentClient(conn)
	}
	hostA := dial("host-a", tlstest.WithDNSNames("host-a"))
	hostB := dial("host-b", tlstest.WithDNSNames("host-b", "host-a")) // only the first SAN counts
	hostBByCN := dial("host-b-cn", tlstest.WithCommonName("host-b"), tlstest.WithDNSNames())
	stranger := dial("stranger", tlstest.WithDNSNames()) // CN "stranger", no SAN: owns nothing
	nameless := dial("nameless", tlstest.WithCommonName(""), tlstest.WithDNSNames())

	fillScopeStore(s)
	watch := func(client ovndpuv1.DPUAgentClient, node string) ovndpuv1.DPUAgent_WatchPortsClient {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		t.Cleanup(cancel)
		stream, err := client.WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: node})
		if err != nil {
			t.Fatalf("WatchPorts: %v", err)
		}
		return stream
	}
	streams := map[string]ovndpuv1.DPUAgent_WatchPortsClient{
		"host-a":             watch(hostA, ""),
		"host-b":             watch(hostB, ""),
		"host-b by CN":       watch(hostBByCN, "host-b"),
		"stranger":           watch(stranger, ""),
		"stranger as host-a": watch(stranger, "host-a"),
	}
	assertRefused(t, watch(hostB, "host-a"), []string{`"host-b"`, `"host-a"`})
	assertRefused(t, streams["stranger as host-a"], []string{`"stranger"`, `"host-a"`})
	assertRefused(t, watch(nameless, ""), []string{"name no node"})

	wantSnapshot := map[string][]string{
		"host-a":       {"a1/READY/", "a2/PENDING/no representor"},
		"host-b":       {"b1/READY/"},
		"host-b by CN": {"b1/READY/"},
		"stranger":     nil,
	}
	for who, want := range wantSnapshot {
		assertSummaries(t, who+" snapshot", recvSnapshot(t, streams[who]), want)
	}
	// Live events: a port of each host, then one for the stranger, which
	// every stream but the stranger's must skip; then a sentinel of each
	// host so that each stream has a last event to wait for.
	s.Set(port("a3", "host-a", ready, ""))
	s.Set(port("b2", "host-b", pending, ""))
	s.Set(port("x", "", failed, "still bad"))
	s.Set(port("s1", "stranger", ready, ""))
	s.Set(port("a-last", "host-a", ready, ""))
	s.Set(port("b-last", "host-b", ready, ""))
	wantEvents := map[string][]string{
		"host-a":       {"a3/READY/", "a-last/READY/"},
		"host-b":       {"b2/PENDING/", "b-last/READY/"},
		"host-b by CN": {"b2/PENDING/", "b-last/READY/"},
		"stranger":     {"s1/READY/"},
	}
	for who, want := range wantEvents {
		var got []*ovndpuv1.PortStatus
		for range want {
			got = append(got, recvPort(t, streams[who]))
		}
		assertSummaries(t, who+" events", got, want)
	}

	// Info is not scoped (one DPU serves one host today): it still answers
	// every certificate from the CA.
	if resp, err := hostB.Info(t.Context(), &ovndpuv1.InfoRequest{}); err != nil || len(resp.GetPfMacs()) != 1 {
		t.Errorf("Info with host-b's certificate = %v, %v", resp, err)
	}
}
