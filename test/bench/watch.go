package bench

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// recorder timestamps, as their updates reach the bench, the events every
// method is measured by: a Port_Binding appearing in SB, an Interface
// getting external_ids:ovn-installed=true or leaving the DPU's OVS, an LSP
// leaving NB. The same monitors time every method, so their small delay
// is the same for all.
type recorder struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every event
	binding map[string]time.Time
	ifaces  map[string]*ifaceState // by Interface name
	lsps    map[string]*lspState   // by LSP name
	// onBinding is called (outside the lock, on the monitor's goroutine:
	// it must not block) when a Port_Binding first appears.
	onBinding func(lsp string)
}

type ifaceState struct {
	present         bool
	installed, gone time.Time
}

type lspState struct {
	present bool
	owner   string // external_ids:ovn-dpu:owner
	gone    time.Time
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}), binding: map[string]time.Time{},
		ifaces: map[string]*ifaceState{}, lsps: map[string]*lspState{}}
}

func (r *recorder) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
}

func (r *recorder) iface(m model.Model, now time.Time, deleted bool) {
	i, ok := m.(*vswitchd.Interface)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.ifaces[i.Name]
	if st == nil || (!st.present && !deleted) { // new, or the name used again
		st = &ifaceState{}
		r.ifaces[i.Name] = st
	}
	if deleted {
		st.present, st.gone = false, now
	} else {
		st.present = true
		if st.installed.IsZero() && vifplug.OVNInstalled(i.ExternalIDs) {
			st.installed = now
		}
	}
	r.notifyLocked()
}

func (r *recorder) lsp(m model.Model, now time.Time, deleted bool) {
	l, ok := m.(*nbdb.LogicalSwitchPort)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.lsps[l.Name]
	if st == nil || (!st.present && !deleted) {
		st = &lspState{}
		r.lsps[l.Name] = st
	}
	if deleted {
		st.present, st.gone = false, now
	} else {
		st.present, st.owner = true, l.ExternalIDs[vifplug.ExtOwner]
	}
	r.notifyLocked()
}

func (r *recorder) portBinding(m model.Model, now time.Time, deleted bool) {
	pb, ok := m.(*sbdb.PortBinding)
	if !ok {
		return
	}
	r.mu.Lock()
	if deleted { // a binding of that name appearing again is news again
		delete(r.binding, pb.LogicalPort)
		r.mu.Unlock()
		return
	}
	_, seen := r.binding[pb.LogicalPort]
	if !seen {
		r.binding[pb.LogicalPort] = now
	}
	hook := r.onBinding
	r.notifyLocked()
	r.mu.Unlock()
	if !seen && hook != nil {
		hook(pb.LogicalPort)
	}
}

// wait blocks until cond, called under the recorder's lock, holds; it is
// woken by every event, never polls.
func (r *recorder) wait(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, changed := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-deadline.C:
			return fmt.Errorf("%s: not within %v", what, timeout)
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
}

