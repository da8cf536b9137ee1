package statuscmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Port is one row of `ovn-dpu-agent ports -o json` (docs/status.md).
type Port struct {
	LogicalPort  string     `json:"logicalPort"`
	Attachment   string     `json:"attachment,omitempty"`
	Owner        string     `json:"owner,omitempty"`
	PodNamespace string     `json:"podNamespace,omitempty"`
	PodName      string     `json:"podName,omitempty"`
	DeviceID     string     `json:"deviceID,omitempty"`
	Representor  string     `json:"representor,omitempty"`
	PFMAC        string     `json:"pfMAC,omitempty"`
	VFNum        int32      `json:"vfNum"`
	Function     string     `json:"function,omitempty"` // "vf N", "sf N" or "pf"
	Ofport       int64      `json:"ofport,omitempty"`
	Phase        string     `json:"phase"`
	Reason       string     `json:"reason,omitempty"`
	Generation   uint64     `json:"generation"`
	FirstSeen    *time.Time `json:"firstSeen,omitempty"`
	Updated      *time.Time `json:"updated,omitempty"`
}

// Ports is the document `ovn-dpu-agent ports -o json` prints.
type Ports struct {
	Ports []Port `json:"ports"`
}

// Attachment is one row of `ovn-dpu-host-agent attachments -o json`.
type Attachment struct {
	LogicalPort  string     `json:"logicalPort"`
	Attachment   string     `json:"attachment"`
	ContainerID  string     `json:"containerID"`
	IfName       string     `json:"ifname"`
	Network      string     `json:"network"`
	PodNamespace string     `json:"podNamespace,omitempty"`
	PodName      string     `json:"podName,omitempty"`
	DeviceID     string     `json:"deviceID,omitempty"`
	VFNetdev     string     `json:"vfNetdev,omitempty"`
	Representor  string     `json:"representor,omitempty"`
	Phase        string     `json:"phase"`
	Reason       string     `json:"reason,omitempty"`
	Created      *time.Time `json:"created,omitempty"`
	// DPU is the chassis of the DPU the attachment went to.
	DPU string `json:"dpu,omitempty"`
}

// Attachments is the document `ovn-dpu-host-agent attachments -o json`
// prints.
type Attachments struct {
	Attachments []Attachment `json:"attachments"`
	DPUSynced   bool         `json:"dpuSynced"`
	DPUError    string       `json:"dpuError,omitempty"`
	// DPUs are the chassis of the DPUs the host agent follows.
	DPUs []string `json:"dpus,omitempty"`
}

func ts(t interface {
	IsValid() bool
	AsTime() time.Time
}) *time.Time {
	if t == nil || !t.IsValid() {
		return nil
	}
	v := t.AsTime().UTC()
	return &v
}

// PortOf converts a DPUAdmin row.
func PortOf(r *ovndpuv1.PortRow) Port {
	st := r.GetStatus()
	p := Port{LogicalPort: st.GetLogicalPort(), Attachment: st.GetAttachmentId(), Owner: st.GetOwnerNode(),
		PodNamespace: r.GetPodNamespace(), PodName: r.GetPodName(), DeviceID: r.GetDeviceId(),
		Representor: st.GetRepresentor(), PFMAC: st.GetPfMac(), VFNum: st.GetVfNum(), Function: st.GetFunction(),
		Ofport: st.GetOfport(),
		Phase:  PhaseName(st.GetPhase()), Reason: st.GetReason(), Generation: st.GetGeneration()}
	if st.GetFirstSeen() != nil {
		p.FirstSeen = ts(st.GetFirstSeen())
	}
	if st.GetUpdated() != nil {
		p.Updated = ts(st.GetUpdated())
	}
	return p
}

// AttachmentsOf converts a HostAdmin answer.
func AttachmentsOf(resp *ovndpuv1.AttachmentsResponse) Attachments {
	out := Attachments{Attachments: []Attachment{}, DPUSynced: resp.GetDpuSynced(), DPUError: resp.GetDpuError(), DPUs: resp.GetDpus()}
	for _, r := range resp.GetAttachments() {
		a := Attachment{LogicalPort: r.GetLogicalPort(), Attachment: r.GetAttachmentId(), ContainerID: r.GetContainerId(),
			IfName: r.GetIfname(), Network: r.GetNetwork(), PodNamespace: r.GetPodNamespace(), PodName: r.GetPodName(),
			DeviceID: r.GetDeviceId(), VFNetdev: r.GetVfNetdev(), Representor: r.GetRepresentor(), Phase: r.GetPhase(),
			Reason: r.GetReason(), DPU: r.GetDpu()}
		if r.GetCreated() != nil {
			a.Created = ts(r.GetCreated())
		}
		out.Attachments = append(out.Attachments, a)
	}
	return out
}

