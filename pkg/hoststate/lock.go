package hoststate

import (
	"context"
	"errors"
	"sync"
)

// The operations Begin distinguishes. Any other op string is serialised
// like these but neither cancels nor can be cancelled.
const (
	OpAdd   = "ADD"
	OpDel   = "DEL"
	OpCheck = "CHECK"
)

// ErrSuperseded is the context cause of an ADD cancelled by a DEL of the
// same key, and the error Begin returns to an ADD that a DEL overtook while
// it was queued. The ADD should stop, leaving its recorded steps for the DEL
// to undo, and report failure.
var ErrSuperseded = errors.New("hoststate: superseded by a DEL of the same attachment")

// Locker serialises work per Key. Waiters are granted the key in arrival
// order, so a DEL that arrived between two ADDs runs between them (the
// runtime's last word is what holds in the end). The zero value is ready to
// use; a Locker must not be copied after first use.
type Locker struct {
	mu   sync.Mutex
	keys map[Key]*keyQueue
}

type keyQueue struct {
	holder  *waiter
	waiting []*waiter // arrival order
}

type waiter struct {
	op      string
	granted chan struct{} // closed when the waiter becomes the holder
	cancel  context.CancelCauseFunc
}

// Lock waits its turn for the key (or until ctx ends) and holds it until
// unlock is called. It neither cancels nor can be cancelled by other work on
// the key, which suits work that is neither ADD nor DEL, such as GC
// examining a record. unlock may be called more than once.
func (l *Locker) Lock(ctx context.Context, key Key) (unlock func(), err error) {
	_, done, err := l.Begin(ctx, key, "")
	return done, err
}

// TryLock takes the key only when nobody holds it or waits for it, and
// reports whether it did. It suits GC, which must neither delay nor cancel
// an attachment's own operations (an ADD in flight is not stale).
func (l *Locker) TryLock(key Key) (unlock func(), ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.keys[key] != nil {
		return nil, false
	}
	if l.keys == nil {
		l.keys = make(map[Key]*keyQueue)
	}
	w := &waiter{granted: make(chan struct{})}
	close(w.granted)
	l.keys[key] = &keyQueue{holder: w}
	return sync.OnceFunc(func() {
		l.mu.Lock()
		l.releaseLocked(key, w)
		l.mu.Unlock()
	}), true
}

// Begin waits for the key, in arrival order, and returns a context for the
// operation and done, which releases the key (call it exactly when the
// operation is over; further calls do nothing).
//
// Semantics per op:
//   - OpDel first cancels, with cause ErrSuperseded, the context of the ADD
//     holding the key, and makes every ADD queued before it return
//     ErrSuperseded without running: whatever they would do, this DEL would
//     undo. It then waits its turn like anyone else, i.e. until the
//     cancelled ADD has called done, so it sees the ADD's final record.
//   - OpAdd waits for an in-flight or queued DEL without disturbing it.
//   - Other ops (OpCheck, "") just wait their turn.
//
// The returned context is also cancelled when ctx is. If ctx ends while
// waiting, Begin returns context.Cause(ctx) and leaves the queue.
func (l *Locker) Begin(ctx context.Context, key Key, op string) (context.Context, func(), error) {
	opCtx, cancel := context.WithCancelCause(ctx)
	w := &waiter{op: op, granted: make(chan struct{}), cancel: cancel}

	l.mu.Lock()
	if l.keys == nil {
		l.keys = make(map[Key]*keyQueue)
	}
	q := l.keys[key]
	if q == nil {
		q = &keyQueue{}
		l.keys[key] = q
	}
	if op == OpDel {
		if q.holder != nil && q.holder.op == OpAdd {
			q.holder.cancel(ErrSuperseded)
		}
		for _, o := range q.waiting {
			if o.op == OpAdd {
				o.cancel(ErrSuperseded)
			}
		}
	}
	if q.holder == nil {
		q.holder = w
		close(w.granted)
	} else {
		q.waiting = append(q.waiting, w)
	}
	l.mu.Unlock()

	release := sync.OnceFunc(func() {
		l.mu.Lock()
		l.releaseLocked(key, w)
		l.mu.Unlock()
		cancel(nil)
	})

	select {
	case <-w.granted:
	case <-opCtx.Done():
	}
	// Checked after either wakeup: a waiter cancelled while queued may have
	// been granted the key in the meantime, and must not run then either.
	if opCtx.Err() != nil {
		release()
		return nil, nil, context.Cause(opCtx)
	}
	return opCtx, release, nil
}

// releaseLocked gives up w's place: the key if w holds it (handing it to the
// next waiter), or its slot in the queue.
func (l *Locker) releaseLocked(key Key, w *waiter) {
	q := l.keys[key]
	if q == nil {
		return
	}
	if q.holder == w {
		q.holder = nil
		if len(q.waiting) > 0 {
			next := q.waiting[0]
			q.waiting[0] = nil
			q.waiting = q.waiting[1:]
			q.holder = next
			close(next.granted)
		}
	} else {
		for i, o := range q.waiting {
			if o == w {
				q.waiting = append(q.waiting[:i], q.waiting[i+1:]...)
				break
			}
		}
	}
	if q.holder == nil && len(q.waiting) == 0 {
		delete(l.keys, key)
	}
}
