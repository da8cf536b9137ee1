package scale

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs/sysfstest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// node is one simulated host and its DPU: the host's namespace, fake
// sysfs tree, VF netdevs and pod namespaces, the real host agent;
// the DPU's ovsdb-server (Open_vSwitch DB, no ovs-vswitchd), its Chassis
// row, its devlink dump and the real DPU agent. Each agent reaches the
// central databases through a counting proxy of its own.
type node struct {
	i       int
	dir     string
	chassis string // the DPU's system-id and Chassis name
	host    string // the host agent's --node-name
	netns   string // the host's namespace
	pods    []string
	vfs     []vf
	ovs     string // unix: remote of the DPU's Open_vSwitch DB
	nbProxy *Proxy
	sbProxy *Proxy
	ovsdb   *testbed.Process
	dpu     *testbed.Process
	hostAg  *testbed.Process
	cni     ovndpuv1.HostAgentClient
	conn    *grpc.ClientConn
	traces  []*os.File
}

// vf is one fake VF of a node's host: a netdev in the host's
// namespace described in its sysfs tree; its representor is listed in
// the DPU's devlink dump only (there is no ovs-vswitchd to open it). The
// netdev is a veth end whose peer stays in the host namespace: this
// kernel has no dummy links, and a veth end moves between namespaces
// like a VF does.
type vf struct {
	pci, netdev, rep string
	mac              net.HardwareAddr
}

const (
	pfPCI     = "0000:10:00.0"
	bridge    = "br-int"
	ifname    = "net1"
	agentWait = `msg="ovn-dpu-agent serving"`
	hostWait  = `msg="ovn-dpu-host-agent serving"`
)

func (n *node) pfMAC() net.HardwareAddr {
	return net.HardwareAddr{0x0e, 0x44, 0, byte(n.i >> 8), byte(n.i), 0}
}

// newNode lays out node i's files, namespaces and netdevs and starts its
// DPU's ovsdb-server; startAgents runs the agents.
func newNode(ctx context.Context, b *testbed.Bed, i, pods int) (*node, error) {
	n := &node{i: i, dir: filepath.Join(b.Dir, fmt.Sprintf("n%d", i)),
		chassis: fmt.Sprintf("dpu-%s-%d", b.ID, i), host: fmt.Sprintf("host-%s-%d", b.ID, i)}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, fmt.Errorf("node %d: %w", i, err)
	}
	var err error
	if n.netns, err = b.AddNetns(ctx, fmt.Sprintf("h%d", i)); err != nil {
		return nil, fmt.Errorf("node %d host namespace: %w", i, err)
	}
	for k := range pods {
		pod, err := b.AddNetns(ctx, fmt.Sprintf("h%dp%d", i, k))
		if err != nil {
			return nil, fmt.Errorf("node %d pod %d namespace: %w", i, k, err)
		}
		n.pods = append(n.pods, pod)
	}
	if err := n.addVFs(ctx, b, pods); err != nil {
		return nil, err
	}
	if err := n.startOVSDB(ctx, b); err != nil {
		return nil, err
	}
	return n, nil
}

// addVFs describes the host's PF and pods VFs in a sysfs tree of the
// node's own, creates their netdevs in the host namespace
// (one ip -batch; veth pairs, see vf) and lists the representors in the DPU's devlink dump.
func (n *node) addVFs(ctx context.Context, b *testbed.Bed, count int) error {
	tree := sysfstest.NewTree(filepath.Join(n.dir, "sysfs"))
	if err := tree.AddPF(pfPCI, "pf0", n.pfMAC()); err != nil {
		return fmt.Errorf("node %d PF: %w", n.i, err)
	}
	ports := []devlink.Port{{Device: "pci/0000:03:00.0", Index: 0x30000, Type: "eth", Netdev: "pf0hpf",
		Flavour: devlink.PCIPF, Controller: 1, External: true, HWAddr: n.pfMAC()}}
	var batch strings.Builder
	fmt.Fprintf(&batch, "link add pf0 address %s type veth peer name pf0p\n", n.pfMAC())
	for k := range count {
		v := vf{pci: fmt.Sprintf("0000:10:%02x.%d", 1+k/8, k%8), netdev: fmt.Sprintf("vf%d", k), rep: fmt.Sprintf("rep%d", k),
			mac: net.HardwareAddr{0x0e, 0x45, byte(n.i >> 8), byte(n.i), byte(k >> 8), byte(k)}}
		if err := tree.AddVF(pfPCI, v.pci, k, v.netdev, v.mac, "mlx5_core"); err != nil {
			return fmt.Errorf("node %d VF %d: %w", n.i, k, err)
		}
		fmt.Fprintf(&batch, "link add %s address %s type veth peer name %sp\n", v.netdev, v.mac, v.netdev)
		ports = append(ports, devlink.Port{Device: "pci/0000:03:00.0", Index: uint32(0x30001 + k), Type: "eth", Netdev: v.rep,
			Flavour: devlink.PCIVF, Controller: 1, VFNum: uint16(k), External: true})
		n.vfs = append(n.vfs, v)
	}
	if err := b.IPBatch(ctx, n.netns, batch.String()); err != nil {
		return fmt.Errorf("node %d netdevs: %w", n.i, err)
	}
	data, err := devlink.EncodeDump(ports)
	if err != nil {
		return fmt.Errorf("node %d devlink dump: %w", n.i, err)
	}
	return os.WriteFile(n.devlinkDump(), data, 0o644)
}

