package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ovndpuv1 "github.com/ovn-dpu/ovn-dpu/proto/ovndpu/v1"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// hostile is the bed of TestHostileInput: one VF the cases aim at, one
// pod namespace, and the state both start in.
type hostile struct {
	e   *env
	vf  *testbed.VF
	pod string
	// conf is the configuration every case starts from: static addresses,
	// so that nothing but the case's own fault stops the ADD.
	conf map[string]any
	// vfLine is `ip -o link show` of the VF before any case ran: name,
	// MAC, MTU, state and alias must be exactly that after each one.
	vfLine string
}

// hostileCase is one hostile invocation of the real ovn-dpu-cni binary.
type hostileCase struct {
	name string
	// conf holds keys replacing the default configuration's; a nil value
	// removes the key. stdin, when set, is sent instead of any configuration.
	conf  map[string]any
	stdin []byte
	// env holds CNI_* variables replacing the defaults (CNI_COMMAND=ADD,
	// a container id of the case's own, CNI_NETNS of the pod, CNI_IFNAME
	// eth0); "" leaves the variable unset.
	env map[string]string
	// setup prepares the case and registers its own cleanup.
	setup func(t *testing.T)
	// code 0: the invocation must succeed. msg: what the message must
	// contain (the field and the value at fault).
	code uint
	msg  []string
	// undone: the ADD starts its steps before it fails, and undoes them
	// (the control case, which shows that the check for it works).
	undone bool
}

