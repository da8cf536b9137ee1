// Command ovn-dpu-bench is the attach-speed benchmark (package
// test/bench): on one real-OVN test bed with both agents it times our CNI
// ADD and DEL, single and in bursts, against OVN's own VIF plug (the dummy
// provider), a CMS-side plug and the exec floor measured in the same run,
// and prints a report with the targets met or missed. `make bench` runs
// it; it needs root and `make deps`.
//
// Usage:
//
//	ovn-dpu-bench [--samples 20] [--bursts 32,128] [--foreign 20000] [--foreign-chassis 4] [--svg FILE] [--quiet]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ovn-dpu/ovn-dpu/test/bench"
)

func main() {
	samples := flag.Int("samples", 20, "single attaches per method (at least 15 for meaningful p90s)")
	bursts := flag.String("bursts", "32,128", "burst sizes, comma-separated (at most 3, each at most 256)")
	foreign := flag.Int("foreign", 20000, "foreign Port_Bindings in SB for the DPU agent's RSS (0: skip)")
	chassis := flag.Int("foreign-chassis", 4, "real foreign Chassis rows the foreign bindings request")
	svg := flag.String("svg", "", "write the plot (latency distributions, burst completion curves) to this SVG `file`")
	quiet := flag.Bool("quiet", false, "no progress lines on stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg := bench.Config{Samples: *samples, Foreign: *foreign, ForeignChassis: *chassis}
	sizes, err := bench.Sizes("bursts", *bursts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.Bursts = sizes
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench failed:", err)
		os.Exit(1)
	}
	res.WriteReport(os.Stdout)
	if *svg != "" {
		if err := res.WriteSVG(*svg); err != nil {
			fmt.Fprintln(os.Stderr, "writing the plot:", err)
			os.Exit(1)
		}
		fmt.Printf("\nplot: %s\n", *svg)
	}
}
