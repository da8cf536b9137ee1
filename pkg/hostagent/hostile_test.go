package hostagent

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// An ADD that can never work fails before its first side effect: nothing
// is recorded, written to NB, allocated or moved, and the fakes see only
// the refused preflight, if that. The pod side used to be found out only
// by the VF move, in parallel with the LSP write (written, then deleted).
func TestAddRefusesHostileInputBeforeAnySideEffect(t *testing.T) {
	static := func(extra string) []byte {
		return []byte(`{"cniVersion":"1.1.0","name":"net1","logicalSwitch":"ls0","deviceID":"` + testDevice +
			`","runtimeConfig":{"ips":["10.0.0.5/24","fd00::5/64"]}` + extra + `}`)
	}
	for _, tc := range []struct {
		name      string
		req       func(*ovndpuv1.CNIRequest)
		preflight error
		code      uint32
		msg       string
		journal   []string
	}{
		{name: "pod netns missing", preflight: fmt.Errorf("%w: pod %s", netns.ErrNetnsNotFound, testNetns),
			code: 4, msg: `CNI_NETNS "` + testNetns + `" cannot be used: network namespace not found`,
			journal: []string{"vf.preflight-failed ens1f0v3"}},
		{name: "pod netns the host's", preflight: fmt.Errorf("%w: %w: pod netns %s", netns.ErrInvalidRequest, netns.ErrHostNetns, testNetns),
			code: 4, msg: `CNI_NETNS "` + testNetns + `" cannot be used`, journal: []string{"vf.preflight-failed ens1f0v3"}},
		{name: "ifname taken in the pod", preflight: fmt.Errorf("%w: %q already exists in pod netns %s", netns.ErrNameTaken, "eth0", testNetns),
			code: 4, msg: `CNI_IFNAME "eth0" cannot be used: interface name already in use`, journal: []string{"vf.preflight-failed ens1f0v3"}},
		{name: "VF gone from the host", preflight: fmt.Errorf("find VF: %w", netns.ErrLinkNotFound),
			code: 102, msg: "cannot move VF " + testDevice, journal: []string{"vf.preflight-failed ens1f0v3"}},
		{name: "relative netns", req: func(r *ovndpuv1.CNIRequest) { r.Netns = "var/run/netns/pod1" },
			code: 4, msg: `invalid CNI_NETNS "var/run/netns/pod1": want an absolute path`},
		{name: "ifname too long", req: func(r *ovndpuv1.CNIRequest) { r.Ifname = "sixteen-chars-xx" },
			code: 4, msg: `invalid CNI_IFNAME "sixteen-chars-xx"`},
		{name: "container id with a slash", req: func(r *ovndpuv1.CNIRequest) { r.ContainerId = "../c1" },
			code: 4, msg: `invalid CNI_CONTAINERID "../c1"`},
		{name: "CNI_ARGS malformed", req: func(r *ovndpuv1.CNIRequest) { r.Args = "K8S_POD_NAME" },
			code: 4, msg: `invalid CNI_ARGS: pair 1 "K8S_POD_NAME"`},
		{name: "CNI_ARGS unknown key", req: func(r *ovndpuv1.CNIRequest) { r.Args = "K8S_POD_NAME=web;MAC=0e:00:00:00:00:01" },
			code: 4, msg: `unknown keys "MAC"`},
		{name: "mtu too small for a static IPv6 address", req: func(r *ovndpuv1.CNIRequest) { r.Config = static(`,"mtu":1279`) },
			code: 7, msg: "mtu 1279 is below 1280, the least IPv6 runs on, and runtimeConfig.ips has fd00::5/64"},
		{name: "mtu too small on a switch OVN assigns IPv6 on", req: func(r *ovndpuv1.CNIRequest) {
			r.Config = []byte(`{"cniVersion":"1.1.0","name":"net1","logicalSwitch":"dynamic","deviceID":"` + testDevice + `","mtu":1000}`)
		}, code: 7, msg: "OVN assigns IPv6 addresses on logical switch dynamic (other_config:ipv6_prefix)"},
		{name: "cniVersion unsupported", req: func(r *ovndpuv1.CNIRequest) {
			r.Config = []byte(strings.Replace(string(netConf("")), `"1.1.0"`, `"9.9.9"`, 1))
		}, code: 1, msg: `cniVersion "9.9.9" is not supported`},
		{name: "config over 1 MiB", req: func(r *ovndpuv1.CNIRequest) {
			r.Config = netConf(`,"padding":"` + strings.Repeat("x", netconf.MaxConfigBytes) + `"`)
		}, code: 7, msg: "larger than 1 MiB"},
		{name: "VF lookup says why", req: func(r *ovndpuv1.CNIRequest) {
			r.Config = []byte(strings.Replace(string(netConf("")), testDevice, "0000:03:00.7", 1))
		}, code: 102, msg: "VF 0000:03:00.7 cannot be attached: 0000:03:00.7: no such PCI device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.plumber.preflightErr = tc.preflight
			req := request("ADD", "c1", netConf(""))
			if tc.req != nil {
				tc.req(req)
			}
			_, e := h.call(req)
			wantCode(t, e, tc.code, tc.msg)
			h.wantJournal(tc.journal)
			h.wantNothingLeft()
		})
	}
}

// The socket's gRPC server refuses a request over MaxRequestBytes before
// decoding it, and takes one just under.
func TestServerOptionsBoundRequests(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "agent.sock")
	lis, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(ServerOptions()...)
	ovndpuv1.RegisterHostAgentServer(srv, ovndpuv1.UnimplementedHostAgentServer{})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("unix:"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := ovndpuv1.NewHostAgentClient(conn)
	for _, tc := range []struct {
		size int
		want codes.Code
	}{
		{MaxRequestBytes + 1, codes.ResourceExhausted},
		{MaxRequestBytes - 64, codes.Unimplemented}, // room for the other fields' framing
	} {
		_, err := client.CNI(context.Background(), &ovndpuv1.CNIRequest{Command: "ADD", Config: make([]byte, tc.size)})
		if got := status.Code(err); got != tc.want {
			t.Errorf("a request of %d bytes: %v, want %v", tc.size, err, tc.want)
		}
	}
}
