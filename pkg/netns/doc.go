// Package netns plumbs an SR-IOV VF netdev into a pod's network namespace
// on CNI ADD and brings it home on DEL (steps 5 and "DEL reverses it" of
// the flow in docs/architecture.md). It is Linux-only.
//
// A link changes namespace and name in one RTM_NEWLINK carrying both
// IFLA_NET_NS_FD and IFLA_IFNAME, so MoveIn and MoveOut each move the VF
// once: moves wait under the kernel's RTNL lock, which bursts of ADDs
// contend for. The kernel renames the link in the target namespace under
// the same RTNL hold, and gives it the new name on the way in when its
// current one is taken there (the pod's ifname, eth0, usually exists in
// the host namespace). When the new name is taken, the kernel moves the
// link under its old name and fails with EEXIST; the link is then moved
// back and the error wraps [ErrNameTaken]. No temporary namespace is
// used, unlike the reference host-device plugin: nothing needs one (see
// moveTo and renameHome). Before the move into the pod the link gets the
// VF's host name as its alias (IFLA_IFALIAS, which survives the move), so
// a DEL can recognise it, and so can the host after the kernel returned
// a real VF from a destroyed pod namespace under its pod name.
//
// Every step of [Plumber.MoveIn] and of the pod side of [Plumber.MoveOut]
// records how to undo itself; on any failure (including a cancelled
// context between steps) the completed steps are reverted in reverse
// order, and the error names the failed step, its value and, if reverting
// was incomplete too, what could not be undone. A VF whose move failed
// therefore sits in its host namespace under its original name, MAC and
// MTU, down.
//
// The addresses may arrive late: with [MoveInRequest.Addresses] set,
// MoveIn asks for them only once the link is in the pod under its name,
// MAC and MTU, so the slow namespace moves overlap with whatever the
// caller waits for (OVN northd assigning dynamic addresses, say). An error
// from it rolls the move back like any other step.
//
// IPv6 is usable the moment MoveIn returns, as pods expect after CNI ADD
// and OVN port security demands:
//   - Before the link goes up its IPv6 address generation is set to none,
//     so the kernel adds no link-local address of its own: under the
//     distribution's addr_gen_mode that could be a stable-privacy one,
//     which port security does not admit, and it would stay tentative
//     during DAD for about a second. MoveIn adds the EUI-64 link-local
//     address of the link's final MAC ([EUI64LinkLocal]) instead, the one
//     port security admits.
//   - Every IPv6 address, that link-local one included, is added without
//     DAD (IFA_F_NODAD). The addresses come from an allocator that
//     guarantees them unique in the network (the IPAM delegate or OVN's
//     own IPAM), and port security stops a neighbour from claiming them,
//     while DAD would keep them tentative, so unusable, for RetransTimer ×
//     DupAddrDetectTransmits (a second or more) after ADD returned.
//   - If the pod's namespace has IPv6 disabled on the link (disable_ipv6;
//     a link moved in takes the namespace's defaults) and IPv6 addresses
//     are requested, MoveIn enables it; with none requested it leaves it
//     off. A link that cannot have IPv6 at all (a kernel booted with
//     ipv6.disable=1, an MTU below 1280) is fine for IPv4 only, and an
//     error wrapping [ErrIPv6Unavailable] when IPv6 is requested.
//
// A failed MoveOut that brings the link back into the pod puts these
// per-link settings back too, since the moves reset them.
//
// [Plumber.Check] verifies what MoveIn owns (name, up, MAC, addresses,
// routes) and nothing a chained plugin may change (MTU, sysctls). Each
// difference is an error saying in plain words what differs.
//
// The original name, MAC and MTU are the caller's to persist (the host
// agent reads them from sysfs before MoveIn) and to hand back to MoveOut
// in [Original]. MoveOut is idempotent: it
// succeeds when the VF is already home, when the pod namespace is gone and
// the VF came back on its own, and when called twice; a VF renamed inside
// the pod is found by its alias.
//
// All work inside a namespace runs in ns.Do from containernetworking's
// plugins, which locks the goroutine to an OS thread and retires the
// thread if it cannot switch back; the Plumber is safe for concurrent use
// on different VFs.
package netns
