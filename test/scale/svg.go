package scale

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ovn-dpu/ovn-dpu/test/bench"
)

// The plot: how the measured figures grow with N, one panel each (ADD
// latency, central memory per session, central CPU per 1000 operations,
// agent RSS). Hand-written SVG, axes and escaping shared with test/bench.

type series struct {
	label, color string
	ys           []float64 // one per result; NaN = not measured
}

type linePanel struct {
	title, ylabel string
	series        []series
}

const (
	plotW, plotH           = 960, 640
	panelW, panelH         = 480, 300
	marginL, marginR       = 64, 20
	marginT, marginB       = 40, 44
	legendRowH, legendLeft = 14, 8
)

// WriteSVG writes the plot of results (at least one) to path, creating
// its directory.
func WriteSVG(path string, results []*Result) error {
	if len(results) == 0 {
		return fmt.Errorf("plot %s: no results", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(svg(results)), 0o644)
}

func svg(results []*Result) string {
	per := func(f func(*Result) float64) []float64 {
		out := make([]float64, len(results))
		for i, r := range results {
			out[i] = f(r)
		}
		return out
	}
	maxCPU := func(prefix string) func(*Result) float64 {
		return func(r *Result) float64 { return r.busiest(prefix) }
	}
	panels := []linePanel{
		{title: "ADD latency (request → READY), fixed offered load", ylabel: "ms", series: []series{
			{"p50", "#1f77b4", per(func(r *Result) float64 { return ms(r.AddP50()) })},
			{"p99", "#d62728", per(func(r *Result) float64 { return ms(r.AddP99()) })},
		}},
		{title: "Relay RSS growth per idle session", ylabel: "KiB", series: []series{
			{"NB relay, per host agent", "#1f77b4", per(func(r *Result) float64 { return r.PerSession("nb-relay") / 1024 })},
			{"SB relay, per DPU agent", "#2ca02c", per(func(r *Result) float64 { return r.PerSession("sb-relay") / 1024 })},
			{"SB relay, per real ovn-controller", "#7f7f7f", per(func(r *Result) float64 { return r.RefPerSession() / 1024 })},
		}},
		{title: "Central CPU per 1000 attach/detach operations", ylabel: "CPU s", series: []series{
			{"ovn-northd", "#d62728", per(func(r *Result) float64 { return r.CPUPer1000("northd") })},
			{"NB member (busiest)", "#1f77b4", per(maxCPU("nb-"))},
			{"SB member (busiest)", "#2ca02c", per(maxCPU("sb-"))},
			{"NB relay", "#9467bd", per(func(r *Result) float64 { return r.CPUPer1000("nb-relay") })},
			{"SB relay", "#8c564b", per(func(r *Result) float64 { return r.CPUPer1000("sb-relay") })},
		}},
		{title: "Agent RSS after the churn (median)", ylabel: "MiB", series: []series{
			{"host agent", "#1f77b4", per(func(r *Result) float64 { return float64(median64(r.HostRSSEnd)) / (1 << 20) })},
			{"DPU agent", "#2ca02c", per(func(r *Result) float64 { return float64(median64(r.DPURSSEnd)) / (1 << 20) })},
		}},
	}
	xs := make([]float64, len(results))
	for i, r := range results {
		xs[i] = float64(r.N)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n",
		plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" text-anchor="middle">%s</text>`+"\n", plotW/2,
		bench.EscapeXML(fmt.Sprintf("ovn-dpu fleet scale: N hosts + N DPUs on clustered NB/SB with relays (%d pods per host)", results[0].Pods)))
	for i, p := range panels {
		p.draw(&b, float64(i%2*panelW), float64(30+i/2*panelH), xs)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func (p linePanel) draw(b *strings.Builder, x0, y0 float64, xs []float64) {
	left, top := x0+marginL, y0+marginT
	w, h := float64(panelW-marginL-marginR), float64(panelH-marginT-marginB)
	xmax := 0.0
	for _, x := range xs {
		xmax = max(xmax, x)
	}
	ymax := 0.0
	for _, s := range p.series {
		for _, y := range s.ys {
			if !math.IsNaN(y) {
				ymax = max(ymax, y)
			}
		}
	}
	xstep, xend := bench.NiceAxis(xmax)
	ystep, yend := bench.NiceAxis(ymax * 1.05)
	px := func(x float64) float64 { return left + x/xend*w }
	py := func(y float64) float64 { return top + h - y/yend*h }
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" font-size="12" font-weight="bold">%s</text>`+"\n", left, y0+marginT-22, bench.EscapeXML(p.title))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", left, top, w, h)
	for x := 0.0; x <= xend+xstep/2; x += xstep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n",
			px(x), top, px(x), top+h, px(x), top+h+14, x)
	}
	for y := 0.0; y <= yend+ystep/2; y += ystep {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/><text x="%.1f" y="%.1f" text-anchor="end">%g</text>`+"\n",
			left, py(y), left+w, py(y), left-4, py(y)+4, y)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">N (hosts, each with a DPU)</text>`+"\n", left+w/2, top+h+30)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		x0+16, top+h/2, x0+16, top+h/2, bench.EscapeXML(p.ylabel))
	for i, s := range p.series {
		var pts []string
		for j, y := range s.ys {
			if math.IsNaN(y) {
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[j]), py(y)))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", px(xs[j]), py(y), s.color)
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), s.color)
		}
		ly := top + 10 + float64(i*legendRowH)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			left+legendLeft, ly, left+legendLeft+16, ly, s.color, left+legendLeft+20, ly+4, bench.EscapeXML(s.label))
	}
}
