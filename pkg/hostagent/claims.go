package hostagent

import (
	"context"
	"fmt"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// A DPU serving several hosts plugs a host's function only for an
// attachment the host claimed over its authenticated stream (Info
// requires_claims; docs/multi-host.md). The host agent claims each
// attachment before it writes the LSP, claims all it holds again when a
// DPU's stream reconnects (the DPU keeps claims in memory), and releases
// an attachment's claim once its LSP is deleted.

// claimsFor lists the claims of every attachment this host holds on the
// DPU whose chassis is named: those whose LSP exists or may (its step is
// recorded) and is not being unplugged.
func (a *Agent) claimsFor(chassis string) []*ovndpuv1.AttachmentClaim {
	atts, err := a.state.List()
	if err != nil {
		a.log.Error("cannot list attachments to claim them on the DPU again", "dpu_chassis", chassis, "err", err)
	}
	var claims []*ovndpuv1.AttachmentClaim
	for _, att := range atts {
		_, hasLSP := att.Step(hoststate.StepLSP)
		mine := att.DPU == chassis || att.DPU == "" && len(a.dpus) == 1
		if hasLSP && mine && !att.UnplugPending {
			claims = append(claims, claimOf(att))
		}
	}
	return claims
}

// claimAttachment claims the ADD's attachment on its DPU before the LSP is
// written. A refusal is the DPU's verdict (code 100); a DPU that cannot be
// asked is "try again later".
func (a *Agent) claimAttachment(ctx context.Context, ad *addition) error {
	err := ad.dpu.Claim(ctx, false, []*ovndpuv1.AttachmentClaim{claimOf(ad.att)})
	switch status.Code(err) {
	case codes.OK:
		return nil
	case codes.PermissionDenied, codes.FailedPrecondition, codes.InvalidArgument, codes.Unauthenticated:
		return types.NewError(codeRejected, "the DPU refused this host's claim of the attachment: "+status.Convert(err).Message(),
			fmt.Sprintf("logical port %s, attachment %s, %s=%s %s", ad.att.LSPName, ad.att.AttachmentID, vifplug.OptPFMAC,
				ad.att.VF.PFMAC, ad.att.Function))
	}
	return types.NewError(types.ErrTryAgainLater, "cannot claim the attachment on the DPU", err.Error())
}

// releaseTimeout bounds a Release: it is a courtesy (the next reconnect's
// claims replace all), never a reason for DEL to wait.
const releaseTimeout = 2 * time.Second

// releaseClaim tells att's DPU that its attachment is gone.
func (a *Agent) releaseClaim(ctx context.Context, att *hoststate.Attachment) {
	ctx, cancel := context.WithTimeout(ctx, releaseTimeout)
	defer cancel()
	d, err := a.dpus.of(ctx, att)
	if err == nil {
		err = d.Release(ctx, []string{att.AttachmentID})
	}
	if err != nil {
		a.log.Debug("claim not released; the DPU drops it when this host reconnects", "logical_port", att.LSPName,
			"attachment", att.AttachmentID, "err", err)
	}
}
