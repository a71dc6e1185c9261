package preview

import (
	"fmt"
	"strings"

	"resyn/core/env"
	"resyn/tui/pane"
)

// View draws the pane: a header line, a rule, the scrolling body, the
// answer box and the verdict.
func (m *Model) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	st := m.ctx.Styles
	if m.entry.Name == "" {
		return pane.Fit("\n"+st.Faint.Render("  No environment chosen: pick one in the library (1) and press enter."), m.w, m.h)
	}
	var b strings.Builder
	b.WriteString(pane.Cut(m.header(), m.w))
	b.WriteByte('\n')
	b.WriteString(st.Faint.Render(strings.Repeat("─", m.w)))
	b.WriteByte('\n')
	b.WriteString(pane.Fit(m.vp.View(), m.w, m.vp.Height))
	b.WriteByte('\n')
	b.WriteString(pane.Cut(m.input.View(), m.w))
	b.WriteByte('\n')
	b.WriteString(pane.Cut(m.verdict(), m.w))
	return pane.Fit(b.String(), m.w, m.h)
}

func (m *Model) header() string {
	st := m.ctx.Styles
	h := st.Title.Render(m.entry.Name)
	if m.module != nil {
		h += st.Secondary.Render(fmt.Sprintf("  seed %d  difficulty %d (%d–%d)", m.seed, m.difficulty, m.module.MinDifficulty, m.module.MaxDifficulty))
	}
	if m.entry.Status != "" {
		h += "  " + st.Secondary.Render(string(m.entry.Status))
	}
	switch {
	case m.loading:
		h += "  " + st.Info.Render("loading…")
	case m.generating:
		h += "  " + st.Info.Render("generating…")
	case m.validating:
		h += "  " + st.Info.Render("validating…")
	}
	return h
}

func (m *Model) verdict() string {
	st := m.ctx.Styles
	r := m.reward
	switch {
	case m.copying:
		return st.Prompt.Render("copy: ") + st.Text.Render("p prompt · a reference answer · t typed answer · s state · c code") + st.Faint.Render("  (esc: nothing)")
	case m.input.Value() == "":
		return st.Faint.Render("score: type an answer to see what verify gives it")
	case r == nil:
		return st.Faint.Render("score: …")
	}
	kind := fmt.Sprintf("%s", r.Kind)
	switch r.Kind {
	case env.KindOK:
		s := fmt.Sprintf("score %.3g  %s", r.Score, kind)
		if r.Score >= 1 {
			return st.OK.Render("✓ "+s) + st.Faint.Render("  (correct)")
		}
		if r.Score > 0 {
			return st.Warn.Render("◐ " + s + "  (partial credit)")
		}
		return st.Error.Render("✗ "+s) + st.Faint.Render("  (wrong)")
	default:
		return st.Error.Render(fmt.Sprintf("✗ score %.3g  %s: %s", r.Score, kind, firstLine(r.Error)))
	}
}

// refresh rebuilds the scrolling body.
func (m *Model) refresh() {
	if m.w <= 0 {
		return
	}
	st := m.ctx.Styles
	w := max(m.w-2, 10)
	var b strings.Builder
	section := func(title, note string) {
		b.WriteString(st.Heading.Render(title))
		if note != "" {
			b.WriteString("  " + st.Faint.Render(note))
		}
		b.WriteByte('\n')
	}
	switch {
	case m.loadErr != nil:
		section("ERROR", "")
		b.WriteString(st.Error.Render(pane.Wrap(m.loadErr.Error(), w)) + "\n")
	case m.gen == nil:
		b.WriteString(st.Faint.Render("…") + "\n")
	case m.gen.Err != nil:
		section("ERROR", fmt.Sprintf("seed %d, difficulty %d", m.seed, m.difficulty))
		b.WriteString(st.Error.Render(pane.Wrap(m.gen.Err.Error(), w)) + "\n")
	default:
		section("PROMPT", "")
		b.WriteString(st.Text.Render(pane.Wrap(m.gen.Prompt, w)) + "\n\n")
		state := env.FormatState(m.gen.State, w)
		lines := strings.Split(state, "\n")
		note := fmt.Sprintf("%d lines", len(lines))
		if len(lines) == 1 {
			note = "1 line"
		}
		if len(lines) > FoldLines {
			if m.folded {
				note += ", folded (f unfolds)"
			} else {
				note += " (f folds)"
			}
		}
		section("STATE", note)
		if m.folded && len(lines) > FoldLines {
			lines = append(lines[:FoldLines:FoldLines], fmt.Sprintf("… %d more lines", len(lines)-FoldLines))
		}
		for _, l := range lines {
			b.WriteString(st.Code.Render(pane.Cut(l, w)) + "\n")
		}
		b.WriteByte('\n')
		if m.module != nil && m.module.HasSolve {
			note := ""
			if s := m.gen.SolutionScore; s != nil {
				if s.Err != nil {
					note = "verify → error: " + firstLine(s.Err.Error())
				} else {
					note = fmt.Sprintf("verify → %g", s.Value)
				}
			}
			section("REFERENCE ANSWER", note)
			b.WriteString(st.Text.Render(pane.Wrap(m.gen.Solution, w)) + "\n\n")
		} else {
			section("REFERENCE ANSWER", "none: the environment has no solve()")
			b.WriteByte('\n')
		}
	}
	b.WriteString(m.reportView(w))
	m.vp.SetContent(b.String())
}

func (m *Model) reportView(w int) string {
	st := m.ctx.Styles
	var b strings.Builder
	r := m.report
	if r == nil {
		b.WriteString(st.Heading.Render("VALIDATION") + "  " + st.Faint.Render("no report yet; v runs the checks") + "\n")
		return b.String()
	}
	failed := r.Failed()
	note := fmt.Sprintf("all %d checks passed", len(r.Checks))
	if len(failed) > 0 {
		note = fmt.Sprintf("%d of %d checks failed", len(failed), len(r.Checks))
	}
	b.WriteString(st.Heading.Render("VALIDATION") + "  ")
	if len(failed) > 0 {
		b.WriteString(st.Error.Render(note))
	} else {
		b.WriteString(st.OK.Render(note))
	}
	b.WriteString(st.Faint.Render(fmt.Sprintf("  (%d instances)", r.Instances)) + "\n")
	// Failing checks first, with their failures; then the passing ones.
	for _, c := range failed {
		line := "✗ " + c.Name
		if c.Line > 0 {
			line += fmt.Sprintf(" (line %d)", c.Line)
		}
		b.WriteString(st.Error.Render(pane.Cut(line, w)) + "\n")
		if c.Detail != "" {
			b.WriteString(st.Text.Render(pane.Wrap("    "+c.Detail, w)) + "\n")
		}
		for _, f := range c.Failures {
			b.WriteString(st.Warn.Render(pane.Cut("    · "+firstLine(f), w)) + "\n")
		}
	}
	for _, c := range r.Checks {
		if c.OK {
			line := "✓ " + c.Name
			if c.Detail != "" {
				line += "  " + c.Detail
			}
			b.WriteString(st.OK.Render(pane.Cut(line, w)) + "\n")
		}
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
