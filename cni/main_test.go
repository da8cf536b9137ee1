package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"
	"google.golang.org/protobuf/proto"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient/cniclienttest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// pluginBin is the real ovn-dpu-cni, built once by TestMain.
var pluginBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "ovn-dpu-cni-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = os.RemoveAll(dir) }()
		pluginBin = filepath.Join(dir, "ovn-dpu-cni")
		args := []string{"build", "-o", pluginBin}
		if raceEnabled {
			args = append(args, "-race")
		}
		build := exec.Command("go", append(args, ".")...)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building ovn-dpu-cni:", err)
			return 1
		}
		return m.Run()
	}())
}

// A netns path that does not exist: skel only refuses the plugin's own
// namespace, and the agent stand-in never opens it.
const testNetns = "/var/run/netns/ovn-dpu-cni-test-pod"

type invocation struct {
	command, containerID, netns, ifname, args, path string
	stdin                                           string
	dir                                             string // working directory; "" is the test's
}

func addInvocation(stdin string) invocation {
	return invocation{
		command:     "ADD",
		containerID: "c0ffee-1234_ab.cd",
		netns:       testNetns,
		ifname:      "net1",
		args:        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod-1",
		path:        "/opt/cni/bin:/usr/libexec/cni",
		stdin:       stdin,
	}
}

func (i invocation) request() *ovndpuv1.CNIRequest {
	return &ovndpuv1.CNIRequest{
		Command: i.command, ContainerId: i.containerID, Netns: i.netns, Ifname: i.ifname,
		Args: i.args, Path: i.path, Config: []byte(i.stdin),
	}
}

type outcome struct {
	stdout, stderr string
	exitCode       int
	elapsed        time.Duration
}

func run(t *testing.T, inv invocation) outcome {
	t.Helper()
	// Every invocation must end on its own; this only keeps a broken
	// plugin from stalling the whole suite.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pluginBin)
	cmd.Dir = inv.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	for k, v := range map[string]string{
		"CNI_COMMAND": inv.command, "CNI_CONTAINERID": inv.containerID, "CNI_NETNS": inv.netns,
		"CNI_IFNAME": inv.ifname, "CNI_ARGS": inv.args, "CNI_PATH": inv.path,
	} {
		if v != "" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Stdin = strings.NewReader(inv.stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	o := outcome{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		o.exitCode = exit.ExitCode()
	case err != nil:
		t.Fatalf("running ovn-dpu-cni: %v", err)
	}
	return o
}

// config is a network configuration as a runtime sends it, with keys the
// plugin does not know and spacing that must reach the agent untouched.
func config(cniVersion, socket string, extra string) string {
	return fmt.Sprintf(`{"cniVersion": %q,  "name": "dpu-net", "type": "ovn-dpu-cni",
  "agentSocket": %q, "logicalSwitch": "ls0", "deviceID": "0000:03:00.2",
  "runtimeConfig": {"mac": "0a:58:0a:00:00:05"}, "x-injected-by-multus": {"a": [1, null]}%s}`,
		cniVersion, socket, extra)
}

// resultAgent answers ADD like the host agent: a result in the
// configuration's cniVersion.
func resultAgent(ctx context.Context, req *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
	ver, err := create.DecodeVersion(req.GetConfig())
	if err != nil {
		return nil, err
	}
	r, err := sampleResult().GetAsVersion(ver)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &ovndpuv1.CNIResponse{Result: b}, nil
}

func sampleResult() *types100.Result {
	ip, ipnet, _ := net.ParseCIDR("10.0.0.5/24")
	ipnet.IP = ip
	zero := 0
	return &types100.Result{
		CNIVersion: "1.1.0",
		Interfaces: []*types100.Interface{{Name: "net1", Mac: "0a:58:0a:00:00:05", Sandbox: testNetns, PciID: "0000:03:00.2"}},
		IPs:        []*types100.IPConfig{{Interface: &zero, Address: *ipnet, Gateway: net.ParseIP("10.0.0.1")}},
	}
}

func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("stdout is not a JSON object: %v\n%s", err, s)
	}
	return m
}

