package hoststate

import (
	"encoding/json"
	"time"
)

// SchemaVersion is the Version written by this code. Load refuses records
// with a newer version rather than guess at fields it does not know: undoing
// only part of what a newer agent did would leak resources silently.
const SchemaVersion = 1

// Key identifies an attachment the way CNI does: a DEL carries only these
// two values (plus the config), so everything else must be found from them.
type Key struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifName"`
}

func (k Key) String() string { return k.ContainerID + "/" + k.IfName }

// StepName names a side effect of ADD that DEL may have to undo.
type StepName string

// The side effects of an ADD, in the order the host agent performs them.
// Undo runs in reverse order of recording, see [Attachment.UndoSteps].
const (
	// StepIPAM: the IPAM delegate's ADD (undo: its DEL with IPAM.Config).
	StepIPAM StepName = "ipam"
	// StepLSP: the Logical_Switch_Port was written (undo: delete it if it
	// still carries this AttachmentID).
	StepLSP StepName = "lsp"
	// StepVFMoved: the VF was moved into NetnsPath and renamed (undo: move
	// it back and restore HostNetdev, MAC and MTU from VF).
	StepVFMoved StepName = "vf-moved"
)

// StepState says how far a step got.
type StepState string

const (
	// StepIntent is saved before the side effect starts. After a crash the
	// effect may be absent, partial or complete.
	StepIntent StepState = "intent"
	// StepDone is saved once the side effect has completed.
	StepDone StepState = "done"
)

// Step is one recorded side effect.
type Step struct {
	Name  StepName  `json:"name"`
	State StepState `json:"state"`
	At    time.Time `json:"at"`
}

// VF is what the VF looked like on the host before it was moved. The
// kernel hides a VF's sysfs net/ entry once it is in another namespace, so
// this record is the only way to find and restore it afterwards.
type VF struct {
	HostNetdev string `json:"hostNetdev,omitempty"`
	MAC        string `json:"mac,omitempty"`
	MTU        int    `json:"mtu,omitempty"`
	PFMAC      string `json:"pfMAC,omitempty"`
	VFIndex    int    `json:"vfIndex"`
}

// IPAM is what a DEL needs to release the delegate's addresses after a
// restart, when the original request is gone.
type IPAM struct {
	// Type is the delegate plugin (the config's ipam.type).
	Type string `json:"type"`
	// Config is the full network config as given to the delegate's ADD;
	// DEL replays it, since delegates such as host-local find their data
	// directory and range from it.
	Config json.RawMessage `json:"config,omitempty"`
	// Result is the delegate's ADD result, kept for CHECK and for the
	// addresses the agent configured.
	Result json.RawMessage `json:"result,omitempty"`
}

// Attachment is the saved state of one (container id, ifname).
type Attachment struct {
	Version int `json:"version"`
	Key     Key `json:"key"`
	// Network is the CNI network name; GC is scoped by it.
	Network       string `json:"network"`
	AttachmentID  string `json:"attachmentID"`
	LSPName       string `json:"lspName,omitempty"`
	LogicalSwitch string `json:"logicalSwitch,omitempty"`
	// LogicalSwitchUUID is the NB UUID of LogicalSwitch when the LSP was
	// first written, which claims name (empty in older records).
	LogicalSwitchUUID string `json:"logicalSwitchUUID,omitempty"`
	DeviceID          string `json:"deviceID,omitempty"`
	NetnsPath         string `json:"netnsPath,omitempty"`
	PodNamespace      string `json:"podNamespace,omitempty"`
	PodName           string `json:"podName,omitempty"`
	VF                VF     `json:"vf"`
	// Function is the function of the PF the LSP asks for: "vf N", "sf N"
	// or "pf" (vifplug.Request.Label); empty in records of older agents,
	// which attached VFs only.
	Function string `json:"function,omitempty"`
	// DPU is the chassis of the DPU the attachment went to (a host may
	// have several); empty in records of older agents, which had one.
	DPU  string `json:"dpu,omitempty"`
	IPAM *IPAM  `json:"ipam,omitempty"`
	// UnplugPending: the LSP is deleted but the DPU has not confirmed the
	// representor's unplug yet. The record (with no steps left) keeps the
	// VF claimed until it does: a new attachment on the VF would otherwise
	// meet the old binding on the DPU.
	UnplugPending bool `json:"unplugPending,omitempty"`
	// Steps is in the order the steps were first recorded.
	Steps     []Step    `json:"steps,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

// Step returns the recorded step with this name.
func (a *Attachment) Step(name StepName) (Step, bool) {
	for _, s := range a.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return Step{}, false
}

// Intend records that the step is about to start. Save the attachment
// before starting the side effect, or a crash could leave it unrecorded.
// A step already recorded keeps its place in the order and goes back to
// StepIntent: redoing it on a retried ADD may change it again.
func (a *Attachment) Intend(name StepName, now time.Time) {
	a.setStep(name, StepIntent, now)
}

// Done records that the step has completed.
func (a *Attachment) Done(name StepName, now time.Time) {
	a.setStep(name, StepDone, now)
}

// Forget drops the step once it has been undone, so that a DEL interrupted
// half-way resumes with what is left.
func (a *Attachment) Forget(name StepName) {
	out := a.Steps[:0]
	for _, s := range a.Steps {
		if s.Name != name {
			out = append(out, s)
		}
	}
	a.Steps = out
}

// UndoSteps returns the recorded steps latest first, which is the order to
// undo them in: the VF leaves the pod before the LSP goes, and the address
// is released last, once nothing uses it. Steps in StepIntent are included.
func (a *Attachment) UndoSteps() []Step {
	out := make([]Step, len(a.Steps))
	for i, s := range a.Steps {
		out[len(a.Steps)-1-i] = s
	}
	return out
}

func (a *Attachment) setStep(name StepName, state StepState, now time.Time) {
	for i := range a.Steps {
		if a.Steps[i].Name == name {
			a.Steps[i].State = state
			a.Steps[i].At = now
			return
		}
	}
	a.Steps = append(a.Steps, Step{Name: name, State: state, At: now})
}
