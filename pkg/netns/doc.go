// Package netns plumbs an SR-IOV VF netdev into a pod's network namespace
// on CNI ADD and brings it home on DEL (steps 5 and "DEL reverses it" of
// the flow in docs/architecture.md). It is Linux-only.
//
// A link is renamed only inside a private, anonymous temporary namespace,
// as the reference host-device plugin does: renaming in place races with
// udev and NetworkManager, and the pod's ifname (eth0) usually exists in
// the host namespace too. Inside the pod the link carries the VF's host
// name as its alias (IFLA_IFALIAS), so a DEL can recognise it, and so can
// the host after the kernel returned a real VF from a destroyed pod
// namespace under its pod name.
//
// Every step of [Plumber.MoveIn] and of the pod side of [Plumber.MoveOut]
// records how to undo itself; on any failure (including a cancelled
// context between steps) the completed steps are reverted in reverse
// order, and the error names the failed step, its value and, if reverting
// was incomplete too, what could not be undone. A VF whose move failed
// therefore sits in its host namespace under its original name, MAC and
// MTU, down, and no temporary namespace survives the call.
//
// The original name, MAC and MTU are the caller's to persist: read them
// with [Plumber.Inspect] before MoveIn (which also returns them in
// [Placed]) and hand them back to MoveOut, which is idempotent: it
// succeeds when the VF is already home, when the pod namespace is gone and
// the VF came back on its own, and when called twice.
//
// All work inside a namespace runs in ns.Do from containernetworking's
// plugins, which locks the goroutine to an OS thread and retires the
// thread if it cannot switch back; the Plumber is safe for concurrent use
// on different VFs.
package netns
