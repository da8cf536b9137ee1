package testbed

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestClusterRetriesTakenPort hands the first NB cluster member and the
// first relay a client port that another socket holds: each start must
// notice and start again on fresh ports.
func TestClusterRetriesTakenPort(t *testing.T) {
	Require(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	port := taken.Addr().(*net.TCPAddr).Port
	real := freePorts
	defer func() { freePorts = real }()
	calls := 0
	freePorts = func(n int) ([]int, error) {
		ports, err := real(n)
		calls++
		// Call 1 is the first try's NB cluster (2 its SB, 3 and 4 the
		// retry's), call 5 the relay's first try (6 its retry).
		if err == nil && (calls == 1 || calls == 5) {
			ports[0] = port
		}
		return ports, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := Start(ctx, Options{Clustered: true, NBRelay: true, NoController: true})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	taken.Close()
	for _, m := range append(b.NBMembers, b.Relay(Northbound)) {
		if strings.HasSuffix(m.TCPRemote, ":"+strconv.Itoa(port)) {
			t.Errorf("%s kept the taken port %d", m.Name, port)
		}
	}
	if calls != 6 {
		t.Errorf("%d port picks, want 6 (NB, SB, NB again, SB again, relay, relay again)", calls)
	}
	if _, err := b.NBCtlAt(ctx, b.NBRelayRemote, "ls-add", "sw"); err != nil {
		t.Fatal(err)
	}
}
