package portstatus

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

const (
	pending   = ovndpuv1.Phase_PHASE_PENDING
	plugged   = ovndpuv1.Phase_PHASE_PLUGGED
	ready     = ovndpuv1.Phase_PHASE_READY
	failed    = ovndpuv1.Phase_PHASE_ERROR
	unplugged = ovndpuv1.Phase_PHASE_UNPLUGGED
)

// fakeClock lets tests tell first_seen from updated without sleeping.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func newTestStore(t testing.TB, opts ...Option) *Store {
	return NewStore(append([]Option{WithLogger(testLogger(t))}, opts...)...)
}

// port returns a fully populated status, as the reconciler would pass it.
func port(name, node string, phase ovndpuv1.Phase, reason string) *ovndpuv1.PortStatus {
	return &ovndpuv1.PortStatus{
		LogicalPort:  name,
		AttachmentId: "att-" + name,
		OwnerNode:    node,
		Phase:        phase,
		Reason:       reason,
		Representor:  "pf0vf1",
		Ofport:       7,
		Mtu:          1500,
		PfMac:        "0c:42:a1:00:00:01",
		VfNum:        1,
	}
}

func with(st *ovndpuv1.PortStatus, mutate func(*ovndpuv1.PortStatus)) *ovndpuv1.PortStatus {
	c := clone(st)
	mutate(c)
	return c
}

// nextEvent relies on Set and Remove broadcasting before they return, so
// an event that is due is already buffered.
func nextEvent(t *testing.T, sub *Subscription) *ovndpuv1.PortStatus {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		if !ok {
			t.Fatalf("subscription closed, err %v", sub.Err())
		}
		return ev
	default:
		t.Fatal("no event")
		return nil
	}
}

func noEvent(t *testing.T, sub *Subscription) {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		t.Fatalf("unexpected event %v (open %v)", ev, ok)
	default:
	}
}

func mustGet(t *testing.T, s *Store, name string) *ovndpuv1.PortStatus {
	t.Helper()
	st, ok := s.Get(name)
	if !ok {
		t.Fatalf("Get(%q): not found", name)
	}
	return st
}

func names(sts []*ovndpuv1.PortStatus) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.GetLogicalPort()
	}
	return out
}

