package tlsutil_test

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

func TestGoodClient(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	srv := ca.MustIssue(t, dir, "server")
	addr, _ := startServer(t, srv.Files)

	got, err := call(addr, clientCreds(t, ca.MustIssue(t, dir, "client").Files))
	if err != nil {
		t.Fatal(err)
	}
	if got.SerialNumber.Cmp(srv.Certificate.SerialNumber) != 0 {
		t.Errorf("server presented serial %s, want %s", got.SerialNumber, srv.Certificate.SerialNumber)
	}
}

func TestRefusedClients(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	other := tlstest.MustNewCA(t, "other")
	srv := ca.MustIssue(t, dir, "server")
	addr, _ := startServer(t, srv.Files)

	rogue := other.MustIssue(t, dir, "rogue")
	rogue.CA = srv.CA // trusts the server; its own cert is from another CA
	expired := ca.MustIssue(t, dir, "expired", tlstest.Expired())
	distrusting := ca.MustIssue(t, dir, "distrusting")
	distrusting.CA = filepath.Join(dir, "other-ca.crt")
	if err := other.WriteCA(distrusting.CA); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	misnamed, _, err := tlsutil.ClientCredentials(ca.MustIssue(t, dir, "client").Files, false, "elsewhere.example", discard())
	if err != nil {
		t.Fatal(err)
	}

	for name, creds := range map[string]credentials.TransportCredentials{
		"plaintext":               insecure.NewCredentials(),
		"cert from another CA":    clientCreds(t, rogue.Files),
		"expired cert":            clientCreds(t, expired.Files),
		"no client cert":          credentials.NewTLS(&tls.Config{RootCAs: pool}),
		"server not trusted":      clientCreds(t, distrusting.Files),
		"server name not in cert": misnamed,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := call(addr, creds)
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("got %v, want Unavailable", err)
			}
			t.Log(err)
		})
	}
}

func TestServerCertRotation(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	srv := ca.MustIssue(t, dir, "server")
	addr, r := startServer(t, srv.Files)
	creds := clientCreds(t, ca.MustIssue(t, dir, "client").Files)
	eventually(t, "initial certificate", servesSerial(addr, creds, srv.Certificate))

	rotated := ca.MustIssue(t, dir, "server")
	eventually(t, "rotated certificate", servesSerial(addr, creds, rotated.Certificate))
	if err := r.Err(); err != nil {
		t.Errorf("Err after rotation: %v", err)
	}
}

func TestCARotation(t *testing.T) {
	dir := t.TempDir()
	oldCA := tlstest.MustNewCA(t, "old")
	newCA := tlstest.MustNewCA(t, "new")
	srv := oldCA.MustIssue(t, dir, "server")
	addr, _ := startServer(t, srv.Files)
	oldLeaf := oldCA.MustIssue(t, dir, "old-client")
	oldClient := clientCreds(t, oldLeaf.Files)
	newLeaf := newCA.MustIssue(t, dir, "new-client")
	newLeaf.CA = oldLeaf.CA // the server keeps its old-CA certificate
	newClient := clientCreds(t, newLeaf.Files)
	if _, err := call(addr, oldClient); err != nil {
		t.Fatalf("old-CA client before rotation: %v", err)
	}

	if err := newCA.WriteCA(srv.CA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "new-CA client after rotation", func() error {
		_, err := call(addr, newClient)
		return err
	})
	if _, err := call(addr, oldClient); status.Code(err) != codes.Unavailable {
		t.Fatalf("old-CA client after rotation: got %v, want Unavailable", err)
	}
}

// TestClientCARotation: the client, too, verifies the server against the
// CA file as it is now, not as it was when the credentials were made.
func TestClientCARotation(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	other := tlstest.MustNewCA(t, "other")
	addr, _ := startServer(t, ca.MustIssue(t, dir, "server").Files)
	cl := ca.MustIssue(t, dir, "client")
	if err := other.WriteCA(cl.CA); err != nil {
		t.Fatal(err)
	}
	creds := clientCreds(t, cl.Files)
	if _, err := call(addr, creds); err == nil {
		t.Fatal("client trusting another CA reached the server")
	}

	if err := ca.WriteCA(cl.CA); err != nil {
		t.Fatal(err)
	}
	eventually(t, "client after its CA file was fixed", func() error {
		_, err := call(addr, creds)
		return err
	})
}

func TestBrokenFilesKeepServing(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	srv := ca.MustIssue(t, dir, "server")
	var logs logBuf
	addr, r := startServer(t, srv.Files, tlsutil.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	creds := clientCreds(t, ca.MustIssue(t, dir, "client").Files)

	if err := os.WriteFile(srv.Cert, []byte("-----BEGIN CERTIFICATE-----\ntrunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload of a truncated certificate succeeded")
	}
	if err := servesSerial(addr, creds, srv.Certificate)(); err != nil {
		t.Fatalf("after a truncated certificate: %v", err)
	}

	mismatched := ca.MustIssue(t, t.TempDir(), "other")
	copyFile(t, mismatched.Cert, srv.Cert)
	if err := r.Reload(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("Reload of a certificate without its key: got %v, want a mismatch", err)
	}
	if err := servesSerial(addr, creds, srv.Certificate)(); err != nil {
		t.Fatalf("after a certificate without its key: %v", err)
	}
	if !strings.Contains(logs.String(), "keeping the previous certificate") {
		t.Errorf("broken files not logged; log:\n%s", logs.String())
	}

	fixed := ca.MustIssue(t, dir, "server")
	eventually(t, "fixed files", servesSerial(addr, creds, fixed.Certificate))
	eventually(t, "Err cleared", r.Err)
}

func TestInsecure(t *testing.T) {
	creds, r, err := tlsutil.ServerCredentials(tlsutil.Files{}, true)
	if err != nil || r != nil {
		t.Fatalf("ServerCredentials(insecure) = %v, %v", r, err)
	}
	if creds.Info().SecurityProtocol != "insecure" {
		t.Errorf("insecure server credentials speak %q", creds.Info().SecurityProtocol)
	}
	if err := r.Run(t.Context()); err != nil {
		t.Errorf("Run on a nil Reloader: %v", err)
	}
	if r.Err() != nil {
		t.Errorf("Err on a nil Reloader: %v", r.Err())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, data, 0o644)
	}
	if err != nil {
		t.Fatal(err)
	}
}
