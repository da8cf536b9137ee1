package cniclient

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/types"
)

const (
	// DefaultAgentSocket is where ovn-dpu-host-agent listens unless the
	// network configuration says otherwise (its --socket default).
	DefaultAgentSocket = "/run/ovn-dpu/host-agent.sock"
	// DefaultTimeoutSeconds bounds one operation in the host agent.
	DefaultTimeoutSeconds = 60
	// MaxTimeoutSeconds keeps a typo from parking a runtime for days.
	MaxTimeoutSeconds = 3600
)

// Config is the part of the network configuration the plugin reads itself.
type Config struct {
	CNIVersion     string
	Name           string
	Type           string
	AgentSocket    string
	TimeoutSeconds int
}

// Timeout is timeoutSeconds as a duration.
func (c Config) Timeout() time.Duration {
	return time.Duration(c.TimeoutSeconds) * time.Second
}

// ParseConfig reads cniVersion, name, type, agentSocket and timeoutSeconds
// from the network configuration and ignores every other key, because
// runtimes and Multus inject keys of their own. Errors are *types.Error:
// ErrDecodingFailure (6) when stdin is not a JSON object,
// ErrInvalidNetworkConfig (7) naming the key when a value is wrong.
//
// Keys match exactly (encoding/json would match them case-insensitively),
// so "AgentSocket" is someone else's key, not ours.
func ParseConfig(stdin []byte) (Config, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &raw); err != nil {
		return Config{}, types.NewError(types.ErrDecodingFailure,
			"decoding the network configuration (stdin) as a JSON object: "+err.Error(), "")
	}
	if raw == nil {
		return Config{}, types.NewError(types.ErrDecodingFailure,
			"decoding the network configuration (stdin): want a JSON object, got null", "")
	}
	c := Config{AgentSocket: DefaultAgentSocket, TimeoutSeconds: DefaultTimeoutSeconds}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"cniVersion", &c.CNIVersion},
		{"name", &c.Name},
		{"type", &c.Type},
		{"agentSocket", &c.AgentSocket},
	} {
		if err := stringField(raw, f.key, f.dst); err != nil {
			return Config{}, err
		}
	}
	if !filepath.IsAbs(c.AgentSocket) {
		// A relative path would resolve against whatever directory the
		// runtime happened to exec us from.
		return Config{}, types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("invalid agentSocket %q in the network configuration: want an absolute path", c.AgentSocket), "")
	}
	if v, ok := raw["timeoutSeconds"]; ok && !isNull(v) {
		var n int64
		if err := json.Unmarshal(v, &n); err != nil || n < 1 || n > MaxTimeoutSeconds {
			return Config{}, types.NewError(types.ErrInvalidNetworkConfig,
				fmt.Sprintf("invalid timeoutSeconds %s in the network configuration: want a whole number of seconds from 1 to %d",
					bytes.TrimSpace(v), MaxTimeoutSeconds), "")
		}
		c.TimeoutSeconds = int(n)
	}
	return c, nil
}

// stringField sets *dst from raw[key] when the key is present and not
// null, so an explicit null or empty string keeps the default.
func stringField(raw map[string]json.RawMessage, key string, dst *string) error {
	v, ok := raw[key]
	if !ok || isNull(v) {
		return nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("invalid %s %s in the network configuration: want a string", key, bytes.TrimSpace(v)), "")
	}
	if s != "" {
		*dst = s
	}
	return nil
}

func isNull(v json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(v), []byte("null"))
}
