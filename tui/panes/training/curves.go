package training

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/charmbracelet/lipgloss"

	"resyn/storage"
	"resyn/tui/pane"
)

// Smoothings are the EMA weights s steps through (0: off), as TensorBoard's
// smoothing slider (with its debiasing of the first points).
var Smoothings = []float64{0, 0.6, 0.9}

// reference is the run the curves are compared with (c pins it).
type reference struct {
	run  storage.TrainRun
	data *metrics
}

// comparing: a run is pinned and another is shown, drawn against it.
func (m *Model) comparing() bool { return m.ref != nil && m.ref.run.ID != m.run.ID }

// smooth returns s smoothed by an exponential moving average of weight w,
// debiased so that the first points are not pulled towards zero.
func smooth(s *series, w float64) *series {
	if w <= 0 || len(s.vals) == 0 {
		return s
	}
	out := &series{steps: s.steps, vals: make([]float64, len(s.vals))}
	last, n := 0.0, 0
	for i, v := range s.vals {
		last = last*w + (1-w)*v
		n++
		out.vals[i] = last / (1 - math.Pow(w, float64(n)))
	}
	return out
}

// same reports whether two curves are the same points (one would hide the
// other on the chart).
func same(a, b *series) bool {
	if len(a.vals) != len(b.vals) {
		return false
	}
	for i := range a.vals {
		if a.steps[i] != b.steps[i] || math.Abs(a.vals[i]-b.vals[i]) > 1e-9 {
			return false
		}
	}
	return true
}

