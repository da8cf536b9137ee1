package vifplug

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Bounds of the values a request carries.
const (
	MaxVFNum = 65535
	MinMTU   = 68
	MaxMTU   = 65535
)

// Request is what one LSP asks of a DPU: plug the representor of VF VFNum of
// the host PF whose MAC is PFMAC into the integration bridge of Chassis.
type Request struct {
	// Chassis is the requested-chassis value; parsing keeps it verbatim.
	Chassis string
	PFMAC   net.HardwareAddr
	VFNum   int
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
		OptVFNum:            strconv.Itoa(r.VFNum),
	}
	if r.MTU != 0 {
		opts[OptMTURequest] = strconv.Itoa(r.MTU)
	}
	return opts
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
// what it should be.
type OptionError struct {
	Option string
	Value  string // as found; "" when missing
	Want   string
}

func (e *OptionError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("option %s is missing: set it to %s", e.Option, e.Want)
	}
	return fmt.Sprintf("option %s=%q is not %s", e.Option, e.Value, e.Want)
}

// What each option must be, as the errors say it.
const (
	wantPFMAC = "a MAC address like 0c:42:a1:00:00:01 (the host PF's MAC)"
	wantVFNum = "a decimal VF index from 0 to 65535"
)

var wantMTU = fmt.Sprintf("an MTU from %d to %d", MinMTU, MaxMTU)

// ParseOptions reads a representor request from LSP (or Port_Binding)
// options. The error is an *OptionError naming the first bad option, in the
// order pf-mac, vf-num, MTU; the request's Chassis is set regardless.
func ParseOptions(options map[string]string) (Request, error) {
	r := Request{Chassis: options[OptRequestedChassis]}
	var err error
	if r.PFMAC, err = parsePFMAC(options[OptPFMAC]); err != nil {
		return r, err
	}
	if r.VFNum, err = parseInt(OptVFNum, options[OptVFNum], 0, MaxVFNum, wantVFNum, true); err != nil {
		return r, err
	}
	r.MTU, err = parseInt(OptMTURequest, options[OptMTURequest], MinMTU, MaxMTU, wantMTU, false)
	return r, err
}

func parsePFMAC(s string) (net.HardwareAddr, error) {
	if s == "" {
		return nil, &OptionError{Option: OptPFMAC, Want: wantPFMAC}
	}
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, &OptionError{Option: OptPFMAC, Value: s, Want: wantPFMAC}
	}
	return mac, nil
}

// parseInt reads a decimal option within [lo, hi]; an absent optional one
// is 0.
func parseInt(option, s string, lo, hi int, want string, required bool) (int, error) {
	if s == "" {
		if required {
			return 0, &OptionError{Option: option, Want: want}
		}
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &OptionError{Option: option, Value: s, Want: want}
	}
	return n, nil
}
