package devlink

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Lookup failures. ErrNoPF, ErrNoVF, ErrNoSF and ErrNoPFPort mean the
// table has no such representor now: terminal for a request once the table
// is complete, but a caller that knows the table is still filling (or a
// function is being created) may treat them as transient. ErrAmbiguous
// means two ports claim the same (PF MAC, function): a DPU
// misconfiguration for the operator to fix.
var (
	ErrNoPF      = errors.New("unknown PF")
	ErrNoVF      = errors.New("unknown VF")
	ErrNoSF      = errors.New("unknown SF")
	ErrNoPFPort  = errors.New("the PF has no representor netdev (no pcipf port with a netdev)")
	ErrAmbiguous = errors.New("ambiguous representor")
)

// Function names a function of a host PF to look up: a VF (Flavour PCIVF,
// Num its vfnum), an SF (PCISF, its sfnum) or the PF itself (PCIPF).
type Function struct {
	Flavour Flavour
	Num     uint32
}

// VF, SF and PF build the Function to look up.
func VF(vfnum uint16) Function { return Function{Flavour: PCIVF, Num: uint32(vfnum)} }
func SF(sfnum uint32) Function { return Function{Flavour: PCISF, Num: sfnum} }
func PF() Function             { return Function{Flavour: PCIPF} }

// String names the function as the LSP options do.
func (f Function) String() string {
	switch f.Flavour {
	case PCIVF:
		return fmt.Sprintf("vf-num %d", f.Num)
	case PCISF:
		return fmt.Sprintf("sf-num %d", f.Num)
	case PCIPF:
		return "the PF itself"
	}
	return fmt.Sprintf("flavour %s number %d", f.Flavour, f.Num)
}

func (f Function) vfNum() int {
	if f.Flavour == PCIVF {
		return int(f.Num)
	}
	return 0
}

// LookupError is what Lookup returns; errors.Is(err, ErrNoPF) etc. work on
// it, and errors.As gives the request for operator messages.
type LookupError struct {
	PFMAC net.HardwareAddr
	// VFNum is the VF looked up when Fn is a VF (or Fn is unset).
	VFNum int
	// Fn is the function looked up; unset means VF VFNum.
	Fn Function
	// Err is ErrNoPF, ErrNoVF, ErrNoSF, ErrNoPFPort or ErrAmbiguous.
	Err error
	// detail says what the table does know, e.g. the known PFs.
	detail string
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("%s (%s)", e.Brief(), e.detail)
}

func (e *LookupError) Unwrap() error { return e.Err }

// Brief is Error without what the table knows besides (the known PFs, the
// PF's VFs): for a reader who may not see the rest of the DPU — a host of
// a DPU that serves several.
func (e *LookupError) Brief() string {
	what := "no representor"
	if errors.Is(e.Err, ErrAmbiguous) {
		what = "no unique representor"
	}
	fn := e.Fn.String()
	if e.Fn.Flavour == "" {
		fn = fmt.Sprintf("vf-num %d", e.VFNum)
	}
	return fmt.Sprintf("%s for pf-mac %s %s on this DPU: %v", what, macString(e.PFMAC), fn, e.Err)
}

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

// numRanges renders VF or SF numbers compactly ("0-3,5,7-511"): a PF can
// have hundreds of VFs and the message must stay readable.
func numRanges[N uint16 | uint32](vfs []N) string {
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
