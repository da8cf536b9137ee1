package e2e

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// check runs cnitool check and returns its error output ("" on success).
func (e *env) check(pod string, conf map[string]any) string {
	r := e.bed.CNITool(e.ctx, "check", pod, conf)
	if r.Err == nil {
		return ""
	}
	return r.Err.Error() + ": " + r.Stdout + " " + r.Stderr
}

// wantCheckFails waits (the DPU and OVN react in their own time) until
// CHECK fails with a message containing what.
func (e *env) wantCheckFails(t *testing.T, pod string, conf map[string]any, what string) {
	t.Helper()
	err := testbed.Eventually(e.ctx, 20*time.Second, "CHECK failing with "+what, func() error {
		if out := e.check(pod, conf); !strings.Contains(out, what) {
			return &checkOutput{out}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// lspPrefix names the LSPs of tests that address them (lspName is a
// template; one without placeholders is used as it is).
const lspPrefix = "e2e-"

type checkOutput struct{ out string }

func (c *checkOutput) Error() string { return "CHECK said: " + c.out }

// TestCheckDetectsDrift: CHECK passes on a healthy pod and fails, naming
// the difference, after each of: an address removed, the interface
// renamed, the LSP deleted behind our back, the DPU port unplugged.
func TestCheckDetectsDrift(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1, 2, 3}, testbed.VFOptions{}))(t)
	pods := []string{"addr", "rename", "lsp", "dpu"}
	confs := map[string]map[string]any{}
	results := map[string]*current.Result{}
	for i, name := range pods {
		ns := testbed.Must(e.bed.AddPod(e.ctx, name))(t)
		confs[name] = e.netconf(vfs[i].PCI, e.hostLocal(), map[string]any{"lspName": lspPrefix + name})
		results[name], _ = e.add(t, ns, confs[name])
		if out := e.check(ns, confs[name]); out != "" {
			t.Fatalf("CHECK of healthy pod %s: %s", name, out)
		}
	}
	pod := func(name string) string { return e.bed.Pod(name) }

	addr := results["addr"].IPs[0].Address.String()
	testbed.Must(e.bed.InNetns(e.ctx, pod("addr"), "ip", "addr", "del", addr, "dev", "eth0"))(t)
	e.wantCheckFails(t, pod("addr"), confs["addr"], pod("addr")+" lacks "+addr)

	testbed.Must(e.bed.InNetns(e.ctx, pod("rename"), "ip", "link", "set", "eth0", "down"))(t)
	testbed.Must(e.bed.InNetns(e.ctx, pod("rename"), "ip", "link", "set", "eth0", "name", "eth9"))(t)
	e.wantCheckFails(t, pod("rename"), confs["rename"], "no interface eth0 in pod")

	lsp := lspPrefix + "lsp"
	testbed.Must(e.bed.NBCtl(e.ctx, "lsp-del", lsp))(t)
	e.wantCheckFails(t, pod("lsp"), confs["lsp"], "logical switch port "+lsp+" is missing from OVN NB")

	// Without vif-plug-type the binding is no longer ours to plug: the DPU
	// agent unplugs it.
	dpuLSP := lspPrefix + "dpu"
	testbed.Must(e.bed.NBCtl(e.ctx, "remove", "Logical_Switch_Port", dpuLSP, "options", "vif-plug-type"))(t)
	e.wantCheckFails(t, pod("dpu"), confs["dpu"], "the DPU reports logical port "+dpuLSP+" not plugged")

	for _, name := range pods {
		e.del(t, pod(name), confs[name])
	}
	for i := range pods {
		e.vfHome(t, vfs[i])
	}
}

// leases lists host-local's lease files of the network (one per address).
func (e *env) leases(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.bed.Dir, "host-local", "ovnnet"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ips []string
	for _, en := range entries {
		if net.ParseIP(en.Name()) != nil {
			ips = append(ips, en.Name())
		}
	}
	return ips
}

// TestGCForwardsToIPAMAndSparesAddsInFlight: GC, exec'd as a runtime execs
// it, keeps the valid attachments and other nodes' LSPs, removes the rest
// with their host-local leases (a leaked lease too), and leaves an ADD in
// flight — not yet on any runtime's list — alone, lease included.
func TestGCForwardsToIPAMAndSparesAddsInFlight(t *testing.T) {
	e := setup(t)
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{4, 5, 6}, testbed.VFOptions{}))(t)
	keep, stale, flight := testbed.Must(e.bed.AddPod(e.ctx, "keep"))(t), testbed.Must(e.bed.AddPod(e.ctx, "stale"))(t),
		testbed.Must(e.bed.AddPod(e.ctx, "flight"))(t)
	conf := func(vf *testbed.VF, extra map[string]any) map[string]any {
		return e.netconf(vf.PCI, e.hostLocal(), extra)
	}
	if r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-keep", keep, "eth0", conf(vfs[0], nil)); r.Err != nil {
		t.Fatalf("ADD keep: %v %s", r.Err, r.Stdout)
	}
	if r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-stale", stale, "eth0", conf(vfs[1], nil)); r.Err != nil {
		t.Fatalf("ADD stale: %v %s", r.Err, r.Stdout)
	}
	testbed.Must(e.bed.NBCtl(e.ctx, "lsp-add", "net1", "elsewhere", "--", "set", "Logical_Switch_Port", "elsewhere",
		`external_ids:"ovn-dpu:owner"=other-host`, `external_ids:"ovn-dpu:network"=ovnnet`, `external_ids:"ovn-dpu:attachment"=x`,
		`external_ids:"ovn-dpu:container-id"=gone`, `external_ids:"ovn-dpu:ifname"=eth0`))(t)
	// A lease whose DEL never came: host-local's GC must free it.
	leaked := filepath.Join(e.bed.Dir, "host-local", "ovnnet", "10.30.0.200")
	testbed.Must(0, os.WriteFile(leaked, []byte("ctr-leaked\r\neth0"), 0o600))(t)

	// The in-flight ADD waits for ovn-controller, which is stopped.
	e.bed.StopController()
	flightDone := make(chan testbed.CNIResult, 1)
	go func() {
		flightDone <- e.bed.ExecPlugin(e.ctx, "ADD", "ctr-flight", flight, "eth0", conf(vfs[2], map[string]any{"timeoutSeconds": 60}))
	}()
	testbed.Must(0, testbed.Eventually(e.ctx, 20*time.Second, "the in-flight ADD's LSP in NB", func() error {
		if len(e.lsps(t)) != 3 {
			return errNotYet
		}
		return nil
	}))(t)
	gc := conf(vfs[0], map[string]any{"cni.dev/valid-attachments": []map[string]string{{"containerID": "ctr-keep", "ifname": "eth0"}}})
	if r := e.bed.ExecPlugin(e.ctx, "GC", "", "", "", gc); r.Err != nil {
		t.Fatalf("GC: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	lsps := strings.Join(e.lsps(t), " ")
	if strings.Contains(lsps, "ctr-stale") || !strings.Contains(lsps, "ctr-keep") || !strings.Contains(lsps, "ctr-flight") {
		t.Errorf("after GC this node's LSPs are %q: want ctr-keep and the in-flight ctr-flight, not ctr-stale", lsps)
	}
	if _, err := e.bed.NBCtl(e.ctx, "get", "Logical_Switch_Port", "elsewhere", "name"); err != nil {
		t.Errorf("GC touched another node's LSP: %v", err)
	}
	if _, err := os.Stat(leaked); !os.IsNotExist(err) {
		t.Errorf("GC did not reach host-local: the leaked lease %s is still there (%v)", leaked, err)
	}
	if got := e.leases(t); len(got) != 2 {
		t.Errorf("host-local leases after GC: %v; want the valid and the in-flight attachment's", got)
	}
	e.vfHome(t, vfs[1])

	testbed.Must(0, e.bed.StartController(e.ctx))(t)
	if r := <-flightDone; r.Err != nil {
		t.Fatalf("the ADD in flight during GC failed: %v: %s", r.Err, r.Stdout)
	}
	for _, p := range []struct{ id, pod string }{{"ctr-keep", keep}, {"ctr-flight", flight}} {
		if r := e.bed.ExecPlugin(e.ctx, "DEL", p.id, p.pod, "eth0", conf(vfs[0], nil)); r.Err != nil {
			t.Errorf("DEL %s: %v %s", p.id, r.Err, r.Stdout)
		}
	}
	if got := e.leases(t); len(got) != 0 {
		t.Errorf("host-local leases after DEL of everything: %v", got)
	}
}

var errNotYet = errors.New("not yet")

// pingNow pings once, right away: an address still tentative (DAD) or
// not yet admitted by port security fails it.
func (e *env) pingNow(t *testing.T, pod, ip string) {
	t.Helper()
	if out, err := e.bed.InNetns(e.ctx, pod, "ping", "-c", "1", "-W", "3", ip); err != nil {
		t.Errorf("ping %s from %s right after ADD: %v\n%s", ip, pod, err, out)
	}
}

// addressesOf returns the pod's IPv4 and IPv6 result addresses.
func addressesOf(t *testing.T, res *current.Result) (v4, v6 string) {
	t.Helper()
	for _, ip := range res.IPs {
		if ip.Address.IP.To4() != nil {
			v4 = ip.Address.IP.String()
		} else {
			v6 = ip.Address.IP.String()
		}
	}
	if v4 == "" || v6 == "" {
		t.Fatalf("result %+v: want an IPv4 and an IPv6 address", res.IPs)
	}
	return v4, v6
}

// dualStackPair attaches two pods with conf(vf) and has them ping each
// other over both families as soon as the second ADD returned.
func (e *env) dualStackPair(t *testing.T, conf func(*testbed.VF) map[string]any, check func(*current.Result)) {
	t.Helper()
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{10, 11}, testbed.VFOptions{}))(t)
	var results []*current.Result
	for i, name := range []string{"d0", "d1"} {
		ns := testbed.Must(e.bed.AddPod(e.ctx, name))(t)
		res, took := e.add(t, ns, conf(vfs[i]))
		t.Logf("ADD %s: %v, %v", name, took, res.IPs)
		check(res)
		results = append(results, res)
	}
	for i, from := range []string{"d0", "d1"} {
		tentative := testbed.Must(e.bed.InNetns(e.ctx, e.bed.Pod(from), "ip", "-6", "addr", "show", "dev", "eth0", "tentative"))(t)
		if tentative != "" {
			t.Errorf("pod %s has tentative IPv6 addresses after ADD: %s", from, tentative)
		}
		v4, v6 := addressesOf(t, results[1-i])
		e.pingNow(t, e.bed.Pod(from), v4)
		e.pingNow(t, e.bed.Pod(from), v6)
	}
	for i, name := range []string{"d0", "d1"} {
		e.del(t, e.bed.Pod(name), conf(vfs[i]))
		e.vfHome(t, vfs[i])
	}
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left after DEL: %v", got)
	}
}

