package preview

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	NextSeed, PrevSeed, RandomSeed          key.Binding
	Harder, Easier                          key.Binding
	Answer, Leave, Score, Fold, Validate    key.Binding
	Copy                                    key.Binding
	CopyPrompt, CopyAnswer, CopyTyped       key.Binding
	CopyState, CopyCode                     key.Binding
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		NextSeed:   key.NewBinding(key.WithKeys("]", "n"), key.WithHelp("]/n", "next seed")),
		PrevSeed:   key.NewBinding(key.WithKeys("[", "N"), key.WithHelp("[/N", "previous seed")),
		RandomSeed: key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "random seed")),
		Harder:     key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "harder")),
		Easier:     key.NewBinding(key.WithKeys("-", "_"), key.WithHelp("-", "easier")),
		Answer:     key.NewBinding(key.WithKeys("i", "a"), key.WithHelp("i", "type an answer")),
		Leave:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "leave the answer box")),
		Score:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "score it (the box stays)")),
		Copy:       key.NewBinding(key.WithKeys("y"), key.WithHelp("y p/a/t/s/c", "copy prompt, answer, typed, state, code")),
		CopyPrompt: key.NewBinding(key.WithKeys("p"), key.WithHelp("y p", "copy the prompt")),
		CopyAnswer: key.NewBinding(key.WithKeys("a"), key.WithHelp("y a", "copy the reference answer")),
		CopyTyped:  key.NewBinding(key.WithKeys("t"), key.WithHelp("y t", "copy the typed answer")),
		CopyState:  key.NewBinding(key.WithKeys("s"), key.WithHelp("y s", "copy the state (JSON)")),
		CopyCode:   key.NewBinding(key.WithKeys("c"), key.WithHelp("y c", "copy the source")),
		Fold:       key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "fold/unfold the state")),
		Validate:   key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "run validation")),
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "scroll up")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "scroll down")),
		PageUp:     key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown:   key.NewBinding(key.WithKeys("pgdown", "ctrl+d", " "), key.WithHelp("pgdn", "page down")),
		Top:        key.NewBinding(key.WithKeys("g", "home"), key.WithHelp("g", "top")),
		Bottom:     key.NewBinding(key.WithKeys("G", "end"), key.WithHelp("G", "bottom (the report)")),
	}
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	switch {
	case m.copying:
		return []key.Binding{k.CopyPrompt, k.CopyAnswer, k.CopyTyped, k.CopyState, k.CopyCode}
	case m.answering:
		return []key.Binding{k.Score, k.Leave}
	}
	return []key.Binding{k.NextSeed, k.PrevSeed, k.Harder, k.Easier, k.Answer, k.Fold, k.Validate, k.Copy}
}

// FullHelp is every binding, in named groups.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{
		{k.NextSeed, k.PrevSeed, k.RandomSeed, k.Harder, k.Easier},
		{k.Answer, k.Score, k.Leave, k.Fold, k.Validate, k.Copy},
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
	}
}
