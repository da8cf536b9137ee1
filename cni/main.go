// Command ovn-dpu-cni is the CNI 1.1 plugin: a thin client that forwards
// each request to ovn-dpu-host-agent over its unix socket. See DESIGN.md.
package main

import (
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	ovndpuversion "github.com/ovn-dpu/ovn-dpu/pkg/version"
)

// errTryAgainLater is CNI error 11: the host agent this plugin forwards to
// is not part of this build yet.
func notAvailable(_ *skel.CmdArgs) error {
	return types.NewError(types.ErrTryAgainLater, "ovn-dpu host agent not available",
		"this build of ovn-dpu-cni has no host agent client yet")
}

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add: notAvailable, Del: notAvailable, Check: notAvailable, GC: notAvailable, Status: notAvailable,
	}, version.PluginSupports("0.4.0", "1.0.0", "1.1.0"), fmt.Sprintf("ovn-dpu-cni %s", ovndpuversion.Version))
}
