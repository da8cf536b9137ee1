package portstatus

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Store is the current status of every port the agent is responsible for,
// keyed by logical port. It is safe for concurrent use.
//
// Every *PortStatus it returns or sends is a private copy: callers may keep
// or modify it freely, and the Store never modifies anything it handed out.
type Store struct {
	now        func() time.Time
	subsBuffer int
	log        *slog.Logger

	mu sync.Mutex
	// gen is the last generation handed out; store-wide so that a port name
	// that is removed and re-created still gets increasing generations.
	gen   uint64
	ports map[string]*ovndpuv1.PortStatus
	subs  map[*Subscription]struct{}
}

// NewStore returns an empty Store. It uses WithClock, WithSubscriberBuffer
// and WithLogger.
func NewStore(opts ...Option) *Store {
	o := newOptions(opts)
	return &Store{
		now:        o.now,
		subsBuffer: o.subsBuffer,
		log:        o.logger,
		ports:      make(map[string]*ovndpuv1.PortStatus),
		subs:       make(map[*Subscription]struct{}),
	}
}

// Set records st as the complete current status of st.LogicalPort and
// reports whether that changed anything. The Store owns generation and
// updated, and keeps first_seen for as long as the attachment stays: st's
// first_seen counts only at the first Set of an attachment (the agent
// knows when its pass first saw the binding, which is before the Store
// does), and the Store's clock stands in when st has none. When the
// content equals what is stored nothing happens, so the reconciler can
// call Set for every port on every pass. st is not retained.
func (s *Store) Set(st *ovndpuv1.PortStatus) (changed bool) {
	if st.GetLogicalPort() == "" {
		// A caller bug; storing it would publish a port no client can name.
		s.log.Error("port status without logical port ignored", "status", st)
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.ports[st.GetLogicalPort()]
	if old != nil && sameContent(old, st) {
		return false
	}
	next := proto.Clone(st).(*ovndpuv1.PortStatus)
	now := timestamppb.New(s.now())
	next.Generation = s.nextGeneration()
	next.Updated = now
	next.FirstSeen = firstSeen(old, st, now)
	s.ports[next.GetLogicalPort()] = next
	s.broadcast(next)
	return true
}

// firstSeen is the first_seen of st stored over old at now. It measures
// how long this request has been waiting, so it stays as long as the
// attachment does; a new attachment on the same port name is a new
// request.
func firstSeen(old, st *ovndpuv1.PortStatus, now *timestamppb.Timestamp) *timestamppb.Timestamp {
	switch {
	case old != nil && old.GetAttachmentId() == st.GetAttachmentId():
		return old.GetFirstSeen()
	case st.GetFirstSeen() != nil:
		return st.GetFirstSeen()
	}
	return now
}

// Remove forgets logicalPort, telling watchers with a final UNPLUGGED event
// that keeps the port's last content and carries reason. Removing a port the
// Store does not have is a no-op, so callers need not track what they set.
func (s *Store) Remove(logicalPort, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.ports[logicalPort]
	if !ok {
		return
	}
	delete(s.ports, logicalPort)
	last := proto.Clone(old).(*ovndpuv1.PortStatus)
	last.Phase = ovndpuv1.Phase_PHASE_UNPLUGGED
	last.Reason = reason
	last.Generation = s.nextGeneration()
	last.Updated = timestamppb.New(s.now())
	s.broadcast(last)
}

// Get returns a copy of logicalPort's status.
func (s *Store) Get(logicalPort string) (*ovndpuv1.PortStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.ports[logicalPort]
	if !ok {
		return nil, false
	}
	return clone(st), true
}

// List returns copies of all statuses, sorted by logical port.
func (s *Store) List() []*ovndpuv1.PortStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot("")
}

// Len returns the number of ports.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ports)
}

// CountByPhase returns how many ports are in each phase. Every defined
// phase is present, with 0 when no port is in it, so that a metrics gauge
// per phase drops back to zero instead of keeping its last value.
func (s *Store) CountByPhase() map[ovndpuv1.Phase]int {
	counts := make(map[ovndpuv1.Phase]int, len(ovndpuv1.Phase_name))
	for v := range ovndpuv1.Phase_name {
		counts[ovndpuv1.Phase(v)] = 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.ports {
		counts[st.GetPhase()]++
	}
	return counts
}

func (s *Store) nextGeneration() uint64 {
	s.gen++
	return s.gen
}

// snapshot returns copies of the statuses owned by node ("" = all), sorted
// so that watchers and tests see a stable order. Callers hold s.mu.
func (s *Store) snapshot(node string) []*ovndpuv1.PortStatus {
	out := make([]*ovndpuv1.PortStatus, 0, len(s.ports))
	for _, st := range s.ports {
		if matchesNode(st, node) {
			out = append(out, clone(st))
		}
	}
	slices.SortFunc(out, func(a, b *ovndpuv1.PortStatus) int {
		return strings.Compare(a.GetLogicalPort(), b.GetLogicalPort())
	})
	return out
}

// sameContent compares the fields the caller of Set controls, i.e. all but
// generation, first_seen and updated. TestSameContentCoversAllFields fails
// when a field is added to PortStatus and not here.
func sameContent(a, b *ovndpuv1.PortStatus) bool {
	return a.GetLogicalPort() == b.GetLogicalPort() &&
		a.GetAttachmentId() == b.GetAttachmentId() &&
		a.GetOwnerNode() == b.GetOwnerNode() &&
		a.GetPhase() == b.GetPhase() &&
		a.GetReason() == b.GetReason() &&
		a.GetRepresentor() == b.GetRepresentor() &&
		a.GetOfport() == b.GetOfport() &&
		a.GetMtu() == b.GetMtu() &&
		a.GetPfMac() == b.GetPfMac() &&
		a.GetVfNum() == b.GetVfNum() &&
		a.GetFunction() == b.GetFunction() &&
		proto.Equal(a.GetPlugged(), b.GetPlugged()) &&
		proto.Equal(a.GetClaimed(), b.GetClaimed()) &&
		proto.Equal(a.GetInstalled(), b.GetInstalled())
}

func matchesNode(st *ovndpuv1.PortStatus, node string) bool {
	return node == "" || st.GetOwnerNode() == node
}

func clone(st *ovndpuv1.PortStatus) *ovndpuv1.PortStatus {
	return proto.Clone(st).(*ovndpuv1.PortStatus)
}
