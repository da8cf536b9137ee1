package netns

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink/nl"
)

func TestEUI64LinkLocal(t *testing.T) {
	cases := []struct {
		mac  string
		want string // "" for nil
	}{
		{"0a:00:00:00:00:01", "fe80::800:ff:fe00:1"},
		{"0a:58:0a:14:00:05", "fe80::858:aff:fe14:5"},
		{"00:00:00:00:00:00", "fe80::200:ff:fe00:0"},       // universal: U/L bit set
		{"52:54:00:12:34:56", "fe80::5054:ff:fe12:3456"},   // local: U/L bit cleared
		{"ff:ff:ff:ff:ff:ff", "fe80::fdff:ffff:feff:ffff"}, // only that bit flips
		{"00:11:22:33:44:55:66:77", ""},                    // EUI-64, not a 48-bit MAC
		{"", ""},
	}
	for _, tc := range cases {
		t.Run(tc.mac, func(t *testing.T) {
			var mac net.HardwareAddr
			if tc.mac != "" {
				var err error
				if mac, err = net.ParseMAC(tc.mac); err != nil {
					t.Fatal(err)
				}
			}
			got := EUI64LinkLocal(mac)
			if tc.want == "" {
				if got != nil {
					t.Errorf("EUI64LinkLocal(%s) = %s, want nil", tc.mac, got)
				}
				return
			}
			if !got.Equal(net.ParseIP(tc.want)) || !got.IsLinkLocalUnicast() {
				t.Errorf("EUI64LinkLocal(%s) = %s, want %s", tc.mac, got, tc.want)
			}
		})
	}
}

// The kernel without IPv6 (ipv6.disable=1) cannot be had in a test, so
// the decision is tested here and its effects on real links below.
func TestPlanIPv6(t *testing.T) {
	v6 := []net.IPNet{{IP: net.ParseIP("fd00::5"), Mask: net.CIDRMask(64, 128)}}
	mac := net.HardwareAddr{0x0a, 0, 0, 0, 0, 1}
	ib := make(net.HardwareAddr, 20) // InfiniBand: no EUI-64 form
	noKernel := "the kernel runs without IPv6 (no /proc/sys/net/ipv6)"
	cases := map[string]struct {
		link    v6Link
		want    []net.IPNet
		plan    v6Plan
		wantErr string
	}{
		"enabled, v6 wanted":        {v6Link{mac: mac}, v6, v6Plan{configure: true}, ""},
		"enabled, v4 only":          {v6Link{mac: mac}, nil, v6Plan{configure: true}, ""},
		"disabled, v6 wanted":       {v6Link{mac: mac, disabled: true}, v6, v6Plan{enable: true, configure: true}, ""},
		"disabled, v4 only":         {v6Link{mac: mac, disabled: true}, nil, v6Plan{}, ""},
		"no IPv6 kernel, v4 only":   {v6Link{mac: mac, why: noKernel}, nil, v6Plan{}, ""},
		"no IPv6 kernel, v6 wanted": {v6Link{mac: mac, why: noKernel}, v6, v6Plan{}, "fd00::5/64 requested, but " + noKernel},
		"no EUI-64 MAC, v4 only":    {v6Link{mac: ib}, nil, v6Plan{}, ""},
		"no EUI-64 MAC, v6 wanted":  {v6Link{mac: ib}, v6, v6Plan{}, "has no EUI-64 link-local address"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			plan, err := planIPv6(tc.link, tc.want)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrIPv6Unavailable) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("planIPv6: %v, want ErrIPv6Unavailable saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || plan != tc.plan {
				t.Errorf("planIPv6 = %+v, %v; want %+v", plan, err, tc.plan)
			}
		})
	}
}

