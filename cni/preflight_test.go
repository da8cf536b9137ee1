package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient/cniclienttest"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
)

// Hostile input gets its code and a message naming the variable or key
// and its value from the plugin itself: nothing reaches the agent. skel's
// own messages for most of these named neither ("interface name is too
// long", "incompatible CNI versions"), and non-UTF-8 variables failed the
// gRPC call with code 999.
func TestPreflightRefusesHostileInput(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	good := config("1.1.0", agent.Socket, "")
	for _, tc := range []struct {
		name  string
		edit  func(*invocation)
		code  uint
		msgIn []string
	}{
		{"cniVersion unsupported", func(i *invocation) { i.stdin = config("9.9.9", agent.Socket, "") },
			types.ErrIncompatibleCNIVersion, []string{`cniVersion "9.9.9" is not supported`, "0.4.0, 1.0.0 or 1.1.0"}},
		{"cniVersion malformed", func(i *invocation) { i.stdin = config("1.x", agent.Socket, "") },
			types.ErrInvalidNetworkConfig, []string{`invalid cniVersion "1.x"`}},
		{"cniVersion missing", func(i *invocation) { i.stdin = strings.Replace(good, `"cniVersion": "1.1.0",`, "", 1) },
			types.ErrIncompatibleCNIVersion, []string{"cniVersion is missing", "0.1.0"}},
		{"name missing", func(i *invocation) { i.stdin = strings.Replace(good, `"name": "dpu-net",`, "", 1) },
			types.ErrInvalidNetworkConfig, []string{"name is missing"}},
		{"name with a slash", func(i *invocation) { i.stdin = strings.Replace(good, `"dpu-net"`, `"dpu/net"`, 1) },
			types.ErrInvalidNetworkConfig, []string{`invalid name "dpu/net"`}},
		{"not JSON", func(i *invocation) { i.stdin = `{"cniVersion":` }, types.ErrDecodingFailure, []string{"network configuration (stdin)"}},
		{"ifname too long", func(i *invocation) { i.ifname = "sixteen-chars-xx" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_IFNAME "sixteen-chars-xx"`, "15 bytes"}},
		{"ifname with white space", func(i *invocation) { i.ifname = "net 1" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_IFNAME "net 1"`}},
		{"ifname not UTF-8", func(i *invocation) { i.ifname = "net\xff" },
			types.ErrInvalidEnvironmentVariables, []string{"CNI_IFNAME", "not valid UTF-8 (byte 3)"}},
		{"container id with a space", func(i *invocation) { i.containerID = "c 1" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_CONTAINERID "c 1"`}},
		{"netns relative", func(i *invocation) { i.netns = "run/netns/pod" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_NETNS "run/netns/pod"`, "absolute path"}},
		{"netns not UTF-8", func(i *invocation) { i.netns = "/run/netns/\xfe" },
			types.ErrInvalidEnvironmentVariables, []string{"CNI_NETNS", "UTF-8"}},
		{"CNI_PATH not UTF-8", func(i *invocation) { i.path = "/opt/cni/\xfe" },
			types.ErrInvalidEnvironmentVariables, []string{"CNI_PATH", "UTF-8"}},
		{"CNI_ARGS not UTF-8", func(i *invocation) { i.args = "K8S_POD_NAME=\xff" },
			types.ErrInvalidEnvironmentVariables, []string{"CNI_ARGS", "UTF-8"}},
		{"CNI_ARGS malformed", func(i *invocation) { i.args = "IgnoreUnknown=1;K8S_POD_NAME" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_ARGS: pair 2 "K8S_POD_NAME"`}},
		{"CNI_ARGS unknown key", func(i *invocation) { i.args = "FOO=1" },
			types.ErrInvalidEnvironmentVariables, []string{`unknown keys "FOO"`, "IgnoreUnknown=1"}},
		{"config over 1 MiB", func(i *invocation) {
			i.stdin = config("1.1.0", agent.Socket, `, "padding": "`+strings.Repeat("x", netconf.MaxConfigBytes)+`"`)
		}, types.ErrInvalidNetworkConfig, []string{"larger than 1 MiB"}},
		{"CHECK with a bad ifname", func(i *invocation) { i.command, i.ifname = "CHECK", "a/b" },
			types.ErrInvalidEnvironmentVariables, []string{`invalid CNI_IFNAME "a/b"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv := addInvocation(good)
			tc.edit(&inv)
			o := run(t, inv)
			m := decodeJSON(t, o.stdout)
			msg, _ := m["msg"].(string)
			if o.exitCode != 1 || m["code"] != float64(tc.code) {
				t.Errorf("exit %d, stdout %s; want code %d", o.exitCode, o.stdout, tc.code)
			}
			for _, s := range tc.msgIn {
				if !strings.Contains(msg, s) {
					t.Errorf("msg %q does not say %q", msg, s)
				}
			}
			if len(msg) > 1024 {
				t.Errorf("msg of %d bytes", len(msg))
			}
			// The error object carries cniVersion only when it is one of ours.
			if v, ok := m["cniVersion"]; ok && v != "1.1.0" {
				t.Errorf("the error carries cniVersion %v", v)
			}
		})
	}
	if n := len(agent.Requests()); n != 0 {
		t.Errorf("the agent got %d requests, want none", n)
	}
}

