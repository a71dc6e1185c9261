package synth

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Start, Resume, Stop                     key.Binding
	Provider, Model, Categories, More, Less key.Binding
	Up, Down, Open                          key.Binding
	Confirm, Cancel                         key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Start:      key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "start a run")),
		Resume:     key.NewBinding(key.WithKeys("R"), key.WithHelp("R", "resume the newest unfinished run")),
		Stop:       key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "stop the run")),
		Provider:   key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "provider (cycles)")),
		Model:      key.NewBinding(key.WithKeys("m"), key.WithHelp("m", "model")),
		Categories: key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "categories")),
		More:       key.NewBinding(key.WithKeys("+", "="), key.WithHelp("+", "more candidates")),
		Less:       key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "fewer candidates")),
		Up:         key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "previous candidate")),
		Down:       key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "next candidate")),
		Open:       key.NewBinding(key.WithKeys("enter", "o"), key.WithHelp("enter", "the candidate's code and checks / back")),
		Confirm:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "in a box: keeps it (applies as typed)")),
		Cancel:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "in a box: leaves it, keeping the text")),
	}
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	if m.editing != fieldNone {
		return []key.Binding{k.Confirm, k.Cancel}
	}
	if m.running {
		return []key.Binding{k.Stop, k.Up, k.Down, k.Open}
	}
	return []key.Binding{k.Start, k.Resume, k.Provider, k.Model, k.More, k.Less, k.Categories}
}

// FullHelp is every binding, in named groups.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{
		{k.Start, k.Resume, k.Stop},
		{k.Provider, k.Model, k.Categories, k.More, k.Less},
		{k.Up, k.Down, k.Open, k.Confirm, k.Cancel},
	}
}
