package testbed_test

import (
	"context"
	"testing"
	"time"

	"github.com/ovn-dpu/ovn-dpu/test/testbed"
)

// BenchmarkBedStartClose is what the bed costs each test: OVN central, the
// dpu namespace with OVS and ovn-controller registered, then teardown.
func BenchmarkBedStartClose(b *testing.B) {
	testbed.Require(b)
	ctx := context.Background()
	var up, down time.Duration
	for range b.N {
		t0 := time.Now()
		bed, err := testbed.Start(ctx, testbed.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := bed.Close(); err != nil {
			b.Fatal(err)
		}
		up, down = up+t1.Sub(t0), down+time.Since(t1)
	}
	b.ReportMetric(float64(up.Milliseconds())/float64(b.N), "start-ms")
	b.ReportMetric(float64(down.Milliseconds())/float64(b.N), "close-ms")
}
