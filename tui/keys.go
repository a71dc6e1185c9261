package tui

import "github.com/charmbracelet/bubbles/key"

type globalKeys struct {
	Panes   []key.Binding
	Next    key.Binding
	Prev    key.Binding
	Help    key.Binding
	Quit    key.Binding
	Yes, No key.Binding
}

func newGlobalKeys(n int) globalKeys {
	g := globalKeys{
		Next: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next pane")),
		Prev: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous pane")),
		Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:  key.NewBinding(key.WithKeys("y", "Y", "enter")),
		No:   key.NewBinding(key.WithKeys("n", "N", "esc", "q")),
	}
	for i := 0; i < n; i++ {
		d := string(rune('1' + i))
		g.Panes = append(g.Panes, key.NewBinding(key.WithKeys(d), key.WithHelp(d, "pane "+d)))
	}
	return g
}

func (g globalKeys) group() []key.Binding {
	all := key.NewBinding(key.WithKeys("1"), key.WithHelp(paneRange(len(g.Panes)), "go to pane"))
	return []key.Binding{all, g.Next, g.Prev, g.Help, g.Quit}
}

func paneRange(n int) string {
	if n <= 1 {
		return "1"
	}
	return "1–" + string(rune('0'+n))
}
