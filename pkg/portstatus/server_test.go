package portstatus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// startServer serves srv on a free loopback port and returns a client
// connected to it over a real (insecure) gRPC connection.
func startServer(t *testing.T, srv *Server, dialOpts ...grpc.DialOption) ovndpuv1.DPUAgentClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	srv.Register(g)
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	t.Cleanup(func() {
		g.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return ovndpuv1.NewDPUAgentClient(conn)
}

func watchPorts(t *testing.T, client ovndpuv1.DPUAgentClient, node string) (ovndpuv1.DPUAgent_WatchPortsClient, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stream, err := client.WatchPorts(ctx, &ovndpuv1.WatchPortsRequest{Node: node})
	if err != nil {
		cancel()
		t.Fatalf("WatchPorts: %v", err)
	}
	return stream, cancel
}

func recvPort(t *testing.T, stream ovndpuv1.DPUAgent_WatchPortsClient) *ovndpuv1.PortStatus {
	t.Helper()
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("Recv: %v", err)
	}
	st := resp.GetPort()
	if st == nil {
		t.Fatalf("got %v, want a port event", resp)
	}
	return st
}

// recvSnapshot reads up to and including the SnapshotComplete marker and
// checks the marker's count against the ports before it.
func recvSnapshot(t *testing.T, stream ovndpuv1.DPUAgent_WatchPortsClient) []*ovndpuv1.PortStatus {
	t.Helper()
	var ports []*ovndpuv1.PortStatus
	for {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if m := resp.GetSnapshotComplete(); m != nil {
			if int(m.GetPorts()) != len(ports) {
				t.Errorf("marker says %d ports, snapshot had %d", m.GetPorts(), len(ports))
			}
			return ports
		}
		ports = append(ports, resp.GetPort())
	}
}

// waitFor polls cond, for effects of a client disconnect that the server
// notices asynchronously.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func summary(st *ovndpuv1.PortStatus) string {
	return fmt.Sprintf("%s/%s/%s", st.GetLogicalPort(), strings.TrimPrefix(st.GetPhase().String(), "PHASE_"), st.GetReason())
}

func TestWatchPorts(t *testing.T) {
	tests := []struct {
		node         string
		wantSnapshot []string
		wantEvents   []string
	}{
		{
			node:         "",
			wantSnapshot: []string{"a1/READY/", "a2/PENDING/no representor", "b1/READY/", "x/ERROR/bad options"},
			wantEvents:   []string{"b2/PENDING/", "a1/PLUGGED/waiting for ovn-installed", "b1/UNPLUGGED/gone", "a3/READY/", "sentinel/READY/"},
		},
		{
			node:         "host-a",
			wantSnapshot: []string{"a1/READY/", "a2/PENDING/no representor"},
			wantEvents:   []string{"a1/PLUGGED/waiting for ovn-installed", "a3/READY/", "sentinel/READY/"},
		},
		{
			node:         "host-b",
			wantSnapshot: []string{"b1/READY/"},
			wantEvents:   []string{"b2/PENDING/", "b1/UNPLUGGED/gone", "sentinel/READY/"},
		},
		{
			node:       "host-c",
			wantEvents: []string{"sentinel/READY/"},
		},
	}
	for _, tt := range tests {
		t.Run("node="+tt.node, func(t *testing.T) {
			s := newTestStore(t)
			client := startServer(t, NewServer(s, nil, WithLogger(testLogger(t))))
			s.Set(port("b1", "host-b", ready, ""))
			s.Set(port("a2", "host-a", pending, "no representor"))
			s.Set(port("a1", "host-a", ready, ""))
			s.Set(port("x", "", failed, "bad options"))

			stream, cancel := watchPorts(t, client, tt.node)
			defer cancel()
			snap := recvSnapshot(t, stream)
			assertSummaries(t, "snapshot", snap, tt.wantSnapshot)
			for _, st := range snap {
				if want := mustGet(t, s, st.GetLogicalPort()); !proto.Equal(st, want) {
					t.Errorf("snapshot has %v, store has %v", st, want)
				}
			}

			s.Set(port("b2", "host-b", pending, ""))
			s.Set(port("a1", "host-a", plugged, "waiting for ovn-installed"))
			s.Remove("b1", "gone")
			s.Set(port("a3", "host-a", ready, ""))
			// Last and visible to every filter: had a filtered-out event
			// leaked, it would arrive before this one.
			s.Set(port("sentinel", tt.node, ready, ""))

			var events []*ovndpuv1.PortStatus
			for range tt.wantEvents {
				events = append(events, recvPort(t, stream))
			}
			assertSummaries(t, "events", events, tt.wantEvents)
			assertIncreasing(t, append(snapMax(snap), events...))
		})
	}
}

func assertSummaries(t *testing.T, what string, sts []*ovndpuv1.PortStatus, want []string) {
	t.Helper()
	got := make([]string, len(sts))
	for i, st := range sts {
		got[i] = summary(st)
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got  %q\n want %q", what, got, want)
	}
}