func TestSetUnchangedIsNoop(t *testing.T) {
	base := port("p1", "host-a", ready, "")
	tests := []struct {
		name  string
		again *ovndpuv1.PortStatus
	}{
		{"identical", clone(base)},
		{"store-owned fields differ", with(base, func(st *ovndpuv1.PortStatus) {
			st.Generation = 99
			st.FirstSeen = timestamppb.New(time.Unix(1, 0))
			st.Updated = timestamppb.New(time.Unix(2, 0))
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			s := newTestStore(t, WithClock(clock.now))
			if !s.Set(base) {
				t.Fatal("first Set reported no change")
			}
			before := mustGet(t, s, "p1")
			_, sub := s.Subscribe("")
			defer sub.Close()
			clock.advance()

			if s.Set(tt.again) {
				t.Error("Set of equal content reported a change")
			}
			noEvent(t, sub)
			if after := mustGet(t, s, "p1"); !proto.Equal(before, after) {
				t.Errorf("stored status changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func TestSetChangeBumpsGeneration(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ovndpuv1.PortStatus)
	}{
		{"phase", func(st *ovndpuv1.PortStatus) { st.Phase = plugged }},
		{"reason", func(st *ovndpuv1.PortStatus) { st.Reason = "waiting for ovn-installed" }},
		{"representor", func(st *ovndpuv1.PortStatus) { st.Representor = "pf0vf2" }},
		{"ofport", func(st *ovndpuv1.PortStatus) { st.Ofport = 8 }},
		{"mtu", func(st *ovndpuv1.PortStatus) { st.Mtu = 9000 }},
		{"pf_mac", func(st *ovndpuv1.PortStatus) { st.PfMac = "0c:42:a1:00:00:02" }},
		{"vf_num", func(st *ovndpuv1.PortStatus) { st.VfNum = 2 }},
		{"owner_node", func(st *ovndpuv1.PortStatus) { st.OwnerNode = "host-b" }},
		{"attachment_id", func(st *ovndpuv1.PortStatus) { st.AttachmentId = "att-2" }},
		{"plugged", func(st *ovndpuv1.PortStatus) { st.Plugged = timestamppb.New(time.Unix(10, 0)) }},
		{"claimed", func(st *ovndpuv1.PortStatus) { st.Claimed = timestamppb.New(time.Unix(11, 0)) }},
		{"installed", func(st *ovndpuv1.PortStatus) { st.Installed = timestamppb.New(time.Unix(12, 0)) }},
		{"installed later", func(st *ovndpuv1.PortStatus) { st.Installed = timestamppb.New(time.Unix(13, 0)) }},
	}
	s := newTestStore(t)
	cur := port("p1", "host-a", pending, "representor not present")
	s.Set(cur)
	_, sub := s.Subscribe("")
	defer sub.Close()
	lastGen := mustGet(t, s, "p1").GetGeneration()
	// Sequential on purpose: each change builds on the previous one, as the
	// reconciler's passes do.
	for _, tt := range tests {
		cur = with(cur, tt.mutate)
		if !s.Set(cur) {
			t.Fatalf("%s: Set reported no change", tt.name)
		}
		ev := nextEvent(t, sub)
		if ev.GetGeneration() <= lastGen {
			t.Errorf("%s: generation %d, want > %d", tt.name, ev.GetGeneration(), lastGen)
		}
		if got := mustGet(t, s, "p1"); !proto.Equal(got, ev) {
			t.Errorf("%s: event %v differs from stored %v", tt.name, ev, got)
		}
		if !sameContent(ev, cur) {
			t.Errorf("%s: event %v lost content of %v", tt.name, ev, cur)
		}
		lastGen = ev.GetGeneration()
	}
	noEvent(t, sub)
}

// TestSameContentCoversAllFields keeps sameContent in step with the proto:
// a field added to PortStatus must either be compared or be store-owned.
func TestSameContentCoversAllFields(t *testing.T) {
	storeOwned := map[protoreflect.Name]bool{"generation": true, "first_seen": true, "updated": true}
	base := port("p1", "host-a", ready, "r")
	fields := base.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if storeOwned[fd.Name()] {
			continue
		}
		t.Run(string(fd.Name()), func(t *testing.T) {
			changed := clone(base)
			m := changed.ProtoReflect()
			m.Set(fd, differentValue(t, fd, m.Get(fd)))
			if sameContent(base, changed) {
				t.Errorf("sameContent ignores %s", fd.Name())
			}
		})
	}
}

func differentValue(t *testing.T, fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return protoreflect.ValueOfString(v.String() + "x")
	case protoreflect.Int32Kind:
		return protoreflect.ValueOfInt32(int32(v.Int()) + 1)
	case protoreflect.Int64Kind:
		return protoreflect.ValueOfInt64(v.Int() + 1)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(v.Enum() + 1)
	case protoreflect.MessageKind:
		if ts, ok := v.Message().Interface().(*timestamppb.Timestamp); ok {
			// Unset (nil) or not, a second later is different.
			return protoreflect.ValueOfMessage(timestamppb.New(ts.AsTime().Add(time.Second)).ProtoReflect())
		}
		t.Fatalf("field %s of message %s: extend differentValue", fd.Name(), fd.Message().FullName())
		return v
	default:
		t.Fatalf("field %s of kind %s: extend differentValue", fd.Name(), fd.Kind())
		return v
	}
}

func TestFirstSeenAndUpdated(t *testing.T) {
	clock := newFakeClock()
	s := newTestStore(t, WithClock(clock.now))
	t0 := clock.now()
	st := port("p1", "host-a", pending, "representor not present")
	s.Set(st)

	t1 := clock.advance()
	st = with(st, func(st *ovndpuv1.PortStatus) { st.Phase, st.Reason = ready, "" })
	s.Set(st)
	assertTimes(t, "after phase change", mustGet(t, s, "p1"), t0, t1)

	clock.advance()
	s.Set(st)
	assertTimes(t, "after unchanged Set", mustGet(t, s, "p1"), t0, t1)

	t3 := clock.advance()
	st = with(st, func(st *ovndpuv1.PortStatus) { st.AttachmentId = "att-new" })
	s.Set(st)
	assertTimes(t, "after new attachment", mustGet(t, s, "p1"), t3, t3)

	s.Remove("p1", "request gone")
	t5 := clock.advance()
	s.Set(st)
	assertTimes(t, "after re-create", mustGet(t, s, "p1"), t5, t5)
}

// TestFirstSeenFromCaller: the agent's first_seen (its pass saw the
// binding before the Store saw the status) is kept for the attachment;
// what later Sets say is ignored until the attachment changes.
func TestFirstSeenFromCaller(t *testing.T) {
	clock := newFakeClock()
	s := newTestStore(t, WithClock(clock.now))
	seen := clock.now().Add(-time.Minute)
	st := port("p1", "host-a", pending, "plugging")
	st.FirstSeen = timestamppb.New(seen)
	s.Set(st)
	assertTimes(t, "first Set", mustGet(t, s, "p1"), seen, clock.now())

	t1 := clock.advance()
	st = with(st, func(st *ovndpuv1.PortStatus) { st.Phase, st.FirstSeen = plugged, timestamppb.New(t1) })
	s.Set(st)
	assertTimes(t, "same attachment, another first_seen", mustGet(t, s, "p1"), seen, t1)

	t2 := clock.advance()
	newSeen := t2.Add(-time.Second)
	st = with(st, func(st *ovndpuv1.PortStatus) { st.AttachmentId, st.FirstSeen = "att-new", timestamppb.New(newSeen) })
	s.Set(st)
	assertTimes(t, "new attachment", mustGet(t, s, "p1"), newSeen, t2)
}

func assertTimes(t *testing.T, when string, st *ovndpuv1.PortStatus, firstSeen, updated time.Time) {
	t.Helper()
	if got := st.GetFirstSeen().AsTime(); !got.Equal(firstSeen) {
		t.Errorf("%s: first_seen %v, want %v", when, got, firstSeen)
	}
	if got := st.GetUpdated().AsTime(); !got.Equal(updated) {
		t.Errorf("%s: updated %v, want %v", when, got, updated)
	}
}

func TestGenerationIncreasesAcrossRecreate(t *testing.T) {
	s := newTestStore(t)
	_, sub := s.Subscribe("")
	defer sub.Close()
	var gens []uint64
	for i := range 3 {
		s.Set(port("p1", "host-a", ready, fmt.Sprint(i)))
		gens = append(gens, nextEvent(t, sub).GetGeneration())
		s.Remove("p1", "gone")
		gens = append(gens, nextEvent(t, sub).GetGeneration())
	}
	// Another port's changes share the counter, so only order matters.
	s.Set(port("other", "host-a", ready, ""))
	s.Set(port("p1", "host-a", ready, ""))
	nextEvent(t, sub)
	gens = append(gens, nextEvent(t, sub).GetGeneration())
	if !slices.IsSorted(gens) || len(slices.Compact(slices.Clone(gens))) != len(gens) {
		t.Errorf("generations not strictly increasing: %v", gens)
	}
}

func TestRemove(t *testing.T) {
	clock := newFakeClock()
	s := newTestStore(t, WithClock(clock.now))
	s.Set(port("keep", "host-a", ready, ""))
	st := port("p1", "host-a", ready, "")
	s.Set(st)
	before := mustGet(t, s, "p1")
	_, sub := s.Subscribe("")
	defer sub.Close()

	removedAt := clock.advance()
	s.Remove("p1", "binding moved to another chassis")
	ev := nextEvent(t, sub)
	want := with(st, func(w *ovndpuv1.PortStatus) {
		w.Phase, w.Reason = unplugged, "binding moved to another chassis"
	})
	if !sameContent(ev, want) {
		t.Errorf("UNPLUGGED event %v, want content %v", ev, want)
	}
	if ev.GetGeneration() <= before.GetGeneration() {
		t.Errorf("generation %d, want > %d", ev.GetGeneration(), before.GetGeneration())
	}
	assertTimes(t, "UNPLUGGED event", ev, before.GetFirstSeen().AsTime(), removedAt)

	if _, ok := s.Get("p1"); ok {
		t.Error("Get found removed port")
	}
	if got := names(s.List()); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("List = %v, want [keep]", got)
	}
	snap, sub2 := s.Subscribe("")
	sub2.Close()
	if got := names(snap); !slices.Equal(got, []string{"keep"}) {
		t.Errorf("snapshot = %v, want [keep]", got)
	}

	s.Remove("p1", "again")
	s.Remove("never-existed", "x")
	noEvent(t, sub)
	s.Set(port("p2", "host-a", ready, ""))
	if got := nextEvent(t, sub).GetGeneration(); got != ev.GetGeneration()+1 {
		t.Errorf("generation after no-op removes %d, want %d", got, ev.GetGeneration()+1)
	}
}

func TestSetIgnoresEmptyLogicalPort(t *testing.T) {
	s := newTestStore(t)
	_, sub := s.Subscribe("")
	defer sub.Close()
	if s.Set(port("", "host-a", ready, "")) || s.Set(nil) {
		t.Error("Set without logical port reported a change")
	}
	noEvent(t, sub)
	if s.Len() != 0 {
		t.Errorf("Len = %d, want 0", s.Len())
	}
}

// TestNoAliasing: what the Store returns or sends must be independent of
// what it keeps, or a watcher could corrupt the reconciler's view.
func TestNoAliasing(t *testing.T) {
	s := newTestStore(t)
	_, sub1 := s.Subscribe("")
	defer sub1.Close()
	_, sub2 := s.Subscribe("")
	defer sub2.Close()
	in := port("p1", "host-a", ready, "orig")
	s.Set(in)
	in.Reason = "caller changed input"
	mustGet(t, s, "p1").Reason = "caller changed Get result"
	s.List()[0].Reason = "caller changed List result"
	nextEvent(t, sub1).Reason = "watcher changed event"

	if got := mustGet(t, s, "p1").GetReason(); got != "orig" {
		t.Errorf("stored reason %q, want orig", got)
	}
	if got := nextEvent(t, sub2).GetReason(); got != "orig" {
		t.Errorf("other watcher's reason %q, want orig", got)
	}
}

func TestListAndCountByPhase(t *testing.T) {
	s := newTestStore(t)
	for _, st := range []*ovndpuv1.PortStatus{
		port("c", "n", ready, ""),
		port("a", "n", pending, "x"),
		port("b", "n", ready, ""),
		port("d", "n", failed, "no such VF"),
	} {
		s.Set(st)
	}
	if got, want := names(s.List()), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Errorf("List = %v, want %v", got, want)
	}
	if s.Len() != 4 {
		t.Errorf("Len = %d, want 4", s.Len())
	}
	want := map[ovndpuv1.Phase]int{
		ovndpuv1.Phase_PHASE_UNSPECIFIED: 0, pending: 1, plugged: 0, ready: 2, failed: 1, unplugged: 0,
	}
	got := s.CountByPhase()
	if len(got) != len(want) {
		t.Errorf("CountByPhase = %v, want %v", got, want)
	}
	for ph, n := range want {
		if got[ph] != n {
			t.Errorf("CountByPhase[%s] = %d, want %d", ph, got[ph], n)
		}
	}
}

func TestSubscribeNodeFilter(t *testing.T) {
	tests := []struct {
		node         string
		wantSnapshot []string
		wantEvents   []string
	}{
		{"", []string{"a1", "b1", "x"}, []string{"a2", "b2", "a1", "b1"}},
		{"host-a", []string{"a1"}, []string{"a2", "a1"}},
		{"host-b", []string{"b1"}, []string{"b2", "b1"}},
		{"host-c", nil, nil},
	}
	for _, tt := range tests {
		t.Run("node="+tt.node, func(t *testing.T) {
			s := newTestStore(t)
			s.Set(port("a1", "host-a", ready, ""))
			s.Set(port("b1", "host-b", ready, ""))
			s.Set(port("x", "", ready, ""))
			snap, sub := s.Subscribe(tt.node)
			defer sub.Close()

			s.Set(port("a2", "host-a", pending, ""))
			s.Set(port("b2", "host-b", pending, ""))
			s.Set(port("a1", "host-a", failed, "foreign owner"))
			s.Remove("b1", "gone")

			if got := names(snap); !slices.Equal(got, tt.wantSnapshot) {
				t.Errorf("snapshot %v, want %v", got, tt.wantSnapshot)
			}
			var got []string
			for range tt.wantEvents {
				got = append(got, nextEvent(t, sub).GetLogicalPort())
			}
			noEvent(t, sub)
			if !slices.Equal(got, tt.wantEvents) {
				t.Errorf("events %v, want %v", got, tt.wantEvents)
			}
		})
	}
}

func TestSlowSubscriberDropped(t *testing.T) {
	s := newTestStore(t, WithSubscriberBuffer(2))
	_, slow := s.Subscribe("")
	defer slow.Close()
	_, fast := s.Subscribe("")
	defer fast.Close()

	const n = 10
	for i := range n {
		// Set must return although slow's buffer is full from the third on.
		s.Set(port("p1", "host-a", pending, fmt.Sprint(i)))
		if got := nextEvent(t, fast).GetReason(); got != fmt.Sprint(i) {
			t.Fatalf("fast watcher got reason %q, want %d", got, i)
		}
	}

	var delivered int
	for range slow.Events() {
		delivered++
	}
	if delivered != 2 {
		t.Errorf("slow watcher got %d buffered events, want 2", delivered)
	}
	if err := slow.Err(); !errors.Is(err, ErrFellBehind) {
		t.Errorf("slow.Err() = %v, want ErrFellBehind", err)
	}
	if err := fast.Err(); err != nil {
		t.Errorf("fast.Err() = %v, want nil", err)
	}
	if got := s.subscriberCount(); got != 1 {
		t.Errorf("%d subscribers, want 1", got)
	}
	slow.Close()
	if err := slow.Err(); !errors.Is(err, ErrFellBehind) {
		t.Errorf("Close after drop changed Err to %v", err)
	}
}

func TestSubscriptionClose(t *testing.T) {
	s := newTestStore(t)
	_, sub := s.Subscribe("")
	sub.Close()
	sub.Close()
	if _, open := <-sub.Events(); open {
		t.Error("Events open after Close")
	}
	if err := sub.Err(); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}
	if got := s.subscriberCount(); got != 0 {
		t.Errorf("%d subscribers after Close, want 0", got)
	}
	s.Set(port("p1", "host-a", ready, ""))
	s.Remove("p1", "gone")
}

