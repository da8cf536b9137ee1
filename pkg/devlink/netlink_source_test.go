package devlink

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNotifier is a subscribed socket the test writes datagrams and
// errors into.
type fakeNotifier struct {
	in     chan received
	closed chan struct{}
	once   sync.Once
}

func newFakeNotifier() *fakeNotifier {
	return &fakeNotifier{in: make(chan received, 16), closed: make(chan struct{})}
}

func (n *fakeNotifier) receive() ([]byte, error) {
	select {
	case r := <-n.in:
		return r.data, r.err
	case <-n.closed:
		return nil, errors.New("use of closed netlink socket")
	}
}

func (n *fakeNotifier) close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

func (n *fakeNotifier) isClosed() bool {
	select {
	case <-n.closed:
		return true
	default:
		return false
	}
}

// fakeKernel plays a devlink whose port list the test sets; its
// subscriptions are handed to the test on channels.
type fakeKernel struct {
	famErr error

	mu        sync.Mutex
	ports     [][]byte // dump payloads
	dumpErrs  []error  // returned by the next dumps, in order
	subErrs   []error  // returned by the next devlink subscriptions
	linkErr   error
	dumps     int
	subscribe int

	devlink chan *fakeNotifier
	links   chan *fakeNotifier
}

func newFakeKernel(t *testing.T, ports ...Port) *fakeKernel {
	k := &fakeKernel{devlink: make(chan *fakeNotifier, 8), links: make(chan *fakeNotifier, 8)}
	k.setPorts(t, ports...)
	return k
}

// setPorts makes the next dumps return ports, encoded as the kernel does.
func (k *fakeKernel) setPorts(t *testing.T, ports ...Port) {
	t.Helper()
	var payloads [][]byte
	for i, p := range ports {
		if p.Type == "" {
			p.Type = "eth"
		}
		data, _ := renderMessages("", dumpReply("", kernelPortAttrs(p, uint32(100+i), fixtureFunction(p))))
		payloads = append(payloads, data[nlmsgHdrLen:])
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.ports = payloads
}

func fixtureFunction(p Port) []nla {
	if p.HWAddr == nil {
		return nil
	}
	return mlx5Function(p.HWAddr, 0)
}

func (k *fakeKernel) devlinkFamily() (devlinkFamily, error) {
	return devlinkFamily{id: fixtureFamilyID, group: 7}, k.famErr
}

func (k *fakeKernel) subscribeDevlink(f devlinkFamily) (notifier, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.subscribe++
	if len(k.subErrs) > 0 {
		err := k.subErrs[0]
		k.subErrs = k.subErrs[1:]
		return nil, err
	}
	n := newFakeNotifier()
	k.devlink <- n
	return n, nil
}

func (k *fakeKernel) subscribeLinks() (notifier, error) {
	if k.linkErr != nil {
		return nil, k.linkErr
	}
	n := newFakeNotifier()
	k.links <- n
	return n, nil
}

func (k *fakeKernel) dumpPorts(devlinkFamily) ([][]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dumps++
	if len(k.dumpErrs) > 0 {
		err := k.dumpErrs[0]
		k.dumpErrs = k.dumpErrs[1:]
		return nil, err
	}
	return k.ports, nil
}

func (k *fakeKernel) dumpCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.dumps
}

func (k *fakeKernel) subscribeCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.subscribe
}

func next[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for a subscription")
		panic("unreachable")
	}
}

func newTestNetlinkSource(t *testing.T, k kernel, tbl *Table, opts ...Option) *NetlinkSource {
	s := NewNetlinkSource(tbl, append([]Option{WithLogger(testLogger(t)), WithResyncInterval(0)}, opts...)...)
	s.k = k
	s.minBackoff, s.maxBackoff = time.Millisecond, 5*time.Millisecond
	return s
}

func fixtureDatagram(t *testing.T, name string) received {
	return received{data: readNetlinkFixture(t, name)}
}

// TestNetlinkSourceFollowsNotifications: the initial dump, then PORT_NEW
// and PORT_DEL from the byte-level fixtures.
func TestNetlinkSourceFollowsNotifications(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePhysical, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))

	dl.in <- fixtureDatagram(t, "port-new.hex")
	waitFor(t, "PORT_NEW pf0vf2", found(tbl, pf0MAC, 2, "pf0vf2"))
	dl.in <- fixtureDatagram(t, "port-del.hex")
	waitFor(t, "PORT_DEL pf0vf2", func() bool {
		_, err := tbl.Lookup(mustMAC(t, pf0MAC), 2)
		return errors.Is(err, ErrNoVF)
	})
	if rep, err := tbl.Lookup(mustMAC(t, pf0MAC), 1); err != nil || rep.Netdev != "pf0vf1" {
		t.Fatalf("pf0vf1 after the PORT_DEL of pf0vf2: %v %v", rep, err)
	}
	if n := k.dumpCount(); n != 1 {
		t.Fatalf("%d dumps, want only the initial one", n)
	}
}

