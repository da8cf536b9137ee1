package hoststate

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// queued reports how many callers wait for key behind its holder.
func (l *Locker) queued(key Key) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if q := l.keys[key]; q != nil {
		return len(q.waiting)
	}
	return 0
}

func (l *Locker) idle() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys) == 0
}

// waitQueued spins until n callers are queued for key: the only way to know
// a goroutine has reached Begin's wait without a fixed sleep.
func waitQueued(t *testing.T, l *Locker, key Key, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.queued(key) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d waiters queued for %v, want %d", l.queued(key), key, n)
		}
		runtime.Gosched()
	}
}

type beginResult struct {
	ctx  context.Context
	done func()
	err  error
}

func beginAsync(l *Locker, key Key, op string) <-chan beginResult {
	ch := make(chan beginResult, 1)
	go func() {
		ctx, done, err := l.Begin(context.Background(), key, op)
		ch <- beginResult{ctx, done, err}
	}()
	return ch
}

func recv(t *testing.T, ch <-chan beginResult) beginResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("Begin did not return")
		return beginResult{}
	}
}

func notYet(t *testing.T, ch <-chan beginResult, what string) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s returned early (err=%v)", what, r.err)
	default:
	}
}

var k1 = Key{ContainerID: "c1", IfName: "eth0"}

func TestLockSerialisesSameKey(t *testing.T) {
	var l Locker
	const n = 50
	var (
		inside  atomic.Int32
		counter int // unsynchronised on purpose: -race catches overlap
		wg      sync.WaitGroup
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unlock, err := l.Lock(context.Background(), k1)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			if inside.Add(1) != 1 {
				t.Error("two holders at once")
			}
			counter++
			runtime.Gosched()
			inside.Add(-1)
		}()
	}
	wg.Wait()
	if counter != n {
		t.Fatalf("counter %d, want %d", counter, n)
	}
	if !l.idle() {
		t.Fatal("locker keeps state for idle keys")
	}
}

func TestDifferentKeysIndependent(t *testing.T) {
	var l Locker
	unlock, err := l.Lock(context.Background(), k1)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range []Key{{"c1", "eth1"}, {"c2", "eth0"}} {
		u, err := l.Lock(ctx, k)
		if err != nil {
			t.Fatalf("Lock %v blocked by %v: %v", k, k1, err)
		}
		u()
	}
}

func TestDelCancelsInFlightAdd(t *testing.T) {
	var l Locker
	addCtx, addDone, err := l.Begin(context.Background(), k1, OpAdd)
	if err != nil {
		t.Fatal(err)
	}
	del := beginAsync(&l, k1, OpDel)
	select {
	case <-addCtx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("DEL did not cancel the in-flight ADD")
	}
	if cause := context.Cause(addCtx); !errors.Is(cause, ErrSuperseded) {
		t.Fatalf("ADD context cause %v, want ErrSuperseded", cause)
	}
	// The DEL enqueued itself in the same critical section as the cancel.
	if l.queued(k1) != 1 {
		t.Fatalf("DEL not queued behind the ADD")
	}
	notYet(t, del, "DEL while the cancelled ADD still holds the key")

	addDone()
	addDone() // idempotent
	r := recv(t, del)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.ctx.Err() != nil {
		t.Fatal("DEL context cancelled")
	}
	r.done()
	if !l.idle() {
		t.Fatal("locker not idle")
	}
}

func TestAddWaitsForDelWithoutCancelling(t *testing.T) {
	var l Locker
	delCtx, delDone, err := l.Begin(context.Background(), k1, OpDel)
	if err != nil {
		t.Fatal(err)
	}
	add := beginAsync(&l, k1, OpAdd)
	waitQueued(t, &l, k1, 1)
	if delCtx.Err() != nil {
		t.Fatal("ADD cancelled the in-flight DEL")
	}
	notYet(t, add, "ADD while DEL holds the key")
	delDone()
	r := recv(t, add)
	if r.err != nil || r.ctx.Err() != nil {
		t.Fatalf("ADD after DEL: err=%v ctxErr=%v", r.err, r.ctx.Err())
	}
	r.done()
}

