package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// env is a bed with both agents, joined by mTLS over the host-dpu link.
type env struct {
	bed  *testbed.Bed
	dpu  *testbed.DPUAgent
	host *testbed.HostAgent
	ctx  context.Context
}

func setup(t *testing.T) *env {
	t.Helper()
	return setupWith(t, testbed.Options{}, nil)
}

// agentFlags gives, for a started bed, extra flags for the DPU agent and
// the host agent (a later flag wins over the harness's own).
type agentFlags func(*testbed.Bed) (dpu, host []string)

// setupWith starts a bed with opts (plus a host namespace) and both agents,
// with flags' extra flags.
func setupWith(t *testing.T, opts testbed.Options, flags agentFlags) *env {
	t.Helper()
	opts.HostNetns = true
	bed := testbed.New(t, opts)
	var dpuExtra, hostExtra []string
	if flags != nil {
		dpuExtra, hostExtra = flags(bed)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pki := filepath.Join(bed.Dir, "pki")
	ca := tlstest.MustNewCA(t, "ovn-dpu e2e CA")
	dpuCert := ca.MustIssue(t, pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr))
	// The DPU agent serves a host the ports its certificate names.
	hostCert := ca.MustIssue(t, pki, "host-agent", tlstest.WithDNSNames(bed.HostNode()))
	dpuAddr := bed.DPUAddr.String() + ":50151"
	dpu := testbed.Must(bed.StartDPUAgent(ctx, append([]string{"--listen=" + dpuAddr, "--insecure=false", "--representor-wait=1s",
		"--tls-cert=" + dpuCert.Cert, "--tls-key=" + dpuCert.Key, "--tls-ca=" + dpuCert.CA}, dpuExtra...)...))(t)
	host := testbed.Must(bed.StartHostAgent(ctx, dpuAddr, append([]string{
		"--tls-cert=" + hostCert.Cert, "--tls-key=" + hostCert.Key, "--tls-ca=" + hostCert.CA}, hostExtra...)...))(t)
	return &env{bed: bed, dpu: dpu, host: host, ctx: ctx}
}

// netconf is the network configuration a cluster admin would write.
func (e *env) netconf(deviceID string, ipam map[string]any, extra map[string]any) map[string]any {
	conf := map[string]any{
		"cniVersion": "1.1.0", "name": "ovnnet", "type": "ovn-dpu-cni",
		"logicalSwitch": "net1", "agentSocket": e.host.Socket, "deviceID": deviceID,
		"timeoutSeconds": 30,
	}
	if ipam != nil {
		conf["ipam"] = ipam
	}
	for k, v := range extra {
		conf[k] = v
	}
	return conf
}

func (e *env) hostLocal() map[string]any {
	return map[string]any{"type": "host-local", "dataDir": filepath.Join(e.bed.Dir, "host-local"),
		"ranges": [][]map[string]any{{{"subnet": "10.30.0.0/24"}}}}
}

// add runs cnitool add and decodes the result, failing t on a CNI error.
func (e *env) add(t *testing.T, pod string, conf map[string]any, env ...string) (*current.Result, time.Duration) {
	t.Helper()
	start := time.Now()
	r := e.bed.CNITool(e.ctx, "add", pod, conf, env...)
	took := time.Since(start)
	if r.Err != nil {
		t.Fatalf("cnitool add %s: %v\nstdout: %s\nstderr: %s\nhost agent log:\n%s", pod, r.Err, r.Stdout, r.Stderr, e.bed.Logs(40))
	}
	var res current.Result
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("ADD result %q: %v", r.Stdout, err)
	}
	return &res, took
}

func (e *env) del(t *testing.T, pod string, conf map[string]any, env ...string) {
	t.Helper()
	if r := e.bed.CNITool(e.ctx, "del", pod, conf, env...); r.Err != nil {
		t.Fatalf("cnitool del %s: %v\nstdout: %s\nstderr: %s", pod, r.Err, r.Stdout, r.Stderr)
	}
}

// lsps lists the LSPs this host agent owns in NB.
func (e *env) lsps(t *testing.T) []string {
	t.Helper()
	out := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=name", "find", "Logical_Switch_Port",
		"external_ids:ovn-dpu\\:owner="+e.host.Node))(t)
	return strings.Fields(out)
}