// TestNetlinkSourceIgnoresOtherMessages: device notifications, other
// families' messages and NLMSG_NOOP change nothing and cost no dump.
func TestNetlinkSourceIgnoresOtherMessages(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))

	device := notification("device new", devlinkCmdNew, []nla{
		attrStr(devlinkAttrBusName, "bus", "pci"), attrStr(devlinkAttrDevName, "dev", "0000:03:00.0")})
	other := notification("another family", devlinkCmdPortDel, kernelPortAttrs(fixtureVF1, 0, nil))
	other.typ = fixtureFamilyID + 1
	noop := fixtureMsg{comment: "noop", typ: 1}
	data, _ := renderMessages("", device, other, noop)
	dl.in <- received{data: data}
	dl.in <- fixtureDatagram(t, "port-new.hex") // a marker: once it is applied, the rest was too
	waitFor(t, "PORT_NEW pf0vf2", found(tbl, pf0MAC, 2, "pf0vf2"))
	if rep, err := tbl.Lookup(mustMAC(t, pf0MAC), 1); err != nil || rep.Netdev != "pf0vf1" {
		t.Fatalf("pf0vf1: %v %v", rep, err)
	}
	if n := k.dumpCount(); n != 1 {
		t.Fatalf("%d dumps, want 1", n)
	}
}

// TestNetlinkSourceRenameByNotification: Linux ≥ 6.2 sends PORT_NEW with
// the new name when udev renames the representor; Upsert follows it.
func TestNetlinkSourceRenameByNotification(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	waitFor(t, "the initial dump", func() bool { return tbl.Len() == 1 })

	vf := fixtureVF2
	vf.Netdev = "eth5" // the name the driver registered it under
	data, _ := renderMessages("", notification("registered", devlinkCmdPortNew, kernelPortAttrs(vf, ifindexVF2, fixtureFunction(vf))))
	dl.in <- received{data: data}
	waitFor(t, "eth5", found(tbl, pf0MAC, 2, "eth5"))
	dl.in <- fixtureDatagram(t, "port-new.hex") // same port, ifindex, now pf0vf2
	waitFor(t, "the rename to pf0vf2", found(tbl, pf0MAC, 2, "pf0vf2"))
	if tbl.Len() != 2 {
		t.Fatalf("%d ports after the rename, want 2", tbl.Len())
	}
}

// TestNetlinkSourceRenameByRTNetlink: older kernels send no devlink
// notification on a rename; RTM_NEWLINK under a new name for a known
// ifindex triggers a dump, which has the new name.
func TestNetlinkSourceRenameByRTNetlink(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	next(t, k.devlink)
	links := next(t, k.links)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))

	// The dump gave pf0vf1 ifindex 101 (fakeKernel numbers from 100).
	same, _ := renderMessages("", linkMessage(rtmNewLink, 101, "pf0vf1"))
	unknown, _ := renderMessages("", linkMessage(rtmNewLink, 555, "veth0"))
	links.in <- received{links: true, data: same}
	links.in <- received{links: true, data: unknown}
	time.Sleep(3 * renameSettle)
	if n := k.dumpCount(); n != 1 {
		t.Fatalf("%d dumps after link messages without a rename, want 1", n)
	}

	renamed := fixtureVF1
	renamed.Netdev = "rep-vf1"
	k.setPorts(t, fixturePF, renamed)
	data, _ := renderMessages("", linkMessage(rtmNewLink, 101, "rep-vf1"))
	links.in <- received{links: true, data: data}
	waitFor(t, "the rename to rep-vf1", found(tbl, pf0MAC, 1, "rep-vf1"))

	// A netdev first seen by rtnetlink and renamed later counts too.
	k.setPorts(t, fixturePF, renamed, fixtureVF2)
	first, _ := renderMessages("", linkMessage(rtmNewLink, 556, "eth9"))
	again, _ := renderMessages("", linkMessage(rtmNewLink, 556, "pf0vf2"))
	links.in <- received{links: true, data: first}
	links.in <- received{links: true, data: again}
	waitFor(t, "the dump after eth9 became pf0vf2", found(tbl, pf0MAC, 2, "pf0vf2"))
	if n := k.dumpCount(); n != 3 {
		t.Fatalf("%d dumps, want 3", n)
	}
}

