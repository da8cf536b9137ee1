// Command ovn-dpu-cni is the CNI 1.1 plugin: a thin client that forwards
// each request to ovn-dpu-host-agent over its unix socket and prints the
// answer. Every verb's logic lives in the agent; see docs/architecture.md.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"

	ovndpuversion "github.com/ovn-dpu/ovn-dpu/pkg/version"
)

func main() {
	p := &plugin{stdout: os.Stdout, stderr: os.Stderr, started: time.Now()}
	// PluginMainFuncsWithError rather than PluginMainFuncs: skel prints
	// errors without cniVersion, which the spec's error object carries.
	err := skel.PluginMainFuncsWithError(p.funcs(),
		version.PluginSupports("0.4.0", "1.0.0", "1.1.0"),
		fmt.Sprintf("ovn-dpu-cni %s", ovndpuversion.Version))
	if err != nil {
		if perr := p.printError(err); perr != nil {
			fmt.Fprintln(os.Stderr, "ovn-dpu-cni: writing the error to stdout:", perr)
		}
		os.Exit(1)
	}
}
