package cniclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ovn-dpu/ovn-dpu/pkg/cniclient/cniclienttest"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// A configuration as a runtime sends it: keys the plugin does not know,
// prevResult, runtimeConfig, odd spacing that must survive untouched.
const fullConfig = `{
  "cniVersion": "1.1.0", "name": "dpu-net", "type": "ovn-dpu-cni",
  "logicalSwitch": "ls0",   "deviceID": "0000:03:00.2",
  "runtimeConfig": {"mac": "0a:58:0a:00:00:05", "ips": ["10.0.0.5/24"]},
  "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}], "ips": [{"address": "10.0.0.5/24", "interface": 0}]},
  "cni.dev/valid-attachments": [{"containerID": "abc", "ifname": "net1"}],
  "x-runtime-extra": {"nested": [1, 2.5, null, "\u00e9"]}
}`

func request(command, config string) *ovndpuv1.CNIRequest {
	return &ovndpuv1.CNIRequest{
		Command:     command,
		ContainerId: "4f6c0e4b2a",
		Netns:       "/var/run/netns/pod1",
		Ifname:      "net1",
		Args:        "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=pod1",
		Path:        "/opt/cni/bin:/usr/libexec/cni",
		Config:      []byte(config),
	}
}

func cniError(t *testing.T, err error) *types.Error {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *types.Error", err, err)
	}
	return e
}

func TestForwardSendsWholeRequest(t *testing.T) {
	result := []byte(`{"cniVersion":"1.1.0","ips":[{"address":"10.0.0.5/24"}]}`)
	agent := cniclienttest.Start(t, "", cniclienttest.Result(result))
	req := request("ADD", fullConfig)

	got, err := Forward(t.Context(), agent.Socket, req)
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if !bytes.Equal(got, result) {
		t.Errorf("result = %s, want %s", got, result)
	}
	reqs := agent.Requests()
	if len(reqs) != 1 {
		t.Fatalf("agent got %d requests, want 1", len(reqs))
	}
	if !proto.Equal(reqs[0], req) {
		t.Errorf("agent got %v, want %v", reqs[0], req)
	}
	if !bytes.Equal(reqs[0].GetConfig(), []byte(fullConfig)) {
		t.Errorf("config not forwarded byte for byte:\n%s", reqs[0].GetConfig())
	}
}

func TestForwardAgentError(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Error(100,
		"rejected by the DPU: no representor for pf-mac 0c:42:a1:00:00:01 vf-num 7", "dpu-agent on dpu1"))
	_, err := Forward(t.Context(), agent.Socket, request("ADD", fullConfig))
	e := cniError(t, err)
	want := types.Error{Code: 100, Msg: "rejected by the DPU: no representor for pf-mac 0c:42:a1:00:00:01 vf-num 7", Details: "dpu-agent on dpu1"}
	if *e != want {
		t.Errorf("error = %+v, want %+v", *e, want)
	}
}

func TestForwardGRPCStatus(t *testing.T) {
	for _, tc := range []struct {
		code codes.Code
		want uint
	}{
		{codes.Unavailable, types.ErrTryAgainLater},
		{codes.Internal, types.ErrInternal},
		{codes.Unimplemented, types.ErrInternal},
	} {
		t.Run(tc.code.String(), func(t *testing.T) {
			agent := cniclienttest.Start(t, "", func(context.Context, *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
				return nil, status.Error(tc.code, "agent says no")
			})
			_, err := Forward(t.Context(), agent.Socket, request("DEL", fullConfig))
			e := cniError(t, err)
			if e.Code != tc.want || !strings.Contains(e.Msg, agent.Socket) || e.Details != "agent says no" {
				t.Errorf("error = %+v, want code %d naming %s with the agent's message", *e, tc.want, agent.Socket)
			}
		})
	}
}

func TestForwardSocketMissing(t *testing.T) {
	// Long enough that a loaded test machine's scheduling noise stays
	// well inside the 2x allowance.
	const bound = time.Second
	socket := cniclienttest.SocketPath(t)
	start := time.Now()
	_, err := Forward(t.Context(), socket, request("ADD", fullConfig), WithConnectTimeout(bound))
	elapsed := time.Since(start)
	e := cniError(t, err)
	if e.Code != types.ErrTryAgainLater || !strings.Contains(e.Msg, socket) || !strings.Contains(e.Msg, "host agent is not reachable") {
		t.Errorf("error = %+v, want code 11 naming %s", *e, socket)
	}
	if !strings.Contains(e.Details, "no such file") {
		t.Errorf("details %q do not carry the dial error", e.Details)
	}
	if elapsed < bound || elapsed > 2*bound {
		t.Errorf("returned after %s, want between %s and %s", elapsed, bound, 2*bound)
	}
}

func TestForwardConnectBoundFollowsTimeoutSeconds(t *testing.T) {
	socket := cniclienttest.SocketPath(t)
	start := time.Now()
	_, err := Forward(t.Context(), socket, request("DEL", `{"cniVersion":"1.1.0","name":"n","timeoutSeconds":1}`))
	elapsed := time.Since(start)
	if e := cniError(t, err); e.Code != types.ErrTryAgainLater {
		t.Errorf("error = %+v, want code 11", *e)
	}
	// The upper limit only has to tell timeoutSeconds from the 10s default.
	if elapsed < time.Second || elapsed > 5*time.Second {
		t.Errorf("returned after %s, want about 1s (timeoutSeconds, below the 10s default)", elapsed)
	}
}

