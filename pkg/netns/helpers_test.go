package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/ovn-dpu/ovn-dpu/pkg/testenv"
)

// Everything the tests create carries these prefixes, so a leak is easy
// to spot: namespaces odpu-nst-<pid>-<rand>, links nst<rand><role>.
const (
	nsPrefix   = "odpu-nst-"
	linkPrefix = "nst"
)

// requireRoot skips (fails under CI=true) when the machine cannot host
// the tests: they need root and iproute2 to make namespaces and veths.
func requireRoot(t testing.TB) {
	t.Helper()
	testenv.Require(t, "netns tests", true, []string{"ip"}, "run as root with iproute2 installed")
}

func randHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func run(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// testNS is a named namespace that is deleted when the test ends, which
// also destroys any veth still in it.
type testNS struct {
	name, path string
}

func newTestNS(t testing.TB) testNS {
	t.Helper()
	name := fmt.Sprintf("%s%d-%s", nsPrefix, os.Getpid(), randHex(t, 4))
	run(t, "ip", "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	for _, dir := range []string{"/var/run/netns", "/run/netns"} {
		if p := filepath.Join(dir, name); fileExists(p) {
			return testNS{name: name, path: p}
		}
	}
	t.Fatalf("ip netns add %s: namespace file not found", name)
	return testNS{}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func (n testNS) ip(t testing.TB, args ...string) {
	t.Helper()
	run(t, append([]string{"ip", "-n", n.name}, args...)...)
}

func (n testNS) do(t testing.TB, fn func() error) {
	t.Helper()
	if err := ns.WithNetNSPath(n.path, func(ns.NetNS) error { return fn() }); err != nil {
		t.Fatalf("in %s: %v", n.name, err)
	}
}

// vf is a veth end standing in for a VF; its peer stays beside it, up, so
// the VF has carrier once up.
type vf struct {
	name string
	mac  net.HardwareAddr
	mtu  int
}

func newVF(t testing.TB, host testNS) vf {
	t.Helper()
	id := randHex(t, 4)
	v := vf{name: linkPrefix + id + "v", mac: randMAC(t), mtu: 1600}
	makeVeth(t, host, v, linkPrefix+id+"p")
	return v
}

func makeVeth(t testing.TB, host testNS, v vf, peer string) {
	t.Helper()
	host.ip(t, "link", "add", v.name, "mtu", fmt.Sprint(v.mtu), "address", v.mac.String(),
		"type", "veth", "peer", "name", peer)
	host.ip(t, "link", "set", peer, "up")
}

func randMAC(t testing.TB) net.HardwareAddr {
	t.Helper()
	mac, err := net.ParseMAC("02:" + strings.Join(splitPairs(randHex(t, 5)), ":"))
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

func splitPairs(s string) []string {
	var out []string
	for i := 0; i+2 <= len(s); i += 2 {
		out = append(out, s[i:i+2])
	}
	return out
}

// link reads a link's state in n; ok is false when there is none.
func (n testNS) link(t *testing.T, name string) (st linkState, ok bool) {
	t.Helper()
	n.do(t, func() error {
		l, err := linkByName(name)
		if errors.Is(err, ErrLinkNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		st, ok = stateOf(l), true
		return nil
	})
	return st, ok
}

func (n testNS) linkNames(t *testing.T) []string {
	t.Helper()
	var names []string
	n.do(t, func() error {
		links, err := netlinksafe.LinkList()
		for _, l := range links {
			names = append(names, l.Attrs().Name)
		}
		return err
	})
	return names
}

// addrs lists the link's addresses other than IPv6 link-local ones.
func (n testNS) addrs(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	n.do(t, func() error {
		l, err := linkByName(name)
		if err != nil {
			return err
		}
		all, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		for _, a := range all {
			if a.IP.To4() != nil || !a.IP.IsLinkLocalUnicast() {
				out = append(out, a.IPNet.String())
			}
		}
		return err
	})
	return out
}

// routes lists the link's main-table routes as "dst via gw" strings.
func (n testNS) routes(t *testing.T, name string) []string {
	t.Helper()
	var out []string
	n.do(t, func() error {
		l, err := linkByName(name)
		if err != nil {
			return err
		}
		rs, err := netlinksafe.RouteList(l, netlink.FAMILY_ALL)
		for _, r := range rs {
			if r.Gw != nil {
				out = append(out, describeRoute(r))
			}
		}
		return err
	})
	return out
}

func ipConfig(t testing.TB, cidr, gw string) *current.IPConfig {
	t.Helper()
	ip, ipn, err := net.ParseCIDR(cidr)
	if err != nil {
		t.Fatal(err)
	}
	ipn.IP = ip
	return &current.IPConfig{Address: *ipn, Gateway: net.ParseIP(gw)}
}

func route(t testing.TB, dst, gw string) *types.Route {
	t.Helper()
	_, ipn, err := net.ParseCIDR(dst)
	if err != nil {
		t.Fatal(err)
	}
	return &types.Route{Dst: *ipn, GW: net.ParseIP(gw)}
}

// netnsDirEntries lists the named namespaces, leaving out those of other
// test processes, which `go test ./...` runs beside this one: they are
// named odpu-<pid>-… (test/testbed) or odpu-nst-<pid>-… (here).
func netnsDirEntries(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, dir := range []string{"/var/run/netns", "/run/netns"} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !otherTestProcess(e.Name()) {
				out[e.Name()] = true
			}
		}
	}
	return out
}

func otherTestProcess(nsName string) bool {
	rest, ok := strings.CutPrefix(nsName, "odpu-")
	if !ok {
		return false
	}
	pid, _, _ := strings.Cut(strings.TrimPrefix(rest, "nst-"), "-")
	return pid != strconv.Itoa(os.Getpid())
}

// nsHandles counts this process's open network-namespace descriptors, so
// a test can tell that a call leaked none.
func nsHandles(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, "net:[") {
			n++
		}
	}
	return n
}

