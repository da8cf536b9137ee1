package hostagent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// journal records the side effects the fakes saw, in order, so a test can
// assert exactly which steps ran and which were undone.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(format string, args ...any) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, fmt.Sprintf(format, args...))
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

// reset forgets what was recorded so far (e.g. a successful ADD), so a
// test can assert what the next verb did on its own.
func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = nil
}

var errInjected = errors.New("injected failure")

// fakeVFs is a sysfs with the VFs a test declares.
type fakeVFs map[string]sysfs.VF

func (f fakeVFs) LookupVF(pci string) (sysfs.VF, error) {
	vf, ok := f[pci]
	if !ok {
		return sysfs.VF{}, fmt.Errorf("%s: %w", pci, sysfs.ErrNoDevice)
	}
	return vf, nil
}

// fakePlumber tracks which VFs are in a pod.
type fakePlumber struct {
	j     *journal
	mu    sync.Mutex
	inPod map[string]string // pod ifname key (netns/ifname) -> host netdev
	// preflightErr fails Preflight, as the real one refuses a bad netns.
	preflightErr error
	moveInErr    error
	moveOutErr   error
	checkErr     error
	checked      *netns.CheckRequest // the last Check's request
	// lost: the VF is at home under neither its name nor our alias; only
	// a MoveOut naming where sysfs found it succeeds.
	lost bool
}

func podKey(netnsPath, ifName string) string { return netnsPath + "/" + ifName }

// Preflight fails with preflightErr; it records nothing when it passes,
// so journals read as before.
func (p *fakePlumber) Preflight(_ context.Context, req netns.MoveInRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.preflightErr != nil {
		p.j.add("vf.preflight-failed %s", req.VFNetdev)
	}
	return p.preflightErr
}

func (p *fakePlumber) MoveIn(ctx context.Context, req netns.MoveInRequest) (netns.Placed, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.moveInErr != nil {
		p.j.add("vf.movein-failed %s", req.VFNetdev)
		return netns.Placed{}, p.moveInErr
	}
	ips := req.IPs
	if req.Addresses != nil {
		// Like the real plumber: asked once the VF is in the pod.
		var err error
		if ips, _, err = req.Addresses(ctx); err != nil {
			p.j.add("vf.movein-failed %s (addresses: %v)", req.VFNetdev, err)
			return netns.Placed{}, fmt.Errorf("addresses for %s: %w", req.IfName, err)
		}
	}
	p.j.add("vf.movein %s -> %s mac %s mtu %d ips %d", req.VFNetdev, req.IfName, req.MAC, req.MTU, len(ips))
	p.inPod[podKey(req.PodNetns, req.IfName)] = req.VFNetdev
	return netns.Placed{IfName: req.IfName, MAC: req.MAC, MTU: req.MTU}, nil
}

func (p *fakePlumber) MoveOut(_ context.Context, req netns.MoveOutRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.moveOutErr != nil {
		p.j.add("vf.moveout-failed %s", req.Original.Name)
		return p.moveOutErr
	}
	if p.lost && req.HomeName == "" {
		p.j.add("vf.moveout-lost %s", req.Original.Name)
		return fmt.Errorf("%w: VF %q by name or alias", netns.ErrLinkNotFound, req.Original.Name)
	}
	// Like the real plumber: a VF already home is success.
	delete(p.inPod, podKey(req.PodNetns, req.IfName))
	home := ""
	if req.HomeName != "" {
		home = " (home as " + req.HomeName + ")"
	}
	p.j.add("vf.moveout %s%s mac %s mtu %d", req.Original.Name, home, req.Original.MAC, req.Original.MTU)
	return nil
}

func (p *fakePlumber) Check(_ context.Context, req netns.CheckRequest) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checked = &req
	if p.checkErr != nil {
		return p.checkErr
	}
	if _, ok := p.inPod[podKey(req.PodNetns, req.IfName)]; !ok {
		return fmt.Errorf("no interface %s in pod %s", req.IfName, req.PodNetns)
	}
	return nil
}

func (p *fakePlumber) lastCheck() *netns.CheckRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.checked
}

func (p *fakePlumber) placed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inPod)
}

// fakeIPAM hands out 10.0.0.N/24 and tracks leases by container/ifname.
type fakeIPAM struct {
	j       *journal
	mu      sync.Mutex
	next    int
	leases  map[string]string
	addErr  error
	delErr  error
	findErr error // what Find reports
	// checkErr and statusErr fail CHECK and STATUS; gcValid is the list
	// the last GC was given.
	checkErr, statusErr error
	gcValid             []string
	// addStarted, when set, is told of every ADD and held until release
	// is closed (to catch a GC in the middle of one).
	addStarted chan struct{}
	release    chan struct{}
}

