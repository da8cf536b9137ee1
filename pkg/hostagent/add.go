package hostagent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/ops"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// addition is one ADD in progress.
type addition struct {
	req  *ovndpuv1.CNIRequest
	conf *netconf.Config
	pod  netconf.PodArgs
	vf   sysfs.VF
	att  *hoststate.Attachment
	mac  net.HardwareAddr
	res  *current.Result
	ls   *nbdb.LogicalSwitch
	// dynamic is set when OVN assigns the addresses.
	dynamic *dynamicPlan
	log     *slog.Logger
	// clock records the milestones for the stage breakdown; ready is the
	// DPU's READY status.
	clock *stageClock
	ready *ovndpuv1.PortStatus
	// dpu is the DPU behind the VF's PF, chassis its chassis name.
	dpu     DPU
	chassis string
	// dpuSetsMAC: the DPU sets the VF's MAC (Info sets_function_mac);
	// the VF is moved in with its MAC as found, and the ADD waits for it
	// to become mac (function_mac.go).
	dpuSetsMAC bool
	// lspWritten and lspNotWritten: the LSP create's outcome is known —
	// it committed, or it was refused, found the name taken or was never
	// sent — so its undo need not settle anything.
	lspWritten, lspNotWritten bool
}

// add attaches the VF named by deviceID to the pod. Every side effect is
// recorded in the attachment's state before it starts; on any failure the
// recorded steps are undone, so a failed ADD leaves nothing behind.
func (a *Agent) add(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) (result []byte, err error) {
	clock := newStageClock(time.Now(), req)
	conf, pod, err := parseAdd(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, addBudget(ctx, conf.Timeout()))
	defer cancel()
	key := hoststate.Key{ContainerID: req.ContainerId, IfName: req.Ifname}
	ctx, done, err := a.locks.Begin(ctx, key, hoststate.OpAdd)
	if err != nil {
		return nil, types.NewError(types.ErrTryAgainLater, "another operation on this attachment is in progress", err.Error())
	}
	defer done()
	if err := a.waitReady(ctx); err != nil {
		return nil, types.NewError(types.ErrTryAgainLater, "ovn-dpu host agent is not connected to OVN yet", err.Error())
	}
	ad := &addition{req: req, conf: conf, pod: pod, log: log, clock: clock}
	defer func() { a.countDPUAdd(ad, err) }()
	if err := a.prepare(ctx, ad); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			a.rollback(ad, err)
		}
	}()
	if err := a.runSteps(ctx, ad); err != nil {
		return nil, err
	}
	result, err = a.resultJSON(ad)
	if err == nil {
		clock.mark(stageAnswered)
		clock.report(ad.log, a.metrics, ad.ready)
	}
	return result, err
}

// countDPUAdd counts an ADD that chose a DPU under that DPU's chassis.
func (a *Agent) countDPUAdd(ad *addition, err error) {
	if ad.chassis == "" {
		return
	}
	code := "0"
	if err != nil {
		code = strconv.Itoa(int(asCNIError(err).Code))
	}
	a.metrics.dpuAdds.WithLabelValues(ad.chassis, code).Inc()
}

// parseAdd reads what an ADD is asked to do, refusing what can never
// work before anything else: the configuration (code 7), and CNI_ARGS,
// CNI_CONTAINERID, the form of CNI_NETNS and CNI_IFNAME (code 4), by the
// plugin's own rules (it checked them too, before dialling).
func parseAdd(req *ovndpuv1.CNIRequest) (*netconf.Config, netconf.PodArgs, error) {
	conf, err := netconf.ParseAdd(req.Config)
	if err != nil {
		return nil, netconf.PodArgs{}, err
	}
	for _, check := range []func() error{
		func() error { return netconf.CheckContainerID(req.ContainerId) },
		func() error { return netconf.CheckNetnsPath(req.Netns) },
		func() error { return netconf.CheckIfName(req.Ifname) },
	} {
		if err := check(); err != nil {
			return nil, netconf.PodArgs{}, err
		}
	}
	pod, err := netconf.ParseArgs(req.Args)
	if err != nil {
		return nil, netconf.PodArgs{}, err
	}
	return conf, pod, nil
}

// answerMargin is what an ADD leaves of its caller's deadline for its
// rollback and its answer.
const answerMargin = 5 * time.Second