// TestConcurrent hammers the Store from many goroutines (run it with
// -race) while watchers subscribe midway, then checks that each watcher's
// snapshot plus events reproduces the final state: nothing lost or
// duplicated between snapshot and stream, events in generation order.
func TestConcurrent(t *testing.T) {
	const writers, perWriter, portCount, watchers = 16, 200, 20, 4
	s := newTestStore(t, WithSubscriberBuffer(writers*perWriter+portCount))

	start := make(chan struct{})
	var writersWG, watchersWG sync.WaitGroup
	subscribed := make(chan *Subscription, watchers)
	results := make([]map[string]*ovndpuv1.PortStatus, watchers)
	for w := range watchers {
		watchersWG.Go(func() {
			<-start
			results[w] = watch(t, s, subscribed)
		})
	}
	for w := range writers {
		writersWG.Go(func() {
			<-start
			write(s, w, perWriter, portCount)
		})
	}
	writersWG.Go(func() {
		<-start
		for range perWriter {
			s.Get("p0")
			s.List()
			s.Len()
			s.CountByPhase()
		}
	})
	close(start)
	writersWG.Wait()
	for range watchers {
		(<-subscribed).Close()
	}
	watchersWG.Wait()

	final := s.List()
	for w, got := range results {
		if len(got) != len(final) {
			t.Errorf("watcher %d reconstructed %d ports, store has %d", w, len(got), len(final))
		}
		for _, st := range final {
			if !proto.Equal(got[st.GetLogicalPort()], st) {
				t.Errorf("watcher %d has %v, store has %v", w, got[st.GetLogicalPort()], st)
			}
		}
	}
}