func (f *fakeIPAM) Find(string, []string) error { return f.findErr }

func (f *fakeIPAM) Check(_ context.Context, req ipam.Request) error {
	f.j.add("ipam.check %s/%s", req.ContainerID, req.IfName)
	return f.checkErr
}

func (f *fakeIPAM) Status(context.Context, ipam.Request) error {
	f.j.add("ipam.status")
	return f.statusErr
}

// GC frees, like host-local, every lease not on the list.
func (f *fakeIPAM) GC(_ context.Context, req ipam.Request) error {
	var conf gcConfig
	if err := json.Unmarshal(req.NetConf, &conf); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	valid := map[string]bool{}
	f.gcValid = nil
	for _, v := range conf.Valid {
		key := v.ContainerID + "/" + v.IfName
		valid[key] = true
		f.gcValid = append(f.gcValid, key)
	}
	slices.Sort(f.gcValid)
	for key := range f.leases {
		if !valid[key] {
			delete(f.leases, key)
			f.j.add("ipam.gc-freed %s", key)
		}
	}
	return nil
}

func (f *fakeIPAM) Add(_ context.Context, req ipam.Request) (*current.Result, error) {
	if f.addStarted != nil {
		f.addStarted <- struct{}{}
		<-f.release
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		f.j.add("ipam.add-failed")
		return nil, f.addErr
	}
	f.next++
	addr := fmt.Sprintf("10.0.0.%d/24", f.next+1)
	ip, ipnet, _ := net.ParseCIDR(addr)
	ipnet.IP = ip
	f.leases[req.ContainerID+"/"+req.IfName] = addr
	f.j.add("ipam.add %s", addr)
	return &current.Result{CNIVersion: current.ImplementedSpecVersion, IPs: []*current.IPConfig{{Address: *ipnet}}}, nil
}

func (f *fakeIPAM) Del(_ context.Context, req ipam.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.delErr != nil {
		f.j.add("ipam.del-failed")
		return f.delErr
	}
	delete(f.leases, req.ContainerID+"/"+req.IfName)
	f.j.add("ipam.del")
	return nil
}

func (f *fakeIPAM) leased() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.leases)
}

// fakeNB is an NB with switches by name and LSPs by name.
type fakeNB struct {
	j        *journal
	node     string
	mu       sync.Mutex
	switches map[string]*nbdb.LogicalSwitch
	lsps     map[string]*nbdb.LogicalSwitchPort
	// dynamic, when set, is what "northd" puts after the MAC in the
	// dynamic_addresses of a port created with "MAC dynamic".
	dynamic string
	// createErr fails CreateLSP; with createCommits the LSP is written
	// anyway, as when the reply of a committed transaction is lost.
	createErr     error
	createCommits bool
	deleteErr     error
}

func (nb *fakeNB) LogicalSwitch(_ context.Context, name string) (*nbdb.LogicalSwitch, error) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if ls, ok := nb.switches[name]; ok {
		return ls, nil
	}
	return nil, fmt.Errorf("logical switch %q does not exist in OVN NB", name)
}

func (nb *fakeNB) WaitDynamicAddresses(ctx context.Context, name, _ string) (string, error) {
	nb.mu.Lock()
	northdUp := nb.dynamic != ""
	nb.mu.Unlock()
	if !northdUp {
		<-ctx.Done()
		return "", ctx.Err()
	}
	nb.mu.Lock()
	defer nb.mu.Unlock()
	lsp := *nb.lsps[name]
	mac, _, _ := strings.Cut(lsp.Addresses[0], " ")
	dynamic := mac + " " + nb.dynamic
	lsp.DynamicAddresses = &dynamic
	nb.lsps[name] = &lsp
	nb.j.add("nb.dynamic %s", name)
	return dynamic, nil
}

func (nb *fakeNB) SetAddresses(_ context.Context, name, _ string, addresses, ps []string) error {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	lsp := *nb.lsps[name]
	lsp.Addresses, lsp.PortSecurity = addresses, ps
	nb.lsps[name] = &lsp
	nb.j.add("nb.addresses %s %s", name, ps)
	return nil
}

func (nb *fakeNB) CreateLSP(_ context.Context, _ string, lsp *nbdb.LogicalSwitchPort) error {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if held, ok := nb.lsps[lsp.Name]; ok && held.ExternalIDs[vifplug.ExtAttachment] != lsp.ExternalIDs[vifplug.ExtAttachment] {
		nb.j.add("nb.create-taken %s", lsp.Name)
		return fmt.Errorf("%w: by %s", errLSPTaken, held.ExternalIDs[vifplug.ExtAttachment])
	}
	if nb.createErr == nil || nb.createCommits {
		nb.lsps[lsp.Name] = lsp
		nb.j.add("nb.create %s", lsp.Name)
	}
	if nb.createErr != nil {
		nb.j.add("nb.create-failed %s", lsp.Name)
	}
	return nb.createErr
}

