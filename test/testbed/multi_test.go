package testbed_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestTwoChassisGeneve proves AddDPU: a VF on the primary DPU and one on
// DPU b, hand-attached to one logical switch, ping each other through a
// Geneve tunnel between the two chassis, with full-size packets and TCP.
func TestTwoChassisGeneve(t *testing.T) {
	start := time.Now()
	bed := testbed.New(t, testbed.Options{Underlay: true, HostNetns: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary := time.Since(start)
	dpuB := testbed.Must(bed.AddDPU(ctx, "b"))(t)
	t.Logf("bed with two chassis up in %v (the first chassis in %v)", time.Since(start), primary)

	pods := podOnEachChassis(t, ctx, bed, dpuB)
	if got := boundChassis(t, ctx, bed, "lsp-b"); got != dpuB.Chassis {
		t.Fatalf("lsp-b is bound to chassis %q, want DPU b's %s", got, dpuB.Chassis)
	}
	pingBothWays(t, ctx, bed, pods)

	if mtu := testbed.Must(bed.InNetns(ctx, pods[0].netns, "cat", "/sys/class/net/eth0/mtu"))(t); mtu != "1500" {
		t.Fatalf("pod MTU %s, want 1500", mtu)
	}
	// 1472 bytes of ICMP payload make a 1500-byte IP packet that must not
	// be fragmented: it passes only if the underlay takes Geneve's 58 more.
	err := testbed.Eventually(ctx, 10*time.Second, "1500-byte ping with DF across the tunnel", func() error {
		_, err := bed.InNetns(ctx, pods[0].netns, "ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", pods[1].ip)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Datapath flows age out after 10 s idle: read them right after the ping.
	if flows := testbed.Must(bed.AppCtl(ctx, "vswitchd", "dpctl/dump-flows"))(t); !strings.Contains(flows, "tnl_push") {
		t.Fatalf("the primary DPU's datapath flows show no tnl_push: the ping did not cross the tunnel:\n%s", flows)
	}
	if flows := testbed.Must(dpuB.AppCtl(ctx, "vswitchd", "dpctl/dump-flows"))(t); !strings.Contains(flows, "tnl_pop") {
		t.Fatalf("DPU b's datapath flows show no tnl_pop:\n%s", flows)
	}
	if err := bed.TCPExchange(ctx, pods[0].netns, pods[1].netns, pods[1].ip); err != nil {
		t.Fatal(err)
	}

	checkDPUDevlink(t, dpuB, pods[1].vf)
	checkDPUAgentReachable(t, ctx, bed, dpuB)
	checkDPURefusals(t, ctx, bed, dpuB)

	if err := bed.Close(); err != nil {
		t.Fatal(err)
	}
	if left := testbed.Must(bed.Leftovers(ctx))(t); len(left) > 0 {
		t.Fatalf("after Close: left behind %v", left)
	}
}

// TestUnderlaySurvivesVswitchdRestart checks that the primary's restarted
// ovs-vswitchd, whose new br-phy tap has no address and whose tunnel
// neighbour cache is empty, carries Geneve again.
func TestUnderlaySurvivesVswitchdRestart(t *testing.T) {
	bed := testbed.New(t, testbed.Options{Underlay: true, HostNetns: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dpuB := testbed.Must(bed.AddDPU(ctx, "b"))(t)
	pods := podOnEachChassis(t, ctx, bed, dpuB)
	pingBothWays(t, ctx, bed, pods)
	if err := bed.KillDaemon(testbed.Vswitchd); err != nil {
		t.Fatal(err)
	}
	if err := bed.StartVswitchd(ctx); err != nil {
		t.Fatal(err)
	}
	if neigh := testbed.Must(bed.AppCtl(ctx, "vswitchd", "tnl/arp/show"))(t); !strings.Contains(neigh, dpuB.EncapIP.String()) {
		t.Fatalf("restarted ovs-vswitchd does not know DPU b's endpoint %s:\n%s", dpuB.EncapIP, neigh)
	}
	pingBothWays(t, ctx, bed, pods)
}

// podOnEachChassis hand-attaches a pod on the primary DPU (lsp-a,
// 10.0.0.1) and one on dpuB (lsp-b, 10.0.0.2) to switch net1.
func podOnEachChassis(t *testing.T, ctx context.Context, bed *testbed.Bed, dpuB *testbed.DPU) []*handPod {
	t.Helper()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pods := []*handPod{{lsp: "lsp-a", ip: "10.0.0.1"}, {lsp: "lsp-b", ip: "10.0.0.2"}}
	pods[0].vf = testbed.Must(bed.AddVF(ctx, 0, 0))(t)
	pods[1].vf = testbed.Must(dpuB.AddVF(ctx, 1, 0))(t)
	attachAll(t, ctx, bed, pods)
	return pods
}

// TestAddDPUNeedsUnderlayAndHost checks that AddDPU says what a bed
// lacks instead of starting a chassis that cannot reach the other.
func TestAddDPUNeedsUnderlayAndHost(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts testbed.Options
		want string
	}{
		{"no underlay", testbed.Options{HostNetns: true, NoController: true}, "Options.Underlay"},
		{"no host namespace", testbed.Options{Underlay: true, NoController: true}, "Options.HostNetns"},
		{"no primary ovn-controller", testbed.Options{Underlay: true, HostNetns: true, NoController: true}, "ovn-controller"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bed := testbed.New(t, tc.opts)
			_, err := bed.AddDPU(context.Background(), "b")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("AddDPU: %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

// attachAll hand-attaches each pod on switch net1 to its VF's chassis and
// waits until NB reports every LSP up.
func attachAll(t *testing.T, ctx context.Context, bed *testbed.Bed, pods []*handPod) {
	t.Helper()
	for _, p := range pods {
		p.netns = testbed.Must(bed.AddPod(ctx, p.lsp))(t)
		if err := bed.HandAttach(ctx, "net1", p.vf, p.lsp, p.netns, p.ip+"/24"); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range pods {
		if err := bed.WaitLSPUp(ctx, p.lsp); err != nil {
			t.Fatal(err)
		}
	}
}

func pingBothWays(t *testing.T, ctx context.Context, bed *testbed.Bed, pods []*handPod) {
	t.Helper()
	for _, pair := range [][2]*handPod{{pods[0], pods[1]}, {pods[1], pods[0]}} {
		if err := bed.Ping(ctx, pair[0].netns, pair[1].ip); err != nil {
			t.Fatal(err)
		}
	}
}

// boundChassis is the name of the chassis SB binds lsp to.
func boundChassis(t *testing.T, ctx context.Context, bed *testbed.Bed, lsp string) string {
	t.Helper()
	uuid := testbed.Must(bed.SBCtl(ctx, "--bare", "--columns=chassis", "find", "Port_Binding", "logical_port="+lsp))(t)
	return testbed.Must(bed.SBCtl(ctx, "get", "Chassis", uuid, "name"))(t)
}

// checkDPUDevlink checks that DPU b's own dump lists vf and its PF, and
// that the primary's does not.
func checkDPUDevlink(t *testing.T, dpuB *testbed.DPU, vf *testbed.VF) {
	t.Helper()
	if got := portNetdevs(t, dpuB.DevlinkDump()); !slices.Contains(got, vf.Representor) || !slices.Contains(got, "pf1hpf") {
		t.Fatalf("DPU b's devlink dump lists %v, want %s and pf1hpf", got, vf.Representor)
	}
}

// checkDPUAgentReachable starts DPU b's agent on its host link and
// connects to it from the host namespace, as a host agent would.
func checkDPUAgentReachable(t *testing.T, ctx context.Context, bed *testbed.Bed, dpuB *testbed.DPU) {
	t.Helper()
	addr := net.JoinHostPort(dpuB.Addr.String(), "50151")
	testbed.Must(dpuB.StartDPUAgent(ctx, "--listen="+addr))(t)
	conn := testbed.Must(bed.DialerIn(bed.HostNetns)(ctx, addr))(t)
	conn.Close()
}

// checkDPURefusals checks that a PF stays with the DPU it was wired to
// and that names are not reused.
func checkDPURefusals(t *testing.T, ctx context.Context, bed *testbed.Bed, dpuB *testbed.DPU) {
	t.Helper()
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"primary's PF on DPU b", func() error { _, err := dpuB.AddVF(ctx, 0, 1); return err }, "PF 0"},
		{"DPU b's PF on the primary", func() error { _, err := bed.AddVF(ctx, 1, 1); return err }, "PF 1"},
		{"name taken", func() error { _, err := bed.AddDPU(ctx, "b"); return err }, `"b"`},
		{"name too long", func() error { _, err := bed.AddDPU(ctx, "toolongname"); return err }, "toolongname"},
	} {
		if err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
}

// TestSecondHostOnOneDPU proves AddHost: a second host behind controller 2
// of the primary DPU, with its own PF MAC, sysfs tree and namespace, whose
// pod pings a pod of the primary host through the one chassis.
func TestSecondHostOnOneDPU(t *testing.T) {
	bed := testbed.New(t, testbed.Options{HostNetns: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hostB := testbed.Must(bed.AddHost(ctx, "b", 2))(t)
	checkHostRefusals(t, ctx, bed)

	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pods := []*handPod{{lsp: "lsp-a", ip: "10.0.0.1"}, {lsp: "lsp-b", ip: "10.0.0.2"}}
	// The same PF and VF numbers on both hosts, as two servers have.
	pods[0].vf = testbed.Must(bed.AddVF(ctx, 0, 0))(t)
	pods[1].vf = testbed.Must(hostB.AddVF(ctx, 0, 0))(t)
	if bytes.Equal(hostB.PFMAC(0), bed.PFMAC(0)) || hostB.PFPCI(0) == bed.PFPCI(0) || bytes.Equal(pods[0].vf.MAC, pods[1].vf.MAC) {
		t.Fatalf("host b's PF 0 (%s %s, VF %s) is not apart from the primary's (%s %s, VF %s)",
			hostB.PFMAC(0), hostB.PFPCI(0), pods[1].vf.MAC, bed.PFMAC(0), bed.PFPCI(0), pods[0].vf.MAC)
	}
	checkMultiHostDevlink(t, bed, []hostVF{{1, bed.PFMAC(0), pods[0].vf}, {2, hostB.PFMAC(0), pods[1].vf}})
	checkHostSysfs(t, bed, hostB, pods[1].vf)
	if _, err := hostB.IP(ctx, "link", "show", pods[1].vf.Netdev); err != nil {
		t.Fatalf("host b's VF is not in its namespace: %v", err)
	}
	if _, err := bed.HostIP(ctx, "link", "show", pods[1].vf.Netdev); err == nil {
		t.Fatalf("host b's VF %s is in the primary host's namespace", pods[1].vf.Netdev)
	}
	if args := strings.Join(bed.RequestArgs("net1", "x", pods[1].vf, ""), " "); !strings.Contains(args, vifplug.OptPFMAC+"="+hostB.PFMAC(0).String()) {
		t.Fatalf("RequestArgs for host b's VF: %s, want its PF MAC %s", args, hostB.PFMAC(0))
	}

	attachAll(t, ctx, bed, pods)
	pingBothWays(t, ctx, bed, pods)
	if err := bed.TCPExchange(ctx, pods[1].netns, pods[0].netns, pods[0].ip); err != nil {
		t.Fatal(err)
	}
	checkHostAgent(t, ctx, bed, hostB)
}

// hostVF is a VF and the controller and PF MAC its host has on the DPU.
type hostVF struct {
	controller uint32
	pfMAC      net.HardwareAddr
	vf         *testbed.VF
}

// checkMultiHostDevlink reads the primary DPU's dump as the DPU agent does
// and checks each host's PF and VF ports, and that the agent's lookup by
// PF MAC finds each VF's representor.
func checkMultiHostDevlink(t *testing.T, bed *testbed.Bed, want []hostVF) {
	t.Helper()
	ports := readDump(t, bed.DevlinkDump())
	handles := map[string]bool{}
	for _, p := range ports {
		if handles[p.Handle()] {
			t.Fatalf("devlink port %s listed twice", p.Handle())
		}
		handles[p.Handle()] = true
	}
	table := devlink.NewTable()
	table.Replace(ports)
	for _, w := range want {
		pf := slices.IndexFunc(ports, func(p devlink.Port) bool {
			return p.Flavour == devlink.PCIPF && p.Controller == w.controller && p.PFNum == uint16(w.vf.PF)
		})
		if pf < 0 || !bytes.Equal(ports[pf].HWAddr, w.pfMAC) || !ports[pf].External {
			t.Fatalf("controller %d: no external pcipf port %d with hw_addr %s in %+v", w.controller, w.vf.PF, w.pfMAC, ports)
		}
		vf := slices.IndexFunc(ports, func(p devlink.Port) bool { return p.Netdev == w.vf.Representor })
		if vf < 0 || ports[vf].Flavour != devlink.PCIVF || ports[vf].Controller != w.controller || !ports[vf].External ||
			ports[vf].VFNum != uint16(w.vf.Index) {
			t.Fatalf("controller %d: representor %s not an external pcivf port of VF %d: %+v", w.controller, w.vf.Representor, w.vf.Index, ports)
		}
		rep, err := table.Lookup(w.pfMAC, w.vf.Index)
		if err != nil || rep.Netdev != w.vf.Representor {
			t.Fatalf("lookup of VF %d of PF %s: %+v, %v; want %s", w.vf.Index, w.pfMAC, rep, err, w.vf.Representor)
		}
	}
}

// checkHostSysfs checks that host b's own sysfs tree, and only it,
// resolves vf to host b's PF.
func checkHostSysfs(t *testing.T, bed *testbed.Bed, hostB *testbed.Host, vf *testbed.VF) {
	t.Helper()
	got, err := sysfs.New(hostB.SysfsRoot()).LookupVF(vf.PCI)
	if err != nil || !bytes.Equal(got.PFMAC, hostB.PFMAC(0)) || got.Netdev != vf.Netdev || got.VFIndex != vf.Index {
		t.Fatalf("host b's sysfs resolves %s to %+v, %v; want VF %d %s of PF %s", vf.PCI, got, err, vf.Index, vf.Netdev, hostB.PFMAC(0))
	}
	if _, err := sysfs.New(bed.SysfsRoot()).LookupVF(vf.PCI); err == nil {
		t.Fatalf("the primary host's sysfs knows host b's VF %s", vf.PCI)
	}
}

// checkHostAgent starts host b's agent against the primary DPU's agent
// and checks it runs in host b's namespace as host b's node.
func checkHostAgent(t *testing.T, ctx context.Context, bed *testbed.Bed, hostB *testbed.Host) {
	t.Helper()
	dpu := testbed.Must(bed.StartDPUAgent(ctx))(t)
	agent := testbed.Must(hostB.StartHostAgent(ctx, "unix:"+dpu.Socket, "--insecure"))(t)
	if ns := testbed.Must(bed.Run(ctx, "ip", "netns", "identify", fmt.Sprint(agent.Pid())))(t); ns != hostB.Netns {
		t.Fatalf("host b's agent runs in namespace %q, want %s", ns, hostB.Netns)
	}
	cmdline := testbed.Must(os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", agent.Pid())))(t)
	for _, flag := range []string{"--node-name=" + hostB.Node, "--sysfs-root=" + hostB.SysfsRoot()} {
		if !bytes.Contains(cmdline, []byte(flag)) {
			t.Errorf("host b's agent runs without %s: %q", flag, cmdline)
		}
	}
}

// checkHostRefusals checks that controllers and names are not reused.
func checkHostRefusals(t *testing.T, ctx context.Context, bed *testbed.Bed) {
	t.Helper()
	for _, tc := range []struct {
		name       string
		controller int
		want       string
	}{
		{"c", 1, "primary host"},
		{"c", 2, "controller 2"},
		{"c", 9, "controller 9"},
		{"b", 3, `"b"`},
		{"B", 3, `"B"`},
	} {
		if _, err := bed.AddHost(ctx, tc.name, tc.controller); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("AddHost(%s, %d): %v, want an error naming %s", tc.name, tc.controller, err, tc.want)
		}
	}
}

func readDump(t *testing.T, path string) []devlink.Port {
	t.Helper()
	ports, err := devlink.ParseDump(bytes.NewReader(testbed.Must(os.ReadFile(path))(t)))
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

func portNetdevs(t *testing.T, path string) []string {
	t.Helper()
	var names []string
	for _, p := range readDump(t, path) {
		names = append(names, p.Netdev)
	}
	return names
}
