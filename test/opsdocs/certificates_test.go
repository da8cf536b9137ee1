package opsdocs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
)

// recipeMarker precedes the block of docs/certificates.md that is run.
const recipeMarker = "<!-- test/opsdocs runs the next block"

// recipe returns the shell block after the marker.
func recipe(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "certificates.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), recipeMarker)
	if !ok {
		t.Fatalf("docs/certificates.md has no %q", recipeMarker)
	}
	_, rest, ok = strings.Cut(rest, "```sh\n")
	block, _, closed := strings.Cut(rest, "```\n")
	if !ok || !closed {
		t.Fatal("docs/certificates.md: no ```sh block after the marker")
	}
	return block
}

// TestCertificateRecipe runs the recipe and checks that its certificates
// make a mutual-TLS handshake through pkg/tlsutil, the host dialing the
// DPU at the address the recipe names, and that the DPU reads the host's
// node name from the client certificate.
func TestCertificateRecipe(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl not on PATH: the recipe needs it")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", "-eu", "-c", recipe(t)+"\nprintf '%s %s' \"$NODE\" \"$DPU_ADDR\" > vars\n")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("recipe: %v\n%s", err, out)
	}
	vars, err := os.ReadFile(filepath.Join(dir, "vars"))
	if err != nil {
		t.Fatal(err)
	}
	node, dpuAddr, _ := strings.Cut(string(vars), " ")
	in := func(name string) string { return filepath.Join(dir, name) }

	srvCfg, _, err := tlsutil.ServerConfig(tlsutil.Files{Cert: in("dpu.crt"), Key: in("dpu.key"), CA: in("ca.crt")})
	if err != nil {
		t.Fatalf("DPU agent's files: %v", err)
	}
	hostFiles := tlsutil.Files{Cert: in(node + ".crt"), Key: in(node + ".key"), CA: in("ca.crt")}
	cliCfg, cliReloader, err := tlsutil.ClientConfig(hostFiles, dpuAddr)
	if err != nil {
		t.Fatalf("host agent's files: %v", err)
	}
	if err := tlsutil.CheckIdentity(cliReloader.Certificate().Leaf, node); err != nil {
		t.Errorf("the host agent would refuse its certificate: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	a, b := net.Pipe()
	srv, cli := tls.Server(a, srvCfg), tls.Client(b, cliCfg)
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.HandshakeContext(ctx) }()
	if err := cli.HandshakeContext(ctx); err != nil {
		t.Fatalf("host handshake with the DPU at %s: %v", dpuAddr, err)
	}
	if err := <-srvErr; err != nil {
		t.Fatalf("DPU handshake: %v", err)
	}
	peers := srv.ConnectionState().PeerCertificates
	if len(peers) == 0 || tlsutil.CertIdentity(peers[0]) != node {
		t.Errorf("DPU sees the host as %q, want %q", identity(peers), node)
	}
	// The raw ends: a TLS close_notify would wait for a reader.
	_, _ = a.Close(), b.Close()

	// The host must not accept a DPU certificate for another address.
	wrong, _, err := tlsutil.ClientConfig(hostFiles, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	a, b = net.Pipe()
	srv, cli = tls.Server(a, srvCfg), tls.Client(b, wrong)
	go func() { _ = srv.HandshakeContext(ctx); _ = a.Close() }()
	var hostErr x509.HostnameError
	if err := cli.HandshakeContext(ctx); !errors.As(err, &hostErr) {
		t.Errorf("handshake naming another address: %v, want a host name error", err)
	}
	_ = b.Close()
}

func identity(peers []*x509.Certificate) string {
	if len(peers) == 0 {
		return ""
	}
	return tlsutil.CertIdentity(peers[0])
}
