package netns

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// wantMovedOnce asserts that n saw the link leave exactly once, straight
// into the namespace n knows as nsid, and that no other namespace (a
// temporary one) was announced to n on the way.
func wantMovedOnce(t *testing.T, what string, links []linkEvent, nsids []int32, nsid int32) {
	t.Helper()
	var dels []linkEvent
	for _, ev := range links {
		if ev.typ == unix.RTM_DELLINK {
			dels = append(dels, ev)
		}
	}
	if len(dels) != 1 || dels[0].newNetns != nsid {
		t.Errorf("%s: link left %d times %+v, want once, into nsid %d", what, len(dels), dels, nsid)
	}
	for _, id := range nsids {
		if id != nsid {
			t.Errorf("%s: namespace id %d announced, want only %d: a namespace besides the target was involved", what, id, nsid)
		}
	}
}

// wantMarkedThroughout asserts that every notification about the link
// that n saw carries the alias: no one in n ever saw the VF unmarked.
func wantMarkedThroughout(t *testing.T, what string, links []linkEvent, alias, finalName string) {
	t.Helper()
	if len(links) == 0 {
		t.Fatalf("%s: no notification about the link", what)
	}
	for _, ev := range links {
		if ev.typ == unix.RTM_NEWLINK && ev.alias != alias {
			t.Errorf("%s: link seen as %q with alias %q, want %q from its arrival on", what, ev.name, ev.alias, alias)
		}
	}
	if last := links[len(links)-1]; last.name != finalName {
		t.Errorf("%s: link last seen as %q, want %q", what, last.name, finalName)
	}
}

// MoveIn moves the VF once, from the host straight into the pod, where
// it carries its alias from the first moment on; MoveOut moves it once,
// straight home.
func TestOneMoveEachWay(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	hostIdx := b.host.index(t, b.vf.name)
	hostEv, podEv := record(t, b.host), record(t, b.pod)
	req := b.moveInReq(t)
	if _, err := b.p.MoveIn(ctx, req); err != nil {
		t.Fatal(err)
	}
	podIdx := b.pod.index(t, "eth0")
	links, nsids := hostEv.drain(t, hostIdx)
	wantMovedOnce(t, "MoveIn, seen from the host", links, nsids, b.host.nsidOf(t, b.pod))
	links, _ = podEv.drain(t, podIdx)
	wantMarkedThroughout(t, "MoveIn, seen from the pod", links, b.vf.name, "eth0")
	wantInPod(t, b, req)

	if err := b.p.MoveOut(ctx, b.moveOutReq(b.original())); err != nil {
		t.Fatal(err)
	}
	links, nsids = podEv.drain(t, podIdx)
	wantMovedOnce(t, "MoveOut, seen from the pod", links, nsids, b.pod.nsidOf(t, b.host))
	wantHome(t, b.host, b.vf)
}

// IFLA_IFALIAS, our mark, survives a namespace move, so setting it before
// the move marks the VF in the pod.
func TestAliasSurvivesMove(t *testing.T) {
	requireRoot(t)
	a, z := newTestNS(t), newTestNS(t)
	v := newVF(t, a)
	a.ip(t, "link", "set", v.name, "alias", "mark-"+v.name)
	from, to := openPlace(t, a), openPlace(t, z)
	if err := moveTo(from, v.name, to, "net7"); err != nil {
		t.Fatal(err)
	}
	st, ok := z.link(t, "net7")
	if !ok || st.alias != "mark-"+v.name || st.mac.String() != v.mac.String() || st.mtu != v.mtu {
		t.Errorf("after the move: %+v (found %v), want alias %q, mac %s, mtu %d", st, ok, "mark-"+v.name, v.mac, v.mtu)
	}
}