func (nb *fakeNB) DeleteOwnLSP(_ context.Context, name, attachment string) error {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if nb.deleteErr != nil {
		nb.j.add("nb.delete-failed %s", name)
		return nb.deleteErr
	}
	lsp, ok := nb.lsps[name]
	if ok && lsp.ExternalIDs[vifplug.ExtOwner] == nb.node && lsp.ExternalIDs[vifplug.ExtAttachment] == attachment {
		delete(nb.lsps, name)
	}
	nb.j.add("nb.delete %s", name)
	return nil
}

func (nb *fakeNB) SettleDeleted(_ context.Context, name, _ string) error {
	nb.j.add("nb.settle %s", name)
	return nil
}

func (nb *fakeNB) OwnLSP(_ context.Context, name string) (*nbdb.LogicalSwitchPort, error) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	if lsp, ok := nb.lsps[name]; ok && lsp.ExternalIDs[vifplug.ExtOwner] == nb.node {
		return lsp, nil
	}
	return nil, nil
}

func (nb *fakeNB) OwnLSPs(_ context.Context, network string) ([]*nbdb.LogicalSwitchPort, error) {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	var out []*nbdb.LogicalSwitchPort
	for _, lsp := range nb.lsps {
		if lsp.ExternalIDs[vifplug.ExtOwner] == nb.node && lsp.ExternalIDs[vifplug.ExtNetwork] == network {
			out = append(out, lsp)
		}
	}
	return out, nil
}

func (nb *fakeNB) Connected() bool { return true }
func (nb *fakeNB) Close()          {}

func (nb *fakeNB) lsp(name string) *nbdb.LogicalSwitchPort {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return nb.lsps[name]
}

func (nb *fakeNB) count() int {
	nb.mu.Lock()
	defer nb.mu.Unlock()
	return len(nb.lsps)
}

// fakeDPU answers verdicts as the test says: READY by default, ERROR with
// rejectReason, or never (pending) until the ADD's context ends.
type fakeDPU struct {
	mu    sync.Mutex
	ports map[string]*ovndpuv1.PortStatus // what PortStatus reports
	// unregistered: the DPU's chassis is not in SB.
	unregistered bool
	// setsMAC: the DPU's Info says it sets VF MACs (--set-function-mac).
	setsMAC      bool
	j            *journal
	rejectReason string
	pending      string // when set, WaitReady blocks and then reports this
	unreachable  string // when set, WaitReady reports the stream down for this reason
	// unplugSlow: the DPU does not confirm unplugs (WaitGone waits out
	// its context) until confirmUnplugs.
	unplugSlow atomic.Bool
	confirmed  chan struct{} // closed by confirmUnplugs

	// chassis and pfMACs are its Info (default dpu1 with the harness's
	// PF); down: it has not answered Info and cannot be asked.
	chassis string
	pfMACs  []string
	down    bool
	// latePF joins pfMACs on the latePFAfter-th RefreshInfo: a DPU whose
	// table trails the host.
	latePF      string
	latePFAfter int
	// refusal, when set, is what a down DPU answers Info with.
	refusal error
	// requiresClaims: the DPU serves several hosts; claimErr is its
	// answer to Claim. claims and released record the calls.
	requiresClaims bool
	claimErr       error
	claims         []*ovndpuv1.AttachmentClaim
	released       []string
}

func (d *fakeDPU) Target() string { return "dpu-agent-of-" + d.chassisName() }

func (d *fakeDPU) chassisName() string { return cmp.Or(d.chassis, "dpu1") }

func (d *fakeDPU) Info() (*ovndpuv1.InfoResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.down {
		if d.refusal != nil {
			return nil, fmt.Errorf("DPU agent at %s Info: %w", d.Target(), d.refusal)
		}
		return nil, fmt.Errorf("DPU agent at %s not reachable yet", d.Target())
	}
	pfs := d.pfMACs
	if pfs == nil {
		pfs = []string{"0c:42:a1:00:00:01"}
	}
	return &ovndpuv1.InfoResponse{Chassis: d.chassisName(), PfMacs: pfs, RequiresClaims: d.requiresClaims, ChassisRegistered: !d.unregistered}, nil
}