// addBudget is how long an ADD may take: timeoutSeconds, cut short when the
// caller's deadline comes sooner — a plugin re-sending a call that a
// restarted agent lost has only what is left of its own — so that the
// caller still gets the agent's precise error rather than its own timeout.
func addBudget(ctx context.Context, timeout time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return max(min(timeout, time.Until(deadline)-answerMargin), 0)
	}
	return timeout
}

// prepare resolves the VF and the switch, checks that the VF can move
// into the pod, claims the VF and saves the attachment (with the IPAM
// step intended) before any side effect: a request that fails here has
// written nothing, to OVN, the pod or the state directory.
func (a *Agent) prepare(ctx context.Context, ad *addition) error {
	key := hoststate.Key{ContainerID: ad.req.ContainerId, IfName: ad.req.Ifname}
	norm, err := sysfs.NormalizeDeviceID(ad.conf.DeviceID)
	if err != nil {
		return vfLookupError(ad.conf.DeviceID, err)
	}
	ad.conf.DeviceID = norm
	if err := a.undoPrevious(ctx, ad, key); err != nil {
		return err
	}
	vf, err := a.vfs.LookupVF(ad.conf.DeviceID)
	if err != nil {
		return vfLookupError(ad.conf.DeviceID, err)
	}
	if err := a.checkNetwork(ctx, ad); err != nil {
		return err
	}
	a.awaitUnplugs(ctx, ad.conf.DeviceID, key)
	release, err := a.claim(ad.conf.DeviceID, key, ad.log)
	if err != nil {
		return err
	}
	defer release() // the saved record holds the claim from then on
	ad.vf = vf
	ad.mac = ad.conf.MAC
	if ad.mac == nil {
		ad.mac = vf.MAC
	}
	if isZeroMAC(ad.mac) {
		// Some PF drivers leave a VF's MAC zero until someone sets it; OVN
		// port security and the pod both need a real one.
		ad.mac = newLocalMAC()
	}
	if err := a.chooseDPU(ctx, ad); err != nil {
		return err
	}
	// The pod side last: the VF is claimed, so no other ADD moves it in
	// between.
	if err := a.plumber.Preflight(ctx, a.moveInRequest(ad, nil)); err != nil {
		return plumbingError(ad, err)
	}
	ad.att = a.newAttachment(ad, key)
	ad.att.DPU, ad.att.LogicalSwitchUUID = ad.chassis, ad.ls.UUID
	if ad.dpuSetsMAC {
		ad.att.VF.MAC = "" // the DPU owns the VF's MAC: DEL leaves it as it is
	}
	ad.log = ad.log.With("logical_port", ad.att.LSPName, "attachment", ad.att.AttachmentID)
	// The steps' intents ride on the claim's save: fewer fsyncs, and the
	// delegate's config is recorded before it runs.
	if t := ad.conf.IPAMType; t != "" {
		ad.att.IPAM = &hoststate.IPAM{Type: t, Config: ad.req.Config}
	}
	// All three steps start at once (see runSteps).
	ad.att.Intend(hoststate.StepIPAM, a.opts.now())
	ad.att.Intend(hoststate.StepVFMoved, a.opts.now())
	ad.att.Intend(hoststate.StepLSP, a.opts.now())
	if err := a.state.Save(ad.att); err != nil {
		return err
	}
	ad.clock.mark(stageVFResolved)
	return nil
}

// undoPrevious undoes the attachment key already has: a repeated ADD,
// whose runtime did not DEL the first one, must not stack a second
// attachment on the same key.
func (a *Agent) undoPrevious(ctx context.Context, ad *addition, key hoststate.Key) error {
	prev, err := a.state.Load(key)
	switch {
	case errors.Is(err, hoststate.ErrNotFound):
		return nil
	case err != nil:
		// Overwriting it would forget what it recorded: make DEL deal with it.
		return fmt.Errorf("existing attachment state for %s is unreadable; DEL it first: %w", key, err)
	}
	ad.log.Warn("ADD for an existing attachment; undoing the previous one first", "attachment", prev.AttachmentID)
	if err := a.undo(ctx, prev, ad.req, ad.log, untilDeadline(ctx, a.opts.delTimeout)); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("the previous attachment %s of %s could not be undone yet",
			prev.AttachmentID, key), err.Error())
	}
	if prev.UnplugPending {
		return unplugPendingError(prev)
	}
	return nil
}

