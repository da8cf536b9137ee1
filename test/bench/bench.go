// Package bench is the attach-speed benchmark: on one real-OVN test bed
// (package testbed) with both agents, it times ovn-dpu's CNI ADD and DEL
// against baselines measured in the same run, on the same sandbox:
//
//   - OVN's own plug: ovn-controller started with --enable-dummy-vif-plug
//     and an LSP with options:vif-plug-type=dummy and requested-chassis;
//     the dummy provider creates an OVS internal port named after the LSP
//     (its first 15 bytes) with iface-id set. Timed from the NB insert to
//     the Interface's external_ids:ovn-installed=true.
//   - the CMS-side plug: the LSP written, and `ovs-vsctl add-port br-int
//     <veth> -- set Interface <veth> external_ids:iface-id=<lsp>` issued
//     the moment its Port_Binding appears in SB (a monitor, not a poll):
//     the best any external plugger can do. Same timing.
//   - the exec floor: ovn-dpu-cni and the IPAM plugin exec'd with
//     CNI_COMMAND=VERSION, no work behind them.
//
// Single attaches are interleaved (the methods take turns, in rotating
// order) after one warm-up attach and detach each; bursts of N concurrent
// ADDs and then DELs are timed until all returned (ours) or all ports are
// installed / gone (baselines). It also reads the host agent's "ADD
// stages" log lines, both agents' RSS, and the DPU agent's RSS with
// thousands of foreign Port_Bindings in SB. Run returns the numbers;
// Result.WriteReport prints them with the targets met or missed, and
// WriteSVG plots them. `make bench` runs it in full through
// test/cmd/ovn-dpu-bench; TestSmoke runs the same code with tiny
// parameters in `go test ./...`.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// Config chooses how much the bench measures.
type Config struct {
	// Samples is the number of single attaches per method (the report's
	// medians and p90s want at least 15).
	Samples int
	// Bursts are the burst sizes (at most 3, each at most 256).
	Bursts []int
	// Foreign is the number of foreign Port_Bindings for the DPU agent's
	// RSS (0: skip), requested by ForeignChassis real Chassis rows
	// (default 4) on a switch with no port on this DPU.
	Foreign, ForeignChassis int
	// Progress, when set, gets a line per phase.
	Progress io.Writer
}

// Method keys of Result.Single and BurstResult.
const (
	Ours      = "ours"       // cnitool add → result
	OursAgent = "ours-agent" // host agent received the ADD → answered
	OVNPlug   = "ovn-plug"   // OVN's own (dummy) plug: NB insert → ovn-installed
	CMSPlug   = "cms-plug"   // CMS-side plug: NB insert → ovn-installed
	ExecFloor = "exec-floor" // ovn-dpu-cni + IPAM plugin, CNI_COMMAND=VERSION
)

// Result is what one run measured.
type Result struct {
	Config  Config
	Machine string // CPUs, load, OVN and OVS versions
	Started time.Time
	Took    time.Duration
	// Warmup is each method's first attach (not in the statistics).
	Warmup map[string]time.Duration
	// Single holds each method's single-attach latencies; SingleDel the
	// detaches that followed (ours: cnitool del → representor out of
	// br-int and LSP out of NB; baselines: LSP delete → interface gone).
	Single, SingleDel map[string][]time.Duration
	// AgentSideFrom says which log line OursAgent came from.
	AgentSideFrom string
	// SingleStages and BurstStages are the host agent's "ADD stages"
	// attributes (ms) of the single attaches and of each burst's ADDs.
	SingleStages []map[string]float64
	BurstStages  map[int][]map[string]float64
	Bursts       []BurstResult
	RSS          RSSResult
	Foreign      ForeignResult
}

// BurstResult is one burst size: for each method, when each of the N
// ADDs (and then DELs) completed, counted from the burst's start.
type BurstResult struct {
	N        int
	Add, Del map[string][]time.Duration
	// GoneAfterLastDel is how long after the last of our DELs returned
	// the last of its ports left br-int and NB (≤ 0: all were gone by then).
	GoneAfterLastDel time.Duration
}

