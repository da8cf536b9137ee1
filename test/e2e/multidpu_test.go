package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/ovn-dpu/ovn-dpu/pkg/statuscmd"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// twoDPUs is a host with two DPUs: the bed's own (A) and dpuB, each with
// its own OVS, ovn-controller and DPU agent on mTLS, Geneve between them,
// and one host agent following both.
type twoDPUs struct {
	*env
	dpuB   *testbed.DPU
	agentB *testbed.DPUAgent
	addrB  string
}

func setupTwoDPUs(t *testing.T) *twoDPUs {
	t.Helper()
	bed := testbed.New(t, testbed.Options{HostNetns: true, Underlay: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	start := time.Now()
	dpuB := testbed.Must(bed.AddDPU(ctx, "b"))(t)
	t.Logf("second DPU %s up, Geneve both ways, in %v", dpuB.Chassis, time.Since(start).Round(time.Millisecond))
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pki := filepath.Join(bed.Dir, "pki")
	ca := tlstest.MustNewCA(t, "ovn-dpu e2e CA")
	certA := ca.MustIssue(t, pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr))
	certB := ca.MustIssue(t, pki, "dpu-agent-b", tlstest.WithIPs(dpuB.Addr))
	hostCert := ca.MustIssue(t, pki, "host-agent", tlstest.WithDNSNames(bed.HostNode()))
	addrA, addrB := bed.DPUAddr.String()+":50151", dpuB.Addr.String()+":50151"
	agentA := testbed.Must(bed.StartDPUAgent(ctx, append([]string{"--listen=" + addrA, "--representor-wait=1s"}, mtls(certA)...)...))(t)
	agentB := testbed.Must(dpuB.StartDPUAgent(ctx, append([]string{"--listen=" + addrB, "--representor-wait=1s"}, mtls(certB)...)...))(t)
	host := testbed.Must(bed.StartHostAgent(ctx, addrA+","+addrB, mtls(hostCert)...))(t)
	return &twoDPUs{env: &env{bed: bed, dpu: agentA, host: host, ctx: ctx}, dpuB: dpuB, agentB: agentB, addrB: addrB}
}

// mtls are an agent's flags for certificate leaf.
func mtls(leaf tlstest.Leaf) []string {
	return []string{"--insecure=false", "--tls-cert=" + leaf.Cert, "--tls-key=" + leaf.Key, "--tls-ca=" + leaf.CA}
}

// requestedChassis is the requested-chassis of the LSP of the attachment
// on vf.
func (e *env) requestedChassis(t *testing.T, vf *testbed.VF) string {
	t.Helper()
	lsp := e.lspOfVF(t, vf)
	out := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "get", "Logical_Switch_Port", lsp, "options:"+vifplug.OptRequestedChassis))(t)
	return strings.Trim(strings.TrimSpace(out), `"`)
}

// TestTwoDPUsOneHost: each ADD goes to the DPU of its VF's PF, which the
// LSP names as requested-chassis; the pods behind the two DPUs ping each
// other across the Geneve tunnel; the status command names each
// attachment's DPU; DEL leaves nothing on either.
func TestTwoDPUsOneHost(t *testing.T) {
	e := setupTwoDPUs(t)
	vfA := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	vfB := testbed.Must(e.dpuB.AddVF(e.ctx, 4, 0))(t)
	w := e.watchDPU(t)
	podA := e.attachPod(t, w, "a", vfA)
	wB := e.watchDPUAt(t, e.addrB)
	pB := &faultPod{name: "b", ns: testbed.Must(e.bed.AddPod(e.ctx, "b"))(t), vf: vfB, conf: e.netconf(vfB.PCI, e.hostLocal(), nil)}
	res, took := e.add(t, pB.ns, pB.conf)
	pB.ip, pB.lsp = res.IPs[0].Address.IP.String(), e.lspOfVF(t, vfB)
	testbed.Must(0, wB.WaitPhase(e.ctx, faultWait, phaseReady, pB.lsp))(t)
	t.Logf("pod b attached behind %s in %v", e.dpuB.Chassis, took.Round(time.Millisecond))

	if got := e.requestedChassis(t, vfA); got != e.bed.Chassis {
		t.Errorf("pod a's LSP requests chassis %q, want %q", got, e.bed.Chassis)
	}
	if got := e.requestedChassis(t, vfB); got != e.dpuB.Chassis {
		t.Errorf("pod b's LSP requests chassis %q, want %q", got, e.dpuB.Chassis)
	}
	e.pingAll(t, podA, pB)
	if flows := testbed.Must(e.bed.AppCtl(e.ctx, "vswitchd", "dpctl/dump-flows"))(t); !strings.Contains(flows, "tnl_push") {
		t.Errorf("no tunnelled flow on the first DPU: pods did not talk across Geneve?\n%s", flows)
	}

	out := runStatus(t, testbed.Must(e.host.AttachmentsCommand(e.ctx, "-o", "json"))(t), "attachments -o json")
	var atts statuscmd.Attachments
	if err := json.Unmarshal([]byte(out), &atts); err != nil {
		t.Fatalf("attachments -o json %q: %v", out, err)
	}
	byLSP := map[string]statuscmd.Attachment{}
	for _, a := range atts.Attachments {
		byLSP[a.LogicalPort] = a
	}
	if byLSP[podA.lsp].DPU != e.bed.Chassis || byLSP[pB.lsp].DPU != e.dpuB.Chassis || byLSP[pB.lsp].Phase != "READY" || len(atts.DPUs) != 2 {
		t.Errorf("attachments: %s", out)
	}
	table := runStatus(t, testbed.Must(e.host.AttachmentsCommand(e.ctx))(t), "attachments")
	t.Logf("ovn-dpu-host-agent attachments:\n%s", table)
	if !strings.Contains(line(table, pB.lsp), e.dpuB.Chassis) {
		t.Errorf("the table does not name pod b's DPU:\n%s", table)
	}

	for _, p := range []*faultPod{podA, pB} {
		e.del(t, p.ns, p.conf)
		e.vfHome(t, p.vf)
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left: %v", got)
	}
	for _, d := range []func(context.Context, ...string) (string, error){e.bed.VSCtl, e.dpuB.VSCtl} {
		if out := testbed.Must(d(e.ctx, "--bare", "--columns=name", "find", "Interface", "external_ids:ovn-dpu-plugged=representor"))(t); out != "" {
			t.Errorf("interfaces still plugged: %s", out)
		}
	}
}

