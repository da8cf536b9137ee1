package testbed

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Database names one of the central OVN databases.
type Database string

// The central databases, as cluster/status and relay: remotes name them.
const (
	Northbound Database = "OVN_Northbound"
	Southbound Database = "OVN_Southbound"
)

// short is the prefix of the database's file, socket and daemon names.
func (db Database) short() string {
	if db == Southbound {
		return "sb"
	}
	return "nb"
}

// portTries bounds how often a cluster or relay start is retried when one
// of its freshly picked ports turned out to be taken.
const portTries = 3

// Member is one ovsdb-server of a clustered central database
// (Options.Clustered), or a relay (Options.NBRelay, Options.SBRelay; no
// RaftAddr or DBFile). Its fields are read-only; Pid, Running and Stopped
// follow KillMember, StopMember and RestartMember.
type Member struct {
	Name      string   // "nb-1" … "sb-3", "nb-relay": its daemon, log and file names
	DB        Database // what it serves
	Ctl       string   // unixctl socket: ovs-appctl -t Ctl
	Remote    string   // unix:<dir>/<name>.sock, reachable from every namespace
	TCPRemote string   // tcp:127.0.0.1:PORT, in the root namespace only
	RaftAddr  string   // tcp:127.0.0.1:PORT; empty for a relay
	DBFile    string   // <dir>/<name>.db; empty for a relay
	Log       string   // <dir>/<name>.log

	bed     *Bed
	argv    []string
	d       *daemon // nil while killed; guarded by bed.mu, as is stopped
	stopped bool
}

// IsRelay reports whether m is a relay rather than a cluster member.
func (m *Member) IsRelay() bool { return m.RaftAddr == "" }

// Pid is the running ovsdb-server's process id, 0 after KillMember.
func (m *Member) Pid() int {
	m.bed.mu.Lock()
	defer m.bed.mu.Unlock()
	if m.d == nil {
		return 0
	}
	return m.d.cmd.Process.Pid
}

// Running reports whether the process exists (it may be stopped).
func (m *Member) Running() bool {
	m.bed.mu.Lock()
	defer m.bed.mu.Unlock()
	return m.d != nil && !m.d.exited()
}

// Stopped reports whether m is SIGSTOPped (StopMember, StopLeader).
func (m *Member) Stopped() bool {
	m.bed.mu.Lock()
	defer m.bed.mu.Unlock()
	return m.stopped
}

func (m *Member) String() string { return m.Name }

// state describes m for error messages.
func (m *Member) state() string {
	m.bed.mu.Lock()
	defer m.bed.mu.Unlock()
	switch {
	case m.d == nil:
		return "killed"
	case m.d.exited():
		return fmt.Sprintf("exited: %v", m.d.err)
	case m.stopped:
		return "stopped (SIGSTOP)"
	}
	return "running"
}

// ClusterStatus is what `ovs-appctl cluster/status DB` says of a member.
type ClusterStatus struct {
	ServerID      string // short server id, e.g. "f889"
	Status        string // "cluster member", "joining cluster", "left cluster", …
	Role          string // "leader", "follower", "candidate"
	Term          int
	Leader        string // the leader's short server id, "self" or "unknown"
	ElectionTimer int    // milliseconds
	Servers       int    // servers in the cluster configuration this member knows
	Raw           string // the whole output
}

func parseClusterStatus(out string) ClusterStatus {
	st := ClusterStatus{Raw: out}
	inServers := false
	for _, line := range strings.Split(out, "\n") {
		if inServers {
			if strings.HasPrefix(line, " ") && strings.TrimSpace(line) != "" {
				st.Servers++
				continue
			}
			inServers = false
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Server ID":
			st.ServerID, _, _ = strings.Cut(val, " ")
		case "Status":
			st.Status = val
		case "Role":
			st.Role = val
		case "Term":
			st.Term, _ = strconv.Atoi(val)
		case "Leader":
			st.Leader = val
		case "Election timer":
			st.ElectionTimer, _ = strconv.Atoi(val)
		case "Servers":
			inServers = true
		}
	}
	return st
}