// envsOf returns the environments a metric has curves for, sorted.
func (m *metrics) envsOf(name string) []string {
	var out []string
	for e := range m.perEnv[name] {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// curveLines is what the chart of the current curve draws: every
// environment's line (the one in focus in front, the others faint — left
// out without colour), or
// with a reference run pinned, this run's and the reference's line of the
// metric (or of the environment in focus), the reference in line runes so
// that the two read apart without colour.
func (m *Model) curveLines(cur string) []line {
	st := m.ctx.Styles
	lines := m.data.lines(cur, st)
	if m.comparing() {
		pick := func(d *metrics) *series {
			if m.focus != "" {
				return d.perEnv[cur][m.focus]
			}
			return d.scalar[cur]
		}
		what := cur
		if m.focus != "" {
			what = cur + " " + m.focus
		}
		lines = nil
		if s := pick(m.data); s != nil {
			lines = append(lines, line{label: fmt.Sprintf("run %d %s", m.run.ID, what), s: s, style: seriesStyle(st, 0)})
		}
		if s := pick(m.ref.data); s != nil {
			lines = append(lines, line{label: fmt.Sprintf("run %d %s", m.ref.run.ID, what), s: s, style: seriesStyle(st, 2), thin: true})
		}
	} else if m.focus != "" && len(lines) > 1 {
		// The environment in focus is drawn last, so nothing covers it.
		i := slices.IndexFunc(lines, func(l line) bool { return l.label == m.focus })
		if i >= 0 {
			for j := range lines {
				lines[j].faint = j != i
			}
			f := lines[i]
			lines = append(slices.Delete(lines, i, i+1), f)
		}
	}
	for i := range lines {
		if m.smooth > 0 {
			lines[i].raw = lines[i].s
			lines[i].s = smooth(lines[i].s, m.smooth)
		}
	}
	// Curves that coincide hide each other: the legend says so.
	for i := range lines {
		for j := range i {
			if lines[i].same == "" && same(lines[i].s, lines[j].s) {
				lines[i].same = lines[j].label
			}
		}
	}
	return lines
}

// curvesView is the chart area: the curve tabs, the axis title, the
// chart (or one small chart per environment) and its legend, exactly h
// lines.
func (m *Model) curvesView(h int) string {
	st := m.ctx.Styles
	names, cur := m.Charts()
	var b strings.Builder
	b.WriteString(pane.Cut(m.chartTabs(names, cur), m.w) + "\n")
	b.WriteString(pane.Cut(m.axisTitle(cur), m.w) + "\n")
	lines := m.curveLines(cur)
	legend := m.legend(lines)
	chartH := max(h-2-len(legend), 1)
	if m.split && !m.comparing() && len(m.data.perEnv[cur]) > 1 {
		b.WriteString(m.smallMultiples(cur, m.w, h-2))
		return pane.Fit(b.String(), m.w, h)
	}
	chart := drawChart(lines, m.w-5, chartH, st)
	if chart == "" {
		chart = st.Faint.Render("  no points yet")
	} else {
		// The x axis is steps: say so at the end of its labels.
		cl := strings.Split(chart, "\n")
		cl[len(cl)-1] = pane.Pad(cl[len(cl)-1], m.w-5) + st.Secondary.Render(" step")
		chart = strings.Join(cl, "\n")
	}
	b.WriteString(pane.Fit(chart, m.w, chartH) + "\n")
	b.WriteString(strings.Join(legend, "\n"))
	return pane.Fit(b.String(), m.w, h)
}

// axisTitle names the y axis, and the view's settings when they are not
// the defaults.
func (m *Model) axisTitle(cur string) string {
	st := m.ctx.Styles
	left := st.Heading.Render(cur)
	if d := describe[cur]; d != "" {
		left += st.Faint.Render("  " + d)
	}
	var right []string
	if m.smooth > 0 {
		right = append(right, fmt.Sprintf("smoothed (EMA %.1f, s)", m.smooth))
	}
	if m.focus != "" && slices.Contains(m.data.envsOf(cur), m.focus) {
		right = append(right, "focus "+m.focus+" (e)")
	}
	if m.split && !m.comparing() {
		right = append(right, "one chart per environment (v)")
	}
	switch {
	case m.comparing():
		right = append(right, fmt.Sprintf("against run %d (c)", m.ref.run.ID))
	case m.ref != nil:
		right = append(right, fmt.Sprintf("run %d pinned: [ ] picks another (c)", m.ref.run.ID))
	}
	r := st.Info.Render(strings.Join(right, " · "))
	if lipgloss.Width(left)+2+lipgloss.Width(r) > m.w {
		left = st.Heading.Render(cur) // the settings win over the description
	}
	if gap := m.w - lipgloss.Width(left) - lipgloss.Width(r); gap >= 2 {
		return left + strings.Repeat(" ", gap) + r
	}
	return left + "  " + r
}

// describe says what a known curve measures.
var describe = map[string]string{
	"reward":         "mean reward of the batch's completions",
	"eval_reward":    "mean reward on held-out instances",
	"pass_rate":      "share of completions that score 1",
	"eval_pass_rate": "share of held-out instances passed",
	"loss":           "GRPO loss",
	"sft_loss":       "warm-start (SFT) loss",
	"kl":             "KL to the reference model",
	"entropy":        "mean token entropy",
	"response_len":   "mean completion length, tokens",
	"tokens_per_s":   "training throughput",
	"format_rate":    "share with an <answer> block",
}

// legend is one entry per line, flowed into at most three lines: the last
// value (and, for a single curve, its range), the smoothed value when
// smoothing, and "= other" for a curve hidden under another.
func (m *Model) legend(lines []line) []string {
	st := m.ctx.Styles
	var parts []string
	for _, l := range lines {
		_, v, ok := l.s.last()
		if !ok {
			continue
		}
		text := fmt.Sprintf("%s %s", l.label, shortNum(v))
		if len(lines) == 1 {
			raw := l.s
			if l.raw != nil {
				raw = l.raw
			}
			_, rv, _ := raw.last()
			lo, hi := rv, rv
			for _, x := range raw.vals {
				lo, hi = min(lo, x), max(hi, x)
			}
			text = fmt.Sprintf("%s: last %s  min %s  max %s  (%d points)", l.label, shortNum(rv), shortNum(lo), shortNum(hi), len(raw.vals))
			if l.raw != nil {
				text += "  smoothed " + shortNum(v)
			}
		}
		if l.same != "" {
			text += " (= " + l.same + ")"
		}
		mark := l.style.Render("━━")
		if l.thin {
			mark = l.style.Render("──")
		}
		style := st.Text
		if l.faint {
			style = st.Faint
		} else if m.focus != "" && len(lines) > 1 && !m.comparing() {
			style = st.Heading
		}
		parts = append(parts, mark+" "+style.Render(text))
	}
	var out []string
	row := ""
	for _, p := range parts {
		switch {
		case row == "":
			row = p
		case lipgloss.Width(row)+3+lipgloss.Width(p) <= m.w:
			row += "   " + p
		default:
			out = append(out, row)
			row = p
		}
	}
	if row != "" {
		out = append(out, row)
	}
	if len(out) > 3 {
		out = append(out[:2], pane.Cut(out[2], m.w-12)+st.Faint.Render(fmt.Sprintf(" (+%d more)", len(parts)-countIn(out[:3]))))
		out = out[:3]
	}
	for i := range out {
		out[i] = pane.Cut(out[i], m.w)
	}
	return out
}

// countIn counts the legend entries in some rows (they are joined by three
// spaces).
func countIn(rows []string) int {
	n := 0
	for _, r := range rows {
		n += strings.Count(r, "   ") + 1
	}
	return n
}

// smallMultiples draws one chart per environment, on one y range so that
// they compare, in a grid that fits w×h.
func (m *Model) smallMultiples(cur string, w, h int) string {
	st := m.ctx.Styles
	envs := m.data.envsOf(cur)
	cols := max(1, min(len(envs), w/34))
	rows := (len(envs) + cols - 1) / cols
	for rows > 1 && h/rows < 5 && cols < len(envs) {
		cols++
		rows = (len(envs) + cols - 1) / cols
	}
	pw, ph := w/cols, max(h/rows, 3)
	all := m.data.lines(cur, st)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range all {
		for _, v := range l.s.vals {
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	var grid []string
	for r := 0; r < rows; r++ {
		var panels []string
		for c := 0; c < cols; c++ {
			i := r*cols + c
			if i >= len(all) {
				panels = append(panels, pane.Fit("", pw, ph))
				continue
			}
			l := all[i]
			if m.smooth > 0 {
				l.s = smooth(l.s, m.smooth)
			}
			_, v, _ := l.s.last()
			title := l.style.Render("━━ ") + st.Heading.Render(l.label) + st.Text.Render(" "+shortNum(v))
			chart := drawChartRange([]line{l}, pw-1, ph-1, st, lo, hi)
			panels = append(panels, pane.Fit(pane.Cut(title, pw-1)+"\n"+chart, pw, ph))
		}
		grid = append(grid, lipgloss.JoinHorizontal(lipgloss.Top, panels...))
	}
	return strings.Join(grid, "\n")
}

// tabPart is one curve's tab as drawn: its cells on the line.
type tabPart struct {
	name   string
	x0, x1 int
}

// tabWindow lays the curve tabs out in w cells: all of them when they fit,
// else a window around the current one with ‹ and › where more are, and
// the count.
func tabWindow(names []string, cur string, w int) (parts []tabPart, from, to int) {
	width := func(n string) int { return lipgloss.Width(n) + 2 }
	ci := max(slices.Index(names, cur), 0)
	total := 0
	for _, n := range names {
		total += width(n) + 1
	}
	if total-1 <= w {
		from, to = 0, len(names)
	} else {
		room := w - len(fmt.Sprintf(" ‹ › %d/%d", ci+1, len(names))) - 4
		from, to = ci, ci+1
		used := width(names[ci])
		for {
			grew := false
			if to < len(names) && used+1+width(names[to]) <= room {
				used += 1 + width(names[to])
				to++
				grew = true
			}
			if from > 0 && used+1+width(names[from-1]) <= room {
				from--
				used += 1 + width(names[from])
				grew = true
			}
			if !grew {
				break
			}
		}
	}
	x := 0
	if from > 0 {
		x = 2 // "‹ "
	}
	for _, n := range names[from:to] {
		parts = append(parts, tabPart{n, x, x + width(n)})
		x += width(n) + 1
	}
	return parts, from, to
}

// chartTabs names the curves on offer, the current one in brackets; when
// they do not fit, a window of them around the current one scrolls, with
// ‹ › and the count.
func (m *Model) chartTabs(names []string, cur string) string {
	st := m.ctx.Styles
	parts, from, to := tabWindow(names, cur, m.w)
	var b strings.Builder
	if from > 0 {
		b.WriteString(st.Faint.Render("‹ "))
	}
	for i, p := range parts {
		if i > 0 {
			b.WriteString(st.Faint.Render("·"))
		}
		if p.name == cur {
			b.WriteString(st.Selected.Render("[" + p.name + "]"))
		} else {
			b.WriteString(st.Secondary.Render(" " + p.name + " "))
		}
	}
	if to < len(names) {
		b.WriteString(st.Faint.Render(" ›"))
	}
	if from > 0 || to < len(names) {
		b.WriteString(st.Faint.Render(fmt.Sprintf(" %d/%d", slices.Index(names, cur)+1, len(names))))
	}
	return b.String()
}
