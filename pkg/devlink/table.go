package devlink

import (
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
)

// Table is the concurrency-safe representor table. Writers (a Source)
// replace or patch the set of devlink ports; every change rebuilds an
// immutable index — including any sysfs reads — so Lookup is a map access
// that never blocks on writers or touches the system.
type Table struct {
	opts options
	log  *slog.Logger

	mu    sync.Mutex // serialises writers
	ports map[string]Port
	idx   atomic.Pointer[index]
}

// NewTable returns an empty table; options: WithSysfsRoot, WithOnChange,
// WithLogger.
func NewTable(opts ...Option) *Table {
	o := newOptions(opts)
	t := &Table{opts: o, log: o.logger.With("component", "devlink"), ports: make(map[string]Port)}
	t.idx.Store(buildIndex(t.ports, o.sysfsRoot))
	return t
}

// Replace makes ports the table's whole contents (a full dump or resync).
// It always rebuilds the index, so a resync also re-reads sysfs MACs.
func (t *Table) Replace(ports []Port) {
	next := make(map[string]Port, len(ports))
	for _, p := range ports {
		next[p.Handle()] = owned(p)
	}
	t.change(func(cur map[string]Port) (map[string]Port, bool) {
		return next, !maps.EqualFunc(cur, next, Port.equal)
	}, true)
}

// Upsert adds or updates one port (a devlink "new port" notification).
func (t *Table) Upsert(p Port) {
	t.change(func(cur map[string]Port) (map[string]Port, bool) {
		if old, ok := cur[p.Handle()]; ok && old.equal(p) {
			return cur, false
		}
		cur[p.Handle()] = owned(p)
		return cur, true
	}, false)
}

// Delete removes the port with this handle, "pci/0000:03:00.0/196608" (a
// devlink "del port" notification); unknown handles are ignored.
func (t *Table) Delete(handle string) {
	t.change(func(cur map[string]Port) (map[string]Port, bool) {
		if _, ok := cur[handle]; !ok {
			return cur, false
		}
		delete(cur, handle)
		return cur, true
	}, false)
}

// change applies edit and rebuilds the index when the ports changed (or
// always, for a resync), then notifies outside the lock so that the
// callback may call Lookup.
func (t *Table) change(edit func(map[string]Port) (map[string]Port, bool), rebuild bool) {
	t.mu.Lock()
	next, changed := edit(t.ports)
	t.ports = next
	if changed || rebuild {
		old := t.idx.Load()
		idx := buildIndex(t.ports, t.opts.sysfsRoot)
		t.idx.Store(idx)
		t.logProblems(old, idx)
		t.log.Debug("devlink table rebuilt", "ports", idx.nports, "pfs", len(idx.macs))
		changed = changed || !maps.Equal(old.pfMACs, idx.pfMACs)
	}
	t.mu.Unlock()
	if changed && t.opts.onChange != nil {
		t.opts.onChange()
	}
}

// logProblems warns about each PF without a MAC and each ambiguous
// function once, when it appears, so a stream of notifications does not repeat it.
func (t *Table) logProblems(old, idx *index) {
	for _, u := range idx.unresolved {
		if !slices.Contains(old.unresolved, u) {
			t.log.Warn("devlink PF has no usable MAC; its VFs cannot be looked up", "pf", u)
		}
	}
	for _, c := range idx.conflicts {
		if !slices.Contains(old.conflicts, c) {
			t.log.Warn("two devlink ports claim the same VF, SF or PF; lookups of it fail as ambiguous", "function", c)
		}
	}
}

// owned copies what p shares with the caller, so a caller reusing its
// slices cannot change the table behind its lock.
func owned(p Port) Port {
	p.HWAddr = slices.Clone(p.HWAddr)
	return p
}

// Lookup finds the representor of VF vfNum of the host PF whose MAC is
// pfMAC. Errors are *LookupError wrapping ErrNoPF, ErrNoVF or ErrAmbiguous;
// with ErrAmbiguous the Representor is still returned — the same one every
// time (lowest devlink handle) — for callers that choose to proceed.
func (t *Table) Lookup(pfMAC net.HardwareAddr, vfNum int) (Representor, error) {
	fn := Function{Flavour: PCIVF, Num: 0x10000} // matches no VF
	if vfNum >= 0 && vfNum <= 0xffff {
		fn.Num = uint32(vfNum)
	}
	rep, err := t.idx.Load().lookup(pfMAC, fn)
	if le, ok := err.(*LookupError); ok {
		le.VFNum, le.Fn = vfNum, Function{}
	}
	return rep, err
}

// LookupFunction finds the representor of function fn (a VF, an SF or the
// PF itself) of the host PF whose MAC is pfMAC, with the same controller
// and PF rules for all three: the function's port must share the devlink
// device, controller and pfnum of the PF the MAC names. Errors as Lookup's,
// with ErrNoSF or ErrNoPFPort for a missing SF or PF representor.
func (t *Table) LookupFunction(pfMAC net.HardwareAddr, fn Function) (Representor, error) {
	return t.idx.Load().lookup(pfMAC, fn)
}

// Len is the number of devlink ports in the table (all flavours).
func (t *Table) Len() int {
	return t.idx.Load().nports
}

// KnownPFs lists the PF MACs lookups can match, sorted.
func (t *Table) KnownPFs() []string {
	return slices.Clone(t.idx.Load().macs)
}

// PFController says which devlink controller (host) the PF whose MAC is
// pfMAC belongs to. ok is false for an unknown MAC, and for a MAC that PFs
// of two controllers share: no host can be told it is theirs.
func (t *Table) PFController(pfMAC net.HardwareAddr) (controller uint32, ok bool) {
	e := t.idx.Load().byMAC[string(pfMAC)]
	if e == nil {
		return 0, false
	}
	return e.controller()
}

// KnownPFsOf lists, sorted, the PF MACs lookups can match that belong to
// controller alone (as PFController says).
func (t *Table) KnownPFsOf(controller uint32) []string {
	var macs []string
	for _, e := range t.idx.Load().byMAC {
		if c, ok := e.controller(); ok && c == controller {
			macs = append(macs, e.mac.String())
		}
	}
	slices.Sort(macs)
	return macs
}

func (e *pfEntry) controller() (uint32, bool) {
	if len(e.keys) == 0 {
		return 0, false
	}
	for _, k := range e.keys[1:] {
		if k.controller != e.keys[0].controller {
			return 0, false
		}
	}
	return e.keys[0].controller, true
}