func (st ClusterStatus) String() string {
	return fmt.Sprintf("%s, %s, term %d, leader %s, %d servers", st.Status, st.Role, st.Term, st.Leader, st.Servers)
}

// statusTimeout bounds one cluster/status query, so that a member that
// hangs without being known as stopped cannot stall a poll.
const statusTimeout = 2 * time.Second

// Status asks m for its cluster/status. A killed or stopped member is an
// error at once: asking a SIGSTOPped server would only hang.
func (m *Member) Status(ctx context.Context) (ClusterStatus, error) {
	if m.IsRelay() {
		return ClusterStatus{}, fmt.Errorf("%s is a relay: no cluster/status", m.Name)
	}
	if state := m.state(); state != "running" {
		return ClusterStatus{}, fmt.Errorf("%s is %s", m.Name, state)
	}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	out, err := m.bed.run(ctx, "ovs-appctl", "--timeout="+strconv.Itoa(int(statusTimeout/time.Second)), "-t", m.Ctl,
		"cluster/status", string(m.DB))
	if err != nil {
		return ClusterStatus{}, fmt.Errorf("%s: %w", m.Name, err)
	}
	return parseClusterStatus(out), nil
}

// Members returns db's cluster members (nil unless Options.Clustered).
func (b *Bed) Members(db Database) []*Member {
	if db == Southbound {
		return b.SBMembers
	}
	return b.NBMembers
}

// Relay returns db's relay (nil unless Options.NBRelay/SBRelay).
func (b *Bed) Relay(db Database) *Member {
	if db == Southbound {
		return b.sbRelay
	}
	return b.nbRelay
}

// liveRemote is NBRemote or SBRemote without the members that are killed
// or stopped (all of them when none runs, for the error it gives).
func (b *Bed) liveRemote(db Database) string {
	members := b.Members(db)
	if len(members) == 0 {
		if db == Southbound {
			return b.SBRemote
		}
		return b.NBRemote
	}
	var live []string
	for _, m := range members {
		if m.state() == "running" {
			live = append(live, m.Remote)
		}
	}
	if len(live) == 0 {
		unix, _ := remotes(members)
		return unix
	}
	return strings.Join(live, ",")
}

// clusterSize is the number of members per clustered database, 0 when the
// bed runs standalone databases.
func (o Options) clusterSize() int {
	switch {
	case o.ClusterSize > 0:
		return o.ClusterSize
	case o.Clustered:
		return 3
	}
	return 0
}

// startClusteredCentral starts NB and SB as clusters (with SSL listeners
// on every SB member with Options.SBSSL) and applies Options.ElectionTimer.
func (b *Bed) startClusteredCentral(ctx context.Context, size int) error {
	var certs []string
	if b.sslCentral {
		var err error
		if certs, err = b.sslCertArgs(); err != nil {
			return err
		}
	}
	if err := b.startClusters(ctx, size, certs); err != nil {
		return err
	}
	if b.opts.ElectionTimer > 0 {
		for _, db := range []Database{Northbound, Southbound} {
			if err := b.SetElectionTimer(ctx, db, b.opts.ElectionTimer); err != nil {
				return err
			}
		}
	}
	return nil
}

// startRelays starts the relays Options ask for, relaying from the
// remote lists northd uses.
func (b *Bed) startRelays(ctx context.Context, nbSource, sbSource string) error {
	var err error
	if b.opts.NBRelay {
		if b.nbRelay, err = b.startRelay(ctx, Northbound, nbSource); err != nil {
			return err
		}
		b.NBRelayRemote = b.nbRelay.Remote
	}
	if b.opts.SBRelay {
		if b.sbRelay, err = b.startRelay(ctx, Southbound, sbSource); err != nil {
			return err
		}
		b.SBRelayRemote = b.sbRelay.Remote
	}
	return nil
}

