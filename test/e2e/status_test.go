package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/statuscmd"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// runStatus runs a status command and returns what it printed, failing t unless
// it exits 0.
func runStatus(t *testing.T, cmd *exec.Cmd, what string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", what, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// dpuPorts is what the DPU agent's admin socket reports, by logical port.
func (e *env) dpuPorts(t *testing.T) map[string]statuscmd.Port {
	t.Helper()
	out := runStatus(t, testbed.Must(e.dpu.PortsCommand(e.ctx, "-o", "json"))(t), "ports -o json")
	var ports statuscmd.Ports
	if err := json.Unmarshal([]byte(out), &ports); err != nil {
		t.Fatalf("ports -o json %q: %v", out, err)
	}
	by := map[string]statuscmd.Port{}
	for _, p := range ports.Ports {
		by[p.LogicalPort] = p
	}
	return by
}

// line finds the table row that starts with lsp.
func line(table, lsp string) string {
	for l := range strings.SplitSeq(table, "\n") {
		if strings.HasPrefix(l, lsp+" ") {
			return l
		}
	}
	return ""
}

// jsonLines decodes the documents a --watch -o json command prints, one
// per line, onto docs until it ends.
func jsonLines[T any](r io.Reader, docs chan<- T, errs chan<- error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			errs <- fmt.Errorf("decoding %q: %w", sc.Text(), err)
			return
		}
		docs <- v
	}
	close(docs)
}

// waitDoc reads docs until one satisfies ok, failing t on a timeout.
func waitDoc[T any](t *testing.T, docs <-chan T, errs <-chan error, what string, ok func(T) bool) T {
	t.Helper()
	timeout := time.After(time.Minute)
	var last T
	for {
		select {
		case d, open := <-docs:
			if !open {
				t.Fatalf("%s: the watch ended; last document %+v", what, last)
			}
			if ok(d) {
				return d
			}
			last = d
		case err := <-errs:
			t.Fatalf("%s: %v", what, err)
		case <-timeout:
			t.Fatalf("%s: not within a minute; last document %+v", what, last)
		}
	}
}

func hasPort(doc statuscmd.Ports, lsp string) bool {
	for _, p := range doc.Ports {
		if p.LogicalPort == lsp {
			return true
		}
	}
	return false
}

func hasAttachment(doc statuscmd.Attachments, lsp string) bool {
	for _, a := range doc.Attachments {
		if a.LogicalPort == lsp {
			return true
		}
	}
	return false
}

