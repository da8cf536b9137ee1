package tlsutil_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

func cert(cn string, dns ...string) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
}

func TestCertIdentity(t *testing.T) {
	tests := []struct {
		name string
		cert *x509.Certificate
		want string
	}{
		{"first DNS SAN", cert("ovn-dpu-host-agent", "host-a", "host-b"), "host-a"},
		{"CN without DNS SAN", cert("host-a"), "host-a"},
		{"IP SANs do not count", &x509.Certificate{Subject: pkix.Name{CommonName: "host-a"}, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}, "host-a"},
		{"case is kept", cert("", "Host-A"), "Host-A"},
		{"neither", cert(""), ""},
		{"nil", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tlsutil.CertIdentity(tt.cert); got != tt.want {
				t.Errorf("CertIdentity = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckIdentity(t *testing.T) {
	tests := []struct {
		name string
		cert *x509.Certificate
		node string
		want []string // nil: accepted; else the error names these
	}{
		{"first DNS SAN matches", cert("x", "host-a", "other"), "host-a", nil},
		{"CN matches", cert("host-a"), "host-a", nil},
		{"later DNS SAN only", cert("host-a", "other", "host-a"), "host-a", []string{`"other"`, `"host-a"`, "first DNS SAN"}},
		{"default localhost SAN", cert("host-agent", "localhost"), "host-a", []string{`"localhost"`, `"host-a"`}},
		{"CN differs", cert("ovn-dpu-host-agent"), "host-a", []string{`"ovn-dpu-host-agent"`, `"host-a"`, "CN"}},
		{"case differs", cert("", "HOST-A"), "host-a", []string{`"HOST-A"`, `"host-a"`}},
		{"names nothing", cert(""), "host-a", []string{"names no node", `"host-a"`}},
		{"empty node", cert(""), "", []string{"names no node"}},
		{"no certificate", nil, "host-a", []string{`"host-a"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tlsutil.CheckIdentity(tt.cert, tt.node)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("CheckIdentity: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckIdentity accepted it")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestPeerIdentity: only a verified client certificate counts; TLS
// without one, plaintext and a missing peer have no identity.
func TestPeerIdentity(t *testing.T) {
	ca := tlstest.MustNewCA(t, "ovn-dpu test CA")
	leaf := ca.MustIssue(t, t.TempDir(), "host-a", tlstest.WithDNSNames("host-a")).Certificate
	nameless := ca.MustIssue(t, t.TempDir(), "nameless", tlstest.WithCommonName(""), tlstest.WithDNSNames()).Certificate
	verified := tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	_, plaintext, err := insecure.NewCredentials().ServerHandshake(c1)
	if err != nil {
		t.Fatal(err)
	}
	withPeer := func(auth credentials.AuthInfo) context.Context {
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: auth})
	}
	tests := []struct {
		name   string
		ctx    context.Context
		want   string
		wantOK bool
	}{
		{"verified client certificate", withPeer(credentials.TLSInfo{State: verified}), "host-a", true},
		{"verified, as a pointer", withPeer(&credentials.TLSInfo{State: verified}), "host-a", true},
		{"unverified client certificate", withPeer(credentials.TLSInfo{State: tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}}), "", false},
		{"TLS without a client certificate", withPeer(credentials.TLSInfo{}), "", false},
		{"certificate naming no node", withPeer(credentials.TLSInfo{State: tls.ConnectionState{
			PeerCertificates: []*x509.Certificate{nameless}, VerifiedChains: [][]*x509.Certificate{{nameless, ca.Cert}}}}), "", false},
		{"plaintext", withPeer(plaintext), "", false},
		{"nil pointer", withPeer((*credentials.TLSInfo)(nil)), "", false},
		{"no peer", context.Background(), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tlsutil.PeerIdentity(tt.ctx)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("PeerIdentity = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
