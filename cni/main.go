// Command ovn-dpu-cni is the CNI 1.1 plugin: a thin client that forwards
// each request to ovn-dpu-host-agent over its unix socket and prints the
// answer. Every verb's logic lives in the agent; see docs/architecture.md.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
	ovndpuversion "github.com/ovn-dpu/ovn-dpu/pkg/version"
)

func main() {
	p := &plugin{stdout: os.Stdout, stderr: os.Stderr, started: time.Now()}
	stdin, err := p.preflight(os.Getenv, os.Setenv, os.Stdin)
	if err != nil {
		p.exit(err)
	}
	if stdin != nil {
		os.Stdin = stdin // skel reads os.Stdin
	}
	// PluginMainFuncsWithError rather than PluginMainFuncs: skel prints
	// errors without cniVersion, which the spec's error object carries.
	if err := skel.PluginMainFuncsWithError(p.funcs(),
		version.PluginSupports(netconf.SupportedVersions...),
		fmt.Sprintf("ovn-dpu-cni %s", ovndpuversion.Version)); err != nil {
		p.exit(err)
	}
}

// exit prints err as the spec's error object and exits with status 1.
func (p *plugin) exit(err *types.Error) {
	if perr := p.printError(err); perr != nil {
		fmt.Fprintln(os.Stderr, "ovn-dpu-cni: writing the error to stdout:", perr)
	}
	os.Exit(1)
}
