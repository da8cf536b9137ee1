package testbed

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

// sslCertArgs issues a CA, a server certificate for 127.0.0.1 and a
// client certificate (SSLClient), and returns the ovsdb-server arguments
// that make its SSL listeners use them.
func (b *Bed) sslCertArgs() ([]string, error) {
	ca, err := tlstest.NewCA("ovn-dpu test bed CA " + b.ID)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.Dir, "pki")
	server, err := ca.Issue(dir, "sb-server", tlstest.WithIPs(net.IPv4(127, 0, 0, 1)))
	if err != nil {
		return nil, err
	}
	client, err := ca.Issue(dir, "sb-client")
	if err != nil {
		return nil, err
	}
	b.SSLClient = client.Files
	return []string{"--private-key=" + server.Key, "--certificate=" + server.Cert, "--ca-cert=" + server.CA}, nil
}

// sslServerArgs is sslCertArgs plus an SSL listener on a free port
// (SBSSLRemote), for the standalone SB.
func (b *Bed) sslServerArgs() ([]string, error) {
	certs, err := b.sslCertArgs()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b.SBSSLRemote = fmt.Sprintf("ssl:127.0.0.1:%d", port)
	return append([]string{fmt.Sprintf("--remote=pssl:%d:127.0.0.1", port)}, certs...), nil
}

// freePort asks the kernel for a free TCP port on loopback. Another process
// could take it before ovsdb-server binds it; on one test machine that is
// rare enough, and a clash fails loudly at startup.
func freePort() (int, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer lis.Close()
	return lis.Addr().(*net.TCPAddr).Port, nil
}
