package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// burstSize is how many pods attach or detach at once while a database
// leader fails under them.
const burstSize = 16

// failoverEnv is a clustered bed (3-member NB and SB RAFT clusters, 1 s
// probe intervals in both agents) with burstSize fake VFs and pods.
type failoverEnv struct {
	*env
	vfs  []*testbed.VF
	pods []string
	ips  []string
}

func setupFailover(t *testing.T, relays bool) *failoverEnv {
	t.Helper()
	opts := testbed.Options{Clustered: true, NBRelay: relays, SBRelay: relays}
	e := &failoverEnv{}
	e.env = setupWith(t, opts, func(b *testbed.Bed) (dpu, host []string) {
		// A server silent for a second is given up on: a hung leader
		// costs the agents about two seconds.
		dpu, host = []string{"--ovsdb-probe-interval=1s"}, []string{"--ovsdb-probe-interval=1s"}
		if relays {
			// Each agent talks to its relay only; the relay follows the
			// cluster's leader changes.
			dpu, host = append(dpu, "--sb="+b.SBRelayRemote), append(host, "--nb="+b.NBRelayRemote)
		}
		return dpu, host
	})
	indices := make([]int, burstSize)
	for i := range indices {
		indices[i] = i
	}
	e.vfs = testbed.Must(e.bed.AddVFs(e.ctx, 0, indices, testbed.VFOptions{}))(t)
	for i := range burstSize {
		e.pods = append(e.pods, testbed.Must(e.bed.AddPod(e.ctx, fmt.Sprint("f", i)))(t))
	}
	e.ips = make([]string, burstSize)
	return e
}

// burst runs verb for every pod at once; fault runs once the first LSP of
// the burst is in NB (ADD) or the first is gone (DEL), i.e. with writes in
// flight. It returns each CNI call's duration and fails t on any error.
func (e *failoverEnv) burst(t *testing.T, verb string, fault func()) []time.Duration {
	t.Helper()
	took := make([]time.Duration, burstSize)
	errs := make([]string, burstSize)
	before := len(e.lsps(t))
	var wg sync.WaitGroup
	for i, vf := range e.vfs {
		wg.Go(func() {
			start := time.Now()
			conf := e.netconf(vf.PCI, e.hostLocal(), map[string]any{"timeoutSeconds": 60})
			r := e.bed.CNITool(e.ctx, verb, filepath.Base(e.pods[i]), conf)
			took[i] = time.Since(start)
			if r.Err != nil {
				errs[i] = fmt.Sprintf("%v: %s %s", r.Err, r.Stdout, r.Stderr)
				return
			}
			var res current.Result
			if verb == "add" && json.Unmarshal([]byte(r.Stdout), &res) == nil && len(res.IPs) == 1 {
				e.ips[i] = res.IPs[0].Address.IP.String()
			}
		})
	}
	if fault != nil {
		testbed.Must(0, testbed.Eventually(e.ctx, time.Minute, "the burst's first NB write", func() error {
			if n := len(e.lsps(t)); n == before {
				return fmt.Errorf("%d LSPs, none written or removed yet", n)
			}
			return nil
		}))(t)
		fault()
	}
	wg.Wait()
	var failed []string
	for i, err := range errs {
		if err != "" {
			failed = append(failed, fmt.Sprintf("%s %d: %s", verb, i, err))
		}
	}
	if len(failed) > 0 {
		t.Fatalf("%d of %d %ss failed:\n%s\nlogs:\n%s", len(failed), burstSize, verb, strings.Join(failed, "\n"), e.bed.Logs(30))
	}
	sorted := slices.Sorted(slices.Values(took))
	t.Logf("%d concurrent %ss: min %v, median %v, max %v", burstSize, verb, sorted[0].Round(time.Millisecond),
		sorted[burstSize/2].Round(time.Millisecond), sorted[burstSize-1].Round(time.Millisecond))
	return took
}

// attachmentID finds ovn-dpu:attachment in ovn-nbctl's rendering of a map,
// quoted or not.
var attachmentID = regexp.MustCompile(`"?ovn-dpu:attachment"?="?([0-9a-f]+)"?`)

// wantOneLSPPerAttachment checks NB against the host agent's records:
// exactly one LSP per attachment, none without one.
func (e *failoverEnv) wantOneLSPPerAttachment(t *testing.T) {
	t.Helper()
	out := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=external_ids", "find", "Logical_Switch_Port",
		"external_ids:ovn-dpu\\:owner="+e.host.Node))(t)
	var inNB []string
	for _, m := range attachmentID.FindAllStringSubmatch(out, -1) {
		inNB = append(inNB, m[1])
	}
	store := testbed.Must(hoststate.Open(e.host.StateDir))(t)
	atts := testbed.Must(store.List())(t)
	var recorded []string
	for _, a := range atts {
		recorded = append(recorded, a.AttachmentID)
	}
	slices.Sort(inNB)
	slices.Sort(recorded)
	if len(recorded) != burstSize || !slices.Equal(inNB, recorded) {
		t.Fatalf("NB has LSPs of attachments %v, the host agent recorded %v: want exactly one LSP per attachment (%d)",
			inNB, recorded, burstSize)
	}
}

