// Package devlink keeps the DPU's table of representor netdevs, so that the
// DPU agent can turn an OVN port's (vif-plug:representor:pf-mac,
// vif-plug:representor:vf-num) into the netdev to plug into br-int without
// touching devlink on the lookup path.
//
// Ports arrive from a Source — a `devlink -j port show` dump file
// (FileSource, the agent's --devlink-dump) or, later, devlink netlink
// notifications — and every change rebuilds an index keyed by (PF MAC, VF
// number). Matching is controller-aware, as in ovn-org/ovn-vif's
// representor provider: a pcipf port's function hw_addr names the host PF,
// and pcivf ports on the same device, controller and pfnum are its VFs.
// Where firmware reports no PF MAC, it comes from sysfs (smart_nic/pf/config
// of the uplink on a DPU, the uplink's address on a host-side switchdev NIC).
package devlink
