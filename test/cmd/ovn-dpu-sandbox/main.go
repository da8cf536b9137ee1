// Command ovn-dpu-sandbox runs the demo on the real-OVN test bed (package
// testbed): it starts OVN, attaches two fake-VF pods, pings between them,
// prints timings and tears everything down, also on Ctrl-C.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

func main() {
	keep := flag.Bool("keep", false, "leave the bed running until Ctrl-C, to look around")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, keep bool) error {
	start := time.Now()
	bed, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		return err
	}
	defer bed.Close()
	step("sandbox up: NB, SB, northd; dpu namespace %s with ovs-vswitchd (netdev) and ovn-controller as chassis %s (%v)",
		bed.DPUNetns, bed.Chassis, since(start))
	if _, err := bed.NBCtl(ctx, "ls-add", "demo"); err != nil {
		return err
	}
	pods := []struct{ name, cidr string }{{"pod-a", "10.10.0.1/24"}, {"pod-b", "10.10.0.2/24"}}
	for i, p := range pods {
		t0 := time.Now()
		vf, err := bed.AddVF(ctx, 0, i)
		if err != nil {
			return err
		}
		ns, err := bed.AddPod(ctx, p.name)
		if err != nil {
			return err
		}
		if err := bed.HandAttach(ctx, "demo", vf, p.name, ns, p.cidr); err != nil {
			return err
		}
		if err := bed.WaitLSPUp(ctx, p.name); err != nil {
			return err
		}
		step("%s: VF %s in the pod, representor %s plugged by hand, LSP up=true (%v)", p.name, vf.Netdev, vf.Representor, since(t0))
	}
	ns := bed.Pod("pod-a")
	if err := bed.Ping(ctx, ns, "10.10.0.2"); err != nil {
		return err
	}
	out, _ := bed.InNetns(ctx, ns, "ping", "-c", "3", "-i", "0.2", "10.10.0.2")
	fmt.Println(out)
	step("pod-a pings pod-b across OVN; total %v", since(start))
	if keep {
		fmt.Printf("bed dir %s; NB %s; SB %s; OVS %s. Ctrl-C to tear down.\n", bed.Dir, bed.NBRemote, bed.SBRemote, bed.OVSRemote)
		<-ctx.Done()
	}
	return nil
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
