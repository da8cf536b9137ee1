package hostagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/dpuclient"
	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/metricsserver"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// dpus are the DPUs behind this host's functions (--dpu: one, or several
// on a server with several DPUs). An ADD goes to the DPU whose Info lists
// the function's PF MAC and names that DPU's chassis in requested-chassis;
// DEL, CHECK and the status commands follow an attachment to the DPU its
// record names. Each DPU's stream is followed on its own, so a DPU that
// goes away fails only the ADDs of its own functions.
type dpus []DPU

// infoWait bounds how long routing waits for DPUs to answer a fresh Info,
// as long as any wait for a DPU's stream.
const infoWait = dpuclient.DefaultDownGrace

// DefaultUnknownPFWait is how long an ADD waits for some DPU to list its
// VF's PF (WithUnknownPFWait): a DPU's table may trail the host by a
// moment — a PF just created, a devlink listing not re-read yet — as a
// representor may trail its VF (the DPU agent's --representor-wait).
const DefaultUnknownPFWait = 5 * time.Second

// infoPoll is how often DPUs are asked for Info while an ADD waits for
// its PF to show up.
const infoPoll = 200 * time.Millisecond

func (s dpus) run(ctx context.Context) {
	for _, d := range s {
		go d.Run(ctx)
	}
}

// forPF finds the DPU serving the PF whose MAC is pfMAC. A MAC no DPU
// lists is looked for again, asking every DPU afresh, for up to wait (a
// PF can appear on a DPU after the host agent learnt its Info); then it
// fails with code 102, naming the PF and what each DPU lists, or with code
// 11 when a DPU that might list it cannot be asked now.
func (s dpus) forPF(ctx context.Context, pfMAC net.HardwareAddr, wait time.Duration) (DPU, error) {
	mac := pfMAC.String()
	if d, err := s.listing(mac); d != nil || err != nil {
		return d, err
	}
	deadline := time.Now().Add(wait)
	var failed []error
	for {
		failed = s.refresh(ctx)
		if d, err := s.listing(mac); d != nil || err != nil {
			return d, err
		}
		if !time.Now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, types.NewError(codeNotReady, fmt.Sprintf("no DPU listed PF %s within the ADD's timeout", mac), s.describe())
		case <-time.After(min(infoPoll, time.Until(deadline))):
		}
	}
	// A DPU that refuses this host (not in its --hosts, say) will not
	// change its mind on a retry: it counts as one that answered.
	refused := slices.DeleteFunc(slices.Clone(failed), func(err error) bool { return !permanent(err) })
	if len(refused) < len(failed) {
		return nil, types.NewError(types.ErrTryAgainLater, fmt.Sprintf("no DPU that answered lists PF %s, and %s",
			mac, errors.Join(failed...)), s.describe())
	}
	msg := fmt.Sprintf("no DPU has PF %s (the VF's PF): %s", mac, s.describe())
	if len(refused) > 0 {
		msg += "; refused: " + errors.Join(refused...).Error()
	}
	return nil, types.NewError(codeVFLookup, msg, "")
}

// permanent reports whether a DPU's refusal is this host's configuration
// rather than a moment's trouble.
func permanent(err error) bool {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return true
	}
	return false
}

