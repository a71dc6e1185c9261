package synth

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/lipgloss"

	coresynth "resyn/core/synth"
	"resyn/tui/pane"
)

// View draws the pane: the form, the totals, one row per candidate and the
// selected candidate's details; with no run yet, the stored runs.
func (m *Model) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	st := m.ctx.Styles
	var b strings.Builder
	b.WriteString(pane.Cut(m.form(), m.w) + "\n")
	b.WriteString(pane.Cut(m.totalsLine(), m.w) + "\n")
	b.WriteString(st.Faint.Render(strings.Repeat("─", m.w)) + "\n")
	body := m.h - 3
	if m.detail {
		b.WriteString(m.vp.View())
		return pane.Fit(b.String(), m.w, m.h)
	}
	if len(m.cands) == 0 && !m.running {
		b.WriteString(m.runsList(body))
		return pane.Fit(b.String(), m.w, m.h)
	}
	listH := m.listHeight()
	b.WriteString(st.Secondary.Bold(true).Render(pane.Cut(pane.Pad("  #", 5)+pane.Pad("NAME", 24)+pane.Pad("CATEGORY", 20)+"STAGE / VERDICT", m.w)) + "\n")
	start := m.listStart()
	shown := 0
	for i := start; i < len(m.cands) && shown < listH; i++ {
		b.WriteString(m.row(m.cands[i], i == m.cursor) + "\n")
		shown++
	}
	if len(m.cands) == 0 {
		b.WriteString(st.Faint.Render("  waiting for ideas…") + "\n")
		shown++
	}
	for ; shown < listH; shown++ {
		b.WriteByte('\n')
	}
	b.WriteString(st.Faint.Render(strings.Repeat("─", m.w)) + "\n")
	b.WriteString(m.details())
	return pane.Fit(b.String(), m.w, m.h)
}

func (m *Model) form() string {
	st := m.ctx.Styles
	if m.editing == fieldModel {
		return m.modelIn.View()
	}
	if m.editing == fieldCategories {
		return m.catsIn.View()
	}
	label := func(l, v string) string { return st.Secondary.Render(l+" ") + st.Text.Render(v) }
	model := m.modelIn.Value()
	if model == "" {
		model = "default"
	}
	cats := m.catsIn.Value()
	if cats == "" {
		cats = "default"
	}
	n := fmt.Sprint(m.n)
	if m.provider == "replay" {
		n = fmt.Sprintf("%d (the recorded demo)", coresynth.DemoConfig().N)
	}
	line := label("provider", m.provider) + "  " + label("model", model) + "  " + label("n", n) + "  " + label("categories", cats)
	if !m.running {
		line += "  " + st.Faint.Render("s start · R resume")
	}
	return line
}

func (m *Model) totalsLine() string {
	st := m.ctx.Styles
	if m.started == nil && !m.running && len(m.cands) == 0 {
		return st.Faint.Render("no run in this session; s starts one (valid candidates go to the library for review)")
	}
	t := m.totals
	state := st.Info.Render("● running")
	switch {
	case m.stopping:
		state = st.Warn.Render("stopping…")
	case m.running:
	case m.runErr != nil:
		state = st.Error.Render("stopped: " + firstLine(m.runErr.Error()))
	default:
		state = st.OK.Render("done")
	}
	n := t.N
	if n == 0 && m.started != nil {
		n = m.started.N
	}
	// Stored, rejected and failed add up to the finished: a candidate that
	// passed validation can still be rejected (a duplicate), so "valid"
	// would count it twice.
	rejected := 0
	for o, c := range t.Outcomes {
		if o.Rejected() {
			rejected += c
		}
	}
	errs := ""
	if e := t.Outcomes[coresynth.OutcomeError]; e > 0 {
		errs = fmt.Sprintf(" · failed %d", e)
	}
	return st.Title.Render(fmt.Sprintf("run %d", m.runID)) + "  " + state + st.Text.Render(fmt.Sprintf(
		"  %d/%d finished: stored %d · rejected %d%s · ideas %d (%d dropped) · tokens %s in / %s out",
		t.Finished, n, t.Outcomes[coresynth.OutcomeCandidate], rejected, errs, t.Ideas, m.dropped, kilo(t.Usage.PromptTokens), kilo(t.Usage.CompletionTokens)))
}

func kilo(n int) string {
	if n >= 10000 {
		return fmt.Sprintf("%.0fk", float64(n)/1000)
	}
	if n >= 1000 {
		return fmt.Sprintf("%.1fk", float64(n)/1000)
	}
	return fmt.Sprint(n)
}

