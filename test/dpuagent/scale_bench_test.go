package dpuagent_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// BenchmarkMemoryWithForeignBindings measures the agent's resident memory
// on an SB holding 20 000 bindings requested for other chassis plus 10 for
// its own: the conditional monitor must keep the foreign ones off the DPU.
// Run with -benchtime=1x (make bench does); one iteration is one bed.
func BenchmarkMemoryWithForeignBindings(b *testing.B) {
	const foreign, own = 20000, 10
	for range b.N {
		bed := testbed.New(b, testbed.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		testbed.Must(bed.NBCtl(ctx, "ls-add", "net1"))(b)
		start := time.Now()
		for batch := 0; batch < foreign; batch += 1000 {
			var args []string
			for i := batch; i < batch+1000; i++ {
				lsp := fmt.Sprintf("foreign%05d", i)
				args = append(args, "--", "lsp-add", "net1", lsp, "--", "lsp-set-options", lsp,
					fmt.Sprintf("requested-chassis=other%d", i%50), "vif-plug-type=representor",
					"vif-plug:representor:pf-mac=0c:42:a1:00:00:01", fmt.Sprintf("vif-plug:representor:vf-num=%d", i%100))
			}
			testbed.Must(bed.NBCtl(ctx, args...))(b)
		}
		testbed.Must(bed.NBCtl(ctx, "--timeout=600", "--wait=sb", "sync"))(b)
		b.Logf("%d foreign LSPs in NB and SB in %v", foreign, time.Since(start))

		agent := testbed.Must(bed.StartDPUAgent(ctx))(b)
		w := testbed.Must(agent.Watch(ctx, ""))(b)
		indices := make([]int, own)
		for i := range indices {
			indices[i] = i
		}
		vfs := testbed.Must(bed.AddVFs(ctx, 0, indices, testbed.VFOptions{}))(b)
		lsps := make([]string, own)
		var args []string
		for i, vf := range vfs {
			lsps[i] = fmt.Sprintf("own%d", i)
			args = append(args, bed.RequestArgs("net1", lsps[i], vf, "")...)
		}
		testbed.Must(bed.NBCtl(ctx, args...))(b)
		if err := w.WaitPhase(ctx, 5*time.Minute, ready, lsps...); err != nil {
			b.Fatal(err)
		}
		rss := agentRSS(b, agent)
		w.Close()
		b.ReportMetric(rss/1024, "agent-rss-MiB")
		b.Logf("agent RSS %.1f MiB with %d foreign and %d own bindings in SB", rss/1024, foreign, own)
	}
}

// agentRSS reads VmRSS (KiB) of the agent process from /proc.
func agentRSS(b *testing.B, agent *testbed.DPUAgent) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", agent.Pid()))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.Fields(rest)[0], 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatal("no VmRSS in /proc status")
	return 0
}
