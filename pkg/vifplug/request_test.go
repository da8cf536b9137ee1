package vifplug

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// goodOptions is a valid request; the option cases change it.
func goodOptions() map[string]string {
	return map[string]string{OptRequestedChassis: "dpu1", OptPlugType: PlugTypeRepresentor,
		OptPFMAC: "0C:42:A1:00:00:01", OptVFNum: "7", OptMTURequest: "1400"}
}

// megabyte is an option value of 1 MiB, as a hostile or broken CMS may
// write one.
var megabyte = strings.Repeat("1", 1<<20)

// optionCase is one way of writing a request's options: set replaces
// options, del removes them.
type optionCase struct {
	name       string
	set        map[string]string
	del        []string
	wantOption string // the option the error names; "" = valid
	wantErr    string // substring of the message
}

// optionCases are the option spellings ParseOptions is tested with; they
// also seed FuzzParseOptions. OVN's own representor provider (ovn-vif)
// reads several of the bad vf-num spellings as a VF anyway: see
// docs/contract.md.
var optionCases = []optionCase{
	{name: "valid"},
	{name: "no mtu is fine", del: []string{OptMTURequest}},
	{name: "empty mtu is none, as OVN reads it", set: map[string]string{OptMTURequest: ""}},
	{name: "upper-case mac", set: map[string]string{OptPFMAC: "0C:42:A1:00:00:01"}},
	{name: "hyphenated mac", set: map[string]string{OptPFMAC: "0c-42-a1-00-00-01"}},
	{name: "dotted mac", set: map[string]string{OptPFMAC: "0c42.a100.0001"}},
	{name: "mac without separators", set: map[string]string{OptPFMAC: "0c42a1000001"}},
	{name: "locally administered mac", set: map[string]string{OptPFMAC: "0e:42:a1:00:00:01"}},
	{name: "vf 0", set: map[string]string{OptVFNum: "0"}},
	{name: "vf 65535", set: map[string]string{OptVFNum: "65535"}},
	{name: "mtu 68", set: map[string]string{OptMTURequest: "68"}},
	{name: "mtu 65535", set: map[string]string{OptMTURequest: "65535"}},

	{"malformed mac", map[string]string{OptPFMAC: "0c:42:a1:00:00"}, nil, OptPFMAC, OptPFMAC + `="0c:42:a1:00:00" is not a MAC address`},
	{"bad hex digit in mac", map[string]string{OptPFMAC: "0c:42:zz:00:00:01"}, nil, OptPFMAC, OptPFMAC + `="0c:42:zz:00:00:01" is not a MAC address`},
	{"eui64 is not a pf mac", map[string]string{OptPFMAC: "0c:42:a1:00:00:01:02:03"}, nil, OptPFMAC, "of 6 bytes"},
	{"ipoib address is not a pf mac", map[string]string{OptPFMAC: "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"}, nil, OptPFMAC,
		"this address has 20"},
	{"multicast mac", map[string]string{OptPFMAC: "01:00:5e:00:00:01"}, nil, OptPFMAC, `="01:00:5e:00:00:01" is not a unicast MAC address`},
	{"broadcast mac", map[string]string{OptPFMAC: "ff:ff:ff:ff:ff:ff"}, nil, OptPFMAC, "unicast"},
	{"all-zero mac", map[string]string{OptPFMAC: "00:00:00:00:00:00"}, nil, OptPFMAC, "other than 00:00:00:00:00:00"},
	{"mac with a leading space", map[string]string{OptPFMAC: " 0c:42:a1:00:00:01"}, nil, OptPFMAC, `=" 0c:42:a1:00:00:01" is not`},
	{"mac with a trailing space", map[string]string{OptPFMAC: "0c:42:a1:00:00:01 "}, nil, OptPFMAC, `="0c:42:a1:00:00:01 " is not`},
	{"mac with single digits", map[string]string{OptPFMAC: "c:42:a1:0:0:1"}, nil, OptPFMAC, `="c:42:a1:0:0:1" is not`},
	{"mac with 0x", map[string]string{OptPFMAC: "0x0c:42:a1:00:00:01"}, nil, OptPFMAC, OptPFMAC},
	{"mac of 11 hex digits", map[string]string{OptPFMAC: "0c42a100000"}, nil, OptPFMAC, OptPFMAC},
	{"mac with mixed separators", map[string]string{OptPFMAC: "0c:42-a1:00:00:01"}, nil, OptPFMAC, OptPFMAC},
	{"empty mac", map[string]string{OptPFMAC: ""}, nil, OptPFMAC, OptPFMAC + `="" is not a MAC address`},
	{"missing mac", nil, []string{OptPFMAC}, OptPFMAC, OptPFMAC + " is missing"},
	{"huge mac", map[string]string{OptPFMAC: megabyte}, nil, OptPFMAC, `="` + megabyte[:MaxQuotedValue] + `"… (1048576 bytes) is not`},

	{"negative vf", map[string]string{OptVFNum: "-1"}, nil, OptVFNum, OptVFNum + `="-1" is not a decimal VF index`},
	{"non-numeric vf", map[string]string{OptVFNum: "seven"}, nil, OptVFNum, OptVFNum + `="seven"`},
	{"vf above 65535", map[string]string{OptVFNum: "65536"}, nil, OptVFNum, "from 0 to 65535"},
	{"vf 2^32", map[string]string{OptVFNum: "4294967296"}, nil, OptVFNum, `="4294967296"`},
	{"vf 10^30", map[string]string{OptVFNum: "1" + strings.Repeat("0", 30)}, nil, OptVFNum, `="1000000000000000000000000000000"`},
	{"vf -10^30", map[string]string{OptVFNum: "-1" + strings.Repeat("0", 30)}, nil, OptVFNum, `="-1000000000000000000000000000000"`},
	{"vf with trailing garbage", map[string]string{OptVFNum: "1x"}, nil, OptVFNum, `="1x"`},
	{"vf with a leading space", map[string]string{OptVFNum: " 1"}, nil, OptVFNum, `=" 1"`},
	{"vf with a trailing space", map[string]string{OptVFNum: "1 "}, nil, OptVFNum, `="1 "`},
	{"vf with a plus sign", map[string]string{OptVFNum: "+1"}, nil, OptVFNum, `="+1"`},
	{"vf minus zero", map[string]string{OptVFNum: "-0"}, nil, OptVFNum, `="-0"`},
	{"vf in hex", map[string]string{OptVFNum: "0x1"}, nil, OptVFNum, `="0x1"`},
	{"vf with a leading zero", map[string]string{OptVFNum: "01"}, nil, OptVFNum, `="01" is not a decimal VF index from 0 to 65535, in digits only`},
	{"vf 00", map[string]string{OptVFNum: "00"}, nil, OptVFNum, `="00"`},
	{"vf with underscore", map[string]string{OptVFNum: "1_0"}, nil, OptVFNum, `="1_0"`},
	{"vf in exponent form", map[string]string{OptVFNum: "1e3"}, nil, OptVFNum, `="1e3"`},
	{"vf with a fraction", map[string]string{OptVFNum: "1.0"}, nil, OptVFNum, `="1.0"`},
	{"vf in arabic-indic digits", map[string]string{OptVFNum: "\u0661"}, nil, OptVFNum, OptVFNum + "=\"\u0661\""},
	{"vf in full-width digits", map[string]string{OptVFNum: "\uff11"}, nil, OptVFNum, OptVFNum + "=\"\uff11\""},
	{"vf with a nul byte", map[string]string{OptVFNum: "1\x00"}, nil, OptVFNum, `="1\x00"`},
	{"empty vf", map[string]string{OptVFNum: ""}, nil, OptVFNum, OptVFNum + `="" is not a decimal VF index`},
	{"vf and sf", map[string]string{OptSFNum: "1"}, nil, OptVFNum, "options " + OptVFNum + " and " + OptSFNum + " are both set"},
	{"bad sf beside vf", map[string]string{OptSFNum: "x"}, nil, OptVFNum, "are both set"},
	{"sf not a number", map[string]string{OptSFNum: "seven"}, []string{OptVFNum}, OptSFNum, OptSFNum + `="seven" is not a decimal SF number`},
	{"negative sf", map[string]string{OptSFNum: "-1"}, []string{OptVFNum}, OptSFNum, `="-1"`},
	{"sf past u32", map[string]string{OptSFNum: "4294967296"}, []string{OptVFNum}, OptSFNum, "from 0 to 4294967295"},
	{"sf with a leading zero", map[string]string{OptSFNum: "088"}, []string{OptVFNum}, OptSFNum, `="088"`},
	{"empty sf", map[string]string{OptSFNum: ""}, []string{OptVFNum}, OptSFNum, `="" is not a decimal SF number`},
	{"huge sf", map[string]string{OptSFNum: megabyte}, []string{OptVFNum}, OptSFNum, `"… (1048576 bytes) is not a decimal SF number`},
	{"huge vf", map[string]string{OptVFNum: megabyte}, nil, OptVFNum, `"… (1048576 bytes) is not a decimal VF index`},

	{"mtu too small", map[string]string{OptMTURequest: "67"}, nil, OptMTURequest, OptMTURequest + `="67" is not an MTU`},
	{"mtu 0", map[string]string{OptMTURequest: "0"}, nil, OptMTURequest, `="0" is not an MTU`},
	{"mtu too big", map[string]string{OptMTURequest: "65536"}, nil, OptMTURequest, "from 68 to 65535"},
	{"mtu not a number", map[string]string{OptMTURequest: "jumbo"}, nil, OptMTURequest, `="jumbo"`},
	{"negative mtu", map[string]string{OptMTURequest: "-1500"}, nil, OptMTURequest, `="-1500"`},
	{"mtu with a plus sign", map[string]string{OptMTURequest: "+1500"}, nil, OptMTURequest, `="+1500"`},
	{"mtu with a leading zero", map[string]string{OptMTURequest: "01500"}, nil, OptMTURequest, `="01500"`},
	{"mtu with a space", map[string]string{OptMTURequest: " 1500"}, nil, OptMTURequest, `=" 1500"`},
	{"mtu in hex", map[string]string{OptMTURequest: "0x5dc"}, nil, OptMTURequest, `="0x5dc"`},
	{"huge mtu", map[string]string{OptMTURequest: megabyte}, nil, OptMTURequest, `"… (1048576 bytes) is not an MTU`},

	{"first bad option is named", map[string]string{OptPFMAC: "x", OptVFNum: "y"}, nil, OptPFMAC, OptPFMAC},
}

