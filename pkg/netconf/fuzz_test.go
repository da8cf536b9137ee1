package netconf

import (
	"encoding/json"
	"errors"
	"maps"
	"net"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// The fuzz targets check what the rest of the code relies on, not only
// that nothing panics: what parses has its defaults filled and its values
// in range, and parses again the same once written back; what does not
// parse is a CNI error (6 for stdin that is no JSON object, 7 otherwise)
// that names a key the parser reads — so an operator can find it.

// Keys each parser reads (routes[N].dst is spelled routes.dst), the only
// ones its errors may name.
var (
	parseFields = []string{"cniVersion", "name", "type", "agentSocket", "timeoutSeconds",
		"runtimeConfig", "runtimeConfig.CNIDeviceInfoFile"}
	addFields = slices.Concat(parseFields, []string{"logicalSwitch", "deviceID", "lspName", "mtu", "mac",
		"ipam", "ipam.type", "gateway", "routes", "routes.dst", "routes.gw", "capabilities",
		"runtimeConfig.deviceID", "runtimeConfig.mac", "runtimeConfig.ips"})
	checkFields = slices.Concat(addFields, []string{"prevResult",
		"prevResult.interfaces", "prevResult.ips", "prevResult.routes"})
)

// seedKeys are one valid configuration of every key ParseCheck reads, the
// base the seed corpus varies.
var seedKeys = map[string]string{
	"cniVersion":     `"1.1.0"`,
	"name":           `"net1"`,
	"type":           `"ovn-dpu-cni"`,
	"agentSocket":    `"/run/ovn-dpu/host-agent.sock"`,
	"timeoutSeconds": `5`,
	"logicalSwitch":  `"ls0"`,
	"deviceID":       `"0000:03:00.2"`,
	"lspName":        `"{node}_{podName}"`,
	"mtu":            `1400`,
	"mac":            `"0e:00:00:00:00:09"`,
	"gateway":        `["10.20.0.1","fd00:20::1"]`,
	"routes":         `[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00:20::1"}]`,
	"capabilities":   `{"mac":true,"ips":true,"deviceID":true}`,
	"runtimeConfig": `{"deviceID":"0000:03:00.5","mac":"0E:00:00:00:00:01","ips":["10.20.0.5/24","fd00:20::5/64"],` +
		`"CNIDeviceInfoFile":"/var/run/k8s.cni.cncf.io/devinfo/net1.json"}`,
	"prevResult": `{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","mac":"0e:00:00:00:00:01","sandbox":"/var/run/netns/p"}],` +
		`"ips":[{"address":"10.20.0.5/24","gateway":"10.20.0.1","interface":0}],"routes":[{"dst":"0.0.0.0/0"}],"dns":{}}`,
}

// seedVariants replace one key of seedKeys each: the edges of every rule
// (the table tests' cases among them), "" to drop the key.
var seedVariants = map[string][]string{
	"cniVersion":     {`"0.4.0"`, `"1.0.0"`, `""`, `1`, ``},
	"name":           {`""`, `["n"]`, `null`},
	"type":           {`7`},
	"agentSocket":    {`""`, `"run/a.sock"`, `1`, `null`},
	"timeoutSeconds": {`1`, `3600`, `0`, `-1`, `3601`, `1.5`, `"60"`, `1e3`, `null`, ``},
	"logicalSwitch":  {`""`, `["ls"]`, ``},
	"deviceID":       {`""`, `7`, ``},
	"lspName":        {`""`, `{}`},
	"mtu":            {`576`, `9216`, `10`, `65536`, `"1400"`, `-1`},
	"mac":            {`"nope"`, `"0e:00:00:00:00:00:00:01"`, `"01:00:5e:00:00:01"`, `"00:00:00:00:00:00"`, `""`, `false`},
	"ipam":           {`{"type":"host-local","ranges":[]}`, `{"subnet":"10.0.0.0/24"}`, `{"type":1}`, `[]`, `null`},
	"gateway": {`"10.0.0.1"`, `"fd00::1"`, `"10.0.0"`, `7`, `["10.0.0.1","10.0.0.2"]`, `["fd00::1","fd00::2"]`,
		`[]`, `[""]`},
	"routes": {`[]`, `{"dst":"0.0.0.0/0"}`, `[{"gw":"10.0.0.1"}]`, `[{"dst":"0.0.0.0/0"},{"dst":"10.1.0.0"}]`,
		`[{"dst":"0.0.0.0/0","gw":"x"}]`, `[{"dst":"0.0.0.0/0","gw":"fd00::1"}]`, `[{"dst":"10.1.2.3/8","gw":"10.0.0.1"}]`,
		`[{"dst":1}]`, `[null]`, `[{"dst":"::ffff:0.0.0.0/96","gw":"10.0.0.1"}]`},
	"capabilities": {`["mac"]`, `{"mac":"yes"}`, `{}`},
	"runtimeConfig": {`[]`, `{}`, `{"ips":["10.0.0.5"]}`, `{"ips":"10.0.0.5/24"}`, `{"mac":"nope"}`,
		`{"deviceID":7}`, `{"CNIDeviceInfoFile":"x.json"}`, `{"CNIDeviceInfoFile":7}`, `{"ips":["10.0.0.5/24"],"other":1}`,
		`{"ips":["fd00::5/128","10.0.0.5/32"]}`, `{"ips":["::ffff:10.0.0.5/120"]}`},
	"prevResult": {``, `"x"`, `{}`, `{"ips":[{"address":"10.0.0.5"}]}`,
		`{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.5/24","interface":3}]}`,
		`{"cniVersion":"0.4.0","interfaces":[{"name":"eth0"}],"ips":[{"version":"4","address":"10.0.0.5/24"}]}`},
}

// notObjects are inputs that are not a JSON object at all (error 6).
var notObjects = []string{``, `null`, `[]`, `"x"`, `{`, `{"cniVersion":`, `{}{}`, "\xff"}

// addSeeds gives every target the same corpus: the base, each variant on
// it, a configuration per cniVersion with a prevResult of that version,
// the minimal ADD and inputs that are no object.
func addSeeds(f *testing.F) {
	f.Add([]byte(seedConfig(nil)))
	for _, key := range slices.Sorted(maps.Keys(seedVariants)) {
		for _, v := range seedVariants[key] {
			f.Add([]byte(seedConfig(map[string]string{key: v})))
		}
	}
	// Versions the plugin does not advertise still reach the converter.
	f.Add([]byte(seedConfig(map[string]string{"cniVersion": `"0.2.0"`,
		"prevResult": `{"cniVersion":"0.2.0","ip4":{"ip":"10.20.0.5/24","routes":[{"dst":"0.0.0.0/0"}]}}`})))
	for _, v := range []string{"0.3.1", "0.4.0", "1.0.0", "1.1.0"} {
		ip := `{"address":"10.20.0.5/24","interface":0}`
		if strings.HasPrefix(v, "0.") {
			ip = `{"version":"4","address":"10.20.0.5/24","interface":0}`
		}
		for _, prev := range []string{
			`{"cniVersion":"` + v + `","interfaces":[{"name":"eth0","sandbox":"/p"}],"ips":[` + ip + `]}`,
			// Null entries: converting a 0.4.0 result dereferenced them.
			`{"cniVersion":"` + v + `","interfaces":[null],"ips":[` + ip + `]}`,
			`{"cniVersion":"` + v + `","ips":[null]}`,
			`{"cniVersion":"` + v + `","routes":[null]}`,
		} {
			f.Add([]byte(seedConfig(map[string]string{"cniVersion": `"` + v + `"`, "prevResult": prev})))
		}
	}
	f.Add([]byte(`{"logicalSwitch":"ls","deviceID":"d"}`))
	for _, s := range notObjects {
		f.Add([]byte(s))
	}
}

// seedConfig is seedKeys with the keys of change replaced ("" deletes).
func seedConfig(change map[string]string) string {
	keys := maps.Clone(seedKeys)
	for k, v := range change {
		if v == "" {
			delete(keys, k)
		} else {
			keys[k] = v
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(keys)) {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + k + `":` + keys[k])
	}
	b.WriteByte('}')
	return b.String()
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, stdin []byte) {
		c, err := Parse(stdin)
		if err != nil {
			checkError(t, stdin, err, parseFields)
			return
		}
		checkCommon(t, c)
		if !reflect.DeepEqual(*c, commonPart(c)) {
			t.Fatalf("Parse read attachment keys: %+v", c)
		}
		// DEL must reach the agent whatever the attachment keys say.
		garbled := garbleAddKeys(t, stdin)
		if again, err := Parse(garbled); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse of the same config with garbled ADD keys %s = %+v, %v; want %+v", garbled, again, err, c)
		}
		written := marshal(t, commonKeys(c))
		if again, err := Parse(written); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("Parse of its own result written back %s = %+v, %v; want %+v", written, again, err, c)
		}
	})
}

