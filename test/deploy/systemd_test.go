package deploy

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

var systemdDir = filepath.Join(root, "deploy", "systemd")

// unit is a parsed unit file: section -> key -> values in order (a key
// may repeat; an empty assignment resets the list, as systemd does).
type unit map[string]map[string][]string

// parseUnit reads systemd's INI dialect: [Section], Key=Value, comments
// starting with # or ;, lines continued with a trailing backslash.
func parseUnit(data string) (unit, error) {
	u := unit{}
	sec := ""
	sc := bufio.NewScanner(strings.NewReader(data))
	var cont string
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cont != "" {
			line, cont = cont+" "+line, ""
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasSuffix(line, "\\") {
			cont = strings.TrimSuffix(line, "\\")
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			sec = line[1 : len(line)-1]
			if u[sec] == nil {
				u[sec] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || sec == "" {
			return nil, fmt.Errorf("line %d: %q is not Key=Value in a section", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if v == "" {
			u[sec][k] = nil
			continue
		}
		u[sec][k] = append(u[sec][k], v)
	}
	return u, sc.Err()
}

// one is the single value of key in [Service] ("" when unset).
func (u unit) one(t *testing.T, where, key string) string {
	t.Helper()
	vs := u["Service"][key]
	if len(vs) > 1 {
		t.Errorf("%s: %s set %d times", where, key, len(vs))
	}
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// words are the space-separated values of key, merged over its lines.
func (u unit) words(key string) []string {
	var out []string
	for _, v := range u["Service"][key] {
		out = append(out, strings.Fields(v)...)
	}
	return out
}

// parseEnvFile reads an EnvironmentFile as systemd does: KEY=VALUE lines,
// # comments, values optionally in double quotes, backslash-newline
// continuing a line.
func parseEnvFile(data string) (map[string]string, error) {
	env := map[string]string{}
	data = strings.ReplaceAll(data, "\\\n", " ")
	for n, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(k) {
			return nil, fmt.Errorf("line %d: %q is not KEY=VALUE", n+1, line)
		}
		if strings.HasPrefix(v, `"`) {
			if len(v) < 2 || !strings.HasSuffix(v, `"`) {
				return nil, fmt.Errorf("line %d: unterminated quote", n+1)
			}
			v = v[1 : len(v)-1]
		}
		env[k] = v
	}
	return env, nil
}

// hardening is what every agent unit must set, value by value.
var hardening = map[string]string{
	"NoNewPrivileges":         "yes",
	"ProtectHome":             "yes",
	"PrivateTmp":              "yes",
	"PrivateDevices":          "yes",
	"ProtectControlGroups":    "yes",
	"ProtectKernelModules":    "yes",
	"ProtectKernelLogs":       "yes",
	"ProtectClock":            "yes",
	"RestrictRealtime":        "yes",
	"RestrictSUIDSGID":        "yes",
	"LockPersonality":         "yes",
	"MemoryDenyWriteExecute":  "yes",
	"SystemCallArchitectures": "native",
	"UMask":                   "0077",
	"Restart":                 "always",
	// SIGTERM never unplugs or deletes ports.
	"KillSignal": "SIGTERM",
}

// agents is what each unit's agent needs (see the units' comments and
// docs/install-systemd.md).
var agents = map[string]struct {
	caps []string
	// writable are paths the agent writes (besides flags' own).
	writable []string
	// more settings this agent must have.
	more map[string]string
}{
	"ovn-dpu-host-agent": {
		caps:     []string{"CAP_NET_ADMIN", "CAP_SYS_ADMIN"},
		writable: []string{"/var/lib/cni"},
	},
	"ovn-dpu-agent": {
		caps: []string{"CAP_DAC_OVERRIDE"},
		more: map[string]string{"ProtectKernelTunables": "yes", "RestrictNamespaces": "yes"},
	},
}

var (
	envVarRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	addrFams  = []string{"AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"}
)

func TestSystemdUnits(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(systemdDir, "*.service"))
	if err != nil || len(files) != len(agents) {
		t.Fatalf("deploy/systemd has %d units, want one per agent (%v): %v", len(files), keys(agents), err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkUnit(t, f) })
	}
}

func checkUnit(t *testing.T, file string) {
	where := "deploy/systemd/" + filepath.Base(file)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	u, err := parseUnit(string(data))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	exec := u["Service"]["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("%s: %d ExecStart lines, want 1", where, len(exec))
	}
	words := strings.Fields(exec[0])
	name := path.Base(words[0])
	agent, ok := agents[name]
	if !ok {
		t.Fatalf("%s: ExecStart runs %s, not an agent (%v)", where, words[0], keys(agents))
	}
	if want := strings.TrimSuffix(filepath.Base(file), ".service"); want != name {
		t.Errorf("%s: starts %s; the unit is named after the binary it runs", where, name)
	}

	// The EnvironmentFile is the .default beside the unit, and defines
	// every variable ExecStart uses.
	envFiles := u["Service"]["EnvironmentFile"]
	env := map[string]string{}
	for _, ef := range envFiles {
		ef = strings.TrimPrefix(ef, "-")
		local := filepath.Join(systemdDir, path.Base(ef)+".default")
		if ef != "/etc/default/"+path.Base(ef) {
			t.Errorf("%s: EnvironmentFile %s is not in /etc/default", where, ef)
		}
		b, err := os.ReadFile(local)
		if err != nil {
			t.Errorf("%s: EnvironmentFile %s: no example %s: %v", where, ef, local, err)
			continue
		}
		e, err := parseEnvFile(string(b))
		if err != nil {
			t.Errorf("%s: %v", local, err)
		}
		for k, v := range e {
			env[k] = v
		}
	}
	var args []string
	for _, w := range words[1:] {
		expanded := envVarRef.ReplaceAllStringFunc(w, func(ref string) string {
			m := envVarRef.FindStringSubmatch(ref)
			v := m[1] + m[2]
			val, ok := env[v]
			if !ok {
				t.Errorf("%s: ExecStart uses $%s, which no EnvironmentFile example defines", where, v)
			}
			return val
		})
		if strings.HasPrefix(w, "$") && !strings.HasPrefix(w, "${") {
			args = append(args, strings.Fields(expanded)...) // $VAR splits at white space
		} else {
			args = append(args, expanded)
		}
	}
	flags := checkFlags(t, where+" ExecStart", name, args)

	for k, v := range hardening {
		if got := u.one(t, where, k); got != v {
			t.Errorf("%s: %s=%q, want %q", where, k, got, v)
		}
	}
	for k, v := range agent.more {
		if got := u.one(t, where, k); got != v {
			t.Errorf("%s: %s=%q, want %q", where, k, got, v)
		}
	}
	if ps := u.one(t, where, "ProtectSystem"); ps != "strict" && ps != "full" {
		t.Errorf("%s: ProtectSystem=%q, want strict or full", where, ps)
	}
	if got := u.words("RestrictAddressFamilies"); !sameSet(got, addrFams) {
		t.Errorf("%s: RestrictAddressFamilies=%v, want %v", where, got, addrFams)
	}
	if got := u.words("CapabilityBoundingSet"); !sameSet(got, agent.caps) {
		t.Errorf("%s: CapabilityBoundingSet=%v, want %v (docs/install-systemd.md says why each)", where, got, agent.caps)
	}
	for _, k := range []string{"User", "DynamicUser", "AmbientCapabilities", "PrivateNetwork", "PrivateUsers"} {
		if v := u.one(t, where, k); v != "" {
			t.Errorf("%s: %s=%s: the agent runs as root in the host's network namespace with the bounding set only", where, k, v)
		}
	}

	// What the agent writes must stay writable.
	writable := map[string]bool{}
	for _, p := range u.words("ReadWritePaths") {
		writable[path.Clean(strings.TrimLeft(p, "-+"))] = true
	}
	for _, d := range u.words("StateDirectory") {
		writable[path.Join("/var/lib", d)] = true
	}
	for _, d := range u.words("RuntimeDirectory") {
		writable[path.Join("/run", d)] = true
	}
	need := append(slices.Clone(agent.writable), createdPaths(t, name, flags)...)
	for _, p := range need {
		if !under(p, writable) {
			t.Errorf("%s: %s is not writable under ProtectSystem (ReadWritePaths, StateDirectory, RuntimeDirectory: %v)", where, p, keys(writable))
		}
	}

	verifyUnit(t, where, string(data), words[0], binary(t, name))
}

// createdPaths are the directories an agent creates files in, from its
// flags or their defaults: its state dir and the dirs of its unix sockets.
func createdPaths(t *testing.T, name string, flags parsedFlags) []string {
	t.Helper()
	fs := flagsOf(t, name)
	var out []string
	if _, ok := fs["state-dir"]; ok {
		out = append(out, effective(t, name, flags, "state-dir"))
	}
	for _, f := range []string{"socket", "admin-socket", "listen"} {
		if _, ok := fs[f]; !ok {
			continue
		}
		v := effective(t, name, flags, f)
		if v == "" || (f == "listen" && !strings.HasPrefix(v, "unix:")) {
			continue // off, or TCP
		}
		out = append(out, path.Dir(strings.TrimPrefix(v, "unix:")))
	}
	return out
}

func under(p string, dirs map[string]bool) bool {
	for d := path.Clean(p); ; d = path.Dir(d) {
		if dirs[d] {
			return true
		}
		if d == "/" || d == "." {
			return false
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// verifyUnit runs systemd-analyze verify on a copy of the unit whose
// ExecStart is the binary just built (verify checks it is executable):
// any complaint about the unit fails.
func verifyUnit(t *testing.T, where, data, execPath, built string) {
	t.Helper()
	testenv.Require(t, "verifying systemd units", false, []string{"systemd-analyze"}, "install the Debian package systemd (make deps)")
	dir := t.TempDir()
	name := path.Base(where)
	copyPath := filepath.Join(dir, name)
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(data, "ExecStart="+execPath, "ExecStart="+built)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("systemd-analyze", "verify", copyPath)
	out, err := cmd.CombinedOutput()
	var complaints []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, name) || strings.Contains(l, dir) {
			complaints = append(complaints, l)
		}
	}
	if err != nil || len(complaints) > 0 {
		t.Errorf("%s: systemd-analyze verify: %v\n%s", where, err, out)
	}
}

// The parsers read what systemd reads.
func TestUnitParsers(t *testing.T) {
	u, err := parseUnit("# c\n[Service]\nA=1\nA=2\nB=x \\\n  y\nA=\nC=3\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := u["Service"]; len(got["A"]) != 0 || strings.Join(strings.Fields(got["B"][0]), " ") != "x y" || got["C"][0] != "3" {
		t.Errorf("parseUnit: %v", got)
	}
	env, err := parseEnvFile("# c\nOPTIONS=\"--a=1 \\\n --b\"\nX=y\n")
	if err != nil || strings.Join(strings.Fields(env["OPTIONS"]), " ") != "--a=1 --b" || env["X"] != "y" {
		t.Errorf("parseEnvFile: %v, %v", env, err)
	}
	if _, err := parseUnit("A=1\n"); err == nil {
		t.Error("parseUnit accepted a key outside a section")
	}
}