// RSSResult holds VmRSS in bytes: after the warm-up, with the largest
// burst's attachments, and with the foreign bindings.
type RSSResult struct {
	HostIdle, DPUIdle, HostBurst, DPUBurst, HostForeign, DPUForeign int64
	BurstN                                                          int
}

// ForeignResult is the foreign-bindings phase.
type ForeignResult struct {
	Count, Chassis int
	Took           time.Duration // writing them and northd binding them
	// Resolved: the first binding's requested_chassis is a Chassis row.
	Resolved bool
	// Attach is one of our attaches with them in SB.
	Attach time.Duration
}

const (
	logicalSwitch = "bench"
	waitTimeout   = 60 * time.Second
)

// run is one bench run in progress.
type run struct {
	cfg   Config
	ctx   context.Context
	t0    time.Time
	bed   *testbed.Bed
	host  *testbed.HostAgent
	dpu   *testbed.DPUAgent
	rec   *recorder
	mon   *monitors
	cms   *plugger
	res   *Result
	macs  int
	dataD string
	// stopCMS ends the plugger (before the bed closes).
	stopCMS func()
}

// Run starts a bed, measures everything Config asks and tears the bed
// down, on failure too.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, ctx: ctx, t0: time.Now(), rec: newRecorder(),
		res: &Result{Config: cfg, Started: time.Now(), Warmup: map[string]time.Duration{},
			Single: map[string][]time.Duration{}, SingleDel: map[string][]time.Duration{}, BurstStages: map[int][]map[string]float64{}}}
	r.res.Machine = machine()
	defer func() {
		if r.stopCMS != nil {
			r.stopCMS()
		}
		if r.mon != nil {
			r.mon.close()
		}
		if r.bed != nil {
			r.bed.Close()
		}
	}()
	if err := r.all(); err != nil {
		if r.bed != nil {
			err = fmt.Errorf("%w\nhost agent log:\n%s\nbed logs:\n%s", err, testbed.Tail(r.hostLog(), 15), r.bed.Logs(10))
		}
		return nil, err
	}
	r.res.Machine += fmt.Sprintf("; load at the end %s", loadAvg())
	r.res.Took = time.Since(r.t0)
	return r.res, nil
}

func (c *Config) validate() error {
	if c.Samples < 1 || c.Samples > 250 {
		return fmt.Errorf("samples %d: want 1..250", c.Samples)
	}
	if len(c.Bursts) > 3 {
		return fmt.Errorf("%d burst sizes: at most 3", len(c.Bursts))
	}
	for _, n := range c.Bursts {
		if n < 1 || n > 256 {
			return fmt.Errorf("burst of %d: want 1..256", n)
		}
	}
	if c.ForeignChassis <= 0 {
		c.ForeignChassis = 4
	}
	return nil
}

func (r *run) progress(format string, args ...any) {
	if r.cfg.Progress != nil {
		fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.t0).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *run) hostLog() string {
	if r.host == nil {
		return ""
	}
	return r.host.Log
}

// pool is the VFs and pods one phase uses: ours get published VFs and a
// pod each, the CMS-side plug unpublished VFs, whose representors are
// plain veths in the dpu namespace that the DPU agent does not know.
type pool struct {
	vfs  []*testbed.VF
	pods []string
	veth []*testbed.VF
}

