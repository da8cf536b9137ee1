package hostagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// check verifies, against prevResult, what this plugin owns: the pod
// interface with its MAC, addresses and routes; the LSP, ours, with the
// same MAC and addresses; the DPU's READY; and the IPAM delegate's own
// CHECK. It runs under the attachment's lock, so it never reads a
// half-done ADD. MTU and sysctls are not checked: a later plugin in the
// chain (tuning) may change them without updating the result.
func (a *Agent) check(ctx context.Context, req *ovndpuv1.CNIRequest, log *slog.Logger) error {
	conf, err := netconf.ParseCheck(req.Config)
	if err != nil {
		return err
	}
	key := hoststate.Key{ContainerID: req.ContainerId, IfName: req.Ifname}
	ctx, done, err := a.locks.Begin(ctx, key, hoststate.OpCheck)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, "could not serialise CHECK with the attachment's other operations", err.Error())
	}
	defer done()
	att, err := a.state.Load(key)
	switch {
	case errors.Is(err, hoststate.ErrNotFound):
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("no attachment for %s on this host", key), "")
	case err != nil:
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("attachment state of %s is unreadable", key), err.Error())
	case att.UnplugPending:
		return types.NewError(types.ErrUnknownContainer, fmt.Sprintf("attachment %s of %s was deleted", att.AttachmentID, key), "")
	}
	if err := a.waitReady(ctx); err != nil {
		return types.NewError(types.ErrTryAgainLater, "ovn-dpu host agent is not connected to OVN yet", err.Error())
	}
	want, err := expected(conf.PrevResult, req)
	if err != nil {
		return checkFailed(att, err)
	}
	var diffs []error
	diffs = append(diffs, a.checkPod(ctx, att, want))
	lspDiff, err := a.checkLSP(ctx, att, want)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, "cannot read the attachment's logical switch port from OVN NB", err.Error())
	}
	dpuDiff, err := a.checkDPU(ctx, att)
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, "cannot check the attachment's DPU status", err.Error())
	}
	if err := errors.Join(append(diffs, lspDiff, dpuDiff)...); err != nil {
		return checkFailed(att, err)
	}
	if att.IPAM != nil {
		// The delegate checks its own leases; req.Config carries prevResult.
		if err := a.ipam.Check(ctx, a.ipamRequest(att, req)); err != nil {
			return ipamCheckError(att, err)
		}
	}
	log.Debug("CHECK passed", "logical_port", att.LSPName, "attachment", att.AttachmentID)
	return nil
}

// want is what prevResult says of this attachment.
type want struct {
	mac    net.HardwareAddr
	ips    []*current.IPConfig
	routes []*types.Route
}

// expected picks this attachment's interface out of prevResult (the one
// named CNI_IFNAME in CNI_NETNS; a chain may add others) and its IPs.
func expected(prev *current.Result, req *ovndpuv1.CNIRequest) (want, error) {
	idx := slices.IndexFunc(prev.Interfaces, func(i *current.Interface) bool {
		return i.Name == req.Ifname && i.Sandbox != ""
	})
	if idx < 0 {
		return want{}, fmt.Errorf("prevResult has no interface %s in a sandbox", req.Ifname)
	}
	w := want{routes: prev.Routes}
	var err error
	if w.mac, err = net.ParseMAC(prev.Interfaces[idx].Mac); err != nil {
		return want{}, fmt.Errorf("prevResult interface %s has MAC %q: %w", req.Ifname, prev.Interfaces[idx].Mac, err)
	}
	for _, ip := range prev.IPs {
		if ip.Interface == nil || *ip.Interface == idx {
			w.ips = append(w.ips, ip)
		}
	}
	return w, nil
}

func (a *Agent) checkPod(ctx context.Context, att *hoststate.Attachment, w want) error {
	return a.plumber.Check(ctx, netns.CheckRequest{PodNetns: att.NetnsPath, IfName: att.Key.IfName,
		MAC: w.mac, IPs: w.ips, Routes: w.routes})
}