// vfHome checks that vf is back in the host namespace under its name with
// its MAC.
func (e *env) vfHome(t *testing.T, vf *testbed.VF) {
	t.Helper()
	out, err := e.bed.HostIP(e.ctx, "-o", "link", "show", vf.Netdev)
	if err != nil {
		t.Fatalf("VF %s is not home: %v", vf.Netdev, err)
	}
	if !strings.Contains(out, vf.MAC.String()) {
		t.Errorf("VF %s came home with another MAC: %s", vf.Netdev, out)
	}
}

// TestAttachTwoPodsPingDelAndReuse: ADD two pods with host-local IPAM,
// ping and exchange data over TCP between them across OVN, DEL (twice),
// ADD again on the same VF, and ping and TCP the other way.
func TestAttachTwoPodsPingDelAndReuse(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	pods := []string{"a", "b"}
	var ips []string
	for i, pod := range pods {
		ns := testbed.Must(e.bed.AddPod(e.ctx, pod))(t)
		res, took := e.add(t, ns, e.netconf(vfs[i].PCI, e.hostLocal(), map[string]any{"mtu": 1400}))
		t.Logf("ADD pod %s: %v", pod, took)
		if len(res.IPs) != 1 || len(res.Interfaces) != 1 || res.Interfaces[0].PciID != vfs[i].PCI || res.Interfaces[0].Name != "eth0" {
			t.Fatalf("ADD result %+v: want one IP and interface eth0 with pciID %s", res, vfs[i].PCI)
		}
		ips = append(ips, res.IPs[0].Address.IP.String())
		testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(vfs[i].PCI))(t)
	}
	if err := e.bed.Ping(e.ctx, e.bed.Pod("a"), ips[1]); err != nil {
		t.Fatal(err)
	}
	// The bed turned TX checksum offload off on the fake VFs; the agent's
	// move into the pod (a rename in a temp netns) must not bring it back.
	if on := testbed.Must(e.bed.TxChecksumming(e.bed.Pod("a"), "eth0"))(t); on {
		t.Errorf("pod a eth0 has TX checksum offload on after the move: TCP across the userspace datapath would fail")
	}
	start := time.Now()
	if err := e.bed.TCPExchange(e.ctx, e.bed.Pod("a"), e.bed.Pod("b"), ips[1]); err != nil {
		t.Fatal(err)
	}
	t.Logf("TCP pod a -> pod b, %d bytes each way: %v", testbed.TCPExchangeSize, time.Since(start))
	mtu := testbed.Must(e.bed.InNetns(e.ctx, e.bed.Pod("a"), "cat", "/sys/class/net/eth0/mtu"))(t)
	if mtu != "1400" {
		t.Errorf("pod a eth0 mtu = %s, want 1400", mtu)
	}
	if got := e.lsps(t); len(got) != 2 {
		t.Fatalf("host agent owns LSPs %v, want 2", got)
	}

	conf := e.netconf(vfs[0].PCI, e.hostLocal(), nil)
	e.del(t, e.bed.Pod("a"), conf)
	testbed.Must(0, e.bed.Sysfs().MoveNetdevHome(vfs[0].PCI, ""))(t)
	e.del(t, e.bed.Pod("a"), conf) // DEL again: success
	e.vfHome(t, vfs[0])
	if got := e.lsps(t); len(got) != 1 {
		t.Fatalf("after DEL the host agent owns LSPs %v, want 1", got)
	}
	res, took := e.add(t, e.bed.Pod("a"), conf)
	t.Logf("ADD pod a again on the same VF: %v", took)
	if err := e.bed.Ping(e.ctx, e.bed.Pod("b"), res.IPs[0].Address.IP.String()); err != nil {
		t.Fatal(err)
	}
	// The other way, onto the VF that went home and came back.
	if err := e.bed.TCPExchange(e.ctx, e.bed.Pod("b"), e.bed.Pod("a"), res.IPs[0].Address.IP.String()); err != nil {
		t.Fatal(err)
	}
}

