package hostagent

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestParseNetConf(t *testing.T) {
	tests := []struct {
		name     string
		conf     string
		wantCode uint   // 0: valid
		wantMsg  string // substring of the error naming the field
		check    func(t *testing.T, c *NetConf)
	}{
		{name: "minimal with defaults", conf: `{"cniVersion":"1.1.0","name":"n","type":"ovn-dpu-cni","logicalSwitch":"ls","deviceID":"0000:03:00.2"}`,
			check: func(t *testing.T, c *NetConf) {
				if c.timeout != 60 || c.LSPName != defaultLSPName || c.mac != nil {
					t.Errorf("defaults: timeout %d lspName %q mac %v", c.timeout, c.LSPName, c.mac)
				}
			}},
		{name: "runtimeConfig wins and unknown keys are ignored",
			conf: `{"name":"n","logicalSwitch":"ls","deviceID":"0000:03:00.2","whatever":{"x":1},
				"runtimeConfig":{"deviceID":"0000:03:00.5","mac":"0E:00:00:00:00:01","ips":["10.0.0.5/24"]}}`,
			check: func(t *testing.T, c *NetConf) {
				if c.DeviceID != "0000:03:00.5" || c.mac.String() != "0e:00:00:00:00:01" || len(c.ips) != 1 || c.ips[0].String() != "10.0.0.5/24" {
					t.Errorf("got deviceID %s mac %s ips %v", c.DeviceID, c.mac, c.ips)
				}
			}},
		{name: "not JSON", conf: `{`, wantCode: types.ErrDecodingFailure, wantMsg: "decode"},
		{name: "no switch", conf: `{"deviceID":"0000:03:00.2"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "logicalSwitch"},
		{name: "no device", conf: `{"logicalSwitch":"ls"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "deviceID"},
		{name: "bad mtu", conf: `{"logicalSwitch":"ls","deviceID":"d","mtu":10}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "mtu"},
		{name: "bad timeout", conf: `{"logicalSwitch":"ls","deviceID":"d","timeoutSeconds":-1}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "timeoutSeconds"},
		{name: "bad mac", conf: `{"logicalSwitch":"ls","deviceID":"d","mac":"nope"}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "mac"},
		{name: "bad ip", conf: `{"logicalSwitch":"ls","deviceID":"d","runtimeConfig":{"ips":["10.0.0.5"]}}`, wantCode: types.ErrInvalidNetworkConfig, wantMsg: "runtimeConfig.ips"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseNetConf([]byte(tt.conf))
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			var cniErr *types.Error
			if !errors.As(err, &cniErr) || cniErr.Code != tt.wantCode || !strings.Contains(cniErr.Msg, tt.wantMsg) {
				t.Fatalf("error %v, want code %d naming %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestLSPNameTemplate(t *testing.T) {
	pod := parseCNIArgs("IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc")
	if pod.namespace != "prod" || pod.name != "web-0" || pod.infraContainerID != "abc" {
		t.Fatalf("parsed CNI_ARGS %+v", pod)
	}
	tests := map[string]string{
		defaultLSPName:              "node1_ctr1_eth0",
		"{podNamespace}_{podName}":  "prod_web-0",
		"{node}-{podName}-{ifname}": "node1-web-0-eth0",
		"fixed":                     "fixed",
	}
	for template, want := range tests {
		if got := lspName(template, "node1", "ctr1", "eth0", pod); got != want {
			t.Errorf("lspName(%q) = %q, want %q", template, got, want)
		}
	}
}

func TestZeroVFMACIsReplaced(t *testing.T) {
	for range 100 {
		mac := newLocalMAC()
		if isZeroMAC(mac) || mac[0]&0x01 != 0 || mac[0]&0x02 == 0 {
			t.Fatalf("newLocalMAC() = %s: want a non-zero, unicast, locally administered MAC", mac)
		}
	}
	if !isZeroMAC(nil) || !isZeroMAC(make([]byte, 6)) {
		t.Fatal("isZeroMAC misses a zero MAC")
	}
}
