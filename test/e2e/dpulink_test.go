package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestDPULinkCut: the host<->DPU link goes silent (no RST, no link-down:
// a hung DPU). gRPC keepalive notices: STATUS goes not ready within 20 s,
// and an ADD during the cut fails with code 11 naming the DPU agent instead
// of waiting out timeoutSeconds for a verdict that cannot arrive. Once the
// link is back the stream resumes within seconds, the attachment made
// before the cut is still READY, and a new ADD succeeds.
func TestDPULinkCut(t *testing.T) {
	e := setup(t)
	dpuAddr := e.bed.DPUAddr.String() + ":50151"
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	podA := testbed.Must(e.bed.AddPod(e.ctx, "a"))(t)
	podB := testbed.Must(e.bed.AddPod(e.ctx, "b"))(t)
	confA, confB := e.netconf(vfs[0].PCI, e.hostLocal(), nil), e.netconf(vfs[1].PCI, e.hostLocal(), nil)
	e.add(t, podA, confA)
	status := func(ctx context.Context) testbed.CNIResult {
		return e.bed.ExecPlugin(ctx, "STATUS", "", "", "", confA)
	}
	if r := status(e.ctx); r.Err != nil {
		t.Fatalf("STATUS before the cut: %v: %s", r.Err, r.Stdout)
	}

	restore := testbed.Must(e.bed.CutHostLink(e.ctx))(t)
	t.Cleanup(func() { _ = restore() })
	cut := time.Now()
	var last testbed.CNIResult
	err := testbed.Eventually(e.ctx, 20*time.Second, "STATUS fails once the DPU is silent", func() error {
		last = status(e.ctx)
		if code, _ := last.CNIError(); code != 50 {
			return fmt.Errorf("STATUS: %v %s", last.Err, last.Stdout)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%v\nhost agent log:\n%s", err, tailFile(e.host.Log, 20))
	}
	t.Logf("STATUS not ready %v into the cut: %s", time.Since(cut).Round(100*time.Millisecond), last.Stdout)
	if !strings.Contains(last.Stdout, "DPU agent at "+dpuAddr) {
		t.Errorf("STATUS does not name the DPU agent %s: %s", dpuAddr, last.Stdout)
	}

	start := time.Now()
	r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-b", podB, "eth0", confB)
	took := time.Since(start)
	code, msg := r.CNIError()
	t.Logf("ADD during the cut failed after %v: %s", took.Round(100*time.Millisecond), r.Stdout)
	if r.Err == nil || code != 11 || !strings.Contains(msg, "DPU agent at "+dpuAddr+" unreachable") {
		t.Fatalf("ADD during the cut: err %v, code %d, msg %q; want code 11 naming the DPU agent at %s", r.Err, code, msg, dpuAddr)
	}
	if took > 20*time.Second {
		t.Errorf("ADD during the cut took %v to fail", took)
	}
	if got := e.lsps(t); len(got) != 1 {
		t.Errorf("LSPs after the failed ADD: %v, want only pod a's", got)
	}
	e.vfHome(t, vfs[1])

	testbed.Must(0, restore())(t)
	restored := time.Now()
	statusBack := make(chan error, 1)
	var statusTook time.Duration
	go func() {
		statusBack <- testbed.Eventually(e.ctx, time.Minute, "STATUS ready again", func() error {
			if r := status(e.ctx); r.Err != nil {
				return fmt.Errorf("%v: %s", r.Err, r.Stdout)
			}
			statusTook = time.Since(restored)
			return nil
		})
	}()
	// A runtime retries code 11; the first ADD may already succeed.
	var res current.Result
	attempts := 0
	for {
		attempts++
		r := e.bed.ExecPlugin(e.ctx, "ADD", "ctr-b", podB, "eth0", confB)
		if r.Err == nil {
			testbed.Must(0, json.Unmarshal([]byte(r.Stdout), &res))(t)
			break
		}
		if code, _ := r.CNIError(); code != 11 || time.Since(restored) > 30*time.Second {
			t.Fatalf("ADD after the link came back (attempt %d): %v: %s\nlogs:\n%s", attempts, r.Err, r.Stdout, e.bed.Logs(30))
		}
		t.Logf("ADD attempt %d after the link came back: %s", attempts, r.Stdout)
	}
	addBack := time.Since(restored)
	testbed.Must(0, <-statusBack)(t)
	t.Logf("ADD succeeded %v after the link came back (%d attempt(s)); STATUS ready after %v",
		addBack.Round(100*time.Millisecond), attempts, statusTook.Round(100*time.Millisecond))
	if addBack > 10*time.Second {
		t.Errorf("ADD succeeded only %v after the link came back", addBack)
	}
	if len(res.Interfaces) != 1 || res.Interfaces[0].PciID != vfs[1].PCI {
		t.Errorf("ADD result %+v", res)
	}
	// The new stream's snapshot still has pod a's port READY.
	if r := e.bed.CNITool(e.ctx, "check", podA, confA); r.Err != nil {
		t.Errorf("CHECK pod a after the cut: %v: %s %s", r.Err, r.Stdout, r.Stderr)
	}
}

// TestHostAgentRefusesNonRootPeers: the host agent serves only root on
// its socket, by the peer's credentials — even when the socket's mode
// would let anyone in.
func TestHostAgentRefusesNonRootPeers(t *testing.T) {
	e := setup(t)
	for _, dir := range []string{e.bed.Dir, filepath.Dir(e.host.Socket)} {
		testbed.Must(0, os.Chmod(dir, 0o711))(t)
	}
	testbed.Must(0, os.Chmod(e.host.Socket, 0o666))(t)
	conf := testbed.Must(json.Marshal(e.netconf("0000:00:00.0", nil, nil)))(t)
	call := func(uid int) error {
		conn, err := grpc.NewClient("passthrough:///host-agent", grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return testenv.DialUnixAs(e.host.Socket, uid) }))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		// Any answer, STATUS's code 50 included, means the peer was served.
		_, err = ovndpuv1.NewHostAgentClient(conn).CNI(ctx, &ovndpuv1.CNIRequest{Command: "STATUS", Config: conf})
		return err
	}
	if err := call(65534); status.Code(err) != codes.Unavailable {
		t.Errorf("STATUS as uid 65534: %v; want the connection refused (Unavailable), not an answer", err)
	}
	if err := call(0); err != nil {
		t.Errorf("STATUS as root: %v", err)
	}
	if log := tailFile(e.host.Log, 50); !strings.Contains(log, "refused a connection from a peer that is not root") || !strings.Contains(log, "uid=65534") {
		t.Errorf("the refusal is not logged with the uid:\n%s", log)
	}
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
