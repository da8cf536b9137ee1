// Command ovn-dpu-scale is the fleet-scale measurement (package
// test/scale): for each fleet size N, one clustered NB and SB (3 members
// each, a relay in front of each) serve N real host agents and N real
// DPU agents, whose pods attach and detach; it prints latency, what each
// session costs the central servers, what each operation sends to its
// owner and to everyone else, and one summary line per N. `make scale`
// runs it; it needs root and `make deps`.
//
// Usage:
//
//	ovn-dpu-scale [--n 10,50,100] [--pods 5] [--min-ops 1000] [--concurrency 4] [--measured 20] [--references 2] [--svg FILE] [--json FILE] [--from-json FILE] [--quiet]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/ovn-dpu/ovn-dpu/test/bench"
	"github.com/ovn-dpu/ovn-dpu/test/scale"
)

func main() {
	sizes := flag.String("n", "10,50,100", "fleet sizes (hosts, each with its DPU), comma-separated; one bed each")
	pods := flag.Int("pods", 5, "pods each host attaches and then detaches")
	minOps := flag.Int("min-ops", 1000, "least churn operations per N: a small fleet repeats its churn until it made that many")
	conc := flag.Int("concurrency", 4, "operations in flight at once across the whole fleet")
	measured := flag.Int("measured", 20, "single operations (half ADD, half DEL) attributed to owner and others")
	refs := flag.Int("references", 4, "real ovn-controller sessions on the SB relay, for the reference figure (0: skip)")
	svg := flag.String("svg", "", "write the plot of the figures' growth with N to this SVG `file`")
	jsonOut := flag.String("json", "", "write every figure as JSON to this `file`")
	trace := flag.String("trace", "", "write every message each agent session received to this `dir` (one file per session)")
	fromJSON := flag.String("from-json", "", "measure nothing: report (and plot) the results a --json run wrote to this `file`")
	quiet := flag.Bool("quiet", false, "no progress lines on stderr")
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		os.Exit(2)
	}
	cfg := scale.Config{Pods: *pods, Concurrency: *conc, MinOps: *minOps, Measured: *measured, References: *refs, TraceDir: *trace}
	ns, err := bench.Sizes("n", *sizes)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cfg.N = ns
	if !*quiet {
		cfg.Progress = os.Stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var results []*scale.Result
	if *fromJSON != "" {
		results, err = scale.ReadJSON(*fromJSON)
	} else {
		results, err = scale.Run(ctx, cfg)
	}
	if len(results) > 0 {
		// Files first: the report ends with the summary lines.
		if *jsonOut != "" {
			if jerr := scale.WriteJSON(*jsonOut, results); jerr != nil {
				fmt.Fprintln(os.Stderr, "writing the JSON:", jerr)
			}
		}
		if *svg != "" && err == nil {
			if serr := scale.WriteSVG(*svg, results); serr != nil {
				fmt.Fprintln(os.Stderr, "writing the plot:", serr)
				os.Exit(1)
			}
			fmt.Printf("plot: %s\n\n", *svg)
		}
		scale.WriteReport(os.Stdout, results)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale failed:", err)
		os.Exit(1)
	}
}
