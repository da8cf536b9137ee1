package bench

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Helpers other measuring tools (test/scale) share with this one, so
// that every report computes percentiles and draws axes the same way.

// Quantile is the q-quantile (0..1) of ds by linear interpolation between
// the closest ranks; 0 for no samples.
func Quantile(ds []time.Duration, q float64) time.Duration { return quantile(ds, q) }

// NiceAxis picks a tick step of 1, 2 or 5 × 10^k giving about five ticks
// up to at least top, and the axis end.
func NiceAxis(top float64) (step, end float64) { return niceAxis(top) }

// EscapeXML escapes s for SVG text and attributes.
func EscapeXML(s string) string { return esc(s) }

// AddStages reads a host agent's log and returns, by container ID, the
// *_ms attributes (ms) of each successful ADD's "ADD stages" line.
func AddStages(path string) (map[string]map[string]float64, error) {
	lines, err := parseAgentLog(path)
	if err != nil {
		return nil, err
	}
	out := make(map[string]map[string]float64, len(lines))
	for id, l := range lines {
		if l.stages != nil {
			out[id] = l.stages
		}
	}
	return out, nil
}

// Sizes parses a flag's comma-separated list of sizes ("1,32,128"),
// skipping empty items; the error names the flag and its value.
func Sizes(flagName, list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--%s %q: %q is not a positive integer", flagName, list, s)
		}
		out = append(out, n)
	}
	return out, nil
}