func write(s *Store, w, n, portCount int) {
	for i := range n {
		name := fmt.Sprintf("p%d", (w+i)%portCount)
		if i%7 == 6 {
			s.Remove(name, "gone")
			continue
		}
		s.Set(port(name, "host-a", ready, fmt.Sprintf("w%d-%d", w, i)))
	}
}

// watch subscribes, announces the subscription so the test can close it
// once writers are done, and folds snapshot and events into a state.
func watch(t *testing.T, s *Store, subscribed chan<- *Subscription) map[string]*ovndpuv1.PortStatus {
	snap, sub := s.Subscribe("")
	subscribed <- sub
	state := make(map[string]*ovndpuv1.PortStatus)
	var last uint64
	for _, st := range snap {
		state[st.GetLogicalPort()] = st
		last = max(last, st.GetGeneration())
	}
	for ev := range sub.Events() {
		if ev.GetGeneration() <= last {
			t.Errorf("event generation %d after %d", ev.GetGeneration(), last)
		}
		last = ev.GetGeneration()
		if ev.GetPhase() == unplugged {
			delete(state, ev.GetLogicalPort())
			continue
		}
		state[ev.GetLogicalPort()] = ev
	}
	if err := sub.Err(); err != nil {
		t.Errorf("watcher dropped: %v", err)
	}
	return state
}

