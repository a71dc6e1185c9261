package library

import (
	"encoding/json"
	"fmt"
	"strings"

	tea "github.com/charmbracelet/bubbletea"
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
	lay := m.layout()
	b.WriteString(lay.header(st, m.sortBy, m.sortDesc, m.w))
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
		b.WriteString(m.drawRow(lay, m.all[r.i], r.matched, j == m.cursor))
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
	switch {
	case m.mode == modeConfirm && m.pending != nil:
		left = st.Warn.Render(m.pending.question) + " " + st.Prompt.Render("y") + st.Faint.Render("/") + st.Prompt.Render("n")
	case m.Capturing():
		left = m.input.View()
	default:
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
		if l := m.layout(); l.find(m.sortBy) < 0 {
			left += "  " + st.Secondary.Render("sort: ") + st.Title.Render(sortNames[m.sortBy]+" "+arrow(m.sortDesc))
		}
	}
	if n := len(m.marked); n > 0 {
		count = st.Title.Render(fmt.Sprintf("● %d marked", n)) + "  " + count
	}
	gap := m.w - lipgloss.Width(left) - lipgloss.Width(count)
	if gap < 1 {
		return pane.Cut(left, m.w)
	}
	return left + strings.Repeat(" ", gap) + count
}

func arrow(desc bool) string {
	if desc {
		return "▼"
	}
	return "▲"
}

// prefix is the cells before the first column: the cursor and the mark.
const prefix = 3

// laidCol is a column as drawn: where it starts and how wide it is (with
// the space after it).
type laidCol struct {
	c    column
	x, w int
}

// layout is the columns shown at the pane's width.
type layout []laidCol

func (l layout) find(c column) int {
	for i, lc := range l {
		if lc.c == c {
			return i
		}
	}
	return -1
}

// fixedWidths are the columns whose content is short and known.
var fixedWidths = map[column]int{colStatus: 10, colValid: 4, colDifficulty: 6, colCal: 5, colUpdated: 17}

// layout fits the columns to the width: the fixed ones, then the name, the
// category and the tags as wide as their longest value (in that order of
// need), the update time when it fits, and the description takes what is
// left. A column that has no room is left out rather than cut to nothing.
func (m *Model) layout() layout {
	nat := m.natural()
	want := map[column]int{}
	avail := m.w - prefix
	for _, c := range []column{colStatus, colValid, colDifficulty, colCal} {
		want[c] = fixedWidths[c]
		avail -= fixedWidths[c]
	}
	give := func(c column, least int) {
		if n := min(nat[c], avail); n >= min(least, nat[c]) {
			want[c] = n
			avail -= n
		}
	}
	name := min(12, nat[colName])
	want[colName], avail = name, avail-name
	if n := min(nat[colName]-name, avail); n > 0 {
		want[colName] += n
		avail -= n
	}
	give(colCategory, 9)
	give(colTags, 10)
	if avail >= fixedWidths[colUpdated] {
		want[colUpdated] = fixedWidths[colUpdated]
		avail -= want[colUpdated]
	}
	switch {
	case avail >= 16:
		want[colDescription] = avail
	case want[colTags] > 0:
		want[colTags] += max(avail, 0)
	case want[colCategory] > 0:
		want[colCategory] += max(avail, 0)
	default:
		want[colName] += max(avail, 0)
	}
	var l layout
	x := prefix
	for c := column(0); c < numColumns; c++ {
		if w := want[c]; w > 0 {
			l = append(l, laidCol{c, x, w})
			x += w
		}
	}
	return l
}

// natural is each column's width for its longest value (and its header),
// with the space after it.
func (m *Model) natural() map[column]int {
	nat := map[column]int{}
	for c := column(0); c < numColumns; c++ {
		nat[c] = lipgloss.Width(columnTitles[c]) + 3 // the title, the sort arrow, a space
	}
	for _, e := range m.all {
		for _, c := range []column{colName, colCategory, colTags, colDescription} {
			nat[c] = max(nat[c], len(cellText(c, e))+1)
		}
	}
	return nat
}

// cellText is an entry's value in a column, plain.
func cellText(c column, e corelib.Entry) string {
	switch c {
	case colName:
		return e.Name
	case colStatus:
		return string(e.Status)
	case colCategory:
		return e.Category
	case colValid:
		return validMark(e.Validation)
	case colDifficulty:
		return fmt.Sprintf("%d-%d", e.MinDifficulty, e.MaxDifficulty)
	case colCal:
		if c, ok := calibration(e); ok {
			return c.mean
		}
		return "·"
	case colTags:
		return strings.Join(tagsAfterCategory(e), ",")
	case colUpdated:
		if !e.Stored {
			return "built-in"
		}
		return e.Updated.Local().Format("2006-01-02 15:04")
	case colDescription:
		return e.Description
	}
	return ""
}

