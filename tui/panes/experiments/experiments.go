package experiments

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/NimbleMarkets/ntcharts/canvas"
	"github.com/NimbleMarkets/ntcharts/linechart"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/storage"
	"resyn/trainer/experiment"
	"resyn/tui/pane"
)

// ListMsg carries the store's experiments and their reports.
type ListMsg struct {
	Recs    []storage.Experiment
	Reports []experiment.Report
	Err     error
}

type pollMsg struct{}

// metric is one curve the pane draws.
type metric struct {
	name string
	stat func(experiment.Point) experiment.Stat
}

var metrics = []metric{
	{"held-out reward", func(p experiment.Point) experiment.Stat { return p.Holdout }},
	{"held-out answer NLL", func(p experiment.Point) experiment.Stat { return p.HoldoutNLL }},
	{"without the tags", func(p experiment.Point) experiment.Stat { return p.HoldoutContentNLL }},
	{"in-distribution reward", func(p experiment.Point) experiment.Stat { return p.InDist }},
}

// Model is the Experiments pane.
type Model struct {
	ctx     *pane.Context
	keys    keyMap
	w, h    int
	recs    []storage.Experiment
	reps    []experiment.Report
	idx     int
	metric  int
	loaded  bool
	err     error
	polling bool
}

// New makes the pane.
func New(ctx *pane.Context) *Model { return &Model{ctx: ctx, keys: newKeyMap()} }

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Experiments" }

// Capturing: the pane reads no text.
func (m *Model) Capturing() bool { return false }

// SetSize gives the pane its area.
func (m *Model) SetSize(w, h int) { m.w, m.h = w, h }

// Init lists the experiments.
func (m *Model) Init() tea.Cmd { return m.listCmd() }

// Selected is the experiment shown (0 when there is none) and the curve.
func (m *Model) Selected() (uint64, string) {
	if len(m.recs) == 0 {
		return 0, metrics[m.metric].name
	}
	return m.recs[m.idx].ID, metrics[m.metric].name
}

func (m *Model) listCmd() tea.Cmd {
	db := m.ctx.Store
	if db == nil {
		return nil
	}
	return func() tea.Msg {
		recs, reps, err := experiment.List(db)
		return ListMsg{Recs: recs, Reports: reps, Err: err}
	}
}