// TestHostileInput execs the real ovn-dpu-cni with broken, malformed and
// hostile input, as a confused or malicious runtime could, against a real
// host agent and OVN. Every case must fail with its CNI code and a message
// naming the field and value, quickly, and leave nothing behind: no LSP
// in NB, the VF at home exactly as it was, no new link in the pod, no
// attachment record.
func TestHostileInput(t *testing.T) {
	start := time.Now()
	e := setup(t)
	b := e.bed
	h := &hostile{e: e, vf: testbed.Must(b.AddVF(e.ctx, 0, 9))(t), pod: testbed.Must(b.AddPod(e.ctx, "hostile"))(t)}
	h.conf = e.netconf(h.vf.PCI, nil, map[string]any{"runtimeConfig": map[string]any{"ips": []string{"10.50.0.5/24"}}})
	h.vfLine = h.linkLine(t)
	// VFs the host sees without a netdev, a PF without its netdev, a VF the DPU has no
	// representor for, and a switch on which OVN assigns IPv6 addresses.
	vfio := testbed.Must(b.AddNetdevlessVF(0, 20, "vfio-pci"))(t)
	stub := testbed.Must(b.AddNetdevlessVF(0, 21, "pci-stub"))(t)
	unbound := testbed.Must(b.AddNetdevlessVF(0, 22, ""))(t)
	pf := b.PFPCI(0)
	orphan := testbed.Must(b.AddVFs(e.ctx, 0, []int{23}, testbed.VFOptions{Unpublished: true}))(t)[0]
	testbed.Must(b.NBCtl(e.ctx, "ls-add", "net6", "--", "set", "Logical_Switch", "net6", "other_config:ipv6_prefix=fd00:60::"))(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "not-a-netns")
	testbed.Must(0, os.WriteFile(file, []byte("x"), 0o644))(t)

	withIPs := func(ips ...string) map[string]any {
		return map[string]any{"ips": ips}
	}
	big := func(n int) []byte { // a valid configuration of n bytes
		conf := h.merged(map[string]any{"deviceID": "eth0", "padding": ""})
		data, _ := json.Marshal(conf)
		conf["padding"] = strings.Repeat("x", n-len(data))
		data, _ = json.Marshal(conf)
		return data
	}
	podName := strings.Repeat("p", 120<<10) // under the kernel's 128 KiB per variable
	cases := []hostileCase{
		// The configuration's envelope.
		{name: "stdin not JSON", stdin: []byte(`{"cniVersion": "1.1.0", "name": `), code: 6,
			msg: []string{"network configuration (stdin)", "JSON"}},
		{name: "stdin a JSON array", stdin: []byte(`[{"cniVersion": "1.1.0"}]`), code: 6, msg: []string{"JSON object"}},
		{name: "stdin empty", stdin: []byte{}, code: 6, msg: []string{"network configuration (stdin)"}},
		{name: "stdin null", stdin: []byte(`null`), code: 6, msg: []string{"JSON object"}},
		{name: "name missing", conf: map[string]any{"name": nil}, code: 7, msg: []string{"name is missing"}},
		{name: "name with a space", conf: map[string]any{"name": "ovn net"}, code: 7, msg: []string{`invalid name "ovn net"`}},
		{name: "name a number", conf: map[string]any{"name": 5}, code: 7, msg: []string{"invalid name 5", "a string"}},
		{name: "cniVersion unknown", conf: map[string]any{"cniVersion": "9.9.9"}, code: 1,
			msg: []string{`cniVersion "9.9.9"`, "0.4.0, 1.0.0 or 1.1.0"}},
		{name: "cniVersion older than supported", conf: map[string]any{"cniVersion": "0.3.1"}, code: 1, msg: []string{`cniVersion "0.3.1"`}},
		{name: "cniVersion malformed", conf: map[string]any{"cniVersion": "1.x"}, code: 7, msg: []string{`invalid cniVersion "1.x"`}},
		{name: "cniVersion a number", conf: map[string]any{"cniVersion": 1.1}, code: 7, msg: []string{"invalid cniVersion 1.1", "a string"}},
		{name: "cniVersion missing", conf: map[string]any{"cniVersion": nil}, code: 1, msg: []string{"cniVersion is missing", "0.1.0"}},
		{name: "config of 10 MiB", stdin: big(10 << 20), code: 7, msg: []string{"larger than 1 MiB"}},
		{name: "config one byte over 1 MiB", stdin: big(1<<20 + 1), code: 7, msg: []string{"larger than 1 MiB"}},
		// At the limit the configuration crosses to the agent, whose answer
		// is about the deviceID.
		{name: "config of exactly 1 MiB", stdin: big(1 << 20), code: 7, msg: []string{`deviceID "eth0" is not a PCI address`}},

		// Required keys and types.
		{name: "logicalSwitch missing", conf: map[string]any{"logicalSwitch": nil}, code: 7, msg: []string{"logicalSwitch is required"}},
		{name: "deviceID missing", conf: map[string]any{"deviceID": nil}, code: 7, msg: []string{"deviceID is required"}},
		{name: "agentSocket relative", conf: map[string]any{"agentSocket": "host/agent.sock"}, code: 7,
			msg: []string{`invalid agentSocket "host/agent.sock"`, "absolute path"}},
		{name: "agentSocket a number", conf: map[string]any{"agentSocket": 7}, code: 7, msg: []string{"invalid agentSocket 7"}},
		{name: "logicalSwitch a list", conf: map[string]any{"logicalSwitch": []string{"net1"}}, code: 7, msg: []string{`invalid logicalSwitch ["net1"]`}},
		{name: "deviceID a number", conf: map[string]any{"deviceID": 1234}, code: 7, msg: []string{"invalid deviceID 1234", "a string"}},
		{name: "mtu a string", conf: map[string]any{"mtu": "1400"}, code: 7, msg: []string{`invalid mtu "1400"`}},
		{name: "mtu a string of 100 KiB", conf: map[string]any{"mtu": strings.Repeat("9", 100<<10)}, code: 7,
			msg: []string{`invalid mtu "999`, "(102402 bytes)"}},
		{name: "timeoutSeconds a string", conf: map[string]any{"timeoutSeconds": "30"}, code: 7, msg: []string{`invalid timeoutSeconds "30"`}},
		{name: "ipam a string", conf: map[string]any{"ipam": "host-local"}, code: 7, msg: []string{`invalid ipam "host-local"`, "JSON object"}},
		{name: "ipam without type", conf: map[string]any{"ipam": map[string]any{"subnet": "10.0.0.0/24"}}, code: 7,
			msg: []string{"ipam.type is missing"}},
		{name: "runtimeConfig a string", conf: map[string]any{"runtimeConfig": "mac"}, code: 7, msg: []string{`invalid runtimeConfig "mac"`}},

		// deviceID that names no usable VF.
		{name: "deviceID a netdev name", conf: map[string]any{"deviceID": "eth0"}, code: 7, msg: []string{`deviceID "eth0" is not a PCI address`}},
		{name: "deviceID with non-hex bus", conf: map[string]any{"deviceID": "0000:zz:00.1"}, code: 7,
			msg: []string{`deviceID "0000:zz:00.1" is not a PCI address`}},
		{name: "deviceID a path", conf: map[string]any{"deviceID": "../../../etc"}, code: 7, msg: []string{`deviceID "../../../etc"`}},
		{name: "deviceID of no device", conf: map[string]any{"deviceID": "0000:10:1f.7"}, code: 102,
			msg: []string{"VF 0000:10:1f.7 cannot be attached", "no such PCI device"}},
		// A PF is attached whole; this one's netdev (hpf0) exists in sysfs
		// only, as a PF whose netdev is in another namespace.
		{name: "deviceID a PF whose netdev is not here", conf: map[string]any{"deviceID": pf}, code: 102,
			msg: []string{"cannot move PF " + pf + " (hpf0)"}},
		{name: "deviceID an SF the host does not have", conf: map[string]any{"deviceID": "mlx5_core.sf.99"}, code: 102,
			msg: []string{"SF mlx5_core.sf.99 cannot be attached", "no such auxiliary device"}},
		{name: "deviceID an auxiliary name with a path", conf: map[string]any{"deviceID": "../sf.1"}, code: 7,
			msg: []string{`deviceID "../sf.1" is not a PCI address or an auxiliary device name`}},
		{name: "deviceID a VF on vfio-pci", conf: map[string]any{"deviceID": vfio}, code: 102,
			msg: []string{"VF " + vfio + " cannot be attached", "bound to vfio-pci"}},
		{name: "deviceID a VF of a driver without netdev", conf: map[string]any{"deviceID": stub}, code: 102,
			msg: []string{"VF " + stub + " cannot be attached", "no netdev", "pci-stub"}},
		{name: "deviceID a VF bound to no driver", conf: map[string]any{"deviceID": unbound}, code: 102,
			msg: []string{"VF " + unbound + " cannot be attached", "bound to no driver"}},

		// CNI_NETNS.
		{name: "CNI_NETNS missing", env: map[string]string{"CNI_NETNS": ""}, code: 4, msg: []string{"CNI_NETNS"}},
		{name: "CNI_NETNS does not exist", env: map[string]string{"CNI_NETNS": "/var/run/netns/odpu-no-such-pod"}, code: 4,
			msg: []string{`CNI_NETNS "/var/run/netns/odpu-no-such-pod"`, "not found"}},
		{name: "CNI_NETNS relative", env: map[string]string{"CNI_NETNS": "var/run/netns/" + h.pod}, code: 4,
			msg: []string{`CNI_NETNS "var/run/netns/` + h.pod + `"`, "absolute path"}},
		{name: "CNI_NETNS a regular file", env: map[string]string{"CNI_NETNS": file}, code: 4,
			msg: []string{fmt.Sprintf("CNI_NETNS %q", file), "not a network namespace"}},
		{name: "CNI_NETNS a mount namespace", env: map[string]string{"CNI_NETNS": "/proc/self/ns/mnt"}, code: 4,
			msg: []string{`CNI_NETNS "/proc/self/ns/mnt"`, "not a network namespace"}},
		{name: "CNI_NETNS a directory", env: map[string]string{"CNI_NETNS": dir}, code: 4,
			msg: []string{fmt.Sprintf("CNI_NETNS %q", dir), "not a network namespace"}},
		{name: "CNI_NETNS the host's own", env: map[string]string{"CNI_NETNS": "/var/run/netns/" + b.HostNetns}, code: 4,
			msg: []string{`CNI_NETNS "/var/run/netns/` + b.HostNetns + `"`, "host"}},
		{name: "CNI_NETNS not UTF-8", env: map[string]string{"CNI_NETNS": "/var/run/netns/\xff\xfe"}, code: 4,
			msg: []string{"CNI_NETNS", "UTF-8"}},

		// CNI_IFNAME.
		{name: "CNI_IFNAME taken in the pod", setup: h.dummyInPod("eth0"), code: 4,
			msg: []string{`CNI_IFNAME "eth0"`, "already", h.pod}},
		{name: "CNI_IFNAME of 16 bytes", env: map[string]string{"CNI_IFNAME": "abcdefghijklmnop"}, code: 4,
			msg: []string{`CNI_IFNAME "abcdefghijklmnop"`, "15 bytes"}},
		{name: "CNI_IFNAME with a slash", env: map[string]string{"CNI_IFNAME": "eth/0"}, code: 4, msg: []string{`CNI_IFNAME "eth/0"`}},
		{name: "CNI_IFNAME with a space", env: map[string]string{"CNI_IFNAME": "eth 0"}, code: 4, msg: []string{`CNI_IFNAME "eth 0"`}},
		{name: "CNI_IFNAME with a tab", env: map[string]string{"CNI_IFNAME": "eth\t0"}, code: 4, msg: []string{`CNI_IFNAME "eth\t0"`}},
		{name: "CNI_IFNAME with a colon", env: map[string]string{"CNI_IFNAME": "eth0:1"}, code: 4, msg: []string{`CNI_IFNAME "eth0:1"`}},
		{name: "CNI_IFNAME dot dot", env: map[string]string{"CNI_IFNAME": ".."}, code: 4, msg: []string{`CNI_IFNAME ".."`}},
		{name: "CNI_IFNAME empty", env: map[string]string{"CNI_IFNAME": ""}, code: 4, msg: []string{"CNI_IFNAME"}},
		{name: "CNI_IFNAME not UTF-8", env: map[string]string{"CNI_IFNAME": "eth\xff"}, code: 4, msg: []string{"CNI_IFNAME", "UTF-8"}},
		{name: "CNI_CONTAINERID with a space", env: map[string]string{"CNI_CONTAINERID": "ctr 1"}, code: 4,
			msg: []string{`CNI_CONTAINERID "ctr 1"`}},
		{name: "CNI_CONTAINERID missing", env: map[string]string{"CNI_CONTAINERID": ""}, code: 4, msg: []string{"CNI_CONTAINERID"}},
		{name: "CNI_COMMAND unknown", env: map[string]string{"CNI_COMMAND": "ATTACH"}, code: 4, msg: []string{"CNI_COMMAND", "ATTACH"}},

		// MAC and MTU.
		{name: "mac not hex", conf: map[string]any{"mac": "zz:zz:zz:zz:zz:zz"}, code: 7, msg: []string{`invalid mac "zz:zz:zz:zz:zz:zz"`}},
		{name: "mac multicast", conf: map[string]any{"mac": "01:00:5e:00:00:01"}, code: 7,
			msg: []string{`invalid mac "01:00:5e:00:00:01"`, "unicast"}},
		{name: "mac broadcast", conf: map[string]any{"mac": "ff:ff:ff:ff:ff:ff"}, code: 7, msg: []string{`invalid mac "ff:ff:ff:ff:ff:ff"`}},
		{name: "mac all zeros", conf: map[string]any{"mac": "00:00:00:00:00:00"}, code: 7, msg: []string{`invalid mac "00:00:00:00:00:00"`}},
		{name: "mac of InfiniBand length", conf: map[string]any{"mac": "00:00:00:00:fe:80:00:00:00:00:00:00:02:00:5e:10:00:00:00:01"},
			code: 7, msg: []string{"invalid mac", "0e:00:00:00:00:01"}},
		{name: "runtimeConfig.mac short", conf: map[string]any{"runtimeConfig": map[string]any{"mac": "0e:00:00:00:01", "ips": []string{"10.50.0.5/24"}}},
			code: 7, msg: []string{`invalid runtimeConfig.mac "0e:00:00:00:01"`}},
		{name: "CNI_ARGS MAC, which is not read", env: map[string]string{"CNI_ARGS": "MAC=zz:00:00:00:00:01"}, code: 4,
			msg: []string{"CNI_ARGS", `"MAC"`, "IgnoreUnknown"}},
		{name: "mtu 0", conf: map[string]any{"mtu": 0}, code: 7, msg: []string{"invalid mtu 0", "68 to 65535"}},
		{name: "mtu negative", conf: map[string]any{"mtu": -1500}, code: 7, msg: []string{"invalid mtu -1500"}},
		{name: "mtu 70000", conf: map[string]any{"mtu": 70000}, code: 7, msg: []string{"invalid mtu 70000"}},
		{name: "mtu 67", conf: map[string]any{"mtu": 67}, code: 7, msg: []string{"invalid mtu 67"}},
		{name: "mtu a fraction", conf: map[string]any{"mtu": 1500.5}, code: 7, msg: []string{"invalid mtu 1500.5"}},
		{name: "mtu below IPv6's minimum with a static IPv6 address",
			conf: map[string]any{"mtu": 1200, "runtimeConfig": withIPs("10.50.0.5/24", "fd00:50::5/64")}, code: 7,
			msg: []string{"mtu 1200", "1280", "fd00:50::5/64"}},
		{name: "mtu below IPv6's minimum on a switch OVN assigns IPv6 on",
			conf: map[string]any{"mtu": 1279, "logicalSwitch": "net6", "runtimeConfig": nil}, code: 7,
			msg: []string{"mtu 1279", "1280", "net6", "ipv6_prefix"}},

		// CNI_ARGS, read as libcni's types.LoadArgs does.
		{name: "CNI_ARGS key without value", env: map[string]string{"CNI_ARGS": "K8S_POD_NAME"}, code: 4,
			msg: []string{"CNI_ARGS", `"K8S_POD_NAME"`, "KEY=VALUE"}},
		{name: "CNI_ARGS empty key", env: map[string]string{"CNI_ARGS": "=x"}, code: 4, msg: []string{"CNI_ARGS", `"=x"`}},
		{name: "CNI_ARGS two equals signs and empty pairs", env: map[string]string{"CNI_ARGS": "a=b=c;;"}, code: 4,
			msg: []string{"CNI_ARGS", `"a=b=c"`, "KEY=VALUE"}},
		{name: "CNI_ARGS empty pair", env: map[string]string{"CNI_ARGS": "IgnoreUnknown=1;;K8S_POD_NAME=web"}, code: 4,
			msg: []string{"CNI_ARGS", `pair 2 ""`}},
		{name: "CNI_ARGS unknown key", env: map[string]string{"CNI_ARGS": "K8S_POD_NAME=web;FOO=bar"}, code: 4,
			msg: []string{"CNI_ARGS", `"FOO"`, "IgnoreUnknown"}},
		{name: "CNI_ARGS IgnoreUnknown not a boolean", env: map[string]string{"CNI_ARGS": "IgnoreUnknown=maybe"}, code: 4,
			msg: []string{"CNI_ARGS", `IgnoreUnknown "maybe"`}},
		{name: "CNI_ARGS not UTF-8", env: map[string]string{"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=\xff\xfe"}, code: 4,
			msg: []string{"CNI_ARGS", "UTF-8"}},
		{name: "CNI_ARGS pod name of 120 KiB", env: map[string]string{"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=" + podName}, code: 4,
			msg: []string{"CNI_ARGS", "K8S_POD_NAME", "253 bytes"}},

		// The control, which shows that undone() sees an ADD that started
		// its steps: only the DPU can tell it has no representor for a VF,
		// once the LSP is written.
		{name: "control: the DPU has no representor", conf: map[string]any{"deviceID": orphan.PCI}, code: 100,
			msg: []string{"no representor for pf-mac " + orphan.PFMAC.String()}, undone: true},

		// DEL is never wedged: what it does not read cannot fail it.
		{name: "DEL with CNI_ARGS not UTF-8", env: map[string]string{"CNI_COMMAND": "DEL", "CNI_ARGS": "K8S_POD_NAME=\xff"}},
		{name: "DEL with malformed CNI_ARGS", env: map[string]string{"CNI_COMMAND": "DEL", "CNI_ARGS": "a=b=c;;"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { h.run(t, i, tc) })
	}

	t.Run("CNI_ARGS of 1 MiB cannot reach the plugin", func(t *testing.T) {
		// The kernel refuses any environment string over MAX_ARG_STRLEN
		// (128 KiB) at exec: a runtime cannot send it.
		r := b.ExecBinary(e.ctx, "ovn-dpu-cni", h.stdin(nil), h.environ(99, map[string]string{"CNI_ARGS": "K8S_POD_NAME=" + strings.Repeat("p", 1<<20)})...)
		if !errors.Is(r.Err, syscall.E2BIG) {
			t.Fatalf("exec with a 1 MiB CNI_ARGS: %v, want E2BIG; stdout %s", r.Err, r.Stdout)
		}
	})
	t.Run("host agent bounds what it receives", func(t *testing.T) { h.agentLimits(t) })
	t.Run("the same VF attaches afterwards", func(t *testing.T) {
		// The agent survived all of the above, and nothing of it was left to
		// stand in the way of a good ADD.
		conf := h.merged(nil)
		env := "CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAMESPACE=prod;K8S_POD_NAME=web-0"
		e.add(t, h.pod, conf, env)
		if got := e.lsps(t); len(got) != 1 {
			t.Fatalf("after a good ADD the host agent owns LSPs %v, want 1", got)
		}
		e.del(t, h.pod, conf, env)
		e.vfHome(t, h.vf)
		if got := e.lsps(t); len(got) != 0 {
			t.Fatalf("LSPs left after DEL: %v", got)
		}
	})
	if log, err := os.ReadFile(e.host.Log); err != nil || strings.Contains(string(log), "panic") {
		t.Errorf("host agent log (%v) mentions a panic:\n%s", err, testbed.Tail(e.host.Log, 40))
	}
	t.Logf("%d hostile cases in %v (bed included)", len(cases), time.Since(start))
}

// merged is the default configuration with over's keys (nil: removed).
func (h *hostile) merged(over map[string]any) map[string]any {
	conf := map[string]any{}
	for k, v := range h.conf {
		conf[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(conf, k)
		} else {
			conf[k] = v
		}
	}
	return conf
}

func (h *hostile) stdin(over map[string]any) []byte {
	data, err := json.Marshal(h.merged(over))
	if err != nil {
		panic(err)
	}
	return data
}

// environ is the CNI_* environment of case i with over's variables
// ("" = unset).
func (h *hostile) environ(i int, over map[string]string) []string {
	vars := map[string]string{"CNI_COMMAND": "ADD", "CNI_CONTAINERID": fmt.Sprintf("hostile-%02d", i),
		"CNI_NETNS": "/var/run/netns/" + h.pod, "CNI_IFNAME": "eth0"}
	for k, v := range over {
		vars[k] = v
	}
	var env []string
	for k, v := range vars {
		if v != "" {
			env = append(env, k+"="+v)
		}
	}
	return env
}

func (h *hostile) run(t *testing.T, i int, tc hostileCase) {
	for _, k := range []string{"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"} {
		if _, set := os.LookupEnv(k); set {
			t.Fatalf("the test's own environment sets %s", k)
		}
	}
	if tc.setup != nil {
		tc.setup(t)
	}
	podLinks := h.podLinks(t)
	stdin := tc.stdin
	if stdin == nil {
		stdin = h.stdin(tc.conf)
	}
	start := time.Now()
	r := h.e.bed.ExecBinary(h.e.ctx, "ovn-dpu-cni", stdin, h.environ(i, tc.env)...)
	took := time.Since(start)
	code, msg := r.CNIError()
	t.Logf("%v, %d bytes of stdin read: code %d: %s", took, r.StdinRead, code, msg)
	if command := tc.env["CNI_COMMAND"]; code == 0 && tc.code != 0 && (command == "" || command == "ADD") {
		// An ADD that wrongly succeeded must not poison the cases after it.
		defer h.e.bed.ExecBinary(h.e.ctx, "ovn-dpu-cni", stdin, h.environ(i, mergeEnv(tc.env, "CNI_COMMAND", "DEL"))...)
	}
	var exit *exec.ExitError
	switch {
	case tc.code == 0 && (r.Err != nil || r.Stdout != ""):
		t.Errorf("err %v, stdout %q, stderr %q; want success, printing nothing", r.Err, r.Stdout, r.Stderr)
	case tc.code != 0 && (!errors.As(r.Err, &exit) || exit.ExitCode() != 1):
		t.Errorf("err %v; want exit status 1", r.Err)
	}
	if code != tc.code {
		t.Errorf("code %d, want %d; stdout %s, stderr %s", code, tc.code, r.Stdout, r.Stderr)
	}
	for _, want := range tc.msg {
		if !strings.Contains(msg, want) {
			t.Errorf("msg %q does not name %q", msg, want)
		}
	}
	// A message echoes a bounded part of what it refuses, whatever its size.
	if len(r.Stdout) > 4<<10 {
		t.Errorf("the error is %d bytes long", len(r.Stdout))
	}
	// Nothing here waits for OVN or the DPU: each answer is immediate.
	if took > 10*time.Second {
		t.Errorf("took %v", took)
	}
	// The plugin reads no more of stdin than it accepts (what pipes and
	// exec buffer on the way comes on top).
	if r.StdinRead > 1<<20+1+96<<10 {
		t.Errorf("%d bytes of stdin consumed", r.StdinRead)
	}
	h.nothingLeft(t, podLinks)
	if undone := h.undone(t, fmt.Sprintf("hostile-%02d", i)); undone != tc.undone {
		t.Errorf("the host agent undid an ADD that got as far as a side effect: %v, want %v", undone, tc.undone)
	}
}

// mergeEnv is over with key set to value.
func mergeEnv(over map[string]string, key, value string) map[string]string {
	env := map[string]string{key: value}
	for k, v := range over {
		if k != key {
			env[k] = v
		}
	}
	return env
}

// undone reports whether the host agent logged undoing an ADD of
// container id: it does once the ADD recorded its attachment, that is,
// as it starts its first side effect. A request refused before has
// nothing to undo.
func (h *hostile) undone(t *testing.T, id string) bool {
	t.Helper()
	log := testbed.Must(os.ReadFile(h.e.host.Log))(t)
	for _, line := range strings.Split(string(log), "\n") {
		if strings.Contains(line, "container_id="+id+" ") && strings.Contains(line, `msg="ADD failed; undoing its steps"`) {
			return true
		}
	}
	return false
}

// nothingLeft checks that a failed invocation changed nothing.
func (h *hostile) nothingLeft(t *testing.T, podLinks []string) {
	t.Helper()
	e := h.e
	if out := testbed.Must(e.bed.NBCtl(e.ctx, "--bare", "--columns=name", "list", "Logical_Switch_Port"))(t); out != "" {
		t.Errorf("LSPs in NB: %s", out)
	}
	e.vfHome(t, h.vf)
	if line := h.linkLine(t); line != h.vfLine {
		t.Errorf("the VF changed:\n  was %s\n  now %s", h.vfLine, line)
	}
	if got := h.podLinks(t); !slices.Equal(got, podLinks) {
		t.Errorf("pod links %v, before the call %v", got, podLinks)
	}
	entries, err := os.ReadDir(e.host.StateDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, entry := range entries {
		t.Errorf("state dir %s holds %s", e.host.StateDir, entry.Name())
	}
}

// linkLine is the VF's one-line `ip link show` in the host namespace.
func (h *hostile) linkLine(t *testing.T) string {
	t.Helper()
	return testbed.Must(h.e.bed.HostIP(h.e.ctx, "-o", "link", "show", "dev", h.vf.Netdev))(t)
}

// podLinks lists the pod's link names, sorted.
func (h *hostile) podLinks(t *testing.T) []string {
	t.Helper()
	out := testbed.Must(h.e.bed.InNetns(h.e.ctx, "", "ip", "-n", h.pod, "-o", "link", "show"))(t)
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 {
			name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// dummyInPod makes a setup that creates a link name in the pod (a veth:
// the bed's kernel may lack the dummy module) and removes it when the case
// ends.
func (h *hostile) dummyInPod(name string) func(t *testing.T) {
	return func(t *testing.T) {
		testbed.Must(h.e.bed.InNetns(h.e.ctx, "", "ip", "-n", h.pod, "link", "add", name, "type", "veth", "peer", "name", name+"p"))(t)
		t.Cleanup(func() {
			if _, err := h.e.bed.InNetns(h.e.ctx, "", "ip", "-n", h.pod, "link", "del", name); err != nil {
				t.Error(err)
			}
		})
	}
}

// agentLimits sends the host agent, over its socket, what the plugin
// never would: a request larger than its gRPC bound, and a configuration
// over 1 MiB under it.
func (h *hostile) agentLimits(t *testing.T) {
	e := h.e
	conn, err := grpc.NewClient("unix:"+e.host.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := ovndpuv1.NewHostAgentClient(conn)
	req := func(config []byte) *ovndpuv1.CNIRequest {
		return &ovndpuv1.CNIRequest{Command: "ADD", ContainerId: "hostile-grpc", Netns: "/var/run/netns/" + h.pod,
			Ifname: "eth0", Path: "/opt/cni/bin", Config: config}
	}
	pad := func(n int) []byte {
		conf := h.merged(map[string]any{"padding": strings.Repeat("x", n)})
		data, _ := json.Marshal(conf)
		return data
	}
	podLinks := h.podLinks(t)
	_, err = client.CNI(e.ctx, req(pad(3<<20)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("a 3 MiB request: %v, want ResourceExhausted", err)
	}
	resp, err := client.CNI(e.ctx, req(pad(3<<19)))
	if err != nil {
		t.Fatalf("a 1.5 MiB configuration: %v", err)
	}
	if cerr := resp.GetError(); cerr.GetCode() != 7 || !strings.Contains(cerr.GetMsg(), "larger than 1 MiB") {
		t.Errorf("a 1.5 MiB configuration: answer %v, want code 7 naming the 1 MiB bound", resp)
	}
	h.nothingLeft(t, podLinks)
}