func openPlace(t *testing.T, n testNS) place {
	t.Helper()
	p, err := openNS(n.path, n.name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// With IfName taken in the pod the kernel moves the VF there under its
// host name and fails; MoveIn moves it back and reports ErrNameTaken,
// the VF home as it was, its own alias included.
func TestMoveInNameTakenMovesBack(t *testing.T) {
	b := newBed(t)
	b.pod.ip(t, "link", "add", "eth0", "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
	b.pod.ip(t, "link", "set", "eth0", "alias", "theirs")
	b.host.ip(t, "link", "set", b.vf.name, "alias", "admin-note")
	idx := b.host.index(t, b.vf.name)
	hostEv := record(t, b.host)
	fds := nsHandles(t)

	_, err := b.p.MoveIn(context.Background(), b.moveInReq(t))
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "moved back") {
		t.Fatalf("MoveIn: %v, want ErrNameTaken saying the VF was moved back", err)
	}
	if strings.Contains(err.Error(), "rollback incomplete") {
		t.Errorf("rollback incomplete: %v", err)
	}
	links, _ := hostEv.drain(t, idx)
	if !slices.ContainsFunc(links, func(ev linkEvent) bool { return ev.typ == unix.RTM_DELLINK }) {
		t.Errorf("host never saw the VF leave (%+v): the moved-but-not-renamed path was not taken", links)
	}
	st, ok := b.host.link(t, b.vf.name)
	if !ok || st.mac.String() != b.vf.mac.String() || st.mtu != b.vf.mtu || st.alias != "admin-note" || st.up {
		t.Errorf("VF at home: %+v (found %v), want mac %s mtu %d alias admin-note, down", st, ok, b.vf.mac, b.vf.mtu)
	}
	if theirs, ok := b.pod.link(t, "eth0"); !ok || theirs.alias != "theirs" {
		t.Errorf("the pod's own eth0 touched: %+v %v", theirs, ok)
	}
	if names := b.pod.linkNames(t); len(names) != 3 {
		t.Errorf("pod has links %v, want lo and its own veth pair", names)
	}
	if n := nsHandles(t); n != fds {
		t.Errorf("%d namespace handles open after MoveIn, %d before", n, fds)
	}
}

// The VF's host name taken in the pod is no obstacle: the kernel names
// it IfName on the way in.
func TestMoveInVFNameTakenInPod(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	b.pod.ip(t, "link", "add", b.vf.name, "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
	hostIdx := b.host.index(t, b.vf.name)
	hostEv := record(t, b.host)
	req := b.moveInReq(t)
	if _, err := b.p.MoveIn(ctx, req); err != nil {
		t.Fatal(err)
	}
	links, nsids := hostEv.drain(t, hostIdx)
	wantMovedOnce(t, "MoveIn", links, nsids, b.host.nsidOf(t, b.pod))
	wantInPod(t, b, req)
	if err := b.p.MoveOut(ctx, b.moveOutReq(b.original())); err != nil {
		t.Fatal(err)
	}
	wantHome(t, b.host, b.vf)
	if _, ok := b.pod.link(t, b.vf.name); !ok {
		t.Errorf("the pod's own %s is gone", b.vf.name)
	}
}

// With both names taken in the pod the kernel moves nothing.
func TestMoveInBothNamesTakenInPod(t *testing.T) {
	b := newBed(t)
	b.pod.ip(t, "link", "add", b.vf.name, "type", "veth", "peer", "name", "eth0")
	idx := b.host.index(t, b.vf.name)
	hostEv := record(t, b.host)
	_, err := b.p.MoveIn(context.Background(), b.moveInReq(t))
	if !errors.Is(err, ErrNameTaken) || strings.Contains(err.Error(), "rollback incomplete") {
		t.Fatalf("MoveIn: %v, want ErrNameTaken, rolled back", err)
	}
	if links, _ := hostEv.drain(t, idx); slices.ContainsFunc(links, func(ev linkEvent) bool { return ev.typ == unix.RTM_DELLINK }) {
		t.Errorf("VF left the host (%+v), want it refused in place", links)
	}
	wantHome(t, b.host, b.vf)
}

// A MoveOut whose name is taken at home takes the moved-but-not-renamed
// path (the host has no link of the pod's ifname): the VF goes home as
// eth0 and comes back to the pod, where its IPv6 settings, reset twice,
// are put back before it goes up.
func TestMoveOutNameTakenAtHomeMovesBack(t *testing.T) {
	b := newBed(t)
	req := b.moveInReq(t)
	if _, err := b.p.MoveIn(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b.host.ip(t, "link", "add", b.vf.name, "type", "veth", "peer", "name", linkPrefix+randHex(t, 4)+"q")
	podIdx := b.pod.index(t, "eth0")
	podEv := record(t, b.pod)
	err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original()))
	if !errors.Is(err, ErrNameTaken) || !strings.Contains(err.Error(), "moved back") {
		t.Fatalf("MoveOut: %v, want ErrNameTaken saying the VF was moved back", err)
	}
	if strings.Contains(err.Error(), "rollback incomplete") {
		t.Errorf("rollback incomplete: %v", err)
	}
	links, _ := podEv.drain(t, podIdx)
	if !slices.ContainsFunc(links, func(ev linkEvent) bool { return ev.typ == unix.RTM_DELLINK }) {
		t.Errorf("pod never saw the VF leave (%+v): the moved-but-not-renamed path was not taken", links)
	}
	b.host.ip(t, "link", "del", b.vf.name)
	wantInPod(t, b, req)
}

// A kernel that ignored IFLA_IFNAME would leave the link in the target
// under its old name without an error; settle renames it there, or, with
// the name taken, moves it back.
func TestSettleAfterAMoveWithoutRename(t *testing.T) {
	cases := map[string]struct {
		prepare func(t *testing.T, z testNS)
		wantErr error
	}{
		"name free":  {prepare: func(*testing.T, testNS) {}},
		"name taken": {prepare: func(t *testing.T, z testNS) { z.ip(t, "link", "add", "net7", "type", "veth", "peer", "name", "net8") }, wantErr: ErrNameTaken},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			requireRoot(t)
			a, z := newTestNS(t), newTestNS(t)
			v := newVF(t, a)
			tc.prepare(t, z)
			from, to := openPlace(t, a), openPlace(t, z)
			id := identity{index: int(a.index(t, v.name)), mac: v.mac}
			a.do(t, func() error {
				l, err := linkByName(v.name)
				if err != nil {
					return err
				}
				return netlink.LinkSetNsFd(l, int(to.ns.Fd())) // moved, not renamed
			})
			err := settle(from, v.name, to, "net7", id)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("settle: %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				wantHome(t, a, v)
				return
			}
			if st, ok := z.link(t, "net7"); !ok || st.mac.String() != v.mac.String() {
				t.Errorf("net7 in target: %+v (found %v), want the VF", st, ok)
			}
		})
	}
}