// pollCmd schedules the next read while an experiment is running
// (Context.Poll; none when it is 0).
func (m *Model) pollCmd() tea.Cmd {
	if m.ctx.Poll <= 0 || m.polling {
		return nil
	}
	m.polling = true
	return tea.Tick(m.ctx.Poll, func(time.Time) tea.Msg { return pollMsg{} })
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (pane.Pane, tea.Cmd) {
	switch msg := msg.(type) {
	case ListMsg:
		m.loaded, m.err = true, msg.Err
		if msg.Err == nil {
			keep := uint64(0)
			if len(m.recs) > 0 {
				keep = m.recs[m.idx].ID
			}
			m.recs, m.reps, m.idx = msg.Recs, msg.Reports, max(len(msg.Recs)-1, 0)
			for i, r := range m.recs {
				if r.ID == keep {
					m.idx = i
				}
			}
		}
		return m, m.pollCmd()
	case pollMsg:
		m.polling = false
		return m, m.listCmd()
	case tea.KeyMsg:
		k := m.keys
		switch {
		case key.Matches(msg, k.Next):
			m.idx = min(m.idx+1, max(len(m.recs)-1, 0))
		case key.Matches(msg, k.Prev):
			m.idx = max(m.idx-1, 0)
		case key.Matches(msg, k.NextMetric):
			m.metric = (m.metric + 1) % len(metrics)
		case key.Matches(msg, k.PrevMetric):
			m.metric = (m.metric + len(metrics) - 1) % len(metrics)
		case key.Matches(msg, k.Reload):
			return m, m.listCmd()
		}
	}
	return m, nil
}

// View draws the list, the curve tabs, the chart and the table.
func (m *Model) View() string {
	st := m.ctx.Styles
	switch {
	case m.ctx.Store == nil:
		return st.Faint.Render("No store: experiments are recorded in one (resyn --db FILE).")
	case m.err != nil:
		return st.Error.Render("Reading the experiments: " + m.err.Error())
	case !m.loaded:
		return st.Faint.Render("Reading the experiments…")
	case len(m.recs) == 0:
		return st.Faint.Render("No experiments yet. `resyn experiment diversity` runs the paper's diversity ablation;\n" +
			"its curves appear here as its runs finish.")
	}
	var b strings.Builder
	b.WriteString(st.Title.Render("Experiments") + "\n")
	lo := max(0, min(m.idx-2, len(m.recs)-5))
	for i := lo; i < min(len(m.recs), lo+5); i++ {
		line := m.listLine(i)
		if i == m.idx {
			b.WriteString(st.Selected.Render("▸ "+line) + "\n")
		} else {
			b.WriteString(st.Text.Render("  "+line) + "\n")
		}
	}
	var tabs []string
	for i, mt := range metrics {
		if i == m.metric {
			tabs = append(tabs, st.TabActive.Render(mt.name))
		} else {
			tabs = append(tabs, st.Tab.Render(mt.name))
		}
	}
	b.WriteString("\n" + strings.Join(tabs, " ") + "\n")
	rep := m.reps[m.idx]
	pts := rep.Curves()
	table := m.table(rep, pts)
	used := strings.Count(b.String(), "\n") + len(table)
	if chart := m.chart(pts, max(m.h-used-1, 0)); chart != "" {
		b.WriteString(chart + "\n")
	}
	b.WriteString(strings.Join(table, "\n"))
	return b.String()
}

func (m *Model) listLine(i int) string {
	r, rep := m.recs[i], m.reps[i]
	done, failed := rep.Done()
	s := fmt.Sprintf("%d  %s  %-11s %d/%d runs", r.ID, r.Kind, r.Status, done, len(rep.Cells))
	if failed > 0 {
		s += fmt.Sprintf(" (%d failed)", failed)
	}
	d := rep.Design
	s += fmt.Sprintf("  K %v  budget %d  held out %s", d.Ks, d.Budget, strings.Join(d.Holdout, ","))
	if r.Name != "" {
		s += "  " + r.Name
	}
	return pane.Cut(s, max(m.w-2, 1))
}

// table is the lines under the chart: the curve's mean ± sd by K.
func (m *Model) table(rep experiment.Report, pts []experiment.Point) []string {
	st := m.ctx.Styles
	mt := metrics[m.metric]
	out := []string{st.Secondary.Render(fmt.Sprintf("%-4s %-14s %-6s %s", "K", "instances/env", "seeds", mt.name+" (mean ± sd; the seeds' values)"))}
	byK := map[int]experiment.Point{}
	for _, p := range pts {
		byK[p.K] = p
	}
	for _, k := range rep.Design.Ks {
		p, ok := byK[k]
		row := fmt.Sprintf("%-4d %-14d %-6d ", k, rep.Design.PerEnv(k), p.N)
		s := mt.stat(p)
		if !ok || len(s.Values) == 0 {
			row += "–"
		} else {
			vals := make([]string, len(s.Values))
			for i, v := range s.Values {
				vals[i] = fmt.Sprintf("%.3f", v)
			}
			row += fmt.Sprintf("%.3f ± %.3f  (%s)", s.Mean, s.SD, strings.Join(vals, ", "))
		}
		out = append(out, pane.Cut(row, m.w))
	}
	return out
}

// chart draws the curve by K: the mean as a line, the seeds as points.
func (m *Model) chart(pts []experiment.Point, h int) string {
	st := m.ctx.Styles
	if h < 5 || m.w < 20 || len(pts) == 0 {
		return ""
	}
	mt := metrics[m.metric]
	lo, hi := math.Inf(1), math.Inf(-1)
	minK, maxK := float64(pts[0].K), float64(pts[len(pts)-1].K)
	for _, p := range pts {
		for _, v := range mt.stat(p).Values {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if math.IsInf(lo, 0) {
		return ""
	}
	if hi-lo < 1e-6 {
		lo, hi = lo-0.05, hi+0.05
	}
	if maxK == minK {
		maxK = minK + 1
	}
	lc := linechart.New(m.w-2, h, minK, maxK, lo, hi,
		linechart.WithXYSteps(max((m.w-2)/12, 2), max(h/4, 1)),
		linechart.WithStyles(st.Faint, st.Secondary, st.Text),
		linechart.WithXLabelFormatter(func(_ int, v float64) string { return fmt.Sprintf("%.0f", v) }),
		linechart.WithYLabelFormatter(func(_ int, v float64) string { return fmt.Sprintf("%.3g", v) }))
	lc.DrawXYAxisAndLabel()
	var prev *canvas.Float64Point
	for _, p := range pts {
		s := mt.stat(p)
		if len(s.Values) == 0 {
			continue
		}
		for _, v := range s.Values {
			lc.DrawRuneWithStyle(canvas.Float64Point{X: float64(p.K), Y: v}, '·', st.Faint)
		}
		cur := canvas.Float64Point{X: float64(p.K), Y: s.Mean}
		if prev != nil {
			lc.DrawBrailleLineWithStyle(*prev, cur, st.Title)
		} else {
			lc.DrawBrailleLineWithStyle(cur, cur, st.Title)
		}
		prev = &cur
	}
	return lc.View()
}