// TestTwoDPUsFailApart: a VF whose PF neither DPU has fails at once with
// 102 naming the PF and both DPUs' PFs; with DPU B's agent down, an ADD of
// B's VF fails (11) and one of A's VF succeeds, and STATUS passes; once B
// is back its VF attaches.
func TestTwoDPUsFailApart(t *testing.T) {
	e := setupTwoDPUs(t)
	vfA := testbed.Must(e.bed.AddVF(e.ctx, 0, 0))(t)
	vfB := testbed.Must(e.dpuB.AddVF(e.ctx, 4, 0))(t)

	// A VF the host sees whose PF no DPU has (its NIC's DPU is not among
	// --dpu): sysfs alone describes it.
	ghostPF := net.HardwareAddr{0x0e, 0x42, 0xde, 0xad, 0xf0, 0x09}
	testbed.Must(0, e.bed.Sysfs().AddPF("0000:29:00.0", "ghostpf", ghostPF))(t)
	testbed.Must(0, e.bed.Sysfs().AddVF("0000:29:00.0", "0000:29:01.0", 0, "ghostvf", net.HardwareAddr{0x0e, 0x43, 0xde, 0xad, 9, 0}, "mlx5_core"))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "ghost"))(t)
	start := time.Now()
	r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-ghost", ns, "eth0", e.netconf("0000:29:01.0", e.hostLocal(), nil))
	code, msg := r.CNIError()
	t.Logf("ADD of a VF no DPU has: %v, code %d: %s", time.Since(start).Round(time.Millisecond), code, msg)
	for _, want := range []string{"no DPU has PF " + ghostPF.String(), e.bed.Chassis, e.dpuB.Chassis, vfA.PFMAC.String(), vfB.PFMAC.String()} {
		if code != 102 || !strings.Contains(msg, want) {
			t.Errorf("ADD of a VF no DPU has: code %d %q, want 102 naming %s", code, msg, want)
		}
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs written for it: %v", got)
	}

	e.agentB.Kill()
	podB := testbed.Must(e.bed.AddPod(e.ctx, "b"))(t)
	r = e.bed.ExecPlugin(e.ctx, "ADD", "ctr-b", podB, "eth0", e.netconf(vfB.PCI, e.hostLocal(), map[string]any{"timeoutSeconds": 20}))
	if code, msg := r.CNIError(); code != 11 || !strings.Contains(msg, e.addrB) {
		t.Errorf("ADD of DPU B's VF with its agent down: code %d %q, want 11 naming %s", code, msg, e.addrB)
	}
	podA := e.attachPod(t, e.watchDPU(t), "a", vfA)
	if r := e.bed.ExecPlugin(e.ctx, "STATUS", "", "", "", e.netconf(vfA.PCI, e.hostLocal(), nil)); r.Err != nil {
		t.Errorf("STATUS with one of two DPUs down: %v\n%s%s", r.Err, r.Stdout, r.Stderr)
	}

	testbed.Must(0, e.agentB.Restart(e.ctx))(t)
	wB := e.watchDPUAt(t, e.addrB)
	e.add(t, podB, e.netconf(vfB.PCI, e.hostLocal(), nil))
	testbed.Must(0, wB.WaitPhase(e.ctx, faultWait, phaseReady, e.lspOfVF(t, vfB)))(t)
	e.del(t, podB, e.netconf(vfB.PCI, e.hostLocal(), nil))
	e.del(t, podA.ns, podA.conf)
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left: %v", got)
	}
}

// watchDPUAt is watchDPU for the DPU agent at addr.
func (e *env) watchDPUAt(t *testing.T, addr string) *testbed.Watcher {
	t.Helper()
	w := testbed.Must(testbed.WatchConn(e.ctx, e.dialAs(t, e.bed.HostNetns, addr, "host-agent"), e.bed.HostNode()))(t)
	t.Cleanup(w.Close)
	return w
}

// dialAs connects to the DPU agent at addr from netns with the client
// certificate pki/<name>.
func (e *env) dialAs(t *testing.T, netns, addr, name string) *grpc.ClientConn {
	t.Helper()
	pki := filepath.Join(e.bed.Dir, "pki")
	files := tlsutil.Files{Cert: filepath.Join(pki, name+".crt"), Key: filepath.Join(pki, name+".key"), CA: filepath.Join(pki, name+"-ca.crt")}
	creds, _, err := tlsutil.ClientCredentials(files, false, "", tlsutil.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds), grpc.WithContextDialer(e.bed.DialerIn(netns)))
	if err != nil {
		t.Fatal(fmt.Errorf("dial %s as %s: %w", addr, name, err))
	}
	return conn
}
