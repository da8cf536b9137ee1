package dpuclient

import (
	"context"
	"fmt"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// ClaimSource lists the claims of every attachment this host holds on the
// DPU whose chassis is named: what the client sends, replacing all, each
// time it reconnects to a DPU that requires claims.
type ClaimSource func(chassis string) []*ovndpuv1.AttachmentClaim

// WithClaimSource makes the client re-claim the host's attachments on
// every (re)connect to a DPU serving several hosts: the DPU keeps claims
// in memory only.
func WithClaimSource(src ClaimSource) Option { return func(c *Client) { c.claimSource = src } }

// Claim announces attachments to a DPU that requires claims (Info
// requires_claims); to any other DPU it sends nothing. The host agent
// claims each attachment before writing its LSP to NB.
func (c *Client) Claim(ctx context.Context, replaceAll bool, claims []*ovndpuv1.AttachmentClaim) error {
	info, err := c.Info()
	if err != nil {
		return err
	}
	if !info.GetRequiresClaims() {
		return nil
	}
	// One claim call at a time: a reconnect's replace_all, listed before
	// an ADD saved its record, must not land after that ADD's own claim.
	c.claimMu.Lock()
	defer c.claimMu.Unlock()
	if _, err := c.api.Claim(ctx, &ovndpuv1.ClaimRequest{Claims: claims, ReplaceAll: replaceAll}); err != nil {
		return fmt.Errorf("%s Claim: %w", c.agentName(), err)
	}
	return nil
}

// Release tells a DPU that requires claims that these attachments are
// gone.
func (c *Client) Release(ctx context.Context, attachmentIDs []string) error {
	info, err := c.Info()
	if err != nil || !info.GetRequiresClaims() {
		return err
	}
	if _, err := c.api.Release(ctx, &ovndpuv1.ReleaseRequest{AttachmentIds: attachmentIDs}); err != nil {
		return fmt.Errorf("%s Release: %w", c.agentName(), err)
	}
	return nil
}

// reclaim sends every claim of the host to a DPU that requires them,
// after a (re)connect. A failure is logged, not fatal to the stream: the
// DPU keeps ports it plugged, and each ADD claims its own attachment.
func (c *Client) reclaim(ctx context.Context, info *ovndpuv1.InfoResponse) {
	if c.claimSource == nil || !info.GetRequiresClaims() {
		return
	}
	c.claimMu.Lock()
	claims := c.claimSource(info.GetChassis())
	_, err := c.api.Claim(ctx, &ovndpuv1.ClaimRequest{Claims: claims, ReplaceAll: true})
	c.claimMu.Unlock()
	if err != nil {
		c.log.Warn("DPU refused this host's claims after a reconnect", "dpu", c.target, "claims", len(claims), "err", err)
		return
	}
	c.log.Debug("attachments claimed again after a reconnect", "dpu", c.target, "claims", len(claims))
}

// RefreshInfo asks the DPU agent for its Info now, waiting for the
// connection within ctx, and keeps the answer.
func (c *Client) RefreshInfo(ctx context.Context) (*ovndpuv1.InfoResponse, error) {
	info, err := c.api.Info(ctx, &ovndpuv1.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("%s Info: %w", c.agentName(), err)
	}
	c.setInfo(info)
	return info, nil
}

// Target is the DPU agent's address as dialled ("" when unknown).
func (c *Client) Target() string { return c.target }
