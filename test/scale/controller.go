package scale

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// controller stands in for ovn-controller and ovs-vswitchd on every
// simulated DPU, so that a DPU costs one ovsdb-server and one agent
// instead of an ovn-controller, an ovs-vswitchd and a datapath. For each
// interface a DPU agent plugs (external_ids:iface-id set) it does what
// those two would do before the agent reports READY: gives the interface
// an ofport and ifindex (ovs-vswitchd opened it), claims the binding
// (Port_Binding.chassis = the DPU's Chassis, up = true) and sets
// external_ids:ovn-installed=true. It also acknowledges every next_cfg
// (cur_cfg), as ovs-vswitchd does.
//
// What it leaves out: ovn-controller's own SB session per chassis (its
// cost is measured apart, with a few real ovn-controllers: reference.go),
// flow computation, and the claim's writes to Chassis_Private and
// Port_Binding.encap. Its SB writes go straight to the cluster, past the
// counting proxies and the SB relay, on one session of its own.
type controller struct {
	sb   client.Client
	dpus []*dpuSim
	wg   sync.WaitGroup
	mu   sync.Mutex
	err  error
}

// dpuSim is the controller's view of one DPU.
type dpuSim struct {
	ctl         *controller
	chassisUUID string
	ovs         client.Client
	work        chan string // interface UUIDs to look at
	cfg         chan struct{}
	mu          sync.Mutex
	done        map[string]string // interface UUID → the iface-id it was installed for
	ofport      int
}

func quietLogger() *logr.Logger {
	l := logr.Discard()
	return &l
}

// newController connects to SB (sbRemotes: the cluster's members; writes
// need the leader) without monitoring anything: it only writes.
func newController(ctx context.Context, sbRemotes []string) (*controller, error) {
	dm, err := sbdb.FullDatabaseModel()
	if err != nil {
		return nil, err
	}
	opts := []client.Option{client.WithLogger(quietLogger())}
	for _, r := range sbRemotes {
		opts = append(opts, client.WithEndpoint(r))
	}
	c, err := client.NewOVSDBClient(dm, opts...)
	if err != nil {
		return nil, fmt.Errorf("simulated ovn-controller: SB client: %w", err)
	}
	if err := c.Connect(ctx); err != nil {
		return nil, fmt.Errorf("simulated ovn-controller: connect to SB: %w", err)
	}
	return &controller{sb: c}, nil
}

// addDPU starts serving one DPU's OVS DB for the chassis whose row is
// chassisUUID.
func (c *controller) addDPU(ctx context.Context, ovsRemote, chassisUUID string) error {
	dm, err := vswitchd.FullDatabaseModel()
	if err != nil {
		return err
	}
	o, err := client.NewOVSDBClient(dm, client.WithEndpoint(ovsRemote), client.WithLogger(quietLogger()))
	if err != nil {
		return fmt.Errorf("simulated ovn-controller: OVS client %s: %w", ovsRemote, err)
	}
	if err := o.Connect(ctx); err != nil {
		return fmt.Errorf("simulated ovn-controller: connect to %s: %w", ovsRemote, err)
	}
	d := &dpuSim{ctl: c, chassisUUID: chassisUUID, ovs: o, work: make(chan string, 1024),
		cfg: make(chan struct{}, 1), done: map[string]string{}}
	o.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(_ string, m model.Model) { d.changed(m) },
		UpdateFunc: func(_ string, _, m model.Model) { d.changed(m) },
		DeleteFunc: func(_ string, m model.Model) { d.deleted(m) },
	})
	iface, root := &vswitchd.Interface{}, &vswitchd.OpenvSwitch{}
	if _, err := o.Monitor(ctx, o.NewMonitor(
		client.WithTable(iface, &iface.Name, &iface.ExternalIDs, &iface.Ofport),
		client.WithTable(root, &root.NextCfg, &root.CurCfg))); err != nil {
		o.Close()
		return fmt.Errorf("simulated ovn-controller: monitor %s: %w", ovsRemote, err)
	}
	c.mu.Lock()
	c.dpus = append(c.dpus, d)
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		d.run(ctx)
	}()
	return nil
}

// changed is the cache's hook: it must not block, so it only queues.
func (d *dpuSim) changed(m model.Model) {
	switch row := m.(type) {
	case *vswitchd.Interface:
		if row.ExternalIDs[vifplug.IfaceID] == "" {
			return
		}
		d.mu.Lock()
		installed := d.done[row.UUID] == row.ExternalIDs[vifplug.IfaceID] && vifplug.OVNInstalled(row.ExternalIDs)
		d.mu.Unlock()
		if !installed {
			d.work <- row.UUID
		}
	case *vswitchd.OpenvSwitch:
		if row.CurCfg < row.NextCfg {
			select {
			case d.cfg <- struct{}{}:
			default:
			}
		}
	}
}

