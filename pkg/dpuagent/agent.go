package dpuagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ovn-kubernetes/libovsdb/cache"
	"github.com/ovn-kubernetes/libovsdb/client"
	"github.com/ovn-kubernetes/libovsdb/model"
	"github.com/ovn-kubernetes/libovsdb/ovsdb"

	"github.com/ovn-dpu/ovn-dpu/pkg/devlink"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/conn"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/portstatus"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// Open_vSwitch external_ids that tell ovn-controller (and this agent) who
// the chassis is. They belong to OVS and ovn-controller, not to the
// vifplug contract.
const (
	ovsSystemID = "system-id"
	ovsHostname = "hostname"
)

// Agent plugs representors for one chassis. Create it with New, then Run.
type Agent struct {
	cfg   Config
	opts  options
	log   *slog.Logger
	table *devlink.Table
	store *portstatus.Store

	// The database sessions: each rides reconnects and (SB) leader
	// changes by itself; sb() and ovs() are their current clients.
	sbSession, ovsSession *conn.Session
	id                    atomic.Pointer[chassisIdentity]
	// monitoredUUID: the chassis UUID the SB monitor's conditions name.
	monitoredUUID atomic.Pointer[string]
	// dbsUp: both sessions are up (their caches filled).
	dbsUp atomic.Bool
	// lastReconnect (unix nanoseconds): unplug delays restart from here.
	lastReconnect atomic.Int64
	goneBindings  goneSet
	metrics       *metrics
	claims        claimBook

	trigger chan struct{}
	synced  chan struct{} // closed after the first full reconcile
	syncOne sync.Once
	// functions sets representors' function hw_addr (--set-function-mac):
	// the devlink source, set by Run.
	functions devlink.FunctionSetter

	// Owned by the reconcile goroutine.
	mem memory // the planner's, from the previous pass
	// readyObserved: the attachment whose plug latency was recorded, per
	// logical port.
	readyObserved map[string]string
	retry         retryState
	readiness     readiness
}

// New validates cfg and builds an agent; it connects nothing yet.
func New(cfg Config, store *portstatus.Store, opts ...Option) (*Agent, error) {
	if len(cfg.SBRemotes) == 0 {
		return nil, errors.New("no Southbound remote: set --sb")
	}
	if cfg.OVSRemote == "" {
		cfg.OVSRemote = DefaultOVSRemote
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	switch cfg.Plugger {
	case "":
		cfg.Plugger = PluggerAgent
	case PluggerAgent, PluggerOVNController:
	default:
		return nil, fmt.Errorf("--plugger %q: want %q or %q", cfg.Plugger, PluggerAgent, PluggerOVNController)
	}
	if cfg.SysfsRoot == "" {
		cfg.SysfsRoot = sysfs.DefaultRoot
	}
	if cfg.SetFunctionMAC && cfg.Plugger != PluggerAgent {
		// Whoever plugs must set the MAC first; this agent does not plug.
		return nil, fmt.Errorf("--set-function-mac needs --plugger %s: the MAC is set before the agent plugs", PluggerAgent)
	}
	o := newOptions(opts)
	if cfg.Hosts.Enabled() && (cfg.Plugger != PluggerAgent || o.peerIdentity == nil) {
		// Claims are enforced where the agent plugs, and are worth only
		// the caller identity they are checked against.
		return nil, fmt.Errorf("--hosts needs --plugger %s and mutual TLS (--tls-cert, --tls-key, --tls-ca; not --insecure): "+
			"a host's claims are checked against its client certificate", PluggerAgent)
	}
	a := &Agent{
		cfg: cfg, opts: o, log: o.log, store: store,
		trigger:       make(chan struct{}, 1),
		synced:        make(chan struct{}),
		readyObserved: map[string]string{},
		metrics:       newMetrics(),
	}
	a.table = devlink.NewTable(devlink.WithSysfsRoot(cfg.SysfsRoot), devlink.WithOnChange(a.kick),
		devlink.WithLogger(o.log))
	return a, nil
}

// Synced is closed once the agent has processed the initial dumps of SB,
// OVS and devlink and computed every port's status, so a watcher's
// snapshot is complete.
func (a *Agent) Synced() <-chan struct{} { return a.synced }

// kick asks for a reconcile pass; many kicks before the pass runs
// coalesce into one.
func (a *Agent) kick() {
	select {
	case a.trigger <- struct{}{}:
	default:
	}
}

// Run connects, reconciles until ctx ends, and returns. It never unplugs on
// the way out: a restarting agent must not disturb traffic.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	src, err := a.devlinkSource()
	if err != nil {
		return err
	}
	if fs, ok := src.(devlink.FunctionSetter); ok {
		a.functions = fs
	}
	// Every goroutine Run starts ends before Run returns, and before the
	// clients it uses are closed.
	var wg sync.WaitGroup
	stop := func() { cancel(); wg.Wait() }
	defer stop()
	srcErr := make(chan error, 1)
	wg.Go(func() { srcErr <- src.Run(ctx) })

	if err := a.connectOVS(ctx); err != nil {
		return err
	}
	defer a.ovsSession.Close()
	if err := a.connectSB(ctx); err != nil {
		return err
	}
	defer a.sbSession.Close()
	a.log.Info("connected", "chassis", a.identity().name, "bridge", a.cfg.Bridge, "plugger", a.cfg.Plugger,
		"sb", a.sbSession.Endpoint(), "ovs", a.cfg.OVSRemote)
	wg.Go(func() { a.watchConnections(ctx) })
	defer stop() // before the sessions' Close
	return a.loop(ctx, srcErr)
}