// waitInstalled waits until every named interface has ovn-installed=true
// and returns when each got it.
func (r *recorder) waitInstalled(ctx context.Context, names []string) ([]time.Time, error) {
	err := r.wait(ctx, waitTimeout, fmt.Sprintf("%d interfaces ovn-installed", len(names)), func() bool {
		for _, n := range names {
			if st := r.ifaces[n]; st == nil || !st.present || st.installed.IsZero() {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w; missing: %s", err, r.missing(names, func(st *ifaceState) bool { return st.present && !st.installed.IsZero() }))
	}
	return r.times(names, func(st *ifaceState) time.Time { return st.installed }), nil
}

// waitIfacesGone waits until none of the named interfaces is in OVS and
// returns when each left (the zero time for one never seen).
func (r *recorder) waitIfacesGone(ctx context.Context, names []string) ([]time.Time, error) {
	err := r.wait(ctx, waitTimeout, fmt.Sprintf("%d interfaces gone from OVS", len(names)), func() bool {
		for _, n := range names {
			if st := r.ifaces[n]; st != nil && st.present {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("%w; still there: %s", err, r.missing(names, func(st *ifaceState) bool { return !st.present }))
	}
	return r.times(names, func(st *ifaceState) time.Time { return st.gone }), nil
}

// waitLSPsGone waits until none of the named LSPs is in NB and returns
// when each left (zero for one never seen).
func (r *recorder) waitLSPsGone(ctx context.Context, names []string) ([]time.Time, error) {
	err := r.wait(ctx, waitTimeout, fmt.Sprintf("%d LSPs gone from NB", len(names)), func() bool {
		for _, n := range names {
			if st := r.lsps[n]; st != nil && st.present {
				return false
			}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Time, len(names))
	for i, n := range names {
		if st := r.lsps[n]; st != nil {
			out[i] = st.gone
		}
	}
	return out, nil
}

func (r *recorder) times(names []string, pick func(*ifaceState) time.Time) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]time.Time, len(names))
	for i, n := range names {
		if st := r.ifaces[n]; st != nil {
			out[i] = pick(st)
		}
	}
	return out
}

func (r *recorder) missing(names []string, done func(*ifaceState) bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range names {
		if st := r.ifaces[n]; st == nil || !done(st) {
			out = append(out, n)
		}
	}
	if len(out) > 8 {
		out = append(out[:8], fmt.Sprintf("... (%d)", len(out)))
	}
	return strings.Join(out, ", ")
}

// monitors are the bench's own OVSDB clients: NB (it writes the
// baselines' LSPs through it), SB and the DPU's OVS.
type monitors struct {
	nb, sb, ovs client.Client
	lsUUID      string
}

func (m *monitors) close() {
	for _, c := range []client.Client{m.nb, m.sb, m.ovs} {
		if c != nil {
			c.Close()
		}
	}
}

// openMonitors connects to the bed's NB, SB and OVS and feeds rec. NB
// monitors every LSP's name and owner and the switches' names (so
// lsUUID can be found); SB every Port_Binding's name; OVS every
// Interface's name and external_ids.
func openMonitors(ctx context.Context, nbRemote, sbRemote, ovsRemote, logicalSwitch string, rec *recorder) (_ *monitors, err error) {
	m := &monitors{}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	handler := func(fn func(model.Model, time.Time, bool)) *cache.EventHandlerFuncs {
		return &cache.EventHandlerFuncs{
			AddFunc:    func(_ string, row model.Model) { fn(row, time.Now(), false) },
			UpdateFunc: func(_ string, _, row model.Model) { fn(row, time.Now(), false) },
			DeleteFunc: func(_ string, row model.Model) { fn(row, time.Now(), true) },
		}
	}
	ls, lsp := &nbdb.LogicalSwitch{}, &nbdb.LogicalSwitchPort{}
	if m.nb, err = monitor(ctx, nbdb.FullDatabaseModel, nbRemote, handler(rec.lsp),
		client.WithTable(ls, &ls.Name), client.WithTable(lsp, &lsp.Name, &lsp.ExternalIDs)); err != nil {
		return nil, err
	}
	pb := &sbdb.PortBinding{}
	if m.sb, err = monitor(ctx, sbdb.FullDatabaseModel, sbRemote, handler(rec.portBinding),
		client.WithTable(pb, &pb.LogicalPort)); err != nil {
		return nil, err
	}
	iface := &vswitchd.Interface{}
	if m.ovs, err = monitor(ctx, vswitchd.FullDatabaseModel, ovsRemote, handler(rec.iface),
		client.WithTable(iface, &iface.Name, &iface.ExternalIDs)); err != nil {
		return nil, err
	}
	var found []*nbdb.LogicalSwitch
	if err := m.nb.WhereCache(func(ls *nbdb.LogicalSwitch) bool { return ls.Name == logicalSwitch }).List(ctx, &found); err != nil {
		return nil, err
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("logical switch %s: %d in NB, want 1", logicalSwitch, len(found))
	}
	m.lsUUID = found[0].UUID
	return m, nil
}

func monitor(ctx context.Context, dbModel func() (model.ClientDBModel, error), remote string,
	h cache.EventHandler, tables ...client.MonitorOption) (client.Client, error) {
	dm, err := dbModel()
	if err != nil {
		return nil, err
	}
	quiet := logr.Discard()
	c, err := client.NewOVSDBClient(dm, client.WithEndpoint(remote), client.WithLogger(&quiet))
	if err != nil {
		return nil, err
	}
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("connect to %s %s: %w", dm.Name(), remote, err)
	}
	c.Cache().AddEventHandler(h)
	if _, err := c.Monitor(ctx, c.NewMonitor(tables...)); err != nil {
		c.Close()
		return nil, fmt.Errorf("monitor %s %s: %w", dm.Name(), remote, err)
	}
	return c, nil
}

// errMissing joins what a verification found left over.
func errMissing(what string, left []string) error {
	if len(left) == 0 {
		return nil
	}
	return errors.New(what + ": " + strings.Join(left, ", "))
}