// DEL is not wedged by CNI_ARGS it does not read, nor by bytes gRPC
// cannot carry: they reach the agent replaced by U+FFFD.
func TestDelForwardsHostileArgs(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	inv := addInvocation(config("1.1.0", agent.Socket, ""))
	inv.command, inv.args = "DEL", "K8S_POD_NAME=\xff;a=b=c;;"
	if o := run(t, inv); o.exitCode != 0 || o.stdout != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s; want 0 and nothing", o.exitCode, o.stdout, o.stderr)
	}
	reqs := agent.Requests()
	if len(reqs) != 1 || reqs[0].Args != "K8S_POD_NAME=\uFFFD;a=b=c;;" {
		t.Errorf("agent got %v, want the DEL with CNI_ARGS made UTF-8", reqs)
	}
}

// countingReader counts what the plugin took of its stdin.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A 100 MiB configuration is refused after the plugin read 1 MiB of it:
// quickly, with bounded memory, without the agent hearing of it.
func TestHugeConfigReadNoFurtherThanTheBound(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	prefix := strings.TrimSuffix(config("1.1.0", agent.Socket, ""), "}") + `, "padding": "`
	stdin := &countingReader{r: io.MultiReader(strings.NewReader(prefix), io.LimitReader(neverEnding('x'), 100<<20),
		strings.NewReader(`"}`))}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pluginBin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CNI_COMMAND=ADD", "CNI_CONTAINERID=c1", "CNI_NETNS=" + testNetns,
		"CNI_IFNAME=net1", "CNI_PATH=/opt/cni/bin"}
	cmd.Stdin = stdin
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	m := decodeJSON(t, stdout.String())
	if err == nil || m["code"] != float64(types.ErrInvalidNetworkConfig) || !strings.Contains(m["msg"].(string), "larger than 1 MiB") {
		t.Fatalf("err %v, stdout %s; want code 7 naming the 1 MiB bound", err, stdout.String())
	}
	// What the plugin read, plus what the pipe and exec's copy buffer hold.
	if read := stdin.n.Load(); read > netconf.MaxConfigBytes+1<<20 {
		t.Errorf("%d bytes of stdin consumed; the plugin should stop after %d", read, netconf.MaxConfigBytes+1)
	}
	if took > 10*time.Second {
		t.Errorf("took %v", took)
	}
	if n := len(agent.Requests()); n != 0 {
		t.Errorf("the agent got %d requests", n)
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}
