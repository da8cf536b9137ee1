package netns

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/ip"
	"github.com/containernetworking/plugins/pkg/ns"
)

// checkReq is the CHECK matching a MoveIn of req into b's pod.
func checkReq(b bed, req MoveInRequest) CheckRequest {
	return CheckRequest{PodNetns: b.pod.path, IfName: req.IfName, MAC: req.MAC, IPs: req.IPs, Routes: req.Routes}
}

// TestCheck moves a VF in, changes one thing in the pod, and expects
// Check to name exactly that difference, or to pass for what this plugin
// does not own.
func TestCheck(t *testing.T) {
	cases := map[string]struct {
		mutate  func(t *testing.T, b bed, c *CheckRequest)
		wantErr error  // nil: Check passes
		wantMsg string // part of the message
	}{
		"healthy": {mutate: func(*testing.T, bed, *CheckRequest) {}},
		"addresses flushed": {
			mutate:  func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "addr", "flush", "dev", "eth0") },
			wantErr: ErrAddressMissing, wantMsg: "eth0 in pod netns %s lacks 10.20.0.5/24",
		},
		"one address of two removed": {
			mutate:  func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "addr", "del", "fd00:20::5/64", "dev", "eth0") },
			wantErr: ErrAddressMissing, wantMsg: "eth0 in pod netns %s lacks fd00:20::5/64",
		},
		"address with another prefix length": {
			mutate: func(t *testing.T, b bed, _ *CheckRequest) {
				b.pod.ip(t, "addr", "add", "10.20.0.5/16", "dev", "eth0")
				b.pod.ip(t, "addr", "del", "10.20.0.5/24", "dev", "eth0")
			},
			wantErr: ErrAddressMissing, wantMsg: "has 10.20.0.5/16, its result says 10.20.0.5/24",
		},
		"interface renamed": {
			mutate: func(t *testing.T, b bed, _ *CheckRequest) {
				b.pod.ip(t, "link", "set", "eth0", "down")
				b.pod.ip(t, "link", "set", "eth0", "name", "eth1")
				b.pod.ip(t, "link", "set", "eth1", "up")
			},
			wantErr: ErrLinkNotFound, wantMsg: "no interface eth0 in pod netns %s",
		},
		"link down": {
			mutate:  func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "link", "set", "eth0", "down") },
			wantErr: ErrLinkDown, wantMsg: "eth0 in pod netns %s is down",
		},
		"route deleted": {
			mutate:  func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "route", "del", "192.168.50.0/24") },
			wantErr: ErrRouteMissing, wantMsg: "pod netns %s has no route 192.168.50.0/24 via 10.20.0.254 (on eth0)",
		},
		"default route deleted": {
			mutate:  func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "route", "del", "default") },
			wantErr: ErrRouteMissing, wantMsg: "pod netns %s has no route 0.0.0.0/0 via 10.20.0.1 (on eth0)",
		},
		"IPv6 default route via another gateway": {
			mutate: func(t *testing.T, b bed, _ *CheckRequest) {
				b.pod.ip(t, "-6", "route", "replace", "default", "via", "fd00:20::fe", "dev", "eth0")
			},
			wantErr: ErrRouteMissing, wantMsg: "has no route ::/0 via fd00:20::1 (on eth0)",
		},
		"default route on another interface": {
			mutate: func(t *testing.T, b bed, _ *CheckRequest) {
				id := randHex(t, 4)
				other, peer := linkPrefix+id+"o", linkPrefix+id+"p"
				b.pod.ip(t, "link", "add", other, "type", "veth", "peer", "name", peer)
				b.pod.ip(t, "addr", "add", "10.20.0.7/24", "dev", other)
				b.pod.ip(t, "link", "set", peer, "up")
				b.pod.ip(t, "link", "set", other, "up")
				b.pod.ip(t, "route", "del", "default")
				b.pod.ip(t, "route", "add", "default", "via", "10.20.0.1", "dev", other)
			},
			wantErr: ErrRouteMissing, wantMsg: "has no route 0.0.0.0/0 via 10.20.0.1 (on eth0)",
		},
		"MAC changed": {
			mutate: func(t *testing.T, b bed, _ *CheckRequest) {
				b.pod.ip(t, "link", "set", "eth0", "address", "0a:58:0a:14:00:06")
			},
			wantErr: ErrMACMismatch, wantMsg: "eth0 in pod netns %s has MAC 0a:58:0a:14:00:06, its result says 0a:58:0a:14:00:05",
		},
		"MAC changed, none expected": {
			mutate: func(t *testing.T, b bed, c *CheckRequest) {
				b.pod.ip(t, "link", "set", "eth0", "address", "0a:58:0a:14:00:06")
				c.MAC = nil
			},
		},
		"MTU changed": { // a chained plugin's to change
			mutate: func(t *testing.T, b bed, _ *CheckRequest) { b.pod.ip(t, "link", "set", "eth0", "mtu", "1400") },
		},
		"host-prefix addresses": { // no main-table prefix route for the /32
			mutate: func(t *testing.T, b bed, c *CheckRequest) {
				b.pod.ip(t, "addr", "add", "10.20.0.9/32", "dev", "eth0")
				b.pod.ip(t, "addr", "add", "fd00:20::9/128", "dev", "eth0", "nodad")
				c.IPs = append(c.IPs, ipConfig(t, "10.20.0.9/32", ""), ipConfig(t, "fd00:20::9/128", ""))
			},
		},
		"pod netns gone": {
			mutate:  func(t *testing.T, _ bed, c *CheckRequest) { c.PodNetns = filepath.Join(t.TempDir(), "gone") },
			wantErr: ErrNetnsNotFound,
		},
		"no ifname": {
			mutate:  func(_ *testing.T, _ bed, c *CheckRequest) { c.IfName = "" },
			wantErr: ErrInvalidRequest,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			req := b.moveInReq(t)
			if _, err := b.p.MoveIn(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			c := checkReq(b, req)
			tc.mutate(t, b, &c)
			err := b.p.Check(context.Background(), c)
			wantMsg := strings.ReplaceAll(tc.wantMsg, "%s", b.pod.path)
			if tc.wantErr == nil && err != nil {
				t.Fatalf("Check: %v, want success", err)
			}
			if !errors.Is(err, tc.wantErr) || !strings.Contains(fmtErr(err), wantMsg) {
				t.Fatalf("Check: %v; want %v saying %q", err, tc.wantErr, wantMsg)
			}
		})
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestLibraryValidatorsMisjudge records why Check does not use the
// plugins' validators: on a link MoveIn configured, the address one
// fails for an IPv4 /32 that is there, and the route one passes a default
// route whose gateway is not the result's. Should a new plugins version
// fix them, this fails, and Check could use them.
func TestLibraryValidatorsMisjudge(t *testing.T) {
	b := newBed(t)
	req := b.moveInReq(t)
	if _, err := b.p.MoveIn(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b.pod.ip(t, "addr", "add", "10.20.0.9/32", "dev", "eth0")
	b.pod.ip(t, "route", "replace", "default", "via", "10.20.0.254", "dev", "eth0")
	inPod := func(fn func() error) error {
		var err error
		if nsErr := ns.WithNetNSPath(b.pod.path, func(ns.NetNS) error { err = fn(); return nil }); nsErr != nil {
			t.Fatal(nsErr)
		}
		return err
	}
	hostPrefix := []*current.IPConfig{ipConfig(t, "10.20.0.9/32", "")}
	if err := inPod(func() error { return ip.ValidateExpectedInterfaceIPs("eth0", hostPrefix) }); err == nil {
		t.Error("ip.ValidateExpectedInterfaceIPs now accepts a /32 address")
	}
	wrongGW := []*types.Route{route(t, "0.0.0.0/0", "10.20.0.1")}
	if err := inPod(func() error { return ip.ValidateExpectedRoute(wrongGW) }); err != nil {
		t.Errorf("ip.ValidateExpectedRoute now checks the default route's gateway: %v", err)
	}
	c := checkReq(b, req)
	c.IPs = append(c.IPs, hostPrefix...)
	if err := b.p.Check(context.Background(), c); !errors.Is(err, ErrRouteMissing) || !strings.Contains(err.Error(), "0.0.0.0/0 via 10.20.0.1") {
		t.Errorf("Check: %v, want ErrRouteMissing for the default route only", err)
	}
}
