package training

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/canvas/runes"
	"github.com/NimbleMarkets/ntcharts/linechart"
	"github.com/charmbracelet/lipgloss"

	"resyn/storage"
	"resyn/themes"
)

// preferred is the order of the curves the pane knows by name; other
// metrics follow in name order.
// A GRPO run opens on its reward; a run with a warm start only (SFT) on
// its held-out reward, else its loss.
var preferred = []string{"reward", "eval_reward", "pass_rate", "eval_pass_rate", "loss", "sft_loss", "kl", "entropy", "response_len", "tokens_per_s"}

// series is one curve: values by step, in step order.
type series struct {
	steps []int64
	vals  []float64
}

// add appends a point, replacing the last one when it is of the same step
// (a followed run re-reads its last step).
func (s *series) add(step int64, v float64) {
	if n := len(s.steps); n > 0 && s.steps[n-1] == step {
		s.vals[n-1] = v
		return
	}
	if n := len(s.steps); n > 0 && s.steps[n-1] > step {
		i := sort.Search(n, func(i int) bool { return s.steps[i] >= step })
		if s.steps[i] == step {
			s.vals[i] = v
			return
		}
		s.steps = append(s.steps[:i], append([]int64{step}, s.steps[i:]...)...)
		s.vals = append(s.vals[:i], append([]float64{v}, s.vals[i:]...)...)
		return
	}
	s.steps = append(s.steps, step)
	s.vals = append(s.vals, v)
}

func (s *series) last() (int64, float64, bool) {
	if len(s.steps) == 0 {
		return 0, 0, false
	}
	return s.steps[len(s.steps)-1], s.vals[len(s.vals)-1], true
}

// metrics holds a run's curves.
type metrics struct {
	scalar map[string]*series
	perEnv map[string]map[string]*series // metric → environment → curve
	last   int64
}

func newMetrics() *metrics {
	return &metrics{scalar: map[string]*series{}, perEnv: map[string]map[string]*series{}}
}