// wantPodsPing pings every pod from the first one, across OVN.
func (e *failoverEnv) wantPodsPing(t *testing.T) {
	t.Helper()
	for i := 1; i < burstSize; i++ {
		if err := e.bed.Ping(e.ctx, e.pods[0], e.ips[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// wantNothingLeft checks that a DEL burst left no LSP, no plugged
// interface and every VF home.
func (e *failoverEnv) wantNothingLeft(t *testing.T) {
	t.Helper()
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left after DEL: %v", got)
	}
	testbed.Must(0, testbed.Eventually(e.ctx, 30*time.Second, "every interface unplugged", func() error {
		out, err := e.bed.VSCtl(e.ctx, "--bare", "--columns=name", "find", "Interface", "external_ids:ovn-dpu-plugged=representor")
		if err == nil && strings.TrimSpace(out) != "" {
			err = fmt.Errorf("still plugged: %s", strings.Join(strings.Fields(out), " "))
		}
		return err
	}))(t)
	for _, vf := range e.vfs {
		e.vfHome(t, vf)
	}
}

// agentOVSWrites counts the DPU agent's committed OVS transactions.
func (e *failoverEnv) agentOVSWrites(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(e.bed.Dir, "ovs.db"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), `"_comment":"ovn-dpu-agent:`)
}

// unknownOutcomes counts the NB writes the host agent had to settle.
func (e *failoverEnv) unknownOutcomes(t *testing.T) int {
	t.Helper()
	data, err := os.ReadFile(e.host.Log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(data), "outcome unknown")
}

func TestFailoverNBLeader(t *testing.T) {
	for _, relays := range []bool{false, true} {
		for _, fault := range []string{"killed", "hung", "hands off"} {
			name := "leader " + fault
			if relays {
				name += " behind relays"
			}
			t.Run(name, func(t *testing.T) {
				e := setupFailover(t, relays)
				var old *testbed.Member
				var resume func() error
				inject := func() {
					var err error
					switch fault {
					case "killed":
						old, err = e.bed.KillLeader(e.ctx, testbed.Northbound)
					case "hung":
						old, resume, err = e.bed.StopLeader(e.ctx, testbed.Northbound)
					case "hands off":
						old, _, err = e.bed.TransferLeadership(e.ctx, testbed.Northbound)
					}
					if err != nil {
						t.Errorf("NB leader %s: %v", fault, err)
					}
				}
				took := e.burst(t, "add", inject)
				newLeader := testbed.Must(e.bed.WaitNewLeader(e.ctx, testbed.Northbound, old))(t)
				t.Logf("NB leader %s %s mid-burst, %s took over; %d NB writes settled after an unknown outcome; slowest ADD %v",
					old, fault, newLeader, e.unknownOutcomes(t), slices.Max(took).Round(time.Millisecond))
				e.wantOneLSPPerAttachment(t)
				e.wantPodsPing(t)
				// Bring the old leader back as a follower, then detach
				// everything — with the new leader killed under the DELs
				// once.
				if resume != nil {
					testbed.Must(0, resume())(t)
				} else if fault == "killed" {
					testbed.Must(0, e.bed.RestartMember(e.ctx, old))(t)
				}
				var delFault func()
				var killed *testbed.Member
				if fault == "killed" {
					delFault = func() {
						var err error
						if killed, err = e.bed.KillLeader(e.ctx, testbed.Northbound); err != nil {
							t.Errorf("kill NB leader under the DELs: %v", err)
						}
					}
				}
				e.burst(t, "del", delFault)
				if killed != nil {
					// The DELs may all be done before the election is: the
					// checks below ask NB, which needs a leader again.
					testbed.Must(e.bed.WaitNewLeader(e.ctx, testbed.Northbound, killed))(t)
				}
				e.wantNothingLeft(t)
			})
		}
	}
}

func TestFailoverSBLeader(t *testing.T) {
	for _, relays := range []bool{false, true} {
		name := "direct"
		if relays {
			name = "behind relays"
		}
		t.Run(name, func(t *testing.T) {
			e := setupFailover(t, relays)
			e.burst(t, "add", nil)
			e.wantPodsPing(t)
			// Ports that stay while SB changes leader cost no OVS write.
			writes := e.agentOVSWrites(t)
			old := testbed.Must(e.bed.KillLeader(e.ctx, testbed.Southbound))(t)
			newLeader := testbed.Must(e.bed.WaitNewLeader(e.ctx, testbed.Southbound, old))(t)
			// The agent is back on the new leader once a fresh binding
			// reaches it: write one and wait for it to be plugged.
			probe := testbed.Must(e.bed.AddVFs(e.ctx, 1, []int{0}, testbed.VFOptions{}))(t)[0]
			testbed.Must(0, e.bed.RequestRepresentor(e.ctx, "net1", "probe", probe, ""))(t)
			testbed.Must(0, e.bed.WaitLSPUp(e.ctx, "probe"))(t)
			if extra := e.agentOVSWrites(t) - writes; extra != 1 {
				t.Errorf("DPU agent made %d OVS transactions across the SB leader change, want 1 (the new port's plug) and 0 for the %d that stayed",
					extra, burstSize)
			}
			t.Logf("SB leader %s killed, %s took over: the %d plugged ports cost 0 OVS writes", old, newLeader, burstSize)
			testbed.Must(e.bed.NBCtl(e.ctx, "lsp-del", "probe"))(t)
			testbed.Must(0, e.bed.RestartMember(e.ctx, old))(t)
			e.burst(t, "del", func() {
				if _, err := e.bed.KillLeader(e.ctx, testbed.Southbound); err != nil {
					t.Errorf("kill SB leader under the DELs: %v", err)
				}
			})
			e.wantNothingLeft(t)
		})
	}
}
