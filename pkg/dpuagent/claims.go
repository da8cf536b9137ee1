package dpuagent

import (
	"context"
	"fmt"
	"maps"
	"net"
	"sync"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/vswitchd"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// On a DPU serving several hosts (--hosts) every host writes its own LSPs
// to NB, and NB lets any host write any LSP: an LSP's ovn-dpu:owner is
// the writer's word. A claim is the host's word given over its
// authenticated stream, where its identity is its certificate's: the
// planner plugs a representor of host H's controller only for an
// attachment H claimed (claimFor). The claims live in memory; host agents
// send all of theirs again whenever they reconnect (replace_all), and a
// port this agent already plugged for the attachment counts as claimed
// meanwhile — the DPU's own OVS database is not something a host can
// write.

// maxClaimsPerHost bounds what one host can make the DPU hold; far above
// the functions a host has.
const maxClaimsPerHost = 4096

// maxClaimField bounds the strings a claim carries (an LSP name or an
// attachment id), as NB would name them.
const maxClaimField = 253

// claimKey is a claim's identity: an attachment id counts only for the
// host that claimed it, so a host copying another's id from NB claims
// nothing of the other's.
type claimKey struct{ host, attachment string }

// claim is what a host announced for one attachment.
type claim struct {
	lsp      string
	pfMAC    string // lower case, as net.HardwareAddr prints
	function string // "vf N", "sf N" or "pf" (vifplug.Request.Label)
	// logicalSwitch: the NB Logical_Switch UUID the LSP is in.
	logicalSwitch string
}

// claimBook holds the claims; the gRPC handlers write it, each planning
// pass reads a copy.
type claimBook struct {
	mu     sync.Mutex
	claims map[claimKey]claim
}

func (b *claimBook) snapshot() map[claimKey]claim {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.claims)
}

// put records host's claims (forgetting its others when replaceAll), and
// returns how many the host now holds. One LSP has one attachment at a
// time: a claim forgets the host's earlier claims of the same LSP.
func (b *claimBook) put(host string, claims map[string]claim, replaceAll bool) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := maps.Clone(b.claims)
	if next == nil {
		next = map[claimKey]claim{}
	}
	lsps := map[string]bool{}
	for _, c := range claims {
		lsps[c.lsp] = true
	}
	maps.DeleteFunc(next, func(k claimKey, c claim) bool { return k.host == host && (replaceAll || lsps[c.lsp]) })
	for id, c := range claims {
		next[claimKey{host, id}] = c
	}
	held := countHost(next, host)
	if held > maxClaimsPerHost {
		return countHost(b.claims, host), status.Errorf(codes.ResourceExhausted,
			"host %s would hold %d claims, more than the %d a DPU keeps per host; release those of deleted attachments", host, held, maxClaimsPerHost)
	}
	b.claims = next
	return held, nil
}

func (b *claimBook) release(host string, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		delete(b.claims, claimKey{host, id})
	}
}

// forget drops every claim of these attachments, whoever holds them.
func (b *claimBook) forget(attachments []string) {
	if len(attachments) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	gone := map[string]bool{}
	for _, id := range attachments {
		gone[id] = true
	}
	maps.DeleteFunc(b.claims, func(k claimKey, _ claim) bool { return gone[k.attachment] })
}

// forgetUnplugged drops the claims of the attachments whose plug a pass
// removed. A claim is good for one attachment's life: one left behind (its
// Release lost) must not let an LSP someone else writes later under the
// same name and attachment id get the function plugged again.
func (a *Agent) forgetUnplugged(changes []change, st ovsState, out outcome) {
	var ids []string
	for _, c := range changes {
		if c.kind != changeUnplug || !out.unplugged[c.lsp] {
			continue
		}
		if iface := st.ifaces[c.iface]; iface != nil && iface.ExternalIDs[vifplug.IfaceAttachment] != "" {
			ids = append(ids, iface.ExternalIDs[vifplug.IfaceAttachment])
		}
	}
	a.claims.forget(ids)
}

// held counts the claims of every host, for the metrics.
func (b *claimBook) held() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := map[string]int{}
	for k := range b.claims {
		n[k.host]++
	}
	return n
}

func countHost(claims map[claimKey]claim, host string) int {
	n := 0
	for k := range claims {
		if k.host == host {
			n++
		}
	}
	return n
}

// caller is the host behind ctx and its devlink controller, on a DPU with
// --hosts: a caller without a certificate identity, or one --hosts does
// not name, is refused.
func (a *Agent) caller(ctx context.Context) (string, uint32, error) {
	host, ok := "", false
	if a.opts.peerIdentity != nil {
		host, ok = a.opts.peerIdentity(ctx)
	}
	if !ok {
		return "", 0, status.Error(codes.Unauthenticated, "this DPU serves several hosts (--hosts): a host must present its client certificate")
	}
	controller, ok := a.cfg.Hosts.Controller(host)
	if !ok {
		a.metrics.claimsRefused.WithLabelValues("unknown-host").Inc()
		return "", 0, status.Errorf(codes.PermissionDenied, "host %q is not one this DPU serves (not in its --hosts)", host)
	}
	return host, controller, nil
}