func (m *metrics) add(points []storage.MetricPoint) {
	for _, p := range points {
		if p.Step > m.last {
			m.last = p.Step
		}
		if !finite(p.Value) {
			continue
		}
		s := m.scalar[p.Name]
		if s == nil {
			s = &series{}
			m.scalar[p.Name] = s
		}
		s.add(p.Step, p.Value)
		if len(p.PerEnv) > 0 {
			envs := m.perEnv[p.Name]
			if envs == nil {
				envs = map[string]*series{}
				m.perEnv[p.Name] = envs
			}
			for e, v := range p.PerEnv {
				if !finite(v) {
					continue
				}
				if envs[e] == nil {
					envs[e] = &series{}
				}
				envs[e].add(p.Step, v)
			}
		}
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// charts lists the curves to offer: the known ones first, then the rest;
// per-environment copies ("pass_rate/x") and curriculum levels are left
// out, as they show inside their metric's chart.
func (m *metrics) charts() []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range preferred {
		if m.scalar[n] != nil {
			out = append(out, n)
			seen[n] = true
		}
	}
	var rest []string
	for n := range m.scalar {
		if seen[n] || strings.Contains(n, "/") || n == "level" {
			continue
		}
		rest = append(rest, n)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

// line is one drawn curve with its legend label.
type line struct {
	label string
	s     *series
	style lipgloss.Style
	raw   *series // the points before smoothing, drawn faint behind a single curve
	thin  bool    // drawn in line runes (a reference run), not braille
	faint bool    // behind the environment in focus
	same  string  // the label of an earlier line with the very same points
}

// seriesStyle is the colour of the i-th line.
func seriesStyle(st themes.Styles, i int) lipgloss.Style {
	cs := st.Theme.Series
	return lipgloss.NewStyle().Foreground(cs[i%len(cs)])
}

// lines returns what the chart of name draws: one curve per environment
// when the metric has them, else the single curve.
func (m *metrics) lines(name string, st themes.Styles) []line {
	colour := func(i int) lipgloss.Style { return seriesStyle(st, i) }
	if envs := m.perEnv[name]; len(envs) > 0 {
		names := make([]string, 0, len(envs))
		for e := range envs {
			names = append(names, e)
		}
		sort.Strings(names)
		out := make([]line, len(names))
		for i, e := range names {
			out[i] = line{label: e, s: envs[e], style: colour(i)}
		}
		return out
	}
	if s := m.scalar[name]; s != nil {
		return []line{{label: name, s: s, style: colour(0)}}
	}
	return nil
}

// drawChart draws curves in a w×h box with axes and labels, the y range
// from their points.
func drawChart(lines []line, w, h int, st themes.Styles) string {
	return drawChartRange(lines, w, h, st, math.Inf(1), math.Inf(-1))
}

// drawChartRange is drawChart with a y range that holds at least
// [minY, maxY] (small multiples share one).
func drawChartRange(lines []line, w, h int, st themes.Styles, minY, maxY float64) string {
	if w < 10 || h < 4 || len(lines) == 0 {
		return ""
	}
	minX, maxX := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, s := range []*series{l.s, l.raw} {
			if s == nil {
				continue
			}
			for i, x := range s.steps {
				minX, maxX = math.Min(minX, float64(x)), math.Max(maxX, float64(x))
				minY, maxY = math.Min(minY, s.vals[i]), math.Max(maxY, s.vals[i])
			}
		}
	}
	if math.IsInf(minX, 0) {
		return ""
	}
	if maxX == minX {
		maxX = minX + 1
	}
	if maxY == minY {
		pad := math.Max(math.Abs(maxY)*0.1, 0.5)
		minY, maxY = minY-pad, maxY+pad
	} else {
		pad := (maxY - minY) * 0.05
		minY, maxY = minY-pad, maxY+pad
	}
	lc := linechart.New(w, h, minX, maxX, minY, maxY,
		linechart.WithXYSteps(max(w/12, 2), max(h/4, 1)),
		linechart.WithStyles(st.Faint, st.Secondary, st.Text),
		linechart.WithXLabelFormatter(func(_ int, v float64) string { return fmt.Sprintf("%.0f", v) }),
		linechart.WithYLabelFormatter(func(_ int, v float64) string { return shortNum(v) }),
	)
	lc.DrawXYAxisAndLabel()
	// Line runes (a reference run) first: braille drawn after them stays
	// readable where they cross.
	for _, thin := range []bool{true, false} {
		for _, l := range lines {
			if l.thin != thin {
				continue
			}
			style := l.style
			if l.faint {
				if st.Theme.Mono {
					continue // without colour a faint line reads as any other: leave it out
				}
				style = st.Faint
			}
			if l.raw != nil && len(lines) == 1 {
				plot(&lc, l.raw, st.Faint, l.thin)
			}
			plot(&lc, l.s, style, l.thin)
		}
	}
	return lc.View()
}

// plot draws one curve, point to point.
func plot(lc *linechart.Model, s *series, style lipgloss.Style, thin bool) {
	draw := func(a, b canvas.Float64Point) {
		if thin {
			lc.DrawLineWithStyle(a, b, runes.ThinLineStyle, style)
		} else {
			lc.DrawBrailleLineWithStyle(a, b, style)
		}
	}
	if len(s.steps) == 1 {
		p := canvas.Float64Point{X: float64(s.steps[0]), Y: s.vals[0]}
		draw(p, p)
	}
	for i := 1; i < len(s.steps); i++ {
		draw(canvas.Float64Point{X: float64(s.steps[i-1]), Y: s.vals[i-1]}, canvas.Float64Point{X: float64(s.steps[i]), Y: s.vals[i]})
	}
}

// shortNum formats a value in at most about six cells.
func shortNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a == 0:
		return "0"
	case a >= 10000:
		return fmt.Sprintf("%.0fk", v/1000)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.001:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.0e", v)
}
