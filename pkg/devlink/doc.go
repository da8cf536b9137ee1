// Package devlink keeps the DPU's table of representor netdevs, so that the
// DPU agent can turn an OVN port's (vif-plug:representor:pf-mac,
// vif-plug:representor:vf-num) — or sf-num, or neither for the PF itself —
// into the netdev to plug into br-int without touching devlink on the
// lookup path.
//
// Ports arrive from a Source — a `devlink -j port show` dump file
// (FileSource, the agent's --devlink-dump) or the kernel's devlink over
// netlink (NetlinkSource) — and every change rebuilds an index keyed by
// (PF MAC, function). Matching is controller-aware, as in ovn-org/ovn-vif's
// representor provider: a pcipf port's function hw_addr names the host PF
// (and the port is the PF's own representor), and pcivf and pcisf ports on
// the same device, controller and pfnum are its VFs and Scalable Functions.
// Where firmware reports no PF MAC, it comes from sysfs (smart_nic/pf/config
// of the uplink on a DPU, the uplink's address on a host-side switchdev NIC).
//
// NetlinkSource dumps all devlink ports at start and every resync interval,
// and applies the PORT_NEW/PORT_DEL notifications of the devlink generic
// netlink family's "config" multicast group in between; a notification
// overrun (ENOBUFS) costs an immediate dump. Representors renamed by udev
// are followed by the PORT_NEW that Linux 6.2 and later send on a rename,
// by a dump when rtnetlink reports a known ifindex under a new name (older
// kernels), and by the periodic resync as the safety net.
//
// The netlink path is exercised only on DPU hardware: the kernel this
// package was developed on has no devlink at all (no "devlink" generic
// netlink family, no netdevsim). Its decoding is proven on byte-level
// fixtures in testdata/netlink, built to the kernel's devlink_nl_port_fill
// layout rather than captured, and by fuzzing; the socket handling is
// exercised on this kernel through rtnetlink link notifications only.
package devlink
