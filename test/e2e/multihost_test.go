package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// twoHosts is one DPU serving two hosts (a multi-host NIC): the bed's own
// host (A, devlink controller 1) and hostB (controller 2), each with its
// own host agent and certificate; the DPU agent runs with --hosts.
type twoHosts struct {
	*env
	hostB  *testbed.Host
	agentB *testbed.HostAgent
	// envB is env with host B's agent, for its CNI calls.
	envB *env
}

const dpuPort = ":50151"

func setupTwoHosts(t *testing.T) *twoHosts {
	t.Helper()
	bed := testbed.New(t, testbed.Options{HostNetns: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	hostB := testbed.Must(bed.AddHost(ctx, "b", 2))(t)
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pki := filepath.Join(bed.Dir, "pki")
	ca := tlstest.MustNewCA(t, "ovn-dpu e2e CA")
	dpuCert := ca.MustIssue(t, pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr, hostB.DPUAddr))
	certA := ca.MustIssue(t, pki, "host-agent", tlstest.WithDNSNames(bed.HostNode()))
	certB := ca.MustIssue(t, pki, "host-agent-b", tlstest.WithDNSNames(hostB.Node))
	ca.MustIssue(t, pki, "stranger", tlstest.WithDNSNames("host-"+bed.ID+"-stranger"))
	hosts := fmt.Sprintf("--hosts=%s=1,%s=2", bed.HostNode(), hostB.Node)
	dpu := testbed.Must(bed.StartDPUAgent(ctx, append([]string{"--listen=" + dpuPort, "--representor-wait=1s", hosts}, mtls(dpuCert)...)...))(t)
	hostA := testbed.Must(bed.StartHostAgent(ctx, bed.DPUAddr.String()+dpuPort, mtls(certA)...))(t)
	agentB := testbed.Must(hostB.StartHostAgent(ctx, hostB.DPUAddr.String()+dpuPort, mtls(certB)...))(t)
	e := &env{bed: bed, dpu: dpu, host: hostA, ctx: ctx}
	envB := *e
	envB.host = agentB
	return &twoHosts{env: e, hostB: hostB, agentB: agentB, envB: &envB}
}

// forge writes, straight to NB as a compromised host could, an LSP asking
// the DPU for vf's representor with the given owner and attachment id.
func (e *env) forge(t *testing.T, lsp string, vf *testbed.VF, owner, attachment string) {
	t.Helper()
	args := append(e.bed.RequestArgs("net1", lsp, vf, ""), "--", "set", "Logical_Switch_Port", lsp,
		fmt.Sprintf(`external_ids:%q=%q`, vifplug.ExtOwner, owner), fmt.Sprintf(`external_ids:%q=%q`, vifplug.ExtAttachment, attachment))
	testbed.Must(e.bed.NBCtl(e.ctx, args...))(t)
}

// TestOneDPUTwoHosts: each host attaches its own VF through its own host
// agent and the pods ping; each host sees only its own PFs and ports; a
// host cannot claim the other's PF or watch its ports; a certificate
// --hosts does not name gets nothing; LSPs forged in NB for a host's
// function are never plugged, and say which claim is missing; a DPU agent
// restart keeps the pods and the next ADD works; DEL leaves nothing.
func TestOneDPUTwoHosts(t *testing.T) {
	e := setupTwoHosts(t)
	vfA := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	vfB := testbed.Must(e.hostB.AddVF(e.ctx, 0, 0))(t)
	if vfA[0].PFMAC.String() == vfB.PFMAC.String() {
		t.Fatalf("the hosts' PFs share MAC %s", vfB.PFMAC)
	}
	podA := e.attachPod(t, e.watchDPU(t), "a", vfA[0])
	wB := testbed.Must(testbed.WatchConn(e.ctx, e.dialAs(t, e.hostB.Netns, e.hostB.DPUAddr.String()+dpuPort, "host-agent-b"), e.hostB.Node))(t)
	t.Cleanup(wB.Close)
	podB := e.envB.attachPod(t, wB, "b", vfB)
	e.pingAll(t, podA, podB)
	net1 := strings.TrimSpace(testbed.Must(e.bed.NBCtl(e.ctx, "get", "Logical_Switch", "net1", "_uuid"))(t))

	t.Run("each host sees its own", func(t *testing.T) {
		for _, c := range []struct {
			netns, addr, cert, pf string
		}{
			{e.bed.HostNetns, e.bed.DPUAddr.String() + dpuPort, "host-agent", vfA[0].PFMAC.String()},
			{e.hostB.Netns, e.hostB.DPUAddr.String() + dpuPort, "host-agent-b", vfB.PFMAC.String()},
		} {
			info, err := ovndpuv1.NewDPUAgentClient(e.dialAs(t, c.netns, c.addr, c.cert)).Info(e.ctx, &ovndpuv1.InfoRequest{})
			if err != nil || !slices.Equal(info.GetPfMacs(), []string{c.pf}) || !info.GetRequiresClaims() {
				t.Errorf("Info as %s: %v, %v; want its PF %s alone, claims required", c.cert, info, err, c.pf)
			}
		}
		if got := wB.Latest(podA.lsp); got != nil {
			t.Errorf("host B's stream shows host A's port %s: %v", podA.lsp, got)
		}
	})

	t.Run("what a claim costs", func(t *testing.T) {
		// The round trip an ADD adds on a DPU with --hosts, over mTLS from
		// the host namespace, as the host agent makes it.
		api := ovndpuv1.NewDPUAgentClient(e.dialAs(t, e.bed.HostNetns, e.bed.DPUAddr.String()+dpuPort, "host-agent"))
		claim := &ovndpuv1.AttachmentClaim{AttachmentId: "timing", LogicalPort: "timing-lsp", PfMac: vfA[1].PFMAC.String(), Function: "vf 1",
			LogicalSwitch: net1}
		var took []time.Duration
		for range 50 {
			start := time.Now()
			if _, err := api.Claim(e.ctx, &ovndpuv1.ClaimRequest{Claims: []*ovndpuv1.AttachmentClaim{claim}}); err != nil {
				t.Fatal(err)
			}
			took = append(took, time.Since(start))
		}
		if _, err := api.Release(e.ctx, &ovndpuv1.ReleaseRequest{AttachmentIds: []string{"timing"}}); err != nil {
			t.Fatal(err)
		}
		slices.Sort(took)
		t.Logf("Claim round trip over 50 calls: p50 %v, p90 %v, max %v", took[25], took[45], took[49])
	})

	t.Run("a host cannot reach for the other's", func(t *testing.T) {
		api := ovndpuv1.NewDPUAgentClient(e.dialAs(t, e.hostB.Netns, e.hostB.DPUAddr.String()+dpuPort, "host-agent-b"))
		_, err := api.Claim(e.ctx, &ovndpuv1.ClaimRequest{Claims: []*ovndpuv1.AttachmentClaim{{AttachmentId: "stolen",
			LogicalPort: "stolen-lsp", PfMac: vfA[1].PFMAC.String(), Function: "vf 1", LogicalSwitch: net1}}})
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "is not one of host "+e.hostB.Node+"'s PFs") {
			t.Errorf("host B claiming host A's PF: %v, want PermissionDenied", err)
		}
		stream, err := api.WatchPorts(e.ctx, &ovndpuv1.WatchPortsRequest{Node: e.bed.HostNode()})
		if err == nil {
			_, err = stream.Recv()
		}
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("host B watching host A's ports: %v, want PermissionDenied", err)
		}
		stranger := ovndpuv1.NewDPUAgentClient(e.dialAs(t, e.bed.HostNetns, e.bed.DPUAddr.String()+dpuPort, "stranger"))
		if _, err := stranger.Info(e.ctx, &ovndpuv1.InfoRequest{}); status.Code(err) != codes.PermissionDenied {
			t.Errorf("Info for a certificate --hosts does not name: %v, want PermissionDenied", err)
		}
	})

	t.Run("forged LSPs are not plugged", func(t *testing.T) {
		// As host A, with an attachment id host A never claimed; and as
		// host B, owning host A's function outright.
		e.forge(t, "forged-as-a", vfA[1], e.bed.HostNode(), "f00dfeed00000001")
		e.forge(t, "forged-as-b", vfA[1], e.hostB.Node, "f00dfeed00000002")
		want := map[string]string{
			"forged-as-a": fmt.Sprintf(`no claim from host %s for attachment "f00dfeed00000001"`, e.bed.HostNode()),
			"forged-as-b": fmt.Sprintf("is host %s's (devlink controller 1), but the port's %s is %q", e.bed.HostNode(), vifplug.ExtOwner, e.hostB.Node),
		}
		err := testbed.Eventually(e.ctx, 20*time.Second, "forged LSPs ERROR naming why", func() error {
			ports := e.dpuPorts(t)
			for lsp, reason := range want {
				if p := ports[lsp]; p.Phase != "ERROR" || !strings.Contains(p.Reason, reason) {
					return fmt.Errorf("%s: %s %q, want ERROR with %q", lsp, p.Phase, p.Reason, reason)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if iface := e.ifaceRow(t, vfA[1].Representor, "name"); iface != "" {
			t.Errorf("host A's representor %s was plugged for a forged LSP", vfA[1].Representor)
		}
		testbed.Must(e.bed.NBCtl(e.ctx, "lsp-del", "forged-as-a", "--", "lsp-del", "forged-as-b"))(t)
	})

	t.Run("a DPU agent restart", func(t *testing.T) {
		e.dpu.Kill()
		testbed.Must(0, e.dpu.Restart(e.ctx))(t)
		w := e.watchDPU(t)
		testbed.Must(0, w.WaitPhase(e.ctx, faultWait, phaseReady, podA.lsp))(t)
		e.pingAll(t, podA, podB)
		// Both hosts claimed all theirs again when their streams came back.
		err := testbed.Eventually(e.ctx, 20*time.Second, "both hosts re-claim", func() error {
			log, err := os.ReadFile(e.dpu.Log)
			for _, host := range []string{e.bed.HostNode(), e.hostB.Node} {
				if !strings.Contains(string(log), `msg="claims recorded" host=`+host+" claims=1 replace_all=true") {
					return fmt.Errorf("no replace_all claim from %s yet (%v)", host, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		again := e.attachPod(t, w, "a2", vfA[1])
		e.del(t, again.ns, again.conf)
	})

	t.Run("an LSP moved to another switch takes the function nowhere", func(t *testing.T) {
		// Host A's own LSP, deleted and re-created by someone else with the
		// same name, options and ids in another switch: the claim names the
		// switch, so the DPU unplugs rather than carry pod A into net2.
		get := func(column string) string {
			return strings.TrimSpace(testbed.Must(e.bed.NBCtl(e.ctx, "get", "Logical_Switch_Port", podA.lsp, column))(t))
		}
		options, ids, addresses := get("options"), get("external_ids"), get("addresses")
		testbed.Must(e.bed.NBCtl(e.ctx, "ls-add", "net2", "--", "lsp-del", podA.lsp, "--", "lsp-add", "net2", podA.lsp,
			"--", "set", "Logical_Switch_Port", podA.lsp, "options="+options, "external_ids="+ids, "addresses="+addresses))(t)
		err := testbed.Eventually(e.ctx, 20*time.Second, "the moved LSP ERROR and its representor unplugged", func() error {
			// northd replaces the binding, so the DPU sees host A's port
			// deleted (its plug and claim go with it) and a new, unclaimed
			// one; were the row kept, the claim would contradict it.
			p := e.dpuPorts(t)[podA.lsp]
			if p.Phase == "PLUGGED" || p.Phase == "READY" || !(strings.Contains(p.Reason, "the LSP was changed or re-created by someone else") ||
				strings.Contains(p.Reason, "no claim from host "+e.bed.HostNode())) {
				return fmt.Errorf("%s: %s %q", podA.lsp, p.Phase, p.Reason)
			}
			if iface := e.ifaceRow(t, vfA[0].Representor, "name"); iface != "" {
				return fmt.Errorf("representor %s still plugged", vfA[0].Representor)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("moved LSP: %s", e.dpuPorts(t)[podA.lsp].Reason)
	})

	e.del(t, podA.ns, podA.conf)
	e.envB.del(t, podB.ns, podB.conf)
	e.vfHome(t, vfA[0])
	if out := testbed.Must(e.hostB.IP(e.ctx, "-o", "link", "show", vfB.Netdev))(t); !strings.Contains(out, vfB.MAC.String()) {
		t.Errorf("host B's VF did not come home: %s", out)
	}
	if got := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=name", "list", "Logical_Switch_Port"))(t); strings.TrimSpace(got) != "" {
		t.Errorf("LSPs left: %s", got)
	}
	if out := e.agentPlugged(t); out != "" {
		t.Errorf("interfaces still plugged: %s", out)
	}
}