// checkNetwork refuses, before anything is done, what the network cannot
// take: a switch that does not exist or cannot assign addresses, an IPAM
// type with no plugin, an MTU too small for the addresses.
func (a *Agent) checkNetwork(ctx context.Context, ad *addition) error {
	if err := a.resolveSwitch(ctx, ad); err != nil {
		return err
	}
	if t := ad.conf.IPAMType; t != "" {
		if err := a.ipam.Find(t, filepath.SplitList(ad.req.Path)); err != nil {
			return invalidConfig(fmt.Sprintf("ipam.type %q: %v", t, err))
		}
	}
	return checkMTU(ad)
}

func vfLookupError(deviceID string, err error) error {
	if errors.Is(err, sysfs.ErrInvalidAddress) {
		return invalidConfig(fmt.Sprintf("deviceID %q is not a PCI address or an auxiliary device name: %v", deviceID, err))
	}
	noun := "VF"
	if sysfs.IsAuxiliaryDevice(deviceID) {
		noun = "SF"
	}
	return types.NewError(codeVFLookup, fmt.Sprintf("%s %s cannot be attached: %v", noun, deviceID, err), "")
}

// ipv6MinMTU is the least MTU IPv6 runs on (RFC 8200).
const ipv6MinMTU = 1280

// checkMTU refuses an mtu too small for IPv6 when the pod is to get IPv6
// addresses that are known before anything runs: runtimeConfig.ips, or
// the switch's other_config:ipv6_prefix. (An IPAM delegate's addresses
// are known only once it ran; MoveIn refuses them then.)
func checkMTU(ad *addition) error {
	mtu := ad.conf.MTU
	if mtu == 0 || mtu >= ipv6MinMTU {
		return nil
	}
	why := ""
	if ad.conf.IPAMType == "" {
		for _, ip := range ad.conf.IPs {
			if ip.IP.To4() == nil {
				why = "runtimeConfig.ips has " + ip.String()
				break
			}
		}
	}
	if ad.dynamic != nil && ad.dynamic.ipv6 {
		why = fmt.Sprintf("OVN assigns IPv6 addresses on logical switch %s (other_config:%s)", ad.conf.LogicalSwitch, lsIPv6Prefix)
	}
	if why == "" {
		return nil
	}
	return invalidConfig(fmt.Sprintf("mtu %d is below %d, the least IPv6 runs on, and %s", mtu, ipv6MinMTU, why))
}

// plumbingError is the CNI error of a VF that cannot move into the pod
// (see plumbingCode), naming the CNI variable at fault.
func plumbingError(ad *addition, err error) error {
	code := plumbingCode(err)
	switch {
	case errors.Is(err, netns.ErrNetnsNotFound), errors.Is(err, netns.ErrNotNetns), errors.Is(err, netns.ErrHostNetns):
		return types.NewError(code, fmt.Sprintf("CNI_NETNS %q cannot be used: %v", ad.req.Netns, err), "")
	case errors.Is(err, netns.ErrNameTaken), errors.Is(err, netns.ErrInvalidIfName):
		return types.NewError(code, fmt.Sprintf("CNI_IFNAME %q cannot be used: %v", ad.req.Ifname, err), "")
	}
	msg := fmt.Sprintf("cannot move %s %s (%s) into %s as %s", ad.vf.Kind, ad.conf.DeviceID, ad.vf.Netdev, ad.req.Netns, ad.req.Ifname)
	return types.NewError(code, msg, err.Error())
}

