package netconf

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/containernetworking/cni/pkg/types"
)

// The CNI_* variables a runtime passes, as ADD reads them. Their errors
// are code 4 (invalid environment variables) naming the variable and its
// value.

// PodArgs are the CNI_ARGS keys ovn-dpu reads, as Kubernetes runtimes set
// them; empty when not given.
type PodArgs struct {
	Namespace, Name, InfraContainerID string
}

// MaxArgValue bounds the CNI_ARGS values ovn-dpu uses: the longest
// Kubernetes name (a DNS subdomain) is 253 bytes, and they end up in OVN
// NB (the LSP's external_ids, its name through lspName).
const MaxArgValue = 253

// The CNI_ARGS keys ParseArgs knows: the ones it reads, the others
// Kubernetes runtimes send, and libcni's IgnoreUnknown.
const (
	argIgnoreUnknown    = "IgnoreUnknown"
	argPodNamespace     = "K8S_POD_NAMESPACE"
	argPodName          = "K8S_POD_NAME"
	argInfraContainerID = "K8S_POD_INFRA_CONTAINER_ID"
	argPodUID           = "K8S_POD_UID"
)

// ParseArgs reads CNI_ARGS by the rules of libcni's types.LoadArgs, which
// the reference plugins use: "KEY=VALUE" pairs separated by ';', each with
// exactly one '=' (so no empty pair, no bare key, no '=' in a value) and,
// stricter than LoadArgs, a key that is not empty; keys
// match exactly; a key ovn-dpu does not know is an error unless
// IgnoreUnknown is 1 or true (runtimes set it: they pass the Kubernetes
// keys to every plugin); a repeated key's last value wins. Beyond LoadArgs:
// CNI_ARGS must be UTF-8 (it crosses gRPC as a string), and the values
// used must fit MaxArgValue.
func ParseArgs(args string) (PodArgs, error) {
	var p PodArgs
	if args == "" {
		return p, nil
	}
	if err := CheckUTF8("CNI_ARGS", args); err != nil {
		return p, err
	}
	var unknown []string
	ignoreUnknown := false
	for i, pair := range strings.Split(args, ";") {
		kv := strings.Split(pair, "=")
		if len(kv) != 2 {
			return PodArgs{}, invalidEnv(fmt.Sprintf("invalid CNI_ARGS: pair %d %s is not KEY=VALUE with one '='", i+1, quoted(pair)))
		}
		key, value := kv[0], kv[1]
		if key == "" {
			return PodArgs{}, invalidEnv(fmt.Sprintf("invalid CNI_ARGS: pair %d %s has an empty key", i+1, quoted(pair)))
		}
		var dst *string
		switch key {
		case argIgnoreUnknown:
			switch strings.ToLower(value) {
			case "1", "true":
				ignoreUnknown = true
			case "0", "false":
				ignoreUnknown = false
			default:
				return PodArgs{}, invalidEnv(fmt.Sprintf("invalid CNI_ARGS: IgnoreUnknown %s: want 1, true, 0 or false", quoted(value)))
			}
			continue
		case argPodNamespace:
			dst = &p.Namespace
		case argPodName:
			dst = &p.Name
		case argInfraContainerID:
			dst = &p.InfraContainerID
		case argPodUID: // known, not used
			continue
		default:
			unknown = append(unknown, quoted(key))
			continue
		}
		if len(value) > MaxArgValue {
			return PodArgs{}, invalidEnv(fmt.Sprintf("invalid CNI_ARGS: %s is %d bytes long, more than the %d bytes of the longest Kubernetes name",
				key, len(value), MaxArgValue))
		}
		*dst = value
	}
	if len(unknown) > 0 && !ignoreUnknown {
		return PodArgs{}, invalidEnv(fmt.Sprintf("invalid CNI_ARGS: unknown keys %s (ovn-dpu reads %s, %s and %s; "+
			"add IgnoreUnknown=1 to pass others)", strings.Join(unknown, ", "), argPodNamespace, argPodName, argInfraContainerID))
	}
	return p, nil
}

// CheckUTF8 refuses a CNI_* value that is not UTF-8: the plugin forwards
// them over gRPC, whose strings must be.
func CheckUTF8(name, value string) error {
	if utf8.ValidString(value) {
		return nil
	}
	bad := 0
	for bad < len(value) {
		r, size := utf8.DecodeRuneInString(value[bad:])
		if r == utf8.RuneError && size == 1 {
			break
		}
		bad += size
	}
	return invalidEnv(fmt.Sprintf("%s %s is not valid UTF-8 (byte %d)", name, quoted(value), bad))
}

// CheckIfName applies the kernel's rules for interface names
// (dev_valid_name) to CNI_IFNAME, as libcni's skel does, naming the value.
func CheckIfName(name string) error {
	if err := CheckUTF8("CNI_IFNAME", name); err != nil {
		return err
	}
	why := ""
	switch {
	case name == "":
		why = "it is empty"
	case len(name) > 15:
		why = fmt.Sprintf("it is %d bytes long; the kernel allows 15 bytes", len(name))
	case name == "." || name == "..":
		why = "the kernel refuses . and .."
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }):
		why = "the kernel refuses '/', ':' and white space in interface names"
	default:
		return nil
	}
	return invalidEnv(fmt.Sprintf("invalid CNI_IFNAME %s: %s", quoted(name), why))
}

// containerID is libcni's rule for container ids (utils.ValidateContainerID).
var containerID = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// CheckContainerID checks CNI_CONTAINERID by libcni's rules, naming the
// value.
func CheckContainerID(id string) error {
	if containerID.MatchString(id) {
		return nil
	}
	return invalidEnv(fmt.Sprintf("invalid CNI_CONTAINERID %s: want letters, digits, '_', '.' and '-', starting with a letter or digit", quoted(id)))
}

// CheckNetnsPath checks the form of CNI_NETNS: an absolute path (the host
// agent opens it, and a relative path would resolve against its working
// directory, not the runtime's). Whether it is a network namespace is the
// host agent's to find out, in its own view of the file system.
func CheckNetnsPath(path string) error {
	if err := CheckUTF8("CNI_NETNS", path); err != nil {
		return err
	}
	if !filepath.IsAbs(path) {
		return invalidEnv(fmt.Sprintf("invalid CNI_NETNS %s: want an absolute path, like /var/run/netns/pod", quoted(path)))
	}
	return nil
}

func invalidEnv(msg string) *types.Error {
	return types.NewError(types.ErrInvalidEnvironmentVariables, msg, "")
}
