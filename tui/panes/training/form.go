package training

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/library"
	"resyn/storage"
	"resyn/trainer/grpo"
	"resyn/tui/pane"
)

// form is the new-run form: a preset or a model directory, the steps, and
// the environments (the accepted ones on at first; a rejected one can be
// turned on, with a warning).
type form struct {
	model, steps string // the text fields
	entries      []library.Entry
	on           map[string]bool
	defaults     []string // the names on at first
	focus        int      // 0 model, 1 steps, 2 the environment list
	cursor       int      // in the environment list
	warn         string   // about the environment last turned on
	err          string   // why the run cannot start
}

const (
	focusModel = iota
	focusSteps
	focusEnvs
)

// TrainingFormMsg carries the library for a new-run form.
type TrainingFormMsg struct {
	Entries []library.Entry
	Err     error
}

// openFormCmd reads the library for the form.
func (m *Model) openFormCmd() tea.Cmd {
	lib := m.ctx.Library
	if lib == nil {
		return pane.Info("training from the workbench needs the environment library")
	}
	return func() tea.Msg {
		es, err := lib.List()
		return TrainingFormMsg{Entries: es, Err: err}
	}
}

// newForm makes the form over the library's entries: the preset tiny-cpu,
// its environments that are accepted on (every accepted one when the
// library has none of them).
func newForm(entries []library.Entry) *form {
	f := &form{model: grpo.TinyCPU().Name, entries: entries, on: map[string]bool{}}
	f.defaults = f.defaultNames()
	for _, n := range f.defaults {
		f.on[n] = true
	}
	return f
}

// defaultNames are the environments a run takes when none is named: the
// preset's accepted ones, else every accepted one (library.Select).
func (f *form) defaultNames() []string {
	var defaults []string
	if p, ok := grpo.Presets()[strings.TrimSpace(f.model)]; ok {
		for _, e := range p.Config.Envs {
			defaults = append(defaults, e.Name)
		}
	}
	chosen, _, err := library.Select(f.entries, nil, defaults)
	if err != nil && len(defaults) > 0 {
		chosen, _, err = library.Select(f.entries, nil, nil)
	}
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range chosen {
		names = append(names, e.Name)
	}
	return names
}

// chosen lists the environments on, in the library's order.
func (f *form) chosen() []string {
	var names []string
	for _, e := range f.entries {
		if f.on[e.Name] {
			names = append(names, e.Name)
		}
	}
	return names
}

// spec is the run the form asks for, or why there is none.
func (f *form) spec() (grpo.Spec, error) {
	var s grpo.Spec
	model := strings.TrimSpace(f.model)
	switch _, ok := grpo.Presets()[model]; {
	case model == "":
		return s, fmt.Errorf("name a preset (%s) or a model directory", grpo.PresetNames())
	case ok:
		s.Preset = model
	default:
		s.ModelDir = model
	}
	if t := strings.TrimSpace(f.steps); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 {
			return s, fmt.Errorf("steps %q: want a whole number from 1 up, or nothing for the recipe's", t)
		}
		s.Overrides.Steps = n
	}
	names := f.chosen()
	if len(names) == 0 {
		return s, fmt.Errorf("no environment chosen: space turns one on")
	}
	// The preset's own environments, as a run that names none takes them
	// (with their ranges and weights), when exactly those are on; else
	// the ones on, by name.
	s.Envs = names
	if s.Preset != "" {
		var own []string
		for _, e := range grpo.Presets()[s.Preset].Config.Envs {
			own = append(own, e.Name)
		}
		if chosen, _, err := library.Select(f.entries, nil, own); err == nil {
			var taken []string
			for _, e := range chosen {
				taken = append(taken, e.Name)
			}
			slices.Sort(taken)
			sorted := slices.Clone(names)
			slices.Sort(sorted)
			if slices.Equal(taken, sorted) {
				s.Envs = nil
			}
		}
	}
	return s, nil
}