// checkLSP compares the LSP with prevResult: port_security must be exactly
// the MAC and addresses (a later plugin changing the MAC breaks OVN port
// security, and this says so); addresses the same, or "MAC dynamic" with
// northd's dynamic_addresses matching. The error return is for NB being
// unreadable, the difference for what differs.
func (a *Agent) checkLSP(ctx context.Context, att *hoststate.Attachment, w want) (diff, err error) {
	lsp, err := a.nb.OwnLSP(ctx, att.LSPName)
	switch {
	case err != nil:
		return nil, err
	case lsp == nil:
		return fmt.Errorf("logical switch port %s is missing from OVN NB", att.LSPName), nil
	case lsp.ExternalIDs[vifplug.ExtAttachment] != att.AttachmentID:
		return fmt.Errorf("logical switch port %s belongs to attachment %s now", att.LSPName, lsp.ExternalIDs[vifplug.ExtAttachment]), nil
	}
	entry := portSecurity(w.mac, w.ips)
	var diffs []error
	if !sameEntries(lsp.PortSecurity, entry) {
		diffs = append(diffs, fmt.Errorf("logical switch port %s has port_security %q, the result says %q", att.LSPName, lsp.PortSecurity, entry))
	}
	if !addressesMatch(lsp, entry) {
		diffs = append(diffs, fmt.Errorf("logical switch port %s has addresses %q (dynamic %q), the result says %q",
			att.LSPName, lsp.Addresses, deref(lsp.DynamicAddresses), entry))
	}
	return errors.Join(diffs...), nil
}

func addressesMatch(lsp *nbdb.LogicalSwitchPort, entry string) bool {
	mac, _, _ := strings.Cut(entry, " ")
	if len(lsp.Addresses) == 1 && lsp.Addresses[0] == mac+" dynamic" {
		return lsp.DynamicAddresses != nil && sameEntries([]string{*lsp.DynamicAddresses}, entry)
	}
	return sameEntries(lsp.Addresses, entry)
}

// sameEntries reports whether column holds exactly one entry with the same
// words as entry, in any order (OVN does not care about the order).
func sameEntries(column []string, entry string) bool {
	if len(column) != 1 {
		return false
	}
	got, want := strings.Fields(column[0]), strings.Fields(entry)
	slices.Sort(got)
	slices.Sort(want)
	return slices.Equal(got, want)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// checkDPU looks at what the DPU reports for the port now; err is for the
// stream being out of sync, when there is no telling.
func (a *Agent) checkDPU(ctx context.Context, att *hoststate.Attachment) (diff, err error) {
	d, err := a.dpus.of(ctx, att)
	if err != nil {
		return nil, err
	}
	st, err := d.PortStatus(ctx, att.LSPName)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return fmt.Errorf("the DPU reports logical port %s not plugged", att.LSPName), nil
	case st.AttachmentId != att.AttachmentID:
		return fmt.Errorf("the DPU reports logical port %s for attachment %s", att.LSPName, st.AttachmentId), nil
	case st.Phase != ovndpuv1.Phase_PHASE_READY:
		return fmt.Errorf("the DPU reports logical port %s %v: %s", att.LSPName, st.Phase, st.Reason), nil
	}
	return nil, nil
}

// ipamCheckError keeps the code of a CNI error the delegate answered and
// makes anything else (it could not run, it said nothing parseable) a
// CHECK failure naming the delegate: CHECK never answers 999.
func ipamCheckError(att *hoststate.Attachment, err error) error {
	var cniErr *types.Error
	if errors.As(err, &cniErr) {
		return cniErr
	}
	return types.NewError(codeCheckFailed, fmt.Sprintf("the IPAM plugin %s's CHECK failed: %v", att.IPAM.Type, err),
		fmt.Sprintf("logical port %s, attachment %s", att.LSPName, att.AttachmentID))
}

func checkFailed(att *hoststate.Attachment, diff error) error {
	return types.NewError(codeCheckFailed, strings.ReplaceAll(diff.Error(), "\n", "; "),
		fmt.Sprintf("logical port %s, attachment %s", att.LSPName, att.AttachmentID))
}