// startClusters creates and starts NB and SB as clusters of size members
// each, and waits until each has a leader and every member has joined.
// Ports are picked free just before; when one turns out taken by then,
// everything is discarded and started again on new ports.
func (b *Bed) startClusters(ctx context.Context, size int, sslCerts []string) error {
	for try := 1; ; try++ {
		err := b.tryStartClusters(ctx, size, sslCerts)
		var clash portClashError
		if err == nil || !errors.As(err, &clash) || try == portTries {
			return err
		}
		for _, m := range append(b.NBMembers, b.SBMembers...) {
			b.discard(m)
		}
		b.NBMembers, b.SBMembers = nil, nil
	}
}

func (b *Bed) tryStartClusters(ctx context.Context, size int, sslCerts []string) error {
	// With Options.SBSSL every SB member also listens with SSL.
	var sbExtra [][]string
	if sslCerts != nil {
		ports, err := freePorts(size)
		if err != nil {
			return err
		}
		var ssl []string
		for _, port := range ports {
			sbExtra = append(sbExtra, append([]string{fmt.Sprintf("--remote=pssl:%d:127.0.0.1", port)}, sslCerts...))
			ssl = append(ssl, fmt.Sprintf("ssl:127.0.0.1:%d", port))
		}
		b.SBSSLRemote = strings.Join(ssl, ",")
	}
	var err error
	if b.NBMembers, err = b.newCluster(ctx, Northbound, b.nbSchema, size, nil); err != nil {
		return err
	}
	if b.SBMembers, err = b.newCluster(ctx, Southbound, b.sbSchema, size, sbExtra); err != nil {
		return err
	}
	// The first member of each elects itself at once; the others join it.
	// Starting them only once it listens spares them a reconnect backoff.
	firsts := []*Member{b.NBMembers[0], b.SBMembers[0]}
	for _, m := range firsts {
		if err := b.startMember(m); err != nil {
			return err
		}
	}
	if err := b.pollReady(ctx, "first cluster members elect themselves", func() error {
		return b.clustersFormed(ctx, firsts, 1)
	}); err != nil {
		return err
	}
	all := append(append([]*Member(nil), b.NBMembers...), b.SBMembers...)
	for _, m := range all {
		if m != b.NBMembers[0] && m != b.SBMembers[0] {
			if err := b.startMember(m); err != nil {
				return err
			}
		}
	}
	b.NBRemote, b.NBTCPRemote = remotes(b.NBMembers)
	b.SBRemote, b.SBTCPRemote = remotes(b.SBMembers)
	return b.pollReady(ctx, fmt.Sprintf("NB and SB clusters of %d form", size), func() error {
		return b.clustersFormed(ctx, all, size)
	})
}

// remotes lists members' unix and tcp remotes the way ovn-nbctl --db and
// ovn-remote take them.
func remotes(members []*Member) (unix, tcp string) {
	var u, t []string
	for _, m := range members {
		u, t = append(u, m.Remote), append(t, m.TCPRemote)
	}
	return strings.Join(u, ","), strings.Join(t, ",")
}

