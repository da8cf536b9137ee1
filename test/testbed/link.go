package testbed

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// deadMAC is a locally administered address no interface of the bed has.
const deadMAC = "02:de:ad:00:00:01"

// CutHostLink makes the host<->dpu link silent both ways, as a hung or
// unplugged DPU looks to the host: each end sends its packets for the
// other to a MAC address nobody has (a permanent neighbour entry), so the
// other end drops them on receive. There is no RST, no ICMP error and no
// carrier change, so established TCP connections stay half-open and new
// ones hang in SYN_SENT. restore removes the entries (ARP resolves the real
// addresses again); it may be called more than once.
func (b *Bed) CutHostLink(ctx context.Context) (restore func() error, err error) {
	if b.HostNetns == "" {
		return nil, errors.New("CutHostLink needs a bed with Options.HostNetns")
	}
	ends := []struct {
		netns, dev string
		peer       net.IP
	}{
		{b.HostNetns, "hl" + b.ID, b.DPUAddr},
		{b.DPUNetns, "dl" + b.ID, b.HostAddr},
	}
	var once sync.Once
	var restoreErr error
	restore = func() error {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for _, e := range ends {
				if _, err := b.run(ctx, "ip", "-n", e.netns, "neigh", "del", e.peer.String(), "dev", e.dev); err != nil {
					restoreErr = errors.Join(restoreErr, err)
				}
			}
		})
		return restoreErr
	}
	for _, e := range ends {
		if _, err := b.run(ctx, "ip", "-n", e.netns, "neigh", "replace", e.peer.String(), "lladdr", deadMAC,
			"dev", e.dev, "nud", "permanent"); err != nil {
			return nil, errors.Join(err, restore())
		}
	}
	return restore, nil
}
