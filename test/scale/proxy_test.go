package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Messages the fake server sends, exactly as counted.
const (
	updateMsg     = `{"id":null,"method":"update3","params":[["m"],"00000000-0000-0000-0000-000000000000",{"T":{}}]}`
	serverEchoMsg = `{"id":"echo","method":"echo","params":[]}`
	echoReplyMsg  = `{"id":7,"result":["x"],"error":null}`
	txnReplyMsg   = `{"id":8,"result":[{"count":1}],"error":null}`
)

// fakeServer answers a client's echo (id 7) and transact (id 8), and
// sends an update3 notification and an echo request of its own, each
// once it has seen the transact.
func fakeServer(t *testing.T, lis net.Listener) {
	t.Helper()
	conn, err := lis.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	dec := json.NewDecoder(conn)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			return
		}
		var out []string
		switch m.Method {
		case "echo":
			out = []string{echoReplyMsg}
		case "transact":
			out = []string{txnReplyMsg, updateMsg, serverEchoMsg}
		}
		for _, s := range out {
			if _, err := io.WriteString(conn, s); err != nil {
				return
			}
		}
	}
}

func TestProxyCountsByKind(t *testing.T) {
	dir := t.TempDir()
	lis, err := net.Listen("unix", filepath.Join(dir, "server.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go fakeServer(t, lis)
	p, err := NewProxy(filepath.Join(dir, "proxy.sock"), "unix:"+filepath.Join(dir, "server.sock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	conn, err := net.Dial("unix", p.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The echo first: its reply must count as an echo although the
	// client's request and the server's reply race through the proxy.
	if _, err := io.WriteString(conn, `{"id":7,"method":"echo","params":["x"]} {"id":8,"method":"transact","params":["db"]}`); err != nil {
		t.Fatal(err)
	}
	// Read everything the server sent, through the proxy, in order.
	want := []string{echoReplyMsg, txnReplyMsg, updateMsg, serverEchoMsg}
	dec := json.NewDecoder(bufio.NewReader(conn))
	for i, w := range want {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if string(raw) != w {
			t.Errorf("message %d = %s, want %s", i, raw, w)
		}
	}
	// The proxy forwards a message's bytes as it reads them and counts it
	// once decoded: the client may have it a moment before the count.
	wantCounts := Counts{Updates: 1, UpdateBytes: int64(len(updateMsg)), OtherBytes: int64(len(txnReplyMsg)),
		EchoBytes: int64(len(echoReplyMsg) + len(serverEchoMsg))}
	deadline := time.Now().Add(5 * time.Second)
	for p.Counts() != wantCounts && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if got := p.Counts(); got != wantCounts {
		t.Errorf("counts %+v, want %+v", got, wantCounts)
	}
	if err := p.Err(); err != nil {
		t.Errorf("proxy error: %v", err)
	}
}

func TestProxyRefusesABadTarget(t *testing.T) {
	if _, err := NewProxy(filepath.Join(t.TempDir(), "p.sock"), "ssl:127.0.0.1:1", nil); err == nil ||
		!strings.Contains(err.Error(), "unix:PATH or tcp:HOST:PORT") {
		t.Errorf("NewProxy to ssl: %v, want a refusal naming the forms", err)
	}
}

func TestCountReplies(t *testing.T) {
	// Whitespace between messages belongs to the message it precedes
	// the end of; a non-JSON stream is an error, not a silent stop.
	var c counters
	stream := updateMsg + "\n" + `{"id":1,"method":"update2","params":[]}` + "\n" + txnReplyMsg
	if err := countReplies(strings.NewReader(stream), &echoIDs{ids: map[string]bool{}}, &c, nil); err != io.EOF {
		t.Fatalf("countReplies: %v, want io.EOF at the end", err)
	}
	got := c.snapshot()
	if got.Updates != 2 || got.UpdateBytes+got.OtherBytes != int64(len(stream)) || got.OtherBytes != int64(len(txnReplyMsg))+1 {
		t.Errorf("counts %+v for a %d-byte stream", got, len(stream))
	}
	if err := countReplies(strings.NewReader(`{"id":1} nonsense`), &echoIDs{ids: map[string]bool{}}, &c, nil); err == nil || err == io.EOF {
		t.Errorf("countReplies on garbage: %v, want a decoding error", err)
	}
}

func TestWaitQuiet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	calls := 0
	snap := func() []Counts {
		calls++
		// Moving for the first few polls, then still.
		return []Counts{{Updates: int64(min(calls, 4))}}
	}
	if err := waitQuiet(ctx, snap, 30*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if calls < 5 {
		t.Errorf("returned after %d polls, while the counts still moved", calls)
	}
	cancel()
	if err := waitQuiet(ctx, func() []Counts { calls++; return []Counts{{Updates: int64(calls)}} }, 30*time.Millisecond); err == nil {
		t.Error("waitQuiet with a done context: no error")
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a parenthesis, as /proc allows.
	stat := "1234 (ovsdb (x) server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 1 0 100 1000 200"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3.25 {
		t.Errorf("parseStatCPU = %v, %v; want 3.25 s (250+75 ticks)", got, err)
	}
	if _, err := parseStatCPU("1234 no parens"); err == nil {
		t.Error("parseStatCPU without a command name: no error")
	}
}

func TestParseMemoryShow(t *testing.T) {
	got := parseMemoryShow("atoms:1200 cells:300 json-caches:2 monitors:3 n-weak-refs:0 sessions:12\ntxn-history:5 raft-log:notanumber")
	if got["sessions"] != 12 || got["monitors"] != 3 || got["cells"] != 300 || got["txn-history"] != 5 {
		t.Errorf("parseMemoryShow = %v", got)
	}
	if _, ok := got["raft-log"]; ok {
		t.Error("a non-numeric value was kept")
	}
}

func TestParseRaftIndex(t *testing.T) {
	status := "8aa1\nName: OVN_Northbound\nRole: leader\nTerm: 2\nLog: [2, 1534]\nEntries not yet committed: 0\n"
	if got, err := parseRaftIndex(status); err != nil || got != 1534 {
		t.Errorf("parseRaftIndex = %d, %v; want 1534", got, err)
	}
	if _, err := parseRaftIndex("Role: leader\n"); err == nil {
		t.Error("parseRaftIndex without a Log line: no error")
	}
}

func TestFitAndRelays(t *testing.T) {
	l := fit([]float64{10, 50, 100}, []float64{1, 5, 10})
	if math.Abs(l.a) > 1e-9 || math.Abs(l.b-0.1) > 1e-9 {
		t.Errorf("fit = %+v, want a=0 b=0.1", l)
	}
	if l := fit([]float64{10, 100}, []float64{5, 1}); l.b != 0 || l.a != 3 {
		t.Errorf("a falling cost fits %+v, want flat at the mean", l)
	}
	// 0.5 core at 10 ops/s: 50 ms per op per relay; 10 ms fixed + 1 ms
	// per session leaves room for 40 sessions per relay.
	if got := relaysFor(line{a: 0.010, b: 0.001}, 10, 100); got != 3 {
		t.Errorf("relaysFor = %d, want 3 (40 sessions each)", got)
	}
	if got := relaysFor(line{a: 0.060, b: 0.001}, 10, 100); got != 0 {
		t.Errorf("relaysFor with a fixed cost over budget = %d, want 0 (none suffices)", got)
	}
}