// newCluster creates the database files of a size-member cluster of db on
// fresh ports: create-cluster for the first, join-cluster for the others.
// Member i's ovsdb-server gets extra[i] too, if any.
func (b *Bed) newCluster(ctx context.Context, db Database, schema string, size int, extra [][]string) ([]*Member, error) {
	ports, err := freePorts(2 * size)
	if err != nil {
		return nil, err
	}
	var members []*Member
	for i := range size {
		m := b.newMember(db, fmt.Sprintf("%s-%d", db.short(), i+1), ports[2*i])
		m.RaftAddr = fmt.Sprintf("tcp:127.0.0.1:%d", ports[2*i+1])
		m.DBFile = filepath.Join(b.Dir, m.Name+".db")
		if i < len(extra) {
			m.argv = append(m.argv, extra[i]...)
		}
		m.argv = append(m.argv, m.DBFile)
		members = append(members, m)
		// A previous try's file would hold another cluster's id.
		if err := os.Remove(m.DBFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		argv := []string{"ovsdb-tool", "create-cluster", m.DBFile, schema, m.RaftAddr}
		if i > 0 {
			argv = []string{"ovsdb-tool", "join-cluster", m.DBFile, string(db), m.RaftAddr}
			for _, prev := range members[:i] {
				argv = append(argv, prev.RaftAddr)
			}
		}
		if _, err := b.run(ctx, argv...); err != nil {
			return nil, err
		}
	}
	return members, nil
}

// newMember describes an ovsdb-server named name serving db on a unix
// socket and on 127.0.0.1:port; the caller appends the database argument.
func (b *Bed) newMember(db Database, name string, port int) *Member {
	m := &Member{
		Name: name, DB: db, Ctl: b.ctlPath(name), bed: b,
		Remote:    "unix:" + filepath.Join(b.Dir, name+".sock"),
		TCPRemote: fmt.Sprintf("tcp:127.0.0.1:%d", port),
		Log:       filepath.Join(b.Dir, name+".log"),
	}
	m.argv = []string{"ovsdb-server", "--remote=p" + m.Remote, fmt.Sprintf("--remote=ptcp:%d:127.0.0.1", port),
		"--unixctl=" + m.Ctl}
	return m
}

func (b *Bed) startMember(m *Member) error {
	d, err := b.startDaemon(m.Name, "", m.argv...)
	if err != nil {
		return err
	}
	b.mu.Lock()
	m.d, m.stopped = d, false
	b.mu.Unlock()
	return nil
}

// discard kills m and removes its files, before a start is tried again.
func (b *Bed) discard(m *Member) {
	b.mu.Lock()
	d := m.d
	m.d = nil
	b.mu.Unlock()
	if d != nil {
		b.kill(d)
	}
	for _, f := range []string{m.DBFile, m.Log} {
		if f != "" {
			_ = os.Remove(f)
		}
	}
}

// portClashError is a listener of a member or relay that found its port
// taken between freePorts and ovsdb-server's bind.
type portClashError struct{ member, line string }

func (e portClashError) Error() string {
	return fmt.Sprintf("%s: port taken: %s", e.member, e.line)
}

// checkPorts fails with a portClashError when m's log, from offset on,
// says a listener could not bind; ovsdb-server keeps running and retrying.
func checkPorts(m *Member, offset int64) error {
	data, err := os.ReadFile(m.Log)
	if err != nil || int64(len(data)) < offset {
		return nil
	}
	for _, line := range strings.Split(string(data[offset:]), "\n") {
		if strings.Contains(line, "Address already in use") {
			return backoffStop{portClashError{m.Name, line}}
		}
	}
	return nil
}

// listening reports whether m's ovsdb-server itself holds the listening
// socket of its TCP port. The log's bind error (checkPorts) may come
// after the member looks ready, and an ovsdb-server that failed to bind
// keeps retrying: if whoever held the port lets it go, it binds later,
// on a port the bed already gave up on. Owning the listener is proof.
func listening(m *Member) (bool, error) {
	pid := m.Pid()
	_, portStr, _ := strings.Cut(strings.TrimPrefix(m.TCPRemote, "tcp:127.0.0.1"), ":")
	port, err := strconv.Atoi(portStr)
	if pid == 0 || err != nil {
		return false, fmt.Errorf("%s: no process or no TCP port (%q)", m.Name, m.TCPRemote)
	}
	data, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return false, err
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		f := strings.Fields(line)
		// local_address is HEXIP:HEXPORT, st 0A is LISTEN, inode the 10th field.
		if len(f) > 9 && f[3] == "0A" && strings.HasSuffix(f[1], fmt.Sprintf(":%04X", port)) {
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return false, err
	}
	for _, fd := range fds {
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); err == nil && inodes[target] {
			return true, nil
		}
	}
	return false, nil
}

