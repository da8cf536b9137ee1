package netconf

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// MaxConfigBytes bounds the network configuration on stdin. Real ones are
// a few hundred bytes, a Multus one with a prevResult a few KiB; the
// plugin stops reading stdin past this, so a runaway writer costs it at
// most this much memory, and the host agent refuses larger ones too.
const MaxConfigBytes = 1 << 20

// SupportedVersions are the cniVersions ovn-dpu speaks.
var SupportedVersions = []string{"0.4.0", "1.0.0", "1.1.0"}

// networkName is the CNI spec's rule for network names (libcni's
// utils.ValidateNetworkName).
var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$`)

// CheckEnvelope checks what comes before any key of ovn-dpu's own, for
// every verb: the size, a JSON object (code 6 otherwise), name (7) and
// cniVersion: of the wrong type or malformed is 7, well formed but not
// one of SupportedVersions is 1 (incompatible version), and absent is 1
// too, since the CNI library reads an absent version as 0.1.0. Errors are
// *types.Error naming the key and its value.
func CheckEnvelope(stdin []byte) error {
	if len(stdin) > MaxConfigBytes {
		return invalid(fmt.Sprintf("the network configuration (stdin) is larger than 1 MiB (%d bytes), "+
			"which no configuration of ovn-dpu-cni needs", MaxConfigBytes))
	}
	d, err := newDecoder(stdin)
	if err != nil {
		return err
	}
	var name, ver string
	d.str("name", &name)
	d.str("cniVersion", &ver)
	if err := d.Err(); err != nil {
		return err
	}
	if name == "" {
		return invalid("name is missing from the network configuration: want the CNI network name")
	}
	if !networkName.MatchString(name) {
		return invalid(fmt.Sprintf("invalid name %s in the network configuration: want letters, digits, '_', '.' and '-', "+
			"starting with a letter or digit", quoted(name)))
	}
	want := strings.Join(SupportedVersions[:len(SupportedVersions)-1], ", ") + " or " + SupportedVersions[len(SupportedVersions)-1]
	switch _, _, _, err := version.ParseVersion(ver); {
	case ver == "":
		return types.NewError(types.ErrIncompatibleCNIVersion,
			"cniVersion is missing from the network configuration, which means 0.1.0: ovn-dpu-cni supports "+want, "")
	case err != nil:
		return invalid(fmt.Sprintf("invalid cniVersion %s in the network configuration: want a version like 1.1.0 (%s)", quoted(ver), want))
	case !slices.Contains(SupportedVersions, ver):
		return types.NewError(types.ErrIncompatibleCNIVersion,
			fmt.Sprintf("cniVersion %s is not supported by ovn-dpu-cni: want %s", quoted(ver), want), "")
	}
	return nil
}

// maxQuoted bounds how much of a refused value a message repeats.
const maxQuoted = 64

// quoted is s in Go quotes, cut to its first maxQuoted bytes (on a rune
// boundary) with its length when longer: an error names the value
// without echoing a megabyte of it.
func quoted(s string) string {
	if len(s) <= maxQuoted {
		return fmt.Sprintf("%q", s)
	}
	cut := maxQuoted
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s))
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
