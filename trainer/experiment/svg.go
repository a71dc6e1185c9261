package experiment

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// The plot is written by hand: three small panels of points and lines are
// a few dozen SVG elements, and no plotting library for Go is smaller
// than this file or draws to SVG without a graphics stack.

// panel is one chart of the plot: a statistic of each point by K.
type panel struct {
	title, unit string
	stat        func(Point) Stat
}

var panels = []panel{
	{"held-out reward", "mean reward", func(p Point) Stat { return p.Holdout }},
	{"held-out reference-answer NLL", "nats/token (lower is better)", func(p Point) Stat { return p.HoldoutNLL }},
	{"held-out answer NLL, tags left out", "nats/token of the answer itself", func(p Point) Stat { return p.HoldoutContentNLL }},
	{"in-distribution reward", "on each run's own environments", func(p Point) Stat { return p.InDist }},
}

const (
	panelW, panelH = 300, 240
	marginL        = 52
	marginT        = 40
	plotW, plotH   = panelW - marginL - 16, panelH - marginT - 44
)

// WriteSVG draws the report's curves: for each panel, every seed's value
// by K (grey dots), their mean (a line) and ±1 standard deviation (bars),
// K on a log scale.
func (r Report) WriteSVG(w io.Writer) error {
	pts := r.Curves()
	var shown []panel // the panels with values (an older report lacks some measures)
	for _, p := range panels {
		for _, pt := range pts {
			if len(p.stat(pt).Values) > 0 {
				shown = append(shown, p)
				break
			}
		}
	}
	if len(shown) == 0 {
		shown = panels[:1]
	}
	var b strings.Builder
	width, height := panelW*len(shown), panelH+40
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	d := r.Design
	done, _ := r.Done()
	fmt.Fprintf(&b, `<text x="8" y="16" font-size="13" font-weight="bold">%s</text>`+"\n", esc(fmt.Sprintf(
		"Diversity ablation: %d training instances over K environments (%d runs of %d)", d.Budget, done, len(r.Cells))))
	fmt.Fprintf(&b, `<text x="8" y="%d" fill="#555">%s</text>`+"\n", height-8, esc(fmt.Sprintf(
		"%s, %d SFT + %d GRPO steps, seeds %v; held out: %s. Grey: each seed; line: mean ± 1 sd.",
		d.Preset, d.SFTSteps, d.Steps, d.Seeds, strings.Join(d.Holdout, ", "))))
	for i, p := range shown {
		drawPanel(&b, i*panelW, 24, p, pts, d.Ks)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func drawPanel(b *strings.Builder, x0, y0 int, p panel, pts []Point, ks []int) {
	lo, hi, least := math.Inf(1), math.Inf(-1), math.Inf(1)
	for _, pt := range pts {
		s := p.stat(pt)
		for _, v := range append(s.Values, s.Mean-s.SD, s.Mean+s.SD) {
			if len(s.Values) > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		for _, v := range s.Values {
			least = math.Min(least, v)
		}
	}
	if least >= 0 {
		lo = math.Max(lo, 0) // rewards and NLLs are never negative: the sd bars stop at 0
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if hi-lo < 1e-3 {
		lo, hi = lo-0.05, hi+0.05
	}
	pad := (hi - lo) * 0.08
	if lo >= 0 && lo-pad < 0 {
		lo, hi = 0, hi+pad
	} else {
		lo, hi = lo-pad, hi+pad
	}
	// Tick labels to two or three significant figures of the range.
	dec := min(max(int(math.Ceil(-math.Log10(hi-lo)))+1, 0), 6)
	kmax := float64(ks[len(ks)-1])
	xOf := func(k int) float64 {
		if kmax <= 1 {
			return float64(x0 + marginL + plotW/2)
		}
		return float64(x0+marginL) + math.Log2(float64(k))/math.Log2(kmax)*plotW
	}
	yOf := func(v float64) float64 { return float64(y0+marginT) + (hi-min(max(v, lo), hi))/(hi-lo)*plotH }
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", x0+marginL, y0+marginT-18, esc(p.title))
	fmt.Fprintf(b, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", x0+marginL, y0+marginT-6, esc(p.unit))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", x0+marginL, y0+marginT, plotW, plotH)
	for i := range 5 {
		v := lo + (hi-lo)*float64(i)/4
		y := yOf(v)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%.*f</text>`+"\n",
			x0+marginL, x0+marginL+plotW, y, y, x0+marginL-4, y+4, dec, v)
	}
	for _, k := range ks {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", xOf(k), y0+marginT+plotH+14, k)
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">K environments (same instance budget)</text>`+"\n", x0+marginL+plotW/2, y0+marginT+plotH+30)
	var line []string
	for _, pt := range pts {
		s := p.stat(pt)
		if len(s.Values) == 0 {
			continue
		}
		x := xOf(pt.K)
		for _, v := range s.Values {
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="#aaa"/>`+"\n", x+4, yOf(v))
		}
		if len(s.Values) > 1 {
			fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#1f5fa8"/>`+"\n", x, x, yOf(s.Mean-s.SD), yOf(s.Mean+s.SD))
		}
		fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="#1f5fa8"/>`+"\n", x, yOf(s.Mean))
		line = append(line, fmt.Sprintf("%.1f,%.1f", x, yOf(s.Mean)))
	}
	if len(line) > 1 {
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="#1f5fa8" stroke-width="1.5"/>`+"\n", strings.Join(line, " "))
	}
}

func esc(s string) string { return html.EscapeString(s) }
