package vifplug

// Attachment is the host agent's record of one CNI attachment, as it
// travels in an LSP's external_ids (and, copied by northd, a Port_Binding's).
type Attachment struct {
	Owner        string // node name of the host that wrote the LSP
	ID           string // random per ADD
	Network      string
	ContainerID  string
	IfName       string
	DeviceID     string
	PodNamespace string // optional
	PodName      string // optional
}

// ExternalIDs renders a as LSP external_ids; empty optional fields are left
// out.
func (a Attachment) ExternalIDs() map[string]string {
	ids := map[string]string{
		ExtOwner: a.Owner, ExtAttachment: a.ID, ExtNetwork: a.Network,
		ExtContainerID: a.ContainerID, ExtIfName: a.IfName, ExtDeviceID: a.DeviceID,
	}
	if a.PodNamespace != "" {
		ids[ExtPodNamespace] = a.PodNamespace
	}
	if a.PodName != "" {
		ids[ExtPodName] = a.PodName
	}
	return ids
}

// AttachmentOf reads an Attachment back from external_ids; keys that are
// absent read as "".
func AttachmentOf(ids map[string]string) Attachment {
	return Attachment{
		Owner: ids[ExtOwner], ID: ids[ExtAttachment], Network: ids[ExtNetwork],
		ContainerID: ids[ExtContainerID], IfName: ids[ExtIfName], DeviceID: ids[ExtDeviceID],
		PodNamespace: ids[ExtPodNamespace], PodName: ids[ExtPodName],
	}
}

// OwnerSelector is the external_ids subset that selects one node's LSPs,
// for a conditional monitor.
func OwnerSelector(node string) map[string]string { return map[string]string{ExtOwner: node} }

// InterfaceIDs are the external_ids the DPU agent gives an interface it
// plugs for logical port lsp; attachment may be "" (an LSP someone else
// wrote carries none).
func InterfaceIDs(lsp, attachment string) map[string]string {
	ids := map[string]string{IfaceID: lsp, IfacePlugged: PlugTypeRepresentor}
	if attachment != "" {
		ids[IfaceAttachment] = attachment
	}
	return ids
}

// ClaimedInterfaceIDs are InterfaceIDs for a port plugged on a DPU serving
// several hosts, which also record the logical switch its claim named.
func ClaimedInterfaceIDs(lsp, attachment, logicalSwitch string) map[string]string {
	ids := InterfaceIDs(lsp, attachment)
	if logicalSwitch != "" {
		ids[IfaceSwitch] = logicalSwitch
	}
	return ids
}

// PluggedByAgent reports whether an interface's external_ids mark it as
// plugged by the DPU agent.
func PluggedByAgent(ids map[string]string) bool { return ids[IfacePlugged] == PlugTypeRepresentor }

// PluggedByOVN reports whether ovn-controller's own representor provider
// plugged the interface.
func PluggedByOVN(ids map[string]string) bool { return ids[IfaceOVNPlugged] == PlugTypeRepresentor }

// OVNInstalled reports whether ovn-controller has installed the
// interface's flows.
func OVNInstalled(ids map[string]string) bool { return ids[IfaceOVNInstalled] == "true" }