func FuzzParseAdd(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, stdin []byte) {
		c, err := ParseAdd(stdin)
		base, baseErr := Parse(stdin)
		if err != nil {
			// Parse runs first: what it refuses, ParseAdd refuses alike.
			if baseErr != nil && err.Error() != baseErr.Error() {
				t.Fatalf("ParseAdd error %q, Parse error %q", err, baseErr)
			}
			checkError(t, stdin, err, addFields)
			return
		}
		if baseErr != nil {
			t.Fatalf("ParseAdd accepted what Parse refuses: %v", baseErr)
		}
		if !reflect.DeepEqual(commonPart(c), *base) {
			t.Fatalf("ParseAdd read the common keys as %+v, Parse as %+v", commonPart(c), *base)
		}
		checkCommon(t, c)
		checkAdd(t, c)
		// GC and STATUS read ipam.type alone; they must find the same one.
		if typ, err := IPAMType(stdin); err != nil || typ != c.IPAMType {
			t.Fatalf("IPAMType = %q, %v; ParseAdd read %q", typ, err, c.IPAMType)
		}
		written := marshal(t, addKeys(c))
		if again, err := ParseAdd(written); err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("ParseAdd of its own result written back %s = %+v, %v; want %+v", written, again, err, c)
		}
	})
}

