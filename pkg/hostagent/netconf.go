package hostagent

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// NetConf is the network configuration keys the host agent reads
// (DESIGN.md "CNI config"); others are ignored, since Multus and runtimes
// inject their own.
type NetConf struct {
	types.NetConf
	LogicalSwitch  string          `json:"logicalSwitch"`
	DeviceID       string          `json:"deviceID"`
	LSPName        string          `json:"lspName"`
	MTU            int             `json:"mtu"`
	MAC            string          `json:"mac"`
	TimeoutSeconds int             `json:"timeoutSeconds"`
	RawIPAM        json.RawMessage `json:"ipam"`
	RuntimeConfig  struct {
		DeviceID string   `json:"deviceID"`
		MAC      string   `json:"mac"`
		IPs      []string `json:"ips"`
	} `json:"runtimeConfig"`

	// Resolved by parseNetConf.
	mac     net.HardwareAddr
	ips     []*net.IPNet
	timeout int
}

const (
	defaultTimeoutSeconds = 60
	defaultLSPName        = "{node}_{containerID}_{ifname}"
)

// parseNetConf decodes and validates stdin; errors are CNI errors naming
// the offending key.
func parseNetConf(data []byte) (*NetConf, error) {
	var c NetConf
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "cannot decode the network configuration", err.Error())
	}
	if c.LogicalSwitch == "" {
		return nil, invalidConfig("logicalSwitch is required: the OVN logical switch to attach to")
	}
	if c.RuntimeConfig.DeviceID != "" {
		c.DeviceID = c.RuntimeConfig.DeviceID
	}
	if c.DeviceID == "" {
		return nil, invalidConfig("deviceID is required (top level, as Multus sets it, or runtimeConfig.deviceID): the VF's PCI address")
	}
	if c.MTU != 0 && (c.MTU < 68 || c.MTU > 65535) {
		return nil, invalidConfig(fmt.Sprintf("mtu %d is out of range 68-65535", c.MTU))
	}
	c.timeout = c.TimeoutSeconds
	if c.timeout == 0 {
		c.timeout = defaultTimeoutSeconds
	}
	if c.timeout < 1 || c.timeout > 3600 {
		return nil, invalidConfig(fmt.Sprintf("timeoutSeconds %d is out of range 1-3600", c.TimeoutSeconds))
	}
	if c.LSPName == "" {
		c.LSPName = defaultLSPName
	}
	if err := c.resolveAddresses(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *NetConf) resolveAddresses() error {
	mac := c.MAC
	if c.RuntimeConfig.MAC != "" {
		mac = c.RuntimeConfig.MAC
	}
	if mac != "" {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return invalidConfig(fmt.Sprintf("mac %q is not a MAC address", mac))
		}
		c.mac = hw
	}
	for _, s := range c.RuntimeConfig.IPs {
		ip, ipnet, err := net.ParseCIDR(s)
		if err != nil {
			return invalidConfig(fmt.Sprintf("runtimeConfig.ips entry %q is not an address with prefix (10.0.0.5/24)", s))
		}
		ipnet.IP = ip
		c.ips = append(c.ips, ipnet)
	}
	return nil
}

func (c *NetConf) ipamType() string {
	var ipam struct {
		Type string `json:"type"`
	}
	if len(c.RawIPAM) == 0 || json.Unmarshal(c.RawIPAM, &ipam) != nil {
		return ""
	}
	return ipam.Type
}

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
