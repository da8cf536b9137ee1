package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// root is the repository root, seen from this package's directory.
const root = "../.."

// packages maps each binary the deploy files start to its main package.
var packages = map[string]string{
	"ovn-dpu-host-agent": "./host-agent",
	"ovn-dpu-agent":      "./dpu-agent",
	"ovn-dpu-cni":        "./cni",
}

var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
	buildOut  []byte
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binary builds every binary once and returns the path of name's.
func binary(t *testing.T, name string) string {
	t.Helper()
	if _, ok := packages[name]; !ok {
		t.Fatalf("no package builds %q (known: %v)", name, keys(packages))
	}
	testenv.Require(t, "building the binaries", false, []string{"go"}, "")
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "ovn-dpu-deploy-test-")
		if buildErr != nil {
			return
		}
		args := []string{"build", "-o", binDir + "/"}
		for _, pkg := range packages {
			args = append(args, pkg)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		t.Fatalf("go build: %v\n%s", buildErr, buildOut)
	}
	// go build -o dir/ names each binary after its package directory.
	return filepath.Join(binDir, filepath.Base(packages[name]))
}

// flagSet is a binary's flags: name -> whether the flag takes a value
// (false for booleans).
type flagSet map[string]bool

var (
	flagSets   = map[string]flagSet{}
	flagSetsMu sync.Mutex
	// Go's flag package prints "  -name" for a boolean and "  -name TYPE"
	// for the others, the usage on the next line.
	usageLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9._-]*)(?: (\S+))?$`)
	// A string flag's usage ends with (default "value") unless empty.
	defaultText = regexp.MustCompile(`\(default "([^"]*)"\)$`)
	defaults    = map[string]map[string]string{}
)

// flagDefault is the default of a string flag of binary name, from its
// usage ("" when none is printed).
func flagDefault(t *testing.T, name, flag string) string {
	t.Helper()
	flagsOf(t, name)
	flagSetsMu.Lock()
	defer flagSetsMu.Unlock()
	return defaults[name][flag]
}

// effective is the value of flag on a command line, else its default.
func effective(t *testing.T, name string, flags parsedFlags, flag string) string {
	t.Helper()
	if v, ok := flags[flag]; ok {
		return v
	}
	return flagDefault(t, name, flag)
}

// flagsOf parses the `-h` output of the built binary: the flags it really
// has, whatever the docs say.
func flagsOf(t *testing.T, name string) flagSet {
	t.Helper()
	flagSetsMu.Lock()
	defer flagSetsMu.Unlock()
	if fs, ok := flagSets[name]; ok {
		return fs
	}
	var out bytes.Buffer
	cmd := exec.Command(binary(t, name), "-h")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run() // -h exits 2 (flag.ErrHelp)
	fs := flagSet{}
	defs := map[string]string{}
	sc := bufio.NewScanner(&out)
	last := ""
	for sc.Scan() {
		if m := usageLine.FindStringSubmatch(sc.Text()); m != nil {
			fs[m[1]], last = m[2] != "", m[1]
		} else if m := defaultText.FindStringSubmatch(sc.Text()); m != nil && last != "" {
			defs[last] = m[1]
		}
	}
	defaults[name] = defs
	for _, must := range []string{"metrics", "log-level", "version"} {
		if _, ok := fs[must]; !ok {
			t.Fatalf("%s -h lists no -%s: its usage format changed?\n%s", name, must, out.String())
		}
	}
	flagSets[name] = fs
	return fs
}

// parsedFlags is a command line's flags, name -> value ("true" for a
// boolean given alone).
type parsedFlags map[string]string

// checkFlags parses args as Go's flag package would for binary name and
// reports every flag the binary does not have, a value-taking flag
// without a value, and positional arguments (neither agent takes any).
func checkFlags(t *testing.T, where, name string, args []string) parsedFlags {
	t.Helper()
	fs := flagsOf(t, name)
	got := parsedFlags{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			t.Errorf("%s: argument %q of %s is not a flag (%s takes no positional arguments)", where, a, name, name)
			continue
		}
		flag, value, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		takesValue, ok := fs[flag]
		if !ok {
			t.Errorf("%s: %s has no flag -%s (its flags: %v)", where, name, flag, keys(fs))
			continue
		}
		if _, dup := got[flag]; dup {
			t.Errorf("%s: -%s given twice", where, flag)
		}
		switch {
		case hasValue:
		case !takesValue:
			value = "true"
		case i+1 < len(args):
			i++
			value = args[i]
		default:
			t.Errorf("%s: -%s of %s needs a value", where, flag, name)
		}
		got[flag] = value
	}
	return got
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
