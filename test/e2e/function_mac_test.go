package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/ovn-dpu/ovn-dpu/pkg/netns"
	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestFunctionMACSetFromTheDPU: with --set-function-mac the DPU agent
// sets each VF's devlink function hw_addr to its logical port's MAC before
// plugging it, the host agent leaves the VF's MAC alone and waits for the
// VF to show it (the bed plays the NIC that makes it so), and the pods
// ping across OVN.
func TestFunctionMACSetFromTheDPU(t *testing.T) {
	e := setupWith(t, testbed.Options{}, func(*testbed.Bed) (dpu, host []string) {
		return []string{"--set-function-mac"}, nil
	})
	vfs := testbed.Must(e.bed.AddVFs(e.ctx, 0, []int{0, 1}, testbed.VFOptions{}))(t)
	macs := []string{"0e:00:00:00:aa:01", "0e:00:00:00:aa:02"} // neither VF has it now
	var ips []string
	for i, pod := range []string{"fa", "fb"} {
		if vfs[i].MAC.String() == macs[i] {
			t.Fatalf("VF %s already has %s", vfs[i].Netdev, macs[i])
		}
		ns := testbed.Must(e.bed.AddPod(e.ctx, pod))(t)
		ctx, stop := context.WithCancel(e.ctx)
		nic := make(chan error, 1)
		go func() { nic <- e.bed.EmulateFunctionMACs(ctx, vfs[i], ns, "eth0") }()
		res, took := e.add(t, ns, e.netconf(vfs[i].PCI, e.hostLocal(), map[string]any{"mac": macs[i]}))
		stop()
		if err := <-nic; !errors.Is(err, context.Canceled) {
			t.Fatalf("playing the NIC for %s: %v", vfs[i].Netdev, err)
		}
		t.Logf("ADD pod %s with the MAC set from the DPU: %v", pod, took)
		testbed.Must(0, e.bed.Sysfs().MoveNetdevToPod(vfs[i].PCI))(t)
		if got := res.Interfaces[0].Mac; got != macs[i] {
			t.Errorf("ADD result reports MAC %s, want the logical port's %s", got, macs[i])
		}
		if got := testbed.Must(e.bed.FunctionHWAddr(vfs[i]))(t); got.String() != macs[i] {
			t.Errorf("devlink dump: function hw_addr of %s is %v, want %s", vfs[i].Representor, got, macs[i])
		}
		link := testbed.Must(e.bed.InNetns(e.ctx, ns, "cat", "/sys/class/net/eth0/address"))(t)
		if strings.TrimSpace(link) != macs[i] {
			t.Errorf("pod %s eth0 has MAC %s, want %s", pod, link, macs[i])
		}
		// The IPv6 link-local address is the one of the MAC the DPU set
		// (OVN port security admits no other), not of the VF's old one.
		mac := testbed.Must(net.ParseMAC(macs[i]))(t)
		v6 := testbed.Must(e.bed.InNetns(e.ctx, ns, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"))(t)
		if want := netns.EUI64LinkLocal(mac).String() + "/64"; !strings.Contains(v6, want) || strings.Count(v6, "inet6") != 1 {
			t.Errorf("pod %s eth0 link-local addresses %q, want only %s", pod, v6, want)
		}
		ips = append(ips, res.IPs[0].Address.IP.String())
	}
	if err := e.bed.Ping(e.ctx, e.bed.Pod("fa"), ips[1]); err != nil {
		t.Fatal(err)
	}
	if err := e.bed.Ping(e.ctx, e.bed.Pod("fb"), ips[0]); err != nil {
		t.Fatal(err)
	}
	// Each MAC was set once: the table shows it after the set, so no later
	// pass (the ports' PLUGGED and READY ones included) sets it again.
	log := string(testbed.Must(os.ReadFile(e.dpu.Log))(t))
	if n := strings.Count(log, "representor function MAC set"); n != len(macs) {
		t.Errorf("the DPU agent set function MACs %d times, want %d (once per port)", n, len(macs))
	}
}
