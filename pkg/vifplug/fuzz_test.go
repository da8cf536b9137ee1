package vifplug

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseOptions feeds ParseOptions arbitrary pf-mac, vf-num, sf-num and
// MTU values, each present or absent, as any CMS may write them.
// Properties: it never panics; a request it accepts has a 6-byte unicast,
// non-zero PF MAC, a VF index or SF number (or neither: the PF) and an MTU
// in range, spelled as Options spells them, and survives Options and
// ParseOptions unchanged; vf-num with sf-num is refused; an error is an
// *OptionError naming one of the options, at most MaxErrorLen bytes long.
// Seeded from the table tests.
func FuzzParseOptions(f *testing.F) {
	for _, c := range optionCases {
		opts := c.options()
		pf, hasPF := opts[OptPFMAC]
		vf, hasVF := opts[OptVFNum]
		sf, hasSF := opts[OptSFNum]
		mtu, hasMTU := opts[OptMTURequest]
		f.Add(seed(pf), hasPF, seed(vf), hasVF, seed(sf), hasSF, seed(mtu), hasMTU)
	}
	f.Fuzz(func(t *testing.T, pf string, hasPF bool, vf string, hasVF bool, sf string, hasSF bool, mtu string, hasMTU bool) {
		opts := map[string]string{OptRequestedChassis: "dpu1", OptPlugType: PlugTypeRepresentor}
		for _, o := range []struct {
			key, value string
			present    bool
		}{{OptPFMAC, pf, hasPF}, {OptVFNum, vf, hasVF}, {OptSFNum, sf, hasSF}, {OptMTURequest, mtu, hasMTU}} {
			if o.present {
				opts[o.key] = o.value
			}
		}
		r, err := ParseOptions(opts)
		if r.Chassis != "dpu1" {
			t.Errorf("Chassis = %q, want it kept", r.Chassis)
		}
		if err != nil {
			checkOptionError(t, opts, err)
			return
		}
		if len(r.PFMAC) != 6 || r.PFMAC[0]&1 != 0 || r.PFMAC.String() == "00:00:00:00:00:00" {
			t.Errorf("accepted pf-mac %q as %v: not a 6-byte unicast, non-zero MAC", pf, r.PFMAC)
		}
		switch {
		case hasVF && hasSF:
			t.Errorf("accepted vf-num %q with sf-num %q", vf, sf)
		case hasVF && (r.Kind != VF || r.VFNum < 0 || r.VFNum > MaxVFNum || strconv.Itoa(r.VFNum) != vf):
			t.Errorf("accepted vf-num %q as %v %d", vf, r.Kind, r.VFNum)
		case hasSF && (r.Kind != SF || strconv.FormatUint(uint64(r.SFNum), 10) != sf):
			t.Errorf("accepted sf-num %q as %v %d", sf, r.Kind, r.SFNum)
		case !hasVF && !hasSF && r.Kind != PF:
			t.Errorf("neither vf-num nor sf-num parsed as %v", r.Kind)
		}
		if r.MTU != 0 && (r.MTU < MinMTU || r.MTU > MaxMTU || strconv.Itoa(r.MTU) != mtu) || (r.MTU == 0 && mtu != "" && hasMTU) {
			t.Errorf("accepted %s %q as %d", OptMTURequest, mtu, r.MTU)
		}
		again, err := ParseOptions(r.Options())
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Errorf("ParseOptions(%v.Options()) = %+v, %v; want it unchanged", r, again, err)
		}
	})
}

// seed shortens the table's 1 MiB values to what the fuzzer mutates
// quickly; still far longer than any message may quote.
func seed(s string) string { return s[:min(len(s), 4<<10)] }

func checkOptionError(t *testing.T, opts map[string]string, err error) {
	t.Helper()
	var oe *OptionError
	if !errors.As(err, &oe) {
		t.Fatalf("error %v (%T) is not an *OptionError", err, err)
	}
	msg := err.Error()
	if !slices.Contains([]string{OptPFMAC, OptVFNum, OptSFNum, OptMTURequest}, oe.Option) || !strings.Contains(msg, oe.Option) {
		t.Errorf("error %.300q does not name one of the request's options (Option %q)", msg, oe.Option)
	}
	if len(msg) > MaxErrorLen {
		t.Errorf("error is %d bytes long, more than %d: %.300q", len(msg), MaxErrorLen, msg)
	}
	if oe.Conflict != "" {
		_, hasConflict := opts[oe.Conflict]
		if _, has := opts[oe.Option]; !has || !hasConflict || !strings.Contains(msg, oe.Conflict) {
			t.Errorf("conflict error %q names options not both set", msg)
		}
		return
	}
	value, present := opts[oe.Option]
	if oe.Missing == present || !strings.HasPrefix(value, oe.Value) || oe.Len != len(value) || len(oe.Value) > MaxQuotedValue {
		t.Errorf("error %+v does not describe %s=%.100q (present %v)", oe, oe.Option, value, present)
	}
}
