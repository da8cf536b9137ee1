// Package hoststate is the host agent's durable memory of the attachments it
// has worked on (the --state-dir flag, default /var/lib/ovn-dpu).
//
// The host agent performs an ADD as a sequence of side effects — run the IPAM
// delegate, write the Logical_Switch_Port, move the VF into the pod — and any
// of them can be cut short by a crash, a restart or a DEL that supersedes the
// ADD. A DEL must then undo exactly what was done, and nothing else: it must
// not release an address another attachment now holds, nor delete an LSP it
// never wrote. So before each side effect the agent records its intent in the
// attachment's [Attachment.Steps] and saves the record ([Store.Save] is
// atomic), and after the side effect it records that it is done and saves
// again. A step found as [StepIntent] may or may not have happened; whoever
// undoes it must do so idempotently (release by container id, delete the LSP
// only if it carries our attachment id, move the VF back only if it is still
// in the pod's namespace).
//
// Records are keyed by the CNI pair (container id, ifname), which is what a
// DEL carries, and carry the CNI network name so that GC can find the
// attachments of one network ([Store.ListByNetwork]) and remove those absent
// from cni.dev/valid-attachments.
//
// [Locker] serialises the work on one key. [Locker.Begin] also gives DEL
// precedence: a DEL cancels the in-flight ADD of the same key (and fails the
// ADDs queued before it) instead of waiting for them to finish work it is
// about to undo.
package hoststate