// TestMoveInIPv6 moves a VF into pods whose IPv6 defaults differ and
// checks that IPv6 is usable the moment MoveIn returns.
func TestMoveInIPv6(t *testing.T) {
	cases := map[string]struct {
		pod      func(t *testing.T, b bed) // prepares the pod namespace
		mutate   func(req *MoveInRequest)
		wantIPv6 bool
	}{
		"dual stack":                          {wantIPv6: true},
		"MAC kept":                            {mutate: func(r *MoveInRequest) { r.MAC = nil }, wantIPv6: true},
		"IPv4 only still gets its link-local": {mutate: ipv4Only, wantIPv6: true},
		"pod generates random link-locals": {
			pod:      func(t *testing.T, b bed) { b.pod.setConf(t, "default", "addr_gen_mode", nl.IN6_ADDR_GEN_MODE_RANDOM) },
			wantIPv6: true,
		},
		// Per-link IPv6 settings do not survive a namespace move (the
		// kernel gives the link the new namespace's defaults), so a link
		// has IPv6 disabled in the pod when the pod's default says so.
		"pod has IPv6 disabled": {
			pod:      func(t *testing.T, b bed) { b.pod.setConf(t, "default", "disable_ipv6", 1) },
			wantIPv6: true,
		},
		"pod has IPv6 disabled, IPv4 only": {
			pod:    func(t *testing.T, b bed) { b.pod.setConf(t, "default", "disable_ipv6", 1) },
			mutate: ipv4Only,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			req := b.moveInReq(t)
			if tc.pod != nil {
				tc.pod(t, b)
			}
			if tc.mutate != nil {
				tc.mutate(&req)
			}
			placed, err := b.p.MoveIn(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.p.Check(context.Background(), checkReq(b, req)); err != nil {
				t.Errorf("Check: %v", err)
			}
			if enabled := b.pod.conf(t, "eth0", "disable_ipv6") == 0; enabled != tc.wantIPv6 {
				t.Errorf("IPv6 enabled on eth0: %v, want %v", enabled, tc.wantIPv6)
			}
			if tc.wantIPv6 {
				wantIPv6Ready(t, b.pod, "eth0", placed.MAC)
			} else if addrs := b.pod.allAddrs(t, "eth0"); len(addrs) != len(req.IPs) {
				t.Errorf("eth0 has addresses %v, want only %v", addrs, req.IPs)
			}
		})
	}
}

func ipv4Only(r *MoveInRequest) {
	r.IPs = r.IPs[:1]
	r.Routes = slices.DeleteFunc(slices.Clone(r.Routes), func(rt *types.Route) bool { return rt.Dst.IP.To4() == nil })
}

// TestPrepareIPv6RollsBack runs the IPv6 steps on a link in place and
// rolls them back: the link must be as before.
func TestPrepareIPv6RollsBack(t *testing.T) {
	cases := map[string]struct{ disabled, genMode int }{
		"IPv6 disabled, EUI-64 generation": {1, nl.IN6_ADDR_GEN_MODE_EUI64},
		"IPv6 enabled, random generation":  {0, nl.IN6_ADDR_GEN_MODE_RANDOM},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			requireRoot(t)
			n := newTestNS(t)
			v := newVF(t, n)
			n.setConf(t, v.name, "disable_ipv6", tc.disabled)
			n.setConf(t, v.name, "addr_gen_mode", tc.genMode)
			// Writing addr_gen_mode makes the kernel generate a link-local
			// address at once; a link freshly moved has none.
			n.ip(t, "addr", "flush", "dev", v.name)
			p, err := openNS(n.path, "test")
			if err != nil {
				t.Fatal(err)
			}
			defer p.close()
			tx := newTxn(context.Background(), slog.New(slog.DiscardHandler))
			ips := []*current.IPConfig{ipConfig(t, "fd00:30::5/64", "")}
			if err := tx.prepareIPv6(p, v.name, ips); err != nil {
				t.Fatal(err)
			}
			if err := tx.addAddr(p, v.name, ips[0].Address); err != nil {
				t.Fatal(err)
			}
			if got := len(n.allAddrs(t, v.name)); got != 2 {
				t.Fatalf("%d addresses after the steps, want the link-local and fd00:30::5", got)
			}
			cause := errors.New("later step failed")
			if err := tx.rollback(cause); err != cause {
				t.Fatalf("rollback: %v", err)
			}
			if addrs := n.allAddrs(t, v.name); len(addrs) != 0 {
				t.Errorf("addresses after rollback: %v", addrs)
			}
			if d, m := n.conf(t, v.name, "disable_ipv6"), n.conf(t, v.name, "addr_gen_mode"); d != tc.disabled || m != tc.genMode {
				t.Errorf("after rollback disable_ipv6 %d addr_gen_mode %d; want %d %d", d, m, tc.disabled, tc.genMode)
			}
		})
	}
}

// An IPv4-only pod works on a link that cannot have IPv6; the link then
// simply gets none.
func TestMoveInIPv4OnlyWithoutIPv6(t *testing.T) {
	b := newBed(t)
	req := b.moveInReq(t)
	ipv4Only(&req)
	req.MTU = 1200 // below IPv6's minimum: the kernel drops IPv6 from the link
	if _, err := b.p.MoveIn(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if addrs := b.pod.allAddrs(t, "eth0"); len(addrs) != 1 || addrs[0].IPNet.String() != "10.20.0.5/24" {
		t.Errorf("eth0 has addresses %v, want only 10.20.0.5/24", addrs)
	}
	if err := b.p.Check(context.Background(), checkReq(b, req)); err != nil {
		t.Errorf("Check: %v", err)
	}
}
