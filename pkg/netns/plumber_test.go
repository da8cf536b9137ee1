package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// bed is one host namespace with a VF, and one pod namespace.
type bed struct {
	host, pod testNS
	vf        vf
	p         *Plumber
}

func newBed(t *testing.T) bed {
	t.Helper()
	requireRoot(t)
	host := newTestNS(t)
	return bed{host: host, pod: newTestNS(t), vf: newVF(t, host), p: newPlumber(t)}
}

func (b bed) moveInReq(t *testing.T) MoveInRequest {
	return MoveInRequest{
		HostNetns: b.host.path,
		VFNetdev:  b.vf.name,
		PodNetns:  b.pod.path,
		IfName:    "eth0",
		MAC:       net.HardwareAddr{0x0a, 0x58, 0x0a, 0x14, 0x00, 0x05},
		MTU:       1450,
		IPs: []*current.IPConfig{
			ipConfig(t, "10.20.0.5/24", "10.20.0.1"),
			ipConfig(t, "fd00:20::5/64", "fd00:20::1"),
		},
		Routes: []*types.Route{
			route(t, "0.0.0.0/0", ""), // gateway from the IP config
			route(t, "::/0", ""),
			route(t, "192.168.50.0/24", "10.20.0.254"),
		},
	}
}

func (b bed) moveOutReq(orig Original) MoveOutRequest {
	return MoveOutRequest{PodNetns: b.pod.path, IfName: "eth0", HostNetns: b.host.path, Original: orig}
}

func (b bed) original() Original {
	return Original{Name: b.vf.name, MAC: b.vf.mac, MTU: b.vf.mtu}
}

func TestMoveInThenOut(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	req := b.moveInReq(t)

	placed, err := b.p.MoveIn(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	want := Placed{IfName: "eth0", MAC: req.MAC, MTU: 1450, IPs: req.IPs, Routes: req.Routes}
	if fmt.Sprint(placed) != fmt.Sprint(want) {
		t.Errorf("Placed = %+v, want %+v", placed, want)
	}
	wantInPod(t, b, req)
	if err := b.p.Check(ctx, checkReq(b, req)); err != nil {
		t.Errorf("Check after MoveIn: %v", err)
	}

	if err := b.p.MoveOut(ctx, b.moveOutReq(b.original())); err != nil {
		t.Fatal(err)
	}
	wantHome(t, b.host, b.vf)
	wantNotInPod(t, b.pod)

	if err := b.p.MoveOut(ctx, b.moveOutReq(b.original())); err != nil {
		t.Errorf("second MoveOut: %v", err)
	}
	wantHome(t, b.host, b.vf)
	if err := b.p.Check(ctx, CheckRequest{PodNetns: b.pod.path, IfName: "eth0"}); !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("Check after MoveOut: %v, want ErrLinkNotFound", err)
	}
}

// wantInPod checks, from inside the pod, everything MoveIn promises for
// b.moveInReq's addressing, IPv6 usable at once included.
func wantInPod(t *testing.T, b bed, req MoveInRequest) {
	t.Helper()
	if _, ok := b.host.link(t, b.vf.name); ok {
		t.Errorf("VF %s still in host netns", b.vf.name)
	}
	st, ok := b.pod.link(t, req.IfName)
	if !ok {
		t.Fatalf("no %s in pod; pod has %v", req.IfName, b.pod.linkNames(t))
	}
	if st.alias != b.vf.name || st.mac.String() != req.MAC.String() || st.mtu != req.MTU || !st.up {
		t.Errorf("%s in pod: alias %q mac %s mtu %d up %v; want alias %q mac %s mtu %d up",
			req.IfName, st.alias, st.mac, st.mtu, st.up, b.vf.name, req.MAC, req.MTU)
	}
	addrs := b.pod.addrs(t, req.IfName)
	for _, ipc := range req.IPs {
		if !slices.Contains(addrs, ipc.Address.String()) {
			t.Errorf("pod addresses %v lack %s", addrs, ipc.Address.String())
		}
	}
	routes := b.pod.routes(t, req.IfName)
	for _, r := range []string{"0.0.0.0/0 via 10.20.0.1", "::/0 via fd00:20::1", "192.168.50.0/24 via 10.20.0.254"} {
		if !slices.Contains(routes, r) {
			t.Errorf("pod routes %v lack %s", routes, r)
		}
	}
	wantIPv6Ready(t, b.pod, req.IfName, req.MAC)
}