// options applies c to a good request.
func (c optionCase) options() map[string]string {
	opts := goodOptions()
	maps.Copy(opts, c.set)
	for _, k := range c.del {
		delete(opts, k)
	}
	return opts
}

func TestParseOptions(t *testing.T) {
	for _, tt := range optionCases {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.options()
			r, err := ParseOptions(opts)
			if r.Chassis != "dpu1" {
				t.Errorf("Chassis = %q, want it kept whatever else is wrong", r.Chassis)
			}
			if tt.wantOption == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				want, _ := net.ParseMAC(opts[OptPFMAC])
				if !bytes.Equal(r.PFMAC, want) || strconv.Itoa(r.VFNum) != opts[OptVFNum] {
					t.Fatalf("parsed pf-mac %s vf-num %d from %v", r.PFMAC, r.VFNum, opts)
				}
				if mtu := opts[OptMTURequest]; (mtu == "" && r.MTU != 0) || (mtu != "" && strconv.Itoa(r.MTU) != mtu) {
					t.Fatalf("parsed MTU %d from %q", r.MTU, mtu)
				}
				return
			}
			var oe *OptionError
			if !errors.As(err, &oe) || oe.Option != tt.wantOption || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want an OptionError on %s mentioning %q", err, tt.wantOption, tt.wantErr)
			}
			if n := len(err.Error()); n > MaxErrorLen {
				t.Fatalf("error is %d bytes long, more than %d: %.200s...", n, MaxErrorLen, err)
			}
		})
	}
}