func TestAddPrintsResultInConfigVersion(t *testing.T) {
	agent := cniclienttest.Start(t, "", resultAgent)
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			prev := fmt.Sprintf(`, "prevResult": {"cniVersion": %q, "interfaces": [{"name": "eth0"}]}`, ver)
			inv := addInvocation(config(ver, agent.Socket, prev))
			o := run(t, inv)
			if o.exitCode != 0 {
				t.Fatalf("exit %d, stdout %s, stderr %s", o.exitCode, o.stdout, o.stderr)
			}
			if got := decodeJSON(t, o.stdout)["cniVersion"]; got != ver {
				t.Errorf("result cniVersion = %v, want %s", got, ver)
			}
			r, err := create.Create(ver, []byte(o.stdout))
			if err != nil {
				t.Fatalf("stdout is not a %s result: %v\n%s", ver, err, o.stdout)
			}
			r100, err := types100.NewResultFromResult(r)
			if err != nil {
				t.Fatal(err)
			}
			if len(r100.IPs) != 1 || r100.IPs[0].Address.String() != "10.0.0.5/24" || r100.Interfaces[0].Sandbox != testNetns {
				t.Errorf("result = %s", o.stdout)
			}
			reqs := agent.Requests()
			if got := reqs[len(reqs)-1]; !sameRequest(got, inv.request()) {
				t.Errorf("agent got %v, want %v", got, inv.request())
			}
		})
	}
}

func TestAddResultConvertedToConfigVersion(t *testing.T) {
	// An agent answering in a newer encoding than asked must not leak it.
	b, err := json.Marshal(sampleResult())
	if err != nil {
		t.Fatal(err)
	}
	agent := cniclienttest.Start(t, "", cniclienttest.Result(b))
	o := run(t, addInvocation(config("0.4.0", agent.Socket, "")))
	if o.exitCode != 0 {
		t.Fatalf("exit %d, stdout %s", o.exitCode, o.stdout)
	}
	m := decodeJSON(t, o.stdout)
	ips := m["ips"].([]any)
	if m["cniVersion"] != "0.4.0" || ips[0].(map[string]any)["version"] != "4" {
		t.Errorf("result is not 0.4.0: %s", o.stdout)
	}
}

func TestAddWithoutResultFails(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	o := run(t, addInvocation(config("1.1.0", agent.Socket, "")))
	if o.exitCode != 1 || decodeJSON(t, o.stdout)["code"] != float64(types.ErrInternal) {
		t.Errorf("exit %d, stdout %s; want code 999", o.exitCode, o.stdout)
	}
}

func TestDelPrintsNothing(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	inv := addInvocation(config("1.0.0", agent.Socket, ""))
	inv.command, inv.netns = "DEL", "" // the namespace may be gone already
	o := run(t, inv)
	if o.exitCode != 0 || o.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s; want 0 and nothing", o.exitCode, o.stdout, o.stderr)
	}
	if got := agent.Requests(); len(got) != 1 || !sameRequest(got[0], inv.request()) {
		t.Errorf("agent got %v, want %v", got, inv.request())
	}
}

// CHECK prints nothing on success, as the spec wants, even when the agent
// answers something, whatever the version of its prevResult.
func TestCheckSucceedsSilently(t *testing.T) {
	agent := cniclienttest.Start(t, "", resultAgent)
	for _, ver := range []string{"0.4.0", "1.0.0", "1.1.0"} {
		t.Run(ver, func(t *testing.T) {
			prev, err := sampleResult().GetAsVersion(ver)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(prev)
			if err != nil {
				t.Fatal(err)
			}
			inv := addInvocation(config(ver, agent.Socket, `, "prevResult": `+string(b)))
			inv.command = "CHECK"
			o := run(t, inv)
			if o.exitCode != 0 || o.stdout != "" {
				t.Fatalf("exit %d, stdout %q, stderr %s; want 0 and nothing", o.exitCode, o.stdout, o.stderr)
			}
			reqs := agent.Requests()
			if got := reqs[len(reqs)-1]; !sameRequest(got, inv.request()) {
				t.Errorf("agent got %v, want %v", got, inv.request())
			}
		})
	}
}

