package library

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Search, Status, Tag, Clear key.Binding
	Open                       key.Binding

	Accept, Reject, AddTag, RemoveTag, Note, Edit, History key.Binding

	Diff, Back key.Binding

	Confirm, Cancel key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "first")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "last")),

		Search: key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "fuzzy search by name")),
		Status: key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "filter by status (cycles)")),
		Tag:    key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "filter by tag")),
		Clear:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filters")),
		Open:   key.NewBinding(key.WithKeys("enter", "p"), key.WithHelp("enter", "preview")),

		Accept:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "accept")),
		Reject:    key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "reject")),
		AddTag:    key.NewBinding(key.WithKeys("+"), key.WithHelp("+", "add a tag")),
		RemoveTag: key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "remove a tag")),
		Note:      key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "add a note")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit in $EDITOR")),
		History:   key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "history")),

		Diff: key.NewBinding(key.WithKeys("enter", "d"), key.WithHelp("enter", "diff against previous")),
		Back: key.NewBinding(key.WithKeys("esc", "h"), key.WithHelp("esc", "back")),

		Confirm: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Cancel:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

// ShortHelp is the one-line help of the mode the pane is in.
func (m *Model) ShortHelp() []key.Binding {
	k := m.keys
	switch m.mode {
	case modeHistory:
		return []key.Binding{k.Up, k.Down, k.Diff, k.Back}
	case modeDiff:
		return []key.Binding{k.Up, k.Down, k.Back}
	case modeBrowse:
		return []key.Binding{k.Search, k.Status, k.Tag, k.Open, k.Accept, k.Reject, k.History}
	default:
		return []key.Binding{k.Confirm, k.Cancel}
	}
}

// FullHelp is every binding of the pane, in named groups (the first of each
// group names it in the help overlay).
func (m *Model) FullHelp() [][]key.Binding {
	k := m.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Search, k.Status, k.Tag, k.Clear, k.Open},
		{k.Accept, k.Reject, k.AddTag, k.RemoveTag, k.Note, k.Edit, k.History},
		{k.Diff, k.Back},
	}
}