// TestMultusStyleConfig: top-level deviceID, Kubernetes CNI_ARGS and keys
// the plugin does not know; static IPAM.
func TestMultusStyleConfig(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 3))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "m"))(t)
	conf := e.netconf(vf.PCI, map[string]any{"type": "static", "addresses": []map[string]any{{"address": "10.40.0.7/24"}}},
		map[string]any{"multusExtra": map[string]any{"x": 1}, "resourceName": "nvidia.com/bf_vfs", "lspName": "{podNamespace}_{podName}"})
	args := "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc123"
	res, _ := e.add(t, ns, conf, args)
	if got := res.IPs[0].Address.String(); got != "10.40.0.7/24" {
		t.Errorf("static IP = %s", got)
	}
	ids := testbed.Must(e.bed.NBCtl(e.ctx, "get", "Logical_Switch_Port", "prod_web-0", "external_ids"))(t)
	for _, want := range []string{`"ovn-dpu:pod-namespace"=prod`, `"ovn-dpu:pod-name"=web-0`, `"ovn-dpu:network"=ovnnet`} {
		if !strings.Contains(ids, want) {
			t.Errorf("LSP external_ids %s lack %s", ids, want)
		}
	}
	e.del(t, ns, conf, args)
	if got := e.lsps(t); len(got) != 0 {
		t.Fatalf("LSPs left after DEL: %v", got)
	}
}

// TestVFWithoutRepresentorFailsFast: the DPU has no representor for the VF,
// so ADD fails with code 100 naming the problem well before timeoutSeconds,
// and nothing is left behind.
func TestVFWithoutRepresentorFailsFast(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{5}, testbed.VFOptions{Unpublished: true}))(t)[0]
	ns := testbed.Must(e.bed.AddPod(e.ctx, "x"))(t)
	conf := e.netconf(vf.PCI, e.hostLocal(), nil)
	start := time.Now()
	r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-x", ns, "eth0", conf)
	took := time.Since(start)
	t.Logf("ADD with no representor failed after %v: %s", took, r.Stdout)
	code, msg := r.CNIError()
	if r.Err == nil || code != 100 || !strings.Contains(msg, "no representor for pf-mac "+vf.PFMAC.String()) {
		t.Fatalf("ADD: err %v, code %d, msg %q; want code 100 naming the missing representor", r.Err, code, msg)
	}
	if took > 15*time.Second {
		t.Errorf("ADD took %v to fail; timeoutSeconds is 30 and the DPU knew at once", took)
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left after the failed ADD: %v", got)
	}
	e.vfHome(t, vf)
}

// TestHostAgentRestartBetweenAddAndDel: the host agent is killed after
// ADD; DEL served by the restarted agent still cleans up from its state.
func TestHostAgentRestartBetweenAddAndDel(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 2))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "r"))(t)
	conf := e.netconf(vf.PCI, e.hostLocal(), nil)
	e.add(t, ns, conf)
	e.host.Kill()
	testbed.Must(0, e.host.Restart(e.ctx))(t)
	e.del(t, ns, conf)
	e.vfHome(t, vf)
	if got := e.lsps(t); len(got) != 0 {
		t.Fatalf("LSPs left after DEL by the restarted agent: %v", got)
	}
	leases := testbed.Must(e.bed.InNetns(e.ctx, "", "ls", filepath.Join(e.bed.Dir, "host-local", "ovnnet")))(t)
	if strings.Contains(leases, "10.30.0.") {
		t.Errorf("host-local lease not released: %s", leases)
	}
}

// TestStatus: STATUS reaches the host agent, which forwards it to the
// IPAM delegate; with both agents up, OVN connected and the DPU chassis
// registered it passes. (CHECK and GC: verbs_test.go.)
func TestStatus(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 4))(t)
	if r := e.bed.ExecPlugin(e.ctx, "STATUS", "", "", "", e.netconf(vf.PCI, e.hostLocal(), nil)); r.Err != nil {
		t.Fatalf("STATUS: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	if r := e.bed.ExecPlugin(e.ctx, "STATUS", "", "", "", e.netconf(vf.PCI, map[string]any{"type": "no-such-ipam"}, nil)); r.Err == nil {
		t.Fatalf("STATUS with an IPAM plugin that does not exist passed: %s", r.Stdout)
	} else if code, msg := r.CNIError(); code != 50 || !strings.Contains(msg, "IPAM plugin no-such-ipam") {
		t.Fatalf("STATUS with a missing IPAM plugin: code %d %q, want 50 naming it", code, msg)
	}
}

