package dpuclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// ErrRejected is returned when the DPU reports ERROR for the attachment.
var ErrRejected = errors.New("rejected by the DPU")

// ErrNotReady is returned when the attachment is not READY in time.
var ErrNotReady = errors.New("not ready")

// WaitReady waits until the DPU reports lsp READY for attachment. ERROR
// returns at once (wrapping ErrRejected, with the DPU's reason). While the
// stream is down no verdict can come: after the grace period (see
// waitStream), or when ctx ends with the stream down, the error wraps
// ErrUnreachable and names the DPU agent and why its stream is down. When
// ctx ends first otherwise, the error wraps ErrNotReady and says what the
// DPU last said — or that it has not seen the port at all, which after a
// complete snapshot means the request has not reached it.
func (c *Client) WaitReady(ctx context.Context, lsp, attachment string) (*ovndpuv1.PortStatus, error) {
	var st *ovndpuv1.PortStatus
	err := c.waitStream(ctx, func() bool {
		st = c.ports[lsp]
		if st == nil || (attachment != "" && st.AttachmentId != attachment) {
			st = nil
			return false
		}
		return st.Phase == ovndpuv1.Phase_PHASE_READY || st.Phase == ovndpuv1.Phase_PHASE_ERROR
	})
	if err == nil {
		if st.Phase == ovndpuv1.Phase_PHASE_ERROR {
			return st, fmt.Errorf("%w: %s", ErrRejected, st.Reason)
		}
		return st, nil
	}
	if errors.Is(err, ErrUnreachable) {
		return nil, err
	}
	c.mu.Lock()
	var down error
	if !c.synced { // ctx ended during an outage shorter than the grace
		down = c.unreachableLocked()
	}
	c.mu.Unlock()
	if down != nil {
		return nil, down
	}
	return nil, fmt.Errorf("%w: %s", ErrNotReady, c.describe(lsp, attachment))
}

// WaitGone waits until the DPU no longer has lsp plugged for attachment
// (UNPLUGGED, or absent from a complete snapshot).
func (c *Client) WaitGone(ctx context.Context, lsp, attachment string) error {
	err := c.wait(ctx, func() bool {
		st := c.ports[lsp]
		return c.synced && (st == nil || (attachment != "" && st.AttachmentId != attachment))
	})
	if err != nil {
		return fmt.Errorf("logical port %s still plugged on the DPU: %s", lsp, c.describe(lsp, attachment))
	}
	return nil
}

// describe says what the DPU last reported for lsp.
func (c *Client) describe(lsp, attachment string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return c.downErr().Error()
	}
	st := c.ports[lsp]
	switch {
	case st == nil:
		return fmt.Sprintf("the DPU agent has not seen logical port %s (check %s and that ovn-northd runs)", lsp, vifplug.OptRequestedChassis)
	case attachment != "" && st.AttachmentId != attachment:
		return fmt.Sprintf("the DPU agent still reports a previous attachment %s of logical port %s (%v: %s)", st.AttachmentId, lsp, st.Phase, st.Reason)
	case st.Reason != "":
		return fmt.Sprintf("last status %v: %s", st.Phase, st.Reason)
	default:
		return fmt.Sprintf("last status %v", st.Phase)
	}
}

// PortStatus is what the DPU last reported for lsp (nil when nothing). A
// stream out of sync (a DPU agent restarting) gets the grace period to
// come back, as WaitReady does; after it, or when ctx ends first, the
// error says there is no telling.
func (c *Client) PortStatus(ctx context.Context, lsp string) (*ovndpuv1.PortStatus, error) {
	if err := c.waitStream(ctx, func() bool { return c.synced }); err != nil {
		if errors.Is(err, ErrUnreachable) {
			return nil, err
		}
		c.mu.Lock() // ctx ended during an outage shorter than the grace
		defer c.mu.Unlock()
		return nil, c.downErr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ports[lsp], nil
}