// sb and ovs are the sessions' current clients, for cache reads and
// building operations.
func (a *Agent) sb() client.Client  { return a.sbSession.Client() }
func (a *Agent) ovs() client.Client { return a.ovsSession.Client() }

func (a *Agent) devlinkSource() (devlink.Source, error) {
	if a.cfg.DevlinkDump == "" {
		// The kernel: a full port dump, then devlink notifications.
		return devlink.NewNetlinkSource(a.table, devlink.WithLogger(a.log)), nil
	}
	src := devlink.NewFileSource(a.cfg.DevlinkDump, a.table, devlink.WithLogger(a.log))
	// Load once up front so the first reconcile already sees the
	// representors that exist; a missing or bad file is retried by Run.
	if err := src.Load(); err != nil {
		a.log.Warn("devlink dump not loaded yet", "file", a.cfg.DevlinkDump, "err", err)
	}
	return src, nil
}

func (a *Agent) loop(ctx context.Context, srcErr <-chan error) error {
	resync := time.NewTicker(a.opts.resync)
	defer resync.Stop()
	for {
		select {
		case <-ctx.Done():
			a.log.Info("stopping; representors stay plugged")
			return nil
		case err := <-srcErr:
			if ctx.Err() == nil {
				return fmt.Errorf("devlink source stopped: %w", err)
			}
		case <-a.trigger:
		case <-resync.C:
		case <-a.retry.timer():
		}
		if a.reconcile(ctx) {
			a.syncOne.Do(func() { close(a.synced) })
		}
	}
}

// watchConnections follows both sessions and kicks a reconcile whenever
// both are up again after a break: a new connection's cache is complete
// but was not told what was deleted while it was away, and a pass against
// it fixes that. While either is down, reconcile waits.
func (a *Agent) watchConnections(ctx context.Context) {
	for {
		// Channels first, then state: a change in between is not missed.
		ovsChanged, sbChanged := a.ovsSession.Changed(), a.sbSession.Changed()
		ovsUp, ovsSince := a.ovsSession.Up()
		sbUp, sbSince := a.sbSession.Up()
		up := ovsUp && sbUp
		if was := a.dbsUp.Swap(up); up && !was {
			a.lastReconnect.Store(max(ovsSince.UnixNano(), sbSince.UnixNano()))
			a.log.Info("databases reachable; reconciling", "sb", a.sbSession.Endpoint())
			a.kick()
		} else if !up && was {
			a.log.Warn("a database connection is down; reconcile paused until it is back", "sb_up", sbUp, "ovs_up", ovsUp)
		}
		select {
		case <-ctx.Done():
			return
		case <-ovsChanged:
		case <-sbChanged:
		}
	}
}

func (a *Agent) reconnectedAt() time.Time { return time.Unix(0, a.lastReconnect.Load()) }

func (a *Agent) identity() chassisIdentity {
	if id := a.id.Load(); id != nil {
		return *id
	}
	return chassisIdentity{}
}