// TestConcurrentAttachments: eight pods attached and detached at once, as
// a node does when a deployment scales; every ADD gets its own VF, address
// and LSP, and every DEL leaves the VF home.
func TestConcurrentAttachments(t *testing.T) {
	e := setup(t)
	const n = 8
	indices := make([]int, n)
	for i := range indices {
		indices[i] = 8 + i
	}
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, indices, testbed.VFOptions{}))(t)
	type outcome struct {
		ip   string
		took time.Duration
		err  string
	}
	results := make([]outcome, n)
	run := func(verb string) {
		var wg sync.WaitGroup
		for i, vf := range vfs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				r := e.bed.CNITool(e.ctx, verb, e.bed.Pod(fmt.Sprint("c", i)), e.netconf(vf.PCI, e.hostLocal(), nil))
				results[i] = outcome{took: time.Since(start)}
				if r.Err != nil {
					results[i].err = fmt.Sprintf("%v: %s %s", r.Err, r.Stdout, r.Stderr)
					return
				}
				var res current.Result
				if verb == "add" && json.Unmarshal([]byte(r.Stdout), &res) == nil && len(res.IPs) == 1 {
					results[i].ip = res.IPs[0].Address.IP.String()
				}
			}()
		}
		wg.Wait()
	}
	for i := range vfs {
		testbed.Must(e.bed.AddPod(e.ctx, fmt.Sprint("c", i)))(t)
	}
	start := time.Now()
	run("add")
	t.Logf("%d concurrent ADDs done in %v", n, time.Since(start))
	seen := map[string]bool{}
	for i, r := range results {
		if r.err != "" || r.ip == "" || seen[r.ip] {
			t.Fatalf("ADD %d: ip %q (duplicate: %v), err %s", i, r.ip, seen[r.ip], r.err)
		}
		seen[r.ip] = true
	}
	if got := e.lsps(t); len(got) != n {
		t.Fatalf("host agent owns %d LSPs, want %d", len(got), n)
	}
	if err := e.bed.Ping(e.ctx, e.bed.Pod("c0"), results[n-1].ip); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	run("del")
	t.Logf("%d concurrent DELs done in %v", n, time.Since(start))
	for i, r := range results {
		if r.err != "" {
			t.Fatalf("DEL %d: %s", i, r.err)
		}
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Fatalf("LSPs left after DEL: %v", got)
	}
	for _, vf := range vfs {
		e.vfHome(t, vf)
	}
}

// TestHostAgentKilledMidADD: the host agent dies while an ADD waits for the
// DPU (ovn-controller is down, so the port never gets READY) — after the
// LSP was written and the VF moved. DEL served by the restarted agent
// undoes all of it from the saved state: LSP gone, VF home, lease freed.
func TestHostAgentKilledMidADD(t *testing.T) {
	e := setup(t)
	e.bed.StopController()
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 6))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "k"))(t)
	conf := e.netconf(vf.PCI, e.hostLocal(), nil)
	added := make(chan testbed.CNIResult, 1)
	go func() { added <- e.bed.ExecPlugin(e.ctx, "ADD", "ctr-k", ns, "eth0", conf) }()

	err := testbed.Eventually(e.ctx, time.Minute, "ADD writes the LSP and moves the VF", func() error {
		if _, vfErr := e.bed.HostIP(e.ctx, "link", "show", vf.Netdev); vfErr == nil || len(e.lsps(t)) != 1 {
			return errors.New("not yet")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.host.Kill()
	if r := <-added; r.Err == nil {
		t.Fatalf("ADD succeeded although its agent was killed: %s", r.Stdout)
	}
	testbed.Must(0, e.host.Restart(e.ctx))(t)
	if r := e.bed.ExecPlugin(e.ctx, "DEL", "ctr-k", ns, "eth0", conf); r.Err != nil {
		t.Fatalf("DEL after restart: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left: %v", got)
	}
	e.vfHome(t, vf)
	leases := testbed.Must(e.bed.InNetns(e.ctx, "", "ls", filepath.Join(e.bed.Dir, "host-local", "ovnnet")))(t)
	if strings.Contains(leases, "10.30.0.") {
		t.Errorf("host-local lease not released: %s", leases)
	}
}