// TestOVNDynamicAddressingDualStack: without ipam, OVN assigns both
// families from the switch's subnet and ipv6_prefix; the pods use them at
// once, across OVN, with port security on the assigned addresses.
func TestOVNDynamicAddressingDualStack(t *testing.T) {
	e := setup(t)
	testbed.Must(e.bed.NBCtl(e.ctx, "ls-add", "dyn", "--", "set", "Logical_Switch", "dyn",
		"other_config:subnet=10.20.0.0/24", "other_config:ipv6_prefix=fd00:20::"))(t)
	conf := func(vf *testbed.VF) map[string]any {
		return e.netconf(vf.PCI, nil, map[string]any{"logicalSwitch": "dyn", "gateway": []string{"10.20.0.1", "fd00:20::1"},
			"routes": []map[string]string{{"dst": "10.99.0.0/16"}}})
	}
	e.dualStackPair(t, conf, func(res *current.Result) {
		for _, ip := range res.IPs {
			ones, _ := ip.Address.Mask.Size()
			if (ip.Address.IP.To4() != nil && (ones != 24 || ip.Gateway.String() != "10.20.0.1")) ||
				(ip.Address.IP.To4() == nil && (ones != 64 || !strings.HasPrefix(ip.Address.IP.String(), "fd00:20:"))) {
				t.Errorf("dynamic address %s (gateway %s): want a /24 via 10.20.0.1 and a /64 in fd00:20::", ip.Address.String(), ip.Gateway)
			}
		}
		v4, v6 := addressesOf(t, res)
		lsp := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=addresses,port_security", "find", "Logical_Switch_Port",
			`external_ids:ovn-dpu\:device-id="`+res.Interfaces[0].PciID+`"`))(t)
		mac := res.Interfaces[0].Mac
		if want := mac + " dynamic\n" + mac + " " + v4 + " " + v6; lsp != want {
			t.Errorf("LSP addresses and port_security:\n%s\nwant:\n%s", lsp, want)
		}
	})
}