func BenchmarkSetUnchanged(b *testing.B) {
	s := NewStore(WithLogger(testLogger(b)))
	st := port("p1", "host-a", ready, "")
	s.Set(st)
	b.ReportAllocs()
	for b.Loop() {
		if s.Set(st) {
			b.Fatal("unchanged Set reported a change")
		}
	}
}

func BenchmarkSetChangedWithSubscribers(b *testing.B) {
	const subscribers = 10
	s := NewStore(WithLogger(testLogger(b)))
	var wg sync.WaitGroup
	subs := make([]*Subscription, subscribers)
	for i := range subs {
		_, subs[i] = s.Subscribe("")
		wg.Go(func() {
			for range subs[i].Events() {
			}
		})
	}
	a := port("p1", "host-a", ready, "")
	c := port("p1", "host-a", pending, "waiting")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%2 == 0 {
			s.Set(a)
		} else {
			s.Set(c)
		}
		i++
	}
	b.StopTimer()
	dropped := 0
	for _, sub := range subs {
		if sub.Err() != nil {
			dropped++
		}
		sub.Close()
	}
	wg.Wait()
	// Drops mean the drainers could not keep up and later Sets did less
	// work; report them rather than fail, as they depend on the machine.
	b.ReportMetric(float64(dropped), "dropped")
}
