package main

import (
	"slices"
	"strings"
	"testing"
)

func TestDPUAddresses(t *testing.T) {
	for _, tc := range []struct {
		flag string
		want []string
		err  string
	}{
		{flag: "192.0.2.2:50151", want: []string{"192.0.2.2:50151"}},
		{flag: "192.0.2.2:50151, unix:/run/dpu-b.sock", want: []string{"192.0.2.2:50151", "unix:/run/dpu-b.sock"}},
		{flag: "", err: "none empty"},
		{flag: "a:1,,b:2", err: "none empty"},
		{flag: "a:1,a:1", err: "names a:1 twice"},
	} {
		got, err := dpuAddresses(tc.flag)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("--dpu %q: %v, want an error containing %q", tc.flag, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("--dpu %q = %q, %v; want %q", tc.flag, got, err, tc.want)
		}
	}
}
