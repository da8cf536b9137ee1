// Package portstatus holds the DPU agent's view of every logical port it
// plugs and streams it to host agents over the DPUAgent gRPC API.
//
// The reconciler is level-triggered: on every pass it computes each port's
// complete status and hands it to Store.Set. The Store turns that into
// edge-triggered events — only real changes get a new generation and reach
// watchers — so a reconcile loop running every second does not flood host
// agents. Server serves WatchPorts from the Store as docs/contract.md "Port phases"
// describes: a snapshot, a SnapshotComplete marker, then changes, limited
// to one host's node. Given an IdentityFunc (WithIdentity; with mutual TLS,
// tlsutil.PeerIdentity), that node is the caller's authenticated identity
// and a request for another node is refused; without one (--insecure) the
// request's node filter is trusted.
//
// A watcher that cannot keep up is dropped rather than allowed to stall the
// reconciler; its stream ends with codes.ResourceExhausted and it is
// expected to reconnect, which gives it a fresh snapshot. Because
// generations come from one store-wide counter, a client can always discard
// an event whose generation is not higher than the last it saw for that
// port, even across a delete and re-create of the same logical port name.
package portstatus
