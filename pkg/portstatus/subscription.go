package portstatus

import (
	"errors"
	"fmt"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// ErrFellBehind is what Subscription.Err wraps when the Store dropped the
// subscription because its buffer was full.
var ErrFellBehind = errors.New("watcher fell behind")

// Subscription delivers the changes that follow the snapshot Subscribe
// returned with it.
type Subscription struct {
	store  *Store
	node   string
	events chan *ovndpuv1.PortStatus
	// err and closed are guarded by store.mu: the Store closes events
	// while broadcasting under that lock, and a send on a closed channel
	// must be impossible.
	err    error
	closed bool
}

// Subscribe returns copies of the current statuses owned by node (empty:
// all nodes), sorted by logical port, and a Subscription to every later
// change of those ports. Both are taken under one lock, so the first event
// is exactly the first change after the snapshot. The caller must Close
// the Subscription.
func (s *Store) Subscribe(node string) (snapshot []*ovndpuv1.PortStatus, sub *Subscription) {
	sub = &Subscription{
		store:  s,
		node:   node,
		events: make(chan *ovndpuv1.PortStatus, s.subsBuffer),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[sub] = struct{}{}
	return s.snapshot(node), sub
}

// Events returns the channel of changes, in generation order. It is closed
// by Close, or by the Store when the subscriber fell behind (then Err says
// so and the consumer should resubscribe for a fresh snapshot).
func (sub *Subscription) Events() <-chan *ovndpuv1.PortStatus {
	return sub.events
}

// Close ends the subscription; Events is closed. It is safe to call more
// than once and after the Store dropped the subscription.
func (sub *Subscription) Close() {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	sub.closeLocked(nil)
}

// Err returns nil while the subscription is live or after Close, and an
// error wrapping ErrFellBehind after the Store dropped it.
func (sub *Subscription) Err() error {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	return sub.err
}

func (sub *Subscription) closeLocked(err error) {
	if sub.closed {
		return
	}
	sub.closed = true
	sub.err = err
	delete(sub.store.subs, sub)
	close(sub.events)
}

// broadcast offers a copy of st to every interested subscriber without ever
// blocking: the caller holds s.mu, and a stuck watcher must not stall the
// reconciler. A subscriber whose buffer is full is dropped instead; it has
// already missed an event, so continuing would leave it silently wrong.
func (s *Store) broadcast(st *ovndpuv1.PortStatus) {
	for sub := range s.subs {
		if !matchesNode(st, sub.node) {
			continue
		}
		select {
		case sub.events <- clone(st):
		default:
			s.drop(sub, st)
		}
	}
}

func (s *Store) drop(sub *Subscription, missed *ovndpuv1.PortStatus) {
	s.log.Warn("dropping port status watcher that fell behind",
		"node", sub.node, "buffer", cap(sub.events),
		"missed_port", missed.GetLogicalPort(), "missed_generation", missed.GetGeneration())
	sub.closeLocked(fmt.Errorf("%w: %d events unread", ErrFellBehind, cap(sub.events)))
}

// subscriberCount lets tests observe drops and unsubscribes.
func (s *Store) subscriberCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}
