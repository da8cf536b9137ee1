// Package cniclient is the ovn-dpu CNI plugin's side of the HostAgent.CNI
// call: it reads the few configuration keys the plugin itself needs and
// forwards a CNI request over the host agent's unix socket, turning every
// failure into a CNI error with DESIGN.md's codes.
//
// Everything else in the network configuration is the host agent's
// business, so the plugin forwards stdin untouched and never interprets it
// beyond ParseConfig.
package cniclient