// PhaseName is a phase as the commands print it: PENDING, READY...
func PhaseName(p ovndpuv1.Phase) string { return strings.TrimPrefix(p.String(), "PHASE_") }

// pod is the POD column: namespace/name, else the owner node the DPU
// knows the port by.
func pod(namespace, name, owner string) string {
	switch {
	case name != "" && namespace != "":
		return namespace + "/" + name
	case name != "":
		return name
	case owner != "":
		return "(node " + owner + ")"
	}
	return "-"
}

// hostPod is the host's POD column: namespace/name, else the container
// id (first 12 characters) the runtime gave.
func hostPod(a Attachment) string {
	if a.PodName != "" {
		return pod(a.PodNamespace, a.PodName, "")
	}
	id := a.ContainerID
	if len(id) > 12 {
		id = id[:12]
	}
	return "(container " + id + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age is how long ago t was, as kubectl prints it: 45s, 3m12s, 2h5m, 3d4h.
func age(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := max(now.Sub(*t), 0).Truncate(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

// reason is the REASON column: only for what is not READY.
func reason(phase, why string) string {
	if phase == "READY" {
		return ""
	}
	return dash(why)
}

// newTable is a tabwriter whose lines reach w without trailing blanks
// (an empty last column pads nothing); call the returned flush.
func newTable(w io.Writer) (*tabwriter.Writer, func() error) {
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	return tw, func() error {
		if err := tw.Flush(); err != nil {
			return err
		}
		var out strings.Builder
		for l := range strings.Lines(buf.String()) {
			out.WriteString(strings.TrimRight(l, " \n"))
			out.WriteByte('\n')
		}
		_, err := io.WriteString(w, out.String())
		return err
	}
}

// functionLabel is what a row or explanation names the requested function
// by: the agent's label ("vf 3", "sf 7", "pf"), or, from an agent older
// than that field, the VF number.
func functionLabel(label string, vfNum int32) string {
	if label != "" {
		return label
	}
	return fmt.Sprintf("vf %d", vfNum)
}

// WritePortsTable prints the ports as a table, ages counted to now.
func WritePortsTable(w io.Writer, ports []Port, now time.Time) error {
	tw, flush := newTable(w)
	fmt.Fprintln(tw, "LOGICAL PORT\tATTACHMENT\tPOD\tVF\tREPRESENTOR\tPHASE\tAGE\tREASON")
	for _, p := range ports {
		vf := p.DeviceID
		if vf == "" && p.PFMAC != "" {
			vf = p.PFMAC + "/" + functionLabel(p.Function, p.VFNum)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.LogicalPort, dash(p.Attachment),
			pod(p.PodNamespace, p.PodName, p.Owner), dash(vf), dash(p.Representor), p.Phase, age(p.FirstSeen, now),
			reason(p.Phase, p.Reason))
	}
	return flush()
}

// WriteAttachmentsTable prints the attachments as a table, ages counted to
// now, with a line first when the DPU stream is not in sync.
func WriteAttachmentsTable(w io.Writer, atts Attachments, now time.Time) error {
	if !atts.DPUSynced {
		fmt.Fprintf(w, "DPU agent stream not in sync: %s\n", dash(atts.DPUError))
	}
	tw, flush := newTable(w)
	// A DPU column only where there is a choice: a host with one DPU
	// reads as it always did.
	several := len(atts.DPUs) > 1
	dpuColumn := func(v string) string {
		if several {
			return v + "\t"
		}
		return ""
	}
	fmt.Fprintln(tw, "LOGICAL PORT\tATTACHMENT\tPOD\tVF\t"+dpuColumn("DPU")+"REPRESENTOR\tPHASE\tAGE\tREASON")
	for _, a := range atts.Attachments {
		vf := dash(a.DeviceID)
		if a.VFNetdev != "" {
			vf += " (" + a.VFNetdev + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%s\n", dash(a.LogicalPort), dash(a.Attachment),
			hostPod(a), vf, dpuColumn(dash(a.DPU)), dash(a.Representor), a.Phase,
			age(a.Created, now), reason(a.Phase, a.Reason))
	}
	return flush()
}

// writeJSON prints v as one line of JSON (one document per line under
// --watch).
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
