package testenv

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a test would end.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped = format
	if len(args) > 0 {
		r.skipped = args[0].(string)
	}
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = format
	if len(args) > 0 {
		r.failed = args[0].(string)
	}
}

func TestRequireNamesWhatIsMissing(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Run("CI="+ci, func(t *testing.T) {
			t.Setenv("CI", ci)
			r := &recorder{TB: t}
			Require(r, "the bed", false, []string{"ovn-dpu-no-such-command"}, "run make deps")
			got := r.skipped
			if ci == "true" {
				if r.skipped != "" {
					t.Fatalf("skipped in CI: %q", r.skipped)
				}
				got = r.failed
			} else if r.failed != "" {
				t.Fatalf("failed outside CI: %q", r.failed)
			}
			if !strings.Contains(got, "the bed needs ovn-dpu-no-such-command; run make deps") {
				t.Errorf("message %q does not name what is missing and the hint", got)
			}
		})
	}
}

func TestRequireSatisfied(t *testing.T) {
	t.Setenv("CI", "true")
	r := &recorder{TB: t}
	Require(r, "x", false, []string{"sh"}, "")
	if r.failed != "" || r.skipped != "" {
		t.Errorf("skipped %q failed %q with nothing missing", r.skipped, r.failed)
	}
}
