package hostagent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
)

// VF MAC set from the DPU. A DPU agent run with --set-function-mac sets
// each VF's MAC itself, through the devlink port function of its
// representor, before it plugs it (NICs whose host may not change VF MACs:
// BlueField in restricted host mode). Its Info says so; the host agent
// then moves the VF in without touching its MAC, still reports the
// logical port's MAC in the result, and after the DPU's READY waits until
// the VF in the pod shows that MAC: the NIC changes it when the DPU sets
// the function's hw_addr. A VF that never does fails the ADD (code 101)
// naming both MACs, rather than leaving a pod whose MAC OVN does not
// know. docs/architecture.md, "VF MAC set from the DPU".

// functionMACPoll is how often the pod's VF is looked at while waiting
// for the MAC the DPU set.
const functionMACPoll = 20 * time.Millisecond

// dpuSetsFunctionMAC asks the DPU's Info whether it sets VF MACs.
func (a *Agent) dpuSetsFunctionMAC(ctx context.Context, d DPU) (bool, error) {
	sets, err := d.SetsFunctionMAC(ctx)
	if err != nil {
		return false, types.NewError(types.ErrTryAgainLater, "cannot learn from the DPU whether it sets VF MACs: "+err.Error(), "")
	}
	return sets, nil
}

// awaitFunctionMAC waits, when the DPU sets the VF's MAC, for the VF in
// the pod to show the logical port's MAC.
func (a *Agent) awaitFunctionMAC(ctx context.Context, ad *addition) error {
	if !ad.dpuSetsMAC {
		return nil
	}
	req := netns.CheckRequest{PodNetns: ad.req.Netns, IfName: ad.req.Ifname, MAC: ad.mac}
	tick := time.NewTicker(functionMACPoll)
	defer tick.Stop()
	for {
		err := a.plumber.Check(ctx, req)
		switch {
		case err == nil:
			ad.log.Info("VF has the MAC the DPU set", "mac", ad.mac.String())
			return nil
		case !errors.Is(err, netns.ErrMACMismatch):
			return plumbingError(ad, err)
		}
		select {
		case <-ctx.Done():
			return types.NewError(codeNotReady, fmt.Sprintf(
				"the DPU sets VF MACs (--set-function-mac) and reported the port READY, but %s in the pod does not show the logical port's MAC %s within timeoutSeconds=%d: %v",
				ad.req.Ifname, ad.mac, ad.conf.TimeoutSeconds, err), "")
		case <-tick.C:
		}
	}
}
