package ipam

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// pluginDir holds the real host-local and static plugins, built once.
var pluginDir string

// processPoison is what TestMain puts in this process's CNI_* variables: a
// daemon's environment carries stale or foreign values, and no delegate may
// ever see them.
const processPoison = "process-env-poison"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ovn-dpu-ipam-plugins-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goBin, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "building the IPAM plugins under test needs the go command:", err)
		return 1
	}
	for _, p := range []string{"host-local", "static"} {
		cmd := exec.Command(goBin, "build", "-o", filepath.Join(dir, p), "github.com/containernetworking/plugins/plugins/ipam/"+p)
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", p, err, out)
			return 1
		}
	}
	// Scripts are written here, before any test runs: writing an executable
	// while another goroutine forks lets the child inherit the open file,
	// and exec'ing the script then fails with ETXTBSY.
	for name, body := range scriptPlugins {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	pluginDir = dir
	for _, v := range []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH", "CNI_EXTRA"} {
		os.Setenv(v, processPoison)
	}
	return m.Run()
}

// scriptPlugins are fake plugins; they write into $OVN_DPU_TEST_OUT, a
// directory of the test that runs them.
var scriptPlugins = map[string]string{
	// envdump records its environment and stdin per command.
	"envdump": `#!/bin/sh
out="$OVN_DPU_TEST_OUT"
[ -n "$out" ] || exit 1
env > "$out/env.$CNI_COMMAND"
cat > "$out/stdin.$CNI_COMMAND"
printf '{"cniVersion":"1.1.0","ips":[{"address":"192.0.2.7/24"}]}'
`,
	"chatty": `#!/bin/sh
echo chatty >&2
printf '{"cniVersion":"1.1.0"}'
`,
	// hang signals through the FIFO $OVN_DPU_TEST_OUT/started that it runs,
	// then hangs; exec, so that the process a cancel kills is the one
	// holding stdout open.
	"hang": `#!/bin/sh
[ -n "$OVN_DPU_TEST_OUT" ] || exit 1
echo up > "$OVN_DPU_TEST_OUT/started"
exec sleep 3600
`,
}

