package cniclient

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		want    Config
		code    uint   // non-zero: want a *types.Error with this code
		msgHas  string // and its message contains this
		wantErr bool
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
			name: "unknown keys of any type ignored",
			in: `{"cniVersion":"1.0.0","name":"n","type":"t","timeoutSeconds":3600,
				"runtimeConfig":{"deviceID":"0000:03:00.2","ips":["10.0.0.5/24"]},
				"prevResult":{"cniVersion":"1.0.0","ips":[]},"deviceID":7,"ipam":null,
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
		{name: "timeout negative", in: `{"timeoutSeconds":-1}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "timeout too big", in: `{"timeoutSeconds":3601}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "timeout fraction", in: `{"timeoutSeconds":1.5}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "timeout string", in: `{"timeoutSeconds":"60"}`, code: types.ErrInvalidNetworkConfig, msgHas: "timeoutSeconds"},
		{name: "socket not string", in: `{"agentSocket":1}`, code: types.ErrInvalidNetworkConfig, msgHas: "agentSocket"},
		{name: "socket relative", in: `{"agentSocket":"run/a.sock"}`, code: types.ErrInvalidNetworkConfig, msgHas: "agentSocket"},
		{name: "cniVersion not string", in: `{"cniVersion":1}`, code: types.ErrInvalidNetworkConfig, msgHas: "cniVersion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseConfig([]byte(tc.in))
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				if got != tc.want {
					t.Fatalf("ParseConfig = %+v, want %+v", got, tc.want)
				}
				return
			}
			var e *types.Error
			if !errors.As(err, &e) {
				t.Fatalf("ParseConfig error = %v (%T), want *types.Error", err, err)
			}
			if e.Code != tc.code || !strings.Contains(e.Msg, tc.msgHas) {
				t.Fatalf("ParseConfig error = code %d %q, want code %d mentioning %q", e.Code, e.Msg, tc.code, tc.msgHas)
			}
		})
	}
}
