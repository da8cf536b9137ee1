package hostagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/ovn-dpu/ovn-dpu/pkg/hoststate"
	"github.com/ovn-dpu/ovn-dpu/pkg/ovsdb/nbdb"
)

// The logical switch's other_config keys that drive OVN's own address
// assignment (ovn-nb(5)).
const (
	lsSubnet     = "subnet"
	lsIPv6Prefix = "ipv6_prefix"
	lsMACOnly    = "mac_only"
)

// dynamicPlan is how OVN assigns a dynamic port's addresses on its switch:
// the IPv4 subnet (its mask is the pod's prefix length) and whether an
// IPv6 /64 prefix is configured.
type dynamicPlan struct {
	subnet *net.IPNet // nil: no IPv4
	ipv6   bool
}

// planDynamic reads ls's other_config. A switch on which northd would
// assign nothing is the configuration's mistake (code 7), found before any
// side effect.
func planDynamic(ls *nbdb.LogicalSwitch) (*dynamicPlan, error) {
	oc := ls.OtherConfig
	if oc[lsMACOnly] == "true" {
		return nil, invalidConfig(fmt.Sprintf("logical switch %s has other_config:%s=true, so OVN assigns no addresses; "+
			"configure ipam or runtimeConfig.ips, or set other_config:%s / %s", ls.Name, lsMACOnly, lsSubnet, lsIPv6Prefix))
	}
	plan := &dynamicPlan{}
	if s, ok := oc[lsSubnet]; ok {
		_, ipn, err := net.ParseCIDR(s)
		if err != nil || ipn.IP.To4() == nil {
			return nil, invalidConfig(fmt.Sprintf("logical switch %s has other_config:%s=%q, not an IPv4 subnet like 10.20.0.0/24", ls.Name, lsSubnet, s))
		}
		plan.subnet = ipn
	}
	if p, ok := oc[lsIPv6Prefix]; ok {
		if err := validIPv6Prefix(p); err != nil {
			return nil, invalidConfig(fmt.Sprintf("logical switch %s has other_config:%s=%q: %v", ls.Name, lsIPv6Prefix, p, err))
		}
		plan.ipv6 = true
	}
	if plan.subnet == nil && !plan.ipv6 {
		return nil, invalidConfig(fmt.Sprintf("logical switch %s has neither other_config:%s nor other_config:%s, so OVN cannot assign "+
			"addresses (no ipam and no runtimeConfig.ips in the configuration); set one of them or configure ipam", ls.Name, lsSubnet, lsIPv6Prefix))
	}
	return plan, nil
}

// validIPv6Prefix accepts what northd does: an IPv6 prefix, with no length
// or /64.
func validIPv6Prefix(p string) error {
	addr, plen, hasLen := strings.Cut(p, "/")
	if ip := net.ParseIP(addr); ip == nil || ip.To4() != nil {
		return errors.New("want an IPv6 prefix like fd00:20::/64")
	}
	if hasLen && plen != "64" {
		return errors.New("OVN assigns addresses only from a /64 prefix")
	}
	return nil
}

// parse turns northd's dynamic_addresses ("MAC [IPv4] [IPv6]") into IP
// configs with their prefix lengths: the switch subnet's for IPv4, /64 for
// IPv6 (the address is the prefix plus the MAC's EUI-64).
func (p *dynamicPlan) parse(dynamic string, mac net.HardwareAddr) ([]*current.IPConfig, error) {
	fields := strings.Fields(dynamic)
	if len(fields) == 0 {
		return nil, errors.New("dynamic_addresses is empty")
	}
	if got, err := net.ParseMAC(fields[0]); err != nil || got.String() != mac.String() {
		return nil, fmt.Errorf("dynamic_addresses %q does not start with the port's MAC %s", dynamic, mac)
	}
	var ips []*current.IPConfig
	for _, f := range fields[1:] {
		ip := net.ParseIP(f)
		switch {
		case ip == nil:
			return nil, fmt.Errorf("dynamic_addresses %q: %q is not an IP address", dynamic, f)
		case ip.To4() != nil && p.subnet != nil:
			ips = append(ips, &current.IPConfig{Address: net.IPNet{IP: ip.To4(), Mask: p.subnet.Mask}})
		case ip.To4() == nil && p.ipv6:
			ips = append(ips, &current.IPConfig{Address: net.IPNet{IP: ip, Mask: net.CIDRMask(64, 128)}})
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("dynamic_addresses %q has no address of the switch's families", dynamic)
	}
	return ips, nil
}

// withGateways gives each address the configured gateway of its family:
// routes without a gw of their own go via it.
func withGateways(ips []*current.IPConfig, gateways []net.IP) {
	for _, ipc := range ips {
		for _, gw := range gateways {
			if (gw.To4() == nil) == (ipc.Address.IP.To4() == nil) {
				ipc.Gateway = gw
			}
		}
	}
}

// portSecurity is the LSP's port_security (and static addresses) entry:
// the MAC and then every address.
func portSecurity(mac net.HardwareAddr, ips []*current.IPConfig) string {
	entry := []string{mac.String()}
	for _, ip := range ips {
		entry = append(entry, ip.Address.IP.String())
	}
	return strings.Join(entry, " ")
}

// learnDynamic waits for northd's dynamic_addresses of the LSP just
// written, takes them as the pod's addresses and narrows the port's
// port_security from the MAC alone to the MAC and those addresses.
func (a *Agent) learnDynamic(ctx context.Context, ad *addition) error {
	got, err := a.nb.WaitDynamicAddresses(ctx, ad.att.LSPName, ad.att.AttachmentID)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(context.Cause(ctx), hoststate.ErrSuperseded) {
			return types.NewError(codeNotReady, fmt.Sprintf("ovn-northd did not assign addresses to logical switch port %s within "+
				"timeoutSeconds=%d (is ovn-northd running, and has switch %s free addresses?)", ad.att.LSPName, ad.conf.TimeoutSeconds, ad.conf.LogicalSwitch), err.Error())
		}
		return types.NewError(types.ErrTryAgainLater, "cannot learn the addresses OVN assigned to logical switch port "+ad.att.LSPName, err.Error())
	}
	ips, err := ad.dynamic.parse(got, ad.mac)
	if err != nil {
		return types.NewError(types.ErrInternal, "cannot use the addresses OVN assigned to logical switch port "+ad.att.LSPName, err.Error())
	}
	withGateways(ips, ad.conf.Gateways)
	ad.res.IPs, ad.res.Routes = ips, ad.conf.Routes
	ps := portSecurity(ad.mac, ips)
	if err := a.nb.SetAddresses(ctx, ad.att.LSPName, ad.att.AttachmentID, []string{ad.mac.String() + " dynamic"}, []string{ps}); err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("cannot set port_security %q of logical switch port %s", ps, ad.att.LSPName), err.Error())
	}
	ad.log.Info("OVN assigned addresses", "dynamic_addresses", got)
	return nil
}

// errAddressesFailed tells the VF move that the port line failed before
// the addresses were known, so the move's own error is that one and need
// not be reported twice.
var errAddressesFailed = errors.New("the pod's addresses could not be set up")
