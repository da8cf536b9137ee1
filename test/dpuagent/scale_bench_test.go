package dpuagent_test

import (
	"context"
	"fmt"
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
		others := make([]string, 50)
		for i := range others {
			others[i] = fmt.Sprintf("other%d", i)
		}
		testbed.Must(0, bed.AddForeignBindings(ctx, testbed.ForeignBindings{Switch: "net1", Count: foreign, Chassis: others}))(b)
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
	return float64(testbed.Must(testbed.RSS(agent.Pid()))(b)) / 1024
}
