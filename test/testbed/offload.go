package testbed

import (
	"fmt"
	"strings"

	"github.com/safchain/ethtool"
)

// A veth offers TX checksum offload, so a pod's TCP/UDP stack hands it
// frames whose checksum is left unfilled (CHECKSUM_PARTIAL), to be filled
// by whatever finally transmits them. Here that is ovs-vswitchd's userspace
// datapath: it reads the frame from an AF_PACKET socket on the
// representor and sends it on to the other representor as is, so the
// other pod receives a wrong checksum and drops the segment; ping works,
// as ICMP is checksummed in software. The fake VFs therefore checksum in
// software, as after `ethtool -K <vf> tx off`. The representors need not:
// what OVS sends them is complete. A real VF checksums in hardware, so
// the agents leave offloads alone and the bed does this itself.

// txChecksumPrefix names the features `ethtool -K tx` switches together:
// tx-checksum-ipv4, -ip-generic, -ipv6, -fcoe-crc and -sctp (a veth has
// -ip-generic and -sctp). The kernel then turns TSO off by itself.
const txChecksumPrefix = "tx-checksum-"

// txChecksumOff turns TX checksum offload off on links of netns ("" = the
// process's own namespace). The feature names are the kernel's, the same
// for every link, so they are read once here; each Change reads them again
// into a 1 MiB buffer, which makes about 0.35ms per link.
func txChecksumOff(netns string, links ...string) error {
	if len(links) == 0 {
		return nil
	}
	return withEthtool(netns, func(e *ethtool.Ethtool) error {
		names, err := e.FeatureNames(links[0])
		if err != nil {
			return fmt.Errorf("ethtool feature names (%s): %w", links[0], err)
		}
		off := map[string]bool{}
		for name := range names {
			if strings.HasPrefix(name, txChecksumPrefix) {
				off[name] = false
			}
		}
		for _, link := range links {
			if err := e.Change(link, off); err != nil {
				return fmt.Errorf("ethtool -K %s tx off: %w", link, err)
			}
		}
		return nil
	})
}

// TxChecksumming reports whether link in netns ("" = the process's own)
// has any TX checksum offload active; a fake VF should not, also after the
// agents moved and renamed it (features survive both).
func (b *Bed) TxChecksumming(netns, link string) (bool, error) {
	var on bool
	err := withEthtool(netns, func(e *ethtool.Ethtool) error {
		features, err := e.Features(link)
		if err != nil {
			return fmt.Errorf("ethtool features of %s in netns %q: %w", link, netns, err)
		}
		for name, active := range features {
			on = on || (active && strings.HasPrefix(name, txChecksumPrefix))
		}
		return nil
	})
	return on, err
}

// withEthtool runs fn with an ethtool handle on netns. SIOCETHTOOL acts in
// the namespace of the socket it is issued on, which is the namespace of
// the thread that created it, so the handle is opened (and, for clarity,
// used) on a thread in netns.
func withEthtool(netns string, fn func(*ethtool.Ethtool) error) error {
	return inNetns(netns, func() error {
		e, err := ethtool.NewEthtool()
		if err != nil {
			return fmt.Errorf("ethtool socket: %w", err)
		}
		defer e.Close()
		return fn(e)
	})
}
