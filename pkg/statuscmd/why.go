package statuscmd

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
)

// Why is `ovn-dpu-agent ports --why LSP -o json`'s document.
type Why struct {
	LogicalPort string          `json:"logicalPort"`
	Chassis     string          `json:"chassis"`
	Binding     *WhyBinding     `json:"binding"`
	Representor *WhyRepresentor `json:"representor"`
	Interface   *WhyInterface   `json:"interface"`
	Status      *Port           `json:"status"`
	WaitingFor  string          `json:"waitingFor"`
}

// WhyBinding is what SB asks (null: no binding requests this chassis).
type WhyBinding struct {
	Options            map[string]string `json:"options"`
	ExternalIDs        map[string]string `json:"externalIDs"`
	RequestedChassis   string            `json:"requestedChassis,omitempty"`
	Claimed            bool              `json:"claimed"`
	ClaimedByOther     string            `json:"claimedByOther,omitempty"`
	RepresentorRequest bool              `json:"representorRequest"`
	Invalid            string            `json:"invalid,omitempty"`
}

// WhyRepresentor is the representor table's answer for (pf-mac, vf-num).
type WhyRepresentor struct {
	PFMAC         string `json:"pfMAC"`
	VFNum         int32  `json:"vfNum"`
	Function      string `json:"function,omitempty"` // "vf N", "sf N" or "pf"
	Netdev        string `json:"netdev,omitempty"`
	DevlinkHandle string `json:"devlinkHandle,omitempty"`
	Error         string `json:"error,omitempty"`
}

// WhyInterface is the OVS interface row.
type WhyInterface struct {
	Name         string            `json:"name"`
	Bridge       string            `json:"bridge,omitempty"`
	Ofport       int64             `json:"ofport"`
	Ifindex      int64             `json:"ifindex"`
	Error        string            `json:"error,omitempty"`
	ExternalIDs  map[string]string `json:"externalIDs"`
	OVNInstalled bool              `json:"ovnInstalled"`
}

// WhyOf converts a DPUAdmin Why answer.
func WhyOf(r *ovndpuv1.WhyResponse) Why {
	w := Why{LogicalPort: r.GetLogicalPort(), Chassis: r.GetChassis(), WaitingFor: r.GetWaitingFor()}
	if b := r.GetBinding(); b != nil {
		w.Binding = &WhyBinding{Options: b.GetOptions(), ExternalIDs: b.GetExternalIds(), RequestedChassis: b.GetRequestedChassis(),
			Claimed: b.GetClaimed(), ClaimedByOther: b.GetClaimedByOther(), RepresentorRequest: b.GetRepresentorRequest(),
			Invalid: b.GetInvalid()}
	}
	if rep := r.GetRepresentor(); rep != nil {
		w.Representor = &WhyRepresentor{PFMAC: rep.GetPfMac(), VFNum: rep.GetVfNum(), Function: rep.GetFunction(), Netdev: rep.GetNetdev(),
			DevlinkHandle: rep.GetDevlinkHandle(), Error: rep.GetError()}
	}
	if i := r.GetInterface(); i != nil {
		w.Interface = &WhyInterface{Name: i.GetName(), Bridge: i.GetBridge(), Ofport: i.GetOfport(), Ifindex: i.GetIfindex(),
			Error: i.GetError(), ExternalIDs: i.GetExternalIds(), OVNInstalled: i.GetOvnInstalled()}
	}
	if st := r.GetStatus(); st != nil {
		p := PortOf(&ovndpuv1.PortRow{Status: st})
		w.Status = &p
	}
	return w
}

// WriteWhy prints the explanation as text, one section per source.
func WriteWhy(out io.Writer, w Why) error {
	var b strings.Builder
	fmt.Fprintf(&b, "logical port %s on chassis %s\n", w.LogicalPort, w.Chassis)
	b.WriteString("\nSB asks (Port_Binding):\n")
	if bd := w.Binding; bd == nil {
		fmt.Fprintf(&b, "  no Port_Binding requests chassis %s for this port\n", w.Chassis)
	} else {
		claim := "no (ovn-controller has not claimed it)"
		switch {
		case bd.Claimed:
			claim = "yes, by this chassis"
		case bd.ClaimedByOther != "":
			claim = "by another chassis (" + bd.ClaimedByOther + ")"
		}
		fmt.Fprintf(&b, "  requested_chassis: %s\n  claimed: %s\n", dash(bd.RequestedChassis), claim)
		writeMap(&b, "options", bd.Options)
		writeMap(&b, "external_ids", bd.ExternalIDs)
		if !bd.RepresentorRequest {
			b.WriteString("  not a representor request: another plug provider's port\n")
		}
		if bd.Invalid != "" {
			fmt.Fprintf(&b, "  malformed request: %s\n", bd.Invalid)
		}
	}
	b.WriteString("\nrepresentor table (devlink):\n")
	switch r := w.Representor; {
	case r == nil:
		b.WriteString("  not looked up (no valid representor request)\n")
	case r.Error != "":
		fmt.Fprintf(&b, "  pf-mac %s %s: %s\n", r.PFMAC, functionLabel(r.Function, r.VFNum), r.Error)
	default:
		fmt.Fprintf(&b, "  pf-mac %s %s: %s (%s)\n", r.PFMAC, functionLabel(r.Function, r.VFNum), r.Netdev, dash(r.DevlinkHandle))
	}
	b.WriteString("\nOVS (Interface):\n")
	if i := w.Interface; i == nil {
		b.WriteString("  no interface for this port or its representor\n")
	} else {
		ifindex := "(empty)"
		if i.Ifindex >= 0 {
			ifindex = fmt.Sprint(i.Ifindex)
		}
		fmt.Fprintf(&b, "  %s in bridge %s, ofport %d, ifindex %s, error %s, ovn-installed %t\n",
			i.Name, dash(i.Bridge), i.Ofport, ifindex, dash(i.Error), i.OVNInstalled)
		writeMap(&b, "external_ids", i.ExternalIDs)
	}
	b.WriteString("\nstatus:\n")
	if st := w.Status; st == nil {
		b.WriteString("  none (the agent has not published one)\n")
	} else {
		fmt.Fprintf(&b, "  %s (generation %d)%s\n", st.Phase, st.Generation, prefixed(": ", st.Reason))
	}
	fmt.Fprintf(&b, "\nwaiting for: %s\n", w.WaitingFor)
	_, err := io.WriteString(out, b.String())
	return err
}

func prefixed(p, s string) string {
	if s == "" {
		return ""
	}
	return p + s
}

func writeMap(b *strings.Builder, name string, m map[string]string) {
	if len(m) == 0 {
		fmt.Fprintf(b, "  %s: {}\n", name)
		return
	}
	fmt.Fprintf(b, "  %s:\n", name)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(b, "    %s=%s\n", k, m[k])
	}
}