// A VF back from a dead pod under its pod name, and up (something at home
// brought it up), is renamed in place, down, its alias cleared.
func TestMoveOutRenamesARunningVFAtHome(t *testing.T) {
	b := newBed(t)
	if _, err := b.p.MoveIn(context.Background(), b.moveInReq(t)); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "netns", "del", b.pod.name)
	back := linkPrefix + randHex(t, 4) + "r"
	makeVeth(t, b.host, vf{name: back, mac: b.vf.mac, mtu: b.vf.mtu}, linkPrefix+randHex(t, 4)+"p")
	b.host.ip(t, "link", "set", back, "alias", b.vf.name, "up")
	if err := b.p.MoveOut(context.Background(), b.moveOutReq(b.original())); err != nil {
		t.Fatal(err)
	}
	wantHome(t, b.host, b.vf)
}

// A rename at home onto a taken name fails as ErrNameTaken and leaves
// the VF as found: name, alias, up.
func TestRenameHomeNameTaken(t *testing.T) {
	requireRoot(t)
	n := newTestNS(t)
	v, other := newVF(t, n), newVF(t, n)
	n.ip(t, "link", "set", v.name, "alias", "ours", "up")
	host := openPlace(t, n)
	st, ok := n.link(t, v.name)
	if !ok {
		t.Fatal("no VF")
	}
	err := renameHome(context.Background(), slog.New(slog.DiscardHandler), host, st, other.name)
	if !errors.Is(err, ErrNameTaken) || strings.Contains(err.Error(), "rollback incomplete") {
		t.Fatalf("renameHome: %v, want ErrNameTaken, rolled back", err)
	}
	if after, ok := n.link(t, v.name); !ok || after.alias != "ours" || !after.up {
		t.Errorf("VF after the failed rename: %+v (found %v), want alias ours, up", after, ok)
	}
}