// connectOVS connects to the local Open_vSwitch database and monitors what
// plugging reads: next_cfg and cur_cfg (has ovs-vswitchd applied a change
// yet), the bridge's ports and each interface's name, external_ids,
// ofport, error, ifindex (0 once its network device is gone) and
// mtu_request; and, for the readiness checks (readiness.go), other_config
// (hw-offload) and the bridges' datapath_type. Interface statistics and status change every few seconds
// and are deliberately not monitored; ifindex changes only when the
// device comes or goes.
func (a *Agent) connectOVS(ctx context.Context) error {
	dbModel, err := vswitchd.FullDatabaseModel()
	if err != nil {
		return err
	}
	monitor := func(ctx context.Context, c client.Client) error {
		ovsRow, bridge, port, iface := &vswitchd.OpenvSwitch{}, &vswitchd.Bridge{}, &vswitchd.Port{}, &vswitchd.Interface{}
		c.Cache().AddEventHandler(a.eventHandler())
		_, err := c.Monitor(ctx, c.NewMonitor(
			client.WithTable(ovsRow, &ovsRow.ExternalIDs, &ovsRow.OtherConfig, &ovsRow.NextCfg, &ovsRow.CurCfg),
			client.WithTable(bridge, &bridge.Name, &bridge.Ports, &bridge.DatapathType),
			client.WithTable(port, &port.Name, &port.Interfaces),
			client.WithTable(iface, &iface.Name, &iface.ExternalIDs, &iface.Ofport, &iface.Error, &iface.Ifindex,
				&iface.MTURequest),
		))
		if err != nil {
			return fmt.Errorf("monitor OVS database %s: %w", a.cfg.OVSRemote, err)
		}
		return nil
	}
	a.ovsSession, err = conn.Open(ctx, dbModel, conn.Config{Remotes: []string{a.cfg.OVSRemote}, TLS: a.cfg.OVSTLS,
		ProbeInterval: a.opts.probeInterval}, monitor, a.log)
	if err != nil {
		return err
	}
	if err := a.resolveIdentity(ctx); err != nil {
		a.ovsSession.Close()
		return err
	}
	return nil
}

// resolveIdentity learns the chassis name (system-id) and hostname the way
// ovn-controller does, waiting for system-id when the flag does not give it.
func (a *Agent) resolveIdentity(ctx context.Context) error {
	for {
		var rows []*vswitchd.OpenvSwitch
		if err := a.ovs().List(ctx, &rows); err != nil {
			return err
		}
		id := chassisIdentity{name: a.cfg.Chassis}
		if len(rows) == 1 {
			if id.name == "" {
				id.name = rows[0].ExternalIDs[ovsSystemID]
			}
			id.hostname = rows[0].ExternalIDs[ovsHostname]
		}
		if id.hostname == "" {
			id.hostname, _ = os.Hostname()
		}
		if id.name != "" {
			a.id.Store(&id)
			return nil
		}
		a.log.Info("waiting for Open_vSwitch external_ids:" + ovsSystemID + " (or set --chassis)")
		select {
		case <-ctx.Done():
			return fmt.Errorf("no chassis name: %w", ctx.Err())
		case <-a.trigger:
		case <-time.After(time.Second):
		}
	}
}

// connectSB monitors only this chassis's Chassis row and the Port_Bindings
// that request it — by name or hostname in options:requested-chassis, or by
// the chassis UUID in requested_chassis / requested_additional_chassis —
// and only the columns plugging reads. A DPU must not hold a cloud-sized
// SB: foreign bindings never reach it.
//
// Every new connection (a reconnect, a new SB leader) selects the chassis
// UUID afresh before its monitor starts, so the UUID conditions follow a
// chassis that re-registered while the agent was away.
func (a *Agent) connectSB(ctx context.Context) error {
	dbModel, err := sbdb.FullDatabaseModel()
	if err != nil {
		return err
	}
	monitor := func(ctx context.Context, c client.Client) error {
		if err := a.selectChassisUUID(ctx, c); err != nil {
			return err
		}
		c.Cache().AddEventHandler(a.eventHandler())
		id := a.identity()
		a.monitoredUUID.Store(&id.uuid)
		ch, pb := &sbdb.Chassis{}, &sbdb.PortBinding{}
		columns := []any{&pb.LogicalPort, &pb.Options, &pb.ExternalIDs, &pb.Chassis, &pb.RequestedChassis, &pb.RequestedAdditionalChassis}
		if a.cfg.SetFunctionMAC {
			// The logical port's MAC, to set on the VF's devlink function
			// (function_mac.go); without the option nothing reads it, and
			// an address change would only wake passes for nothing.
			columns = append(columns, &pb.MAC)
		}
		tables := []client.MonitorOption{
			client.WithConditionalTable(ch, []model.Condition{{Field: &ch.Name, Function: ovsdb.ConditionEqual, Value: id.name}},
				&ch.Name, &ch.Hostname),
		}
		if a.cfg.Hosts.Enabled() {
			// Claims name the logical switch; the binding's datapath says
			// which one it really is in (claims.go). Datapaths are few and
			// small beside bindings: all of them, their external_ids only.
			dp := &sbdb.DatapathBinding{}
			columns = append(columns, &pb.Datapath)
			tables = append(tables, client.WithTable(dp, &dp.ExternalIDs))
		}
		tables = append(tables, client.WithConditionalTable(pb, a.bindingConditions(pb), columns...))
		_, err := c.Monitor(ctx, c.NewMonitor(tables...))
		if err != nil {
			return fmt.Errorf("monitor SB Chassis and Port_Binding for chassis %s: %w", id.name, err)
		}
		return nil
	}
	a.sbSession, err = conn.Open(ctx, dbModel, conn.Config{Remotes: a.cfg.SBRemotes, TLS: a.cfg.SBTLS, LeaderOnly: true,
		ProbeInterval: a.opts.probeInterval}, monitor, a.log)
	if err != nil {
		return err
	}
	a.refreshChassisUUID(ctx)
	return nil
}