// TestOptionErrorCutsAtCharacters: a long value is quoted up to a
// character boundary, so the reason stays valid UTF-8.
func TestOptionErrorCutsAtCharacters(t *testing.T) {
	value := strings.Repeat("\u20ac", 30) // 3 bytes each: 64 ends inside the 22nd
	_, err := ParseOptions(map[string]string{OptPFMAC: value})
	var oe *OptionError
	if !errors.As(err, &oe) || oe.Value != strings.Repeat("\u20ac", 21) || oe.Len != 90 {
		t.Fatalf("error %#v, want the value cut to 21 characters of 90 bytes", err)
	}
	if msg := err.Error(); !utf8.ValidString(msg) || !strings.Contains(msg, `"… (90 bytes) is not a MAC address`) {
		t.Errorf("message %q", msg)
	}
	// Not UTF-8: cut at 64 bytes, each quoted as \xNN.
	_, err = ParseOptions(map[string]string{OptPFMAC: "\xff" + strings.Repeat("\x80", 80)})
	if !errors.As(err, &oe) || len(oe.Value) != MaxQuotedValue || len(err.Error()) > MaxErrorLen {
		t.Errorf("error %q (%d bytes) for 81 bytes of invalid UTF-8", err, len(err.Error()))
	}
}

func TestRequestOptionsRoundTrip(t *testing.T) {
	mac, _ := net.ParseMAC("0C:42:A1:00:00:01")
	for _, r := range []Request{
		{Chassis: "dpu1", PFMAC: mac, VFNum: 0},
		{Chassis: "dpu1", PFMAC: mac, VFNum: 65535, MTU: 9000},
	} {
		opts := r.Options()
		if opts[OptPFMAC] != "0c:42:a1:00:00:01" || opts[OptPlugType] != PlugTypeRepresentor {
			t.Errorf("Options() = %v: want a lower-case pf-mac and vif-plug-type=representor", opts)
		}
		if _, ok := opts[OptMTURequest]; ok != (r.MTU != 0) {
			t.Errorf("Options() = %v: %s must be present exactly when an MTU is asked for", opts, OptMTURequest)
		}
		got, err := ParseOptions(opts)
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("ParseOptions(%v) = %+v, %v; want %+v", opts, got, err, r)
		}
	}
}

