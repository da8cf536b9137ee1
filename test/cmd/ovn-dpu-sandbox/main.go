// Command ovn-dpu-sandbox runs the demo on the real-OVN test bed (package
// testbed): OVN central, a "dpu" namespace with OVS, ovn-controller and
// ovn-dpu-agent, a "host" namespace with ovn-dpu-host-agent, two fake VFs;
// then it attaches two pods with cnitool, pings between them, sends data
// both ways over TCP, detaches them and tears everything down (also on
// Ctrl-C).
//
// Usage:
//
//	ovn-dpu-sandbox [--keep] [--clustered]
//
// --keep leaves the sandbox up after the demo until Ctrl-C. --clustered runs
// OVN NB and SB as 3-member RAFT clusters, as production OVN does: the agents
// get every member's remote, and between the two attachments both databases'
// leaders hand leadership over to another member.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

func main() {
	keep := flag.Bool("keep", false, "after the demo, leave the sandbox running until Ctrl-C, to look around")
	clustered := flag.Bool("clustered", false, "run OVN NB and SB as 3-member RAFT clusters, and move their leadership during the demo")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ovn-dpu-sandbox [--keep] [--clustered]\n\n"+
			"Runs the ovn-dpu demo on the real-OVN test bed (needs root and `make deps`).\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, *keep, *clustered); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

type sandbox struct {
	bed  *testbed.Bed
	dpu  *testbed.DPUAgent
	host *testbed.HostAgent
}

func run(ctx context.Context, keep, clustered bool) error {
	start := time.Now()
	s, err := startSandbox(ctx, clustered)
	if s != nil {
		defer s.bed.Close()
	}
	if err != nil {
		return err
	}
	central := "OVN NB/SB/northd"
	if clustered {
		central = fmt.Sprintf("OVN NB and SB as 3-member RAFT clusters (%s), northd", s.leaders(ctx))
	}
	step("sandbox up in %v: %s; dpu namespace %s (ovs-vswitchd netdev datapath, ovn-controller as chassis %s, ovn-dpu-agent on %s:50151 with mTLS); host namespace %s (ovn-dpu-host-agent)",
		since(start), central, s.bed.DPUNetns, s.bed.Chassis, s.bed.DPUAddr, s.bed.HostNetns)
	pods := []string{"pod-a", "pod-b"}
	ips := map[string]string{}
	for i, pod := range pods {
		if i > 0 && clustered {
			if err := s.transferLeadership(ctx); err != nil {
				return err
			}
		}
		ip, err := s.attach(ctx, pod, i)
		if err != nil {
			return err
		}
		ips[pod] = ip
	}
	out, err := s.bed.InNetns(ctx, s.bed.Pod("pod-a"), "ping", "-c", "3", "-i", "0.2", ips["pod-b"])
	if err != nil {
		return fmt.Errorf("pod-a cannot ping pod-b: %w\n%s", err, out)
	}
	fmt.Println(out)
	step("pod-a (%s) pings pod-b (%s) across OVN", ips["pod-a"], ips["pod-b"])
	t0 := time.Now()
	if err := s.bed.TCPExchange(ctx, s.bed.Pod("pod-a"), s.bed.Pod("pod-b"), ips["pod-b"]); err != nil {
		return err
	}
	step("pod-a connects to pod-b over TCP; %d KiB each way arrive intact: %v", testbed.TCPExchangeSize>>10, since(t0))
	if err := s.showStatus(ctx); err != nil {
		return err
	}
	if keep {
		fmt.Printf("sandbox dir %s (logs, databases); NB %s. Ctrl-C to tear down.\n", s.bed.Dir, s.bed.NBRemote)
		if clustered {
			fmt.Printf("NB over TCP %s; SB %s. ovs-appctl -t %s/nb-1.ctl cluster/status OVN_Northbound\n",
				s.bed.NBTCPRemote, s.bed.SBRemote, s.bed.Dir)
		}
		<-ctx.Done()
	}
	for i, pod := range pods {
		t0 := time.Now()
		if r := s.bed.CNITool(context.Background(), "del", s.bed.Pod(pod), s.netconf(i)); r.Err != nil {
			return fmt.Errorf("cnitool del %s: %w: %s", pod, r.Err, r.Stderr)
		}
		step("cnitool del %s: %v", pod, since(t0))
	}
	step("done in %v; tearing down", since(start))
	return nil
}

func startSandbox(ctx context.Context, clustered bool) (*sandbox, error) {
	bed, err := testbed.Start(ctx, testbed.Options{HostNetns: true, Clustered: clustered})
	if err != nil {
		return nil, err
	}
	s := &sandbox{bed: bed}
	if _, err := bed.NBCtl(ctx, "ls-add", "demo"); err != nil {
		return s, err
	}
	if _, err := bed.AddVFs(ctx, 0, []int{0, 1}, testbed.VFOptions{}); err != nil {
		return s, err
	}
	ca, err := tlstest.NewCA("ovn-dpu demo CA")
	if err != nil {
		return s, err
	}
	pki := filepath.Join(bed.Dir, "pki")
	dpuCert, err := ca.Issue(pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr))
	if err != nil {
		return s, err
	}
	hostCert, err := ca.Issue(pki, "host-agent", tlstest.WithDNSNames(bed.HostNode()))
	if err != nil {
		return s, err
	}
	dpuAddr := bed.DPUAddr.String() + ":50151"
	if s.dpu, err = bed.StartDPUAgent(ctx, "--listen="+dpuAddr, "--insecure=false", "--log-level=info",
		"--tls-cert="+dpuCert.Cert, "--tls-key="+dpuCert.Key, "--tls-ca="+dpuCert.CA); err != nil {
		return s, err
	}
	s.host, err = bed.StartHostAgent(ctx, dpuAddr, "--log-level=info",
		"--tls-cert="+hostCert.Cert, "--tls-key="+hostCert.Key, "--tls-ca="+hostCert.CA)
	return s, err
}

