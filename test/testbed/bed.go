package testbed

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
)

// Schemas shipped by the Debian packages the bed runs.
const (
	nbSchema  = "/usr/share/ovn/ovn-nb.ovsschema"
	sbSchema  = "/usr/share/ovn/ovn-sb.ovsschema"
	ovsSchema = "/usr/share/openvswitch/vswitch.ovsschema"
)

// startTimeout bounds each readiness wait; generous because CI machines
// run other work and ovn-controller's first registration takes a moment.
const startTimeout = 30 * time.Second

// Options choose what the bed starts.
type Options struct {
	// Chassis is the DPU's OVN chassis name (its system-id); default
	// "dpu-<bed id>".
	Chassis string
	// Hostname is the DPU's external_ids:hostname; default "<chassis>.example".
	Hostname string
	// HostNetns adds a "host" namespace joined to the dpu namespace by a
	// veth link (HostAddr <-> DPUAddr), for agents that talk over it.
	HostNetns bool
	// Underlay gives the DPU a br-phy whose tap carries a routable Geneve
	// endpoint (172.31.77.1) in place of 127.0.0.1, so that DPUs added
	// with AddDPU reach it over Geneve (see "Several DPUs" in
	// docs/testbed.md).
	Underlay bool
	// NoController leaves ovn-controller stopped, for tests that start it
	// themselves or test its absence.
	NoController bool
	// SBSSL makes the SB ovsdb-server also listen with SSL on
	// 127.0.0.1 (SBSSLRemote), with certificates issued at start.
	SBSSL bool
	// NBSchema and SBSchema are the schema files the NB and SB databases
	// are created from; empty = the Debian packages' own (OVN 23.03). The
	// schema tests pass newer OVN releases' schemas (test/schemas).
	NBSchema, SBSchema string
	// Clustered runs NB and SB each as a RAFT cluster of ClusterSize
	// members on loopback, as production OVN does (see "Clustered OVN" in
	// docs/testbed.md); ClusterSize alone (> 0) implies it, default 3.
	Clustered   bool
	ClusterSize int
	// ElectionTimer, when set, replaces the clusters' RAFT election timer
	// (OVS default 1 s) once they have formed: shorter elections after
	// KillLeader and StopLeader.
	ElectionTimer time.Duration
	// NBRelay and SBRelay add an ovsdb-server relaying that database from
	// its cluster (or standalone server): NBRelayRemote, SBRelayRemote.
	NBRelay, SBRelay bool
	// ControllerArgs are extra ovn-controller arguments, for every start
	// (StartController too), e.g. --enable-dummy-vif-plug to benchmark
	// OVN's own VIF plug provider.
	ControllerArgs []string
}

// Bed is one running sandbox. Fields are read-only after Start.
type Bed struct {
	// ID is short and unique per bed; it is part of every name the bed
	// gives to namespaces and links.
	ID       string
	Dir      string
	Chassis  string
	Hostname string

	// unix:<dir>/nb.sock; when clustered, every member's unix socket,
	// comma-separated (unix:<dir>/nb-1.sock,unix:<dir>/nb-2.sock,…).
	NBRemote  string
	SBRemote  string
	OVSRemote string // the dpu's Open_vSwitch database
	// With Options.SBSSL: the SSL remote, and a client certificate from
	// the same CA (OVS SSL is mutual).
	// (Comma-separated, one per SB member, when clustered.)
	SBSSLRemote string
	SSLClient   tlsutil.Files

	// When clustered: the members' TCP remotes (tcp:127.0.0.1:PORT,…;
	// root namespace only), what ovn-northd uses, and the members.
	NBTCPRemote, SBTCPRemote string
	NBMembers, SBMembers     []*Member
	// With Options.NBRelay, SBRelay: the relay's unix socket remote (its
	// Member, with the TCP remote, is Relay(db)).
	NBRelayRemote, SBRelayRemote string

	DPUNetns  string
	HostNetns string // empty unless Options.HostNetns
	HostAddr  net.IP // host end of the host<->dpu link
	DPUAddr   net.IP // dpu end of the host<->dpu link

	// The primary DPU and host; AddDPU and AddHost add the others.
	dpu        *dpuSide
	host       *hostSide
	added      addedSides
	mu         sync.Mutex
	daemons    []*daemon
	netns      []string
	vfs        int
	agents     int
	sslCentral bool
	nbSchema   string // Options.NBSchema, or the Debian default
	sbSchema   string
	opts       Options
	nbRelay    *Member
	sbRelay    *Member
	closeOnce  sync.Once
	limbo      struct {
		once sync.Once
		name string
		err  error
	}
}