func (n *node) devlinkDump() string { return filepath.Join(n.dir, "devlink.json") }
func (n *node) sysfsRoot() string   { return filepath.Join(n.dir, "sysfs") }

// startOVSDB runs the DPU's ovsdb-server with an Open_vSwitch row that
// names its chassis, and br-int. Nothing else of OVS runs: the simulated
// ovn-controller (controller.go) answers for ovs-vswitchd too.
func (n *node) startOVSDB(ctx context.Context, b *testbed.Bed) error {
	db := filepath.Join(n.dir, "conf.db")
	if _, err := b.Run(ctx, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return fmt.Errorf("node %d OVS DB: %w", n.i, err)
	}
	sock := filepath.Join(n.dir, "ovs.sock")
	n.ovs = "unix:" + sock
	var err error
	n.ovsdb, err = b.StartProcess(fmt.Sprintf("n%d-ovsdb", n.i), "", "ovsdb-server", "--remote=punix:"+sock,
		"--unixctl="+filepath.Join(n.dir, "ovsdb.ctl"), "--log-file="+filepath.Join(n.dir, "ovsdb.log"), "-vconsole:off", db)
	if err != nil {
		return fmt.Errorf("node %d ovsdb-server: %w", n.i, err)
	}
	return testbed.Eventually(ctx, 30*time.Second, fmt.Sprintf("node %d OVS DB initialised", n.i), func() error {
		_, err := b.Run(ctx, "ovs-vsctl", "--db="+n.ovs, "--timeout=5", "--no-wait", "init", "--",
			"set", "Open_vSwitch", ".", "external_ids:system-id="+n.chassis, "external_ids:hostname="+n.chassis+".example",
			"--", "--may-exist", "add-br", bridge)
		return err
	})
}

// register adds the DPU's Chassis to SB as ovn-controller would: Geneve
// on an address of its own (the Encap table's index is type and IP).
func (n *node) register(ctx context.Context, b *testbed.Bed) error {
	ip := fmt.Sprintf("100.64.%d.%d", n.i/250, 1+n.i%250)
	if _, err := b.SBCtl(ctx, "chassis-add", n.chassis, "geneve", ip, "--", "set", "Chassis", n.chassis,
		"hostname="+n.chassis+".example"); err != nil {
		return fmt.Errorf("node %d chassis: %w", n.i, err)
	}
	return nil
}

