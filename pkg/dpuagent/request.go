package dpuagent

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/sbdb"
)

// The OVN vocabulary (DESIGN.md); northd copies these LSP options and
// external_ids to the Port_Binding.
const (
	optRequestedChassis = "requested-chassis"
	optPlugType         = "vif-plug-type"
	optPFMAC            = "vif-plug:representor:pf-mac"
	optVFNum            = "vif-plug:representor:vf-num"
	optMTU              = "vif-plug-mtu-request"
	plugTypeRepresentor = "representor"

	extOwner      = "ovn-dpu:owner"
	extAttachment = "ovn-dpu:attachment"

	// OVS Interface external_ids.
	ifaceID            = "iface-id"
	ifacePlugged       = "ovn-dpu-plugged"
	ifaceAttachment    = "ovn-dpu-attachment"
	ifaceOVNInstalled  = "ovn-installed"
	ifaceOVNPlugged    = "ovn-plugged" // set by ovn-controller's own plug providers
	maxVFNum           = 65535
	minMTU, maxMTU     = 68, 65535
	vfNumRangeExplains = "a decimal VF index from 0 to 65535"
)

// request is what one Port_Binding asks of this DPU.
type request struct {
	lsp        string
	attachment string
	owner      string
	pfMAC      net.HardwareAddr
	vfNum      int
	mtu        *int
	// claimed: the binding's chassis column is this chassis, i.e.
	// ovn-controller has claimed it here.
	claimed bool
	// invalid says which option is malformed; the port is ERROR.
	invalid error
}

// chassisIdentity is who this DPU is in OVN.
type chassisIdentity struct {
	name     string
	hostname string
	uuid     string // empty while the Chassis row is absent
}

// requestedHere reports whether pb asks for this chassis. requested-chassis
// may name the chassis or its hostname, and since OVN 22.06 may be a
// comma-separated list (the first entry is the main chassis, the others go
// to requested_additional_chassis); the UUID columns cover bindings northd
// already resolved.
func (id chassisIdentity) requestedHere(pb *sbdb.PortBinding) bool {
	if id.uuid != "" && ((pb.RequestedChassis != nil && *pb.RequestedChassis == id.uuid) ||
		slices.Contains(pb.RequestedAdditionalChassis, id.uuid)) {
		return true
	}
	names := strings.Split(pb.Options[optRequestedChassis], ",")
	return slices.ContainsFunc(names, func(n string) bool {
		n = strings.TrimSpace(n)
		return n != "" && (n == id.name || n == id.hostname)
	})
}

// isRepresentorRequest: bindings of other plug types belong to other
// plug providers and are not ours.
func isRepresentorRequest(pb *sbdb.PortBinding) bool {
	return pb.Options[optPlugType] == plugTypeRepresentor
}

func parseRequest(pb *sbdb.PortBinding, id chassisIdentity) request {
	r := request{
		lsp:        pb.LogicalPort,
		attachment: pb.ExternalIDs[extAttachment],
		owner:      pb.ExternalIDs[extOwner],
		claimed:    id.uuid != "" && pb.Chassis != nil && *pb.Chassis == id.uuid,
	}
	var err error
	if r.pfMAC, err = parsePFMAC(pb.Options[optPFMAC]); err != nil {
		r.invalid = err
		return r
	}
	if r.vfNum, err = parseVFNum(pb.Options[optVFNum]); err != nil {
		r.invalid = err
		return r
	}
	r.mtu, r.invalid = parseMTU(pb.Options[optMTU])
	return r
}

func parsePFMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, fmt.Errorf("option %s is missing: set it to the host PF's MAC address", optPFMAC)
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("option %s=%q is not a MAC address like 0c:42:a1:00:00:01", optPFMAC, s)
	}
	return mac, nil
}

func parseVFNum(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("option %s is missing: set it to %s", optVFNum, vfNumRangeExplains)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxVFNum {
		return 0, fmt.Errorf("option %s=%q is not %s", optVFNum, s, vfNumRangeExplains)
	}
	return n, nil
}

func parseMTU(s string) (*int, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < minMTU || n > maxMTU {
		return nil, fmt.Errorf("option %s=%q is not an MTU from %d to %d", optMTU, s, minMTU, maxMTU)
	}
	return &n, nil
}