// snapMax returns the snapshot's newest status: every event must be newer.
func snapMax(snap []*ovndpuv1.PortStatus) []*ovndpuv1.PortStatus {
	if len(snap) == 0 {
		return nil
	}
	return []*ovndpuv1.PortStatus{slices.MaxFunc(snap, func(a, b *ovndpuv1.PortStatus) int {
		return cmp.Compare(a.GetGeneration(), b.GetGeneration())
	})}
}

func assertIncreasing(t *testing.T, sts []*ovndpuv1.PortStatus) {
	t.Helper()
	for i := 1; i < len(sts); i++ {
		if sts[i].GetGeneration() <= sts[i-1].GetGeneration() {
			t.Errorf("generation %d (%s) after %d (%s)", sts[i].GetGeneration(), sts[i].GetLogicalPort(),
				sts[i-1].GetGeneration(), sts[i-1].GetLogicalPort())
		}
	}
}

func TestWatchPortsClientGoneReleasesSubscription(t *testing.T) {
	s := newTestStore(t)
	client := startServer(t, NewServer(s, nil, WithLogger(testLogger(t))))
	stream, cancel := watchPorts(t, client, "")
	recvSnapshot(t, stream)
	if got := s.subscriberCount(); got != 1 {
		t.Fatalf("%d subscribers, want 1", got)
	}
	cancel()
	waitFor(t, "the server to unsubscribe", func() bool { return s.subscriberCount() == 0 })
}

// TestWatchPortsSlowWatcher: a client that stops reading must not stall
// Set; once gRPC flow control backs up into the subscription, the Store
// drops it and the client, after draining what was in flight, gets
// ResourceExhausted.
func TestWatchPortsSlowWatcher(t *testing.T) {
	s := newTestStore(t, WithSubscriberBuffer(1))
	// Fixed windows turn off BDP estimation, which would otherwise let
	// megabytes into the client before the server's Send blocks.
	client := startServer(t, NewServer(s, nil, WithLogger(testLogger(t))),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	stream, cancel := watchPorts(t, client, "")
	defer cancel()
	recvSnapshot(t, stream)

	big := strings.Repeat("r", 8<<10)
	sets := 0
	for ; s.subscriberCount() > 0; sets++ {
		if sets == 100000 {
			t.Fatal("watcher never dropped")
		}
		s.Set(port("p1", "host-a", pending, fmt.Sprint(sets, big)))
	}

	var received []*ovndpuv1.PortStatus
	var err error
	for {
		var resp *ovndpuv1.WatchPortsResponse
		if resp, err = stream.Recv(); err != nil {
			break
		}
		received = append(received, resp.GetPort())
	}
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "fell behind") {
		t.Errorf("stream ended with %v, want ResourceExhausted saying it fell behind", err)
	}
	if len(received) == 0 || len(received) >= sets {
		t.Errorf("received %d of %d events before the drop", len(received), sets)
	}
	assertIncreasing(t, received)
}

func TestInfo(t *testing.T) {
	want := &ovndpuv1.InfoResponse{
		Chassis:           "dpu-1",
		ChassisRegistered: true,
		Bridge:            "br-int",
		Version:           "v0.1.0",
		Capabilities:      []string{"watch-ports", "node-filter"},
		PfMacs:            []string{"0c:42:a1:00:00:01"},
		Plugger:           "agent",
	}
	tests := []struct {
		name     string
		info     InfoFunc
		wantCode codes.Code
	}{
		{"passes response and request context", func(ctx context.Context) (*ovndpuv1.InfoResponse, error) {
			if _, ok := ctx.Deadline(); !ok {
				return nil, errors.New("request deadline not propagated")
			}
			return want, nil
		}, codes.OK},
		{"keeps gRPC status", func(context.Context) (*ovndpuv1.InfoResponse, error) {
			return nil, fmt.Errorf("reading chassis: %w", status.Error(codes.Unavailable, "southbound down"))
		}, codes.Unavailable},
		{"plain error is Internal", func(context.Context) (*ovndpuv1.InfoResponse, error) {
			return nil, errors.New("boom")
		}, codes.Internal},
		{"context error", func(ctx context.Context) (*ovndpuv1.InfoResponse, error) {
			return nil, fmt.Errorf("reading chassis: %w", context.DeadlineExceeded)
		}, codes.DeadlineExceeded},
		{"no info func", nil, codes.Unimplemented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := startServer(t, NewServer(newTestStore(t), tt.info))
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			got, err := client.Info(ctx, &ovndpuv1.InfoRequest{})
			if status.Code(err) != tt.wantCode {
				t.Fatalf("Info error %v, want code %s", err, tt.wantCode)
			}
			if err == nil && !proto.Equal(got, want) {
				t.Errorf("Info = %v, want %v", got, want)
			}
		})
	}
}