// vfFree refuses a VF that another live attachment holds: two pods must
// never share a VF, and the other one may just be finishing. A record that
// cannot be read may hold this very VF, so it counts as holding it: the
// ADD is refused (try again later) until DEL or an operator deals with it.
func (a *Agent) vfFree(deviceID string, key hoststate.Key, log *slog.Logger) error {
	devices, err := a.state.Devices()
	if err != nil {
		log.Error("attachment state unreadable; refusing to hand out VFs until it is fixed", "err", err)
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("cannot tell whether VF %s is free: attachment state in %s is unreadable "+
			"(DEL that attachment, or move the file named in the details away)", deviceID, a.state.Dir()), err.Error())
	}
	for holder, device := range devices {
		if held, _ := sysfs.NormalizeDeviceID(device); held != deviceID || holder == key {
			continue
		}
		att, err := a.state.Load(holder)
		if errors.Is(err, hoststate.ErrNotFound) {
			continue // deleted since
		}
		if err != nil {
			return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("cannot tell whether VF %s is free: the record of %s is unreadable",
				deviceID, holder), err.Error())
		}
		if att.UnplugPending {
			if !a.unplugConfirmed(context.Background(), att, 0) {
				return unplugPendingError(att)
			}
			// Confirmed since its DEL: the record has done its job.
			if err := a.state.Delete(att.Key); err != nil {
				return fmt.Errorf("forget attachment %s, unplugged: %w", att.AttachmentID, err)
			}
			continue
		}
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("VF %s is still held by attachment %s (container %s, %s)",
			deviceID, att.AttachmentID, att.Key.ContainerID, att.Key.IfName), "")
	}
	return nil
}

// awaitUnplugs waits, within the ADD's deadline, until the DPU confirms
// the unplug of every earlier attachment still holding deviceID after its
// DEL. Only that confirmation is outstanding (a DPU agent restarting,
// ovn-northd catching up after a leader change), so failing the ADD at
// once would only have the runtime retry it; claim then decides.
func (a *Agent) awaitUnplugs(ctx context.Context, deviceID string, key hoststate.Key) {
	devices, err := a.state.Devices()
	if err != nil {
		return // claim reports it
	}
	for holder, device := range devices {
		if held, _ := sysfs.NormalizeDeviceID(device); held != deviceID || holder == key {
			continue
		}
		if att, err := a.state.Load(holder); err == nil && att.UnplugPending {
			a.unplugConfirmed(ctx, att, untilDeadline(ctx, 0))
		}
	}
}

// untilDeadline is the time left before ctx's deadline, or otherwise when
// ctx has none.
func untilDeadline(ctx context.Context, otherwise time.Duration) time.Duration {
	if deadline, ok := ctx.Deadline(); ok {
		return time.Until(deadline)
	}
	return otherwise
}

// claim reserves deviceID for key, refusing a VF another attachment
// holds. The reservation is in memory until release; by then the caller
// has saved the record that holds the claim durably. Keeping the save out
// of claimMu lets concurrent ADDs of different VFs overlap their fsyncs.
func (a *Agent) claim(deviceID string, key hoststate.Key, log *slog.Logger) (release func(), err error) {
	a.claimMu.Lock()
	defer a.claimMu.Unlock()
	if holder, ok := a.claiming[deviceID]; ok && holder != key {
		return nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf("VF %s is being claimed by another ADD (container %s, %s)",
			deviceID, holder.ContainerID, holder.IfName), "")
	}
	if err := a.vfFree(deviceID, key, log); err != nil {
		return nil, err
	}
	a.claiming[deviceID] = key
	return func() {
		a.claimMu.Lock()
		defer a.claimMu.Unlock()
		delete(a.claiming, deviceID)
	}, nil
}

// plumbingCode is the CNI code of a failed VF move: a bad CNI_NETNS or
// CNI_IFNAME is the runtime's (4), CNI_IFNAME already taken in the pod
// included, a VF gone from the host is a VF lookup failure (102), the
// rest is the kernel's (5).
func plumbingCode(err error) uint {
	switch {
	case errors.Is(err, netns.ErrNetnsNotFound), errors.Is(err, netns.ErrNotNetns), errors.Is(err, netns.ErrInvalidRequest),
		errors.Is(err, netns.ErrNameTaken):
		return types.ErrInvalidEnvironmentVariables
	case errors.Is(err, netns.ErrLinkNotFound):
		return codeVFLookup
	default:
		return types.ErrIOFailure
	}
}

// unplugPendingError: the VF's previous attachment was deleted but the DPU
// has not confirmed its representor unplugged; try again later.
func unplugPendingError(att *hoststate.Attachment) error {
	return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("VF %s is still being unplugged on the DPU for attachment %s "+
		"(logical port %s, container %s, %s)", att.DeviceID, att.AttachmentID, att.LSPName, att.Key.ContainerID, att.Key.IfName), "")
}

