// Package dpuagent_test runs ovn-dpu-agent against the real-OVN test bed:
// LSPs written straight into NB the way Neutron or ovn-nbctl writes them,
// representors plugged into a real ovs-vswitchd, ovn-controller setting
// ovn-installed, traffic crossing OVN.
package dpuagent_test