// formKey handles a key while the form is open; start reports that enter
// asked for the run.
func (m *Model) formKey(msg tea.KeyMsg) tea.Cmd {
	f, k := m.form, m.keys
	switch {
	case msg.Type == tea.KeyEsc:
		m.form = nil
		return pane.Info("no run started")
	case msg.Type == tea.KeyEnter:
		s, err := f.spec()
		if err != nil {
			f.err = err.Error()
			return nil
		}
		m.form = nil
		return m.trainCmd(s)
	case msg.Type == tea.KeyTab, msg.Type == tea.KeyDown && f.focus < focusEnvs:
		f.focus = (f.focus + 1) % 3
	case msg.Type == tea.KeyShiftTab, msg.Type == tea.KeyUp && (f.focus != focusEnvs || f.cursor == 0):
		f.focus = (f.focus + 2) % 3
		if f.focus == focusEnvs {
			f.cursor = max(len(f.entries)-1, 0)
		}
	case f.focus == focusEnvs:
		switch {
		case key.Matches(msg, k.Down):
			f.cursor = min(f.cursor+1, max(len(f.entries)-1, 0))
		case key.Matches(msg, k.Up):
			f.cursor = max(f.cursor-1, 0)
		case msg.String() == " " && len(f.entries) > 0:
			e := f.entries[f.cursor]
			f.on[e.Name] = !f.on[e.Name]
			f.warn = ""
			if f.on[e.Name] {
				if _, ws, _ := library.Select(f.entries, []string{e.Name}, nil); len(ws) > 0 {
					f.warn = ws[0]
				}
			}
		case msg.String() == "a":
			for _, e := range f.entries {
				if e.Usable() {
					f.on[e.Name] = true
				}
			}
		case msg.String() == "n":
			f.on, f.warn = map[string]bool{}, ""
		}
	default:
		field := &f.model
		if f.focus == focusSteps {
			field = &f.steps
		}
		switch msg.Type {
		case tea.KeyBackspace:
			if r := []rune(*field); len(r) > 0 {
				*field = string(r[:len(r)-1])
			}
		case tea.KeyCtrlU:
			*field = ""
		case tea.KeyRunes, tea.KeySpace:
			*field += string(msg.Runes)
			if msg.Type == tea.KeySpace && len(msg.Runes) == 0 {
				*field += " "
			}
		}
		if f.focus == focusModel {
			// The defaults follow the preset named (what a run with no
			// environment named would take).
			f.defaults = f.defaultNames()
		}
	}
	f.err = ""
	return nil
}

// formView draws the form.
func (m *Model) formView() string {
	f, st := m.form, m.ctx.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render("New training run") + st.Faint.Render("  enter starts · tab next field · esc cancels") + "\n\n")
	field := func(label, text, hint string, focused bool) {
		mark, cursor := "  ", ""
		if focused {
			mark, cursor = st.Info.Render("› "), "█"
		}
		b.WriteString(pane.Cut(mark+st.Heading.Render(pane.Pad(label, 8))+st.Text.Render(text+cursor)+"  "+st.Faint.Render(hint), m.w) + "\n")
	}
	field("model", f.model, "a preset ("+grpo.PresetNames()+") or a Hugging Face model directory", f.focus == focusModel)
	field("steps", f.steps, "GRPO steps; empty: the recipe's", f.focus == focusSteps)
	b.WriteString("\n")
	head := fmt.Sprintf("ENVIRONMENTS  %d of %d on", len(f.chosen()), len(f.entries))
	b.WriteString(st.Heading.Render(head) + st.Faint.Render("  space toggles · a all accepted · n none") + "\n")
	// The list window: what is left after the fields, the warning and
	// the error lines.
	rows := max(m.h-8, 1)
	first := 0
	if f.cursor >= rows {
		first = f.cursor - rows + 1
	}
	for i := first; i < len(f.entries) && i < first+rows; i++ {
		e := f.entries[i]
		mark := "  "
		if f.focus == focusEnvs && i == f.cursor {
			mark = st.Info.Render("› ")
		}
		box := "[ ] "
		if f.on[e.Name] {
			box = "[x] "
		}
		status := string(e.Status)
		switch {
		case e.Status == storage.StatusRejected:
			status = st.Error.Render(pane.Pad(status, 10))
		case !e.Usable():
			status = st.Warn.Render(pane.Pad(status, 10))
		default:
			status = st.OK.Render(pane.Pad(status, 10))
		}
		line := mark + st.Text.Render(box+pane.Pad(e.Name, 30)) + " " + status + " " + st.Faint.Render(e.Category)
		b.WriteString(pane.Cut(line, m.w) + "\n")
	}
	if f.warn != "" {
		b.WriteString(pane.Cut(st.Warn.Render("⚠ "+f.warn), m.w) + "\n")
	}
	if f.err != "" {
		b.WriteString(pane.Cut(st.Error.Render("✗ "+f.err), m.w) + "\n")
	}
	return pane.Fit(b.String(), m.w, m.h)
}
