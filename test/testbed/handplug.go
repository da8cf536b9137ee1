package testbed

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/pkg/vifplug"
)

// HandAttach does by hand what ovn-dpu automates, the way an operator
// would before this project: write the LSP with ovn-nbctl, move the VF into
// pod with ip, and plug the representor into br-int with ovs-vsctl — all
// on the VF's own DPU, which the LSP's requested-chassis names, as it must
// once the bed has several chassis.
func (b *Bed) HandAttach(ctx context.Context, logicalSwitch string, vf *VF, lsp, pod, cidr string) error {
	ip, _, ok := cutCIDR(cidr)
	if !ok {
		return fmt.Errorf("hand attach %s: address %q is not a CIDR", lsp, cidr)
	}
	if _, err := b.NBCtl(ctx, "lsp-add", logicalSwitch, lsp, "--",
		"lsp-set-addresses", lsp, fmt.Sprintf("%s %s", vf.MAC, ip), "--",
		"lsp-set-options", lsp, "requested-chassis="+vf.dpu.chassis); err != nil {
		return err
	}
	if err := b.PlumbVF(ctx, vf, pod, "eth0", cidr); err != nil {
		return err
	}
	_, err := b.vsctl(ctx, vf.dpu, "add-port", "br-int", vf.Representor, "--",
		"set", "Interface", vf.Representor, "external_ids:"+vifplug.IfaceID+"="+lsp)
	return err
}

// WaitLSPUp waits until northd reports the LSP up (ovn-controller claimed it
// and installed its flows).
func (b *Bed) WaitLSPUp(ctx context.Context, lsp string) error {
	_, err := b.NBCtl(ctx, "wait-until", "Logical_Switch_Port", lsp, "up=true")
	return err
}

func cutCIDR(cidr string) (ip, prefix string, ok bool) {
	for i := len(cidr) - 1; i >= 0; i-- {
		if cidr[i] == '/' {
			return cidr[:i], cidr[i+1:], i > 0 && i < len(cidr)-1
		}
	}
	return "", "", false
}

// RequestArgs are ovn-nbctl arguments that create lsp on logicalSwitch
// asking this bed's DPU to plug vf's representor, the way Neutron or an
// operator writes such a port. ip may be empty; extra "key=value" options
// are added or replace the standard ones.
func (b *Bed) RequestArgs(logicalSwitch, lsp string, vf *VF, ip string, extra ...string) []string {
	return requestArgs(b.Chassis, logicalSwitch, lsp, vf, ip, extra)
}

// requestArgs are RequestArgs asking chassis to plug vf.
func requestArgs(chassis, logicalSwitch, lsp string, vf *VF, ip string, extra []string) []string {
	addr := vf.MAC.String()
	if ip != "" {
		addr += " " + ip
	}
	opts := vifplug.Request{Chassis: chassis, PFMAC: vf.PFMAC, VFNum: vf.Index}.Options()
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		opts[k] = v
	}
	args := []string{"--", "lsp-add", logicalSwitch, lsp, "--", "lsp-set-addresses", lsp, addr, "--", "lsp-set-options", lsp}
	for _, k := range slices.Sorted(maps.Keys(opts)) {
		args = append(args, k+"="+opts[k])
	}
	return args
}

// RequestRepresentor writes one such LSP in its own NB transaction.
func (b *Bed) RequestRepresentor(ctx context.Context, logicalSwitch, lsp string, vf *VF, ip string, extra ...string) error {
	_, err := b.NBCtl(ctx, b.RequestArgs(logicalSwitch, lsp, vf, ip, extra...)...)
	return err
}