// netconf is pod i's network configuration: the demo switch, VF i, and
// host-local addresses.
func (s *sandbox) netconf(i int) map[string]any {
	return map[string]any{
		"cniVersion": "1.1.0", "name": "demo", "type": "ovn-dpu-cni",
		"logicalSwitch": "demo", "agentSocket": s.host.Socket,
		"deviceID": fmt.Sprintf("0000:10:01.%d", i), "mtu": 1400,
		"ipam": map[string]any{"type": "host-local", "dataDir": filepath.Join(s.bed.Dir, "host-local"),
			"ranges": [][]map[string]any{{{"subnet": "10.10.0.0/24"}}}},
	}
}

// attach runs cnitool add for pod with VF i and returns the pod's IP.
func (s *sandbox) attach(ctx context.Context, pod string, i int) (string, error) {
	ns, err := s.bed.AddPod(ctx, pod)
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	// As a Kubernetes runtime names the pod; the status commands show it.
	r := s.bed.CNITool(ctx, "add", ns, s.netconf(i), "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME="+pod)
	took := since(t0)
	if r.Err != nil {
		return "", fmt.Errorf("cnitool add %s: %w: %s%s", pod, r.Err, r.Stdout, r.Stderr)
	}
	var res struct {
		IPs []struct {
			Address string `json:"address"`
		} `json:"ips"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || len(res.IPs) == 0 {
		return "", errors.Join(fmt.Errorf("cnitool add %s printed no address: %s", pod, r.Stdout), err)
	}
	step("cnitool add %s (VF 0000:10:01.%d): %v, address %s", pod, i, took, res.IPs[0].Address)
	ip, _, _ := strings.Cut(res.IPs[0].Address, "/")
	return ip, nil
}

// showStatus prints what both agents say they are doing, as an operator
// asks them (docs/status.md).
func (s *sandbox) showStatus(ctx context.Context) error {
	ports, err := s.dpu.PortsCommand(ctx)
	if err != nil {
		return err
	}
	attachments, err := s.host.AttachmentsCommand(ctx)
	if err != nil {
		return err
	}
	for _, cmd := range []*exec.Cmd{ports, attachments} {
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, out)
		}
		step("%s %s", filepath.Base(cmd.Args[0]), cmd.Args[1])
		fmt.Print(string(out))
	}
	return nil
}

// leaders names each clustered database's leader.
func (s *sandbox) leaders(ctx context.Context) string {
	var out []string
	for _, db := range []testbed.Database{testbed.Northbound, testbed.Southbound} {
		m, err := s.bed.Leader(ctx, db)
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", db, err))
			continue
		}
		out = append(out, fmt.Sprintf("%s leader %s", db, m.Name))
	}
	return strings.Join(out, ", ")
}

// transferLeadership moves NB's and SB's leadership to another member, as
// a leader does before it writes a snapshot; the agents follow.
func (s *sandbox) transferLeadership(ctx context.Context) error {
	for _, db := range []testbed.Database{testbed.Northbound, testbed.Southbound} {
		t0 := time.Now()
		from, to, err := s.bed.TransferLeadership(ctx, db)
		if err != nil {
			return err
		}
		step("%s leadership moves from %s to %s: %v", db, from.Name, to.Name, since(t0))
	}
	return nil
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
