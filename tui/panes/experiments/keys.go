package experiments

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Next, Prev, NextMetric, PrevMetric, Reload key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Next:       key.NewBinding(key.WithKeys("down", "j", "]"), key.WithHelp("↓/j", "next experiment")),
		Prev:       key.NewBinding(key.WithKeys("up", "k", "["), key.WithHelp("↑/k", "previous experiment")),
		NextMetric: key.NewBinding(key.WithKeys("right", "l"), key.WithHelp("→/l", "next curve")),
		PrevMetric: key.NewBinding(key.WithKeys("left", "h"), key.WithHelp("←/h", "previous curve")),
		Reload:     key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "reload")),
	}
}

// ShortHelp is the one-line help.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	return []key.Binding{k.Prev, k.Next, k.PrevMetric, k.NextMetric, k.Reload}
}

// FullHelp is every binding, in named groups.
func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{{k.Prev, k.Next}, {k.PrevMetric, k.NextMetric, k.Reload}}
}