func FuzzParseCheck(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, stdin []byte) {
		c, err := ParseCheck(stdin)
		add, addErr := ParseAdd(stdin)
		if err != nil {
			if addErr != nil && err.Error() != addErr.Error() {
				t.Fatalf("ParseCheck error %q, ParseAdd error %q", err, addErr)
			}
			checkError(t, stdin, err, checkFields)
			return
		}
		if addErr != nil {
			t.Fatalf("ParseCheck accepted what ParseAdd refuses: %v", addErr)
		}
		prev := c.PrevResult
		if c.PrevResult = nil; !reflect.DeepEqual(c, add) {
			t.Fatalf("ParseCheck read %+v, ParseAdd %+v", c, add)
		}
		// CHECK walks every entry of the result it is given.
		switch {
		case prev == nil:
			t.Fatal("ParseCheck succeeded without a prevResult")
		case prev.CNIVersion != current.ImplementedSpecVersion:
			t.Fatalf("prevResult converted to version %q, want %q", prev.CNIVersion, current.ImplementedSpecVersion)
		case slices.Contains(prev.Interfaces, nil), slices.Contains(prev.IPs, nil), slices.Contains(prev.Routes, nil):
			t.Fatalf("prevResult has a nil entry: %+v", prev)
		}
	})
}

// checkError fails unless err is the CNI error the package documents.
func checkError(t *testing.T, stdin []byte, err error, fields []string) {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, want a *types.Error", err, err)
	}
	top, isObject := topLevel(stdin)
	switch {
	case e.Msg == "":
		t.Fatalf("error code %d without a message", e.Code)
	case e.Code == types.ErrDecodingFailure && isObject:
		t.Fatalf("error 6 for a JSON object: %q", e.Msg)
	case e.Code == types.ErrInvalidNetworkConfig && !isObject:
		t.Fatalf("error 7 for something that is no JSON object: %q", e.Msg)
	case e.Code != types.ErrDecodingFailure && e.Code != types.ErrInvalidNetworkConfig:
		t.Fatalf("error code %d (%q), want 6 or 7", e.Code, e.Msg)
	case e.Code == types.ErrDecodingFailure:
		return
	}
	named, absent := namedFields(e.Msg, fields)
	if len(named) == 0 {
		t.Fatalf("error %q does not start by naming one of the keys %v", e.Msg, fields)
	}
	if absent {
		return
	}
	for _, f := range named {
		if _, ok := top[strings.Split(f, ".")[0]]; ok {
			return
		}
	}
	t.Fatalf("error %q names %v, none of which is in the configuration", e.Msg, named)
}

