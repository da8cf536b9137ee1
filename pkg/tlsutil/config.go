package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// ServerConfig returns a server configuration that requires a client
// certificate signed by the CA in files, and the Reloader behind it. Each
// handshake gets the current certificate and CA, so Run the Reloader (or
// rely on the lazy check in handshakes) and changes need no restart.
//
// Fields set on the returned config before use (NextProtos, CipherSuites,
// ...) apply to every handshake. TLS 1.3 is negotiated whenever the client
// offers it; 1.2 remains for older OVSDB and gRPC peers.
func ServerConfig(files Files, opts ...Option) (*tls.Config, *Reloader, error) {
	r, err := NewReloader(files, opts...)
	if err != nil {
		return nil, nil, err
	}
	return r.serverConfig(), r, nil
}

func (r *Reloader) serverConfig() *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequireAndVerifyClientCert,
		// A resumed session skips client verification, so a client from
		// a CA that was just rotated out could resume; full handshakes are
		// cheap at the agents' connection rates.
		SessionTicketsDisabled: true,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.Certificate(), nil
		},
	}
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		r.maybeReload()
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = r.CAPool()
		return c, nil
	}
	return base
}

// ClientConfig returns a client configuration that presents the certificate
// in files and accepts a server whose certificate chains to the CA in files
// and names serverName (a host name or IP address). With an empty
// serverName the name dialed is checked instead, as tls.Dial sets it; an IP
// literal is never sent as SNI, so dialing an IP address needs serverName or
// WithoutHostnameCheck (the choice for OVSDB ssl: remotes).
func ClientConfig(files Files, serverName string, opts ...Option) (*tls.Config, *Reloader, error) {
	r, err := NewReloader(files, opts...)
	if err != nil {
		return nil, nil, err
	}
	return r.clientConfig(serverName), r, nil
}

func (r *Reloader) clientConfig(serverName string) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		// Go's own verification would use a RootCAs fixed now; the
		// server is verified in VerifyConnection against the current CA.
		InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return r.Certificate(), nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			return r.verifyServer(cs, serverName)
		},
	}
}

var errNoServerName = errors.New("tlsutil: no server name to verify the certificate against (set one, or use WithoutHostnameCheck)")

func (r *Reloader) verifyServer(cs tls.ConnectionState, serverName string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsutil: server sent no certificate")
	}
	r.maybeReload()
	opts := x509.VerifyOptions{
		Roots:         r.CAPool(),
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if !r.opts.skipHostCheck {
		opts.DNSName = serverName
		if opts.DNSName == "" {
			opts.DNSName = cs.ServerName
		}
		if opts.DNSName == "" {
			return errNoServerName
		}
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}
