// Package testbed runs a real OVN sandbox on one machine for integration
// tests, end-to-end tests and the demo: NB and SB ovsdb-servers and
// ovn-northd in the root namespace, and a "dpu" network namespace with its
// own ovsdb-server, ovs-vswitchd (userspace netdev datapath; the kernel has
// no OVS module) and ovn-controller. Fake VFs are veth pairs whose peer, the
// representor, sits in the dpu namespace; a fake PCI sysfs tree and a
// `devlink -j port show` file describe them the way real hardware would.
// With Options.Clustered, NB and SB are 3-member RAFT clusters on
// loopback (optionally with relays), with helpers to kill, stop or move
// their leaders (cluster.go).
//
// Every bed gets its own short temp dir and uniquely named namespaces and
// links, starts its daemons as children that die with the test process, and
// tears everything down in Close, which tests register with t.Cleanup so it
// runs even when a test fails or panics. Namespaces left by a test process
// that was killed are swept by the next bed.
package testbed