// TestNetlinkSourceRenameBurstCoalesces: udev renaming many representors
// at once costs one dump, not one per rename.
func TestNetlinkSourceRenameBurstCoalesces(t *testing.T) {
	requireLittleEndian(t)
	ports := syntheticPorts(1, 64, nil)
	k := newFakeKernel(t, ports...)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	next(t, k.devlink)
	links := next(t, k.links)
	waitFor(t, "the initial dump", func() bool { return tbl.Len() == len(ports) })
	var msgs []fixtureMsg
	for i := range ports {
		msgs = append(msgs, linkMessage(rtmNewLink, uint32(100+i), fmt.Sprintf("renamed%d", i)))
	}
	data, _ := renderMessages("", msgs...)
	links.in <- received{links: true, data: data}
	waitFor(t, "the dump after the renames", func() bool { return k.dumpCount() == 2 })
	time.Sleep(3 * renameSettle)
	if n := k.dumpCount(); n != 2 {
		t.Fatalf("%d dumps after a burst of renames, want 2", n)
	}
}

// TestNetlinkSourceOverrunResyncs: ENOBUFS means lost notifications, so
// the source dumps at once; the kernel's state changed meanwhile.
func TestNetlinkSourceOverrunResyncs(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))

	k.setPorts(t, fixturePF, fixtureVF2) // VF1 went, VF2 came; both notifications lost
	dl.in <- received{err: fmt.Errorf("%w: recvfrom: no buffer space available", errOverrun)}
	waitFor(t, "the dump after the overrun", found(tbl, pf0MAC, 2, "pf0vf2"))
	if _, err := tbl.Lookup(mustMAC(t, pf0MAC), 1); !errors.Is(err, ErrNoVF) {
		t.Fatalf("pf0vf1 after the resync: %v", err)
	}
	// The same socket is still read after an overrun.
	dl.in <- fixtureDatagram(t, "port-del.hex")
	waitFor(t, "PORT_DEL after the overrun", func() bool {
		_, err := tbl.Lookup(mustMAC(t, pf0MAC), 2)
		return errors.Is(err, ErrNoVF)
	})
	if n := k.subscribeCount(); n != 1 {
		t.Fatalf("%d subscriptions, want 1", n)
	}
}

// TestNetlinkSourceUndecodableNotificationResyncs: a message that does not
// decode leaves the table unknown, so it is dumped again.
func TestNetlinkSourceUndecodableNotificationResyncs(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))
	data := readNetlinkFixture(t, "port-new.hex")
	dl.in <- received{data: data[:len(data)-6]} // truncated
	waitFor(t, "the dump after a truncated datagram", func() bool { return k.dumpCount() == 2 })
	bad, _ := renderMessages("", notification("no index", devlinkCmdPortNew, []nla{
		attrStr(devlinkAttrBusName, "bus", "pci"), attrStr(devlinkAttrDevName, "dev", "0000:03:00.0")}))
	dl.in <- received{data: bad}
	waitFor(t, "the dump after an undecodable port", func() bool { return k.dumpCount() == 3 })
}

// TestNetlinkSourceReconnects: a socket error other than an overrun, a
// failing subscription and a failing dump are retried with backoff; each
// new session subscribes before it dumps.
func TestNetlinkSourceReconnects(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	k.subErrs = []error{errors.New("socket: too many open files")}
	k.dumpErrs = []error{errors.New("dump: interrupted")}
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	first := next(t, k.devlink) // the second attempt; its dump fails
	second := next(t, k.devlink)
	waitFor(t, "the first session's socket closed", first.isClosed)
	waitFor(t, "the dump", found(tbl, pf0MAC, 1, "pf0vf1"))

	k.setPorts(t, fixturePF, fixtureVF2)
	second.in <- received{err: errors.New("recvfrom: connection reset")}
	third := next(t, k.devlink)
	waitFor(t, "the dump of the new session", found(tbl, pf0MAC, 2, "pf0vf2"))
	waitFor(t, "the old socket closed", second.isClosed)
	third.in <- fixtureDatagram(t, "port-del.hex")
	waitFor(t, "PORT_DEL on the new socket", func() bool {
		_, err := tbl.Lookup(mustMAC(t, pf0MAC), 2)
		return errors.Is(err, ErrNoVF)
	})
	if n := k.subscribeCount(); n != 4 {
		t.Fatalf("%d subscriptions, want 4", n)
	}
}

// TestNetlinkSourcePeriodicResync: the dump repeats every resync interval
// and picks up what notifications missed.
func TestNetlinkSourcePeriodicResync(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl, WithResyncInterval(10*time.Millisecond)))
	next(t, k.devlink)
	waitFor(t, "the initial dump", found(tbl, pf0MAC, 1, "pf0vf1"))
	renamed := fixtureVF1
	renamed.Netdev = "late-name"
	k.setPorts(t, fixturePF, renamed)
	waitFor(t, "a resync", found(tbl, pf0MAC, 1, "late-name"))
	waitFor(t, "more resyncs", func() bool { return k.dumpCount() >= 4 })
}

