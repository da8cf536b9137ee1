package netconf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/types/create"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

const (
	// DefaultAgentSocket is where ovn-dpu-host-agent listens (its --socket
	// default) unless the configuration's agentSocket says otherwise.
	DefaultAgentSocket = "/run/ovn-dpu/host-agent.sock"
	// DefaultTimeoutSeconds bounds one ADD: the DPU's verdict included.
	DefaultTimeoutSeconds = 60
	// MaxTimeoutSeconds keeps a typo from parking a runtime for days.
	MaxTimeoutSeconds = 3600
	// DefaultLSPName names the LSP: node first, so two hosts never collide.
	DefaultLSPName = "{node}_{containerID}_{ifname}"
)

// Config is the network configuration as ovn-dpu reads it. Defaults are
// filled in; runtimeConfig values win over top-level ones.
type Config struct {
	CNIVersion     string
	Name           string
	Type           string
	AgentSocket    string
	TimeoutSeconds int
	// DeviceInfoFile is runtimeConfig.CNIDeviceInfoFile: where Multus wants
	// the device-info spec file (written by ADD, removed by DEL).
	DeviceInfoFile string

	// Read only by ParseAdd (nil or zero otherwise).
	LogicalSwitch string
	DeviceID      string
	LSPName       string
	MTU           int
	MAC           net.HardwareAddr
	IPs           []*net.IPNet
	// IPAMType is ipam.type; "" when no IPAM delegate is configured.
	IPAMType string
	// Gateways (at most one per family) and Routes apply to the addresses
	// OVN assigns or runtimeConfig.ips gives; an IPAM delegate brings its
	// own, so they are refused next to ipam.
	Gateways []net.IP
	Routes   []*types.Route

	// PrevResult is the result CHECK verifies (read only by ParseCheck).
	PrevResult *current.Result
}

// DynamicAddressing reports whether OVN assigns the addresses: neither an
// IPAM delegate nor runtimeConfig.ips gives any.
func (c *Config) DynamicAddressing() bool { return c.IPAMType == "" && len(c.IPs) == 0 }

// Timeout is timeoutSeconds as a duration.
func (c *Config) Timeout() time.Duration { return time.Duration(c.TimeoutSeconds) * time.Second }