// TestStatusCommands: the two status commands against the running agents.
// Pod a is READY; pod b's VF has no representor yet, so its ADD waits
// (PENDING, the DPU's reason on both sides); a port a CMS wrote with a
// malformed vf-num is ERROR on the DPU, known only by its owner node.
// Table, JSON, --why, --watch (DEL a pod: its row goes), the admin
// socket's mode and the message when the agent is not running.
func TestStatusCommands(t *testing.T) {
	e := setupWith(t, testbed.Options{}, func(*testbed.Bed) (dpu, host []string) {
		// A missing representor stays PENDING for the test's length.
		return []string{"--representor-wait=5m"}, nil
	})
	ctx := e.ctx
	if fi, err := os.Stat(e.dpu.AdminSocket); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("admin socket %s: %v, mode %v; want a socket of mode 0600", e.dpu.AdminSocket, err, fi.Mode())
	}
	vfA := testbed.Must(e.bed.AddVF(ctx, 0, 0))(t)
	vfB := testbed.Must(e.bed.AddVFs(ctx, 0, []int{1}, testbed.VFOptions{Unpublished: true}))(t)[0]
	nsA := testbed.Must(e.bed.AddPod(ctx, "a"))(t)
	nsB := testbed.Must(e.bed.AddPod(ctx, "b"))(t)
	lspA, lspB := e.host.Node+"_ctr-a_eth0", e.host.Node+"_ctr-b_eth0"
	podArgs := "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0"
	if r := e.bed.ExecPlugin(ctx, "ADD", "ctr-a", nsA, "eth0", e.netconf(vfA.PCI, e.hostLocal(), nil), podArgs); r.Err != nil {
		t.Fatalf("ADD a: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
	confB := e.netconf(vfB.PCI, e.hostLocal(), map[string]any{"timeoutSeconds": 120})
	addB := make(chan testbed.CNIResult, 1)
	go func() { addB <- e.bed.ExecPlugin(ctx, "ADD", "ctr-b", nsB, "eth0", confB) }()
	// A port another CMS wrote, naming this host as owner but no pod.
	cms := "cms-port"
	testbed.Must(e.bed.NBCtl(ctx, "lsp-add", "net1", cms, "--", "lsp-set-options", cms,
		"requested-chassis="+e.bed.Chassis, "vif-plug-type=representor",
		"vif-plug:representor:pf-mac="+vfA.PFMAC.String(), "vif-plug:representor:vf-num=07",
		"--", "set", "Logical_Switch_Port", cms, "external_ids:ovn-dpu\\:owner=ops-node"))(t)

	// The table, once all three rows are there.
	var table string
	err := testbed.Eventually(ctx, time.Minute, "ovn-dpu-agent ports shows a READY, b PENDING and "+cms+" ERROR", func() error {
		cmd := testbed.Must(e.dpu.PortsCommand(ctx))(t)
		table = runStatus(t, cmd, "ovn-dpu-agent ports")
		a, b, c := line(table, lspA), line(table, lspB), line(table, cms)
		if strings.Contains(a, "READY") && strings.Contains(b, "PENDING") && strings.Contains(c, "ERROR") {
			return nil
		}
		return fmt.Errorf("not yet:\n%s", table)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ovn-dpu-agent ports:\n%s", table)
	for _, want := range []struct{ lsp, has string }{
		{lspA, "prod/web-0"}, {lspA, vfA.PCI}, {lspA, vfA.Representor},
		{lspB, "(node " + e.host.Node + ")"}, {lspB, vfB.PCI}, {lspB, "waiting for the representor"},
		{cms, "(node ops-node)"}, {cms, "vf-num"},
	} {
		if !strings.Contains(line(table, want.lsp), want.has) {
			t.Errorf("row %s lacks %q:\n%s", want.lsp, want.has, table)
		}
	}
	if !strings.HasPrefix(table, "LOGICAL PORT") || strings.Count(strings.TrimSpace(table), "\n") != 3 {
		t.Errorf("want a header and three rows:\n%s", table)
	}

	// JSON.
	byLSP := e.dpuPorts(t)
	t.Logf("ovn-dpu-agent ports -o json: %+v", byLSP)
	if p := byLSP[lspA]; p.Phase != "READY" || p.PodNamespace != "prod" || p.PodName != "web-0" || p.Representor != vfA.Representor ||
		p.DeviceID != vfA.PCI || p.Ofport <= 0 || p.FirstSeen == nil || p.Owner != e.host.Node {
		t.Errorf("ports -o json, %s = %+v", lspA, p)
	}
	if p := byLSP[lspB]; p.Phase != "PENDING" || !strings.Contains(p.Reason, "no representor for pf-mac "+vfB.PFMAC.String()) {
		t.Errorf("ports -o json, %s = %+v", lspB, p)
	}
	if p := byLSP[cms]; p.Phase != "ERROR" || p.Owner != "ops-node" || p.Attachment != "" {
		t.Errorf("ports -o json, %s = %+v", cms, p)
	}

	// --why, for the waiting port and the ready one.
	why := runStatus(t, testbed.Must(e.dpu.PortsCommand(ctx, "--why", lspB))(t), "ports --why b")
	t.Logf("ovn-dpu-agent ports --why %s:\n%s", lspB, why)
	for _, want := range []string{
		"requested_chassis: " + e.bed.Chassis, "claimed: no", "vif-plug:representor:vf-num=1",
		"ovn-dpu:owner=" + e.host.Node,
		fmt.Sprintf("pf-mac %s vf 1: no representor", vfB.PFMAC), "no interface for this port",
		"waiting for: PENDING: waiting for the representor",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("--why %s lacks %q", lspB, want)
		}
	}
	why = runStatus(t, testbed.Must(e.dpu.PortsCommand(ctx, "--why", lspA))(t), "ports --why a")
	t.Logf("ovn-dpu-agent ports --why %s:\n%s", lspA, why)
	for _, want := range []string{
		"claimed: yes, by this chassis", fmt.Sprintf("pf-mac %s vf 0: %s", vfA.PFMAC, vfA.Representor),
		vfA.Representor + " in bridge br-int, ofport ", "ovn-installed true", "iface-id=" + lspA, "ovn-dpu-plugged=representor",
		"READY", "waiting for: nothing: the port is READY",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("--why %s lacks %q", lspA, want)
		}
	}
	var whyDoc statuscmd.Why
	out := runStatus(t, testbed.Must(e.dpu.PortsCommand(ctx, "--why", lspA, "-o", "json"))(t), "ports --why a -o json")
	if err := json.Unmarshal([]byte(out), &whyDoc); err != nil || whyDoc.Interface == nil || !whyDoc.Interface.OVNInstalled ||
		whyDoc.Binding == nil || !whyDoc.Binding.Claimed || whyDoc.Status == nil || whyDoc.Status.Phase != "READY" {
		t.Errorf("--why -o json: %v: %s", err, out)
	}

	// The host's view.
	hostTable := runStatus(t, testbed.Must(e.host.AttachmentsCommand(ctx))(t), "ovn-dpu-host-agent attachments")
	t.Logf("ovn-dpu-host-agent attachments:\n%s", hostTable)
	for _, want := range []struct{ lsp, has string }{
		{lspA, "prod/web-0"}, {lspA, "READY"}, {lspA, vfA.PCI + " (" + vfA.Netdev + ")"},
		{lspB, "(container ctr-b)"}, {lspB, "PENDING"}, {lspB, "waiting for the representor"},
	} {
		if !strings.Contains(line(hostTable, want.lsp), want.has) {
			t.Errorf("host row %s lacks %q:\n%s", want.lsp, want.has, hostTable)
		}
	}
	if strings.Contains(hostTable, cms) {
		t.Errorf("the host agent lists a port it did not attach:\n%s", hostTable)
	}
	var atts statuscmd.Attachments
	out = runStatus(t, testbed.Must(e.host.AttachmentsCommand(ctx, "-o", "json"))(t), "attachments -o json")
	t.Logf("ovn-dpu-host-agent attachments -o json:\n%s", out)
	if err := json.Unmarshal([]byte(out), &atts); err != nil || !atts.DPUSynced || len(atts.Attachments) != 2 {
		t.Fatalf("attachments -o json: %v: %s", err, out)
	}
	if a := atts.Attachments[0]; a.LogicalPort != lspA || a.Phase != "READY" || a.Representor != vfA.Representor ||
		a.ContainerID != "ctr-a" || a.Network != "ovnnet" || a.Created == nil {
		t.Errorf("attachments -o json, first = %+v", a)
	}

	// --watch on both sides: DEL pod a, and its rows go.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	dpuWatch := testbed.Must(e.dpu.PortsCommand(watchCtx, "--watch", "-o", "json"))(t)
	hostWatch := testbed.Must(e.host.AttachmentsCommand(watchCtx, "--watch", "-o", "json", "--interval=200ms"))(t)
	dpuDocs, hostDocs, errs := make(chan statuscmd.Ports, 100), make(chan statuscmd.Attachments, 100), make(chan error, 2)
	for _, w := range []*exec.Cmd{dpuWatch, hostWatch} {
		w.Stderr = os.Stderr
	}
	dpuOut := testbed.Must(dpuWatch.StdoutPipe())(t)
	hostOut := testbed.Must(hostWatch.StdoutPipe())(t)
	testbed.Must(0, dpuWatch.Start())(t)
	testbed.Must(0, hostWatch.Start())(t)
	go jsonLines(dpuOut, dpuDocs, errs)
	go jsonLines(hostOut, hostDocs, errs)
	waitDoc(t, dpuDocs, errs, "ports --watch: first table with a", func(d statuscmd.Ports) bool { return hasPort(d, lspA) })
	waitDoc(t, hostDocs, errs, "attachments --watch: first table with a", func(d statuscmd.Attachments) bool { return hasAttachment(d, lspA) })
	if r := e.bed.ExecPlugin(ctx, "DEL", "ctr-a", nsA, "eth0", e.netconf(vfA.PCI, e.hostLocal(), nil)); r.Err != nil {
		t.Fatalf("DEL a: %v: %s", r.Err, r.Stdout)
	}
	waitDoc(t, dpuDocs, errs, "ports --watch: a gone", func(d statuscmd.Ports) bool { return !hasPort(d, lspA) && hasPort(d, lspB) })
	waitDoc(t, hostDocs, errs, "attachments --watch: a gone", func(d statuscmd.Attachments) bool {
		return !hasAttachment(d, lspA) && hasAttachment(d, lspB)
	})
	// And b becomes READY once its representor appears.
	testbed.Must(0, e.bed.PublishRepresentor(vfB))(t)
	waitDoc(t, dpuDocs, errs, "ports --watch: b READY", func(d statuscmd.Ports) bool {
		for _, p := range d.Ports {
			if p.LogicalPort == lspB {
				return p.Phase == "READY"
			}
		}
		return false
	})
	if r := <-addB; r.Err != nil {
		t.Fatalf("ADD b after its representor appeared: %v: %s", r.Err, r.Stdout)
	}
	waitDoc(t, hostDocs, errs, "attachments --watch: b READY", func(d statuscmd.Attachments) bool {
		return len(d.Attachments) == 1 && d.Attachments[0].Phase == "READY"
	})
	stopWatch()
	_ = dpuWatch.Wait()
	_ = hostWatch.Wait()

	// Not running: a clear message, exit 1.
	for _, c := range []struct {
		cmd  *exec.Cmd
		want string
	}{
		{testbed.Must(e.dpu.PortsCommand(ctx, "--admin-socket="+e.bed.Dir+"/none.sock"))(t),
			"cannot reach ovn-dpu-agent on " + e.bed.Dir + "/none.sock: "},
		{testbed.Must(e.host.AttachmentsCommand(ctx, "--socket="+e.bed.Dir+"/none.sock"))(t),
			"cannot reach ovn-dpu-host-agent on " + e.bed.Dir + "/none.sock: "},
	} {
		out, err := c.cmd.CombinedOutput()
		exit, _ := err.(*exec.ExitError)
		if exit == nil || exit.ExitCode() != 1 || !strings.Contains(string(out), c.want) || !strings.Contains(string(out), "(is it running?)") {
			t.Errorf("%v: %v, %q; want exit 1 and %q ... (is it running?)", c.cmd.Args, err, out, c.want)
		}
	}
}