// listing is the one DPU whose last Info lists mac; nil when none does.
func (s dpus) listing(mac string) (DPU, error) {
	var found []DPU
	for _, d := range s {
		if info, err := d.Info(); err == nil && slices.Contains(info.GetPfMacs(), mac) {
			found = append(found, d)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return found[0], nil
	}
	return nil, types.NewError(codeVFLookup, fmt.Sprintf("PF %s is listed by %d DPUs: %s; a PF is behind one DPU, so check their devlink ports",
		mac, len(found), dpus(found).describe()), "")
}

// refresh asks every DPU for its Info now, and returns why those that
// did not answer did not.
func (s dpus) refresh(ctx context.Context) []error {
	ctx, cancel := context.WithTimeout(ctx, infoWait)
	defer cancel()
	return s.ask(func(d DPU) error {
		_, err := d.RefreshInfo(ctx)
		return err
	})
}

// ask calls fn for every DPU at once, and returns the errors of those it
// failed for.
func (s dpus) ask(fn func(DPU) error) []error {
	errs := make([]error, len(s))
	var wg sync.WaitGroup
	for i, d := range s {
		wg.Go(func() { errs[i] = fn(d) })
	}
	wg.Wait()
	return slices.DeleteFunc(errs, func(err error) bool { return err == nil })
}

// unlessOneWorks is nil when fewer errors than DPUs came back: some DPU
// can take ADDs.
func (s dpus) unlessOneWorks(errs []error) error {
	if len(errs) == len(s) {
		return errors.Join(errs...)
	}
	return nil
}

// chassis names each DPU's chassis, "" for one that has not answered.
func (s dpus) chassis() []string {
	out := make([]string, len(s))
	for i, d := range s {
		if info, err := d.Info(); err == nil {
			out[i] = info.GetChassis()
		}
	}
	return out
}

// describe says what each DPU lists, for error messages.
func (s dpus) describe() string {
	parts := make([]string, len(s))
	for i, d := range s {
		info, err := d.Info()
		if err != nil {
			parts[i] = fmt.Sprintf("the DPU agent at %s has not answered", d.Target())
			continue
		}
		parts[i] = fmt.Sprintf("DPU %s (at %s) has PFs %s", info.GetChassis(), d.Target(), listed(info.GetPfMacs()))
	}
	return strings.Join(parts, "; ")
}

func listed(macs []string) string {
	if len(macs) == 0 {
		return "none"
	}
	return "[" + strings.Join(macs, " ") + "]"
}

// of is the DPU att went to: the one whose chassis its record names, or
// (records of agents that did not name it) the one listing its PF. A DPU
// that has not answered Info since this agent started is waited for,
// within ctx and the DPU's grace.
func (s dpus) of(ctx context.Context, att *hoststate.Attachment) (DPU, error) {
	if len(s) == 1 {
		return s[0], nil
	}
	for {
		if d := s.known(att); d != nil {
			return d, nil
		}
		waited := false
		for _, d := range s {
			if _, err := d.Info(); err != nil {
				waited = true
				if _, err := d.WaitChassis(ctx); err != nil {
					return nil, fmt.Errorf("the DPU of attachment %s (chassis %q) is not known: %w", att.AttachmentID, att.DPU, err)
				}
			}
		}
		if !waited {
			return nil, fmt.Errorf("attachment %s went to DPU chassis %q, which none of this host agent's DPUs (--dpu) is now: %s",
				att.AttachmentID, att.DPU, s.describe())
		}
	}
}

func (s dpus) known(att *hoststate.Attachment) DPU {
	for _, d := range s {
		info, err := d.Info()
		if err != nil {
			continue
		}
		if att.DPU != "" && info.GetChassis() == att.DPU || att.DPU == "" && slices.Contains(info.GetPfMacs(), att.VF.PFMAC) {
			return d
		}
	}
	return nil
}

// connected is nil when ADDs can reach a DPU: with several, when at least
// one is connected — a host with one DPU down can still attach the
// functions of the others, and a failing CNI STATUS would stop the whole
// node (see docs/multi-dpu.md). The error names every DPU that is not.
func (s dpus) connected() error {
	var errs []error
	for _, d := range s {
		if err := d.Connected(); err != nil {
			errs = append(errs, err)
		}
	}
	return s.unlessOneWorks(errs)
}

// registered is connected for STATUS's question whether a DPU's chassis
// is in SB, asked of every DPU now.
func (s dpus) registered(ctx context.Context) error {
	return s.unlessOneWorks(s.ask(func(d DPU) error { return d.Registered(ctx) }))
}

// collector reports each DPU's stream state.
func (s dpus) collector() prometheus.Collector {
	desc := prometheus.NewDesc("ovndpu_host_dpu_connected",
		"Whether the host agent's stream from each DPU agent (--dpu) is up with a complete snapshot (1) or not (0).",
		[]string{"dpu", "chassis"}, nil)
	return metricsserver.CollectorFunc{Desc: desc, Samples: func(ch chan<- prometheus.Metric) {
		for _, d := range s {
			chassis := ""
			if info, err := d.Info(); err == nil {
				chassis = info.GetChassis()
			}
			up := 0.0
			if d.Connected() == nil {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, up, d.Target(), chassis)
		}
	}}
}

// claimOf is the claim of att's attachment, as the DPU checks it.
func claimOf(att *hoststate.Attachment) *ovndpuv1.AttachmentClaim {
	return &ovndpuv1.AttachmentClaim{AttachmentId: att.AttachmentID, LogicalPort: att.LSPName, PfMac: att.VF.PFMAC,
		Function: att.Function, LogicalSwitch: att.LogicalSwitchUUID}
}
