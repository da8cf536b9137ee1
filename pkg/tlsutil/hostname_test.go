package tlsutil_test

import (
	"crypto/tls"
	"io"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

// startRawServer is an OVSDB-like TLS server: it answers "ok" to every
// client that completes the handshake.
func startRawServer(t *testing.T, files tlsutil.Files) string {
	t.Helper()
	cfg, _, err := tlsutil.ServerConfig(files, withDefaults(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = io.WriteString(c, "ok")
				}
			}()
		}
	}()
	return lis.Addr().String()
}

// dialRaw reports whether a full exchange with a startRawServer works; in
// TLS 1.3 the server's verdict on the client shows only on the first read.
func dialRaw(addr string, cfg *tls.Config) error {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.ReadAll(c)
	return err
}

func TestWithoutHostnameCheck(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ovsdb-ca")
	other := tlstest.MustNewCA(t, "other")
	// Like ovs-pki: a CN and no subject alternative names.
	addr := startRawServer(t, ca.MustIssue(t, dir, "sb", tlstest.WithDNSNames(), tlstest.WithIPs()).Files)
	client := ca.MustIssue(t, dir, "client").Files

	if err := dialRaw(addr, clientConfig(t, client)); err == nil || !strings.Contains(err.Error(), "no server name") {
		t.Errorf("hostname check against an IP remote: got %v, want no server name", err)
	}
	if err := dialRaw(addr, clientConfig(t, client, "127.0.0.1")); err == nil {
		t.Error("hostname check against a cert without SANs succeeded")
	}
	if err := dialRaw(addr, clientConfig(t, client, "", tlsutil.WithoutHostnameCheck())); err != nil {
		t.Errorf("WithoutHostnameCheck: %v", err)
	}

	distrusting := client
	distrusting.CA = other.MustIssue(t, dir, "x").CA
	if err := dialRaw(addr, clientConfig(t, distrusting, "", tlsutil.WithoutHostnameCheck())); err == nil {
		t.Error("WithoutHostnameCheck accepted a server from another CA")
	}
}

func TestRawTLSVersion(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	addr := startRawServer(t, ca.MustIssue(t, dir, "server").Files)
	c, err := tls.Dial("tcp", addr, clientConfig(t, ca.MustIssue(t, dir, "client").Files, "localhost"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("negotiated %s, want TLS 1.3", tls.VersionName(v))
	}
	old := clientConfig(t, ca.MustIssue(t, dir, "client12").Files, "localhost")
	old.MaxVersion = tls.VersionTLS12
	if err := dialRaw(addr, old); err != nil {
		t.Errorf("TLS 1.2 client: %v", err)
	}
	ancient := clientConfig(t, ca.MustIssue(t, dir, "client11").Files, "localhost")
	ancient.MinVersion, ancient.MaxVersion = tls.VersionTLS11, tls.VersionTLS11
	if err := dialRaw(addr, ancient); err == nil {
		t.Error("TLS 1.1 client accepted")
	}
}

func clientConfig(t *testing.T, files tlsutil.Files, nameAndOpts ...any) *tls.Config {
	t.Helper()
	name := ""
	opts := withDefaults(nil)
	for _, a := range nameAndOpts {
		switch a := a.(type) {
		case string:
			name = a
		case tlsutil.Option:
			opts = append(opts, a)
		}
	}
	cfg, _, err := tlsutil.ClientConfig(files, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