func (m *Model) row(c *candidate, selected bool) string {
	st := m.ctx.Styles
	name := c.Name
	if name == "" {
		name = "…"
	}
	cursor := "  "
	if selected {
		cursor = "› "
	}
	head := pane.Pad(fmt.Sprintf("%s%d", cursor, c.Index+1), 5) + pane.Pad(pane.Cut(name, 23), 24) + pane.Pad(pane.Cut(c.Category, 19), 20)
	stage := c.Stage
	if len(c.Flags) > 0 {
		stage += " [" + strings.Join(c.Flags, ",") + "]"
	}
	room := m.w - lipgloss.Width(head)
	if selected {
		return st.Selected.Render(pane.Pad(head+pane.Cut(stage, room), m.w))
	}
	style := st.Info
	switch {
	case c.Outcome == coresynth.OutcomeCandidate:
		style = st.OK
	case c.Outcome != "" && c.Outcome.Rejected():
		style = st.Error
	case c.Outcome == coresynth.OutcomeError:
		style = st.Warn
	case strings.Contains(stage, "failed"):
		style = st.Warn
	}
	return st.Text.Render(head) + style.Render(pane.Cut(stage, room))
}

func (m *Model) details() string {
	st := m.ctx.Styles
	if m.cursor >= len(m.cands) {
		return ""
	}
	c := m.cands[m.cursor]
	lines := []string{st.Heading.Render(nonEmpty(c.Name, "candidate "+fmt.Sprint(c.Index+1))) + "  " + st.Text.Render(c.Idea)}
	if len(c.Failed) > 0 {
		lines = append(lines, st.Warn.Render("failing: "+strings.Join(c.Failed, "; ")))
	}
	if c.Reason != "" {
		lines = append(lines, st.Secondary.Render("verdict: ")+st.Text.Render(firstLine(c.Reason)))
	} else if c.Lines > 0 {
		lines = append(lines, st.Secondary.Render(fmt.Sprintf("%d lines, round %d, %s tokens", c.Lines, c.Round, kilo(c.Tokens))))
	}
	for i := range lines {
		lines[i] = pane.Cut(lines[i], m.w)
	}
	return strings.Join(lines, "\n")
}

func (m *Model) runsList(h int) string {
	st := m.ctx.Styles
	var b strings.Builder
	if len(m.runs) == 0 {
		b.WriteString(st.Faint.Render("  No synthesis runs in the store yet.") + "\n\n")
		hint := "  p picks the provider (openai, anthropic, or replay: a recorded demo run\n  that needs no key), m the model, +/- the count, c the categories; s starts."
		b.WriteString(st.Faint.Render(hint))
		return b.String()
	}
	b.WriteString(st.Secondary.Bold(true).Render(pane.Cut(pane.Pad("  RUN", 7)+pane.Pad("STATUS", 12)+pane.Pad("CREATED", 18)+"TOKENS IN/OUT", m.w)) + "\n")
	start := max(0, len(m.runs)-(h-2))
	for _, r := range m.runs[start:] {
		line := pane.Pad(fmt.Sprintf("  %d", r.ID), 7) + pane.Pad(string(r.Status), 12) + pane.Pad(r.Created.Format("2006-01-02 15:04"), 18) +
			fmt.Sprintf("%s / %s", kilo(int(r.Usage.InputTokens)), kilo(int(r.Usage.OutputTokens)))
		b.WriteString(st.Text.Render(pane.Cut(line, m.w)) + "\n")
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// detailText is one candidate in full: the idea, where it stands, the
// failing checks and the latest code.
func (m *Model) detailText(c *candidate) string {
	st := m.ctx.Styles
	w := max(m.w-2, 10)
	var b strings.Builder
	b.WriteString(st.Title.Render(nonEmpty(c.Name, fmt.Sprintf("candidate %d", c.Index+1))) + "  " + st.Secondary.Render(c.Category) + "  " + st.Faint.Render("(enter or esc: back)") + "\n")
	b.WriteString(st.Text.Render(pane.Wrap(c.Idea, w)) + "\n\n")
	b.WriteString(st.Heading.Render("STAGE") + "  " + st.Text.Render(c.Stage) + "\n")
	if c.Reason != "" {
		b.WriteString(st.Text.Render(pane.Wrap(c.Reason, w)) + "\n")
	}
	for _, f := range c.Failed {
		b.WriteString(st.Error.Render("✗ "+f) + "\n")
	}
	b.WriteString("\n" + st.Heading.Render("CODE"))
	if c.Source == "" {
		b.WriteString("  " + st.Faint.Render("none yet") + "\n")
		return b.String()
	}
	b.WriteString("  " + st.Faint.Render(fmt.Sprintf("round %d, %d lines", c.Round, c.Lines)) + "\n")
	for i, l := range strings.Split(strings.TrimRight(c.Source, "\n"), "\n") {
		b.WriteString(st.Faint.Render(fmt.Sprintf("%4d ", i+1)) + st.Code.Render(pane.Cut(l, w-5)) + "\n")
	}
	return b.String()
}

// listHeight is how many candidates fit: the pane less the form, the
// totals, two rules, the header and three lines of details.
func (m *Model) listHeight() int { return max(m.h-3-1-3-1, 1) }

// listStart is the first candidate shown, keeping the cursor in the middle.
func (m *Model) listStart() int {
	h := m.listHeight()
	return max(0, min(m.cursor-h/2, len(m.cands)-h))
}