// A CHECK without a usable prevResult is code 7 at once, even while the
// host agent is down: it names prevResult instead of the socket, and the
// runtime does not retry a config that can never pass.
func TestInvalidCheckConfigIsCode7WhileAgentDown(t *testing.T) {
	socket := cniclienttest.SocketPath(t) // never listened on
	for name, extra := range map[string]string{
		"no prevResult":              "",
		"null prevResult":            `, "prevResult": null`,
		"prevResult not an object":   `, "prevResult": "eth0"`,
		"prevResult with a bad ip":   `, "prevResult": {"cniVersion": "1.1.0", "ips": [{"address": "10.0.0.5"}]}`,
		"prevResult of another kind": `, "prevResult": {"cniVersion": "1.1.0", "interfaces": {"name": "eth0"}}`,
	} {
		t.Run(name, func(t *testing.T) {
			// timeoutSeconds 1 keeps a regression that dials from waiting 10s.
			inv := addInvocation(config("1.1.0", socket, `, "timeoutSeconds": 1`+extra))
			inv.command = "CHECK"
			o := run(t, inv)
			m := decodeJSON(t, o.stdout)
			msg, _ := m["msg"].(string)
			if o.exitCode != 1 || m["code"] != float64(types.ErrInvalidNetworkConfig) || !strings.Contains(msg, "prevResult") {
				t.Errorf("exit %d, stdout %s; want code 7 naming prevResult", o.exitCode, o.stdout)
			}
		})
	}
}

func TestAgentErrorPrintedAsCNIError(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Error(100,
		"rejected by the DPU: representor pf0vf7 is owned by ovn-plugged", "dpu-agent dpu1"))
	o := run(t, addInvocation(config("1.0.0", agent.Socket, "")))
	if o.exitCode != 1 {
		t.Fatalf("exit %d, want 1", o.exitCode)
	}
	want := map[string]any{"cniVersion": "1.0.0", "code": float64(100),
		"msg": "rejected by the DPU: representor pf0vf7 is owned by ovn-plugged", "details": "dpu-agent dpu1"}
	if got := decodeJSON(t, o.stdout); !reflect.DeepEqual(got, want) {
		t.Errorf("stdout = %v, want %v", got, want)
	}
}

func TestAgentUnreachable(t *testing.T) {
	socket := cniclienttest.SocketPath(t) // never listened on
	for _, command := range []string{"ADD", "DEL"} {
		t.Run(command, func(t *testing.T) {
			// timeoutSeconds 1 bounds the wait for the agent to 1s.
			inv := addInvocation(config("1.1.0", socket, `, "timeoutSeconds": 1`))
			inv.command = command
			o := run(t, inv)
			if o.exitCode != 1 {
				t.Fatalf("exit %d, stdout %s", o.exitCode, o.stdout)
			}
			m := decodeJSON(t, o.stdout)
			if m["code"] != float64(types.ErrTryAgainLater) || !strings.Contains(m["msg"].(string), socket) {
				t.Errorf("stdout = %s, want code 11 naming %s", o.stdout, socket)
			}
			// Room for starting a -race binary on a busy machine, still
			// well short of the 10s a missing timeoutSeconds would allow.
			if o.elapsed > 8*time.Second {
				t.Errorf("took %s for a 1s bound", o.elapsed)
			}
		})
	}
}

func TestStatusAndGCForward(t *testing.T) {
	for _, tc := range []struct {
		command string
		extra   string
	}{
		{"STATUS", ""},
		{"GC", `, "cni.dev/valid-attachments": [{"containerID": "c0ffee", "ifname": "net1"}]`},
	} {
		t.Run(tc.command, func(t *testing.T) {
			agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
			inv := invocation{command: tc.command, path: "/opt/cni/bin", stdin: config("1.1.0", agent.Socket, tc.extra)}
			o := run(t, inv)
			if o.exitCode != 0 || o.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 0 and nothing", o.exitCode, o.stdout)
			}
			if got := agent.Requests(); len(got) != 1 || !sameRequest(got[0], inv.request()) {
				t.Errorf("agent got %v, want %v", got, inv.request())
			}
		})
	}
}

func TestStatusNotReady(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Error(50, "DPU agent not reachable", ""))
	o := run(t, invocation{command: "STATUS", path: "/opt/cni/bin", stdin: config("1.1.0", agent.Socket, "")})
	if m := decodeJSON(t, o.stdout); o.exitCode != 1 || m["code"] != float64(50) || m["cniVersion"] != "1.1.0" {
		t.Errorf("exit %d, stdout %s; want code 50", o.exitCode, o.stdout)
	}
}