// TestDualStackHostLocal: host-local with an IPv4 and an IPv6 range.
func TestDualStackHostLocal(t *testing.T) {
	e := setup(t)
	ipam := map[string]any{"type": "host-local", "dataDir": filepath.Join(e.bed.Dir, "host-local"),
		"ranges": [][]map[string]any{{{"subnet": "10.30.0.0/24"}}, {{"subnet": "fd00:30::/64"}}}}
	e.dualStackPair(t, func(vf *testbed.VF) map[string]any { return e.netconf(vf.PCI, ipam, nil) }, func(*current.Result) {})
}

// TestBadInputsNameTheField: each through the real plugin binary, with its
// exact code and a message naming the field; nothing written, nothing
// moved.
func TestBadInputsNameTheField(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 7))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "bad"))(t)
	for _, tc := range []struct {
		name, command string
		extra         map[string]any
		ipam          map[string]any
		code          uint
		msg           string
	}{
		{"prevResult malformed", "CHECK", map[string]any{"prevResult": map[string]any{"ips": []map[string]any{{"address": "10.0.0.5"}}}},
			e.hostLocal(), 7, "invalid prevResult"},
		{"ipam of an unknown type", "ADD", nil, map[string]any{"type": "no-such-ipam"}, 7, `ipam.type "no-such-ipam"`},
		{"gateway not an IP", "ADD", map[string]any{"gateway": "10.0.0"}, nil, 7, `invalid gateway "10.0.0"`},
		{"routes malformed", "ADD", map[string]any{"routes": []map[string]any{{"dst": "10.1.0.0"}}}, nil, 7, `invalid routes[0].dst "10.1.0.0"`},
		{"dynamic on a switch without subnet", "ADD", nil, nil, 7,
			"logical switch net1 has neither other_config:subnet nor other_config:ipv6_prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.bed.ExecPlugin(e.ctx, tc.command, "ctr-bad", ns, "eth0", e.netconf(vf.PCI, tc.ipam, tc.extra))
			if code, msg := r.CNIError(); r.Err == nil || code != tc.code || !strings.Contains(msg, tc.msg) {
				t.Fatalf("%s: err %v, code %d, msg %q; want code %d with %q", tc.command, r.Err, code, msg, tc.code, tc.msg)
			}
			if got := e.lsps(t); len(got) != 0 {
				t.Errorf("LSPs written: %v", got)
			}
			e.vfHome(t, vf)
		})
	}
}
