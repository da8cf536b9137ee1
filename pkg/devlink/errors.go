package devlink

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Lookup failures. ErrNoPF and ErrNoVF mean the table has no such
// representor now: terminal for a request once the table is complete, but
// a caller that knows the table is still filling (or a VF is being created)
// may treat them as transient. ErrAmbiguous means two ports claim the same
// (PF MAC, VF): a DPU misconfiguration for the operator to fix.
var (
	ErrNoPF      = errors.New("unknown PF")
	ErrNoVF      = errors.New("unknown VF")
	ErrAmbiguous = errors.New("ambiguous representor")
)

// LookupError is what Lookup returns; errors.Is(err, ErrNoPF) etc. work on
// it, and errors.As gives the request for operator messages.
type LookupError struct {
	PFMAC net.HardwareAddr
	VFNum int
	// Err is ErrNoPF, ErrNoVF or ErrAmbiguous.
	Err error
	// detail says what the table does know, e.g. the known PFs.
	detail string
}

func (e *LookupError) Error() string {
	what := "no representor"
	if errors.Is(e.Err, ErrAmbiguous) {
		what = "no unique representor"
	}
	return fmt.Sprintf("%s for pf-mac %s vf-num %d on this DPU: %v (%s)",
		what, macString(e.PFMAC), e.VFNum, e.Err, e.detail)
}

func (e *LookupError) Unwrap() error { return e.Err }

// macString keeps messages readable for an empty MAC, which String renders
// as nothing at all.
func macString(mac net.HardwareAddr) string {
	if len(mac) == 0 {
		return `""`
	}
	return mac.String()
}

// maxListed bounds the PFs an error names, so a message stays one line.
const maxListed = 8

func knownPFsDetail(macs, unresolved []string) string {
	var b strings.Builder
	if len(macs) == 0 {
		b.WriteString("no PFs known")
	} else {
		b.WriteString("known PFs: ")
		b.WriteString(joinCapped(macs))
	}
	if len(unresolved) > 0 {
		b.WriteString("; PFs without a MAC: ")
		b.WriteString(strings.Join(unresolved, "; "))
	}
	return b.String()
}

func joinCapped(items []string) string {
	if len(items) <= maxListed {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(items)-maxListed)
}

// vfRanges renders VF numbers compactly ("0-3,5,7-511"): a PF can have
// hundreds of VFs and the message must stay readable.
func vfRanges(vfs []uint16) string {
	if len(vfs) == 0 {
		return "none"
	}
	vfs = slices.Sorted(slices.Values(vfs))
	var parts []string
	for i := 0; i < len(vfs); {
		j := i
		for j+1 < len(vfs) && vfs[j+1] == vfs[j]+1 {
			j++
		}
		part := strconv.Itoa(int(vfs[i]))
		if j > i {
			part += "-" + strconv.Itoa(int(vfs[j]))
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ",")
}