func (r *run) all() error {
	if err := r.setup(); err != nil {
		return err
	}
	// Every phase gets fresh VFs, pods and names: nothing waits for a
	// previous attachment's leftovers.
	singles, err := r.pool(0, r.cfg.Samples+2, "s")
	if err != nil {
		return err
	}
	bursts := make([]*pool, len(r.cfg.Bursts))
	for k, n := range r.cfg.Bursts {
		if bursts[k], err = r.pool(2+2*k, n, fmt.Sprintf("b%d-", n)); err != nil {
			return err
		}
	}
	r.progress("bed %s up: %d fake VFs, %d pods", r.bed.ID, 2*(r.cfg.Samples+2)+2*sum(r.cfg.Bursts), r.cfg.Samples+2+sum(r.cfg.Bursts))
	if err := r.warmup(singles); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := r.readRSS(&r.res.RSS.HostIdle, &r.res.RSS.DPUIdle); err != nil {
		return err
	}
	if err := r.singles(singles); err != nil {
		return err
	}
	for k, n := range r.cfg.Bursts {
		br, err := r.burst(n, bursts[k])
		if err != nil {
			return fmt.Errorf("burst of %d: %w", n, err)
		}
		r.res.Bursts = append(r.res.Bursts, br)
	}
	if err := r.stages(singles, bursts); err != nil {
		return err
	}
	r.mon.close() // the foreign bindings are not the monitors' business
	r.mon = nil
	if r.cfg.Foreign > 0 {
		if err := r.foreign(singles); err != nil {
			return fmt.Errorf("foreign bindings: %w", err)
		}
	}
	return nil
}

func sum(ns []int) int {
	t := 0
	for _, n := range ns {
		t += n
	}
	return t
}

// setup starts the bed (ovn-controller with the dummy VIF plug provider),
// both agents joined by mTLS over the host-dpu link as in production, the
// monitors and the CMS-side plugger.
func (r *run) setup() error {
	ctx := r.ctx
	bed, err := testbed.Start(ctx, testbed.Options{HostNetns: true, ControllerArgs: []string{"--enable-dummy-vif-plug"}})
	if err != nil {
		return err
	}
	r.bed = bed
	r.dataD = filepath.Join(bed.Dir, "host-local")
	// ovn-controller does not unplug for 10 s after it starts (OVN's own
	// tests of the dummy provider say this too); only a startup guard.
	if _, err := bed.ControllerAppCtl(ctx, "debug/ignore-startup-delay"); err != nil {
		return err
	}
	if _, err := bed.NBCtl(ctx, "ls-add", logicalSwitch); err != nil {
		return err
	}
	ca, err := tlstest.NewCA("ovn-dpu bench CA")
	if err != nil {
		return err
	}
	pki := filepath.Join(bed.Dir, "pki")
	dpuCert, err := ca.Issue(pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr))
	if err != nil {
		return err
	}
	hostCert, err := ca.Issue(pki, "host-agent", tlstest.WithDNSNames(bed.HostNode()))
	if err != nil {
		return err
	}
	dpuAddr := bed.DPUAddr.String() + ":50151"
	// Info, as in production: debug logging would be part of what we time.
	if r.dpu, err = bed.StartDPUAgent(ctx, "--listen="+dpuAddr, "--insecure=false", "--log-level=info",
		"--tls-cert="+dpuCert.Cert, "--tls-key="+dpuCert.Key, "--tls-ca="+dpuCert.CA); err != nil {
		return err
	}
	if r.host, err = bed.StartHostAgent(ctx, dpuAddr, "--log-level=info",
		"--tls-cert="+hostCert.Cert, "--tls-key="+hostCert.Key, "--tls-ca="+hostCert.CA); err != nil {
		return err
	}
	if r.mon, err = openMonitors(ctx, bed.NBRemote, bed.SBRemote, bed.OVSRemote, logicalSwitch, r.rec); err != nil {
		return err
	}
	r.cms = newPlugger(bed)
	r.rec.mu.Lock()
	r.rec.onBinding = r.cms.bindingAppeared
	r.rec.mu.Unlock()
	pctx, stop := context.WithCancel(ctx)
	r.stopCMS = func() { stop(); <-r.cms.done }
	go r.cms.run(pctx)
	return nil
}

// pool makes n (+ the CMS's n) fake VFs on PFs pf and pf+1, and n pods.
func (r *run) pool(pf, n int, prefix string) (*pool, error) {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	p := &pool{}
	var err error
	if p.vfs, err = r.bed.AddVFs(r.ctx, pf, idx, testbed.VFOptions{}); err != nil {
		return nil, err
	}
	if p.veth, err = r.bed.AddVFs(r.ctx, pf+1, idx, testbed.VFOptions{Unpublished: true}); err != nil {
		return nil, err
	}
	for i := range n {
		pod, err := r.bed.AddPod(r.ctx, fmt.Sprintf("%s%d", prefix, i))
		if err != nil {
			return nil, err
		}
		p.pods = append(p.pods, pod)
	}
	return p, nil
}

