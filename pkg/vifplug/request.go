package vifplug

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds of the values a request carries.
const (
	MaxVFNum = 65535
	// MaxSFNum: devlink's sfnum is a u32 (DEVLINK_ATTR_PORT_PCI_SF_NUMBER).
	MaxSFNum = math.MaxUint32
	MinMTU   = 68
	MaxMTU   = 65535
)

// FunctionKind says which function of the host PF a request's
// representor stands for.
type FunctionKind uint8

// Function kinds. VF is the zero value, so a Request literal with a VFNum
// is a VF request.
const (
	// VF: vif-plug:representor:vf-num names it.
	VF FunctionKind = iota
	// SF: vif-plug:representor:sf-num names it (ovn-dpu's extension).
	SF
	// PF: neither option; the PF's own representor (ovn-vif's meaning
	// since v26.03).
	PF
)

func (k FunctionKind) String() string {
	switch k {
	case VF:
		return "VF"
	case SF:
		return "SF"
	case PF:
		return "PF"
	}
	return fmt.Sprintf("FunctionKind(%d)", k)
}

// Request is what one LSP asks of a DPU: plug the representor of a function
// of the host PF whose MAC is PFMAC — VF VFNum, SF SFNum or the PF itself,
// as Kind says — into the integration bridge of Chassis.
type Request struct {
	// Chassis is the requested-chassis value; parsing keeps it verbatim.
	Chassis string
	PFMAC   net.HardwareAddr
	Kind    FunctionKind
	// VFNum is the VF index when Kind is VF; SFNum the sfnum when it is SF.
	VFNum int
	SFNum uint32
	// MTU is the requested interface MTU; 0 asks for none.
	MTU int
}

// Options renders r as the LSP options that carry it. The PF MAC is written
// in lower case, as OVN's own tools compare it.
func (r Request) Options() map[string]string {
	opts := map[string]string{
		OptRequestedChassis: r.Chassis,
		OptPlugType:         PlugTypeRepresentor,
		OptPFMAC:            strings.ToLower(r.PFMAC.String()),
	}
	switch r.Kind {
	case VF:
		opts[OptVFNum] = strconv.Itoa(r.VFNum)
	case SF:
		opts[OptSFNum] = strconv.FormatUint(uint64(r.SFNum), 10)
	}
	if r.MTU != 0 {
		opts[OptMTURequest] = strconv.Itoa(r.MTU)
	}
	return opts
}

// Label names the requested function briefly: "vf 3", "sf 7" or "pf", as
// statuses and the status commands show it.
func (r Request) Label() string {
	switch r.Kind {
	case SF:
		return "sf " + strconv.FormatUint(uint64(r.SFNum), 10)
	case PF:
		return "pf"
	}
	return "vf " + strconv.Itoa(r.VFNum)
}

// ParseLabel sets r's function from a Label ("vf 3", "sf 7", "pf"), as
// claims carry it; numbers in canonical decimal, as the options want.
func (r *Request) ParseLabel(label string) error {
	kind, num, _ := strings.Cut(label, " ")
	parse := func(max uint64) (uint64, error) {
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil || n > max || strconv.FormatUint(n, 10) != num {
			return 0, fmt.Errorf("function %q: %q is not a number from 0 to %d", label, num, max)
		}
		return n, nil
	}
	switch {
	case kind == "vf":
		n, err := parse(MaxVFNum)
		r.Kind, r.VFNum, r.SFNum = VF, int(n), 0
		return err
	case kind == "sf":
		n, err := parse(MaxSFNum)
		r.Kind, r.VFNum, r.SFNum = SF, 0, uint32(n)
		return err
	case label == "pf":
		r.Kind, r.VFNum, r.SFNum = PF, 0, 0
		return nil
	}
	return fmt.Errorf(`function %q: want "vf N", "sf N" or "pf"`, label)
}

// Function names the function r asks for as its options spell it, for
// messages: "vif-plug:representor:vf-num=3", "vif-plug:representor:sf-num=88",
// or, for the PF itself, "no vf-num or sf-num (the PF itself)".
func (r Request) Function() string {
	switch r.Kind {
	case SF:
		return OptSFNum + "=" + strconv.FormatUint(uint64(r.SFNum), 10)
	case PF:
		return "no vf-num or sf-num (the PF itself)"
	}
	return OptVFNum + "=" + strconv.Itoa(r.VFNum)
}