var indexSuffix = regexp.MustCompile(`\[[0-9]+\]`)

// namedFields reads the keys an error message starts with — "invalid
// mtu 10 ...", "routes[1].dst is missing ...", "gateway and routes apply
// ..." — and whether the message says they are missing.
func namedFields(msg string, fields []string) (named []string, absent bool) {
	words := strings.Fields(strings.TrimPrefix(msg, "invalid "))
	for i, w := range words {
		switch f := indexSuffix.ReplaceAllString(w, ""); {
		case slices.Contains(fields, f):
			named = append(named, f)
		case w == "and" && len(named) > 0:
		default:
			rest := strings.Join(words[i:], " ")
			return named, strings.HasPrefix(rest, "is missing") || strings.HasPrefix(rest, "is required")
		}
	}
	return named, false
}

// topLevel decodes stdin as Parse does: ok when it is a JSON object.
func topLevel(stdin []byte) (map[string]json.RawMessage, bool) {
	var top map[string]json.RawMessage
	err := json.Unmarshal(stdin, &top)
	return top, err == nil && top != nil
}

// checkCommon checks the keys every verb reads.
func checkCommon(t *testing.T, c *Config) {
	t.Helper()
	switch {
	case c.TimeoutSeconds < 1 || c.TimeoutSeconds > MaxTimeoutSeconds:
		t.Fatalf("timeoutSeconds %d out of range", c.TimeoutSeconds)
	case c.Timeout() != time.Duration(c.TimeoutSeconds)*time.Second || c.Timeout() <= 0:
		t.Fatalf("Timeout() = %v for %d seconds", c.Timeout(), c.TimeoutSeconds)
	case !filepath.IsAbs(c.AgentSocket):
		t.Fatalf("agentSocket %q is not absolute", c.AgentSocket)
	case c.DeviceInfoFile != "" && !filepath.IsAbs(c.DeviceInfoFile):
		t.Fatalf("CNIDeviceInfoFile %q is not absolute", c.DeviceInfoFile)
	}
}