// netconf is the network configuration of our attachment on VF pci.
func (r *run) netconf(pci string) map[string]any {
	return map[string]any{
		"cniVersion": "1.1.0", "name": "ovnnet", "type": "ovn-dpu-cni",
		"logicalSwitch": logicalSwitch, "agentSocket": r.host.Socket, "deviceID": pci,
		"timeoutSeconds": 60,
		"ipam": map[string]any{"type": "host-local", "dataDir": r.dataD,
			"ranges": [][]map[string]any{{{"subnet": "10.64.0.0/16"}}}},
	}
}

func (r *run) readRSS(host, dpu *int64) error {
	var err error
	if *host, err = testbed.RSS(r.host.Pid()); err != nil {
		return err
	}
	*dpu, err = testbed.RSS(r.dpu.Pid())
	return err
}

// --- ours ---

func cniErr(verb, pod string, res testbed.CNIResult) error {
	if res.Err == nil {
		return nil
	}
	return fmt.Errorf("cnitool %s %s: %v\nstdout: %s\nstderr: %s", verb, pod, res.Err, res.Stdout, res.Stderr)
}

func (r *run) oursAttach(vf *testbed.VF, pod string) (time.Duration, error) {
	start := time.Now()
	res := r.bed.CNITool(r.ctx, "add", pod, r.netconf(vf.PCI))
	took := time.Since(start)
	return took, cniErr("add", pod, res)
}

// oursDetach runs DEL and waits until the representor has left br-int and
// no LSP of ours is left in NB.
func (r *run) oursDetach(vf *testbed.VF, pod string) error {
	if err := cniErr("del", pod, r.bed.CNITool(r.ctx, "del", pod, r.netconf(vf.PCI))); err != nil {
		return err
	}
	if _, err := r.rec.waitIfacesGone(r.ctx, []string{vf.Representor}); err != nil {
		return err
	}
	return r.rec.wait(r.ctx, waitTimeout, "our LSPs gone from NB", func() bool {
		for _, st := range r.rec.lsps {
			if st.present && st.owner == r.host.Node {
				return false
			}
		}
		return true
	})
}

// --- baselines ---

// mac is a fresh MAC for a baseline's LSP.
func (r *run) mac() string {
	r.macs++
	return fmt.Sprintf("0e:44:%02x:%02x:%02x:%02x", r.bed.ID[0], r.bed.ID[1], r.macs>>8, r.macs&0xff)
}

// createLSP writes one LSP on the bench switch in its own transaction, as
// a CMS does per port, and returns its UUID.
func (r *run) createLSP(name, mac string, options map[string]string) (string, error) {
	lsp := &nbdb.LogicalSwitchPort{UUID: "newlsp", Name: name, Addresses: []string{mac}, Options: options}
	txn, err := ops.CreateLSP(r.mon.nb, r.mon.lsUUID, lsp)
	if err != nil {
		return "", err
	}
	res, err := ops.Transact(r.ctx, r.mon.nb, txn)
	if err != nil {
		return "", fmt.Errorf("create LSP %s: %w", name, err)
	}
	return res[0].UUID.GoUUID, nil
}

func (r *run) deleteLSP(uuid string) error {
	txn, err := ops.DeleteLSP(r.mon.nb, uuid)
	if err != nil {
		return err
	}
	_, err = ops.Transact(r.ctx, r.mon.nb, txn)
	return err
}

func (r *run) ovnOptions() map[string]string {
	return map[string]string{"requested-chassis": r.bed.Chassis, "vif-plug-type": "dummy"}
}

func (r *run) cmsOptions() map[string]string {
	return map[string]string{"requested-chassis": r.bed.Chassis}
}

