package dpuagent_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// metricsAddr reads the address the agent logged for --metrics=...:0.
func metricsAddr(t *testing.T, ctx context.Context, agent *testbed.DPUAgent) string {
	t.Helper()
	re := regexp.MustCompile(`msg="serving metrics" address=(\S+)`)
	var addr string
	err := testbed.Eventually(ctx, 30*time.Second, "agent logs its metrics address", func() error {
		data, _ := os.ReadFile(agent.Log)
		m := re.FindSubmatch(data)
		if m == nil {
			return errors.New("not logged yet")
		}
		addr = string(m[1])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestMetricsAndHealth scrapes /metrics, /healthz and /readyz of a running
// agent with a READY port and a competing-plugger ERROR: the one READY
// attachment is one sample of each attach stage, and one stage log line.
func TestMetricsAndHealth(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	agent := testbed.Must(bed.StartDPUAgentIn(ctx, "", "--metrics=127.0.0.1:0"))(t)
	w := testbed.Must(agent.Watch(ctx, ""))(t)
	defer w.Close()
	e := &env{bed: bed, agent: agent, watch: w, ctx: ctx}

	vfs := testbed.Must(bed.AddVFs(ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	addLikeOVNController(t, e, vfs[1].Representor, "contested")
	testbed.Must(0, bed.RequestRepresentor(ctx, "net1", "good", vfs[0], ""))(t)
	testbed.Must(0, bed.RequestRepresentor(ctx, "net1", "contested", vfs[1], ""))(t)
	if err := w.WaitPhase(ctx, waitLong, ready, "good"); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitPhase(ctx, waitLong, errPhase, "contested"); err != nil {
		t.Fatal(err)
	}
	assertMilestones(t, w.Latest("good"))
	base := "http://" + metricsAddr(t, ctx, agent)
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := httpGet(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz = %d %s", code, body)
	}
	_, body := httpGet(t, base+"/metrics")
	for _, want := range []string{
		`ovndpu_dpu_ports{phase="PHASE_READY"} 1`,
		`ovndpu_dpu_ports{phase="PHASE_ERROR"} 1`,
		`ovndpu_dpu_representors 3`, // the pcipf port and two pcivf ports
		`ovndpu_dpu_competing_plugger_ports 1`,
		`ovndpu_dpu_plug_latency_seconds_count 1`,
		`ovndpu_dpu_ovs_transaction_errors_total 0`,
		`ovndpu_dpu_port_stage_seconds_count{stage="seen_to_plugged"} 1`,
		`ovndpu_dpu_port_stage_seconds_count{stage="plugged_to_claimed"} 1`,
		`ovndpu_dpu_port_stage_seconds_count{stage="claimed_to_installed"} 1`,
		`ovndpu_dpu_port_stage_seconds_count{stage="seen_to_ready"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	assertStageLogLine(t, agent, "good")
}

// assertStageLogLine checks the agent logged the stages of lsp's attach
// exactly once (it runs with --log-level=debug).
func assertStageLogLine(t *testing.T, agent *testbed.DPUAgent, lsp string) {
	t.Helper()
	data, err := os.ReadFile(agent.Log)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for line := range strings.Lines(string(data)) {
		if strings.Contains(line, `msg="port READY: attach stages"`) {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("%d stage log lines, want 1: %q", len(lines), lines)
	}
	t.Log(strings.TrimSpace(lines[0]))
	for _, field := range []string{"logical_port=" + lsp, "attachment=", "seen_to_plugged_ms=", "plugged_to_claimed_ms=",
		"claimed_to_installed_ms=", "seen_to_ready_ms="} {
		if !strings.Contains(lines[0], field) {
			t.Errorf("stage log line %q lacks %s", lines[0], field)
		}
	}
}

// TestGRPCMutualTLS: with --tls-*, a client with a certificate from the CA
// works; plaintext, another CA's and an expired certificate are refused.
func TestGRPCMutualTLS(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	ca, other := tlstest.MustNewCA(t, "ovn-dpu CA"), tlstest.MustNewCA(t, "rogue CA")
	server := ca.MustIssue(t, dir, "agent")
	agent := testbed.Must(bed.StartDPUAgent(ctx, "--insecure=false",
		"--tls-cert="+server.Cert, "--tls-key="+server.Key, "--tls-ca="+server.CA))(t)

	info := func(creds grpc.DialOption) error {
		conn, err := grpc.NewClient("unix:"+agent.Socket, creds)
		if err != nil {
			return err
		}
		defer conn.Close()
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err = ovndpuv1.NewDPUAgentClient(conn).Info(cctx, &ovndpuv1.InfoRequest{}, grpc.WaitForReady(false))
		return err
	}
	withCert := func(leaf tlstest.Leaf) grpc.DialOption {
		files := tlsutil.Files{Cert: leaf.Cert, Key: leaf.Key, CA: server.CA}
		creds, _, err := tlsutil.ClientCredentials(files, false, "localhost")
		if err != nil {
			t.Fatal(err)
		}
		return grpc.WithTransportCredentials(creds)
	}
	// Info answers Unavailable until the agent knows its chassis; poll.
	good := withCert(ca.MustIssue(t, dir, "host"))
	if err := testbed.Eventually(ctx, 30*time.Second, "Info with a certificate from the agent's CA", func() error {
		return info(good)
	}); err != nil {
		t.Fatalf("client with a certificate from the agent's CA refused: %v", err)
	}
	refused := map[string]grpc.DialOption{
		"plaintext": grpc.WithTransportCredentials(insecure.NewCredentials()),
		"other CA":  withCert(other.MustIssue(t, filepath.Join(dir, "other"), "host")),
		"expired":   withCert(ca.MustIssue(t, dir, "expired", tlstest.Expired())),
	}
	for name, creds := range refused {
		if err := info(creds); err == nil {
			t.Errorf("%s client was accepted", name)
		}
	}
}

// TestOVSDBOverSSL: the agent reaches SB over ssl: with --ovsdb-* and plugs
// a port as usual.
func TestOVSDBOverSSL(t *testing.T) {
	bed := testbed.New(t, testbed.Options{SBSSL: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	agent := testbed.Must(bed.StartDPUAgentIn(ctx, "", "--sb="+bed.SBSSLRemote,
		"--ovsdb-cert="+bed.SSLClient.Cert, "--ovsdb-key="+bed.SSLClient.Key, "--ovsdb-ca="+bed.SSLClient.CA))(t)
	w := testbed.Must(agent.Watch(ctx, ""))(t)
	defer w.Close()
	vf := testbed.Must(bed.AddVF(ctx, 0, 0))(t)
	testbed.Must(0, bed.RequestRepresentor(ctx, "net1", "p", vf, ""))(t)
	if err := w.WaitPhase(ctx, waitLong, ready, "p"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(agent.Log)
	if !strings.Contains(string(data), "sb="+bed.SBSSLRemote) {
		t.Fatalf("agent did not connect to SB over %s", bed.SBSSLRemote)
	}
}

// TestInfoWaitsForChassisName: an agent started before OVS has its
// system-id (a DPU booting) answers Info UNAVAILABLE — never an empty
// chassis a host agent would cache — and the real name once it is set.
func TestInfoWaitsForChassisName(t *testing.T) {
	bed := testbed.New(t, testbed.Options{NoController: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	testbed.Must(bed.VSCtl(ctx, "remove", "Open_vSwitch", ".", "external_ids", "system-id"))(t)
	agent := testbed.Must(bed.StartDPUAgent(ctx))(t)
	conn := testbed.Must(agent.Dial())(t)
	defer conn.Close()
	api := ovndpuv1.NewDPUAgentClient(conn)
	_, err := api.Info(ctx, &ovndpuv1.InfoRequest{}, grpc.WaitForReady(true))
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "system-id") {
		t.Fatalf("Info without a system-id: %v, want UNAVAILABLE naming system-id", err)
	}
	testbed.Must(bed.VSCtl(ctx, "set", "Open_vSwitch", ".", "external_ids:system-id="+bed.Chassis))(t)
	var info *ovndpuv1.InfoResponse
	if err := testbed.Eventually(ctx, 30*time.Second, "Info after system-id was set", func() (err error) {
		info, err = api.Info(ctx, &ovndpuv1.InfoRequest{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if info.Chassis != bed.Chassis {
		t.Fatalf("Info chassis = %q, want %q", info.Chassis, bed.Chassis)
	}
}