func (a *Agent) newAttachment(ad *addition, key hoststate.Key) *hoststate.Attachment {
	now := a.opts.now()
	return &hoststate.Attachment{
		Version: hoststate.SchemaVersion, Key: key, Network: ad.conf.Name,
		AttachmentID:  newAttachmentID(),
		LSPName:       lspName(ad.conf.LSPName, a.cfg.Node, key.ContainerID, key.IfName, ad.pod),
		LogicalSwitch: ad.conf.LogicalSwitch, DeviceID: ad.conf.DeviceID, NetnsPath: ad.req.Netns,
		PodNamespace: ad.pod.Namespace, PodName: ad.pod.Name,
		VF: hoststate.VF{HostNetdev: ad.vf.Netdev, MAC: ad.vf.MAC.String(), MTU: ad.vf.MTU,
			PFMAC: ad.vf.PFMAC.String(), VFIndex: ad.vf.VFIndex},
		Function:  ad.request().Label(),
		CreatedAt: now, UpdatedAt: now,
	}
}

func newAttachmentID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runSteps performs the side effects in parallel lines, then waits for the
// DPU's verdict. The VF move starts at once — the namespace move is the
// slowest step, about 20 ms in the kernel — and waits for the addresses
// only once the VF is in the pod. Meanwhile the port line writes the LSP,
// so the DPU works on it from the start, and allocates the addresses
// (IPAM delegate, runtimeConfig.ips, or OVN's).
func (a *Agent) runSteps(ctx context.Context, ad *addition) error {
	addr := &addressing{known: make(chan struct{})}
	moved := make(chan error, 1)
	go func() { moved <- a.moveVF(ctx, ad, addr) }()
	portErr := a.portLine(ctx, ad, addr)
	moveErr := <-moved
	if errors.Is(moveErr, errAddressesFailed) {
		moveErr = nil // portErr says it
	}
	if err := errors.Join(portErr, moveErr); err != nil {
		return err
	}
	ad.att.Done(hoststate.StepLSP, a.opts.now())
	ad.att.Done(hoststate.StepVFMoved, a.opts.now())
	if err := a.state.Save(ad.att); err != nil {
		return fmt.Errorf("save attachment state after its steps: %w", err)
	}
	if err := a.awaitVerdict(ctx, ad); err != nil {
		return err
	}
	return a.awaitFunctionMAC(ctx, ad)
}

// addressing hands the pod's addresses from the port line to the VF move:
// known closes once ad.res holds them, or err says why it never will.
type addressing struct {
	known chan struct{}
	once  sync.Once
	err   error
}

func (x *addressing) settle(err error) {
	x.once.Do(func() {
		x.err = err
		close(x.known)
	})
}

// portLine writes the LSP and, in parallel, allocates the addresses; then
// it completes the LSP with them (or, when OVN assigns them, learns them
// from northd). The LSP goes first because the DPU's chain — plug, then
// ovn-controller's claim — is what an ADD waits for longest after the VF
// move, and it needs no address. It settles addr on every path.
func (a *Agent) portLine(ctx context.Context, ad *addition, addr *addressing) (err error) {
	defer func() { addr.settle(err) }() // no-op once settled with the addresses
	written := make(chan error, 1)
	go func() { written <- a.writeLSP(ctx, ad) }()
	allocErr := a.allocate(ctx, ad)
	if allocErr == nil {
		ad.clock.mark(stageIPAMDone)
		if ad.dynamic == nil {
			addr.settle(nil) // the VF move may configure them now
		}
	}
	if err := errors.Join(allocErr, <-written); err != nil {
		return err
	}
	ad.att.Done(hoststate.StepIPAM, a.opts.now())
	if ad.dynamic != nil {
		return a.learnDynamic(ctx, ad)
	}
	return a.completeLSP(ctx, ad)
}

// completeLSP gives the LSP the pod's addresses: written with the MAC
// alone, it gets "MAC IP..." in addresses and port_security. Until then
// port security admits any address from the pod's MAC, and the pod has
// no address yet.
func (a *Agent) completeLSP(ctx context.Context, ad *addition) error {
	if len(ad.res.IPs) == 0 || ad.staticAddresses() {
		return nil // none, or written with the LSP (lspFor)
	}
	entry := []string{portSecurity(ad.mac, ad.res.IPs)}
	if err := a.nb.SetAddresses(ctx, ad.att.LSPName, ad.att.AttachmentID, entry, entry); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("cannot set the addresses %q of logical switch port %s", entry[0], ad.att.LSPName), err.Error())
	}
	return nil
}