// Parse reads the keys every CNI verb needs — cniVersion, name, type,
// agentSocket, timeoutSeconds — and ignores the attachment keys, so that a
// DEL, GC or STATUS with a config ADD would reject still reaches the agent
// (it undoes from its own records). Errors are *types.Error: code 6 when
// stdin is not a JSON object, 7 naming the key when a value is wrong.
func Parse(stdin []byte) (*Config, error) {
	d, err := newDecoder(stdin)
	if err != nil {
		return nil, err
	}
	c := &Config{AgentSocket: DefaultAgentSocket, TimeoutSeconds: DefaultTimeoutSeconds}
	d.str("cniVersion", &c.CNIVersion)
	d.str("name", &c.Name)
	d.str("type", &c.Type)
	d.str("agentSocket", &c.AgentSocket)
	d.intIn("timeoutSeconds", &c.TimeoutSeconds, 1, MaxTimeoutSeconds, "a whole number of seconds")
	// A relative path would resolve against wherever the runtime happened
	// to exec the plugin from.
	d.absPath("agentSocket", &c.AgentSocket)
	if rc := d.object("runtimeConfig"); rc != nil {
		rc.str("CNIDeviceInfoFile", &c.DeviceInfoFile)
		if c.DeviceInfoFile != "" {
			rc.absPath("CNIDeviceInfoFile", &c.DeviceInfoFile)
		}
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseAdd reads everything an ADD uses and requires logicalSwitch and a
// deviceID (top level, as Multus injects it, or runtimeConfig.deviceID).
func ParseAdd(stdin []byte) (*Config, error) {
	c, err := Parse(stdin)
	if err != nil {
		return nil, err
	}
	d, _ := newDecoder(stdin) // Parse has decoded it once already
	d.str("logicalSwitch", &c.LogicalSwitch)
	d.str("deviceID", &c.DeviceID)
	d.str("lspName", &c.LSPName)
	d.intIn("mtu", &c.MTU, vifplug.MinMTU, vifplug.MaxMTU, "an MTU")
	d.mac("mac", &c.MAC)
	d.ipamType(&c.IPAMType)
	d.ips("gateway", &c.Gateways)
	d.routes("routes", &c.Routes)
	d.capabilities("capabilities")
	if rc := d.object("runtimeConfig"); rc != nil {
		rc.str("deviceID", &c.DeviceID)
		rc.mac("mac", &c.MAC)
		rc.cidrs("ips", &c.IPs)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	switch {
	case c.LogicalSwitch == "":
		return nil, invalid("logicalSwitch is required: the OVN logical switch to attach to")
	case c.DeviceID == "":
		return nil, invalid("deviceID is required (top level, as Multus sets it, or runtimeConfig.deviceID): the VF's PCI address")
	}
	if c.IPAMType != "" && (c.Gateways != nil || c.Routes != nil) {
		return nil, invalid(fmt.Sprintf("gateway and routes apply to addresses OVN assigns or runtimeConfig.ips gives; "+
			"with ipam (type %s) put them in the ipam section", c.IPAMType))
	}
	if c.LSPName == "" {
		c.LSPName = DefaultLSPName
	}
	return c, nil
}

// ParseCheck is ParseAdd plus the prevResult CHECK verifies, required
// (CHECK exists from cniVersion 0.4.0 on, and there it always has one) and
// converted to the current result type whatever its version.
func ParseCheck(stdin []byte) (*Config, error) {
	c, err := ParseAdd(stdin)
	if err != nil {
		return nil, err
	}
	d, _ := newDecoder(stdin)
	raw := d.value("prevResult")
	if raw == nil {
		return nil, invalid("prevResult is missing from the CHECK configuration: the runtime must pass the result of ADD")
	}
	if d.noNullEntries("prevResult", "interfaces", "ips", "routes"); d.Err() != nil {
		return nil, d.Err()
	}
	prev, err := create.Create(c.CNIVersion, raw)
	if err == nil {
		c.PrevResult, err = current.NewResultFromResult(prev)
	}
	if err != nil {
		return nil, invalid(fmt.Sprintf("invalid prevResult in the network configuration: want a cniVersion %s result: %v", c.CNIVersion, err))
	}
	return c, nil
}

// decoder reads keys of one JSON object, keeping the first error; a key
// that is absent or null keeps the destination's default.
type decoder struct {
	path string // "" at top level, "runtimeConfig." inside it
	raw  map[string]json.RawMessage
	err  *error // shared with nested decoders: the first error wins
}

func newDecoder(stdin []byte) (*decoder, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &raw); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure,
			"cannot decode the network configuration (stdin) as a JSON object: "+err.Error(), "")
	}
	if raw == nil {
		return nil, types.NewError(types.ErrDecodingFailure,
			"cannot decode the network configuration (stdin): want a JSON object, got null", "")
	}
	return &decoder{raw: raw, err: new(error)}, nil
}

// value returns the raw value of key, nil when absent, null, or after an
// earlier error.
func (d *decoder) value(key string) json.RawMessage {
	v, ok := d.raw[key]
	if *d.err != nil || !ok || bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
		return nil
	}
	return v
}

func (d *decoder) fail(key string, v json.RawMessage, want string) {
	if *d.err != nil {
		return
	}
	if len(v) == 0 {
		*d.err = invalid(fmt.Sprintf("%s%s is missing from the network configuration: want %s", d.path, key, want))
		return
	}
	*d.err = invalid(fmt.Sprintf("invalid %s%s %s in the network configuration: want %s", d.path, key, cutRaw(v), want))
}

