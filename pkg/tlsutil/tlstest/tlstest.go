// Package tlstest makes throwaway certificate authorities and certificates
// for tests across the repository, so that no key material is committed and
// none expires under the test suite. Keys are ECDSA P-256: fast to make.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
)

// CA is a self-signed certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // Cert, PEM-encoded
}

// Leaf is an issued certificate and the files it was written to; CA is a
// copy of the issuing CA, so Files is a complete identity as it stands.
type Leaf struct {
	tlsutil.Files
	Certificate *x509.Certificate
}

// CertOption adjusts the certificate template before it is signed.
type CertOption func(*x509.Certificate)

// WithCommonName sets the subject CN; default the name given to Issue.
func WithCommonName(cn string) CertOption {
	return func(c *x509.Certificate) { c.Subject.CommonName = cn }
}

// WithDNSNames replaces the default DNS SAN "localhost"; with no names the
// certificate has no DNS SAN, as ovs-pki's do not.
func WithDNSNames(names ...string) CertOption {
	return func(c *x509.Certificate) { c.DNSNames = names }
}

// WithIPs replaces the default IP SANs 127.0.0.1 and ::1; with none the
// certificate has no IP SAN.
func WithIPs(ips ...net.IP) CertOption {
	return func(c *x509.Certificate) { c.IPAddresses = ips }
}

// WithValidity sets the validity period; default from an hour ago (clock
// skew) to a day from now.
func WithValidity(notBefore, notAfter time.Time) CertOption {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

// Expired makes a certificate that expired an hour ago.
func Expired() CertOption {
	now := time.Now()
	return WithValidity(now.Add(-48*time.Hour), now.Add(-time.Hour))
}

// NewCA makes a CA named cn.
func NewCA(cn string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: certPEM(der)}, nil
}

// MustNewCA is NewCA failing t on error.
func MustNewCA(t testing.TB, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// WriteCA writes the CA certificate to path, atomically, so that a
// Reloader polling it never sees half a file.
func (ca *CA) WriteCA(path string) error {
	return writeAtomic(path, ca.PEM, 0o644)
}

// Issue signs a certificate usable by both servers and clients and writes
// dir/name.crt, dir/name.key and dir/name-ca.crt. Issuing the same name
// again replaces the files one by one (each atomically), like a rotation.
// dir is created if needed.
func (ca *CA) Issue(dir, name string, opts ...CertOption) (Leaf, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Leaf{}, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Leaf{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, ca.template(name, opts), ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Leaf{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Leaf{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Leaf{}, err
	}
	leaf := Leaf{Certificate: cert, Files: tlsutil.Files{
		Cert: filepath.Join(dir, name+".crt"),
		Key:  filepath.Join(dir, name+".key"),
		CA:   filepath.Join(dir, name+"-ca.crt"),
	}}
	return leaf, leaf.write(certPEM(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), ca.PEM)
}

// MustIssue is Issue failing t on error.
func (ca *CA) MustIssue(t testing.TB, dir, name string, opts ...CertOption) Leaf {
	t.Helper()
	leaf, err := ca.Issue(dir, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func (ca *CA) template(name string, opts []CertOption) *x509.Certificate {
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, opt := range opts {
		opt(tmpl)
	}
	return tmpl
}

func (l Leaf) write(cert, key, ca []byte) error {
	if err := writeAtomic(l.Cert, cert, 0o644); err != nil {
		return err
	}
	if err := writeAtomic(l.Key, key, 0o600); err != nil {
		return err
	}
	return writeAtomic(l.CA, ca, 0o644)
}

func randomSerial() *big.Int {
	// 128 random bits (RFC 5280 allows up to 20 octets), so that two
	// certificates never share a serial and tests can tell them apart.
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
