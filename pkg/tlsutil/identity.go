package tlsutil

import (
	"context"
	"crypto/x509"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// CertIdentity returns the node a client certificate stands for: its first
// DNS subject alternative name or, when it has no DNS SAN, its subject
// common name. IP and URI SANs do not count. "" means the certificate names
// no node. Names are compared exactly, case included, as ovn-dpu:owner is.
//
// This is the identity rule of docs/contract.md ("TLS"): the DPU agent
// serves a host only the ports whose ovn-dpu:owner is its identity, and the
// host agent refuses to start with a certificate that does not name its
// --node-name (CheckIdentity).
func CertIdentity(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	if len(cert.DNSNames) > 0 {
		return cert.DNSNames[0]
	}
	return cert.Subject.CommonName
}

// PeerIdentity returns the CertIdentity of the client certificate that the
// TLS handshake of ctx's gRPC connection verified. ok is false when ctx has
// no gRPC peer, the connection is not TLS, no client certificate was
// verified (an unverified one never counts), or the certificate names no
// node. It has the signature of portstatus.IdentityFunc.
func PeerIdentity(ctx context.Context) (node string, ok bool) {
	p, found := peer.FromContext(ctx)
	if !found {
		return "", false
	}
	var state *credentials.TLSInfo
	switch info := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		state = &info
	case *credentials.TLSInfo:
		state = info
	default:
		return "", false
	}
	if state == nil {
		return "", false
	}
	chains := state.State.VerifiedChains
	if len(chains) == 0 || len(chains[0]) == 0 {
		return "", false
	}
	node = CertIdentity(chains[0][0])
	return node, node != ""
}

// CheckIdentity returns nil when cert's CertIdentity is node, and otherwise
// an error naming both (and where the identity came from), for an agent
// that must refuse a certificate the DPU agent would scope to another node.
func CheckIdentity(cert *x509.Certificate, node string) error {
	if cert == nil {
		return fmt.Errorf("no certificate to check against node %q", node)
	}
	id := CertIdentity(cert)
	if id == node && id != "" {
		return nil
	}
	var from string
	switch {
	case len(cert.DNSNames) > 0:
		from = fmt.Sprintf("its first DNS SAN, of %q", cert.DNSNames)
	case cert.Subject.CommonName != "":
		from = "its subject CN, as it has no DNS SAN"
	default:
		return fmt.Errorf("certificate names no node (no DNS SAN, no subject CN), not node %q: issue it with DNS SAN %q", node, node)
	}
	return fmt.Errorf("certificate identifies node %q (%s), not node %q, so the DPU agent would serve it only the ports of %q: "+
		"issue it with %q as its first DNS SAN", id, from, node, id, node)
}