// Claim answers the gRPC Claim call.
func (a *Agent) Claim(ctx context.Context, req *ovndpuv1.ClaimRequest) (*ovndpuv1.ClaimResponse, error) {
	if !a.cfg.Hosts.Enabled() {
		return &ovndpuv1.ClaimResponse{}, nil // one host: NB ownership is all there is to check
	}
	host, controller, err := a.caller(ctx)
	if err != nil {
		return nil, err
	}
	claims := make(map[string]claim, len(req.GetClaims()))
	for _, c := range req.GetClaims() {
		cl, err := a.parseClaim(host, controller, c)
		if err != nil {
			return nil, err
		}
		claims[c.GetAttachmentId()] = cl
	}
	held, err := a.claims.put(host, claims, req.GetReplaceAll())
	if err != nil {
		a.metrics.claimsRefused.WithLabelValues("too-many").Inc()
		return nil, err
	}
	a.log.Debug("claims recorded", "host", host, "claims", len(claims), "replace_all", req.GetReplaceAll(), "held", held)
	a.kick() // a request may have been waiting for one
	return &ovndpuv1.ClaimResponse{Held: uint32(held)}, nil
}

// parseClaim refuses a claim that is malformed or names a PF that is not
// the host's: a host can claim only functions of its own controller.
func (a *Agent) parseClaim(host string, controller uint32, c *ovndpuv1.AttachmentClaim) (claim, error) {
	invalid := func(format string, args ...any) (claim, error) {
		a.metrics.claimsRefused.WithLabelValues("invalid").Inc()
		return claim{}, status.Errorf(codes.InvalidArgument, "claim of attachment %.64q: "+format, append([]any{c.GetAttachmentId()}, args...)...)
	}
	for field, v := range map[string]string{"attachment_id": c.GetAttachmentId(), "logical_port": c.GetLogicalPort(),
		"logical_switch": c.GetLogicalSwitch()} {
		if v == "" || len(v) > maxClaimField || !utf8.ValidString(v) {
			return invalid("%s must be 1 to %d bytes of UTF-8", field, maxClaimField)
		}
	}
	mac, err := net.ParseMAC(c.GetPfMac())
	if err != nil || len(mac) != 6 {
		return invalid("pf_mac %.64q is not a MAC address", c.GetPfMac())
	}
	var fn vifplug.Request
	if err := fn.ParseLabel(c.GetFunction()); err != nil {
		return invalid("%v", err)
	}
	owner, known := a.table.PFController(mac)
	switch {
	case !known:
		a.metrics.claimsRefused.WithLabelValues("unknown-pf").Inc()
		return claim{}, status.Errorf(codes.FailedPrecondition, "claim of attachment %s: PF %s is not known on this DPU (host %s's PFs: %v)",
			c.GetAttachmentId(), mac, host, a.table.KnownPFsOf(controller))
	case owner != controller:
		a.metrics.claimsRefused.WithLabelValues("not-the-hosts").Inc()
		a.log.Warn("claim of another host's PF refused", "host", host, "pf_mac", mac.String(), "attachment", c.GetAttachmentId(),
			"logical_port", c.GetLogicalPort())
		return claim{}, status.Errorf(codes.PermissionDenied, "claim of attachment %s: PF %s is not one of host %s's PFs (devlink controller %d)",
			c.GetAttachmentId(), mac, host, controller)
	}
	return claim{lsp: c.GetLogicalPort(), pfMAC: mac.String(), function: fn.Label(), logicalSwitch: c.GetLogicalSwitch()}, nil
}

// Release answers the gRPC Release call.
func (a *Agent) Release(ctx context.Context, req *ovndpuv1.ReleaseRequest) (*ovndpuv1.ReleaseResponse, error) {
	if !a.cfg.Hosts.Enabled() {
		return &ovndpuv1.ReleaseResponse{}, nil
	}
	host, _, err := a.caller(ctx)
	if err != nil {
		return nil, err
	}
	a.claims.release(host, req.GetAttachmentIds())
	return &ovndpuv1.ReleaseResponse{}, nil
}

// claimVerdict is what the claims say of a request on a DPU serving
// several hosts.
type claimVerdict int

const (
	// claimHolds: its host claimed it as it stands; plug it.
	claimHolds claimVerdict = iota
	// claimAwaited: no claim yet; one may still come (a host claims before
	// it writes NB, a reconnecting host re-claims late).
	claimAwaited
	// claimRefused: it can never be plugged as it stands (no host for its
	// controller, or the LSP's owner is not that host).
	claimRefused
	// claimContradicted: its host claimed the attachment for another
	// LSP, function or logical switch — the binding was changed by
	// someone else, e.g. re-created in another switch: not even the port
	// already plugged for it may stay.
	claimContradicted
)