// selectChassisUUID asks the server for this chassis's UUID before the
// monitor starts, so the monitor's conditions can include it.
func (a *Agent) selectChassisUUID(ctx context.Context, c client.Client) error {
	id := a.identity()
	rows, err := ops.SelectByName(ctx, c, sbdb.ChassisTable, id.name, "_uuid")
	if err != nil {
		return err
	}
	if len(rows) == 1 {
		id.uuid = ops.RowUUID(rows[0])
		a.id.Store(&id)
	}
	return nil
}

// bindingConditions are OR-ed by ovsdb-server. The UUID conditions are fixed
// at monitor time; a chassis that re-registers gets a new UUID, which the
// name and hostname conditions still cover (northd keeps the options).
func (a *Agent) bindingConditions(pb *sbdb.PortBinding) []model.Condition {
	id := a.identity()
	conds := []model.Condition{
		{Field: &pb.Options, Function: ovsdb.ConditionIncludes, Value: map[string]string{vifplug.OptRequestedChassis: id.name}},
	}
	if id.hostname != "" && id.hostname != id.name {
		conds = append(conds, model.Condition{Field: &pb.Options, Function: ovsdb.ConditionIncludes,
			Value: map[string]string{vifplug.OptRequestedChassis: id.hostname}})
	}
	if id.uuid != "" {
		uuid := id.uuid
		conds = append(conds,
			model.Condition{Field: &pb.RequestedChassis, Function: ovsdb.ConditionEqual, Value: &uuid},
			model.Condition{Field: &pb.RequestedAdditionalChassis, Function: ovsdb.ConditionIncludes, Value: []string{uuid}})
	}
	return conds
}

// refreshChassisUUID records the current UUID of this chassis's row (empty
// while it is absent, e.g. after `ovn-sbctl chassis-del`).
func (a *Agent) refreshChassisUUID(ctx context.Context) {
	id := a.identity()
	ch := &sbdb.Chassis{Name: id.name}
	uuid := ""
	if err := a.sb().Get(ctx, ch); err == nil {
		uuid = ch.UUID
	}
	if uuid != id.uuid {
		id.uuid = uuid
		a.id.Store(&id)
	}
	// Bindings that name this chassis only by UUID (requested_chassis of a
	// multi-chassis list) are monitored by the UUID of the monitor's time:
	// after a re-registration a new monitor must name the new one.
	if monitored := a.monitoredUUID.Load(); uuid != "" && monitored != nil && *monitored != uuid {
		a.log.Info("chassis UUID changed; monitoring the bindings that name it", "old", *monitored, "new", uuid)
		a.monitoredUUID.Store(&uuid) // one reconnect per change
		a.sbSession.Reconnect("chassis " + id.name + " re-registered")
	}
}

func (a *Agent) eventHandler() cache.EventHandler {
	return &cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { a.kick() },
		UpdateFunc: func(string, model.Model, model.Model) { a.kick() },
		DeleteFunc: func(table string, m model.Model) {
			if pb, ok := m.(*sbdb.PortBinding); ok && table == sbdb.PortBindingTable {
				a.goneBindings.note(pb.LogicalPort, a.opts.now())
			}
			a.kick()
		},
	}
}

// goneSet records logical ports whose binding the server reported deleted
// (or moved out of this chassis's monitor), and when. Such a port is
// unplugged at once: unlike an empty cache mid-replay, a delete
// notification is news from the server. A new connection's initial dump
// sends no deletions.
type goneSet struct {
	mu    sync.Mutex
	ports map[string]time.Time
}

func (g *goneSet) note(lsp string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ports == nil {
		g.ports = map[string]time.Time{}
	}
	g.ports[lsp] = at
}

// takeInto moves the recorded ports into marks (the planner's carried
// ones) and forgets them.
func (g *goneSet) takeInto(marks map[string]time.Time) map[string]time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.ports) == 0 {
		return marks
	}
	if marks == nil {
		marks = map[string]time.Time{}
	}
	maps.Copy(marks, g.ports)
	g.ports = nil
	return marks
}