// wantHome asserts the VF is in host exactly as before MoveIn: original
// name, MAC and MTU, no alias, down.
func wantHome(t *testing.T, host testNS, v vf) {
	t.Helper()
	st, ok := host.link(t, v.name)
	if !ok {
		t.Fatalf("VF %s is not back in host netns; host has %v", v.name, host.linkNames(t))
	}
	if st.mac.String() != v.mac.String() || st.mtu != v.mtu || st.alias != "" || st.up {
		t.Errorf("VF at home: mac %s mtu %d alias %q up %v; want mac %s mtu %d, no alias, down",
			st.mac, st.mtu, st.alias, st.up, v.mac, v.mtu)
	}
}

// wantNotInPod asserts the pod holds nothing but lo.
func wantNotInPod(t *testing.T, pod testNS) {
	t.Helper()
	if names := pod.linkNames(t); len(names) != 1 || names[0] != "lo" {
		t.Errorf("pod netns has links %v, want only lo", names)
	}
}

// newPlumber logs through t, so a failing test shows the steps and
// rollbacks that led there and a passing one stays quiet.
func newPlumber(t *testing.T) *Plumber {
	h := slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})
	return New(WithLogger(slog.New(h)))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// allAddrs lists every address of the link, IPv6 link-local ones and
// flags included.
func (n testNS) allAddrs(t *testing.T, name string) []netlink.Addr {
	t.Helper()
	var out []netlink.Addr
	n.do(t, func() error {
		l, err := linkByName(name)
		if err != nil {
			return err
		}
		out, err = netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		return err
	})
	return out
}

// conf reads an IPv6 sysctl of dev ("default" and "all" included) in n.
func (n testNS) conf(t *testing.T, dev, key string) int {
	t.Helper()
	var v int
	n.do(t, func() (err error) { v, err = readConf(dev, key); return err })
	return v
}

func (n testNS) setConf(t *testing.T, dev, key string, value int) {
	t.Helper()
	n.do(t, func() error { return os.WriteFile(confPath(dev, key), []byte(fmt.Sprint(value)), 0o644) })
}

// wantIPv6Ready asserts that IPv6 on the link is usable right now: no
// address tentative, address generation off, and the only link-local
// address the EUI-64 one of mac.
func wantIPv6Ready(t *testing.T, n testNS, name string, mac net.HardwareAddr) {
	t.Helper()
	var linkLocal []string
	for _, a := range n.allAddrs(t, name) {
		if a.Flags&unix.IFA_F_TENTATIVE != 0 {
			t.Errorf("%s on %s is tentative (flags %#x)", a.IPNet, name, a.Flags)
		}
		if a.IP.IsLinkLocalUnicast() && a.IP.To4() == nil {
			linkLocal = append(linkLocal, a.IP.String())
		}
	}
	if want := EUI64LinkLocal(mac).String(); len(linkLocal) != 1 || linkLocal[0] != want {
		t.Errorf("link-local addresses of %s: %v, want only %s", name, linkLocal, want)
	}
	if mode := n.conf(t, name, "addr_gen_mode"); mode != nl.IN6_ADDR_GEN_MODE_NONE {
		t.Errorf("addr_gen_mode of %s = %d, want %d (none)", name, mode, nl.IN6_ADDR_GEN_MODE_NONE)
	}
}