// checkAdd checks what ADD relies on: the required keys, values in range
// and addresses of one family each, networks and gateways agreeing.
func checkAdd(t *testing.T, c *Config) {
	t.Helper()
	switch {
	case c.LogicalSwitch == "" || c.DeviceID == "" || c.LSPName == "":
		t.Fatalf("logicalSwitch %q, deviceID %q, lspName %q: want all set", c.LogicalSwitch, c.DeviceID, c.LSPName)
	case c.MTU != 0 && (c.MTU < vifplug.MinMTU || c.MTU > vifplug.MaxMTU):
		t.Fatalf("mtu %d out of range", c.MTU)
	case c.MAC != nil && (len(c.MAC) != 6 || c.MAC[0]&1 != 0 || slices.Equal(c.MAC, make(net.HardwareAddr, 6))):
		t.Fatalf("mac %v is not a 6-byte unicast MAC other than all zeros", c.MAC)
	case c.IPAMType != "" && (c.Gateways != nil || c.Routes != nil):
		t.Fatalf("gateways %v and routes %v next to ipam %q", c.Gateways, c.Routes, c.IPAMType)
	case c.DynamicAddressing() != (c.IPAMType == "" && len(c.IPs) == 0):
		t.Fatalf("DynamicAddressing() = %v with ipam %q and ips %v", c.DynamicAddressing(), c.IPAMType, c.IPs)
	case c.PrevResult != nil:
		t.Fatalf("ParseAdd read a prevResult")
	}
	for _, ipn := range c.IPs {
		if ipn == nil || !oneFamily(ipn.IP, ipn.Mask) {
			t.Fatalf("runtimeConfig.ips entry %v: address and prefix of different families", ipn)
		}
	}
	var v4, v6 int
	for _, gw := range c.Gateways {
		switch {
		case gw == nil:
			t.Fatal("nil gateway")
		case gw.To4() != nil:
			v4++
		default:
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		t.Fatalf("gateways %v: more than one per family", c.Gateways)
	}
	for _, r := range c.Routes {
		switch {
		case r == nil || !oneFamily(r.Dst.IP, r.Dst.Mask):
			t.Fatalf("route %v: destination address and prefix of different families", r)
		case !r.Dst.IP.Equal(r.Dst.IP.Mask(r.Dst.Mask)):
			t.Fatalf("route destination %v is not a network address", r.Dst)
		case r.GW != nil && (r.GW.To4() == nil) != (r.Dst.IP.To4() == nil):
			t.Fatalf("route %v: gateway of the other family", r)
		}
	}
}

// oneFamily reports whether ip and mask are both IPv4 or both IPv6, as
// the kernel (which takes the prefix length from the mask) and OVN read
// them.
func oneFamily(ip net.IP, mask net.IPMask) bool {
	ones, bits := mask.Size()
	if ip == nil || bits == 0 || ones < 0 {
		return false
	}
	return (ip.To4() != nil) == (bits == 8*net.IPv4len)
}

// commonPart is c with only what Parse reads.
func commonPart(c *Config) Config {
	return Config{CNIVersion: c.CNIVersion, Name: c.Name, Type: c.Type, AgentSocket: c.AgentSocket,
		TimeoutSeconds: c.TimeoutSeconds, DeviceInfoFile: c.DeviceInfoFile}
}

// commonKeys writes back what Parse reads.
func commonKeys(c *Config) map[string]any {
	return map[string]any{"cniVersion": c.CNIVersion, "name": c.Name, "type": c.Type,
		"agentSocket": c.AgentSocket, "timeoutSeconds": c.TimeoutSeconds,
		"runtimeConfig": map[string]any{"CNIDeviceInfoFile": c.DeviceInfoFile}}
}

// addKeys writes back what ParseAdd reads, in the spelling it documents.
func addKeys(c *Config) map[string]any {
	keys := commonKeys(c)
	rc := keys["runtimeConfig"].(map[string]any)
	keys["logicalSwitch"], keys["deviceID"], keys["lspName"] = c.LogicalSwitch, c.DeviceID, c.LSPName
	if c.MTU != 0 {
		keys["mtu"] = c.MTU
	}
	if c.MAC != nil {
		rc["mac"] = c.MAC.String()
	}
	if c.IPAMType != "" {
		keys["ipam"] = map[string]string{"type": c.IPAMType}
	}
	if c.IPs != nil {
		rc["ips"] = stringsOf(c.IPs)
	}
	if c.Gateways != nil {
		keys["gateway"] = stringsOf(c.Gateways)
	}
	if c.Routes != nil {
		var routes []map[string]string
		for _, r := range c.Routes {
			route := map[string]string{"dst": r.Dst.String()}
			if r.GW != nil {
				route["gw"] = r.GW.String()
			}
			routes = append(routes, route)
		}
		keys["routes"] = routes
	}
	return keys
}

func stringsOf[T interface{ String() string }](list []T) []string {
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = v.String()
	}
	return out
}

// garbleAddKeys sets every key only ADD reads to a value of the wrong
// type, at top level and in runtimeConfig.
func garbleAddKeys(t *testing.T, stdin []byte) []byte {
	t.Helper()
	top, _ := topLevel(stdin)
	const wrong = `{"x":[1]}`
	for _, k := range []string{"logicalSwitch", "deviceID", "lspName", "mtu", "mac", "ipam", "gateway", "routes",
		"capabilities", "prevResult"} {
		top[k] = json.RawMessage(wrong)
	}
	var rc map[string]json.RawMessage
	if json.Unmarshal(top["runtimeConfig"], &rc) == nil && rc != nil {
		for _, k := range []string{"deviceID", "mac", "ips"} {
			rc[k] = json.RawMessage(wrong)
		}
		top["runtimeConfig"] = marshal(t, rc)
	}
	return marshal(t, top)
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
