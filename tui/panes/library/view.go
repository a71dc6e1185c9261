package library

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	corelib "resyn/core/library"
	coresynth "resyn/core/synth"
	"resyn/storage"
	"resyn/themes"
	"resyn/tui/pane"
)

// detailLines is the height of the box under the list that describes the
// selected environment.
const detailLines = 4

// listHeight is how many rows of environments fit.
func (m *Model) listHeight() int {
	return max(m.h-3-detailLines, 1) // filter line, header, separator, details
}

// View draws the pane.
func (m *Model) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	switch m.mode {
	case modeHistory:
		return pane.Fit(m.historyView(), m.w, m.h)
	case modeDiff:
		head := m.ctx.Styles.Title.Render(m.diffCaption)
		return pane.Fit(head+"\n\n"+m.diff.View(), m.w, m.h)
	}
	st := m.ctx.Styles
	var b strings.Builder
	b.WriteString(m.filterLine())
	b.WriteByte('\n')
	cols := m.columns()
	b.WriteString(st.Secondary.Bold(true).Render(cols.header()))
	b.WriteByte('\n')
	lh := m.listHeight()
	switch {
	case !m.loaded:
		b.WriteString(st.Faint.Render("loading the library…"))
		lh--
	case len(m.rows) == 0:
		b.WriteString(st.Faint.Render("no environment matches; esc clears the filters"))
		lh--
	}
	end := min(len(m.rows), m.offset+lh)
	for j := m.offset; j < end; j++ {
		r := m.rows[j]
		b.WriteString(cols.row(st, m.all[r.i], r.matched, j == m.cursor))
		b.WriteByte('\n')
		lh--
	}
	for ; lh > 0; lh-- {
		b.WriteByte('\n')
	}
	b.WriteString(st.Faint.Render(strings.Repeat("─", m.w)))
	b.WriteByte('\n')
	b.WriteString(m.details())
	return pane.Fit(b.String(), m.w, m.h)
}

func (m *Model) filterLine() string {
	st := m.ctx.Styles
	count := st.Secondary.Render(fmt.Sprintf("%d of %d", len(m.rows), len(m.all)))
	var left string
	if m.Capturing() {
		left = m.input.View()
	} else {
		val := func(label, v string) string {
			if v == "" {
				return st.Faint.Render(label + ": all")
			}
			return st.Secondary.Render(label+": ") + st.Title.Render(v)
		}
		q := st.Faint.Render("search: –")
		if m.query != "" {
			q = st.Secondary.Render("search: ") + st.Title.Render(m.query)
		}
		left = val("status", string(m.status)) + "  " + val("tag", m.tag) + "  " + q
	}
	gap := m.w - lipgloss.Width(left) - lipgloss.Width(count)
	if gap < 1 {
		return pane.Cut(left, m.w)
	}
	return left + strings.Repeat(" ", gap) + count
}

// columns are the widths of the list's columns at the pane's width.
type columns struct {
	name, status, category, valid, diff, cal, tags int
}

func (m *Model) columns() columns {
	c := columns{status: 10, valid: 6, diff: 6, cal: 5}
	rest := m.w - c.status - c.valid - c.diff - c.cal
	c.name = max(min(rest*2/5, 32), 12)
	rest -= c.name
	c.category = max(min(rest/2, 22), 8)
	c.tags = max(rest-c.category, 0)
	return c
}

func (c columns) header() string {
	return cell("  NAME", c.name) + cell("STATUS", c.status) + cell("CATEGORY", c.category) +
		cell("VALID", c.valid) + cell("DIFF", c.diff) + cell("CAL", c.cal) + pane.Pad("TAGS", c.tags)
}

// cell is one column: the text cut to leave a space before the next.
func cell(s string, w int) string { return pane.Pad(pane.Cut(s, w-1), w) }

func (c columns) row(st themes.Styles, e corelib.Entry, matched []int, selected bool) string {
	cursor := "  "
	if selected {
		cursor = "› "
	}
	name := pane.Cut(e.Name, c.name-3)
	if len(matched) > 0 && !selected {
		name = highlight(st, name, matched)
	}
	status := cell(string(e.Status), c.status)
	valid := cell(validMark(e.Validation), c.valid)
	cal := "·"
	if c, ok := calibration(e); ok {
		cal = c.mean
	}
	rest := cell(e.Category, c.category) + valid + cell(fmt.Sprintf("%d-%d", e.MinDifficulty, e.MaxDifficulty), c.diff) +
		cell(cal, c.cal) + pane.Pad(strings.Join(tagsAfterCategory(e), ","), c.tags)
	line := cursor + name + strings.Repeat(" ", max(c.name-2-lipgloss.Width(name), 0))
	if selected {
		return st.Selected.Render(pane.Pad(cursor+pane.Cut(e.Name, c.name-3), c.name) + status + rest)
	}
	return line + statusStyle(st, e.Status).Render(status) + st.Text.Render(rest)
}