func TestInvalidTimeoutRejected(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	o := run(t, addInvocation(config("1.1.0", agent.Socket, `, "timeoutSeconds": 0`)))
	m := decodeJSON(t, o.stdout)
	if o.exitCode != 1 || m["code"] != float64(types.ErrInvalidNetworkConfig) || !strings.Contains(m["msg"].(string), "timeoutSeconds") {
		t.Errorf("exit %d, stdout %s; want code 7 naming timeoutSeconds", o.exitCode, o.stdout)
	}
	if n := len(agent.Requests()); n != 0 {
		t.Errorf("an invalid configuration reached the agent %d times", n)
	}
}

func TestUnsupportedVersionRejected(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	o := run(t, addInvocation(config("0.3.1", agent.Socket, "")))
	if m := decodeJSON(t, o.stdout); o.exitCode != 1 || m["code"] != float64(types.ErrIncompatibleCNIVersion) {
		t.Errorf("exit %d, stdout %s; want code 1", o.exitCode, o.stdout)
	}
}

func TestVersion(t *testing.T) {
	o := run(t, invocation{command: "VERSION", stdin: `{"cniVersion": "1.1.0"}`})
	want := map[string]any{"cniVersion": "1.1.0", "supportedVersions": []any{"0.4.0", "1.0.0", "1.1.0"}}
	if got := decodeJSON(t, o.stdout); o.exitCode != 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("exit %d, stdout %v; want %v", o.exitCode, got, want)
	}
}

func TestAboutWithoutCommand(t *testing.T) {
	o := run(t, invocation{})
	if o.exitCode != 0 || o.stdout != "" || !strings.Contains(o.stderr, "ovn-dpu-cni ") ||
		!strings.Contains(o.stderr, "0.4.0, 1.0.0, 1.1.0") {
		t.Errorf("exit %d, stdout %q, stderr %q", o.exitCode, o.stdout, o.stderr)
	}
}

// A config ADD can never use is code 7 at once, even while the host agent
// is down: code 11 would make the runtime retry it for ever.
func TestInvalidAddConfigIsCode7WhileAgentDown(t *testing.T) {
	socket := cniclienttest.SocketPath(t) // never listened on
	for name, tc := range map[string]struct{ stdin, field string }{
		"mtu of the wrong type": {config("1.1.0", socket, `, "mtu": "1400"`), "mtu"},
		"mtu out of range":      {config("1.1.0", socket, `, "mtu": 20`), "mtu"},
		"no logical switch": {fmt.Sprintf(`{"cniVersion":"1.1.0","name":"n","type":"ovn-dpu-cni","agentSocket":%q,"deviceID":"0000:03:00.2"}`, socket),
			"logicalSwitch"},
		"bad runtimeConfig.ips": {config("1.1.0", socket, `, "runtimeConfig": {"ips": ["10.0.0.5"]}`), "runtimeConfig.ips"},
	} {
		t.Run(name, func(t *testing.T) {
			o := run(t, addInvocation(tc.stdin))
			m := decodeJSON(t, o.stdout)
			if o.exitCode != 1 || m["code"] != float64(types.ErrInvalidNetworkConfig) || !strings.Contains(m["msg"].(string), tc.field) {
				t.Errorf("exit %d, stdout %s; want code 7 naming %s", o.exitCode, o.stdout, tc.field)
			}
		})
	}
}

// DEL reaches the agent even with a config ADD rejects: the agent undoes
// from its own records, and a DEL that can never succeed would wedge the
// runtime's cleanup.
func TestDelForwardsConfigAddRejects(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	inv := addInvocation(config("1.1.0", agent.Socket, `, "mtu": "1400"`))
	inv.command = "DEL"
	if o := run(t, inv); o.exitCode != 0 || o.stdout != "" {
		t.Fatalf("exit %d, stdout %q; want 0 and nothing", o.exitCode, o.stdout)
	}
	if got := agent.Requests(); len(got) != 1 || got[0].Command != "DEL" {
		t.Errorf("agent got %v, want the DEL", got)
	}
}

// sameRequest compares what the agent got with what the plugin should
// send: equal but for plugin_started, which must be a moment of the last
// minute (the plugin's own start).
func sameRequest(got, want *ovndpuv1.CNIRequest) bool {
	g := proto.Clone(got).(*ovndpuv1.CNIRequest)
	if g.PluginStarted == nil {
		return false
	}
	if age := time.Since(g.PluginStarted.AsTime()); age < 0 || age > time.Minute {
		return false
	}
	g.PluginStarted = nil
	return proto.Equal(g, want)
}
