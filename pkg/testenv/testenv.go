package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// InCI reports whether the tests run in CI, where nothing may be skipped
// for a missing dependency.
func InCI() bool { return os.Getenv("CI") == "true" }

// SkipOrFail skips t with the formatted reason — or, in CI, fails it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("cannot run in CI: "+format, args...)
		return // a real Fatalf does not return; a recording TB does
	}
	t.Skipf(format, args...)
}

// Require skips (in CI: fails) t unless the process is root (when root is
// true) and every command is on PATH; the message names what is missing
// and, when given, how to get it.
func Require(t testing.TB, what string, root bool, commands []string, hint string) {
	t.Helper()
	var missing []string
	if root && os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, c := range commands {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s needs %s", what, strings.Join(missing, ", "))
	if hint != "" {
		msg += "; " + hint
	}
	SkipOrFail(t, "%s", msg)
}
