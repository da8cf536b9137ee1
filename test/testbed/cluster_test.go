package testbed_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// startTimed is testbed.New that logs how long the bed took to start.
func startTimed(t *testing.T, opts testbed.Options) *testbed.Bed {
	t.Helper()
	t0 := time.Now()
	bed := testbed.New(t, opts)
	t.Logf("bed %s (%+v) up in %v", bed.ID, opts, time.Since(t0).Round(time.Millisecond))
	return bed
}

// TestClusteredBedCarriesTraffic starts NB and SB as 3-member clusters,
// checks how the remotes look, and runs the hand-plug flow through them:
// LSPs written with ovn-nbctl over every NB member, claimed by
// ovn-controller over every SB member, pods pinging through OVN.
func TestClusteredBedCarriesTraffic(t *testing.T) {
	bed := startTimed(t, testbed.Options{Clustered: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	for _, db := range []testbed.Database{testbed.Northbound, testbed.Southbound} {
		members := bed.Members(db)
		if len(members) != 3 {
			t.Fatalf("%s: %d members, want 3", db, len(members))
		}
		leaders := 0
		for _, m := range members {
			st := testbed.Must(m.Status(ctx))(t)
			if st.Status != "cluster member" || st.Servers != 3 {
				t.Errorf("%s: %s", m.Name, st)
			}
			if st.Role == "leader" {
				leaders++
			}
			if m.Pid() == 0 || m.RaftAddr == "" || !strings.HasPrefix(m.TCPRemote, "tcp:127.0.0.1:") {
				t.Errorf("%s: pid %d, raft %q, tcp %q", m.Name, m.Pid(), m.RaftAddr, m.TCPRemote)
			}
		}
		if leaders != 1 {
			t.Errorf("%s: %d leaders", db, leaders)
		}
	}
	for name, list := range map[string]string{"NBRemote": bed.NBRemote, "SBRemote": bed.SBRemote,
		"NBTCPRemote": bed.NBTCPRemote, "SBTCPRemote": bed.SBTCPRemote} {
		if n := len(strings.Split(list, ",")); n != 3 {
			t.Errorf("%s = %q: %d remotes, want 3", name, list, n)
		}
	}
	if got := testbed.Must(bed.VSCtl(ctx, "get", "Open_vSwitch", ".", "external_ids:ovn-remote"))(t); got != `"`+bed.SBRemote+`"` {
		t.Errorf("ovn-remote = %s, want %q", got, bed.SBRemote)
	}

	pods := handAttachTwo(t, ctx, bed)
	for _, p := range pods {
		if ch := testbed.Must(bed.SBCtl(ctx, "--bare", "--columns=chassis", "find", "Port_Binding", "logical_port="+p.lsp))(t); ch == "" {
			t.Errorf("Port_Binding %s not claimed", p.lsp)
		}
	}
	if err := bed.Ping(ctx, pods[0].netns, pods[1].ip); err != nil {
		t.Fatal(err)
	}
}

// electionTimer shortens elections in the failover tests; OVS's default
// of 1 s makes each take 1 to 2 s.
const electionTimer = 300 * time.Millisecond

// TestClusterFailover takes each database's leader away three ways (kill
// -9, SIGSTOP, leadership transfer) and checks that another member takes
// over, that NB stays writable through the members that are left, and
// that northd keeps SB in step. NB and SB each get a bed of their own and
// run in parallel: most of the time is ovn-northd finding the new leader.
func TestClusterFailover(t *testing.T) {
	for _, db := range []testbed.Database{testbed.Northbound, testbed.Southbound} {
		t.Run(string(db), func(t *testing.T) {
			t.Parallel()
			testFailover(t, db)
		})
	}
}

func testFailover(t *testing.T, db testbed.Database) {
	bed := startTimed(t, testbed.Options{Clustered: true, ElectionTimer: electionTimer})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)

	n := 0
	// writable adds an LSP with ovn-nbctl given every NB member (over TCP,
	// where it probes a silent server) and waits until northd has put its
	// Port_Binding into SB. northd, leader-only, tries the members in turn
	// with a reconnect backoff that doubles up to 8 s, so that can take a
	// while.
	writable := func(t *testing.T, why string) {
		t.Helper()
		n++
		lsp := fmt.Sprintf("lsp-%d", n)
		t0 := time.Now()
		testbed.Must(bed.NBCtlAt(ctx, bed.NBTCPRemote, "lsp-add", "net1", lsp))(t)
		t1 := time.Now()
		if err := testbed.Eventually(ctx, time.Minute, "Port_Binding "+lsp+" in SB", func() error {
			pb, err := bed.SBCtl(ctx, "--bare", "--columns=logical_port", "find", "Port_Binding", "logical_port="+lsp)
			if err == nil && pb != lsp {
				err = fmt.Errorf("got %q", pb)
			}
			return err
		}); err != nil {
			t.Fatalf("%s: %v", why, err)
		}
		t.Logf("%s: lsp-add took %v, northd's Port_Binding %v more", why, t1.Sub(t0).Round(time.Millisecond), time.Since(t1).Round(time.Millisecond))
	}
	t.Run("kill", func(t *testing.T) {
		t0 := time.Now()
		old := testbed.Must(bed.KillLeader(ctx, db))(t)
		defer func() {
			if !old.Running() {
				_ = bed.RestartMember(ctx, old)
			}
		}()
		leader := testbed.Must(bed.WaitNewLeader(ctx, db, old))(t)
		t.Logf("killed %s; %s leads after %v", old, leader, time.Since(t0).Round(time.Millisecond))
		if old.Running() || old.Pid() != 0 {
			t.Errorf("%s still running", old)
		}
		writable(t, "leader killed")
		t0 = time.Now()
		if err := bed.RestartMember(ctx, old); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s back in the cluster after %v", old, time.Since(t0).Round(time.Millisecond))
		writable(t, "killed leader back")
	})
	t.Run("sigstop", func(t *testing.T) {
		t0 := time.Now()
		old, resume, err := bed.StopLeader(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resume() }()
		leader := testbed.Must(bed.WaitNewLeader(ctx, db, old))(t)
		t.Logf("stopped %s; %s leads after %v", old, leader, time.Since(t0).Round(time.Millisecond))
		if !old.Stopped() || !old.Running() {
			t.Errorf("%s: stopped %v, running %v", old, old.Stopped(), old.Running())
		}
		writable(t, "leader stopped")
		if err := resume(); err != nil {
			t.Fatal(err)
		}
		testbed.Must(bed.Leader(ctx, db))(t)
		writable(t, "stopped leader continued")
	})
	t.Run("transfer", func(t *testing.T) {
		t0 := time.Now()
		from, to, err := bed.TransferLeadership(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s handed over to %s in %v", from, to, time.Since(t0).Round(time.Millisecond))
		writable(t, "leadership transferred")
	})
}

// TestRelays writes and reads NB and reads SB through relays of the
// clusters, and through a relay of a standalone NB.
func TestRelays(t *testing.T) {
	t.Run("clustered", func(t *testing.T) {
		bed := startTimed(t, testbed.Options{Clustered: true, NBRelay: true, SBRelay: true})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		checkRelays(t, ctx, bed)
	})
	t.Run("standalone", func(t *testing.T) {
		bed := startTimed(t, testbed.Options{NBRelay: true})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if bed.NBRemote != "unix:"+bed.Dir+"/nb.sock" || bed.SBRelayRemote != "" {
			t.Fatalf("NBRemote %s, SBRelayRemote %q", bed.NBRemote, bed.SBRelayRemote)
		}
		testbed.Must(bed.NBCtlAt(ctx, bed.NBRelayRemote, "ls-add", "via-relay"))(t)
		if got := testbed.Must(bed.NBCtl(ctx, "--bare", "--columns=name", "list", "Logical_Switch"))(t); got != "via-relay" {
			t.Fatalf("NB switches %q", got)
		}
	})
}

func checkRelays(t *testing.T, ctx context.Context, bed *testbed.Bed) {
	t.Helper()
	nbRelay := bed.Relay(testbed.Northbound)
	for name, remote := range map[string]string{"sw-unix": bed.NBRelayRemote, "sw-tcp": nbRelay.TCPRemote} {
		testbed.Must(bed.NBCtlAt(ctx, remote, "ls-add", name))(t)
		// The cluster has the write, and the relay reads it back.
		testbed.Must(bed.NBCtl(ctx, "get", "Logical_Switch", name, "name"))(t)
		testbed.Must(bed.NBCtlAt(ctx, remote, "--wait=sb", "lsp-add", name, name+"-p"))(t)
	}
	// northd's Port_Bindings reach the SB relay.
	for _, sw := range []string{"sw-unix", "sw-tcp"} {
		if err := testbed.Eventually(ctx, 10*time.Second, sw+"-p in the SB relay", func() error {
			pb, err := bed.SBCtlAt(ctx, bed.SBRelayRemote, "--bare", "--columns=logical_port", "find", "Port_Binding", "logical_port="+sw+"-p")
			if err == nil && pb != sw+"-p" {
				err = fmt.Errorf("got %q", pb)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	if got := testbed.Must(bed.SBCtlAt(ctx, bed.SBRelayRemote, "--bare", "--columns=name", "list", "Chassis"))(t); got != bed.Chassis {
		t.Fatalf("chassis through the SB relay: %q, want %s", got, bed.Chassis)
	}
}

// TestClusteredCloseLeavesNothing closes a clustered bed with relays
// whose NB leader is SIGSTOPped and an SB member killed: nothing may
// survive, and Close must not wait out its kill timeout.
func TestClusteredCloseLeavesNothing(t *testing.T) {
	testbed.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bed, err := testbed.Start(ctx, testbed.Options{Clustered: true, NBRelay: true, SBRelay: true, HostNetns: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	stopped, _, err := bed.StopLeader(ctx, testbed.Northbound)
	if err != nil {
		t.Fatal(err)
	}
	killed := testbed.Must(bed.KillLeader(ctx, testbed.Southbound))(t)
	t0 := time.Now()
	if err := bed.Close(); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	t.Logf("Close with %s stopped and %s killed: %v", stopped, killed, took.Round(time.Millisecond))
	if took > 4*time.Second {
		t.Errorf("Close took %v: did it wait for the stopped member?", took)
	}
	leftovers, err := bed.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leftovers) > 0 {
		t.Fatalf("after Close: left behind %v", leftovers)
	}
}

// TestAgentOnClusteredSB runs ovn-dpu-agent with --sb listing every SB
// member: it plugs a requested representor, the port goes READY, and it
// still does after the SB leader is killed.
func TestAgentOnClusteredSB(t *testing.T) {
	bed := startTimed(t, testbed.Options{Clustered: true, ElectionTimer: electionTimer})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	agent := testbed.Must(bed.StartDPUAgent(ctx))(t)
	w := testbed.Must(agent.Watch(ctx, ""))(t)
	defer w.Close()
	vfs := testbed.Must(bed.AddVFs(ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	if err := bed.RequestRepresentor(ctx, "net1", "pod-a", vfs[0], "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitPhase(ctx, time.Minute, ovndpuv1.Phase_PHASE_READY, "pod-a"); err != nil {
		t.Fatal(err)
	}
	old := testbed.Must(bed.KillLeader(ctx, testbed.Southbound))(t)
	t0 := time.Now()
	if err := bed.RequestRepresentor(ctx, "net1", "pod-b", vfs[1], "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitPhase(ctx, time.Minute, ovndpuv1.Phase_PHASE_READY, "pod-b"); err != nil {
		t.Fatal(err)
	}
	t.Logf("SB leader %s killed: the next port READY after %v", old, time.Since(t0).Round(time.Millisecond))
}

// TestClusteredSBSSL: with Options.SBSSL every SB member listens with SSL,
// and SBSSLRemote lists them all.
func TestClusteredSBSSL(t *testing.T) {
	bed := startTimed(t, testbed.Options{Clustered: true, SBSSL: true, NoController: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if n := len(strings.Split(bed.SBSSLRemote, ",")); n != 3 || !strings.HasPrefix(bed.SBSSLRemote, "ssl:127.0.0.1:") {
		t.Fatalf("SBSSLRemote %q", bed.SBSSLRemote)
	}
	c := bed.SSLClient
	for _, remote := range append(strings.Split(bed.SBSSLRemote, ","), bed.SBSSLRemote) {
		testbed.Must(bed.SBCtlAt(ctx, remote, "--private-key="+c.Key, "--certificate="+c.Cert, "--ca-cert="+c.CA,
			"--no-leader-only", "list", "SB_Global"))(t)
	}
}