// resolveSwitch finds the logical switch before anything is recorded and,
// when OVN is to assign the addresses, checks that it can.
func (a *Agent) resolveSwitch(ctx context.Context, ad *addition) error {
	ls, err := a.nb.LogicalSwitch(ctx, ad.conf.LogicalSwitch)
	if err != nil {
		return invalidConfig("logicalSwitch: " + err.Error())
	}
	ad.ls = ls
	if ad.conf.DynamicAddressing() {
		ad.dynamic, err = planDynamic(ls)
	}
	return err
}

// allocate runs the IPAM delegate, or takes runtimeConfig.ips with the
// configured gateways and routes; with neither, OVN assigns the addresses
// once the LSP exists (learnDynamic).
func (a *Agent) allocate(ctx context.Context, ad *addition) error {
	ad.res = &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if t := ad.conf.IPAMType; t != "" {
		res, err := a.allocateIPAM(ctx, a.ipamRequest(ad.att, ad.req))
		if errors.Is(err, ipam.ErrPluginNotFound) {
			// It never ran, so there is nothing for an undo to release
			// (and an undo could not run it either).
			ad.att.IPAM = nil
			return errors.Join(invalidConfig(fmt.Sprintf("ipam.type %q: %v", t, err)), a.state.Save(ad.att))
		}
		if err != nil {
			return err
		}
		ad.res.IPs, ad.res.Routes, ad.res.DNS = res.IPs, res.Routes, res.DNS
		ad.att.IPAM.Result, _ = json.Marshal(res)
		return nil
	}
	for _, ipn := range ad.conf.IPs {
		ad.res.IPs = append(ad.res.IPs, &current.IPConfig{Address: *ipn})
	}
	withGateways(ad.res.IPs, ad.conf.Gateways)
	ad.res.Routes = ad.conf.Routes
	return nil
}

// allocateIPAM runs the delegate's ADD outside any GC of the delegate's
// leases (see gcIPAM): the attachment is recorded by then, so GC counts it
// as live.
func (a *Agent) allocateIPAM(ctx context.Context, req ipam.Request) (*current.Result, error) {
	a.ipamGate.RLock()
	defer a.ipamGate.RUnlock()
	return a.ipam.Add(ctx, req)
}

func (a *Agent) ipamRequest(att *hoststate.Attachment, req *ovndpuv1.CNIRequest) ipam.Request {
	r := ipam.Request{PluginType: att.IPAM.Type, NetConf: att.IPAM.Config,
		ContainerID: att.Key.ContainerID, Netns: att.NetnsPath, IfName: att.Key.IfName}
	if req != nil {
		r.Args, r.Path = req.Args, filepath.SplitList(req.Path)
	}
	return r
}

// chooseDPU finds the DPU behind the VF's PF, its chassis, and whether
// it sets VF MACs.
func (a *Agent) chooseDPU(ctx context.Context, ad *addition) (err error) {
	if ad.dpu, err = a.dpus.forPF(ctx, ad.vf.PFMAC, a.opts.unknownPFWait); err != nil {
		return err
	}
	if ad.chassis, err = ad.dpu.WaitChassis(ctx); err != nil {
		return types.NewError(types.ErrTryAgainLater, "cannot learn the DPU's chassis name", err.Error())
	}
	ad.log = ad.log.With("dpu_chassis", ad.chassis)
	ad.dpuSetsMAC, err = a.dpuSetsFunctionMAC(ctx, ad.dpu)
	return err
}

