package tlsutil_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil"
	"github.com/ovn-dpu/ovn-dpu/pkg/tlsutil/tlstest"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		files tlsutil.Files
		want  string // "" for no error
	}{
		{tlsutil.Files{}, ""},
		{tlsutil.Files{Cert: "c", Key: "k", CA: "a"}, ""},
		{tlsutil.Files{Cert: "c"}, "--tls-key and --tls-ca are required with --tls-cert"},
		{tlsutil.Files{Cert: "c", Key: "k"}, "--tls-ca is required with --tls-cert and --tls-key"},
		{tlsutil.Files{CA: "a"}, "--tls-cert and --tls-key are required with --tls-ca"},
	} {
		err := tc.files.ValidateFlags("--tls-")
		if got := errString(err); !strings.Contains(got, tc.want) || (tc.want == "") != (err == nil) {
			t.Errorf("%+v: got %q, want %q", tc.files, got, tc.want)
		}
	}
	if err := (tlsutil.Files{Key: "k"}).Validate(); err == nil || !strings.Contains(err.Error(), "cert and ca are required with key") {
		t.Errorf("Validate: got %v", err)
	}
}

func TestCredentialsMode(t *testing.T) {
	some := tlsutil.Files{Cert: "c", Key: "k", CA: "a"}
	for _, tc := range []struct {
		files    tlsutil.Files
		insecure bool
		want     string
	}{
		{tlsutil.Files{}, false, "--tls-cert/--tls-key/--tls-ca are required unless --insecure"},
		{some, true, "--insecure cannot be combined"},
		{tlsutil.Files{Cert: "c"}, false, "--tls-key and --tls-ca are required with --tls-cert"},
	} {
		if _, _, err := tlsutil.ServerCredentials(tc.files, tc.insecure); !strings.Contains(errString(err), tc.want) {
			t.Errorf("ServerCredentials(%+v, %v): got %v, want %q", tc.files, tc.insecure, err, tc.want)
		}
		if _, _, err := tlsutil.ClientCredentials(tc.files, tc.insecure, ""); !strings.Contains(errString(err), tc.want) {
			t.Errorf("ClientCredentials(%+v, %v): got %v, want %q", tc.files, tc.insecure, err, tc.want)
		}
	}
}

// TestNewReloaderRefusesBadFiles: at startup there is no previous material
// to fall back on, so the agent must fail instead.
func TestNewReloaderRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.MustNewCA(t, "ca")
	good := ca.MustIssue(t, dir, "good")
	other := ca.MustIssue(t, dir, "other")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]tlsutil.Files{
		"missing cert":   {Cert: filepath.Join(dir, "nope"), Key: good.Key, CA: good.CA},
		"key of another": {Cert: good.Cert, Key: other.Key, CA: good.CA},
		"CA not PEM":     {Cert: good.Cert, Key: good.Key, CA: garbage},
		"CA is a key":    {Cert: good.Cert, Key: good.Key, CA: good.Key},
		"cert not PEM":   {Cert: garbage, Key: good.Key, CA: good.CA},
		"nothing set":    {},
		"partly set":     {Cert: good.Cert},
	} {
		if _, err := tlsutil.NewReloader(files, discard()); err == nil {
			t.Errorf("%s: NewReloader succeeded", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
	if _, err := tlsutil.NewReloader(good.Files, discard()); err != nil {
		t.Errorf("good files: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