func (d *dpuSim) deleted(m model.Model) {
	if row, ok := m.(*vswitchd.Interface); ok {
		d.mu.Lock()
		delete(d.done, row.UUID)
		d.mu.Unlock()
	}
}

func (d *dpuSim) run(ctx context.Context) {
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case uuid := <-d.work:
			err = d.install(ctx, uuid)
		case <-d.cfg:
			err = d.ackCfg(ctx)
		}
		if err != nil && ctx.Err() == nil {
			d.ctl.fail(err)
		}
	}
}

// install plays ovs-vswitchd opening the interface and ovn-controller
// claiming its binding and installing its flows.
func (d *dpuSim) install(ctx context.Context, uuid string) error {
	iface := &vswitchd.Interface{UUID: uuid}
	if err := d.ovs.Get(ctx, iface); err != nil {
		if errors.Is(err, client.ErrNotFound) {
			return nil // unplugged meanwhile
		}
		return fmt.Errorf("simulated ovn-controller: interface %s: %w", uuid, err)
	}
	lsp := iface.ExternalIDs[vifplug.IfaceID]
	d.mu.Lock()
	if d.done[uuid] == lsp && vifplug.OVNInstalled(iface.ExternalIDs) {
		d.mu.Unlock()
		return nil // a queued duplicate
	}
	d.done[uuid] = lsp
	d.mu.Unlock()
	if err := d.ctl.claim(ctx, lsp, d.chassisUUID); err != nil {
		return err
	}
	var txn []ovsdb.Operation
	if iface.Ofport == nil || *iface.Ofport <= 0 {
		d.mu.Lock()
		d.ofport++
		port := d.ofport
		d.mu.Unlock()
		iface.Ofport, iface.Ifindex = &port, &port
		up, err := d.ovs.Where(iface).Update(iface, &iface.Ofport, &iface.Ifindex)
		if err != nil {
			return err
		}
		txn = append(txn, up...)
	}
	// A mutation, not an update of the whole map: the agent may be
	// writing its own keys at the same time.
	mut, err := d.ovs.Where(iface).Mutate(iface, model.Mutation{Field: &iface.ExternalIDs,
		Mutator: ovsdb.MutateOperationInsert, Value: map[string]string{vifplug.IfaceOVNInstalled: "true"}})
	if err != nil {
		return err
	}
	if _, err := ops.Transact(ctx, d.ovs, append(txn, mut...)); err != nil {
		return fmt.Errorf("simulated ovn-controller: install %s: %w", lsp, err)
	}
	return nil
}

// claim sets the binding's chassis and up, retrying while northd has not
// created the binding yet (the agent plugs only once it saw it, through
// the relay, so that is rare).
func (c *controller) claim(ctx context.Context, lsp, chassisUUID string) error {
	pb := &sbdb.PortBinding{Chassis: &chassisUUID, Up: ptr(true)}
	for try := 0; ; try++ {
		up, err := c.sb.WhereAll(pb, model.Condition{Field: &pb.LogicalPort, Function: ovsdb.ConditionEqual, Value: lsp}).
			Update(pb, &pb.Chassis, &pb.Up)
		if err != nil {
			return err
		}
		res, err := ops.Transact(ctx, c.sb, up)
		if err != nil {
			return fmt.Errorf("simulated ovn-controller: claim %s: %w", lsp, err)
		}
		if len(res) > 0 && res[0].Count > 0 {
			return nil
		}
		if try == 50 {
			return fmt.Errorf("simulated ovn-controller: claim %s: no such Port_Binding", lsp)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond): // bounded retry for a binding not yet visible
		}
	}
}

// ackCfg sets cur_cfg to next_cfg, as ovs-vswitchd does once it applied
// a configuration.
func (d *dpuSim) ackCfg(ctx context.Context) error {
	var roots []*vswitchd.OpenvSwitch
	if err := d.ovs.List(ctx, &roots); err != nil || len(roots) != 1 {
		return fmt.Errorf("simulated ovs-vswitchd: Open_vSwitch row: %v (%d rows)", err, len(roots))
	}
	root := roots[0]
	if root.CurCfg >= root.NextCfg {
		return nil
	}
	root.CurCfg = root.NextCfg
	up, err := d.ovs.Where(root).Update(root, &root.CurCfg)
	if err != nil {
		return err
	}
	_, err = ops.Transact(ctx, d.ovs, up)
	return err
}

func (c *controller) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

// Err is the first error the controller hit.
func (c *controller) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close ends every session; ctx (given to addDPU) must be done first for
// the workers to stop.
func (c *controller) close() {
	c.wg.Wait()
	for _, d := range c.dpus {
		d.ovs.Close()
	}
	c.sb.Close()
}

func ptr[T any](v T) *T { return &v }