func hostLocalConf(t *testing.T, version, dataDir, start, end string) []byte {
	t.Helper()
	conf := map[string]any{
		"cniVersion": version,
		"name":       "net1",
		"type":       "ovn-dpu-cni",
		"ipam": map[string]any{
			"type":    "host-local",
			"dataDir": dataDir,
			"ranges": [][]map[string]string{{{
				"subnet": "10.1.0.0/24", "rangeStart": start, "rangeEnd": end, "gateway": "10.1.0.1",
			}}},
		},
	}
	b, err := json.Marshal(conf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func withField(t *testing.T, conf []byte, key string, value any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func req(conf []byte, cid, ifname string) Request {
	return Request{
		NetConf:     conf,
		ContainerID: cid,
		Netns:       "/var/run/netns/" + cid,
		IfName:      ifname,
		Path:        []string{"/nonexistent", pluginDir},
	}
}

// lease returns what host-local recorded for ip: "<container id>\r\n<ifname>".
func lease(t *testing.T, dataDir string, ip net.IP) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "net1", ip.String()))
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func onlyIP(t *testing.T, r *current.Result) net.IP {
	t.Helper()
	if r == nil || len(r.IPs) != 1 {
		t.Fatalf("want one IP in result, got %+v", r)
	}
	return r.IPs[0].Address.IP
}

func TestHostLocalAddDelCheck(t *testing.T) {
	t.Parallel()
	var d Delegate
	ctx := context.Background()
	dataDir := t.TempDir()
	// A one-address range: a second ADD can only succeed once DEL has
	// really released the first.
	conf := hostLocalConf(t, "1.1.0", dataDir, "10.1.0.10", "10.1.0.10")

	res, err := d.Add(ctx, req(conf, "c1", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.CNIVersion != "1.1.0" {
		t.Fatalf("result version %q, want 1.1.0", res.CNIVersion)
	}
	ip := onlyIP(t, res)
	if !ip.Equal(net.ParseIP("10.1.0.10")) {
		t.Fatalf("got %v, want 10.1.0.10", ip)
	}
	if got, ok := lease(t, dataDir, ip); !ok || got != "c1\r\neth0" {
		t.Fatalf("lease for %v = %q (exists %v), want c1/eth0", ip, got, ok)
	}
	if err := d.Check(ctx, req(conf, "c1", "eth0")); err != nil {
		t.Fatalf("CHECK of a live allocation: %v", err)
	}

	_, err = d.Add(ctx, req(conf, "c2", "eth0"))
	var cniErr *types.Error
	if !errors.As(err, &cniErr) || !strings.Contains(cniErr.Msg, "no IP addresses available") {
		t.Fatalf("ADD on a full range: %v, want the plugin's CNI error", err)
	}
	if !strings.Contains(err.Error(), "host-local ADD") {
		t.Fatalf("error does not say which delegate failed: %v", err)
	}

	for i := 0; i < 2; i++ { // DEL is idempotent
		if err := d.Del(ctx, req(conf, "c1", "eth0")); err != nil {
			t.Fatalf("DEL #%d: %v", i, err)
		}
	}
	if got, ok := lease(t, dataDir, ip); ok {
		t.Fatalf("lease survived DEL: %q", got)
	}
	if err := d.Check(ctx, req(conf, "c1", "eth0")); err == nil {
		t.Fatal("CHECK succeeded after DEL")
	}

	res, err = d.Add(ctx, req(conf, "c2", "eth0"))
	if err != nil {
		t.Fatalf("ADD after DEL released the address: %v", err)
	}
	if ip2 := onlyIP(t, res); !ip2.Equal(ip) {
		t.Fatalf("got %v, want the released %v", ip2, ip)
	}
	if got, _ := lease(t, dataDir, ip); got != "c2\r\neth0" {
		t.Fatalf("lease %q, want c2/eth0", got)
	}
}

func TestHostLocalOldConfigVersionConverted(t *testing.T) {
	t.Parallel()
	var d Delegate
	conf := hostLocalConf(t, "0.4.0", t.TempDir(), "10.1.0.20", "10.1.0.30")
	res, err := d.Add(context.Background(), req(conf, "c1", "eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if res.CNIVersion != "1.1.0" || len(res.IPs) != 1 || res.IPs[0].Gateway.String() != "10.1.0.1" {
		t.Fatalf("converted result %+v", res)
	}
}

func TestHostLocalGC(t *testing.T) {
	t.Parallel()
	var d Delegate
	ctx := context.Background()
	dataDir := t.TempDir()
	conf := hostLocalConf(t, "1.1.0", dataDir, "10.1.0.10", "10.1.0.20")
	ips := map[string]net.IP{}
	for _, cid := range []string{"keep", "stale"} {
		res, err := d.Add(ctx, req(conf, cid, "eth0"))
		if err != nil {
			t.Fatal(err)
		}
		ips[cid] = onlyIP(t, res)
	}
	gcConf := withField(t, conf, "cni.dev/valid-attachments", []map[string]string{{"containerID": "keep", "ifname": "eth0"}})
	if err := d.GC(ctx, Request{NetConf: gcConf, Path: []string{pluginDir}, ContainerID: "ignored"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := lease(t, dataDir, ips["keep"]); !ok {
		t.Fatal("GC released a valid attachment")
	}
	if got, ok := lease(t, dataDir, ips["stale"]); ok {
		t.Fatalf("GC kept a stale lease: %q", got)
	}
}

func TestStaticWithArgs(t *testing.T) {
	t.Parallel()
	var d Delegate
	conf := []byte(`{
		"cniVersion": "1.0.0", "name": "net1", "type": "ovn-dpu-cni",
		"ipam": {"type": "static",
			"addresses": [{"address": "10.10.0.1/24", "gateway": "10.10.0.254"}],
			"routes": [{"dst": "0.0.0.0/0"}]}
	}`)
	r := req(conf, "c1", "eth0")
	r.PluginType = "static"
	// CNI_ARGS reaches the plugin: static adds the IP it names.
	r.Args = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=p;IP=10.10.0.9/24"
	res, err := d.Add(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ip := range res.IPs {
		got = append(got, ip.Address.String())
	}
	if strings.Join(got, ",") != "10.10.0.1/24,10.10.0.9/24" {
		t.Fatalf("static returned %v", got)
	}
	if res.IPs[0].Gateway.String() != "10.10.0.254" || len(res.Routes) != 1 || res.CNIVersion != "1.1.0" {
		t.Fatalf("static result %+v", res)
	}
	if err := d.Del(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentAddsKeepTheirOwnEnvironment(t *testing.T) {
	t.Parallel()
	var d Delegate
	dataDir := t.TempDir()
	conf := hostLocalConf(t, "1.1.0", dataDir, "10.1.0.100", "10.1.0.200")
	const n = 10
	ips := make([]net.IP, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := d.Add(context.Background(), req(conf, fmt.Sprintf("ctr-%d", i), fmt.Sprintf("net%d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			ips[i] = onlyIP(t, res)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := map[string]int{}
	for i, ip := range ips {
		if j, dup := seen[ip.String()]; dup {
			t.Fatalf("ctr-%d and ctr-%d both got %v", j, i, ip)
		}
		seen[ip.String()] = i
		want := fmt.Sprintf("ctr-%d\r\nnet%d", i, i)
		if got, _ := lease(t, dataDir, ip); got != want {
			t.Fatalf("lease for %v is %q, want %q: the delegate saw another request's environment", ip, got, want)
		}
	}
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestProcessEnvironmentNeverReachesPlugin(t *testing.T) {
	const poison = "test-env-poison"
	for _, v := range []string{"CNI_CONTAINERID", "CNI_IFNAME", "CNI_NETNS", "CNI_ARGS", "CNI_PATH", "CNI_COMMAND", "CNI_EXTRA"} {
		t.Setenv(v, poison)
	}
	t.Setenv("OVN_DPU_TEST_INHERITED", "yes")

	// The real plugin records the container id and ifname it was given.
	var d Delegate
	dataDir := t.TempDir()
	conf := hostLocalConf(t, "1.1.0", dataDir, "10.1.0.50", "10.1.0.60")
	res, err := d.Add(context.Background(), req(conf, "own-id", "eth7"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := lease(t, dataDir, onlyIP(t, res)); got != "own-id\r\neth7" {
		t.Fatalf("host-local recorded %q, want own-id/eth7", got)
	}

	// The recording plugin shows the whole environment, for every command.
	dir := t.TempDir()
	t.Setenv("OVN_DPU_TEST_OUT", dir)
	dumpConf := []byte(`{"cniVersion":"1.1.0","name":"net1","ipam":{"type":"envdump"}}`)
	r := Request{NetConf: dumpConf, ContainerID: "own-id", Netns: "/run/netns/x", IfName: "eth7", Args: "A=1;B=2", Path: []string{"/nonexistent", pluginDir}}
	ctx := context.Background()
	res, err = d.Add(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if onlyIP(t, res).String() != "192.0.2.7" {
		t.Fatalf("result %+v", res)
	}
	if err := d.Check(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := d.Del(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := d.GC(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := d.Status(ctx, r); err != nil {
		t.Fatal(err)
	}
	wantPath := "/nonexistent" + string(os.PathListSeparator) + pluginDir
	for _, cmd := range []string{"ADD", "CHECK", "DEL", "GC", "STATUS"} {
		env := readEnv(t, filepath.Join(dir, "env."+cmd))
		for k, v := range env {
			if strings.Contains(v, poison) || strings.Contains(v, processPoison) {
				t.Errorf("%s: %s=%s leaked from the process environment", cmd, k, v)
			}
		}
		want := map[string]string{
			"CNI_COMMAND": cmd, "CNI_PATH": wantPath,
			"CNI_CONTAINERID": "own-id", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth7", "CNI_ARGS": "A=1;B=2",
			"OVN_DPU_TEST_INHERITED": "yes", "OVN_DPU_TEST_OUT": dir,
		}
		if cmd == "GC" || cmd == "STATUS" {
			// These concern the whole network, not one attachment.
			for _, k := range []string{"CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"} {
				want[k] = ""
			}
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", cmd, k, env[k], v)
			}
		}
		stdin, err := os.ReadFile(filepath.Join(dir, "stdin."+cmd))
		if err != nil {
			t.Fatal(err)
		}
		if string(stdin) != string(dumpConf) {
			t.Errorf("%s: plugin read %s, want the config unchanged", cmd, stdin)
		}
	}
}

func TestExplicitBaseEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d := Delegate{Env: []string{"PATH=/usr/bin:/bin", "ONLY_THIS=1", "CNI_NETNS=from-base", "OVN_DPU_TEST_OUT=" + dir}}
	r := Request{NetConf: []byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"envdump"}}`), ContainerID: "c", IfName: "e", Path: []string{pluginDir}}
	if _, err := d.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	env := readEnv(t, filepath.Join(dir, "env.ADD"))
	if env["ONLY_THIS"] != "1" || env["CNI_NETNS"] != "" || env["CNI_CONTAINERID"] != "c" {
		t.Fatalf("env %v", env)
	}
	if _, ok := env["HOME"]; ok {
		t.Fatal("the daemon's environment was used despite Env")
	}
}

func TestStderrReported(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []string
	)
	d := Delegate{OnStderr: func(r *Request, cmd string, stderr []byte) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.PluginType+" "+cmd+" "+strings.TrimSpace(string(stderr)))
	}}
	r := Request{NetConf: []byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"chatty"}}`), ContainerID: "c", IfName: "e", Path: []string{pluginDir}}
	if _, err := d.Add(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "chatty ADD chatty" {
		t.Fatalf("OnStderr saw %q", got)
	}
}

func TestCancelKillsPlugin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		d := Delegate{Env: []string{"PATH=" + os.Getenv("PATH"), "OVN_DPU_TEST_OUT=" + dir}}
		_, err := d.Add(ctx, Request{NetConf: []byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"hang"}}`), ContainerID: "c", IfName: "e", Path: []string{pluginDir}})
		errc <- err
	}()
	started := make(chan error, 1)
	go func() {
		// Opening the FIFO blocks until the plugin is running.
		_, err := os.ReadFile(fifo)
		started <- err
	}()
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case err := <-errc:
		// Let the reader's open return, so its goroutine ends.
		if f, oerr := os.OpenFile(fifo, os.O_RDWR, 0); oerr == nil {
			f.Close()
		}
		t.Fatalf("plugin ended before it was cancelled: %v", err)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("ADD succeeded although its context was cancelled")
	}
}

func TestPluginNotFound(t *testing.T) {
	t.Parallel()
	var d Delegate
	conf := []byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"no-such-ipam"}}`)
	for _, path := range [][]string{{"/opt/cni/nowhere", "/also/not"}, nil} {
		_, err := d.Add(context.Background(), Request{NetConf: conf, ContainerID: "c", IfName: "e", Path: path})
		if !errors.Is(err, ErrPluginNotFound) {
			t.Fatalf("err %v, want ErrPluginNotFound", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, `"no-such-ipam"`) || !strings.Contains(msg, `CNI_PATH "`+strings.Join(path, ":")+`"`) {
			t.Fatalf("error does not name the type and CNI_PATH: %v", err)
		}
	}
}

// The daemon's own CNI_PATH is no fallback: plugins are found only where
// the request says, even when the process's CNI_PATH would have them.
func TestProcessCNIPathIgnored(t *testing.T) {
	t.Setenv("CNI_PATH", pluginDir)
	var d Delegate
	err := d.Del(context.Background(), Request{NetConf: []byte(`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"static"}}`), ContainerID: "c", IfName: "e"})
	if !errors.Is(err, ErrPluginNotFound) {
		t.Fatalf("err %v, want ErrPluginNotFound", err)
	}
}

func TestInvalidNetConf(t *testing.T) {
	t.Parallel()
	var d Delegate
	for _, tc := range []struct {
		conf, pluginType string
		code             uint
		mention          string
	}{
		{`not json`, "", types.ErrDecodingFailure, "decode"},
		{`{"name":"n","ipam":{"type":"static"}}`, "", types.ErrInvalidNetworkConfig, `"cniVersion"`},
		{`{"cniVersion":"1.1.0","ipam":{"type":"static"}}`, "", types.ErrInvalidNetworkConfig, `"name"`},
		{`{"cniVersion":"1.1.0","name":"n"}`, "", types.ErrInvalidNetworkConfig, `"ipam.type"`},
		{`{"cniVersion":"1.1.0","name":"n","ipam":{"type":"static"}}`, "host-local", types.ErrInvalidNetworkConfig, `"host-local"`},
	} {
		err := d.Check(context.Background(), Request{PluginType: tc.pluginType, NetConf: []byte(tc.conf), ContainerID: "c", IfName: "e", Path: []string{pluginDir}})
		var cniErr *types.Error
		if !errors.As(err, &cniErr) || cniErr.Code != tc.code || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err %v, want code %d mentioning %s", tc.conf, err, tc.code, tc.mention)
		}
	}
}
