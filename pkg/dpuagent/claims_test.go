package dpuagent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

type callerKey struct{}

// asHost is a call from host, as its certificate would name it.
func asHost(host string) context.Context {
	return context.WithValue(context.Background(), callerKey{}, host)
}

func testIdentity(ctx context.Context) (string, bool) {
	host, ok := ctx.Value(callerKey{}).(string)
	return host, ok
}

var (
	hostAPF = net.HardwareAddr{0x0e, 0, 0, 0, 0xa, 1}
	hostBPF = net.HardwareAddr{0x0e, 0, 0, 0, 0xb, 1}
)

// multiHostAgent is an agent with --hosts host-a=1,host-b=2 and a devlink
// table with one PF (and VF 0) per host.
func multiHostAgent(t *testing.T) *Agent {
	t.Helper()
	hosts, err := ParseHosts("host-a=1,host-b=2")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{SBRemotes: []string{"unix:/nonexistent"}, Hosts: hosts}, portstatus.NewStore(),
		WithPeerIdentity(testIdentity), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	var ports []devlink.Port
	for i, mac := range []net.HardwareAddr{hostAPF, hostBPF} {
		c := uint32(i + 1)
		ports = append(ports,
			devlink.Port{Device: "pci/0000:03:00.0", Index: uint32(10 * c), Flavour: devlink.PCIPF, Controller: c, External: true, HWAddr: mac, Netdev: fmt.Sprintf("c%dpf0", c)},
			devlink.Port{Device: "pci/0000:03:00.0", Index: uint32(10*c + 1), Flavour: devlink.PCIVF, Controller: c, External: true, Netdev: fmt.Sprintf("c%dpf0vf0", c)})
	}
	a.table.Replace(ports)
	a.id.Store(&chassisIdentity{name: "dpu1"})
	return a
}

func claimReq(replaceAll bool, claims ...*ovndpuv1.AttachmentClaim) *ovndpuv1.ClaimRequest {
	return &ovndpuv1.ClaimRequest{Claims: claims, ReplaceAll: replaceAll}
}

func vf0Of(id, lsp string, pf net.HardwareAddr) *ovndpuv1.AttachmentClaim {
	return &ovndpuv1.AttachmentClaim{AttachmentId: id, LogicalPort: lsp, PfMac: pf.String(), Function: "vf 0", LogicalSwitch: "ls-uuid"}
}

func TestClaimRefusals(t *testing.T) {
	a := multiHostAgent(t)
	tests := []struct {
		name   string
		ctx    context.Context
		claim  *ovndpuv1.AttachmentClaim
		code   codes.Code
		reason string
	}{
		{"no certificate identity", context.Background(), vf0Of("a1", "lsp1", hostAPF), codes.Unauthenticated, "client certificate"},
		{"a host --hosts does not name", asHost("host-z"), vf0Of("a1", "lsp1", hostAPF), codes.PermissionDenied, `host "host-z" is not one this DPU serves`},
		{"another host's PF", asHost("host-b"), vf0Of("a1", "lsp1", hostAPF), codes.PermissionDenied, "PF " + hostAPF.String() + " is not one of host host-b's PFs (devlink controller 2)"},
		{"an unknown PF", asHost("host-a"), vf0Of("a1", "lsp1", net.HardwareAddr{0x0e, 9, 9, 9, 9, 9}), codes.FailedPrecondition, "host host-a's PFs: [" + hostAPF.String() + "]"},
		{"no attachment id", asHost("host-a"), vf0Of("", "lsp1", hostAPF), codes.InvalidArgument, "attachment_id must be"},
		{"no logical port", asHost("host-a"), vf0Of("a1", "", hostAPF), codes.InvalidArgument, "logical_port must be"},
		{"a bad PF MAC", asHost("host-a"), &ovndpuv1.AttachmentClaim{AttachmentId: "a1", LogicalPort: "l", PfMac: "nope", Function: "vf 0", LogicalSwitch: "s"}, codes.InvalidArgument, `pf_mac "nope"`},
		{"a bad function", asHost("host-a"), &ovndpuv1.AttachmentClaim{AttachmentId: "a1", LogicalPort: "l", PfMac: hostAPF.String(), Function: "vf x", LogicalSwitch: "s"}, codes.InvalidArgument, `function "vf x"`},
		{"no logical switch", asHost("host-a"), &ovndpuv1.AttachmentClaim{AttachmentId: "a1", LogicalPort: "l", PfMac: hostAPF.String(), Function: "vf 0"}, codes.InvalidArgument, "logical_switch must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Claim(tt.ctx, claimReq(false, tt.claim))
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Claim: %v, want %v containing %q", err, tt.code, tt.reason)
			}
		})
	}
	if held := a.claims.held(); len(held) != 0 {
		t.Errorf("refused claims were recorded: %v", held)
	}
}

