package e2e

import (
	"encoding/json"
	"maps"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// chain is the configuration list of conf followed by plugins: conf's
// cniVersion and name move to the list, since libcni gives every plugin
// the list's.
func chain(conf map[string]any, plugins ...map[string]any) map[string]any {
	first := maps.Clone(conf)
	delete(first, "cniVersion")
	delete(first, "name")
	list := []map[string]any{first}
	return map[string]any{"cniVersion": conf["cniVersion"], "name": conf["name"], "plugins": append(list, plugins...)}
}

// mustCNI returns what a cnitool run printed, failing t with the daemons'
// logs (the host agent's among them) when it failed.
func (e *env) mustCNI(t *testing.T, what string, r testbed.CNIResult) string {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s\nhost agent log:\n%s", what, r.Err, r.Stdout, r.Stderr, e.bed.Logs(40))
	}
	return r.Stdout
}

// podLink is what `ip -j link show` says of one of a pod's interfaces.
type podLink struct {
	MTU     int    `json:"mtu"`
	Address string `json:"address"`
}

func (e *env) podLink(t *testing.T, pod, ifname string) podLink {
	t.Helper()
	out := testbed.Must(e.bed.InNetns(e.ctx, pod, "ip", "-j", "link", "show", ifname))(t)
	var links []podLink
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s in %s = %s (%v): want one link", ifname, pod, out, err)
	}
	return links[0]
}

// TestChainWithTuning: ovn-dpu-cni first in a chain, tuning after it
// overriding the MTU ovn-dpu-cni set (1400 becomes 1300). ADD passes our
// result through tuning and writes the device information Multus asks
// for; CHECK passes although the MTU is no longer the one our ADD set, as
// a chained plugin may change it without touching the result; DEL brings
// the VF home and removes the LSP and the device information.
func TestChainWithTuning(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 1))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "t"))(t)
	devInfo := filepath.Join(e.bed.Dir, "devinfo", "cni", "ovnnet-"+ns+"_eth0")
	capArgs := testbed.Must(json.Marshal(map[string]string{"CNIDeviceInfoFile": devInfo}))(t)
	env := "CAP_ARGS=" + string(capArgs)
	ours := e.netconf(vf.PCI, e.hostLocal(), map[string]any{"mtu": 1400,
		"capabilities": map[string]bool{"CNIDeviceInfoFile": true}})
	list := chain(ours, map[string]any{"type": "tuning", "mtu": 1300, "dataDir": filepath.Join(e.bed.Dir, "tuning")})

	out := e.mustCNI(t, "cnitool add "+ns, e.bed.CNIToolList(e.ctx, "add", ns, list, env))
	var res current.Result
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ADD result %q: %v", out, err)
	}
	_, subnet, _ := net.ParseCIDR("10.30.0.0/24")
	if res.CNIVersion != "1.1.0" || len(res.Interfaces) != 1 || len(res.IPs) != 1 ||
		res.Interfaces[0].Name != "eth0" || res.Interfaces[0].PciID != vf.PCI ||
		res.Interfaces[0].Sandbox != "/var/run/netns/"+ns || !subnet.Contains(res.IPs[0].Address.IP) {
		t.Fatalf("chain ADD result %s: want ovn-dpu-cni's 1.1.0 result, eth0 with pciID %s in %s and an address in %s",
			out, vf.PCI, ns, subnet)
	}
	if link := e.podLink(t, ns, "eth0"); link.MTU != 1300 || link.Address != res.Interfaces[0].Mac {
		t.Errorf("pod eth0 has mtu %d, mac %s; want tuning's 1300 and the result's %s", link.MTU, link.Address, res.Interfaces[0].Mac)
	}
	wantDevInfo := map[string]any{"type": "pci", "version": "1.1.0", "pci": map[string]any{"pci-address": vf.PCI}}
	if got := readJSONFile(t, devInfo); !reflect.DeepEqual(got, wantDevInfo) {
		t.Errorf("device information %s = %v, want %v", devInfo, got, wantDevInfo)
	}
	if st, err := os.Stat(devInfo); err != nil || st.Mode() != 0o444 {
		t.Errorf("device information %s: %v, want mode -r--r--r--", devInfo, describeMode(st, err))
	}

	e.mustCNI(t, "cnitool check "+ns, e.bed.CNIToolList(e.ctx, "check", ns, list, env))

	e.mustCNI(t, "cnitool del "+ns, e.bed.CNIToolList(e.ctx, "del", ns, list, env))
	e.vfHome(t, vf)
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left after DEL: %v", got)
	}
	if _, err := os.Lstat(devInfo); !os.IsNotExist(err) {
		t.Errorf("device information %s after DEL: %v, want it gone", devInfo, err)
	}
}

// TestCNIVersion04: a cniVersion 0.4.0 configuration gets a 0.4.0 result
// (IP configs with "version", interfaces without the 1.1.0 pciID), and
// CHECK, which 0.4.0 introduced, and DEL work on it.
func TestCNIVersion04(t *testing.T) {
	e := setup(t)
	vf := testbed.Must(e.bed.AddVF(e.ctx, 0, 2))(t)
	ns := testbed.Must(e.bed.AddPod(e.ctx, "v4"))(t)
	conf := e.netconf(vf.PCI, e.hostLocal(), map[string]any{"cniVersion": "0.4.0"})

	out := e.mustCNI(t, "cnitool add "+ns, e.bed.CNITool(e.ctx, "add", ns, conf))
	var res struct {
		CNIVersion string           `json:"cniVersion"`
		Interfaces []map[string]any `json:"interfaces"`
		IPs        []map[string]any `json:"ips"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ADD result %q: %v", out, err)
	}
	if res.CNIVersion != "0.4.0" || len(res.Interfaces) != 1 || len(res.IPs) != 1 {
		t.Fatalf("ADD result %s: want a 0.4.0 result with one interface and one IP", out)
	}
	iface := res.Interfaces[0]
	if keys := slices.Sorted(maps.Keys(iface)); !slices.Equal(keys, []string{"mac", "name", "sandbox"}) ||
		iface["name"] != "eth0" || iface["sandbox"] != "/var/run/netns/"+ns {
		t.Errorf("ADD interface %v: want only 0.4.0's name eth0, mac and sandbox %s", iface, ns)
	}
	if ip := res.IPs[0]; ip["version"] != "4" || ip["interface"] != float64(0) {
		t.Errorf("ADD ip %v: want 0.4.0's \"version\": \"4\" and interface 0", ip)
	}

	e.mustCNI(t, "cnitool check "+ns, e.bed.CNITool(e.ctx, "check", ns, conf))

	e.mustCNI(t, "cnitool del "+ns, e.bed.CNITool(e.ctx, "del", ns, conf))
	e.vfHome(t, vf)
	if got := e.lsps(t); len(got) != 0 {
		t.Errorf("LSPs left after DEL: %v", got)
	}
}

func readJSONFile(t *testing.T, path string) any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s is not JSON: %v\n%s", path, err, data)
	}
	return v
}

// describeMode is a file's mode, or why there is none, for a failure.
func describeMode(st os.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return "mode " + st.Mode().String()
}