// IsRepresentorRequest reports whether options ask for a representor plug;
// requests of other plug types belong to other plug providers.
func IsRepresentorRequest(options map[string]string) bool {
	return options[OptPlugType] == PlugTypeRepresentor
}

// RequestedChassis lists the chassis names options ask for, in order (the
// first one is the main chassis).
func RequestedChassis(options map[string]string) []string {
	var names []string
	for _, n := range strings.Split(options[OptRequestedChassis], ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// Requests reports whether options ask chassis name (or, when hostname is
// not empty, its hostname) to plug the port.
func Requests(options map[string]string, name, hostname string) bool {
	return slices.ContainsFunc(RequestedChassis(options), func(n string) bool {
		return n == name || (hostname != "" && n == hostname)
	})
}

// OptionError says which option of a request is missing or malformed and
// what it should be. Its message quotes at most MaxQuotedValue bytes of
// the value and is never longer than MaxErrorLen bytes, however long the
// value: it becomes a port's ERROR reason, which travels in every status
// of the port, in logs and in CNI errors.
type OptionError struct {
	Option string
	// Missing: the option is absent (Value and Len are then empty).
	Missing bool
	// Value is the value as found, cut to at most MaxQuotedValue bytes
	// (at a character boundary); Len is its full length in bytes.
	Value string
	Len   int
	Want  string
	// Conflict, when set, names a second option that must not be set
	// together with Option; Want then says what to do.
	Conflict string
}

// Bounds of an OptionError's message.
const (
	// MaxQuotedValue is how many bytes of a bad value a message quotes.
	MaxQuotedValue = 64
	// MaxErrorLen bounds the length of an OptionError's message in bytes.
	MaxErrorLen = 512
)

func (e *OptionError) Error() string {
	if e.Missing {
		return fmt.Sprintf("option %s is missing: set it to %s", e.Option, e.Want)
	}
	if e.Conflict != "" {
		return fmt.Sprintf("options %s and %s are both set: %s", e.Option, e.Conflict, e.Want)
	}
	return fmt.Sprintf("option %s=%s is not %s", e.Option, e.quoted(), e.Want)
}

// quoted is the value as a message shows it: quoted, and when it was cut,
// followed by an ellipsis and its full length.
func (e *OptionError) quoted() string {
	v := strconv.Quote(e.Value)
	if e.Len > len(e.Value) {
		v += fmt.Sprintf("… (%d bytes)", e.Len)
	}
	return v
}

// badValue is the OptionError for option's value s.
func badValue(option, s, want string) *OptionError {
	// A copy: a substring would keep a huge value alive with the error.
	return &OptionError{Option: option, Value: strings.Clone(cut(s, MaxQuotedValue)), Len: len(s), Want: want}
}

// cut returns at most n bytes of s, ending at a character boundary when s
// is valid UTF-8 there.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for back := 1; back < utf8.UTFMax && i > 0 && !utf8.RuneStart(s[i]); back++ {
		i--
	}
	if !utf8.RuneStart(s[i]) {
		i = n // not UTF-8 here: cut anywhere
	}
	return s[:i]
}

// What each option must be, as the errors say it.
const (
	wantPFMAC          = "a MAC address like 0c:42:a1:00:00:01 (the host PF's MAC)"
	wantPFMACLen       = "a MAC address of 6 bytes like 0c:42:a1:00:00:01 (the host PF's MAC; this address has %d)"
	wantPFMACUnicast   = "a unicast MAC address (the host PF's MAC is never multicast or broadcast)"
	wantPFMACNonZero   = "a MAC address other than 00:00:00:00:00:00 (the host PF's MAC)"
	wantDigitsOnlyNote = ", in digits only (no sign, space or leading zero)"
)

var (
	wantVFNum = fmt.Sprintf("a decimal VF index from 0 to %d%s", MaxVFNum, wantDigitsOnlyNote)
	wantSFNum = fmt.Sprintf("a decimal SF number (devlink sfnum) from 0 to %d%s", uint64(MaxSFNum), wantDigitsOnlyNote)
	wantOne   = "a port is one VF or one SF (or, with neither, the PF itself): remove one of them"
	wantMTU   = fmt.Sprintf("an MTU from %d to %d%s", MinMTU, MaxMTU, wantDigitsOnlyNote)
)