func TestRequests(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"dpu1", true},
		{"dpu1.example", true},
		{"dpu0, dpu1", true},
		{"dpu10", false},
		{"", false},
		{",,", false},
	}
	for _, tt := range tests {
		if got := Requests(map[string]string{OptRequestedChassis: tt.value}, "dpu1", "dpu1.example"); got != tt.want {
			t.Errorf("Requests(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
	if Requests(map[string]string{OptRequestedChassis: ""}, "dpu1", "") {
		t.Error("an empty hostname must not match an empty entry")
	}
}

func TestAttachmentRoundTrip(t *testing.T) {
	for _, a := range []Attachment{
		{Owner: "node1", ID: "a1", Network: "net", ContainerID: "c", IfName: "eth0", DeviceID: "0000:03:00.2"},
		{Owner: "node1", ID: "a1", Network: "net", ContainerID: "c", IfName: "eth0", DeviceID: "0000:03:00.2",
			PodNamespace: "prod", PodName: "web-0"},
	} {
		ids := a.ExternalIDs()
		if _, ok := ids[ExtPodName]; ok != (a.PodName != "") {
			t.Errorf("ExternalIDs() = %v: %s present only when known", ids, ExtPodName)
		}
		if got := AttachmentOf(ids); got != a {
			t.Errorf("AttachmentOf(%v) = %+v, want %+v", ids, got, a)
		}
	}
}

func TestInterfaceIDs(t *testing.T) {
	ids := InterfaceIDs("lsp1", "")
	if _, ok := ids[IfaceAttachment]; ok || !PluggedByAgent(ids) || ids[IfaceID] != "lsp1" {
		t.Errorf("InterfaceIDs without attachment = %v", ids)
	}
	if ids := InterfaceIDs("lsp1", "a1"); ids[IfaceAttachment] != "a1" {
		t.Errorf("InterfaceIDs with attachment = %v", ids)
	}
	if PluggedByOVN(ids) || OVNInstalled(ids) {
		t.Errorf("%v is neither ovn-plugged nor ovn-installed", ids)
	}
}

// Without vf-num the request names an SF (sf-num) or the PF itself.
func TestParseOptionsFunctions(t *testing.T) {
	for _, tt := range []struct {
		name    string
		set     map[string]string
		want    Request
		wantFn  string
		wantOpt []string // options Options writes besides the common ones
	}{
		{"vf", map[string]string{OptVFNum: "7"}, Request{Kind: VF, VFNum: 7}, OptVFNum + "=7", []string{OptVFNum}},
		{"sf", map[string]string{OptSFNum: "88"}, Request{Kind: SF, SFNum: 88}, OptSFNum + "=88", []string{OptSFNum}},
		{"largest sf", map[string]string{OptSFNum: "4294967295"}, Request{Kind: SF, SFNum: 4294967295}, OptSFNum + "=4294967295", []string{OptSFNum}},
		{"pf", nil, Request{Kind: PF}, "no vf-num or sf-num (the PF itself)", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := goodOptions()
			delete(opts, OptVFNum)
			maps.Copy(opts, tt.set)
			r, err := ParseOptions(opts)
			if err != nil {
				t.Fatal(err)
			}
			if r.Kind != tt.want.Kind || r.VFNum != tt.want.VFNum || r.SFNum != tt.want.SFNum {
				t.Fatalf("parsed %v vf %d sf %d, want %v vf %d sf %d", r.Kind, r.VFNum, r.SFNum, tt.want.Kind, tt.want.VFNum, tt.want.SFNum)
			}
			if got := r.Function(); got != tt.wantFn {
				t.Errorf("Function() = %q, want %q", got, tt.wantFn)
			}
			out := r.Options()
			for _, k := range []string{OptVFNum, OptSFNum} {
				if _, has := out[k]; has != slices.Contains(tt.wantOpt, k) {
					t.Errorf("Options() = %v: %s present %v", out, k, has)
				}
			}
			if again, err := ParseOptions(out); err != nil || !reflect.DeepEqual(again, r) {
				t.Errorf("round trip: %+v, %v; want %+v", again, err, r)
			}
		})
	}
}

// TestParseLabelRoundTrip: every label Label makes parses back to the same
// function; anything else is refused, naming the label.
func TestParseLabelRoundTrip(t *testing.T) {
	for _, r := range []Request{{Kind: VF}, {Kind: VF, VFNum: 3}, {Kind: VF, VFNum: MaxVFNum}, {Kind: SF, SFNum: 88},
		{Kind: SF, SFNum: MaxSFNum}, {Kind: PF}} {
		var got Request
		if err := got.ParseLabel(r.Label()); err != nil || got.Kind != r.Kind || got.VFNum != r.VFNum || got.SFNum != r.SFNum {
			t.Errorf("ParseLabel(%q) = %+v, %v; want %+v", r.Label(), got, err, r)
		}
	}
	for _, bad := range []string{"", "vf", "vf ", "vf -1", "vf 03", "vf 65536", "sf 4294967296", "pf 0", "VF 1", "vf 1 ", "nic 1"} {
		var got Request
		if err := got.ParseLabel(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseLabel(%q): %v, want an error naming it", bad, err)
		}
	}
}
