// Package cniclient is the ovn-dpu CNI plugin's side of the HostAgent.CNI
// call: it forwards a CNI request over the host agent's unix socket and
// turns every failure into a CNI error with the codes of docs/contract.md.
//
// The network configuration is the host agent's business: the plugin
// forwards stdin untouched and reads it only through pkg/netconf.
package cniclient
