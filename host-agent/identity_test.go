package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// hostFlags parses the flags of a host agent for node with leaf as its
// gRPC client certificate (nil: --insecure).
func hostFlags(t *testing.T, node string, leaf *tlstest.Leaf) flags {
	t.Helper()
	args := []string{"--nb=unix:/nonexistent/ovn-dpu-test-nb.sock", "--dpu=127.0.0.1:1", "--node-name=" + node,
		"--state-dir=" + t.TempDir(), "--socket=" + filepath.Join(t.TempDir(), "agent.sock")}
	if leaf == nil {
		args = append(args, "--insecure")
	} else {
		args = append(args, "--tls-cert="+leaf.Cert, "--tls-key="+leaf.Key, "--tls-ca="+leaf.CA)
	}
	f, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRefusesCertificateOfAnotherNode: the host agent does not start with
// a --tls-cert whose identity (first DNS SAN, else CN) is not --node-name,
// and says which names differ.
func TestRefusesCertificateOfAnotherNode(t *testing.T) {
	ca := tlstest.MustNewCA(t, "ovn-dpu test CA")
	dir := t.TempDir()
	tests := []struct {
		name string
		leaf tlstest.Leaf
		want []string
	}{
		{"default localhost SAN", ca.MustIssue(t, dir, "host-agent"), []string{`"localhost"`}},
		{"another node's SAN", ca.MustIssue(t, dir, "b", tlstest.WithDNSNames("host-b")), []string{`"host-b"`}},
		{"shared CN, no SAN", ca.MustIssue(t, dir, "shared", tlstest.WithCommonName("ovn-dpu-host-agent"), tlstest.WithDNSNames()),
			[]string{`"ovn-dpu-host-agent"`, "CN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := hostFlags(t, "host-a", &tt.leaf)
			// Bounded, so that an agent that does start ends the test.
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			err := run(ctx, f, quietLog())
			if err == nil {
				t.Fatal("the host agent started")
			}
			for _, w := range append(tt.want, `--node-name "host-a"`, tt.leaf.Cert) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestCheckNodeIdentity(t *testing.T) {
	ca := tlstest.MustNewCA(t, "ovn-dpu test CA")
	dir := t.TempDir()
	reloader := func(leaf tlstest.Leaf) *tlsutil.Reloader {
		r, err := tlsutil.NewReloader(leaf.Files, tlsutil.WithLogger(quietLog()))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	bySAN := ca.MustIssue(t, dir, "san", tlstest.WithDNSNames("host-a"))
	if err := checkNodeIdentity(hostFlags(t, "host-a", &bySAN), reloader(bySAN)); err != nil {
		t.Errorf("certificate with DNS SAN host-a refused for host-a: %v", err)
	}
	byCN := ca.MustIssue(t, dir, "host-a", tlstest.WithDNSNames())
	if err := checkNodeIdentity(hostFlags(t, "host-a", &byCN), reloader(byCN)); err != nil {
		t.Errorf("certificate with CN host-a and no DNS SAN refused for host-a: %v", err)
	}
	if err := checkNodeIdentity(hostFlags(t, "host-b", &bySAN), reloader(bySAN)); err == nil {
		t.Error("host-a's certificate accepted for host-b")
	}
	if err := checkNodeIdentity(hostFlags(t, "host-a", nil), nil); err != nil {
		t.Errorf("--insecure: %v", err)
	}
}