// cutRaw is a refused JSON value as a message repeats it: its first
// maxQuoted bytes, with its length when longer.
func cutRaw(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) <= maxQuoted {
		return string(v)
	}
	cut := maxQuoted
	for cut > 0 && !isRuneStart(v[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", v[:cut], len(v))
}

// Err is the first error met, a *types.Error.
func (d *decoder) Err() error { return *d.err }

// str reads a string; an empty one keeps the default.
func (d *decoder) str(key string, dst *string) {
	v := d.value(key)
	if v == nil {
		return
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		d.fail(key, v, "a string")
		return
	}
	if s != "" {
		*dst = s
	}
}

// intIn reads a whole number within [lo, hi].
func (d *decoder) intIn(key string, dst *int, lo, hi int, what string) {
	v := d.value(key)
	if v == nil {
		return
	}
	var n int64
	if json.Unmarshal(v, &n) != nil || n < int64(lo) || n > int64(hi) {
		d.fail(key, v, fmt.Sprintf("%s from %d to %d", what, lo, hi))
		return
	}
	*dst = int(n)
}

// mac reads a 6-byte unicast MAC address other than all zeros: the
// kernel refuses a multicast one on the pod interface, and OVN port
// security needs a real one.
func (d *decoder) mac(key string, dst *net.HardwareAddr) {
	var s string
	if d.str(key, &s); s == "" {
		return
	}
	hw, err := net.ParseMAC(s)
	switch {
	case err != nil || len(hw) != 6:
		d.fail(key, d.raw[key], "a MAC address like 0e:00:00:00:00:01")
	case hw[0]&0x01 != 0:
		d.fail(key, d.raw[key], "a unicast MAC address like 0e:00:00:00:00:01 (the low bit of the first byte clear)")
	case bytes.Equal(hw, make(net.HardwareAddr, 6)):
		d.fail(key, d.raw[key], "a MAC address other than all zeros, like 0e:00:00:00:00:01")
	default:
		*dst = hw
	}
}

// absPath reads a string that must be an absolute path.
func (d *decoder) absPath(key string, dst *string) {
	d.str(key, dst)
	if *d.err == nil && !filepath.IsAbs(*dst) {
		d.fail(key, d.raw[key], "an absolute path")
	}
}

// ips reads one IP address or a list of them, at most one per family.
func (d *decoder) ips(key string, dst *[]net.IP) {
	v := d.value(key)
	if v == nil {
		return
	}
	var list []string
	if json.Unmarshal(v, &list) != nil {
		var one string
		if json.Unmarshal(v, &one) != nil {
			d.fail(key, v, "an IP address, or a list of at most one IPv4 and one IPv6 address")
			return
		}
		list = []string{one}
	}
	var v4, v6 int
	for _, s := range list {
		ip := net.ParseIP(s)
		if ip == nil {
			d.fail(key, v, fmt.Sprintf("IP addresses (%q is not one)", s))
			return
		}
		if ip.To4() != nil {
			v4++
		} else {
			v6++
		}
		*dst = append(*dst, ip)
	}
	if v4 > 1 || v6 > 1 {
		d.fail(key, v, "at most one IPv4 and one IPv6 address")
	}
}

// routes reads a list of {"dst": CIDR, "gw": IP} routes, as IPAM results
// carry them; a route without gw goes via the gateway of its family.
func (d *decoder) routes(key string, dst *[]*types.Route) {
	v := d.value(key)
	if v == nil {
		return
	}
	var list []struct {
		Dst *string `json:"dst"`
		GW  *string `json:"gw"`
	}
	const want = `a list of routes like [{"dst":"0.0.0.0/0","gw":"10.0.0.1"}] ("gw" optional)`
	if json.Unmarshal(v, &list) != nil {
		d.fail(key, v, want)
		return
	}
	for i, r := range list {
		at := fmt.Sprintf("%s[%d]", key, i)
		if r.Dst == nil {
			d.fail(at+".dst", nil, "a destination like 0.0.0.0/0")
			return
		}
		_, ipn, err := net.ParseCIDR(*r.Dst)
		if err != nil {
			d.fail(at+".dst", json.RawMessage(strconv.Quote(*r.Dst)), "a destination with prefix length like 0.0.0.0/0")
			return
		}
		if mappedPrefix(ipn.IP, ipn.Mask) {
			d.fail(at+".dst", json.RawMessage(strconv.Quote(*r.Dst)), "an IPv4 or IPv6 destination, not an IPv4-mapped IPv6 one")
			return
		}
		route := &types.Route{Dst: *ipn}
		if r.GW != nil {
			if route.GW = net.ParseIP(*r.GW); route.GW == nil {
				d.fail(at+".gw", json.RawMessage(strconv.Quote(*r.GW)), "an IP address")
				return
			}
			if (route.GW.To4() == nil) != (ipn.IP.To4() == nil) {
				d.fail(at+".gw", json.RawMessage(strconv.Quote(*r.GW)), "an address of the same family as dst "+*r.Dst)
				return
			}
		}
		*dst = append(*dst, route)
	}
}

// mappedPrefix reports an IPv4-mapped IPv6 prefix, "::ffff:10.0.0.5/120":
// net.IPNet.String and the pod plumbing (pkg/netns) read it as IPv4 with
// the mask's last 32 bits, so ::ffff:0.0.0.0/96 would become the IPv4
// default route. (A lone mapped address is the IPv4 one to Go: no harm.)
func mappedPrefix(ip net.IP, mask net.IPMask) bool {
	return ip.To4() != nil && len(mask) == net.IPv6len
}

// capabilities reads the object of capability names a runtime (Multus,
// libcni) turns into runtimeConfig; the plugin only needs it well formed.
func (d *decoder) capabilities(key string) {
	v := d.value(key)
	if v == nil {
		return
	}
	var caps map[string]bool
	if json.Unmarshal(v, &caps) != nil {
		d.fail(key, v, `an object of capability names and booleans, like {"mac": true, "ips": true}`)
	}
}

// cidrs reads a list of addresses with prefix length.
func (d *decoder) cidrs(key string, dst *[]*net.IPNet) {
	v := d.value(key)
	if v == nil {
		return
	}
	var list []string
	if json.Unmarshal(v, &list) != nil {
		d.fail(key, v, "a list of addresses with prefix length, like [\"10.0.0.5/24\"]")
		return
	}
	for _, s := range list {
		ip, ipnet, err := net.ParseCIDR(s)
		if err != nil {
			d.fail(key, v, fmt.Sprintf("addresses with prefix length (%q is not one, like 10.0.0.5/24)", s))
			return
		}
		if mappedPrefix(ip, ipnet.Mask) {
			d.fail(key, v, fmt.Sprintf("IPv4 or IPv6 addresses (%q is IPv4-mapped IPv6: write it as IPv4)", s))
			return
		}
		ipnet.IP = ip
		*dst = append(*dst, ipnet)
	}
}

// noNullEntries refuses a null entry in the lists of object key: CHECK
// reads every entry of prevResult's interfaces, ips and routes, and the CNI
// library's conversion of a 0.4.0 result dereferences them (a null one
// panicked). A list of the wrong type is left for the library to report.
func (d *decoder) noNullEntries(key string, lists ...string) {
	obj := d.object(key)
	if obj == nil {
		return
	}
	for _, list := range lists {
		var entries []json.RawMessage
		if v := obj.value(list); v == nil || json.Unmarshal(v, &entries) != nil {
			continue
		}
		for i, e := range entries {
			if bytes.Equal(bytes.TrimSpace(e), []byte("null")) {
				obj.fail(fmt.Sprintf("%s[%d]", list, i), e, "an object, not null")
				return
			}
		}
	}
}

// object returns a decoder for a nested object, nil when absent or null.
func (d *decoder) object(key string) *decoder {
	v := d.value(key)
	if v == nil {
		return nil
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(v, &raw) != nil {
		d.fail(key, v, "a JSON object")
		return nil
	}
	return &decoder{path: d.path + key + ".", raw: raw, err: d.err}
}

// ipamType reads ipam.type; an ipam object without a type is an error,
// since the delegate could not be found.
func (d *decoder) ipamType(dst *string) {
	ipam := d.object("ipam")
	if ipam == nil {
		return
	}
	ipam.str("type", dst)
	if *dst == "" {
		ipam.fail("type", ipam.raw["type"], "the name of an IPAM plugin, like host-local")
	}
}

func invalid(msg string) *types.Error {
	return types.NewError(types.ErrInvalidNetworkConfig, msg, "")
}

// IPAMType reads only ipam.type, for the verbs that concern a whole
// network (GC, STATUS): "" when there is no ipam object.
func IPAMType(stdin []byte) (string, error) {
	d, err := newDecoder(stdin)
	if err != nil {
		return "", err
	}
	var t string
	d.ipamType(&t)
	return t, d.Err()
}
