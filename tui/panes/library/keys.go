package library

import "github.com/charmbracelet/bubbles/key"

type keyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding

	Search, Status, Tag, Sort, Reverse, Clear key.Binding
	Open                                      key.Binding

	Mark, MarkAll                                       key.Binding
	Accept, Reject, AddTag, RemoveTag, Note, Undo, Copy key.Binding
	Edit, History                                       key.Binding
	Diff, Back                                          key.Binding
	Confirm, Cancel, Leave, Yes, No                     key.Binding
}

func newKeyMap() keyMap {
	return keyMap{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+u"), key.WithHelp("pgup", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+d"), key.WithHelp("pgdn", "page down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g", "first")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G", "last")),

		Search:  key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "search (name, tags, text)")),
		Status:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "filter by status (cycles)")),
		Tag:     key.NewBinding(key.WithKeys("t"), key.WithHelp("t", "filter by tag")),
		Sort:    key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "sort by next column")),
		Reverse: key.NewBinding(key.WithKeys("O"), key.WithHelp("O", "reverse the order")),
		Clear:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear marks, then filters")),
		Open:    key.NewBinding(key.WithKeys("enter", "p"), key.WithHelp("enter", "preview")),

		Mark:      key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "mark / unmark")),
		MarkAll:   key.NewBinding(key.WithKeys("*"), key.WithHelp("*", "mark all shown / none")),
		Accept:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "accept (marked: asks)")),
		Reject:    key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "reject (marked: asks)")),
		AddTag:    key.NewBinding(key.WithKeys("+"), key.WithHelp("+", "add a tag")),
		RemoveTag: key.NewBinding(key.WithKeys("-"), key.WithHelp("-", "remove a tag")),
		Note:      key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "add a note")),
		Undo:      key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "undo last curation")),
		Copy:      key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy source (OSC 52)")),
		Edit:      key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit in $EDITOR")),
		History:   key.NewBinding(key.WithKeys("h"), key.WithHelp("h", "history")),

		Diff: key.NewBinding(key.WithKeys("enter", "d"), key.WithHelp("enter", "diff against previous")),
		Back: key.NewBinding(key.WithKeys("esc", "h"), key.WithHelp("esc", "back")),

		Confirm: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply (the box stays)")),
		Cancel:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "leave the box")),
		Leave:   key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "leave the box (the filter stays)")),
		Yes:     key.NewBinding(key.WithKeys("y", "Y", "enter"), key.WithHelp("y", "yes")),
		No:      key.NewBinding(key.WithKeys("n", "N", "esc", "q"), key.WithHelp("n", "no")),
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
		return []key.Binding{k.Search, k.Status, k.Tag, k.Sort, k.Mark, k.Open, k.Accept, k.Reject, k.Undo}
	case modeConfirm:
		return []key.Binding{k.Yes, k.No}
	case modeSearch, modeTagFilter:
		return []key.Binding{k.Up, k.Down, k.Leave}
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
		{k.Search, k.Status, k.Tag, k.Sort, k.Reverse, k.Clear, k.Open},
		{k.Mark, k.MarkAll, k.Accept, k.Reject, k.AddTag, k.RemoveTag, k.Note, k.Undo},
		{k.Copy, k.Edit, k.History, k.Diff, k.Back},
	}
}
