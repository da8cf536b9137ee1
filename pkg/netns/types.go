package netns

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// Original is the VF as it was in the host namespace before MoveIn: what
// MoveOut restores. The caller persists it before moving, because once the
// VF is in a pod neither sysfs nor the host namespace show it.
type Original struct {
	Name string           // netdev name in the host namespace
	MAC  net.HardwareAddr // nil: leave the MAC as found
	MTU  int              // 0: leave the MTU as found
}

// MoveInRequest asks for a VF to be placed into a pod.
type MoveInRequest struct {
	// HostNetns is the path of the namespace holding the VF; "" means the
	// calling process's own namespace. The host agent may itself run in a
	// non-initial namespace (the test bed's "host"), so it is explicit.
	HostNetns string
	VFNetdev  string           // the VF's name in HostNetns
	PodNetns  string           // path of the pod's namespace, e.g. the CNI_NETNS value
	IfName    string           // name of the VF inside the pod
	MAC       net.HardwareAddr // nil keeps the VF's MAC
	MTU       int              // 0 keeps the VF's MTU
	// LinkLocalMAC, with MAC nil, is the MAC the VF is about to get from
	// elsewhere (a DPU that sets VF MACs): the IPv6 link-local address is
	// derived from it rather than from the VF's MAC now, so that it is the
	// one OVN port security admits. nil: the VF's MAC.
	LinkLocalMAC net.HardwareAddr
	// IPs are added with their prefix length; a Gateway is used by the
	// routes of its family that name none, as CNI's ipam.ConfigureIface does.
	IPs []*current.IPConfig
	// Routes are added after the link is up; 0.0.0.0/0 or ::/0 with a
	// gateway is the default route.
	Routes []*types.Route
	// Addresses, when non-nil, supplies the IPs and routes late: MoveIn
	// calls it once the link is in the pod under IfName with MAC and MTU
	// set, so the slow namespace moves overlap with whatever the caller
	// waits for (OVN northd assigning dynamic addresses, say), and uses
	// what it returns instead of IPs and Routes, which are then ignored.
	// The result is validated like IPs and Routes. An error from it, or
	// ctx ending while it runs, rolls everything back; MoveIn's error
	// wraps the callback's, so errors.Is sees it. It runs on MoveIn's
	// goroutine in the caller's own namespace, not in the pod's.
	Addresses func(ctx context.Context) (ips []*current.IPConfig, routes []*types.Route, err error)
}

// Placed describes a VF after a successful MoveIn.
type Placed struct {
	IfName string
	MAC    net.HardwareAddr // the MAC the link has in the pod
	MTU    int              // the MTU the link has in the pod
	// IPs and Routes are what was configured: the request's, or what its
	// Addresses callback returned.
	IPs    []*current.IPConfig
	Routes []*types.Route
}

// CheckRequest names what CNI CHECK verifies in the pod: the parts of the
// link this plugin owns. MTU and sysctls are not among them; a chained
// plugin such as tuning may legitimately change those.
type CheckRequest struct {
	PodNetns, IfName string
	MAC              net.HardwareAddr // nil: not checked
	// IPs must each be on the link with their prefix length; a Gateway
	// is the gateway expected of the routes of its family that name none,
	// as MoveIn installed them.
	IPs    []*current.IPConfig
	Routes []*types.Route // each must exist on the link, in its table
}

// MoveOutRequest asks for a VF to be brought home from a pod.
type MoveOutRequest struct {
	// PodNetns "" or a path that is gone or no longer a namespace means
	// the pod is gone; the VF is then looked for at home only.
	PodNetns  string
	IfName    string
	HostNetns string // as in MoveInRequest
	Original  Original
	// HomeName is where the VF is at home when it is there under neither
	// Original.Name nor our alias (renamed after a reboot, say): the
	// caller finds it by PCI address. It is renamed back.
	HomeName string
}

func (r MoveInRequest) validate() error {
	if r.VFNetdev == "" {
		return fmt.Errorf("%w: VF netdev is empty", ErrInvalidRequest)
	}
	if r.PodNetns == "" {
		return fmt.Errorf("%w: pod netns is empty", ErrInvalidRequest)
	}
	if !filepath.IsAbs(r.PodNetns) {
		// It would resolve against this process's working directory.
		return fmt.Errorf("%w: pod netns %s is not an absolute path", ErrNotNetns, r.PodNetns)
	}
	if err := validIfName(r.IfName); err != nil {
		return err
	}
	if r.MTU < 0 {
		return fmt.Errorf("%w: MTU %d", ErrInvalidRequest, r.MTU)
	}
	if r.Addresses != nil {
		return nil // validated when they arrive
	}
	return validateAddressing(r.IPs, r.Routes)
}

func (r CheckRequest) validate() error {
	if r.PodNetns == "" {
		return fmt.Errorf("%w: pod netns is empty", ErrInvalidRequest)
	}
	if err := validIfName(r.IfName); err != nil {
		return err
	}
	return validateAddressing(r.IPs, r.Routes)
}

// validateAddressing refuses IP configs without an address and routes
// without a destination, from a request or an Addresses callback alike.
func validateAddressing(ips []*current.IPConfig, routes []*types.Route) error {
	for _, ipc := range ips {
		if ipc == nil || ipc.Address.IP == nil || ipc.Address.Mask == nil {
			return fmt.Errorf("%w: IP config %v has no address/prefix", ErrInvalidRequest, ipc)
		}
	}
	for _, rt := range routes {
		if rt == nil || rt.Dst.IP == nil || rt.Dst.Mask == nil {
			return fmt.Errorf("%w: route %v has no destination", ErrInvalidRequest, rt)
		}
	}
	return nil
}

func (r MoveOutRequest) validate() error {
	if r.Original.Name == "" {
		return fmt.Errorf("%w: original VF name is empty", ErrInvalidRequest)
	}
	if err := validIfName(r.Original.Name); err != nil {
		return err
	}
	return validIfName(r.IfName)
}

// validIfName applies the kernel's dev_valid_name rules, so a bad name
// fails before anything moved rather than in the middle.
func validIfName(name string) error {
	switch {
	case name == "", name == ".", name == "..":
		return fmt.Errorf("%w: %w %q", ErrInvalidRequest, ErrInvalidIfName, name)
	case len(name) > 15:
		return fmt.Errorf("%w: %w %q: longer than 15 bytes", ErrInvalidRequest, ErrInvalidIfName, name)
	case strings.ContainsAny(name, "/: \t\n\r\v\f\x00"):
		return fmt.Errorf("%w: %w %q: has '/', ':' or white space", ErrInvalidRequest, ErrInvalidIfName, name)
	}
	return nil
}
