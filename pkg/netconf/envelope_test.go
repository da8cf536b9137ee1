package netconf

import (
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestCheckEnvelope(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		code     uint // 0: accepted
		msgHas   string
	}{
		{"supported", `{"cniVersion":"0.4.0","name":"net-1.a_b"}`, 0, ""},
		{"not JSON", `{"cniVersion":`, types.ErrDecodingFailure, "network configuration (stdin)"},
		{"array", `[]`, types.ErrDecodingFailure, "JSON object"},
		{"name missing", `{"cniVersion":"1.1.0"}`, types.ErrInvalidNetworkConfig, "name is missing"},
		{"name empty", `{"cniVersion":"1.1.0","name":""}`, types.ErrInvalidNetworkConfig, "name is missing"},
		{"name a number", `{"cniVersion":"1.1.0","name":5}`, types.ErrInvalidNetworkConfig, "invalid name 5"},
		{"name with a slash", `{"cniVersion":"1.1.0","name":"a/b"}`, types.ErrInvalidNetworkConfig, `invalid name "a/b"`},
		{"name starting with a dot", `{"cniVersion":"1.1.0","name":".n"}`, types.ErrInvalidNetworkConfig, `invalid name ".n"`},
		{"version missing", `{"name":"n"}`, types.ErrIncompatibleCNIVersion, "cniVersion is missing from the network configuration, which means 0.1.0"},
		{"version unknown", `{"cniVersion":"9.9.9","name":"n"}`, types.ErrIncompatibleCNIVersion, `cniVersion "9.9.9" is not supported by ovn-dpu-cni: want 0.4.0, 1.0.0 or 1.1.0`},
		{"version too old", `{"cniVersion":"0.3.1","name":"n"}`, types.ErrIncompatibleCNIVersion, `cniVersion "0.3.1"`},
		{"version short", `{"cniVersion":"1.1","name":"n"}`, types.ErrIncompatibleCNIVersion, `cniVersion "1.1"`},
		{"version malformed", `{"cniVersion":"1.x","name":"n"}`, types.ErrInvalidNetworkConfig, `invalid cniVersion "1.x"`},
		{"version of four parts", `{"cniVersion":"1.1.0.0","name":"n"}`, types.ErrInvalidNetworkConfig, `invalid cniVersion "1.1.0.0"`},
		{"version a number", `{"cniVersion":1.1,"name":"n"}`, types.ErrInvalidNetworkConfig, "invalid cniVersion 1.1"},
		{"at the size limit", `{"cniVersion":"1.1.0","name":"n","x":"` + strings.Repeat("x", MaxConfigBytes-40) + `"}`, 0, ""},
		{"over the size limit", `{"cniVersion":"1.1.0","name":"n","x":"` + strings.Repeat("x", MaxConfigBytes) + `"}`,
			types.ErrInvalidNetworkConfig, "larger than 1 MiB (1048576 bytes)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckEnvelope([]byte(tc.in))
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("CheckEnvelope: %v", err)
				}
				return
			}
			wantCNIError(t, err, tc.code, tc.msgHas)
		})
	}
}

// A refused value is repeated cut to its first 64 bytes, on a rune
// boundary, with its length: a message never echoes a megabyte.
func TestRefusedValuesAreQuotedCut(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	if got := quoted(long); !strings.HasPrefix(got, `"`+strings.Repeat("é", 32)+`"`) || !strings.HasSuffix(got, "... (200 bytes)") {
		t.Errorf("quoted = %s", got)
	}
	if got := quoted("eth0"); got != `"eth0"` {
		t.Errorf("quoted(eth0) = %s", got)
	}
	_, err := ParseAdd([]byte(`{"cniVersion":"1.1.0","name":"n","logicalSwitch":"ls","deviceID":"d","mtu":"` + strings.Repeat("9", 1<<20) + `"}`))
	wantCNIError(t, err, types.ErrInvalidNetworkConfig, `invalid mtu "99999`)
	if msg := err.(*types.Error).Msg; len(msg) > 200 || !strings.Contains(msg, "(1048578 bytes)") {
		t.Errorf("message of %d bytes: %.200s", len(msg), msg)
	}
}

// The kernel refuses a multicast MAC on an interface, and OVN port
// security needs a real one: both are configuration errors, found before
// the ADD starts.
func TestMACMustBeUnicastAndSet(t *testing.T) {
	for _, tc := range []struct{ mac, msgHas string }{
		{"01:00:5e:00:00:01", "unicast"},
		{"ff:ff:ff:ff:ff:ff", "unicast"},
		{"0f:00:00:00:00:01", "unicast"},
		{"00:00:00:00:00:00", "other than all zeros"},
		{"0e:00:00:00:01", "a MAC address like"},
	} {
		for _, where := range []string{`"mac":%q`, `"runtimeConfig":{"mac":%q}`} {
			conf := `{"cniVersion":"1.1.0","name":"n","logicalSwitch":"ls","deviceID":"d",` + strings.Replace(where, "%q", `"`+tc.mac+`"`, 1) + `}`
			_, err := ParseAdd([]byte(conf))
			wantCNIError(t, err, types.ErrInvalidNetworkConfig, tc.msgHas)
			wantCNIError(t, err, types.ErrInvalidNetworkConfig, tc.mac)
		}
	}
	c, err := ParseAdd([]byte(`{"cniVersion":"1.1.0","name":"n","logicalSwitch":"ls","deviceID":"d","mac":"0E:00:00:00:00:01"}`))
	if err != nil || c.MAC.String() != "0e:00:00:00:00:01" {
		t.Fatalf("a unicast MAC: %v, %v", c, err)
	}
}