// ParseOptions reads a representor request from LSP (or Port_Binding)
// options. The error is an *OptionError naming the first bad option, in the
// order pf-mac, vf-num and sf-num (both set is an error naming both), MTU;
// the request's Chassis is set regardless. With neither vf-num nor sf-num
// the request is for the PF's own representor (Kind PF).
//
// It is strict where OVN's own representor provider (ovn-vif) is lax:
// that one reads vf-num with strtol into a 16-bit integer and looks up
// whatever comes out, so "seven", "" (before ovn-vif 26.03), "65536",
// "0x1" and "1x" name VF 0 or 1 there. Here vf-num and the MTU are
// decimal digits only, in range, without sign, space or leading zero (so
// that Options renders them as found), and pf-mac is a 6-byte unicast MAC
// other than all-zero.
func ParseOptions(options map[string]string) (Request, error) {
	r := Request{Chassis: options[OptRequestedChassis]}
	var err error
	if r.PFMAC, err = parsePFMAC(options); err != nil {
		return r, err
	}
	if r.Kind, r.VFNum, r.SFNum, err = parseFunction(options); err != nil {
		return r, err
	}
	r.MTU, err = parseDecimal(options, OptMTURequest, MinMTU, MaxMTU, wantMTU, false)
	return r, err
}

// parseFunction reads which function options name: vf-num, sf-num, or
// neither (the PF). A present option is parsed strictly, even when empty.
func parseFunction(options map[string]string) (FunctionKind, int, uint32, error) {
	_, hasVF := options[OptVFNum]
	sf, hasSF := options[OptSFNum]
	switch {
	case hasVF && hasSF:
		return VF, 0, 0, &OptionError{Option: OptVFNum, Conflict: OptSFNum, Want: wantOne}
	case hasVF:
		n, err := parseDecimal(options, OptVFNum, 0, MaxVFNum, wantVFNum, true)
		return VF, n, 0, err
	case hasSF:
		if !canonicalDecimal(sf, len(strconv.FormatUint(MaxSFNum, 10))) {
			return SF, 0, 0, badValue(OptSFNum, sf, wantSFNum)
		}
		n, err := strconv.ParseUint(sf, 10, 32)
		if err != nil {
			return SF, 0, 0, badValue(OptSFNum, sf, wantSFNum)
		}
		return SF, 0, uint32(n), nil
	}
	return PF, 0, 0, nil
}

func parsePFMAC(options map[string]string) (net.HardwareAddr, error) {
	s, ok := options[OptPFMAC]
	if !ok {
		return nil, &OptionError{Option: OptPFMAC, Missing: true, Want: wantPFMAC}
	}
	mac, err := net.ParseMAC(s)
	switch {
	case err != nil:
		return nil, badValue(OptPFMAC, s, wantPFMAC)
	case len(mac) != 6:
		return nil, badValue(OptPFMAC, s, fmt.Sprintf(wantPFMACLen, len(mac)))
	case mac[0]&1 != 0:
		return nil, badValue(OptPFMAC, s, wantPFMACUnicast)
	case bytes.Equal(mac, make(net.HardwareAddr, 6)):
		return nil, badValue(OptPFMAC, s, wantPFMACNonZero)
	}
	return mac, nil
}

// parseDecimal reads option as decimal digits within [lo, hi], spelled as
// strconv.Itoa spells them. An optional option that is absent or empty is
// 0 (OVN reads an empty vif-plug-mtu-request as none, too).
func parseDecimal(options map[string]string, option string, lo, hi int, want string, required bool) (int, error) {
	s, ok := options[option]
	switch {
	case !ok && required:
		return 0, &OptionError{Option: option, Missing: true, Want: want}
	case s == "" && !required:
		return 0, nil
	}
	if !canonicalDecimal(s, len(strconv.Itoa(hi))) {
		return 0, badValue(option, s, want)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badValue(option, s, want)
	}
	return n, nil
}

// canonicalDecimal reports whether s is 1 to maxDigits ASCII digits
// without a leading zero (but "0").
func canonicalDecimal(s string, maxDigits int) bool {
	if s == "" || len(s) > maxDigits || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