// writeLSP claims the attachment on its DPU (when the DPU requires it) and
// writes the Logical_Switch_Port request in one NB transaction.
func (a *Agent) writeLSP(ctx context.Context, ad *addition) error {
	if err := a.claimAttachment(ctx, ad); err != nil {
		ad.lspNotWritten = true
		return err
	}
	lsp := a.lspFor(ad, ad.chassis)
	err := a.nb.CreateLSP(ctx, ad.ls.UUID, lsp)
	ad.lspWritten = err == nil
	ad.lspNotWritten = err != nil && (errors.Is(err, errLSPTaken) || !ops.OutcomeUnknown(err))
	if ad.lspNotWritten {
		// No LSP will ever use the claim: its undo deletes no LSP, so
		// nothing else would release it.
		a.releaseClaim(ctx, ad.att)
	}
	switch {
	case errors.Is(err, errLSPTaken):
		return invalidConfig(fmt.Sprintf("logical switch port %q already exists in OVN NB and is not this attachment's (%v); "+
			"choose another lspName template", ad.att.LSPName, err))
	case err != nil:
		// NB unreachable for the whole timeout, or a write NB refused: the
		// runtime should retry the ADD, not treat it as a broken config.
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("cannot write logical switch port %s to OVN NB", lsp.Name), err.Error())
	}
	ad.clock.mark(stageLSPCommitted)
	ad.log.Info("logical switch port requested", "switch", ad.conf.LogicalSwitch, "chassis", ad.chassis, "addresses", lsp.Addresses)
	return nil
}

// lspFor is the LSP of the attachment as first written, before any
// address is known: addresses and port security name the MAC alone, or
// "MAC dynamic" when OVN assigns the addresses. completeLSP and
// learnDynamic add them. Addresses runtimeConfig.ips gives are known
// before anything runs, so they go in at once: one NB write per ADD
// instead of two (each write is a RAFT commit and a northd run; see
// "Fleet scale" in docs/scale.md).
func (a *Agent) lspFor(ad *addition, chassis string) *nbdb.LogicalSwitchPort {
	addresses, ps := ad.mac.String(), ad.mac.String()
	if ad.dynamic != nil {
		addresses += " dynamic"
	}
	if ad.staticAddresses() {
		// From the config, not ad.res: allocate fills that concurrently.
		ips := make([]*current.IPConfig, len(ad.conf.IPs))
		for i, ipn := range ad.conf.IPs {
			ips[i] = &current.IPConfig{Address: *ipn}
		}
		addresses = portSecurity(ad.mac, ips)
		ps = addresses
	}
	req := ad.request()
	req.Chassis = chassis
	options := req.Options()
	ids := vifplug.Attachment{
		Owner: a.cfg.Node, ID: ad.att.AttachmentID, Network: ad.conf.Name,
		ContainerID: ad.att.Key.ContainerID, IfName: ad.att.Key.IfName, DeviceID: ad.conf.DeviceID,
		PodNamespace: ad.pod.Namespace, PodName: ad.pod.Name,
	}.ExternalIDs()
	return &nbdb.LogicalSwitchPort{UUID: "newlsp", Name: ad.att.LSPName, Addresses: []string{addresses},
		PortSecurity: []string{ps}, Options: options, ExternalIDs: ids}
}

// request is what the LSP asks of the DPU, but for its chassis.
func (ad *addition) request() vifplug.Request {
	return vifplug.Request{PFMAC: ad.vf.PFMAC, Kind: ad.vf.Kind, VFNum: ad.vf.VFIndex, SFNum: ad.vf.SFNum, MTU: ad.conf.MTU}
}

// pciID is the result's pciID: the deviceID when it is a PCI address (a VF
// or a PF); an SF, an auxiliary device, has none.
func (ad *addition) pciID() string {
	if ad.vf.Kind == vifplug.SF {
		return ""
	}
	return ad.conf.DeviceID
}

// staticAddresses reports whether the pod's addresses are runtimeConfig.ips,
// known before the ADD runs (no IPAM delegate, not OVN's).
func (ad *addition) staticAddresses() bool {
	return ad.conf.IPAMType == "" && len(ad.conf.IPs) > 0
}

// moveInRequest is the VF's move into the pod, its addresses from
// addresses (nil: none).
func (a *Agent) moveInRequest(ad *addition, addresses func(context.Context) ([]*current.IPConfig, []*types.Route, error)) netns.MoveInRequest {
	req := netns.MoveInRequest{
		HostNetns: a.cfg.HostNetns, VFNetdev: ad.vf.Netdev, PodNetns: ad.req.Netns, IfName: ad.req.Ifname,
		MAC: ad.mac, MTU: ad.conf.MTU, Addresses: addresses,
	}
	if ad.dpuSetsMAC {
		// The DPU sets it; the host may not be able to. The IPv6
		// link-local address is the one of the MAC to come.
		req.MAC, req.LinkLocalMAC = nil, ad.mac
	}
	return req
}