func (d *fakeDPU) RefreshInfo(context.Context) (*ovndpuv1.InfoResponse, error) {
	d.mu.Lock()
	if d.latePF != "" {
		if d.latePFAfter--; d.latePFAfter <= 0 {
			d.pfMACs, d.latePF = append(d.pfMACs, d.latePF), ""
		}
	}
	d.mu.Unlock()
	return d.Info()
}

func (d *fakeDPU) Claim(_ context.Context, replaceAll bool, claims []*ovndpuv1.AttachmentClaim) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.requiresClaims {
		return nil
	}
	if d.claimErr != nil {
		return d.claimErr
	}
	if replaceAll {
		d.claims = nil
	}
	d.claims = append(d.claims, claims...)
	for _, c := range claims {
		d.j.add("dpu.claim %s", c.GetLogicalPort())
	}
	return nil
}

func fakeDPUs(ds []*fakeDPU) []DPU {
	out := make([]DPU, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

func (d *fakeDPU) Release(_ context.Context, ids []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.requiresClaims {
		d.released = append(d.released, ids...)
	}
	return nil
}

// slowUnplugs makes the DPU hold back unplug confirmations.
func (d *fakeDPU) slowUnplugs() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.confirmed = make(chan struct{})
	d.unplugSlow.Store(true)
}

// confirmUnplugs has the DPU confirm every unplug, waking those waiting.
func (d *fakeDPU) confirmUnplugs() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unplugSlow.Store(false)
	close(d.confirmed)
}

func (d *fakeDPU) Run(ctx context.Context) { <-ctx.Done() }
func (d *fakeDPU) Connected() error {
	if _, err := d.Info(); err != nil {
		return err
	}
	return nil
}
func (d *fakeDPU) WaitChassis(ctx context.Context) (string, error) {
	if info, err := d.Info(); err == nil {
		return info.Chassis, nil
	}
	<-ctx.Done()
	return "", fmt.Errorf("DPU chassis name not learned: %w", ctx.Err())
}

// SetsFunctionMAC: the DPU sets VF MACs when setsMAC (function_mac_test.go).
func (d *fakeDPU) SetsFunctionMAC(context.Context) (bool, error) { return d.setsMAC, nil }

func (d *fakeDPU) WaitReady(ctx context.Context, lsp, attachment string) (*ovndpuv1.PortStatus, error) {
	st := &ovndpuv1.PortStatus{LogicalPort: lsp, AttachmentId: attachment}
	switch {
	case d.rejectReason != "":
		st.Phase, st.Reason = ovndpuv1.Phase_PHASE_ERROR, d.rejectReason
		d.j.add("dpu.error %s", lsp)
		return st, fmt.Errorf("%w: %s", dpuclient.ErrRejected, d.rejectReason)
	case d.unreachable != "":
		return nil, fmt.Errorf("DPU agent at 192.0.2.2:50151 %w for 5s: %s", dpuclient.ErrUnreachable, d.unreachable)
	case d.pending != "":
		<-ctx.Done()
		return nil, fmt.Errorf("%w: PENDING: %s", dpuclient.ErrNotReady, d.pending)
	}
	st.Phase, st.Representor = ovndpuv1.Phase_PHASE_READY, "pf0vf3"
	seen := time.Now().Add(-10 * time.Millisecond) // the DPU's milestones, 1 ms apart
	st.FirstSeen, st.Plugged = timestamppb.New(seen), timestamppb.New(seen.Add(time.Millisecond))
	st.Claimed, st.Installed = timestamppb.New(seen.Add(2*time.Millisecond)), timestamppb.New(seen.Add(3*time.Millisecond))
	if d.chassis != "" {
		d.j.add("dpu.ready %s on %s", lsp, d.chassis)
	} else {
		d.j.add("dpu.ready %s", lsp)
	}
	d.set(st)
	return st, nil
}

func (d *fakeDPU) set(st *ovndpuv1.PortStatus) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ports == nil {
		d.ports = map[string]*ovndpuv1.PortStatus{}
	}
	d.ports[st.LogicalPort] = st
}

func (d *fakeDPU) forget(lsp string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ports, lsp)
}

func (d *fakeDPU) PortStatus(_ context.Context, lsp string) (*ovndpuv1.PortStatus, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ports[lsp], nil
}

func (d *fakeDPU) Registered(context.Context) error {
	if d.unregistered {
		return errors.New(`DPU chassis "dpu1" is not registered in OVN SB`)
	}
	return nil
}

func (d *fakeDPU) WaitGone(ctx context.Context, lsp, _ string) error {
	d.mu.Lock()
	confirmed := d.confirmed
	d.mu.Unlock()
	if d.unplugSlow.Load() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("logical port %s still plugged on the DPU", lsp)
		case <-confirmed:
		}
	}
	return nil
}
