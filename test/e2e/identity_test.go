package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestHostAgentRefusesCertificateOfAnotherNode: a host agent whose
// --tls-cert names another node (here the DNS SAN of a shared certificate)
// does not start, and says which names differ. The DPU agent would scope
// it to the certificate's node, so it could never see its own ports.
func TestHostAgentRefusesCertificateOfAnotherNode(t *testing.T) {
	bed := testbed.New(t, testbed.Options{HostNetns: true})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pki := filepath.Join(bed.Dir, "pki")
	ca := tlstest.MustNewCA(t, "ovn-dpu e2e CA")
	dpuCert := ca.MustIssue(t, pki, "dpu-agent", tlstest.WithIPs(bed.DPUAddr))
	dpuAddr := bed.DPUAddr.String() + ":50151"
	testbed.Must(bed.StartDPUAgent(ctx, "--listen="+dpuAddr, "--insecure=false",
		"--tls-cert="+dpuCert.Cert, "--tls-key="+dpuCert.Key, "--tls-ca="+dpuCert.CA))(t)
	shared := ca.MustIssue(t, pki, "host-agent", tlstest.WithDNSNames("every-host"))
	start := time.Now()
	_, err := bed.StartHostAgent(ctx, dpuAddr, "--tls-cert="+shared.Cert, "--tls-key="+shared.Key, "--tls-ca="+shared.CA)
	if err == nil {
		t.Fatal("the host agent started with another node's certificate")
	}
	for _, want := range []string{"exited", "does not name --node-name", "every-host", bed.HostNode()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("StartHostAgent: %v; want it to say %s", err, want)
		}
	}
	t.Logf("refused in %v: %v", time.Since(start), err)
}
