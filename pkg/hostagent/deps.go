package hostagent

import (
	"context"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/ipam"
	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
	"github.com/ovn-dpu/ovn-dpu/pkg/sysfs"
	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// The agent's collaborators, one small interface each, so that the verbs
// can be driven without root, sysfs, OVN or a DPU (see the With* options).
// The production implementations are pkg/sysfs, pkg/netns, pkg/ipam, the
// NB client in nb.go and pkg/dpuclient.

// VFLookup resolves a VF's PCI address to its netdev, MAC, MTU, PF MAC and
// index (*sysfs.Reader).
type VFLookup interface {
	LookupVF(pciAddr string) (sysfs.VF, error)
}

// Plumber moves VFs into pods and back (*netns.Plumber).
type Plumber interface {
	// Preflight finds what MoveIn would refuse before it changes anything.
	Preflight(ctx context.Context, req netns.MoveInRequest) error
	MoveIn(ctx context.Context, req netns.MoveInRequest) (netns.Placed, error)
	MoveOut(ctx context.Context, req netns.MoveOutRequest) error
	Check(ctx context.Context, req netns.CheckRequest) error
}

// IPAM runs the network's IPAM delegate (*ipam.Delegate).
type IPAM interface {
	// Find reports a plugin type that is not on CNI_PATH (wrapping
	// ipam.ErrPluginNotFound).
	Find(pluginType string, path []string) error
	Add(ctx context.Context, req ipam.Request) (*current.Result, error)
	Del(ctx context.Context, req ipam.Request) error
	Check(ctx context.Context, req ipam.Request) error
	GC(ctx context.Context, req ipam.Request) error
	Status(ctx context.Context, req ipam.Request) error
}

// Northbound is what the verbs read from and write to OVN NB. Lookups of
// this node's own LSPs come from the monitor cache; LogicalSwitch too (every
// switch's name and other_config are monitored); DeleteOwnLSP asks the
// server. Writes ride connection losses and leader changes until ctx ends.
type Northbound interface {
	LogicalSwitch(ctx context.Context, name string) (*nbdb.LogicalSwitch, error)
	// CreateLSP creates lsp in the switch; an LSP of that name that is not
	// this attachment's (lsp's ovn-dpu:attachment) is errLSPTaken.
	CreateLSP(ctx context.Context, lsUUID string, lsp *nbdb.LogicalSwitchPort) error
	// DeleteOwnLSP deletes the LSP called name only if it carries this
	// node's owner and attachment; an LSP already gone is success.
	DeleteOwnLSP(ctx context.Context, name, attachment string) error
	// SettleDeleted makes sure a create of unknown outcome for this
	// attachment did not commit after its LSP was deleted: it watches for
	// the LSP for a while and deletes it again if it shows up.
	SettleDeleted(ctx context.Context, name, attachment string) error
	// WaitDynamicAddresses waits for northd to fill the dynamic_addresses
	// of this attachment's LSP and returns them.
	WaitDynamicAddresses(ctx context.Context, name, attachment string) (string, error)
	// SetAddresses sets the addresses and port_security of this
	// attachment's LSP.
	SetAddresses(ctx context.Context, name, attachment string, addresses, portSecurity []string) error
	OwnLSP(ctx context.Context, name string) (*nbdb.LogicalSwitchPort, error)
	OwnLSPs(ctx context.Context, network string) ([]*nbdb.LogicalSwitchPort, error)
	// Connected reports whether the session is up.
	Connected() bool
	Close()
}

// NBConnector opens the NB session; Run calls it once.
type NBConnector func(ctx context.Context) (Northbound, error)

// DPU follows one DPU agent's port status stream (*dpuclient.Client); a
// host may have several (dpus.go).
type DPU interface {
	Run(ctx context.Context)
	Connected() error
	// Target is the DPU agent's address, for messages and metrics.
	Target() string
	// Info is the DPU agent's last Info answer (an error when none came
	// yet); RefreshInfo asks for it now.
	Info() (*ovndpuv1.InfoResponse, error)
	RefreshInfo(ctx context.Context) (*ovndpuv1.InfoResponse, error)
	// Claim and Release announce and retire attachments on a DPU that
	// requires claims (Info requires_claims); on others they do nothing.
	Claim(ctx context.Context, replaceAll bool, claims []*ovndpuv1.AttachmentClaim) error
	Release(ctx context.Context, attachmentIDs []string) error
	WaitChassis(ctx context.Context) (string, error)
	// SetsFunctionMAC reports whether the DPU sets its VFs' MACs itself
	// (Info sets_function_mac), waiting for its Info like WaitChassis.
	SetsFunctionMAC(ctx context.Context) (bool, error)
	WaitReady(ctx context.Context, lsp, attachment string) (*ovndpuv1.PortStatus, error)
	WaitGone(ctx context.Context, lsp, attachment string) error
	// PortStatus is what the DPU last reported for lsp (nil: nothing), or
	// an error while the stream is not in sync (after a grace to resync).
	PortStatus(ctx context.Context, lsp string) (*ovndpuv1.PortStatus, error)
	// Registered asks the DPU agent now whether its chassis is registered
	// in OVN SB.
	Registered(ctx context.Context) error
}
