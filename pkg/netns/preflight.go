package netns

import (
	"context"
	"errors"
	"fmt"
)

// Preflight checks, changing nothing, what MoveIn would find wrong before
// its first step: the request itself (ErrInvalidRequest, with
// ErrInvalidIfName for a bad IfName), the pod namespace (ErrNetnsNotFound,
// ErrNotNetns, or ErrHostNetns when it is the host's), the VF at home
// (ErrLinkNotFound), and IfName already taken in the pod (ErrNameTaken).
// A caller runs it before any side effect of its own (the host agent
// before it records the attachment or writes OVN), so a request that can
// never be placed fails without anything to undo. MoveIn checks all of it
// again: the pod may change in between.
func (p *Plumber) Preflight(ctx context.Context, req MoveInRequest) error {
	if err := req.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	host, pod, err := openPair(req.HostNetns, req.PodNetns)
	if err != nil {
		return err
	}
	defer host.close()
	defer pod.close()
	p.bound(&host, &pod)
	if _, err := inspect(host, req.VFNetdev); err != nil {
		return err
	}
	_, err = readState(pod, req.IfName)
	switch {
	case err == nil:
		return fmt.Errorf("%w: %q already exists in %s", ErrNameTaken, req.IfName, pod.desc)
	case errors.Is(err, ErrLinkNotFound):
		return nil
	default:
		return fmt.Errorf("look for %q in %s: %w", req.IfName, pod.desc, err)
	}
}
