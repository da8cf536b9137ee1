package netconf

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

// wantCNIError fails unless err is a *types.Error with code whose message
// names what.
func wantCNIError(t *testing.T, err error, code uint, what string) {
	t.Helper()
	var e *types.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a *types.Error", err, err)
	}
	if e.Code != code || !strings.Contains(e.Msg, what) {
		t.Fatalf("error = code %d %q, want code %d mentioning %q", e.Code, e.Msg, code, what)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		want   Config
		code   uint   // non-zero: want a *types.Error with this code
		msgHas string // and its message contains this
	}{
		{
			name: "defaults",
			in:   `{"cniVersion":"1.1.0","name":"net1","type":"ovn-dpu-cni","logicalSwitch":"ls0"}`,
			want: Config{CNIVersion: "1.1.0", Name: "net1", Type: "ovn-dpu-cni",
				AgentSocket: DefaultAgentSocket, TimeoutSeconds: DefaultTimeoutSeconds},
		},
		{
			name: "explicit values",
			in:   `{"cniVersion":"0.4.0","name":"n","type":"t","agentSocket":"/tmp/a.sock","timeoutSeconds":5}`,
			want: Config{CNIVersion: "0.4.0", Name: "n", Type: "t", AgentSocket: "/tmp/a.sock", TimeoutSeconds: 5},
		},
		{
			name: "unknown keys of any type ignored, and attachment keys are not read",
			in: `{"cniVersion":"1.0.0","name":"n","type":"t","timeoutSeconds":3600,
				"runtimeConfig":{"deviceID":"0000:03:00.2","ips":["10.0.0.5/24"]},
				"prevResult":{"cniVersion":"1.0.0","ips":[]},"deviceID":7,"ipam":null,"mtu":"x",
				"AgentSocket":12,"TimeoutSeconds":"x","cni.dev/valid-attachments":[]}`,
			want: Config{CNIVersion: "1.0.0", Name: "n", Type: "t", AgentSocket: DefaultAgentSocket, TimeoutSeconds: 3600},
		},
		{
			name: "null and empty keep defaults",
			in:   `{"cniVersion":"1.1.0","name":"n","agentSocket":"","timeoutSeconds":null}`,
			want: Config{CNIVersion: "1.1.0", Name: "n", AgentSocket: DefaultAgentSocket, TimeoutSeconds: DefaultTimeoutSeconds},
		},
		{name: "not JSON", in: `{"cniVersion":`, code: types.ErrDecodingFailure, msgHas: "network configuration"},
		{name: "empty stdin", in: ``, code: types.ErrDecodingFailure, msgHas: "network configuration"},
		{name: "array", in: `[]`, code: types.ErrDecodingFailure, msgHas: "JSON object"},
		{name: "null", in: `null`, code: types.ErrDecodingFailure, msgHas: "JSON object"},
		{name: "timeout zero", in: `{"timeoutSeconds":0}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "timeout negative", in: `{"timeoutSeconds":-1}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds -1"},
		{name: "timeout too big", in: `{"timeoutSeconds":3601}`, code: types.ErrInvalidNetworkConfig, msgHas: "from 1 to 3600"},
		{name: "timeout fraction", in: `{"timeoutSeconds":1.5}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "timeout string", in: `{"timeoutSeconds":"60"}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "socket not string", in: `{"agentSocket":1}`, code: types.ErrInvalidNetworkConfig, msgHas: "agentSocket"},
		{name: "socket relative", in: `{"agentSocket":"run/a.sock"}`, code: types.ErrInvalidNetworkConfig, msgHas: "agentSocket"},
		{name: "cniVersion not string", in: `{"cniVersion":1}`, code: types.ErrInvalidNetworkConfig, msgHas: "cniVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.in))
			if tc.code != 0 {
				wantCNIError(t, err, tc.code, tc.msgHas)
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got.CNIVersion != tc.want.CNIVersion || got.Name != tc.want.Name || got.Type != tc.want.Type ||
				got.AgentSocket != tc.want.AgentSocket || got.TimeoutSeconds != tc.want.TimeoutSeconds ||
				got.DeviceID != "" || got.MTU != 0 || got.IPs != nil {
				t.Fatalf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseAdd(t *testing.T) {
	const base = `"cniVersion":"1.1.0","name":"n","type":"ovn-dpu-cni","logicalSwitch":"ls","deviceID":"0000:03:00.2"`
	tests := []struct {
		name     string
		conf     string
		wantCode uint   // 0: valid
		wantMsg  string // substring of the error naming the field
		check    func(t *testing.T, c *Config)
	}{
		{name: "minimal with defaults", conf: `{` + base + `}`,
			check: func(t *testing.T, c *Config) {
				if c.TimeoutSeconds != 60 || c.LSPName != DefaultLSPName || c.MAC != nil || c.IPAMType != "" || c.MTU != 0 {
					t.Errorf("defaults: %+v", c)
				}
			}},
		{name: "runtimeConfig wins and unknown keys are ignored",
			conf: `{"name":"n","logicalSwitch":"ls","deviceID":"0000:03:00.2","whatever":{"x":1},"mac":"0e:00:00:00:00:09",
				"runtimeConfig":{"deviceID":"0000:03:00.5","mac":"0E:00:00:00:00:01","ips":["10.0.0.5/24"],"other":1}}`,
			check: func(t *testing.T, c *Config) {
				if c.DeviceID != "0000:03:00.5" || c.MAC.String() != "0e:00:00:00:00:01" || len(c.IPs) != 1 || c.IPs[0].String() != "10.0.0.5/24" {
					t.Errorf("got deviceID %s mac %s ips %v", c.DeviceID, c.MAC, c.IPs)
				}
			}},
		{name: "all keys", conf: `{` + base + `,"mtu":1400,"lspName":"{podName}","timeoutSeconds":5,"ipam":{"type":"host-local","ranges":[]}}`,
			check: func(t *testing.T, c *Config) {
				if c.MTU != 1400 || c.LSPName != "{podName}" || c.TimeoutSeconds != 5 || c.IPAMType != "host-local" {
					t.Errorf("got %+v", c)
				}
			}},
		{name: "keys match exactly", conf: `{` + base + `,"TimeoutSeconds":5,"MTU":"x","LogicalSwitch":7}`,
			check: func(t *testing.T, c *Config) {
				if c.TimeoutSeconds != DefaultTimeoutSeconds || c.MTU != 0 || c.LogicalSwitch != "ls" {
					t.Errorf("case-folded keys were read: %+v", c)
				}
			}},
		{name: "not JSON", conf: `{`, wantCode: types.ErrDecodingFailure, wantMsg: "decode"},
		{name: "no switch", conf: `{"deviceID":"0000:03:00.2"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "logicalSwitch"},
		{name: "switch not a string", conf: `{"logicalSwitch":["ls"],"deviceID":"d"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "logicalSwitch"},
		{name: "no device", conf: `{"logicalSwitch":"ls"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "deviceID"},
		{name: "device not a string", conf: `{"logicalSwitch":"ls","deviceID":7}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "deviceID 7"},
		{name: "bad mtu", conf: `{"logicalSwitch":"ls","deviceID":"d","mtu":10}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "mtu"},
		{name: "mtu string", conf: `{"logicalSwitch":"ls","deviceID":"d","mtu":"1400"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "mtu"},
		{name: "bad timeout", conf: `{"logicalSwitch":"ls","deviceID":"d","timeoutSeconds":-1}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "timeoutSeconds"},
		{name: "bad mac", conf: `{"logicalSwitch":"ls","deviceID":"d","mac":"nope"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "mac"},
		{name: "bad runtime mac", conf: `{"logicalSwitch":"ls","deviceID":"d","runtimeConfig":{"mac":"nope"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig.mac"},
		{name: "bad ip", conf: `{"logicalSwitch":"ls","deviceID":"d","runtimeConfig":{"ips":["10.0.0.5"]}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig.ips"},
		{name: "ips not a list", conf: `{"logicalSwitch":"ls","deviceID":"d","runtimeConfig":{"ips":"10.0.0.5/24"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig.ips"},
		{name: "runtimeConfig not an object", conf: `{"logicalSwitch":"ls","deviceID":"d","runtimeConfig":[]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig"},
		{name: "ipam without type", conf: `{"logicalSwitch":"ls","deviceID":"d","ipam":{"subnet":"10.0.0.0/24"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "ipam.type is missing"},
		{name: "ipam type not a string", conf: `{"logicalSwitch":"ls","deviceID":"d","ipam":{"type":1}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "ipam.type"},
		{name: "dynamic addressing with gateway and routes",
			conf: `{` + base + `,"gateway":["10.20.0.1","fd00:20::1"],"routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0","gw":"fd00:20::1"}],
				"capabilities":{"mac":true,"ips":true}}`,
			check: func(t *testing.T, c *Config) {
				if !c.DynamicAddressing() || len(c.Gateways) != 2 || len(c.Routes) != 2 || c.Routes[0].GW != nil ||
					c.Routes[1].Dst.String() != "::/0" || !c.Routes[1].GW.Equal(net.ParseIP("fd00:20::1")) {
					t.Errorf("got dynamic %v gateways %v routes %v", c.DynamicAddressing(), c.Gateways, c.Routes)
				}
			}},
		{name: "one gateway as a string, static ips are not dynamic",
			conf: `{` + base + `,"gateway":"10.0.0.1","runtimeConfig":{"ips":["10.0.0.5/24"],"CNIDeviceInfoFile":"/run/devinfo/x.json"}}`,
			check: func(t *testing.T, c *Config) {
				if c.DynamicAddressing() || len(c.Gateways) != 1 || c.DeviceInfoFile != "/run/devinfo/x.json" {
					t.Errorf("got dynamic %v gateways %v device info %q", c.DynamicAddressing(), c.Gateways, c.DeviceInfoFile)
				}
			}},
		{name: "gateway not an IP", conf: `{` + base + `,"gateway":"10.0.0"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: `invalid gateway "10.0.0"`},
		{name: "gateway a number", conf: `{` + base + `,"gateway":7}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "invalid gateway 7"},
		{name: "two IPv4 gateways", conf: `{` + base + `,"gateway":["10.0.0.1","10.0.0.2"]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "at most one IPv4"},
		{name: "routes not a list", conf: `{` + base + `,"routes":{"dst":"0.0.0.0/0"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "invalid routes"},
		{name: "route without dst", conf: `{` + base + `,"routes":[{"gw":"10.0.0.1"}]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "routes[0].dst is missing"},
		{name: "route dst not a CIDR", conf: `{` + base + `,"routes":[{"dst":"0.0.0.0/0"},{"dst":"10.1.0.0"}]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: `routes[1].dst "10.1.0.0"`},
		{name: "route gw not an IP", conf: `{` + base + `,"routes":[{"dst":"0.0.0.0/0","gw":"x"}]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: `routes[0].gw "x"`},
		{name: "route gw of the other family", conf: `{` + base + `,"routes":[{"dst":"0.0.0.0/0","gw":"fd00::1"}]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "same family"},
		// Found by FuzzParseAdd's seeds: an IPv4-mapped IPv6 prefix was
		// accepted, and read as IPv4 with the mask's last 32 bits downstream.
		{name: "ip IPv4-mapped", conf: `{` + base + `,"runtimeConfig":{"ips":["::ffff:10.0.0.5/120"]}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: `runtimeConfig.ips`},
		{name: "route dst IPv4-mapped", conf: `{` + base + `,"routes":[{"dst":"::ffff:0.0.0.0/96"}]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: `routes[0].dst "::ffff:0.0.0.0/96"`},
		{name: "gateway next to ipam", conf: `{` + base + `,"gateway":"10.0.0.1","ipam":{"type":"host-local"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "ipam section"},
		{name: "capabilities not an object", conf: `{` + base + `,"capabilities":["mac"]}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "capabilities"},
		{name: "device info file relative", conf: `{` + base + `,"runtimeConfig":{"CNIDeviceInfoFile":"x.json"}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig.CNIDeviceInfoFile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseAdd([]byte(tt.conf))
			if tt.wantCode != 0 {
				wantCNIError(t, err, tt.wantCode, tt.wantMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseCheck(t *testing.T) {
	const base = `"name":"n","type":"ovn-dpu-cni","logicalSwitch":"ls","deviceID":"0000:03:00.2"`
	for _, tc := range []struct {
		name, conf string
		code       uint
		msgHas     string
		ips        int
	}{
		{name: "1.1.0 result", conf: `{"cniVersion":"1.1.0",` + base + `,"prevResult":{"cniVersion":"1.1.0",
			"interfaces":[{"name":"eth0","mac":"0e:00:00:00:00:01","sandbox":"/var/run/netns/p"}],
			"ips":[{"address":"10.0.0.5/24","interface":0},{"address":"fd00::5/64","interface":0}]}}`, ips: 2},
		{name: "0.4.0 result converted", conf: `{"cniVersion":"0.4.0",` + base + `,"prevResult":{"cniVersion":"0.4.0",
			"ips":[{"version":"4","address":"10.0.0.5/24"}]}}`, ips: 1},
		{name: "missing", conf: `{"cniVersion":"1.1.0",` + base + `}`, code: types.ErrInvalidNetworkConfig, msgHas: "prevResult is missing"},
		{name: "malformed", conf: `{"cniVersion":"1.1.0",` + base + `,"prevResult":{"ips":[{"address":"10.0.0.5"}]}}`,
			code: types.ErrInvalidNetworkConfig, msgHas: "invalid prevResult"},
		{name: "not an object", conf: `{"cniVersion":"1.1.0",` + base + `,"prevResult":"x"}`, code: types.ErrInvalidNetworkConfig, msgHas: "invalid prevResult"},
		// Found by FuzzParseCheck's seeds: converting a 0.4.0 result with a
		// null interface or IP panicked inside the CNI library.
		{name: "0.4.0 null interface", conf: `{"cniVersion":"0.4.0",` + base + `,"prevResult":{"cniVersion":"0.4.0","interfaces":[null]}}`,
			code: types.ErrInvalidNetworkConfig, msgHas: "invalid prevResult.interfaces[0] null"},
		{name: "0.4.0 null ip", conf: `{"cniVersion":"0.4.0",` + base + `,"prevResult":{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.5/24"},null]}}`,
			code: types.ErrInvalidNetworkConfig, msgHas: "prevResult.ips[1]"},
		{name: "null route", conf: `{"cniVersion":"1.1.0",` + base + `,"prevResult":{"cniVersion":"1.1.0","routes":[null]}}`,
			code: types.ErrInvalidNetworkConfig, msgHas: "prevResult.routes[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCheck([]byte(tc.conf))
			if tc.code != 0 {
				wantCNIError(t, err, tc.code, tc.msgHas)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.PrevResult.IPs) != tc.ips {
				t.Fatalf("prevResult IPs = %v, want %d", c.PrevResult.IPs, tc.ips)
			}
		})
	}
}