// plugged is a baseline's attach: LSPs written concurrently, one
// transaction each, then each interface's ovn-installed awaited. It
// returns each port's time from the start and the LSPs' UUIDs.
func (r *run) plugged(names, ifaces []string, options map[string]string, expect func(i int)) ([]time.Duration, []string, error) {
	macs := make([]string, len(names))
	for i := range names {
		macs[i] = r.mac()
		if expect != nil {
			expect(i)
		}
	}
	uuids := make([]string, len(names))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	start := time.Now()
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			uuids[i], errs[i] = r.createLSP(name, macs[i], options)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	at, err := r.rec.waitInstalled(r.ctx, ifaces)
	if err != nil {
		return nil, nil, errors.Join(err, r.cms.lastErr())
	}
	return since(start, at), uuids, nil
}

// unplugged is a baseline's detach: LSPs deleted concurrently (and, for
// the CMS-side plug, the interfaces unplugged), then each port's
// departure from OVS awaited; a port counts as done when its interface
// is gone and its delete committed.
func (r *run) unplugged(uuids, ifaces []string, unplug bool) ([]time.Duration, error) {
	committed := make([]time.Time, len(uuids))
	errs := make([]error, len(uuids))
	var wg sync.WaitGroup
	start := time.Now()
	for i, uuid := range uuids {
		if unplug {
			r.cms.unplug(ifaces[i])
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.deleteLSP(uuid)
			committed[i] = time.Now()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	gone, err := r.rec.waitIfacesGone(r.ctx, ifaces)
	if err != nil {
		return nil, errors.Join(err, r.cms.lastErr())
	}
	for i := range gone {
		if committed[i].After(gone[i]) {
			gone[i] = committed[i]
		}
	}
	return since(start, gone), nil
}

func since(start time.Time, at []time.Time) []time.Duration {
	out := make([]time.Duration, len(at))
	for i, t := range at {
		out[i] = t.Sub(start)
	}
	return out
}

func (r *run) ovnAttach(name string) (time.Duration, string, error) {
	d, uuids, err := r.plugged([]string{name}, []string{name}, r.ovnOptions(), nil)
	if err != nil {
		return 0, "", err
	}
	return d[0], uuids[0], nil
}

func (r *run) cmsAttach(name string, veth *testbed.VF) (time.Duration, string, error) {
	d, uuids, err := r.plugged([]string{name}, []string{veth.Representor}, r.cmsOptions(),
		func(int) { r.cms.expect(name, veth.Representor) })
	if err != nil {
		return 0, "", err
	}
	return d[0], uuids[0], nil
}

// execFloor execs the plugin and the IPAM plugin with CNI_COMMAND=VERSION,
// one after the other, as an ADD execs them.
func (r *run) execFloor() (time.Duration, error) {
	conf := r.netconf("0000:00:00.0")
	data, _ := json.Marshal(conf)
	start := time.Now()
	p := r.bed.ExecPlugin(r.ctx, "VERSION", "floor", "", "eth0", conf)
	i := r.bed.ExecBinary(r.ctx, "host-local", data, "CNI_COMMAND=VERSION")
	took := time.Since(start)
	for _, res := range []testbed.CNIResult{p, i} {
		if res.Err != nil || !strings.Contains(res.Stdout, "supportedVersions") {
			return 0, fmt.Errorf("exec floor: VERSION: %v: %s %s", res.Err, res.Stdout, res.Stderr)
		}
	}
	return took, nil
}

// --- phases ---

// warmup attaches and detaches once per method: the first attach on a
// fresh ovn-controller is slow, and ovn-controller does not unplug in its
// first seconds.
func (r *run) warmup(p *pool) error {
	last := r.cfg.Samples
	d, err := r.oursAttach(p.vfs[last], p.pods[last])
	if err != nil {
		return err
	}
	r.res.Warmup[Ours] = d
	if err := r.oursDetach(p.vfs[last], p.pods[last]); err != nil {
		return err
	}
	d, uuid, err := r.ovnAttach("ovw")
	if err != nil {
		return err
	}
	r.res.Warmup[OVNPlug] = d
	if _, err := r.unplugged([]string{uuid}, []string{"ovw"}, false); err != nil {
		return err
	}
	d, uuid, err = r.cmsAttach("cmw", p.veth[last])
	if err != nil {
		return err
	}
	r.res.Warmup[CMSPlug] = d
	if _, err := r.unplugged([]string{uuid}, []string{p.veth[last].Representor}, true); err != nil {
		return err
	}
	if r.res.Warmup[ExecFloor], err = r.execFloor(); err != nil {
		return err
	}
	r.progress("warm-up: ours %v, OVN plug %v, CMS plug %v", r.res.Warmup[Ours].Round(time.Millisecond),
		r.res.Warmup[OVNPlug].Round(time.Millisecond), r.res.Warmup[CMSPlug].Round(time.Millisecond))
	return nil
}

// singles measures Samples single attaches of each method, the methods
// taking turns in an order that rotates, each attachment detached (and
// gone) before the next method's turn.
func (r *run) singles(p *pool) error {
	steps := []func(i int) error{
		func(i int) error {
			d, err := r.oursAttach(p.vfs[i], p.pods[i])
			if err != nil {
				return err
			}
			r.res.Single[Ours] = append(r.res.Single[Ours], d)
			start := time.Now()
			if err := r.oursDetach(p.vfs[i], p.pods[i]); err != nil {
				return err
			}
			r.res.SingleDel[Ours] = append(r.res.SingleDel[Ours], time.Since(start))
			return nil
		},
		func(i int) error {
			name := fmt.Sprintf("ovs%03d", i)
			d, uuid, err := r.ovnAttach(name)
			if err != nil {
				return err
			}
			r.res.Single[OVNPlug] = append(r.res.Single[OVNPlug], d)
			del, err := r.unplugged([]string{uuid}, []string{name}, false)
			if err == nil {
				r.res.SingleDel[OVNPlug] = append(r.res.SingleDel[OVNPlug], del[0])
			}
			return err
		},
		func(i int) error {
			d, uuid, err := r.cmsAttach(fmt.Sprintf("cms%03d", i), p.veth[i])
			if err != nil {
				return err
			}
			r.res.Single[CMSPlug] = append(r.res.Single[CMSPlug], d)
			del, err := r.unplugged([]string{uuid}, []string{p.veth[i].Representor}, true)
			if err == nil {
				r.res.SingleDel[CMSPlug] = append(r.res.SingleDel[CMSPlug], del[0])
			}
			return err
		},
		func(int) error {
			d, err := r.execFloor()
			r.res.Single[ExecFloor] = append(r.res.Single[ExecFloor], d)
			return err
		},
	}
	for i := range r.cfg.Samples {
		for k := range steps {
			if err := steps[(i+k)%len(steps)](i); err != nil {
				return fmt.Errorf("single attach %d: %w", i, err)
			}
		}
	}
	r.progress("%d single attaches per method: ours p50 %v, OVN plug p50 %v, CMS plug p50 %v", r.cfg.Samples,
		median(r.res.Single[Ours]).Round(time.Millisecond), median(r.res.Single[OVNPlug]).Round(time.Millisecond),
		median(r.res.Single[CMSPlug]).Round(time.Millisecond))
	return nil
}

// burst runs n concurrent ADDs and then n DELs of each method.
func (r *run) burst(n int, p *pool) (BurstResult, error) {
	br := BurstResult{N: n, Add: map[string][]time.Duration{}, Del: map[string][]time.Duration{}}
	if err := r.oursBurst(&br, p); err != nil {
		return br, err
	}
	r.progress("burst of %d, ours: all ADDs returned in %v, all DELs in %v", n,
		maxOf(br.Add[Ours]).Round(time.Millisecond), maxOf(br.Del[Ours]).Round(time.Millisecond))

	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ovb%d-%03d", n, i)
	}
	add, uuids, err := r.plugged(names, names, r.ovnOptions(), nil)
	if err != nil {
		return br, fmt.Errorf("OVN plug: %w", err)
	}
	del, err := r.unplugged(uuids, names, false)
	if err != nil {
		return br, fmt.Errorf("OVN unplug: %w", err)
	}
	br.Add[OVNPlug], br.Del[OVNPlug] = add, del
	if err := r.verifyGone(names, names); err != nil {
		return br, err
	}

	veths := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("cmb%d-%03d", n, i)
		veths[i] = p.veth[i].Representor
	}
	add, uuids, err = r.plugged(names, veths, r.cmsOptions(), func(i int) { r.cms.expect(names[i], veths[i]) })
	if err != nil {
		return br, fmt.Errorf("CMS plug: %w", err)
	}
	del, err = r.unplugged(uuids, veths, true)
	if err != nil {
		return br, fmt.Errorf("CMS unplug: %w", err)
	}
	br.Add[CMSPlug], br.Del[CMSPlug] = add, del
	if err := r.verifyGone(veths, names); err != nil {
		return br, err
	}

	floor := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = r.execFloor()
			floor[i] = time.Since(start)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return br, err
	}
	br.Add[ExecFloor], br.Del[ExecFloor] = floor, floor
	r.progress("burst of %d: OVN plug %v / unplug %v, CMS plug %v / unplug %v, exec floor %v", n,
		maxOf(br.Add[OVNPlug]).Round(time.Millisecond), maxOf(br.Del[OVNPlug]).Round(time.Millisecond),
		maxOf(br.Add[CMSPlug]).Round(time.Millisecond), maxOf(br.Del[CMSPlug]).Round(time.Millisecond),
		maxOf(floor).Round(time.Millisecond))
	return br, nil
}