// Start brings up the whole sandbox and returns when ovn-controller has
// registered its chassis and created br-int. On error everything started so
// far is torn down.
func Start(ctx context.Context, opts Options) (_ *Bed, err error) {
	b, err := newBed(opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, b.Logs(20))
			b.Close()
		}
	}()
	sweepStaleNetns(ctx, b)
	sweepStaleDirs()
	// An empty devlink listing from the start, as a DPU without VFs has.
	if err := b.dpu.writeDevlinkLocked(); err != nil {
		return nil, err
	}
	b.sslCentral = opts.SBSSL
	b.opts = opts
	if opts.Underlay {
		b.dpu.encapIP, b.dpu.phyMAC = b.underlayAddr(0)
	}
	b.nbSchema, b.sbSchema = cmp.Or(opts.NBSchema, nbSchema), cmp.Or(opts.SBSchema, sbSchema)
	steps := []func(context.Context) error{b.startCentral, b.startDPUSwitch}
	if !opts.NoController {
		steps = append(steps, b.StartController)
	}
	if opts.HostNetns {
		steps = append(steps, b.startHostNetns)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func newBed(opts Options) (*Bed, error) {
	id := make([]byte, 3)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	b := &Bed{ID: hex.EncodeToString(id)[:5], Chassis: opts.Chassis, Hostname: opts.Hostname}
	if b.Chassis == "" {
		b.Chassis = "dpu-" + b.ID
	}
	if b.Hostname == "" {
		b.Hostname = b.Chassis + ".example"
	}
	// A short dir under /tmp: unix socket paths must stay under 108 bytes,
	// which t.TempDir() paths with long test names do not.
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-%s-", nsPrefix, os.Getpid(), b.ID))
	if err != nil {
		return nil, err
	}
	b.Dir = dir
	b.dpu = newDPUSide(dir, b.Chassis, b.Hostname)
	b.host = b.newHostSide("", hostController, filepath.Join(dir, "host"), filepath.Join(dir, "host-sysfs"), "host-"+b.ID)
	b.NBRemote = "unix:" + filepath.Join(dir, "nb.sock")
	b.SBRemote = "unix:" + filepath.Join(dir, "sb.sock")
	b.OVSRemote = b.dpu.ovsRemote
	return b, nil
}

// startCentral runs the NB and SB ovsdb-servers (or clusters, and
// relays) and ovn-northd.
func (b *Bed) startCentral(ctx context.Context) error {
	// What northd connects to: clustered, every member over TCP.
	nbRemote, sbRemote := b.NBRemote, b.SBRemote
	if size := b.opts.clusterSize(); size > 0 {
		if err := b.startClusteredCentral(ctx, size); err != nil {
			return err
		}
		nbRemote, sbRemote = b.NBTCPRemote, b.SBTCPRemote
	} else if err := b.startStandaloneCentral(ctx); err != nil {
		return err
	}
	if err := b.startRelays(ctx, nbRemote, sbRemote); err != nil {
		return err
	}
	_, err := b.startDaemon("northd", "", "ovn-northd", "--ovnnb-db="+nbRemote, "--ovnsb-db="+sbRemote,
		"--unixctl="+b.ctlPath("northd"))
	if err != nil {
		return err
	}
	// northd is ready when it has written its first state into SB.
	return b.pollReady(ctx, "ovn-northd connects", func() error {
		_, err := b.NBCtl(ctx, "--wait=sb", "sync")
		return err
	})
}

func (b *Bed) startStandaloneCentral(ctx context.Context) error {
	if err := b.startOVSDB(ctx, "nb", b.nbSchema, ""); err != nil {
		return err
	}
	var sslArgs []string
	if b.sslCentral {
		var err error
		if sslArgs, err = b.sslServerArgs(); err != nil {
			return err
		}
	}
	return b.startOVSDB(ctx, "sb", b.sbSchema, "", sslArgs...)
}

// startOVSDB creates a database from schema and serves it on <dir>/<name>.sock.
func (b *Bed) startOVSDB(ctx context.Context, name, schema, netns string, extra ...string) error {
	return b.startOVSDBIn(ctx, b.Dir, name, schema, netns, extra...)
}

// startOVSDBIn is startOVSDB with the database, socket and files in dir.
func (b *Bed) startOVSDBIn(ctx context.Context, dir, name, schema, netns string, extra ...string) error {
	dbFile := filepath.Join(dir, name+".db")
	if _, err := b.run(ctx, "ovsdb-tool", "create", dbFile, schema); err != nil {
		return err
	}
	sock := filepath.Join(dir, name+".sock")
	argv := append([]string{"ovsdb-server", "--remote=punix:" + sock, "--unixctl=" + ctlIn(dir, name+"-ovsdb")}, extra...)
	_, err := b.startDaemonIn(dir, name+"-ovsdb", netns, append(argv, dbFile)...)
	if err != nil {
		return err
	}
	return b.pollReady(ctx, name+" ovsdb-server listens", func() error {
		_, err := b.run(ctx, "ovsdb-client", "list-dbs", "unix:"+sock)
		return err
	})
}

// startDPUSwitch creates the dpu namespace and runs its ovsdb-server and
// ovs-vswitchd, configured for ovn-controller with the netdev datapath.
func (b *Bed) startDPUSwitch(ctx context.Context) error {
	ns, err := b.AddNetns(ctx, "dpu")
	if err != nil {
		return err
	}
	b.DPUNetns, b.dpu.netns = ns, ns
	return b.startSwitch(ctx, b.dpu)
}

// startSwitch runs d's ovsdb-server and ovs-vswitchd in its namespace,
// configured for ovn-controller with the netdev datapath.
func (b *Bed) startSwitch(ctx context.Context, d *dpuSide) error {
	if err := b.startOVSDBIn(ctx, d.dir, "ovs", ovsSchema, d.netns); err != nil {
		return err
	}
	encapIP := "127.0.0.1"
	if d.encapIP != nil {
		encapIP = d.encapIP.String()
	}
	if _, err := b.vsctl(ctx, d, "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
		"external_ids:system-id="+d.chassis,
		"external_ids:hostname="+d.hostname,
		"external_ids:ovn-remote="+b.SBRemote,
		"external_ids:ovn-encap-type=geneve",
		"external_ids:ovn-encap-ip="+encapIP,
		"external_ids:ovn-bridge-datapath-type=netdev"); err != nil {
		return err
	}
	return b.startVswitchd(ctx, d)
}

// StartVswitchd runs ovs-vswitchd in the dpu namespace against its
// database; tests that kill it (KillDaemon) call it again.
func (b *Bed) StartVswitchd(ctx context.Context) error { return b.startVswitchd(ctx, b.dpu) }

// startVswitchd runs d's ovs-vswitchd and, with an underlay, sets br-phy
// up: a restarted ovs-vswitchd makes a new tap, without the address, and
// has forgotten its peers' MACs.
func (b *Bed) startVswitchd(ctx context.Context, d *dpuSide) error {
	// --disable-system: there is no kernel datapath here, only netdev.
	if _, err := b.startDaemonIn(d.dir, string(Vswitchd), d.netns, "ovs-vswitchd", "--disable-system",
		"--unixctl="+ctlIn(d.dir, string(Vswitchd)), d.ovsRemote); err != nil {
		return err
	}
	err := b.pollReady(ctx, "ovs-vswitchd connects", func() error {
		_, err := b.appctl(ctx, d, string(Vswitchd), "version")
		return err
	})
	if err != nil || d.encapIP == nil {
		return err
	}
	return b.startPhyBridge(ctx, d)
}

// StartController runs ovn-controller in the dpu namespace and waits for its
// chassis in SB and br-int in OVS. Tests that stop it can call it again.
func (b *Bed) StartController(ctx context.Context) error { return b.startController(ctx, b.dpu) }

func (b *Bed) startController(ctx context.Context, d *dpuSide) error {
	argv := append([]string{"ovn-controller", d.ovsRemote}, b.opts.ControllerArgs...)
	if _, err := b.startDaemonIn(d.dir, string(Controller), d.netns, argv...); err != nil {
		return err
	}
	return b.waitChassis(ctx, d)
}

// WaitChassis waits until the bed's chassis is registered in SB and br-int
// exists.
func (b *Bed) WaitChassis(ctx context.Context) error { return b.waitChassis(ctx, b.dpu) }

func (b *Bed) waitChassis(ctx context.Context, d *dpuSide) error {
	return b.pollReady(ctx, "ovn-controller registers chassis "+d.chassis, func() error {
		if _, err := b.SBCtl(ctx, "get", "Chassis", d.chassis, "name"); err != nil {
			return err
		}
		_, err := b.vsctl(ctx, d, "--no-wait", "br-exists", "br-int")
		return err
	})
}

// StopController stops ovn-controller the way a crash or `systemctl stop`
// without --restart would leave things: the process is gone, the chassis
// row stays until someone deletes it.
func (b *Bed) StopController() {
	for _, d := range b.daemonsNamed(Controller) {
		d.stop()
		b.forget(d)
	}
}

// startHostNetns creates the host namespace and its link to the dpu.
func (b *Bed) startHostNetns(ctx context.Context) error {
	ns, err := b.AddNetns(ctx, "host")
	if err != nil {
		return err
	}
	b.HostNetns, b.host.netns = ns, ns
	b.HostAddr, b.DPUAddr, err = b.hostLink(ctx, ns, b.DPUNetns, "")
	return err
}

// hostLink joins hostNetns to dpuNetns by a veth, hl<id><suffix> on the
// host and dl<id><suffix> on the DPU, on the next /30 of 192.0.2.0/24:
// the primary's is the first (192.0.2.1 and .2), one more per AddDPU and
// AddHost.
func (b *Bed) hostLink(ctx context.Context, hostNetns, dpuNetns, suffix string) (hostIP, dpuIP net.IP, err error) {
	b.mu.Lock()
	n := b.added.links
	b.added.links++
	b.mu.Unlock()
	if n >= 64 {
		return nil, nil, errors.New("no /30 left in 192.0.2.0/24 for another host<->DPU link")
	}
	hostIP, dpuIP = net.IPv4(192, 0, 2, byte(4*n+1)), net.IPv4(192, 0, 2, byte(4*n+2))
	hostEnd, dpuEnd := "hl"+b.ID+suffix, "dl"+b.ID+suffix
	cmds := [][]string{
		{"ip", "link", "add", hostEnd, "netns", hostNetns, "type", "veth", "peer", "name", dpuEnd, "netns", dpuNetns},
		{"ip", "-n", hostNetns, "addr", "add", hostIP.String() + "/30", "dev", hostEnd},
		{"ip", "-n", dpuNetns, "addr", "add", dpuIP.String() + "/30", "dev", dpuEnd},
		{"ip", "-n", hostNetns, "link", "set", hostEnd, "up"},
		{"ip", "-n", dpuNetns, "link", "set", dpuEnd, "up"},
	}
	return hostIP, dpuIP, b.runAll(ctx, cmds)
}

func (b *Bed) runAll(ctx context.Context, cmds [][]string) error {
	for _, c := range cmds {
		if _, err := b.run(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// NBCtl runs ovn-nbctl against the bed's NB.
// Clustered, it asks only the members that are neither killed nor
// stopped: a client gets no inactivity probes on unix sockets, so one that
// picks a SIGSTOPped member waits for it forever.
func (b *Bed) NBCtl(ctx context.Context, args ...string) (string, error) {
	return b.run(ctx, append([]string{"ovn-nbctl", "--db=" + b.liveRemote(Northbound), "--timeout=20"}, args...)...)
}

// SBCtl runs ovn-sbctl against the bed's SB.
// Clustered, like NBCtl, it asks only the members that run.
func (b *Bed) SBCtl(ctx context.Context, args ...string) (string, error) {
	return b.run(ctx, append([]string{"ovn-sbctl", "--db=" + b.liveRemote(Southbound), "--timeout=20"}, args...)...)
}

// VSCtl runs ovs-vsctl against the dpu's Open_vSwitch database.
func (b *Bed) VSCtl(ctx context.Context, args ...string) (string, error) {
	return b.vsctl(ctx, b.dpu, args...)
}

func (b *Bed) vsctl(ctx context.Context, d *dpuSide, args ...string) (string, error) {
	return b.run(ctx, append([]string{"ovs-vsctl", "--db=" + d.ovsRemote, "--timeout=20"}, args...)...)
}

// Logs returns the last n lines of every daemon's log, for failure reports.
func (b *Bed) Logs(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, d := range b.daemons {
		state := "running"
		if d.exited() {
			state = fmt.Sprintf("exited: %v", d.err)
		}
		fmt.Fprintf(&sb, "=== %s (%s)\n%s\n", d.name, state, Tail(d.logFile, n))
		if d.stderr != d.logFile {
			fmt.Fprintf(&sb, "%s\n", Tail(d.stderr, 5))
		}
	}
	return sb.String()
}

// Close stops every daemon and removes every namespace and the temp dir.
// It is safe to call more than once.
func (b *Bed) Close() error {
	var errs []error
	b.closeOnce.Do(func() {
		b.mu.Lock()
		daemons := b.daemons
		b.daemons = nil
		b.mu.Unlock()
		// Reverse start order: ovn-controller before the databases it uses.
		for i := len(daemons) - 1; i >= 0; i-- {
			daemons[i].stop()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := len(b.netns) - 1; i >= 0; i-- {
			if _, err := b.run(ctx, "ip", "netns", "del", b.netns[i]); err != nil {
				errs = append(errs, err)
			}
		}
		if os.Getenv("ODPU_KEEP_BED") == "" {
			errs = append(errs, os.RemoveAll(b.Dir))
		}
	})
	return errors.Join(errs...)
}

// Leftovers lists what of this bed still exists: namespaces, links named
// with its ID, live daemons, its dir. Empty after Close.
func (b *Bed) Leftovers(ctx context.Context) ([]string, error) {
	var left []string
	out, err := b.run(ctx, "ip", "-o", "link", "show")
	if err != nil {
		return nil, err
	}
	nsList, err := b.run(ctx, "ip", "netns", "list")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(out+"\n"+nsList, "\n") {
		if strings.Contains(line, b.ID) {
			left = append(left, strings.TrimSpace(line))
		}
	}
	if _, err := os.Stat(b.Dir); err == nil {
		left = append(left, b.Dir)
	}
	// Every daemon has the bed's dir in its arguments.
	if pids, _ := b.run(ctx, "pgrep", "-f", b.Dir); pids != "" {
		left = append(left, "processes "+strings.ReplaceAll(pids, "\n", ","))
	}
	return left, nil
}

// AppCtl runs ovs-appctl against one of the bed's daemons ("sb-ovsdb",
// "nb-ovsdb", "ovs-ovsdb", "vswitchd", "northd"; clustered, a Member's
// Name: "nb-1", "sb-3", "nb-relay").
func (b *Bed) AppCtl(ctx context.Context, daemon string, args ...string) (string, error) {
	return b.run(ctx, append([]string{"ovs-appctl", "-t", b.ctlPath(daemon)}, args...)...)
}

// appctl is AppCtl for one of d's daemons.
func (b *Bed) appctl(ctx context.Context, d *dpuSide, daemon string, args ...string) (string, error) {
	return b.run(ctx, append([]string{"ovs-appctl", "-t", ctlIn(d.dir, daemon)}, args...)...)
}