// startAgents starts the node's proxies and both agents (DPU agent first:
// the host agent dials it) and waits until both serve.
// With traceDir, each proxy writes what its agent received to
// <traceDir>/n<i>-nb.jsonl and -sb.jsonl.
func (n *node) startAgents(ctx context.Context, b *testbed.Bed, nbTarget, sbTarget, traceDir string) error {
	var err error
	if n.nbProxy, err = NewProxy(filepath.Join(n.dir, "nb.sock"), nbTarget, n.traceFile(traceDir, "nb")); err != nil {
		return err
	}
	if n.sbProxy, err = NewProxy(filepath.Join(n.dir, "sb.sock"), sbTarget, n.traceFile(traceDir, "sb")); err != nil {
		return err
	}
	dpuBin, err := testbed.Binary("ovn-dpu-agent")
	if err != nil {
		return err
	}
	hostBin, err := testbed.Binary("ovn-dpu-host-agent")
	if err != nil {
		return err
	}
	dpuSock := filepath.Join(n.dir, "dpu.sock")
	// The DPU agent runs in the root namespace: with --devlink-dump it
	// needs no netdev of its own, and its socket is a path.
	if n.dpu, err = b.StartProcess(fmt.Sprintf("n%d-dpu-agent", n.i), "", dpuBin, "--sb=unix:"+n.sbProxy.Listen,
		"--ovs="+n.ovs, "--listen=unix:"+dpuSock, "--devlink-dump="+n.devlinkDump(), "--sysfs-root="+n.sysfsRoot(),
		"--chassis="+n.chassis, "--insecure",
		// Each its own admin socket: the default path would be shared.
		"--admin-socket="+filepath.Join(n.dir, "admin.sock")); err != nil {
		return err
	}
	if err := n.dpu.WaitLogged(ctx, agentWait); err != nil {
		return fmt.Errorf("node %d DPU agent: %w", n.i, err)
	}
	hostSock := filepath.Join(n.dir, "host.sock")
	if n.hostAg, err = b.StartProcess(fmt.Sprintf("n%d-host-agent", n.i), n.netns, hostBin, "--nb=unix:"+n.nbProxy.Listen,
		"--dpu=unix:"+dpuSock, "--socket="+hostSock, "--sysfs-root="+n.sysfsRoot(),
		"--state-dir="+filepath.Join(n.dir, "state"), "--node-name="+n.host, "--insecure"); err != nil {
		return err
	}
	if err := n.hostAg.WaitLogged(ctx, hostWait); err != nil {
		return fmt.Errorf("node %d host agent: %w", n.i, err)
	}
	n.conn, err = grpc.NewClient("unix:"+hostSock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("node %d: dial the host agent: %w", n.i, err)
	}
	n.cni = ovndpuv1.NewHostAgentClient(n.conn)
	return nil
}

// traceFile opens <dir>/n<i>-<db>.jsonl (nil without dir or on error:
// tracing is a debugging aid, never a reason to fail).
func (n *node) traceFile(dir, db string) io.Writer {
	if dir == "" {
		return nil
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("n%d-%s.jsonl", n.i, db)))
	if err != nil {
		return nil
	}
	n.traces = append(n.traces, f)
	return f
}

// close ends the node's gRPC connection and proxies; the bed stops its
// processes and removes its namespaces and files.
func (n *node) close() {
	if n.conn != nil {
		n.conn.Close()
	}
	for _, p := range []*Proxy{n.nbProxy, n.sbProxy} {
		if p != nil {
			p.Close()
		}
	}
	for _, f := range n.traces {
		f.Close()
	}
}

// counts is the node's two sessions' counts: its host agent's NB and its
// DPU agent's SB.
func (n *node) counts() (nb, sb Counts) { return n.nbProxy.Counts(), n.sbProxy.Counts() }

// cni1 runs one CNI verb for container id on the node's pod slot k
// (VF k, pod namespace k) through the host agent's socket, as the CNI
// plugin does, and returns how long the agent took to answer.
func (n *node) cni1(ctx context.Context, verb, id string, k int) (time.Duration, error) {
	conf, err := json.Marshal(map[string]any{
		"cniVersion": "1.1.0", "name": "scalenet", "type": "ovn-dpu-cni",
		"logicalSwitch": switchName(n.i), "deviceID": n.vfs[k].pci, "timeoutSeconds": 60,
		"runtimeConfig": map[string]any{"ips": []string{n.podIP(k)}},
	})
	if err != nil {
		return 0, err
	}
	req := &ovndpuv1.CNIRequest{Command: verb, ContainerId: fmt.Sprintf("%s-%s", n.host, id),
		Netns: "/var/run/netns/" + n.pods[k], Ifname: ifname, Config: conf, PluginStarted: timestamppb.Now()}
	start := time.Now()
	resp, err := n.cni.CNI(ctx, req)
	took := time.Since(start)
	if err != nil {
		return took, fmt.Errorf("node %d %s %s: %w", n.i, verb, id, err)
	}
	if e := resp.GetError(); e != nil {
		return took, fmt.Errorf("node %d %s %s: CNI error %d: %s (%s)", n.i, verb, id, e.Code, e.Msg, e.Details)
	}
	return took, nil
}

// podIP is pod slot k's static address: unique across the fleet, so
// that the switches' ports never share one.
func (n *node) podIP(k int) string {
	g := 10 + n.i*64 + k
	return fmt.Sprintf("10.200.%d.%d/16", g>>8, g&255)
}
