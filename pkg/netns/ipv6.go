package netns

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// procIPv6 is absent when the kernel runs without IPv6 (ipv6.disable=1).
// Under /proc/sys/net a thread sees the namespace it is in when it opens
// a file, so every access runs inside ns.Do, which locks the goroutine to
// its OS thread, as the plugins' own sysctl use does.
const procIPv6 = "/proc/sys/net/ipv6"

// EUI64LinkLocal returns the IPv6 link-local address in fe80::/64 that
// modified EUI-64 (RFC 4291, appendix A) derives from a 48-bit MAC: the
// universal/local bit flipped and ff:fe inserted in the middle. It is the
// link-local address OVN port security admits for a port of that MAC.
// A MAC of any other length gives nil.
func EUI64LinkLocal(mac net.HardwareAddr) net.IP {
	if len(mac) != 6 {
		return nil
	}
	return net.IP{0xfe, 0x80, 0, 0, 0, 0, 0, 0,
		mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]}
}

// v6Link is a link's IPv6 state, read in its namespace: what deciding on
// IPv6 needs, and the per-link settings a namespace move resets to the
// new namespace's defaults.
type v6Link struct {
	why      string // why the link has no IPv6 settings; "" if it has
	disabled bool   // its disable_ipv6 is 1
	genMode  int    // its addr_gen_mode
	mac      net.HardwareAddr
}

// unusable says why IPv6 cannot be configured on the link, "" if it can.
func (l v6Link) unusable() string {
	if l.why == "" && EUI64LinkLocal(l.mac) == nil {
		return fmt.Sprintf("its MAC %s has no EUI-64 link-local address", l.mac)
	}
	return l.why
}

// v6Plan is what the link needs so that its IPv6 works on return.
type v6Plan struct {
	enable    bool // clear disable_ipv6
	configure bool // no kernel link-local; add the EUI-64 one
}

// planIPv6 decides from the link's state and the IPv6 addresses wanted on
// it. A link that cannot have IPv6 is fine as long as none is wanted; one
// whose namespace turned IPv6 off (disable_ipv6, as a pod's sysctls may)
// keeps it off unless IPv6 addresses are wanted.
func planIPv6(l v6Link, want []net.IPNet) (v6Plan, error) {
	why := l.unusable()
	switch {
	case why != "" && len(want) > 0:
		return v6Plan{}, fmt.Errorf("%w: %s requested, but %s", ErrIPv6Unavailable, want[0].String(), why)
	case why != "", l.disabled && len(want) == 0:
		return v6Plan{}, nil
	}
	return v6Plan{enable: l.disabled, configure: true}, nil
}

// prepareIPv6 makes IPv6 on the link usable the moment MoveIn returns, as
// pods expect after CNI ADD. It runs while the link is down, since the
// kernel generates its own link-local address when the link comes up:
// under the distribution's addr_gen_mode that may be a stable-privacy
// one, which OVN port security does not admit, and it would stay
// tentative during DAD for about a second. So generation is turned off and
// the EUI-64 address OVN does admit is added, without DAD like all ours.
func (t *txn) prepareIPv6(pod place, name string, ips []*current.IPConfig) error {
	return t.prepareIPv6For(pod, name, ips, nil)
}

// prepareIPv6For is prepareIPv6 with the link-local address derived from
// mac instead of the link's MAC when mac is set: the MAC the link is
// about to get from elsewhere (MoveInRequest.LinkLocalMAC).
func (t *txn) prepareIPv6For(pod place, name string, ips []*current.IPConfig, mac net.HardwareAddr) error {
	l, err := readV6Link(pod, name)
	if err != nil {
		return fmt.Errorf("read IPv6 state of %q in %s: %w", name, pod.desc, err)
	}
	if len(mac) > 0 && l.why == "" {
		l.mac = mac
	}
	plan, err := planIPv6(l, v6Addrs(ips))
	if err != nil {
		return fmt.Errorf("configure IPv6 on %q in %s: %w", name, pod.desc, err)
	}
	if plan.enable {
		if err := t.step(fmt.Sprintf("enable IPv6 on %q in %s", name, pod.desc),
			func() error { return writeConf(pod, name, "disable_ipv6", "0") },
			func() error { return writeConf(pod, name, "disable_ipv6", "1") }); err != nil {
			return err
		}
	}
	if !plan.configure {
		return nil
	}
	if err := t.step(fmt.Sprintf("turn off IPv6 address generation of %q in %s", name, pod.desc),
		func() error { return setGenMode(pod, name, nl.IN6_ADDR_GEN_MODE_NONE) },
		func() error { return setGenMode(pod, name, l.genMode) }); err != nil {
		return err
	}
	return t.addAddr(pod, name, net.IPNet{IP: EUI64LinkLocal(l.mac), Mask: net.CIDRMask(64, 8*net.IPv6len)})
}

