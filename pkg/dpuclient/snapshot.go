package dpuclient

import (
	"maps"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Snapshot is what the DPU last reported for every port of this node, at
// once and without waiting: an error (why the stream is down) while the
// stream is not in sync. For status commands, which must answer now.
func (c *Client) Snapshot() (map[string]*ovndpuv1.PortStatus, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		return nil, c.downErr()
	}
	return maps.Clone(c.ports), nil
}
