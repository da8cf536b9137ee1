// Package dpuclient is the host agent's view of a DPU agent: it learns the
// DPU's chassis from Info, keeps a WatchPorts stream open (reconnecting
// with backoff, replacing its state from each new snapshot), and lets
// callers wait for an attachment's verdict without missing an event that
// arrived before they started waiting. A wait gives up with ErrUnreachable
// when the stream stays down for DefaultDownGrace (a DPU gone silent is
// noticed by the gRPC keepalive of pkg/cmdutil's KeepaliveFlags).
package dpuclient