func TestForwardConnectionRefused(t *testing.T) {
	// A socket file nobody listens on: what a crashed agent leaves behind.
	socket := cniclienttest.SocketPath(t)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	_, err = Forward(t.Context(), socket, request("ADD", fullConfig), WithConnectTimeout(time.Second))
	e := cniError(t, err)
	if e.Code != types.ErrTryAgainLater || !strings.Contains(e.Details, "connection refused") {
		t.Errorf("error = %+v, want code 11 with connection refused", *e)
	}
}

func TestForwardWaitsForAgentToStart(t *testing.T) {
	socket := cniclienttest.SocketPath(t)
	failed := make(chan struct{}, 1)
	type answer struct {
		result []byte
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := Forward(t.Context(), socket, request("ADD", fullConfig),
			withDialObserver(func(error) {
				select {
				case failed <- struct{}{}:
				default:
				}
			}))
		done <- answer{res, err}
	}()
	<-failed
	cniclienttest.Start(t, socket, cniclienttest.Result([]byte(`{"cniVersion":"1.1.0"}`)))
	a := <-done
	if a.err != nil || string(a.result) != `{"cniVersion":"1.1.0"}` {
		t.Fatalf("Forward = %s, %v; want the late agent's result", a.result, a.err)
	}
}

func TestForwardAgentNeverAnswers(t *testing.T) {
	const margin = 500 * time.Millisecond
	agent := cniclienttest.Start(t, "", cniclienttest.Hang)
	start := time.Now()
	_, err := Forward(t.Context(), agent.Socket,
		request("ADD", `{"cniVersion":"1.1.0","name":"n","timeoutSeconds":1}`), WithCallMargin(margin))
	elapsed := time.Since(start)
	e := cniError(t, err)
	if e.Code != types.ErrTryAgainLater || !strings.Contains(e.Msg, "did not answer within 1.5s") {
		t.Errorf("error = %+v, want code 11 saying the agent did not answer in time", *e)
	}
	if want := time.Second + margin; elapsed < want || elapsed > 2*want {
		t.Errorf("returned after %s, want about %s", elapsed, want)
	}
}

func TestForwardInvalidConfigNotSent(t *testing.T) {
	agent := cniclienttest.Start(t, "", cniclienttest.Result(nil))
	_, err := Forward(t.Context(), agent.Socket, request("ADD", `{"cniVersion":"1.1.0","timeoutSeconds":0}`))
	if e := cniError(t, err); e.Code != types.ErrInvalidNetworkConfig {
		t.Errorf("error = %+v, want code 7", *e)
	}
	if n := len(agent.Requests()); n != 0 {
		t.Errorf("agent got %d requests for an invalid configuration", n)
	}
}

// TestForwardResendsWhenAgentRestartsMidCall: an agent killed while it
// handles the call (a crash, an upgrade) and back on the same socket gets
// the same request again, and its answer is the call's.
func TestForwardResendsWhenAgentRestartsMidCall(t *testing.T) {
	socket := cniclienttest.SocketPath(t)
	received := make(chan struct{})
	first := cniclienttest.Start(t, socket, func(ctx context.Context, _ *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
		close(received)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	type answer struct {
		result []byte
		err    error
	}
	done := make(chan answer, 1)
	req := request("ADD", fullConfig)
	go func() {
		res, err := Forward(t.Context(), socket, req)
		done <- answer{res, err}
	}()
	<-received
	first.Stop()
	second := cniclienttest.Start(t, socket, cniclienttest.Result([]byte(`{"cniVersion":"1.1.0"}`)))
	a := <-done
	if a.err != nil || string(a.result) != `{"cniVersion":"1.1.0"}` {
		t.Fatalf("Forward = %s, %v; want the restarted agent's result", a.result, a.err)
	}
	if reqs := second.Requests(); len(reqs) != 1 || !proto.Equal(reqs[0], req) {
		t.Errorf("restarted agent got %v, want the request once", reqs)
	}
}

// TestForwardResendsBounded: an agent whose transport fails every call
// is not asked forever.
func TestForwardResendsBounded(t *testing.T) {
	agent := cniclienttest.Start(t, "", func(context.Context, *ovndpuv1.CNIRequest) (*ovndpuv1.CNIResponse, error) {
		return nil, status.Error(codes.Unavailable, "transport is closing")
	})
	_, err := Forward(t.Context(), agent.Socket, request("DEL", fullConfig))
	e := cniError(t, err)
	if e.Code != types.ErrTryAgainLater || !strings.Contains(e.Msg, fmt.Sprintf("(%d attempts)", maxAttempts)) {
		t.Errorf("error = %+v, want code 11 after %d attempts", *e, maxAttempts)
	}
	if n := len(agent.Requests()); n != maxAttempts {
		t.Errorf("agent got %d requests, want %d", n, maxAttempts)
	}
}
