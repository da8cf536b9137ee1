package vifplug

// Logical_Switch_Port options (OVN NB; northd copies them to the SB
// Port_Binding's options and resolves requested-chassis into
// Port_Binding.requested_chassis).
const (
	// OptRequestedChassis names the chassis that should bind and plug the
	// port: a chassis name or hostname; since OVN 22.06 a comma-separated
	// list whose first entry is the main chassis.
	OptRequestedChassis = "requested-chassis"
	// OptPlugType selects the plug provider; ours is PlugTypeRepresentor.
	OptPlugType = "vif-plug-type"
	// OptPFMAC is the MAC address of the host PF the function belongs to.
	OptPFMAC = "vif-plug:representor:pf-mac"
	// OptVFNum is the VF index on that PF, decimal.
	OptVFNum = "vif-plug:representor:vf-num"
	// OptSFNum is the Scalable Function number (devlink's sfnum) on that
	// PF, decimal. It is ovn-dpu's extension: OVN and ovn-vif define no SF
	// option. Never together with OptVFNum; a request with neither asks
	// for the PF's own representor (ovn-vif's meaning since v26.03).
	OptSFNum = "vif-plug:representor:sf-num"
	// OptMTURequest is copied to Interface.mtu_request when present.
	OptMTURequest = "vif-plug-mtu-request"

	// PlugTypeRepresentor is the OptPlugType value of a representor
	// request; it is also the value of IfacePlugged and IfaceOVNPlugged.
	PlugTypeRepresentor = "representor"
)

// Logical_Switch_Port external_ids that the host agent writes on the LSPs it
// creates. northd copies them to the Port_Binding, so the DPU agent reads
// ExtOwner and ExtAttachment from there.
const (
	ExtOwner        = "ovn-dpu:owner"         // the host's node name
	ExtAttachment   = "ovn-dpu:attachment"    // random id per ADD
	ExtNetwork      = "ovn-dpu:network"       // CNI network name
	ExtContainerID  = "ovn-dpu:container-id"  // CNI container id
	ExtIfName       = "ovn-dpu:ifname"        // CNI ifname
	ExtDeviceID     = "ovn-dpu:device-id"     // the CNI deviceID: VF or PF PCI address, SF auxiliary device
	ExtPodNamespace = "ovn-dpu:pod-namespace" // from CNI_ARGS, when known
	ExtPodName      = "ovn-dpu:pod-name"      // from CNI_ARGS, when known
)

// OVS Interface external_ids.
const (
	// IfaceID binds an interface to a logical port (ovn-controller reads it).
	IfaceID = "iface-id"
	// IfacePlugged marks the interfaces the DPU agent plugged; it touches
	// no other.
	IfacePlugged = "ovn-dpu-plugged"
	// IfaceAttachment carries the LSP's ExtAttachment, so a replug for a
	// new attachment is told apart from the old one.
	IfaceAttachment = "ovn-dpu-attachment"
	// IfaceSwitch carries, on a DPU serving several hosts (--hosts), the
	// NB Logical_Switch UUID the attachment was claimed in: the proof,
	// across an agent restart, that the port was plugged for that switch
	// and no other.
	IfaceSwitch = "ovn-dpu-logical-switch"
	// IfaceOVNInstalled is set to "true" by ovn-controller once the port's
	// flows are installed.
	IfaceOVNInstalled = "ovn-installed"
	// IfaceOVNPlugged marks interfaces ovn-controller's own plug providers
	// (ovn-vif) plugged.
	IfaceOVNPlugged = "ovn-plugged"
)