func TestMoveInFromOwnNetns(t *testing.T) {
	requireRoot(t)
	pod := newTestNS(t)
	id := randHex(t, 4)
	v := vf{name: linkPrefix + id + "v", mac: randMAC(t), mtu: 1600}
	run(t, "ip", "link", "add", v.name, "mtu", "1600", "address", v.mac.String(),
		"type", "veth", "peer", "name", linkPrefix+id+"p")
	t.Cleanup(func() {
		for _, n := range []string{v.name, linkPrefix + id + "p"} {
			_ = osexec.Command("ip", "link", "del", n).Run()
		}
	})
	p := newPlumber(t)
	if _, err := p.MoveIn(context.Background(), MoveInRequest{VFNetdev: v.name, PodNetns: pod.path, IfName: "net1"}); err != nil {
		t.Fatal(err)
	}
	if st, ok := pod.link(t, "net1"); !ok || st.alias != v.name || st.mtu != 1600 {
		t.Fatalf("net1 in pod: %+v %v", st, ok)
	}
	if err := p.MoveOut(context.Background(), MoveOutRequest{PodNetns: pod.path, IfName: "net1", Original: Original{Name: v.name}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := pod.link(t, "net1"); ok {
		t.Error("net1 still in pod after MoveOut")
	}
}

func TestMoveOutPodGone(t *testing.T) {
	podMAC := net.HardwareAddr{0x0a, 0x58, 0x0a, 0x14, 0x00, 0x05}
	// Deleting a namespace destroys a veth, while a real VF returns to the
	// host under its pod name with its alias. Each case recreates what the
	// real VF would leave behind (docs/testbed.md).
	cases := map[string]func(t *testing.T, b bed){
		"home under its own name": func(t *testing.T, b bed) {
			makeVeth(t, b.host, vf{name: b.vf.name, mac: podMAC, mtu: 1450}, linkPrefix+randHex(t, 4)+"p")
		},
		"home under its pod name, with alias": func(t *testing.T, b bed) {
			name := linkPrefix + randHex(t, 4) + "r"
			makeVeth(t, b.host, vf{name: name, mac: podMAC, mtu: 1450}, linkPrefix+randHex(t, 4)+"p")
			b.host.ip(t, "link", "set", name, "alias", b.vf.name)
		},
	}
	for name, recreate := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			_, err := b.p.MoveIn(context.Background(), b.moveInReq(t))
			if err != nil {
				t.Fatal(err)
			}
			run(t, "ip", "netns", "del", b.pod.name)
			recreate(t, b)
			if err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original())); err != nil {
				t.Fatal(err)
			}
			wantHome(t, b.host, b.vf)
			if err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original())); err != nil {
				t.Errorf("second MoveOut: %v", err)
			}
		})
	}
}

func TestMoveOutPodGoneVFNowhere(t *testing.T) {
	b := newBed(t)
	_, err := b.p.MoveIn(context.Background(), b.moveInReq(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "del", b.pod.name)
	err = b.p.MoveOut(context.Background(), b.moveOutReq(b.original()))
	if !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("MoveOut with pod and VF gone: %v, want ErrLinkNotFound", err)
	}
	req := b.moveOutReq(b.original())
	req.PodNetns = ""
	if err := b.p.MoveOut(context.Background(), req); !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("MoveOut with no pod netns path: %v, want ErrLinkNotFound", err)
	}
}

func TestMoveInFailureUndoesEverything(t *testing.T) {
	cases := map[string]struct {
		mutate  func(t *testing.T, b bed, req *MoveInRequest)
		wantErr error
		wantMsg string
	}{
		"unreachable route gateway": {
			mutate: func(t *testing.T, _ bed, req *MoveInRequest) {
				req.Routes = append(req.Routes, route(t, "192.168.60.0/24", "10.99.9.9"))
			},
			wantErr: unix.ENETUNREACH,
			wantMsg: `add route 192.168.60.0/24 via 10.99.9.9 on "eth0"`,
		},
		"ifname taken in pod": {
			mutate: func(t *testing.T, b bed, _ *MoveInRequest) {
				b.pod.ip(t, "link", "add", "eth0", "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
			},
			wantErr: ErrNameTaken,
			wantMsg: `move "eth0" to pod netns`,
		},
		"MTU too large": {
			mutate:  func(_ *testing.T, _ bed, req *MoveInRequest) { req.MTU = 1 << 20 },
			wantErr: unix.EINVAL,
			wantMsg: "set MTU 1048576",
		},
		"unreachable route gateway, IPv6 enabled by MoveIn": {
			mutate: func(t *testing.T, b bed, req *MoveInRequest) {
				b.pod.setConf(t, "default", "disable_ipv6", 1)
				req.Routes = append(req.Routes, route(t, "192.168.60.0/24", "10.99.9.9"))
			},
			wantErr: unix.ENETUNREACH,
			wantMsg: `add route 192.168.60.0/24 via 10.99.9.9 on "eth0"`,
		},
		"IPv6 requested, MTU below IPv6's minimum": {
			mutate:  func(_ *testing.T, _ bed, req *MoveInRequest) { req.MTU = 1200 },
			wantErr: ErrIPv6Unavailable,
			wantMsg: "fd00:20::5/64 requested, but the link has no IPv6",
		},
		"duplicate address": {
			mutate: func(t *testing.T, _ bed, req *MoveInRequest) {
				req.IPs = append(req.IPs, ipConfig(t, "10.20.0.5/24", ""))
			},
			wantErr: unix.EEXIST,
			wantMsg: "add address 10.20.0.5/24",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			req := b.moveInReq(t)
			tc.mutate(t, b, &req)
			podBefore := b.pod.linkNames(t)
			dirBefore, fdsBefore := netnsDirEntries(t), nsHandles(t)

			_, err := b.p.MoveIn(context.Background(), req)
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("MoveIn error %v; want %v naming %q", err, tc.wantErr, tc.wantMsg)
			}
			if strings.Contains(err.Error(), "rollback incomplete") {
				t.Errorf("rollback incomplete: %v", err)
			}
			wantHome(t, b.host, b.vf)
			if after := b.pod.linkNames(t); !slices.Equal(after, podBefore) {
				t.Errorf("pod links %v after failed MoveIn, want %v", after, podBefore)
			}
			if dirAfter := netnsDirEntries(t); len(dirAfter) != len(dirBefore) {
				t.Errorf("netns entries changed: before %v after %v", dirBefore, dirAfter)
			}
			if fds := nsHandles(t); fds != fdsBefore {
				t.Errorf("%d namespace handles open after MoveIn, %d before: temp netns leaked", fds, fdsBefore)
			}
		})
	}
}

