package training

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	NextChart, PrevChart, NextRun, PrevRun, Rollouts, Reload, Up, Down key.Binding
	Smooth, Focus, Split, Compare                                      key.Binding
	FormNext, FormToggle, FormStart, FormCancel                        key.Binding
	Train, Stop, Resume                                                key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		NextChart:  key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "next curve")),
		PrevChart:  key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "previous curve")),
		NextRun:    key.NewBinding(key.WithKeys("]"), key.WithHelp("]", "next run")),
		PrevRun:    key.NewBinding(key.WithKeys("["), key.WithHelp("[", "previous run")),
		Rollouts:   key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "all rollouts / curves")),
		Reload:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "scroll up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "scroll down")),
		Smooth:     key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "smoothing: off, 0.6, 0.9")),
		Focus:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "bring an environment's line to the front")),
		Split:      key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "one chart per environment / all in one")),
		Compare:    key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "pin this run to compare ([ ] another) / unpin")),
		Train:      key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "new run: model, steps, environments")),
		Resume:     key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "resume this run (stopped, interrupted)")),
		FormNext:   key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "form: next field")),
		FormToggle: key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "form: environment on/off (a all accepted, n none)")),
		FormStart:  key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "form: start the run")),
		FormCancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "form: cancel")),
		Stop:       key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "stop training (checkpoints first)")),
	}
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	if m.training {
		return []key.Binding{k.PrevChart, k.NextChart, k.Smooth, k.Focus, k.Rollouts, k.Stop}
	}
	if m.form != nil {
		return []key.Binding{k.FormToggle, k.FormNext, k.FormStart, k.FormCancel}
	}
	return []key.Binding{k.PrevChart, k.NextChart, k.PrevRun, k.NextRun, k.Smooth, k.Focus, k.Compare, k.Train}
}

// FullHelp is every binding, in named groups.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{
		{k.PrevChart, k.NextChart, k.PrevRun, k.NextRun},
		{k.Smooth, k.Focus, k.Split, k.Compare},
		{k.Rollouts, k.Up, k.Down, k.Reload},
		{k.Train, k.Stop, k.Resume},
		{k.FormNext, k.FormToggle, k.FormStart, k.FormCancel},
	}
}
