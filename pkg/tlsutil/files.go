package tlsutil

import (
	"fmt"
	"strings"
)

// Files names the PEM files of one TLS identity: the certificate and its
// private key, and the CA bundle that peers' certificates must chain to.
type Files struct {
	Cert, Key, CA string
}

// IsZero reports whether no file is set, i.e. TLS is not configured.
func (f Files) IsZero() bool {
	return f.Cert == "" && f.Key == "" && f.CA == ""
}

// Validate reports a partly set Files. The three go together: without the
// CA, peers could not be verified; without a key, the certificate is
// useless. Catching it here beats a handshake failure at the first request.
func (f Files) Validate() error {
	return f.ValidateFlags("")
}

// ValidateFlags is Validate whose message names the flags that filled f:
// prefix "--tls-" gives "--tls-key and --tls-ca are required with
// --tls-cert".
func (f Files) ValidateFlags(prefix string) error {
	var set, missing []string
	for _, field := range []struct{ name, value string }{
		{"cert", f.Cert}, {"key", f.Key}, {"ca", f.CA},
	} {
		if field.value == "" {
			missing = append(missing, prefix+field.name)
		} else {
			set = append(set, prefix+field.name)
		}
	}
	if len(set) == 0 || len(missing) == 0 {
		return nil
	}
	verb := "is"
	if len(missing) > 1 {
		verb = "are"
	}
	return fmt.Errorf("tlsutil: %s %s required with %s",
		strings.Join(missing, " and "), verb, strings.Join(set, " and "))
}

// requireAll is Validate for callers that cannot run without TLS.
func (f Files) requireAll() error {
	if f.IsZero() {
		return fmt.Errorf("tlsutil: cert, key and ca files are required")
	}
	return f.Validate()
}
