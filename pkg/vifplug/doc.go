// Package vifplug is the wire contract between the host agent, the DPU
// agent and OVN: the Logical_Switch_Port options that ask a chassis to plug
// a representor (OVN's "VIF plug provider" vocabulary), the ovn-dpu:*
// external_ids the host agent writes on its LSPs, and the OVS Interface
// external_ids the DPU agent writes and reads. No other package spells
// these keys (tests may); building and parsing a plug request goes through
// Request, so the host that writes one and the DPU that reads it agree on
// formats and validation. See docs/contract.md.
package vifplug