// ownsPort is listening as a readiness check.
func ownsPort(m *Member) error {
	ok, err := listening(m)
	if err == nil && !ok {
		err = fmt.Errorf("%s does not listen on %s yet", m.Name, m.TCPRemote)
	}
	return err
}

// clustersFormed checks that every member is a cluster member that knows
// a leader and size servers, and that each database has one leader.
func (b *Bed) clustersFormed(ctx context.Context, members []*Member, size int) error {
	leaders := map[Database]int{}
	for _, m := range members {
		if err := checkPorts(m, 0); err != nil {
			return err
		}
		if err := ownsPort(m); err != nil {
			return err
		}
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if st.Status != "cluster member" || st.Leader == "unknown" || st.Leader == "" || st.Servers != size {
			return fmt.Errorf("%s not joined yet: %s", m.Name, st)
		}
		if st.Role == "leader" {
			leaders[m.DB]++
		}
	}
	for _, m := range members {
		if leaders[m.DB] != 1 {
			return fmt.Errorf("%s: %d leaders", m.DB, leaders[m.DB])
		}
	}
	return nil
}

// freePorts asks the kernel for n distinct free TCP ports on loopback,
// holding them all open until it has them all. Another process could take
// one before ovsdb-server binds it: the starts above check for that. A
// variable, so that a test can hand out a taken port.
var freePorts = func(n int) ([]int, error) {
	var ports []int
	for range n {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer lis.Close()
		ports = append(ports, lis.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startRelay runs an ovsdb-server relaying db from source (a remote list)
// on <dir>/<db>-relay.sock and a loopback port, and waits until it has
// connected to source.
func (b *Bed) startRelay(ctx context.Context, db Database, source string) (*Member, error) {
	for try := 1; ; try++ {
		ports, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		m := b.newMember(db, db.short()+"-relay", ports[0])
		m.argv = append(m.argv, fmt.Sprintf("relay:%s:%s", db, source))
		_ = os.Remove(m.Log)
		if err := b.startMember(m); err != nil {
			return nil, err
		}
		err = b.pollReady(ctx, m.Name+" syncs from "+source, func() error {
			if err := checkPorts(m, 0); err != nil {
				return err
			}
			if err := ownsPort(m); err != nil {
				return err
			}
			return b.relaySynced(ctx, m)
		})
		var clash portClashError
		if err == nil || !errors.As(err, &clash) || try == portTries {
			return m, err
		}
		b.discard(m)
	}
}

// relaySynced checks that the relay reports its database connected.
func (b *Bed) relaySynced(ctx context.Context, m *Member) error {
	query := fmt.Sprintf(`["_Server",{"op":"select","table":"Database","where":[["name","==","%s"]],"columns":["connected"]}]`, m.DB)
	out, err := b.run(ctx, "ovsdb-client", "transact", m.Remote, query)
	if err != nil {
		return err
	}
	if !strings.Contains(out, `"connected":true`) {
		return fmt.Errorf("%s not connected to its source yet: %s", m.Name, out)
	}
	return nil
}

// Leader returns db's leader, asking every member that runs and is not
// stopped. While an election is under way it waits (bounded by ctx and the
// start timeout) for one. A member that claims leadership at a lower term
// than another member has seen is not the leader.
func (b *Bed) Leader(ctx context.Context, db Database) (*Member, error) {
	members := b.Members(db)
	if len(members) == 0 {
		return nil, fmt.Errorf("%s is not clustered (Options.Clustered)", db)
	}
	var leader *Member
	err := Eventually(ctx, startTimeout, string(db)+" has a leader", func() error {
		var err error
		leader, err = b.leaderNow(ctx, members)
		return err
	})
	return leader, err
}

func (b *Bed) leaderNow(ctx context.Context, members []*Member) (*Member, error) {
	var (
		leader     *Member
		leaderTerm int
		maxTerm    int
		seen       []string
	)
	for _, m := range members {
		st, err := m.Status(ctx)
		if err != nil {
			seen = append(seen, err.Error())
			continue
		}
		seen = append(seen, fmt.Sprintf("%s: %s", m.Name, st))
		maxTerm = max(maxTerm, st.Term)
		if st.Role == "leader" && st.Term >= leaderTerm {
			leader, leaderTerm = m, st.Term
		}
	}
	if leader == nil || leaderTerm < maxTerm {
		return nil, fmt.Errorf("no leader: %s", strings.Join(seen, "; "))
	}
	return leader, nil
}

// WaitNewLeader waits until a member other than old leads db, and returns it.
func (b *Bed) WaitNewLeader(ctx context.Context, db Database, old *Member) (*Member, error) {
	var leader *Member
	err := Eventually(ctx, startTimeout, fmt.Sprintf("%s elects a leader other than %s", db, old), func() error {
		var err error
		if leader, err = b.leaderNow(ctx, b.Members(db)); err != nil {
			return err
		}
		if leader == old {
			return fmt.Errorf("%s still leads", old)
		}
		return nil
	})
	return leader, err
}

// KillMember ends m with SIGKILL (also when stopped), as a crash or the
// OOM killer would. Close and the readiness checks forget it;
// RestartMember starts it again on the same files and addresses.
func (b *Bed) KillMember(m *Member) {
	b.mu.Lock()
	d := m.d
	m.d, m.stopped = nil, false
	b.mu.Unlock()
	if d != nil {
		b.kill(d)
	}
}

// KillLeader kills db's current leader and returns it.
func (b *Bed) KillLeader(ctx context.Context, db Database) (*Member, error) {
	m, err := b.Leader(ctx, db)
	if err != nil {
		return nil, err
	}
	b.KillMember(m)
	return m, nil
}

// StopMember freezes m with SIGSTOP, as a hung server: its sockets stay
// open but it answers nothing. The returned func (or ContinueMember) lets
// it go on; Close continues it before it stops it.
func (b *Bed) StopMember(m *Member) (resume func() error, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.d == nil || m.d.exited() {
		return nil, fmt.Errorf("stop %s: not running", m.Name)
	}
	if err := syscall.Kill(-m.d.cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("stop %s: %w", m.Name, err)
	}
	m.stopped = true
	return func() error { return b.ContinueMember(m) }, nil
}

// ContinueMember sends SIGCONT to a member StopMember froze; it is a no-op
// for one that is not stopped.
func (b *Bed) ContinueMember(m *Member) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !m.stopped || m.d == nil {
		return nil
	}
	m.stopped = false
	if err := syscall.Kill(-m.d.cmd.Process.Pid, syscall.SIGCONT); err != nil {
		return fmt.Errorf("continue %s: %w", m.Name, err)
	}
	return nil
}

// StopLeader SIGSTOPs db's current leader and returns it with the func
// that continues it.
func (b *Bed) StopLeader(ctx context.Context, db Database) (*Member, func() error, error) {
	m, err := b.Leader(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	resume, err := b.StopMember(m)
	return m, resume, err
}

// TransferLeadership makes db's leader hand leadership over, the way it
// does before writing a snapshot (`cluster/failure-test
// transfer-leadership`: the leader steps down and asks its most
// up-to-date follower to start an election at once). It returns the old
// and the new leader.
func (b *Bed) TransferLeadership(ctx context.Context, db Database) (from, to *Member, err error) {
	from, err = b.Leader(ctx, db)
	if err != nil {
		return nil, nil, err
	}
	if out, err := b.AppCtl(ctx, from.Name, "cluster/failure-test", "transfer-leadership"); err != nil {
		return from, nil, fmt.Errorf("transfer leadership from %s: %w (%s)", from, err, out)
	}
	to, err = b.WaitNewLeader(ctx, db, from)
	// The test disarms itself once done; make sure it cannot fire again
	// should this member lead again.
	if out, cerr := b.AppCtl(ctx, from.Name, "cluster/failure-test", "clear"); cerr != nil {
		err = errors.Join(err, fmt.Errorf("clear failure test on %s: %w (%s)", from, cerr, out))
	}
	return from, to, err
}

// RestartMember starts a killed member again with its old files and
// addresses and waits until it is back in its cluster (a relay: until it
// has synced again).
func (b *Bed) RestartMember(ctx context.Context, m *Member) error {
	if m.Running() {
		return fmt.Errorf("restart %s: still running", m.Name)
	}
	var offset int64
	if fi, err := os.Stat(m.Log); err == nil {
		offset = fi.Size()
	}
	if err := b.startMember(m); err != nil {
		return err
	}
	return b.pollReady(ctx, m.Name+" is back", func() error {
		if err := checkPorts(m, offset); err != nil {
			return err
		}
		if m.IsRelay() {
			return b.relaySynced(ctx, m)
		}
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		if st.Status != "cluster member" || st.Leader == "unknown" || st.Leader == "" {
			return fmt.Errorf("%s not back yet: %s", m.Name, st)
		}
		return nil
	})
}

// SetElectionTimer changes db's RAFT election timer (OVS's default is 1 s;
// a follower starts an election after 1 to 2 timers without a heartbeat).
// The leader may only double it per step, so it steps there, waiting each
// time until every running member has the new value.
func (b *Bed) SetElectionTimer(ctx context.Context, db Database, timer time.Duration) error {
	target := int(timer / time.Millisecond)
	for {
		leader, err := b.Leader(ctx, db)
		if err != nil {
			return err
		}
		st, err := leader.Status(ctx)
		if err != nil {
			return err
		}
		if st.ElectionTimer == target {
			return nil
		}
		next := target
		if st.ElectionTimer > 0 && target > 2*st.ElectionTimer {
			next = 2 * st.ElectionTimer
		}
		if out, err := b.AppCtl(ctx, leader.Name, "cluster/change-election-timer", string(db), strconv.Itoa(next)); err != nil {
			return fmt.Errorf("%s: election timer %d ms: %w (%s)", leader, next, err, out)
		}
		if err := Eventually(ctx, startTimeout, fmt.Sprintf("%s election timer %d ms", db, next), func() error {
			for _, m := range b.Members(db) {
				if !m.Running() || m.Stopped() {
					continue
				}
				st, err := m.Status(ctx)
				if err != nil {
					return err
				}
				if st.ElectionTimer != next {
					return fmt.Errorf("%s: election timer %d ms", m.Name, st.ElectionTimer)
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
}

// NBCtlAt runs ovn-nbctl against remote, one member or relay or any list
// of them. Against a relay it adds --no-leader-only: ovn-nbctl insists on
// the leader by default, and a relay never says it is one.
func (b *Bed) NBCtlAt(ctx context.Context, remote string, args ...string) (string, error) {
	return b.ctlAt(ctx, "ovn-nbctl", remote, args)
}

// SBCtlAt is NBCtlAt for ovn-sbctl.
func (b *Bed) SBCtlAt(ctx context.Context, remote string, args ...string) (string, error) {
	return b.ctlAt(ctx, "ovn-sbctl", remote, args)
}

func (b *Bed) ctlAt(ctx context.Context, tool, remote string, args []string) (string, error) {
	argv := []string{tool, "--db=" + remote, "--timeout=20"}
	if b.isRelay(remote) {
		argv = append(argv, "--no-leader-only")
	}
	return b.run(ctx, append(argv, args...)...)
}

// isRelay reports whether a remote list names one of the bed's relays.
func (b *Bed) isRelay(remote string) bool {
	for _, r := range strings.Split(remote, ",") {
		for _, relay := range []*Member{b.nbRelay, b.sbRelay} {
			if relay != nil && (r == relay.Remote || r == relay.TCPRemote) {
				return true
			}
		}
	}
	return false
}
