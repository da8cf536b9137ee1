package scale

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// reference starts a few real ovn-controllers on the same SB relay, each
// with an ovsdb-server of its own (no ovs-vswitchd: the SB session does
// not need it; ovn-controller keeps retrying its OpenFlow connection),
// and measures what their idle sessions cost the relay: what every
// chassis of a reference OVN deployment already pays. It runs before the
// agents start, so that both kinds of session are measured on a relay
// that has not freed memory yet (a heap with free space takes new
// sessions without growing); the ovn-controllers stay for the rest of
// the run, as a deployment's would.
func (r *run) reference() error {
	if r.cfg.References == 0 {
		return nil
	}
	r.progress("reference: %d real ovn-controller sessions on the SB relay", r.cfg.References)
	relay := r.bed.Relay(testbed.Southbound)
	servers := []server{{Name: relay.Name, pid: relay.Pid(), ctl: relay.Ctl}}
	before, err := sample(r.ctx, r.bed, servers)
	if err != nil {
		return err
	}
	var proxies []*Proxy
	for i := range r.cfg.References {
		dir := filepath.Join(r.bed.Dir, fmt.Sprintf("ref%d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p, err := NewProxy(filepath.Join(dir, "sb.sock"), relay.Remote, nil)
		if err != nil {
			return err
		}
		proxies = append(proxies, p)
		r.refProxies = append(r.refProxies, p)
		if err := r.startReference(i, dir, p); err != nil {
			return err
		}
	}
	snap := func() []Counts {
		out := make([]Counts, len(proxies))
		for i, p := range proxies {
			out[i] = p.Counts()
		}
		return out
	}
	if err := waitQuiet(r.ctx, snap, 4*r.cfg.Settle); err != nil {
		return err
	}
	after, err := sample(r.ctx, r.bed, servers)
	if err != nil {
		return err
	}
	ref := &Reference{Count: r.cfg.References, Before: before[relay.Name], After: after[relay.Name]}
	for _, c := range snap() {
		ref.Sync = ref.Sync.Add(c)
	}
	r.res.Ref = ref
	return nil
}

// startReference runs reference ovn-controller i against SB through p and
// waits for its chassis.
func (r *run) startReference(i int, dir string, p *Proxy) error {
	db := filepath.Join(dir, "conf.db")
	if _, err := r.bed.Run(r.ctx, "ovsdb-tool", "create", db, "/usr/share/openvswitch/vswitch.ovsschema"); err != nil {
		return err
	}
	sock := filepath.Join(dir, "ovs.sock")
	if _, err := r.bed.StartProcess(fmt.Sprintf("ref%d-ovsdb", i), "", "ovsdb-server", "--remote=punix:"+sock,
		"--unixctl="+filepath.Join(dir, "ovsdb.ctl"), "--log-file="+filepath.Join(dir, "ovsdb.log"), "-vconsole:off", db); err != nil {
		return err
	}
	chassis := fmt.Sprintf("ref-%s-%d", r.bed.ID, i)
	if err := testbed.Eventually(r.ctx, 30*time.Second, chassis+" OVS DB initialised", func() error {
		_, err := r.bed.Run(r.ctx, "ovs-vsctl", "--db=unix:"+sock, "--timeout=5", "--no-wait", "init", "--",
			"set", "Open_vSwitch", ".", "external_ids:system-id="+chassis, "external_ids:hostname="+chassis+".example",
			"external_ids:ovn-remote=unix:"+p.Listen, "external_ids:ovn-encap-type=geneve",
			fmt.Sprintf("external_ids:ovn-encap-ip=100.65.0.%d", i+1))
		return err
	}); err != nil {
		return err
	}
	if _, err := r.bed.StartProcess(fmt.Sprintf("ref%d-controller", i), "", "ovn-controller", "unix:"+sock,
		"--log-file="+filepath.Join(dir, "controller.log"), "--pidfile="+filepath.Join(dir, "controller.pid"),
		"-vconsole:off"); err != nil {
		return err
	}
	return testbed.Eventually(r.ctx, 30*time.Second, chassis+" registered", func() error {
		_, err := r.bed.SBCtl(r.ctx, "get", "Chassis", chassis, "name")
		return err
	})
}
