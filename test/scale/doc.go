// Package scale is the fleet-scale measurement `make scale` runs
// (through test/cmd/ovn-dpu-scale; not in CI): what N hosts and N DPUs
// cost OVN's central databases, and whether one host's churn costs the
// others anything. docs/scale.md has the method, the figures and the
// cost model drawn from them.
//
// For each N, on one machine: a test bed (package testbed) with NB and SB
// each a 3-member RAFT cluster and a relay in front of each, and
// ovn-northd. Then N nodes (node.go), each a simulated host and its DPU:
//
//   - the host: a network namespace, a fake sysfs tree (one PF, K VFs)
//     whose VF netdevs are veth ends in that namespace, K pod namespaces,
//     and the real ovn-dpu-host-agent running in the host namespace with
//     --nb at the NB relay through a counting proxy (proxy.go);
//   - the DPU: an ovsdb-server with an Open_vSwitch database (system-id,
//     br-int; no ovs-vswitchd), a Chassis row registered in SB, a devlink
//     dump listing the representors, and the real ovn-dpu-agent with --sb
//     at the SB relay through a counting proxy of its own.
//
// ovn-controller and ovs-vswitchd are simulated (controller.go): one
// process gives each interface an agent plugs an ofport, claims its
// binding in SB (directly on the cluster, on a session of its own) and
// sets ovn-installed. The VF move is real: the host agent moves a netdev
// into the pod namespace and back, as on a host. The pods are driven
// through the host agent's gRPC socket, as the CNI plugin does, without
// exec'ing the plugin (its cost is per host, not central) and without an
// IPAM delegate (runtimeConfig.ips gives each pod its address).
//
// What the simulation leaves out, and where it is accounted for: the
// SB session and the flow computation of a real ovn-controller per chassis
// (the reference phase, reference.go, measures a few real ovn-controller
// sessions on the same SB relay, which a reference deployment already
// pays per chassis); ovs-vswitchd and a datapath; Chassis_Private and
// Port_Binding.encap writes of a real claim; mTLS (the agents run with
// --insecure: encryption costs the central servers per byte, not per
// session).
//
// Phases, each measured: the central servers with no agent, then with
// the N idle host and N idle DPU agents (RSS, `ovs-appctl memory/show`;
// RSS growth per session); a window of idle time (anything sent then is
// polling); the churn — every host attaches and then detaches K pods,
// Config.Concurrency operations in flight across the whole fleet so that
// the offered load is the same at every N (ADD latency, request →
// READY; CPU seconds of every central process per 1000 operations); then
// single operations one at a time, each followed by a wait until no
// counter moves (waitQuiet), whose deltas are split between the owner's
// two sessions and everyone else's; then the reference ovn-controllers.
package scale