func TestDelFailsQueuedAddsAndKeepsArrivalOrder(t *testing.T) {
	var l Locker
	// A CHECK holds the key; ADD#1 and CHECK#2 queue; then DEL; then ADD#2.
	_, checkDone, err := l.Begin(context.Background(), k1, OpCheck)
	if err != nil {
		t.Fatal(err)
	}
	add1 := beginAsync(&l, k1, OpAdd)
	waitQueued(t, &l, k1, 1)
	check2 := beginAsync(&l, k1, OpCheck)
	waitQueued(t, &l, k1, 2)
	del := beginAsync(&l, k1, OpDel)

	if r := recv(t, add1); !errors.Is(r.err, ErrSuperseded) {
		t.Fatalf("queued ADD before DEL: err=%v, want ErrSuperseded", r.err)
	}
	waitQueued(t, &l, k1, 2) // CHECK#2, DEL
	add2 := beginAsync(&l, k1, OpAdd)
	waitQueued(t, &l, k1, 3)

	checkDone()
	r := recv(t, check2)
	if r.err != nil {
		t.Fatalf("CHECK is not cancelled by DEL: %v", r.err)
	}
	notYet(t, del, "DEL before the CHECK queued ahead of it")
	r.done()

	rd := recv(t, del)
	if rd.err != nil {
		t.Fatal(rd.err)
	}
	notYet(t, add2, "ADD that arrived after the DEL")
	rd.done()

	ra := recv(t, add2)
	if ra.err != nil || ra.ctx.Err() != nil {
		t.Fatalf("ADD after DEL: err=%v ctxErr=%v", ra.err, ra.ctx.Err())
	}
	ra.done()
	if !l.idle() {
		t.Fatal("locker not idle")
	}
}

func TestBeginRespectsCallerContext(t *testing.T) {
	var l Locker
	unlock, err := l.Lock(context.Background(), k1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	errCh := make(chan error, 1)
	go func() {
		_, _, err := l.Begin(ctx, k1, OpAdd)
		errCh <- err
	}()
	waitQueued(t, &l, k1, 1)
	stop := errors.New("client went away")
	cancel(stop)
	if err := <-errCh; !errors.Is(err, stop) {
		t.Fatalf("Begin returned %v, want the caller's cause", err)
	}
	if l.queued(k1) != 0 {
		t.Fatal("cancelled waiter left in the queue")
	}
	unlock()
	if !l.idle() {
		t.Fatal("locker not idle")
	}

	// The op context follows the caller's context too.
	parent, cancelParent := context.WithCancel(context.Background())
	opCtx, done, err := l.Begin(parent, k1, OpAdd)
	if err != nil {
		t.Fatal(err)
	}
	cancelParent()
	<-opCtx.Done()
	done()
}

// TestStress mixes ops on a few keys to let -race and the invariants catch
// any ordering bug: one holder per key at a time, superseded ADDs only
// when a DEL came, and no state left behind.
func TestStress(t *testing.T) {
	var l Locker
	keys := []Key{{"a", "eth0"}, {"b", "eth0"}, {"c", "eth0"}}
	holders := make([]atomic.Int32, len(keys))
	var wg sync.WaitGroup
	ops := []string{OpAdd, OpAdd, OpDel, OpCheck, ""}
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, seed))
			for i := 0; i < 200; i++ {
				ki := rng.IntN(len(keys))
				op := ops[rng.IntN(len(ops))]
				ctx, done, err := l.Begin(context.Background(), keys[ki], op)
				if err != nil {
					if op != OpAdd || !errors.Is(err, ErrSuperseded) {
						t.Errorf("%s: unexpected error %v", op, err)
					}
					continue
				}
				if holders[ki].Add(1) != 1 {
					t.Errorf("two holders of %v", keys[ki])
				}
				if op != OpAdd && ctx.Err() != nil {
					t.Errorf("%q cancelled: %v", op, context.Cause(ctx))
				}
				runtime.Gosched()
				holders[ki].Add(-1)
				done()
			}
		}(uint64(g))
	}
	wg.Wait()
	if !l.idle() {
		t.Fatal("locker not idle after stress")
	}
}

func ExampleLocker_Begin() {
	var l Locker
	key := Key{ContainerID: "c1", IfName: "eth0"}
	ctx, done, err := l.Begin(context.Background(), key, OpAdd)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()
	// ... each side effect: record intent, Save, do it with ctx, record done ...
	if errors.Is(context.Cause(ctx), ErrSuperseded) {
		fmt.Println("a DEL came; stop and let it undo our steps")
	}
	fmt.Println("ok")
	// Output: ok
}

func TestTryLockNeverWaitsNorCancels(t *testing.T) {
	var l Locker
	ctx, done, err := l.Begin(context.Background(), k1, OpAdd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := l.TryLock(k1); ok {
		t.Fatal("TryLock took a key an ADD holds")
	}
	if ctx.Err() != nil {
		t.Fatal("TryLock cancelled the ADD")
	}
	done()
	unlock, ok := l.TryLock(k1)
	if !ok {
		t.Fatal("TryLock refused a free key")
	}
	add := beginAsync(&l, k1, OpAdd)
	waitQueued(t, &l, k1, 1)
	if _, ok := l.TryLock(k1); ok {
		t.Fatal("TryLock took a held key")
	}
	unlock()
	unlock() // a second call does nothing
	r := recv(t, add)
	if r.err != nil {
		t.Fatalf("the ADD queued behind TryLock failed: %v", r.err)
	}
	r.done()
	if !l.idle() {
		t.Fatal("keys left after every holder released")
	}
}
