package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// TestHandPluggedVFsPingAcrossOVN proves the bed: LSPs written with
// ovn-nbctl, representors plugged into br-int by hand, NB up=true, and two
// fake VFs in two pods ping each other through OVN's pipeline.
func TestHandPluggedVFsPingAcrossOVN(t *testing.T) {
	bed := testbed.New(t, testbed.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pods := handAttachTwo(t, ctx, bed)
	for _, p := range pods {
		installed := testbed.Must(bed.VSCtl(ctx, "get", "Interface", p.vf.Representor, "external_ids:ovn-installed"))(t)
		if installed != `"true"` {
			t.Fatalf("interface %s: ovn-installed = %s, want \"true\"", p.vf.Representor, installed)
		}
	}
	if err := bed.Ping(ctx, pods[0].netns, pods[1].ip); err != nil {
		t.Fatal(err)
	}
	if err := bed.Ping(ctx, pods[1].netns, pods[0].ip); err != nil {
		t.Fatal(err)
	}
}

// handPod is a pod attached by hand (HandAttach).
type handPod struct {
	lsp, ip, netns string
	vf             *testbed.VF
}

// handAttachTwo attaches two pods to a new switch net1 by hand and waits
// until NB reports both LSPs up.
func handAttachTwo(t *testing.T, ctx context.Context, bed *testbed.Bed) []*handPod {
	t.Helper()
	testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(t)
	pods := []*handPod{{lsp: "lsp-a", ip: "10.0.0.1"}, {lsp: "lsp-b", ip: "10.0.0.2"}}
	for i, p := range pods {
		p.vf = testbed.Must(bed.AddVF(ctx, 0, i))(t)
	}
	attachAll(t, ctx, bed, pods)
	return pods
}

// TestCloseRemovesEverything checks teardown: no namespace, process or
// temp dir of a closed bed survives.
func TestCloseRemovesEverything(t *testing.T) {
	testbed.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bed, err := testbed.Start(ctx, testbed.Options{HostNetns: true})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	vf := testbed.Must(bed.AddVF(ctx, 1, 0))(t)
	pod := testbed.Must(bed.AddPod(ctx, "p"))(t)
	if err := bed.Close(); err != nil {
		t.Fatal(err)
	}
	leftovers, err := bed.Leftovers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leftovers) > 0 {
		t.Fatalf("after Close (VF %s, pod %s): left behind %v", vf.Netdev, pod, leftovers)
	}
}