func TestClaimHoldReplaceRelease(t *testing.T) {
	a := multiHostAgent(t)
	held := func(ctx context.Context, req *ovndpuv1.ClaimRequest) uint32 {
		t.Helper()
		resp, err := a.Claim(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Held
	}
	if n := held(asHost("host-a"), claimReq(false, vf0Of("a1", "lsp1", hostAPF), vf0Of("a2", "lsp2", hostAPF))); n != 2 {
		t.Errorf("held %d after two claims, want 2", n)
	}
	if n := held(asHost("host-b"), claimReq(false, vf0Of("b1", "lsp3", hostBPF))); n != 1 {
		t.Errorf("host-b holds %d, want 1", n)
	}
	// A new attachment of lsp1 replaces the old one.
	if n := held(asHost("host-a"), claimReq(false, vf0Of("a3", "lsp1", hostAPF))); n != 2 {
		t.Errorf("held %d after re-claiming lsp1, want 2", n)
	}
	if _, ok := a.claims.snapshot()[claimKey{"host-a", "a1"}]; ok {
		t.Error("the replaced attachment a1 is still claimed")
	}
	// After a reconnect the host says what it holds; the rest goes.
	if n := held(asHost("host-a"), claimReq(true, vf0Of("a3", "lsp1", hostAPF))); n != 1 {
		t.Errorf("held %d after replace_all with one, want 1", n)
	}
	if _, err := a.Release(asHost("host-a"), &ovndpuv1.ReleaseRequest{AttachmentIds: []string{"a3", "b1", "unknown"}}); err != nil {
		t.Fatal(err)
	}
	got := a.claims.snapshot()
	if len(got) != 1 || got[claimKey{"host-b", "b1"}].lsp != "lsp3" {
		t.Errorf("after host-a released a3 (and named host-b's b1): %v, want only host-b's b1", got)
	}
}

func TestClaimCap(t *testing.T) {
	a := multiHostAgent(t)
	claims := make([]*ovndpuv1.AttachmentClaim, maxClaimsPerHost+1)
	for i := range claims {
		claims[i] = vf0Of(fmt.Sprint("a", i), fmt.Sprint("lsp", i), hostAPF)
	}
	if _, err := a.Claim(asHost("host-a"), claimReq(true, claims...)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("%d claims: %v, want ResourceExhausted", len(claims), err)
	}
	if resp, err := a.Claim(asHost("host-a"), claimReq(true, claims[:maxClaimsPerHost]...)); err != nil || resp.Held != maxClaimsPerHost {
		t.Fatalf("%d claims: %v, %v", maxClaimsPerHost, resp, err)
	}
}

// TestInfoScopedToCaller: with --hosts a host sees only its own PFs, is
// told to claim, and a host --hosts does not name gets nothing.
func TestInfoScopedToCaller(t *testing.T) {
	a := multiHostAgent(t)
	for host, want := range map[string]string{"host-a": hostAPF.String(), "host-b": hostBPF.String()} {
		info, err := a.Info(asHost(host))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(info.PfMacs, []string{want}) || !info.RequiresClaims {
			t.Errorf("%s: pf_macs %v requires_claims %v, want [%s] true", host, info.PfMacs, info.RequiresClaims, want)
		}
	}
	if _, err := a.Info(asHost("host-z")); status.Code(err) != codes.PermissionDenied {
		t.Errorf("Info for a host not in --hosts: %v, want PermissionDenied", err)
	}
}

func TestHostsNeedIdentityAndAgentPlugger(t *testing.T) {
	hosts, _ := ParseHosts("host-a=1")
	for name, tc := range map[string]struct {
		cfg  Config
		opts []Option
	}{
		"without a peer identity":      {Config{SBRemotes: []string{"unix:/x"}, Hosts: hosts}, nil},
		"with ovn-controller plugging": {Config{SBRemotes: []string{"unix:/x"}, Hosts: hosts, Plugger: PluggerOVNController}, []Option{WithPeerIdentity(testIdentity)}},
	} {
		if _, err := New(tc.cfg, portstatus.NewStore(), tc.opts...); err == nil || !strings.Contains(err.Error(), "--hosts needs") {
			t.Errorf("%s: %v, want a refusal naming what --hosts needs", name, err)
		}
	}
}

// TestForgetUnplugged: once a pass unplugs an attachment's interface, its
// claims are gone, whoever held them; other claims stay.
func TestForgetUnplugged(t *testing.T) {
	a := multiHostAgent(t)
	for host, c := range map[string]*ovndpuv1.AttachmentClaim{"host-a": vf0Of("a1", "lsp1", hostAPF), "host-b": vf0Of("a1", "lsp9", hostBPF)} {
		if _, err := a.Claim(asHost(host), claimReq(false, c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Claim(asHost("host-a"), claimReq(false, vf0Of("a2", "lsp2", hostAPF))); err != nil {
		t.Fatal(err)
	}
	st := world(nil, ourRow("rep0", "lsp1", "a1"), ourRow("rep2", "lsp2", "a2"))
	changes := []change{unplugOf("lsp1", "rep0"), unplugOf("lsp2", "rep2")}
	a.forgetUnplugged(changes, st, outcome{unplugged: map[string]bool{"lsp1": true}}) // lsp2's unplug failed
	got := a.claims.snapshot()
	if _, ok := got[claimKey{"host-a", "a2"}]; len(got) != 1 || !ok {
		t.Errorf("claims after a1's unplug: %v, want a2's alone", got)
	}
}