func (l layout) header(st themes.Styles, by column, desc bool, w int) string {
	var b strings.Builder
	b.WriteString(strings.Repeat(" ", prefix))
	for _, lc := range l {
		t := columnTitles[lc.c]
		if lc.c == by {
			t += arrow(desc)
		}
		b.WriteString(cell(t, lc.w))
	}
	return st.Secondary.Bold(true).Render(pane.Pad(b.String(), w))
}

// cell is one column: the text cut to leave a space before the next.
func cell(s string, w int) string { return pane.Pad(pane.Cut(s, w-1), w) }

func (m *Model) drawRow(l layout, e corelib.Entry, matched []int, selected bool) string {
	st := m.ctx.Styles
	lead := "   "
	switch {
	case selected && m.marked[e.Name]:
		lead = "›● "
	case selected:
		lead = "›  "
	case m.marked[e.Name]:
		lead = " ● "
	}
	if selected {
		var b strings.Builder
		b.WriteString(lead)
		for _, lc := range l {
			b.WriteString(cell(cellText(lc.c, e), lc.w))
		}
		return st.Selected.Render(pane.Pad(b.String(), m.w))
	}
	var b strings.Builder
	b.WriteString(st.Title.Render(lead))
	for _, lc := range l {
		text := cellText(lc.c, e)
		switch lc.c {
		case colName:
			name := pane.Cut(text, lc.w-1)
			if len(matched) > 0 {
				name = highlight(st, name, matched)
			} else {
				name = st.Text.Render(name)
			}
			b.WriteString(name + strings.Repeat(" ", max(lc.w-lipgloss.Width(name), 0)))
		case colStatus:
			b.WriteString(statusStyle(st, e.Status).Render(cell(text, lc.w)))
		case colUpdated, colDescription:
			b.WriteString(st.Secondary.Render(cell(text, lc.w)))
		default:
			b.WriteString(st.Text.Render(cell(text, lc.w)))
		}
	}
	return pane.Pad(b.String(), m.w)
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
type cal struct {
	mean, detail string
	rate         float64 // the mean, for sorting
}

func calibration(e corelib.Entry) (cal, bool) {
	if len(e.Calibration) == 0 {
		return cal{}, false
	}
	var c coresynth.Calibration
	if json.Unmarshal(e.Calibration, &c) != nil || len(c.Levels) == 0 {
		return cal{"?", strings.Join(strings.Fields(string(e.Calibration)), " "), -1}, true
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
	mean := sum / float64(len(c.Levels))
	return cal{fmt.Sprintf("%.0f%%", 100*mean), d, mean}, true
}

func (m *Model) historyView() string {
	st := m.ctx.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("history of "+m.histName) + st.Faint.Render("   enter: diff against the previous revision · esc: back"))
	b.WriteString("\n\n")
	b.WriteString(st.Secondary.Bold(true).Render(pane.Pad("  REV", 7) + pane.Pad("TIME", 18) + pane.Pad("STATUS", 11) + "CHANGE"))
	b.WriteByte('\n')
	lh := m.h - 3
	start := m.histStart()
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

// handleMouse: the wheel moves the cursor, a click selects a row (on the
// mark column it marks it too), a click on a header sorts by it (again:
// the other way round).
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	switch m.mode {
	case modeDiff:
		var cmd tea.Cmd
		m.diff, cmd = m.diff.Update(msg)
		return cmd
	case modeHistory:
		switch {
		case msg.Button == tea.MouseButtonWheelUp:
			m.histCursor = max(m.histCursor-1, 0)
		case msg.Button == tea.MouseButtonWheelDown:
			m.histCursor = min(m.histCursor+1, len(m.history)-1)
		case isClick(msg):
			if i := m.histStart() + msg.Y - 3; msg.Y >= 3 && i < len(m.history) {
				m.histCursor = i
			}
		}
		return nil
	case modeConfirm, modeAddTag, modeRemoveTag, modeNote:
		return nil // the question or the box waits for its answer
	}
	switch {
	case msg.Button == tea.MouseButtonWheelUp:
		m.move(-1)
	case msg.Button == tea.MouseButtonWheelDown:
		m.move(1)
	case !isClick(msg):
	case msg.Y == 1:
		for _, lc := range m.layout() {
			if msg.X >= lc.x && msg.X < lc.x+lc.w {
				m.setSort(lc.c, lc.c == m.sortBy && !m.sortDesc)
			}
		}
	case msg.Y >= 2 && msg.Y < 2+m.listHeight():
		j := m.offset + msg.Y - 2
		if j >= len(m.rows) {
			return nil
		}
		m.cursor = j
		if msg.X < prefix-1 {
			m.toggleMark(m.all[m.rows[j].i].Name)
		}
		m.clamp()
	}
	return nil
}

func isClick(msg tea.MouseMsg) bool {
	return msg.Action == tea.MouseActionPress && msg.Button == tea.MouseButtonLeft
}

// histStart is the first revision the history shows.
func (m *Model) histStart() int {
	lh := m.h - 3
	return max(0, min(m.histCursor-lh/2, len(m.history)-lh))
}