// checkClaim says whether r, whose representor is on devlink controller
// controller, may be plugged, and why not. A port this agent already
// plugged for the very attachment, LSP and switch counts as claimed: the
// proof survives an agent restart in the DPU's own OVS database, which no
// host can write.
func (p *planner) checkClaim(r request, controller uint32, iface *vswitchd.Interface) (claimVerdict, string) {
	host, ok := p.in.hosts.Host(controller)
	if !ok {
		return claimRefused, fmt.Sprintf("the representor is on devlink controller %d, which this DPU's --hosts maps to no host: "+
			"a DPU serving several hosts plugs only its hosts' own functions", controller)
	}
	if r.owner != host {
		owner := fmt.Sprintf("is %q", r.owner)
		if r.owner == "" {
			owner = "is not set (an LSP not written by a host agent)"
		}
		return claimRefused, fmt.Sprintf("%s=%s %s is host %s's (devlink controller %d), but the port's %s %s",
			vifplug.OptPFMAC, r.PFMAC, r.Label(), host, controller, vifplug.ExtOwner, owner)
	}
	if r.logicalSwitch == "" {
		return claimAwaited, fmt.Sprintf("the logical switch of the binding's datapath is not known yet (SB Datapath_Binding external_ids:%s)",
			dpLogicalSwitch)
	}
	want := claim{lsp: r.lsp, pfMAC: r.PFMAC.String(), function: r.Label(), logicalSwitch: r.logicalSwitch}
	c, claimed := p.in.claims[claimKey{host, r.attachment}]
	switch {
	case claimed && c == want:
		return claimHolds, ""
	case claimed:
		return claimContradicted, fmt.Sprintf("host %s claimed attachment %q for %s, but its binding asks for %s: "+
			"the LSP was changed or re-created by someone else", host, r.attachment, c, want)
	}
	recorded, plugged := ourPlugOf(iface, r)
	if plugged && recorded == r.logicalSwitch && iface.ExternalIDs[vifplug.IfaceID] == r.lsp {
		return claimHolds, "" // plugged after a claim, before this agent restarted
	}
	// A plug from before --hosts records no switch: it proves nothing
	// either way, and waits for its host's claim (keepable).
	if plugged && recorded != "" {
		return claimContradicted, fmt.Sprintf("representor %s was plugged for attachment %q of logical port %s in logical switch %s, "+
			"but the binding now asks for %s: the LSP was changed or re-created by someone else",
			iface.Name, r.attachment, iface.ExternalIDs[vifplug.IfaceID], iface.ExternalIDs[vifplug.IfaceSwitch], want)
	}
	return claimAwaited, fmt.Sprintf("no claim from host %s for attachment %q of logical port %s (%s=%s %s): a host agent claims each attachment "+
		"before it writes it to NB, so a port written to NB by anyone else is not plugged on a DPU serving several hosts",
		host, r.attachment, r.lsp, vifplug.OptPFMAC, r.PFMAC, r.Label())
}

// keepable reports whether iface, an interface of ours for r's LSP, may
// stay plugged while r cannot be plugged as it stands, on a DPU serving
// several hosts: only if it is this agent's plug of r's very attachment
// in r's very logical switch. A plug that records no switch (made before
// --hosts was set) is kept only while r awaits its claim, so that turning
// --hosts on does not unplug ports whose hosts are about to re-claim.
func (p *planner) keepable(r request, iface *vswitchd.Interface) bool {
	recorded, plugged := ourPlugOf(iface, r)
	switch {
	case !plugged:
		return false
	case recorded != "":
		return recorded == r.logicalSwitch
	case r.logicalSwitch == "":
		return false
	}
	s, ok := p.out.mem.missingSince[r.lsp]
	return ok && s.attachment == r.attachment && p.in.now.Before(s.at.Add(p.in.cfg.representorWait))
}

// String describes a claim for messages.
func (c claim) String() string {
	return fmt.Sprintf("logical port %s in logical switch %s (%s=%s %s)", c.lsp, c.logicalSwitch, vifplug.OptPFMAC, c.pfMAC, c.function)
}

// ourPlugOf reports whether iface is this agent's plug of r's attachment,
// and the logical switch the plug recorded ("" for one made before
// --hosts was set).
func ourPlugOf(iface *vswitchd.Interface, r request) (recordedSwitch string, ok bool) {
	if iface == nil || !ours(iface) || r.attachment == "" || iface.ExternalIDs[vifplug.IfaceAttachment] != r.attachment {
		return "", false
	}
	return iface.ExternalIDs[vifplug.IfaceSwitch], true
}
