package bench

import "time"

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