// moveVF moves the VF into the pod and configures it; the addresses are
// awaited once the VF is in the pod.
func (a *Agent) moveVF(ctx context.Context, ad *addition, addr *addressing) error {
	// ad.res is the port line's to fill until addr.known.
	req := a.moveInRequest(ad, func(ctx context.Context) ([]*current.IPConfig, []*types.Route, error) {
		select {
		case <-addr.known:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if addr.err != nil {
			return nil, nil, errAddressesFailed
		}
		return ad.res.IPs, ad.res.Routes, nil
	})
	_, err := a.plumber.MoveIn(ctx, req)
	if errors.Is(err, errAddressesFailed) {
		return err
	}
	if err != nil {
		return plumbingError(ad, err)
	}
	ad.clock.mark(stageVFConfigured)
	return nil
}

// awaitVerdict waits for the DPU to report this attachment READY.
func (a *Agent) awaitVerdict(ctx context.Context, ad *addition) error {
	st, err := ad.dpu.WaitReady(ctx, ad.att.LSPName, ad.att.AttachmentID)
	switch {
	case err == nil:
		ad.clock.mark(stageReady)
		ad.ready = st
		ad.log.Info("attachment ready", "representor", st.Representor, "ofport", st.Ofport)
		return nil
	case errors.Is(err, dpuclient.ErrRejected):
		return types.NewError(codeRejected, "the DPU rejected the attachment: "+st.Reason,
			fmt.Sprintf("logical port %s, attachment %s, DPU chassis phase %v", ad.att.LSPName, ad.att.AttachmentID, st.Phase))
	case errors.Is(err, dpuclient.ErrUnreachable):
		// No verdict can arrive over a dead stream: try again later.
		return types.NewError(types.ErrTryAgainLater, err.Error(),
			fmt.Sprintf("logical port %s, attachment %s: the DPU's verdict cannot reach this host", ad.att.LSPName, ad.att.AttachmentID))
	default:
		return types.NewError(codeNotReady, fmt.Sprintf("not ready within timeoutSeconds=%d: %v", ad.conf.TimeoutSeconds, err), "")
	}
}

// rollbackUnplugWait bounds how long a failed ADD waits for the DPU to
// confirm the unplug before answering.
const rollbackUnplugWait = 2 * time.Second

// rollback undoes a failed ADD with a fresh context (the ADD's own may be
// what expired), bounded so the answer reaches the plugin before its own
// deadline (timeoutSeconds + 15s).
func (a *Agent) rollback(ad *addition, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ad.log.Warn("ADD failed; undoing its steps", "err", cause)
	switch {
	case ad.lspNotWritten:
		ad.att.Forget(hoststate.StepLSP)
	case ad.lspWritten:
		ad.att.Done(hoststate.StepLSP, a.opts.now())
	}
	// A short wait for the DPU's unplug: the plugin is waiting for our
	// answer, and DEL waits longer anyway.
	if err := a.undo(ctx, ad.att, ad.req, ad.log, rollbackUnplugWait); err != nil {
		ad.log.Error("undo of failed ADD incomplete; a DEL will retry", "err", err)
	}
}

// resultJSON renders the CNI result in the config's version.
func (a *Agent) resultJSON(ad *addition) ([]byte, error) {
	ad.res.Interfaces = []*current.Interface{{Name: ad.req.Ifname, Mac: ad.mac.String(), Sandbox: ad.req.Netns, PciID: ad.pciID()}}
	for _, ip := range ad.res.IPs {
		ip.Interface = current.Int(0)
	}
	versioned, err := ad.res.GetAsVersion(ad.conf.CNIVersion)
	if err != nil {
		return nil, types.NewError(types.ErrIncompatibleCNIVersion, "cannot express the result in cniVersion "+ad.conf.CNIVersion, err.Error())
	}
	return json.Marshal(versioned)
}

func isZeroMAC(mac net.HardwareAddr) bool {
	for _, b := range mac {
		if b != 0 {
			return false
		}
	}
	return true
}

// newLocalMAC returns a random locally administered unicast MAC.
func newLocalMAC() net.HardwareAddr {
	mac := make(net.HardwareAddr, 6)
	_, _ = rand.Read(mac)
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}
