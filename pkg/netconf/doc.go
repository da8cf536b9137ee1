// Package netconf is the one parser of ovn-dpu's CNI network configuration,
// used by the plugin (before it dials the host agent) and by the host agent
// alike, so both read the same keys by the same rules: keys match exactly,
// as the CNI spec's JSON is case-sensitive ("TimeoutSeconds" is someone
// else's key); unknown keys are ignored, because runtimes and Multus inject
// their own; a known key of the wrong type or out of range is a CNI error
// 7 naming it. Every default lives here. See docs/contract.md.
package netconf
