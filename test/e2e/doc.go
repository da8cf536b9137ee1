// Package e2e attaches pods end to end on the real-OVN test bed: cnitool
// execs ovn-dpu-cni, which forwards to ovn-dpu-host-agent in the host
// namespace, which writes the LSP to NB and moves the fake VF into the pod;
// ovn-dpu-agent in the dpu namespace plugs the representor, ovn-controller
// installs it, and the pods ping each other across OVN.
package e2e