// TestNetlinkSourceWithoutLinkWatch: failing to watch rtnetlink is not
// fatal; devlink notifications and resyncs still work.
func TestNetlinkSourceWithoutLinkWatch(t *testing.T) {
	requireLittleEndian(t)
	k := newFakeKernel(t, fixturePF, fixtureVF1)
	k.linkErr = errors.New("permission denied")
	tbl := NewTable(WithLogger(testLogger(t)))
	runSource(t, newTestNetlinkSource(t, k, tbl))
	dl := next(t, k.devlink)
	dl.in <- fixtureDatagram(t, "port-new.hex")
	waitFor(t, "PORT_NEW", found(tbl, pf0MAC, 2, "pf0vf2"))
}

// TestNetlinkSourceUnavailable: no devlink family, as on the kernel these
// tests were written on — Run fails at once and points at --devlink-dump.
func TestNetlinkSourceUnavailable(t *testing.T) {
	k := newFakeKernel(t)
	k.famErr = fmt.Errorf("%w: the kernel has no \"devlink\" generic netlink family", ErrNetlinkUnavailable)
	s := newTestNetlinkSource(t, k, NewTable())
	err := s.Run(context.Background())
	if !errors.Is(err, ErrNetlinkUnavailable) || !strings.Contains(err.Error(), "--devlink-dump") {
		t.Fatalf("Run: %v", err)
	}
	other := newFakeKernel(t)
	other.famErr = errors.New("permission denied")
	if err := newTestNetlinkSource(t, other, NewTable()).Run(context.Background()); err == nil || errors.Is(err, ErrNetlinkUnavailable) {
		t.Fatalf("Run with a resolution error: %v", err)
	}
}

// TestNetlinkSourceStopsWhileFailing: Run returns nil on cancellation even
// while it is backing off.
func TestNetlinkSourceStopsWhileFailing(t *testing.T) {
	k := newFakeKernel(t)
	for range 1000 {
		k.subErrs = append(k.subErrs, errors.New("socket: no"))
	}
	s := newTestNetlinkSource(t, k, NewTable())
	s.minBackoff, s.maxBackoff = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	waitFor(t, "a failed subscription", func() bool { return k.subscribeCount() == 1 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestNetlinkTableIntegration feeds decoded fixture messages into a Table
// and checks lookups before and after each.
func TestNetlinkTableIntegration(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	var dump []Port
	for _, m := range decodeDatagramPorts(t, readNetlinkFixture(t, "port-dump.hex")) {
		dump = append(dump, m.Port)
	}
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 1, wantErr: ErrNoPF}})
	tbl.Replace(dump)
	checkLookups(t, tbl, []lookupCase{
		{mac: pf0MAC, vf: 1, netdev: "pf0vf1", handle: "pci/0000:03:00.0/196610", ctrl: 1},
		{mac: pf0MAC, vf: 2, wantErr: ErrNoVF},
	})
	apply := func(name string) {
		for _, m := range decodeDatagramPorts(t, readNetlinkFixture(t, name)) {
			if m.Del {
				tbl.Delete(m.Port.Handle())
			} else {
				tbl.Upsert(m.Port)
			}
		}
	}
	apply("port-new.hex")
	checkLookups(t, tbl, []lookupCase{
		{mac: pf0MAC, vf: 1, netdev: "pf0vf1", handle: "pci/0000:03:00.0/196610", ctrl: 1},
		{mac: pf0MAC, vf: 2, netdev: "pf0vf2", handle: "pci/0000:03:00.0/196611", ctrl: 1},
	})
	apply("port-del.hex")
	checkLookups(t, tbl, []lookupCase{
		{mac: pf0MAC, vf: 1, netdev: "pf0vf1", handle: "pci/0000:03:00.0/196610", ctrl: 1},
		{mac: pf0MAC, vf: 2, wantErr: ErrNoVF},
	})
	if tbl.Len() != 3 {
		t.Fatalf("Len %d, want 3", tbl.Len())
	}
}

// TestUpsertRenameChangesLookup: an Upsert for the same handle with a new
// netdev name replaces the old name in lookups (no stale or ambiguous
// entry is left behind).
func TestUpsertRenameChangesLookup(t *testing.T) {
	tbl := NewTable(WithLogger(testLogger(t)))
	tbl.Replace([]Port{fixturePF, fixtureVF1})
	vf := fixtureVF1
	vf.Netdev = "eth7"
	tbl.Upsert(vf)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 1, netdev: "eth7", handle: "pci/0000:03:00.0/196610", ctrl: 1}})
	vf.Netdev = "pf0vf1"
	tbl.Upsert(vf)
	checkLookups(t, tbl, []lookupCase{{mac: pf0MAC, vf: 1, netdev: "pf0vf1", handle: "pci/0000:03:00.0/196610", ctrl: 1}})
	if tbl.Len() != 2 {
		t.Fatalf("Len %d, want 2", tbl.Len())
	}
}
