package bench

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The plot: single-attach latency distributions (CDFs) of ours and the
// baselines, then per burst size the completion curves of the ADDs and of
// the DELs (the fraction of the N returned vs time). Hand-written SVG.

var legend = map[string]string{
	Ours: "ours (cnitool add → result)", OursAgent: "ours agent-side", OVNPlug: "OVN's own plug (dummy)",
	CMSPlug: "CMS-side plug", ExecFloor: "exec floor",
}

var color = map[string]string{
	Ours: "#d62728", OursAgent: "#ff7f0e", OVNPlug: "#1f77b4", CMSPlug: "#2ca02c", ExecFloor: "#7f7f7f",
}

const (
	svgWidth   = 960
	panelH     = 270
	plotLeft   = 58
	plotRight  = 16
	plotTop    = 44
	plotBottom = 40
)

// WriteSVG writes the plot to path, creating its directory.
func (res *Result) WriteSVG(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := res.svg(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type panel struct {
	title, caption string
	x, y, w, h     float64
	xlabel         string
	curves         []curve
}

type curve struct {
	method string
	values []time.Duration
}

func (res *Result) svg(w io.Writer) error {
	var panels []panel
	y := 62.0
	var singles []curve
	var caption []string
	for _, m := range singleOrder {
		singles = append(singles, curve{m, res.Single[m]})
		caption = append(caption, fmt.Sprintf("%s %s", short3(m), fmtD(median(res.Single[m]))))
	}
	panels = append(panels, panel{title: fmt.Sprintf("Single attach: latency distribution (n=%d per method)", res.Config.Samples),
		caption: "p50: " + strings.Join(caption, ", "), x: 0, y: y, w: svgWidth, h: panelH,
		xlabel: "latency (ms)", curves: singles})
	y += panelH
	for _, br := range res.Bursts {
		for k, verb := range []string{"ADD", "DEL"} {
			m := br.Add
			if verb == "DEL" {
				m = br.Del
			}
			var cs []curve
			var cap []string
			for _, meth := range []string{Ours, OVNPlug, CMSPlug, ExecFloor} {
				cs = append(cs, curve{meth, m[meth]})
				cap = append(cap, fmt.Sprintf("%s %s", short4(meth), fmtD(maxOf(m[meth]))))
			}
			panels = append(panels, panel{title: fmt.Sprintf("Burst of %d %ss: fraction returned vs time", br.N, verb),
				caption: "all done: " + strings.Join(cap, " · "), x: float64(k) * svgWidth / 2, y: y, w: svgWidth / 2, h: panelH,
				xlabel: "time since the burst started (ms)", curves: cs})
		}
		y += panelH
	}
	height := y + 10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%.0f" viewBox="0 0 %d %.0f" font-family="sans-serif" font-size="11">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", plotLeft,
		esc(fmt.Sprintf("ovn-dpu attach speed vs OVN's own plug and a CMS-side plug, %s", res.Started.UTC().Format("2006-01-02"))))
	fmt.Fprintf(&b, `<text x="%d" y="36" fill="#555">%s</text>`+"\n", plotLeft, esc(res.Machine))
	// One legend for every panel, under the title (inside a panel it
	// would hide curves).
	lx := float64(plotLeft)
	for _, m := range singleOrder {
		dash := ""
		if m == OursAgent || m == ExecFloor {
			dash = ` stroke-dasharray="5,3"`
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="50" x2="%.1f" y2="50" stroke="%s" stroke-width="2"%s/>`+"\n", lx, lx+18, color[m], dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="54">%s</text>`+"\n", lx+22, esc(legend[m]))
		lx += 22 + 6*float64(len([]rune(legend[m]))) + 18
	}
	for _, p := range panels {
		p.draw(&b)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func short3(m string) string {
	switch m {
	case Ours:
		return "ours"
	case OursAgent:
		return "ours agent-side"
	case OVNPlug:
		return "OVN plug"
	case CMSPlug:
		return "CMS plug"
	default:
		return "exec floor"
	}
}

// short4 is the shortest name, for the half-width captions.
func short4(m string) string {
	switch m {
	case OVNPlug:
		return "OVN"
	case CMSPlug:
		return "CMS"
	case ExecFloor:
		return "floor"
	}
	return short3(m)
}

func (p panel) draw(b *strings.Builder) {
	x0, y0 := p.x+plotLeft, p.y+plotTop
	pw, ph := p.w-plotLeft-plotRight, p.h-plotTop-plotBottom
	var top time.Duration
	for _, c := range p.curves {
		top = max(top, maxOf(c.values))
	}
	step, xmax := niceAxis(ms(top))
	fmt.Fprintf(b, `<g><text x="%.1f" y="%.1f" font-size="13" font-weight="bold">%s</text>`+"\n", x0, p.y+18, esc(p.title))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="#444">%s</text>`+"\n", x0, p.y+32, esc(p.caption))
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#999"/>`+"\n", x0, y0, pw, ph)
	px := func(v float64) float64 { return x0 + v/xmax*pw }
	py := func(f float64) float64 { return y0 + ph - f*ph }
	for v := 0.0; v <= xmax+step/2; v += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", px(v), y0, px(v), y0+ph)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(v), y0+ph+14, fmtF(v))
	}
	for f := 0.0; f <= 1.001; f += 0.25 {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#eee"/>`+"\n", x0, py(f), x0+pw, py(f))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%.2f</text>`+"\n", x0-4, py(f)+4, f)
	}
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x0+pw/2, y0+ph+30, esc(p.xlabel))
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">fraction</text>`+"\n",
		p.x+14, y0+ph/2, p.x+14, y0+ph/2)
	for _, c := range p.curves {
		if len(c.values) == 0 {
			continue
		}
		dash := ""
		if c.method == OursAgent || c.method == ExecFloor {
			dash = ` stroke-dasharray="5,3"`
		}
		fmt.Fprintf(b, `<path d="%s" fill="none" stroke="%s" stroke-width="2"%s/>`+"\n", stepPath(c.values, px, py, xmax), color[c.method], dash)
	}
	b.WriteString("</g>\n")
}

// stepPath is the empirical CDF of values as an SVG path: the fraction
// done rises by 1/n at each value.
func stepPath(values []time.Duration, px, py func(float64) float64, xmax float64) string {
	s := slices.Clone(values)
	slices.Sort(s)
	n := float64(len(s))
	var b strings.Builder
	fmt.Fprintf(&b, "M%.1f,%.1f", px(0), py(0))
	for i, v := range s {
		x := px(math.Min(ms(v), xmax))
		fmt.Fprintf(&b, " L%.1f,%.1f L%.1f,%.1f", x, py(float64(i)/n), x, py(float64(i+1)/n))
	}
	fmt.Fprintf(&b, " L%.1f,%.1f", px(xmax), py(1))
	return b.String()
}

// niceAxis picks a tick step of 1, 2 or 5 × 10^k giving about five ticks
// up to at least top (ms), and the axis end.
func niceAxis(top float64) (step, end float64) {
	if top <= 0 {
		top = 1
	}
	raw := top / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * mag; step >= raw {
			break
		}
	}
	return step, math.Ceil(top/step) * step
}

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")

func esc(s string) string { return escaper.Replace(s) }
