// Package version reports the build's version, stamped by the Makefile with
// -ldflags "-X github.com/ovn-dpu/ovn-dpu/pkg/version.Version=...".
package version

// Version is "dev" unless the build stamps it.
var Version = "dev"