func TestMoveInCancelled(t *testing.T) {
	b := newBed(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.p.MoveIn(ctx, b.moveInReq(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("MoveIn with cancelled context: %v", err)
	}
	wantHome(t, b.host, b.vf)
	wantNotInPod(t, b.pod)
}

func TestMoveInBadPodNetns(t *testing.T) {
	b := newBed(t)
	file := filepath.Join(t.TempDir(), "not-a-netns")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		path string
		want error
	}{
		"regular file":    {file, ErrNotNetns},
		"missing":         {filepath.Join(t.TempDir(), "gone"), ErrNetnsNotFound},
		"mount namespace": {"/proc/self/ns/mnt", ErrNotNetns},
		"the host netns":  {b.host.path, ErrInvalidRequest},
		"empty":           {"", ErrInvalidRequest},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			req := b.moveInReq(t)
			req.PodNetns = tc.path
			if _, err := b.p.MoveIn(context.Background(), req); !errors.Is(err, tc.want) {
				t.Errorf("MoveIn into %q: %v, want %v", tc.path, err, tc.want)
			}
			wantHome(t, b.host, b.vf)
		})
	}
}

func TestMoveInInvalidRequest(t *testing.T) {
	b := newBed(t)
	cases := map[string]func(*MoveInRequest){
		"no VF":           func(r *MoveInRequest) { r.VFNetdev = "" },
		"no ifname":       func(r *MoveInRequest) { r.IfName = "" },
		"long ifname":     func(r *MoveInRequest) { r.IfName = "sixteen-chars-xx" },
		"ifname w/ slash": func(r *MoveInRequest) { r.IfName = "a/b" },
		"negative MTU":    func(r *MoveInRequest) { r.MTU = -1 },
		"nil IP":          func(r *MoveInRequest) { r.IPs = []*current.IPConfig{nil} },
		"route no dst":    func(r *MoveInRequest) { r.Routes = []*types.Route{{}} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			req := b.moveInReq(t)
			mutate(&req)
			if _, err := b.p.MoveIn(context.Background(), req); !errors.Is(err, ErrInvalidRequest) {
				t.Errorf("MoveIn: %v, want ErrInvalidRequest", err)
			}
		})
	}
	wantHome(t, b.host, b.vf)
}

// A MoveOut that fails after the VF left the pod brings it back as it
// was, IPv6 included, whatever per-link defaults the pod's namespace
// would give it on the way back in.
func TestMoveOutFailureKeepsPodIntact(t *testing.T) {
	cases := map[string]func(t *testing.T, pod testNS){
		"pod defaults":          func(*testing.T, testNS) {},
		"pod has IPv6 disabled": func(t *testing.T, pod testNS) { pod.setConf(t, "default", "disable_ipv6", 1) },
		"pod generates random link-locals": func(t *testing.T, pod testNS) {
			pod.setConf(t, "default", "addr_gen_mode", nl.IN6_ADDR_GEN_MODE_RANDOM)
		},
	}
	for name, prepare := range cases {
		t.Run(name, func(t *testing.T) {
			b := newBed(t)
			prepare(t, b.pod)
			req := b.moveInReq(t)
			if _, err := b.p.MoveIn(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			// Something else took the VF's name at home: the VF cannot go back.
			b.host.ip(t, "link", "add", b.vf.name, "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
			err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original()))
			if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "to host netns") {
				t.Fatalf("MoveOut: %v, want ErrNameTaken naming the move to the host", err)
			}
			if strings.Contains(err.Error(), "rollback incomplete") {
				t.Errorf("rollback incomplete: %v", err)
			}
			b.host.ip(t, "link", "del", b.vf.name)
			wantInPod(t, b, req)
			if err := b.p.Check(context.Background(), checkReq(b, req)); err != nil {
				t.Errorf("Check after the failed MoveOut: %v", err)
			}
			if err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original())); err != nil {
				t.Fatalf("MoveOut after clearing the name: %v", err)
			}
			wantHome(t, b.host, b.vf)
		})
	}
}