func highlight(st themes.Styles, name string, matched []int) string {
	var b strings.Builder
	set := map[int]bool{}
	for _, i := range matched {
		set[i] = true
	}
	for i, r := range name {
		if set[i] {
			b.WriteString(st.Match.Render(string(r)))
		} else {
			b.WriteString(st.Text.Render(string(r)))
		}
	}
	return b.String()
}

func validMark(v string) string {
	switch v {
	case "pass":
		return "✓"
	case "fail":
		return "✗"
	}
	return "·"
}

func tagsAfterCategory(e corelib.Entry) []string {
	if len(e.Tags) > 0 && e.Tags[0] == e.Category {
		return e.Tags[1:]
	}
	return e.Tags
}

func statusStyle(st themes.Styles, s storage.Status) lipgloss.Style {
	switch s {
	case storage.StatusAccepted:
		return st.OK
	case storage.StatusRejected:
		return st.Error
	default:
		return st.Warn
	}
}

func (m *Model) details() string {
	st := m.ctx.Styles
	e, ok := m.Selected()
	if !ok {
		return ""
	}
	origin := e.Origin.Kind
	switch {
	case e.Origin.File != "":
		origin += " " + e.Origin.File
	case e.Origin.SynthRun != 0:
		origin += fmt.Sprintf(" run %d", e.Origin.SynthRun)
	}
	rev := "built-in, never curated"
	if e.Stored {
		rev = fmt.Sprintf("revision %d, %s", e.Revision, e.Updated.Format("2006-01-02 15:04"))
	}
	lines := []string{
		st.Heading.Render(e.Name) + "  " + st.Text.Render(e.Description),
		st.Secondary.Render("tags ") + st.Text.Render(strings.Join(e.Tags, ", ")) + st.Secondary.Render("   origin ") + st.Text.Render(origin) + st.Secondary.Render("   ") + st.Faint.Render(rev),
	}
	if c, ok := calibration(e); ok {
		lines = append(lines, st.Secondary.Render("calibration ")+st.Text.Render(c.detail))
	}
	if n := len(e.Notes); n > 0 {
		last := e.Notes[n-1]
		when := ""
		if !last.Time.IsZero() {
			when = " " + last.Time.Format("2006-01-02")
		}
		lines = append(lines, st.Secondary.Render(fmt.Sprintf("notes (%d) ", n))+st.Text.Render(last.Text)+st.Faint.Render(when))
	}
	for i, l := range lines {
		lines[i] = pane.Cut(l, m.w)
	}
	return strings.Join(lines, "\n")
}

// cal is a calibration drawn for the list (the mean pass rate over levels)
// and for the details (the rate at every level, the solver, the flags).
type cal struct{ mean, detail string }

func calibration(e corelib.Entry) (cal, bool) {
	if len(e.Calibration) == 0 {
		return cal{}, false
	}
	var c coresynth.Calibration
	if json.Unmarshal(e.Calibration, &c) != nil || len(c.Levels) == 0 {
		return cal{"?", strings.Join(strings.Fields(string(e.Calibration)), " ")}, true
	}
	var sum float64
	var parts []string
	for _, l := range c.Levels {
		sum += l.Rate
		parts = append(parts, fmt.Sprintf("d%d %.0f%%", l.Difficulty, 100*l.Rate))
	}
	d := strings.Join(parts, " · ")
	if c.Solver != "" {
		d = c.Solver + ": " + d
	}
	if c.Trend != nil {
		d += fmt.Sprintf("  falls with the level: p=%.2g", c.Trend.PValue)
	}
	if len(c.Flags) > 0 {
		d += "  [" + strings.Join(c.Flags, ", ") + "]"
	}
	return cal{fmt.Sprintf("%.0f%%", 100*sum/float64(len(c.Levels))), d}, true
}

func (m *Model) historyView() string {
	st := m.ctx.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("history of "+m.histName) + st.Faint.Render("   enter: diff against the previous revision · esc: back"))
	b.WriteString("\n\n")
	b.WriteString(st.Secondary.Bold(true).Render(pane.Pad("  REV", 7) + pane.Pad("TIME", 18) + pane.Pad("STATUS", 11) + "CHANGE"))
	b.WriteByte('\n')
	lh := m.h - 3
	start := max(0, min(m.histCursor-lh/2, len(m.history)-lh))
	for i := start; i < len(m.history) && i < start+lh; i++ {
		r := m.history[i]
		t := "—"
		if !r.Time.IsZero() {
			t = r.Time.Format("2006-01-02 15:04")
		}
		line := pane.Pad(fmt.Sprintf("  %d", r.Revision), 7) + pane.Pad(t, 18) + pane.Pad(string(r.Status), 11) + r.Change
		if i == m.histCursor {
			line = st.Selected.Render(pane.Pad("›"+line[1:], m.w))
		} else {
			line = st.Text.Render(pane.Cut(line, m.w))
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}