// restoreV6 puts back the per-link IPv6 settings l recorded, which a move
// out of the namespace and back reset. The link must be down: up, the
// kernel would already have generated its own link-local address.
func restoreV6(p place, name string, l v6Link) error {
	if l.why != "" {
		return nil
	}
	if err := writeConf(p, name, "disable_ipv6", strconv.Itoa(btoi(l.disabled))); err != nil {
		return err
	}
	return setGenMode(p, name, l.genMode)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func v6Addrs(ips []*current.IPConfig) []net.IPNet {
	var out []net.IPNet
	for _, ipc := range ips {
		if ipc.Address.IP.To4() == nil {
			out = append(out, ipc.Address)
		}
	}
	return out
}

// addrFlags asks for no DAD on IPv6 addresses (IPv4 has none in the
// kernel). Our addresses come from an allocator that guarantees them
// unique in the network (the IPAM delegate or OVN's own IPAM) and OVN
// port security stops a neighbour from claiming them, while DAD would
// keep them tentative, so unusable, for RetransTimer × DupAddrDetectTransmits
// (a second or more) after ADD returned.
func addrFlags(ip net.IP) int {
	if ip.To4() == nil {
		return unix.IFA_F_NODAD
	}
	return 0
}

func readV6Link(p place, name string) (v6Link, error) {
	var v v6Link
	err := withLink(p, name, func(l netlink.Link) error {
		a := l.Attrs()
		v.mac = a.HardwareAddr
		why, err := whyNoIPv6(name, a.MTU)
		if err != nil || why != "" {
			v.why = why
			return err
		}
		disabled, err := readConf(name, "disable_ipv6")
		if err != nil {
			return err
		}
		v.disabled = disabled != 0
		v.genMode, err = readConf(name, "addr_gen_mode")
		return err
	})
	return v, err
}

// whyNoIPv6 says why the link has no IPv6 settings, "" when it has.
// Called inside the link's namespace.
func whyNoIPv6(name string, mtu int) (string, error) {
	if ok, err := exists(procIPv6); err != nil || !ok {
		return "the kernel runs without IPv6 (no " + procIPv6 + ")", err
	}
	if ok, err := exists(confPath(name, "")); err != nil || !ok {
		return fmt.Sprintf("the link has no IPv6 (no %s; its MTU %d is below IPv6's minimum of 1280?)",
			confPath(name, ""), mtu), err
	}
	return "", nil
}

// confPath names a per-link IPv6 sysctl. It is built with slashes rather
// than through dotted sysctl names, as link names may contain dots.
func confPath(name, key string) string {
	return filepath.Join(procIPv6, "conf", name, key)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// readConf reads an integer per-link IPv6 sysctl; called inside the
// link's namespace.
func readConf(name, key string) (int, error) {
	b, err := os.ReadFile(confPath(name, key))
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", confPath(name, key), err)
	}
	return v, nil
}

func writeConf(p place, name, key, value string) error {
	return p.do(func() error {
		return os.WriteFile(confPath(name, key), []byte(value), 0o644)
	})
}

func setGenMode(p place, name string, mode int) error {
	return withLink(p, name, func(l netlink.Link) error {
		return netlink.LinkSetIP6AddrGenMode(l, mode)
	})
}