func TestMoveOutLeavesForeignLink(t *testing.T) {
	b := newBed(t)
	b.pod.ip(t, "link", "add", "eth0", "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
	b.pod.ip(t, "link", "set", "eth0", "alias", "someone-else")
	err := b.p.MoveOut(context.Background(), MoveOutRequest{
		PodNetns: b.pod.path, IfName: "eth0", HostNetns: b.host.path,
		Original: Original{Name: linkPrefix + "gone0v"},
	})
	if !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("MoveOut of a VF that is nowhere: %v, want ErrLinkNotFound", err)
	}
	if st, ok := b.pod.link(t, "eth0"); !ok || st.alias != "someone-else" {
		t.Errorf("foreign eth0 touched: %+v %v", st, ok)
	}
	// The VF itself is home: MoveOut has nothing to do.
	if err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original())); err != nil {
		t.Errorf("MoveOut of a VF at home: %v", err)
	}
}

func TestConcurrentMoveIn(t *testing.T) {
	requireRoot(t)
	const n = 8
	host := newTestNS(t)
	beds := make([]bed, n)
	for i := range beds {
		beds[i] = bed{host: host, pod: newTestNS(t), vf: newVF(t, host), p: newPlumber(t)}
	}
	p := newPlumber(t)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, b := range beds {
		wg.Go(func() { _, errs[i] = p.MoveIn(context.Background(), b.moveInReq(t)) })
	}
	wg.Wait()
	for i, b := range beds {
		if errs[i] != nil {
			t.Fatalf("MoveIn %d: %v", i, errs[i])
		}
		wantInPod(t, b, b.moveInReq(t))
	}
	for i, b := range beds {
		wg.Go(func() { errs[i] = p.MoveOut(context.Background(), b.moveOutReq(b.original())) })
	}
	wg.Wait()
	for i, b := range beds {
		if errs[i] != nil {
			t.Fatalf("MoveOut %d: %v", i, errs[i])
		}
		wantHome(t, host, b.vf)
		wantNotInPod(t, b.pod)
	}
}

func TestMoveOutPodPathNoLongerNetns(t *testing.T) {
	b := newBed(t)
	file := filepath.Join(t.TempDir(), "unmounted")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	req := b.moveOutReq(b.original())
	req.PodNetns = file
	if err := b.p.MoveOut(context.Background(), req); err != nil {
		t.Errorf("MoveOut with an unmounted pod netns and the VF home: %v", err)
	}
	wantHome(t, b.host, b.vf)
}

// A VF back home under a name of its own and without our alias (renamed
// after a reboot) is found as HomeName, which the caller takes from the
// VF's PCI address, and renamed back.
func TestMoveOutFindsTheVFAsHomeName(t *testing.T) {
	b := newBed(t)
	if _, err := b.p.MoveIn(context.Background(), b.moveInReq(t)); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "del", b.pod.name)
	other := linkPrefix + randHex(t, 4) + "x"
	makeVeth(t, b.host, vf{name: other, mac: randMAC(t), mtu: 1450}, linkPrefix+randHex(t, 4)+"p")
	req := b.moveOutReq(b.original())
	if err := b.p.MoveOut(context.Background(), req); !errors.Is(err, ErrLinkNotFound) {
		t.Fatalf("MoveOut without HomeName: %v, want ErrLinkNotFound", err)
	}
	req.HomeName = other
	if err := b.p.MoveOut(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	wantHome(t, b.host, b.vf)
}

// A VF renamed inside the pod is still brought home: found by its alias.
func TestMoveOutFindsAVFRenamedInThePod(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	if _, err := b.p.MoveIn(ctx, b.moveInReq(t)); err != nil {
		t.Fatal(err)
	}
	b.pod.ip(t, "link", "set", "eth0", "down")
	b.pod.ip(t, "link", "set", "eth0", "name", "eth9")
	if err := b.p.MoveOut(ctx, b.moveOutReq(b.original())); err != nil {
		t.Fatal(err)
	}
	wantHome(t, b.host, b.vf)
	wantNotInPod(t, b.pod)
}
