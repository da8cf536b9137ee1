package hostagent

import (
	"strings"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/ovn-dpu/ovn-dpu/pkg/netconf"
)

func invalidConfig(msg string) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, msg, "")
}

// lspName expands the lspName template.
func lspName(template, node, containerID, ifname string, pod netconf.PodArgs) string {
	return strings.NewReplacer(
		"{node}", node, "{containerID}", containerID, "{ifname}", ifname,
		"{podNamespace}", pod.Namespace, "{podName}", pod.Name,
	).Replace(template)
}
