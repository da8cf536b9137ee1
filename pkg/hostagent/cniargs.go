package hostagent

import (
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

func invalidConfig(msg string) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, msg, "")
}

// podArgs are the Kubernetes keys runtimes put in CNI_ARGS.
type podArgs struct {
	namespace, name, infraContainerID string
}

func parseCNIArgs(args string) podArgs {
	var p podArgs
	for _, kv := range strings.Split(args, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "K8S_POD_NAMESPACE":
			p.namespace = v
		case "K8S_POD_NAME":
			p.name = v
		case "K8S_POD_INFRA_CONTAINER_ID":
			p.infraContainerID = v
		}
	}
	return p
}

// lspName expands the lspName template.
func lspName(template, node, containerID, ifname string, pod podArgs) string {
	return strings.NewReplacer(
		"{node}", node, "{containerID}", containerID, "{ifname}", ifname,
		"{podNamespace}", pod.namespace, "{podName}", pod.name,
	).Replace(template)
}