func (r *run) oursBurst(br *BurstResult, p *pool) error {
	n := br.N
	calls := make([]testbed.CNICall, n)
	reps := make([]string, n)
	for i := range calls {
		calls[i] = testbed.CNICall{Pod: p.pods[i], Conf: r.netconf(p.vfs[i].PCI)}
		reps[i] = p.vfs[i].Representor
	}
	var errs []error
	for i, res := range r.bed.CNIToolConcurrent(r.ctx, "add", calls) {
		errs = append(errs, cniErr("add", p.pods[i], res.CNIResult))
		br.Add[Ours] = append(br.Add[Ours], res.Returned)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if _, err := r.rec.waitInstalled(r.ctx, reps); err != nil {
		return fmt.Errorf("after every ADD returned: %w", err)
	}
	var lsps []string
	err := r.rec.wait(r.ctx, waitTimeout, fmt.Sprintf("%d LSPs of ours in NB", n), func() bool {
		lsps = lsps[:0]
		for name, st := range r.rec.lsps {
			if st.present && st.owner == r.host.Node {
				lsps = append(lsps, name)
			}
		}
		return len(lsps) == n
	})
	if err != nil {
		return err
	}
	if n == slicesMax(r.cfg.Bursts) {
		r.res.RSS.BurstN = n
		if err := r.readRSS(&r.res.RSS.HostBurst, &r.res.RSS.DPUBurst); err != nil {
			return err
		}
	}
	var last time.Time
	errs = nil
	for i, res := range r.bed.CNIToolConcurrent(r.ctx, "del", calls) {
		errs = append(errs, cniErr("del", p.pods[i], res.CNIResult))
		br.Del[Ours] = append(br.Del[Ours], res.Returned)
		if res.Ended.After(last) {
			last = res.Ended
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	ifaceGone, err := r.rec.waitIfacesGone(r.ctx, reps)
	if err != nil {
		return fmt.Errorf("after every DEL returned: %w", err)
	}
	lspGone, err := r.rec.waitLSPsGone(r.ctx, lsps)
	if err != nil {
		return fmt.Errorf("after every DEL returned: %w", err)
	}
	var allGone time.Time
	for _, t := range append(ifaceGone, lspGone...) {
		if t.After(allGone) {
			allGone = t
		}
	}
	br.GoneAfterLastDel = allGone.Sub(last)
	return r.verifyGone(reps, lsps)
}

func slicesMax(ns []int) int {
	m := 0
	for _, n := range ns {
		m = max(m, n)
	}
	return m
}

// verifyGone checks with the command-line tools, not the monitors, that
// none of ifaces is a port of br-int and none of lsps is in NB.
func (r *run) verifyGone(ifaces, lsps []string) error {
	ports, err := r.bed.VSCtl(r.ctx, "list-ports", "br-int")
	if err != nil {
		return err
	}
	names, err := r.bed.NBCtl(r.ctx, "--bare", "--columns=name", "list", "Logical_Switch_Port")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, f := range append(strings.Fields(ports), strings.Fields(names)...) {
		have[f] = true
	}
	var left []string
	for _, n := range append(append([]string(nil), ifaces...), lsps...) {
		if have[n] {
			left = append(left, n)
		}
	}
	return errMissing("left in br-int or NB", left)
}

// stages reads the host agent's log: the agent-side time of every ADD
// and the "ADD stages" of the single attaches and of each burst.
func (r *run) stages(singles *pool, bursts []*pool) error {
	lines, err := parseAgentLog(r.host.Log)
	if err != nil {
		return err
	}
	for i := range r.cfg.Samples {
		l, ok := lines[cnitoolContainerID(singles.pods[i])]
		if !ok {
			continue
		}
		if d, from, ok := l.answered(); ok {
			r.res.Single[OursAgent] = append(r.res.Single[OursAgent], d)
			r.res.AgentSideFrom = from
		}
		if l.stages != nil {
			r.res.SingleStages = append(r.res.SingleStages, l.stages)
		}
	}
	for k, n := range r.cfg.Bursts {
		for _, pod := range bursts[k].pods {
			if l := lines[cnitoolContainerID(pod)]; l.stages != nil {
				r.res.BurstStages[n] = append(r.res.BurstStages[n], l.stages)
			}
		}
	}
	if len(r.res.Single[OursAgent]) == 0 {
		return fmt.Errorf("the host agent log %s has no line about the single ADDs", r.host.Log)
	}
	return nil
}

// foreign fills SB with foreign bindings whose requested_chassis are real
// Chassis rows, on a switch with no port on this DPU, then proves the DPU
// agent still serves (one attach) and reads both agents' RSS.
func (r *run) foreign(singles *pool) error {
	chassis := make([]string, r.cfg.ForeignChassis)
	for k := range chassis {
		chassis[k] = fmt.Sprintf("far%d-%s", k, r.bed.ID)
	}
	start := time.Now()
	err := r.bed.AddForeignBindings(r.ctx, testbed.ForeignBindings{Switch: "foreign", Count: r.cfg.Foreign,
		Chassis: chassis, Register: true})
	if err != nil {
		return err
	}
	f := &r.res.Foreign
	f.Count, f.Chassis, f.Took = r.cfg.Foreign, len(chassis), time.Since(start)
	rc, err := r.bed.SBCtl(r.ctx, "--bare", "--columns=requested_chassis", "find", "Port_Binding", "logical_port=foreign00000")
	if err != nil {
		return err
	}
	if rc != "" {
		name, err := r.bed.SBCtl(r.ctx, "--bare", "--columns=name", "list", "Chassis", rc)
		f.Resolved = err == nil && strings.HasPrefix(name, "far")
	}
	r.progress("%d foreign bindings for %d chassis in SB in %v (requested_chassis resolved: %v)",
		f.Count, f.Chassis, f.Took.Round(time.Millisecond), f.Resolved)
	probe := r.cfg.Samples + 1
	if f.Attach, err = r.oursAttach(singles.vfs[probe], singles.pods[probe]); err != nil {
		return err
	}
	if err := cniErr("del", singles.pods[probe], r.bed.CNITool(r.ctx, "del", singles.pods[probe], r.netconf(singles.vfs[probe].PCI))); err != nil {
		return err
	}
	return r.readRSS(&r.res.RSS.HostForeign, &r.res.RSS.DPUForeign)
}

// machine describes where the run happens.
func machine() string {
	cpus := runtime.NumCPU()
	version := func(cmd string) string {
		out, err := exec.Command(cmd, "--version").Output()
		if err != nil {
			return cmd + " ?"
		}
		first, _, _ := strings.Cut(string(out), "\n")
		return first
	}
	return fmt.Sprintf("%d CPUs; %s; %s; load at the start %s", cpus, version("ovn-controller"), version("ovs-vswitchd"), loadAvg())
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
