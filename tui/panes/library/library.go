package library

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"resyn/core/envlib"
	corelib "resyn/core/library"
	"resyn/core/validate"
	"resyn/storage"
	"resyn/tui/pane"
)

type mode int

const (
	modeBrowse    mode = iota
	modeSearch         // typing the search
	modeTagFilter      // typing the tag to filter by
	modeAddTag         // typing a tag to add
	modeRemoveTag      // typing a tag to remove
	modeNote           // typing a note
	modeConfirm        // a bulk action waits for y/n
	modeHistory        // the revisions of one environment
	modeDiff           // one revision against the one before
)

// statusCycle is the order the status filter steps through ("" is all).
var statusCycle = []storage.Status{"", storage.StatusCandidate, storage.StatusAccepted, storage.StatusRejected}

// LibraryLoadedMsg carries the library, read from the store.
type LibraryLoadedMsg struct {
	Entries []corelib.Entry
	Err     error
}

// LibraryCuratedMsg is the outcome of a curation action (accept, reject,
// tag, note; on one environment or on the marked ones) or of its undo.
type LibraryCuratedMsg struct {
	Changes []corelib.Change
	Did     string // "accepted", "tagged x", … for the status bar and the undo list
	Undo    bool   // this was an undo (it is not itself undone by u)
	Err     error
}

// LibraryHistoryMsg carries the revisions of one environment.
type LibraryHistoryMsg struct {
	Name      string
	Revisions []storage.Env
	Err       error
}

// LibraryEditorClosedMsg says the editor on Path has exited.
type LibraryEditorClosedMsg struct {
	Name, Path string
	Err        error
}

// LibraryEditedMsg is the outcome of storing an edit: validated, and a new
// revision when the source changed.
type LibraryEditedMsg struct {
	Entry  corelib.Entry
	Report *validate.Report
	Err    error
	Job    int64 // the job that ran the validation
}

// row is one line of the filtered list: an index into all, and the
// characters of the name the search matched.
type row struct {
	i       int
	matched []int
}

// undoStep is one curation action as u takes it back: every environment
// it changed, back to the revision before.
type undoStep struct {
	did   string
	items []corelib.RevertItem
}

// MaxUndo is how many curation actions u can take back.
const MaxUndo = 100

// pendingBulk is a bulk action waiting for its confirmation.
type pendingBulk struct {
	question string
	run      tea.Cmd
}

// Model is the library pane.
type Model struct {
	ctx  *pane.Context
	keys keyMap
	w, h int

	all     []corelib.Entry
	rows    []row
	cursor  int
	offset  int
	loaded  bool
	loadErr error

	status storage.Status // filter; "" is every status
	tag    string         // filter; "" is every tag
	query  string         // search

	sortBy     column
	sortDesc   bool
	sortChosen bool // the user picked the order: it wins over a search's ranking

	marked  map[string]bool
	undo    []undoStep
	pending *pendingBulk
	busy    int // curation actions in flight

	mode  mode
	input textinput.Model

	history     []storage.Env
	histName    string
	histCursor  int
	diff        viewport.Model
	diffCaption string
}

// New makes the library pane.
func New(ctx *pane.Context) *Model {
	in := textinput.New()
	// A steady cursor: no blink ticks, so nothing redraws over SSH while idle.
	in.Cursor.SetMode(cursor.CursorStatic)
	in.Prompt = "› "
	in.PromptStyle = ctx.Styles.Prompt
	in.TextStyle = ctx.Styles.Text
	in.CharLimit = 256
	return &Model{ctx: ctx, keys: newKeyMap(), input: in, diff: viewport.New(0, 0), marked: map[string]bool{}}
}

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Library" }

// Capturing reports whether the pane is reading text (or a y/n answer).
func (m *Model) Capturing() bool {
	switch m.mode {
	case modeSearch, modeTagFilter, modeAddTag, modeRemoveTag, modeNote, modeConfirm:
		return true
	}
	return false
}

// SetSize gives the pane its area.
func (m *Model) SetSize(w, h int) {
	m.w, m.h = w, h
	m.diff.Width, m.diff.Height = w, max(h-2, 1)
	m.input.Width = max(w-20, 10)
	m.clamp()
}

// Init loads the library.
func (m *Model) Init() tea.Cmd { return m.loadCmd() }

// Entries returns the environments shown, in order (for tests and the root).
func (m *Model) Entries() []corelib.Entry {
	out := make([]corelib.Entry, len(m.rows))
	for i, r := range m.rows {
		out[i] = m.all[r.i]
	}
	return out
}

// Selected returns the environment under the cursor.
func (m *Model) Selected() (corelib.Entry, bool) {
	if m.cursor < 0 || m.cursor >= len(m.rows) {
		return corelib.Entry{}, false
	}
	return m.all[m.rows[m.cursor].i], true
}

// Marked returns the names of the marked environments, sorted.
func (m *Model) Marked() []string {
	out := make([]string, 0, len(m.marked))
	for n := range m.marked {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Undoable returns what u would take back, newest first.
func (m *Model) Undoable() []string {
	out := make([]string, 0, len(m.undo))
	for i := len(m.undo) - 1; i >= 0; i-- {
		out = append(out, m.undo[i].did)
	}
	return out
}

func (m *Model) loadCmd() tea.Cmd {
	lib := m.ctx.Library
	return func() tea.Msg {
		es, err := lib.List()
		return LibraryLoadedMsg{es, err}
	}
}

// Update handles a message.
func (m *Model) Update(msg tea.Msg) (pane.Pane, tea.Cmd) {
	switch msg := msg.(type) {
	case LibraryLoadedMsg:
		m.loaded, m.loadErr = true, msg.Err
		if msg.Err != nil {
			return m, pane.Err(fmt.Errorf("loading the library: %w", msg.Err))
		}
		sel, _ := m.Selected()
		m.all = msg.Entries
		m.refilter(sel.Name)
		return m, nil
	case pane.LibraryChangedMsg:
		return m, m.loadCmd()
	case LibraryCuratedMsg:
		return m, m.curated(msg)
	case LibraryHistoryMsg:
		if msg.Err != nil {
			return m, pane.Err(msg.Err)
		}
		m.history, m.histName, m.mode = msg.Revisions, msg.Name, modeHistory
		m.histCursor = len(msg.Revisions) - 1
		return m, nil
	case LibraryEditorClosedMsg:
		return m, m.storeEditCmd(msg)
	case LibraryEditedMsg:
		done := pane.Msg(pane.JobFinishedMsg{ID: msg.Job})
		if msg.Err != nil && !errors.Is(msg.Err, corelib.ErrInvalidEnv) {
			return m, tea.Batch(done, pane.Err(msg.Err))
		}
		if old, ok := m.find(msg.Entry.Name); ok && msg.Entry.Revision != old.Revision {
			m.pushUndo("edited "+msg.Entry.Name, []corelib.Change{{Entry: msg.Entry, Before: msg.Entry.Revision - 1, Changed: true}})
		}
		m.replace(msg.Entry)
		text := msg.Entry.Name + ": edit stored as revision " + fmt.Sprint(msg.Entry.Revision)
		if msg.Report != nil && !msg.Report.OK {
			text += fmt.Sprintf("; validation failed (%d check(s)): preview shows the report", len(msg.Report.Failed()))
		}
		return m, tea.Batch(done, pane.Info(text), pane.Msg(pane.LibraryChangedMsg{Name: msg.Entry.Name}))
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	case tea.MouseMsg:
		return m, m.handleMouse(msg)
	}
	if m.Capturing() {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

// handleKey gives a key to the handler of the mode the pane is in.
func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch m.mode {
	case modeSearch, modeTagFilter:
		return m.filterKey(msg)
	case modeAddTag, modeRemoveTag, modeNote:
		return m.inputKey(msg)
	case modeConfirm:
		return m.confirmKey(msg)
	case modeHistory:
		return m.historyKey(msg)
	case modeDiff:
		return m.diffKey(msg)
	}
	return m.browseKey(msg)
}

// filterKey handles a key in the search or tag-filter box.
func (m *Model) filterKey(msg tea.KeyMsg) tea.Cmd {
	// The filters apply as you type; enter keeps the box (as every
	// text box: only esc leaves it), ↑/↓ move in the list meanwhile.
	switch msg.Type {
	case tea.KeyEsc:
		return m.leaveBox()
	case tea.KeyEnter:
		return pane.Info("esc leaves the box; the filter stays (esc again clears it)")
	case tea.KeyUp, tea.KeyDown, tea.KeyPgUp, tea.KeyPgDown:
		m.handleMove(msg)
		return nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	v := m.input.Value()
	switch {
	case m.mode == modeSearch && v != m.query:
		m.query = v
		m.refilter("")
		m.cursor, m.offset = 0, 0
	case m.mode == modeTagFilter && strings.TrimSpace(v) != m.tag:
		m.tag = strings.TrimSpace(v)
		sel, _ := m.Selected()
		m.refilter(sel.Name)
	}
	return cmd
}

// leaveBox closes the text box (Esc: the only key that does).
func (m *Model) leaveBox() tea.Cmd {
	m.mode = modeBrowse
	m.input.Blur()
	return nil
}

// inputKey handles a key in the tag or note box.
func (m *Model) inputKey(msg tea.KeyMsg) tea.Cmd {
	switch msg.Type {
	case tea.KeyEsc:
		return m.leaveBox()
	case tea.KeyEnter:
		return m.submitInput()
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return cmd
}

// confirmKey answers the question a bulk action asked.
func (m *Model) confirmKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Yes):
		p := m.pending
		m.pending, m.mode = nil, modeBrowse
		m.busy++
		return p.run
	case key.Matches(msg, k.No):
		m.pending, m.mode = nil, modeBrowse
		return pane.Info("cancelled; nothing changed")
	}
	return nil
}

// historyKey handles a key in an environment's history.
func (m *Model) historyKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.histCursor = max(m.histCursor-1, 0)
	case key.Matches(msg, k.Down):
		m.histCursor = min(m.histCursor+1, len(m.history)-1)
	case key.Matches(msg, k.Diff):
		m.openDiff()
	case key.Matches(msg, k.Back):
		m.mode = modeBrowse
	}
	return nil
}

// diffKey handles a key in the diff of two revisions.
func (m *Model) diffKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if key.Matches(msg, k.Back) {
		m.mode = modeHistory
		return nil
	}
	var cmd tea.Cmd
	m.diff, cmd = m.diff.Update(msg)
	return cmd
}

// browseKey handles a key in the list.
func (m *Model) browseKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if m.handleMove(msg) {
		return nil
	}
	switch {
	case key.Matches(msg, k.Search):
		m.startInput(modeSearch, "search: ", m.query)
	case key.Matches(msg, k.Status):
		i := slices.Index(statusCycle, m.status)
		m.status = statusCycle[(i+1)%len(statusCycle)]
		sel, _ := m.Selected()
		m.refilter(sel.Name)
	case key.Matches(msg, k.Tag):
		m.startInput(modeTagFilter, "filter by tag: ", m.tag)
	case key.Matches(msg, k.Sort):
		m.setSort((m.sortBy+1)%numColumns, false)
	case key.Matches(msg, k.Reverse):
		m.setSort(m.sortBy, !m.sortDesc)
	case key.Matches(msg, k.Clear):
		if len(m.marked) > 0 {
			n := len(m.marked)
			clear(m.marked)
			return pane.Info(fmt.Sprintf("%d mark(s) cleared", n))
		}
		sel, _ := m.Selected()
		m.status, m.tag, m.query = "", "", ""
		m.refilter(sel.Name)
	case key.Matches(msg, k.Mark):
		if e, ok := m.Selected(); ok {
			m.toggleMark(e.Name)
			m.move(1)
		}
	case key.Matches(msg, k.MarkAll):
		m.markAllShown()
	case key.Matches(msg, k.Open):
		if e, ok := m.Selected(); ok {
			return pane.Msg(pane.OpenEnvMsg{Name: e.Name})
		}
	case key.Matches(msg, k.Accept):
		return m.setStatusCmd(storage.StatusAccepted)
	case key.Matches(msg, k.Reject):
		return m.setStatusCmd(storage.StatusRejected)
	case key.Matches(msg, k.AddTag):
		m.startInput(modeAddTag, m.targetPrompt("add tag"), "")
	case key.Matches(msg, k.RemoveTag):
		m.startInput(modeRemoveTag, m.targetPrompt("remove tag"), "")
	case key.Matches(msg, k.Note):
		if e, ok := m.Selected(); ok {
			m.startInput(modeNote, "note on "+e.Name+": ", "")
		}
	case key.Matches(msg, k.Undo):
		return m.undoCmd()
	case key.Matches(msg, k.Copy):
		if e, ok := m.Selected(); ok {
			return m.ctx.CopyCmd("source of "+e.Name, e.Source)
		}
	case key.Matches(msg, k.Edit):
		return m.editCmd()
	case key.Matches(msg, k.History):
		return m.historyCmd()
	}
	return nil
}

// handleMove moves the cursor for the movement keys and reports whether
// msg was one.
func (m *Model) handleMove(msg tea.KeyMsg) bool {
	k := m.keys
	switch {
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-m.listHeight())
	case key.Matches(msg, k.PageDown):
		m.move(m.listHeight())
	case key.Matches(msg, k.Top) && m.mode == modeBrowse:
		m.move(-len(m.rows))
	case key.Matches(msg, k.Bottom) && m.mode == modeBrowse:
		m.move(len(m.rows))
	default:
		return false
	}
	return true
}

func (m *Model) setSort(c column, desc bool) {
	sel, _ := m.Selected()
	m.sortBy, m.sortDesc, m.sortChosen = c, desc, true
	m.refilter(sel.Name)
}

// targetPrompt is the prompt of a tag box: what it applies to.
func (m *Model) targetPrompt(verb string) string {
	if n := len(m.marked); n > 0 {
		return fmt.Sprintf("%s (%d marked): ", verb, n)
	}
	if e, ok := m.Selected(); ok {
		return verb + " (" + e.Name + "): "
	}
	return verb + ": "
}

func (m *Model) startInput(md mode, prompt, value string) {
	if md != modeSearch && md != modeTagFilter {
		if _, ok := m.Selected(); !ok && len(m.marked) == 0 {
			return
		}
	}
	m.mode = md
	m.input.Prompt = prompt
	m.input.SetValue(value)
	m.input.CursorEnd()
	m.input.Focus()
}

// submitInput applies a tag or note box's text. The box stays open, empty,
// for the next one: only esc leaves a text box.
func (m *Model) submitInput() tea.Cmd {
	v := strings.TrimSpace(m.input.Value())
	if v == "" {
		return nil
	}
	m.input.SetValue("")
	switch m.mode {
	case modeAddTag:
		return m.curate("tagged "+v, func(lib pane.Library, names []string) ([]corelib.Change, error) {
			return lib.TagAll(names, []string{v}, nil)
		})
	case modeRemoveTag:
		return m.curate("untagged "+v, func(lib pane.Library, names []string) ([]corelib.Change, error) {
			return lib.TagAll(names, nil, []string{v})
		})
	case modeNote:
		e, ok := m.Selected()
		if !ok {
			return nil
		}
		lib, name := m.ctx.Library, e.Name
		m.busy++
		return func() tea.Msg {
			e, err := lib.Note(name, v)
			return LibraryCuratedMsg{Changes: []corelib.Change{{Entry: e, Before: e.Revision - 1, Changed: true}}, Did: "noted " + name, Err: err}
		}
	}
	return nil
}

func (m *Model) setStatusCmd(s storage.Status) tea.Cmd {
	return m.curate(string(s), func(lib pane.Library, names []string) ([]corelib.Change, error) {
		return lib.SetStatusAll(names, s)
	})
}

// curate runs a curation action on the marked environments — after a y/n
// question — or, with none marked, on the one under the cursor.
func (m *Model) curate(did string, do func(lib pane.Library, names []string) ([]corelib.Change, error)) tea.Cmd {
	names := m.Marked()
	bulk := len(names) > 0
	if !bulk {
		e, ok := m.Selected()
		if !ok {
			return nil
		}
		names = []string{e.Name}
	}
	lib := m.ctx.Library
	run := func() tea.Msg {
		ch, err := do(lib, names)
		return LibraryCuratedMsg{Changes: ch, Did: did, Err: err}
	}
	if !bulk {
		m.busy++
		return run
	}
	hidden := 0
	for _, n := range names {
		if !m.shown(n) {
			hidden++
		}
	}
	q := fmt.Sprintf("%s %d marked environment(s)", verbOf(did), len(names))
	if hidden > 0 {
		q += fmt.Sprintf(" (%d not shown by the filters)", hidden)
	}
	m.pending, m.mode = &pendingBulk{question: q + "?", run: run}, modeConfirm
	return nil
}

// verbOf turns what an action did into what it will do: "accepted" →
// "Accept", "tagged x" → "Tag … with x".
func verbOf(did string) string {
	switch {
	case did == string(storage.StatusAccepted):
		return "Accept"
	case did == string(storage.StatusRejected):
		return "Reject"
	case strings.HasPrefix(did, "tagged "):
		return "Add tag " + strings.TrimPrefix(did, "tagged ") + " to"
	case strings.HasPrefix(did, "untagged "):
		return "Remove tag " + strings.TrimPrefix(did, "untagged ") + " from"
	}
	return did
}

// curated takes in the outcome of a curation action or an undo.
func (m *Model) curated(msg LibraryCuratedMsg) tea.Cmd {
	m.busy = max(m.busy-1, 0)
	sel, _ := m.Selected()
	for _, c := range msg.Changes {
		m.put(c.Entry)
	}
	m.refilter(sel.Name)
	if msg.Err != nil {
		if len(msg.Changes) > 0 {
			return tea.Batch(pane.Err(msg.Err), pane.Msg(pane.LibraryChangedMsg{}))
		}
		return pane.Err(msg.Err)
	}
	n := 0
	for _, c := range msg.Changes {
		if c.Changed {
			n++
		}
	}
	text := msg.Did
	switch {
	case msg.Undo:
		text = "undone: " + msg.Did
	case len(msg.Changes) == 1:
		text = msg.Changes[0].Entry.Name + ": " + msg.Did
		if n == 0 {
			text += " (no change)"
		}
	default:
		text = fmt.Sprintf("%s %d of %d marked (the rest already were)", msg.Did, n, len(msg.Changes))
		if n == len(msg.Changes) {
			text = fmt.Sprintf("%s %d environment(s)", msg.Did, n)
		}
	}
	if !msg.Undo && n > 0 {
		label := msg.Did
		if len(msg.Changes) == 1 {
			label += " " + msg.Changes[0].Entry.Name
		} else {
			label += fmt.Sprintf(" %d environments", n)
		}
		m.pushUndo(label, msg.Changes)
		text += " · u undoes"
	}
	return pane.Info(text)
}

func (m *Model) pushUndo(did string, changes []corelib.Change) {
	var items []corelib.RevertItem
	for _, c := range changes {
		if c.Changed {
			items = append(items, corelib.RevertItem{Name: c.Entry.Name, To: c.Before, Expect: c.Entry.Revision})
		}
	}
	if len(items) == 0 {
		return
	}
	m.undo = append(m.undo, undoStep{did: did, items: items})
	if len(m.undo) > MaxUndo {
		m.undo = m.undo[len(m.undo)-MaxUndo:]
	}
}

// undoCmd takes the last curation action back. An action still in flight
// is waited for: u then applies to it.
func (m *Model) undoCmd() tea.Cmd {
	if m.busy > 0 {
		return pane.Info("a curation action is still being stored; u again in a moment")
	}
	if len(m.undo) == 0 {
		return pane.Info("nothing to undo")
	}
	step := m.undo[len(m.undo)-1]
	m.undo = m.undo[:len(m.undo)-1]
	lib := m.ctx.Library
	m.busy++
	return func() tea.Msg {
		ch, err := lib.Revert(step.items)
		return LibraryCuratedMsg{Changes: ch, Did: step.did, Undo: true, Err: err}
	}
}

func (m *Model) toggleMark(name string) {
	if m.marked[name] {
		delete(m.marked, name)
	} else {
		m.marked[name] = true
	}
}

// markAllShown marks every environment shown, or, when they all are
// marked already, unmarks them.
func (m *Model) markAllShown() {
	all := len(m.rows) > 0
	for _, r := range m.rows {
		all = all && m.marked[m.all[r.i].Name]
	}
	for _, r := range m.rows {
		if all {
			delete(m.marked, m.all[r.i].Name)
		} else {
			m.marked[m.all[r.i].Name] = true
		}
	}
}

func (m *Model) shown(name string) bool {
	for _, r := range m.rows {
		if m.all[r.i].Name == name {
			return true
		}
	}
	return false
}

func (m *Model) historyCmd() tea.Cmd {
	e, ok := m.Selected()
	if !ok {
		return nil
	}
	lib, name := m.ctx.Library, e.Name
	return func() tea.Msg {
		h, err := lib.History(name)
		return LibraryHistoryMsg{name, h, err}
	}
}

func (m *Model) openDiff() {
	if m.histCursor < 0 || m.histCursor >= len(m.history) {
		return
	}
	cur := m.history[m.histCursor]
	var prev storage.Env
	if m.histCursor > 0 {
		prev = m.history[m.histCursor-1]
	} else if b, ok := envlib.Get(cur.Name); ok && cur.Revision > 0 {
		// The first stored revision of a built-in: against the built-in.
		prev = storage.Env{Name: cur.Name, Source: string(b.Code), Status: storage.StatusAccepted, Tags: cur.Tags, Change: "built-in"}
	}
	d := corelib.Diff(prev, cur)
	if strings.TrimSpace(d) == "" {
		d = "(the source did not change in this revision: " + cur.Change + ")"
	}
	m.diffCaption = fmt.Sprintf("%s revision %d against %d", cur.Name, cur.Revision, prev.Revision)
	if prev.Revision == 0 && prev.Change == "built-in" {
		m.diffCaption = fmt.Sprintf("%s revision %d against the built-in", cur.Name, cur.Revision)
	}
	m.diff.SetContent(m.colourDiff(d))
	m.diff.GotoTop()
	m.mode = modeDiff
}

func (m *Model) colourDiff(d string) string {
	st := m.ctx.Styles
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"):
			lines[i] = st.Heading.Render(l)
		case strings.HasPrefix(l, "@@"):
			lines[i] = st.DiffHunk.Render(l)
		case strings.HasPrefix(l, "+"):
			lines[i] = st.DiffAdd.Render(l)
		case strings.HasPrefix(l, "-"):
			lines[i] = st.DiffRemove.Render(l)
		}
	}
	return strings.Join(lines, "\n")
}

// editCmd writes the source to a temporary file and opens the editor on it;
// the program is suspended until the editor exits.
func (m *Model) editCmd() tea.Cmd {
	e, ok := m.Selected()
	if !ok {
		return nil
	}
	dir, err := os.MkdirTemp("", "resyn-edit-*")
	if err != nil {
		return pane.Err(fmt.Errorf("editing %s: %w", e.Name, err))
	}
	path := filepath.Join(dir, e.Name+".star")
	if err := os.WriteFile(path, []byte(e.Source), 0o600); err != nil {
		return pane.Err(fmt.Errorf("editing %s: %w", e.Name, err))
	}
	args := strings.Fields(m.ctx.Editor)
	if len(args) == 0 {
		args = []string{"vi"}
	}
	c := exec.Command(args[0], append(args[1:], path)...)
	name := e.Name
	return tea.ExecProcess(c, func(err error) tea.Msg {
		return LibraryEditorClosedMsg{Name: name, Path: path, Err: err}
	})
}

// storeEditCmd re-validates the edited file and stores it as a new
// revision, as a job: validation takes a while.
func (m *Model) storeEditCmd(msg LibraryEditorClosedMsg) tea.Cmd {
	if msg.Err != nil {
		os.RemoveAll(filepath.Dir(msg.Path))
		return pane.Err(fmt.Errorf("editor: %w", msg.Err))
	}
	src, err := os.ReadFile(msg.Path)
	os.RemoveAll(filepath.Dir(msg.Path))
	if err != nil {
		return pane.Err(fmt.Errorf("reading the edited %s: %w", msg.Name, err))
	}
	cur, ok := m.find(msg.Name)
	if ok && cur.Source == string(src) {
		return pane.Info(msg.Name + ": unchanged")
	}
	id := pane.NewJobID()
	jctx, cancel := context.WithCancel(m.ctx.Ctx)
	lib, pool := m.ctx.Library, m.ctx.Pool
	run := func() tea.Msg {
		defer cancel()
		e, rep, err := lib.Edit(jctx, pool, msg.Name, src, corelib.AddOptions{KeepInvalid: true})
		return LibraryEditedMsg{e, rep, err, id}
	}
	return tea.Batch(pane.Msg(pane.JobStartedMsg{ID: id, Label: "validating edit of " + msg.Name, Cancel: cancel}), run)
}

func (m *Model) find(name string) (corelib.Entry, bool) {
	for _, e := range m.all {
		if e.Name == name {
			return e, true
		}
	}
	return corelib.Entry{}, false
}

// replace puts a changed entry in place (or adds it) and re-applies the
// filters, keeping the cursor where it was.
func (m *Model) replace(e corelib.Entry) {
	sel, _ := m.Selected()
	m.put(e)
	m.refilter(sel.Name)
}

// put puts a changed entry in place (or adds it), without filtering again.
func (m *Model) put(e corelib.Entry) {
	if e.Name == "" {
		return
	}
	i := sort.Search(len(m.all), func(i int) bool { return m.all[i].Name >= e.Name })
	if i < len(m.all) && m.all[i].Name == e.Name {
		m.all[i] = e
	} else {
		m.all = slices.Insert(m.all, i, e)
	}
}

// refilter recomputes the visible rows and puts the cursor on keep when it
// is among them.
func (m *Model) refilter(keep string) {
	idx := make([]int, 0, len(m.all))
	for i, e := range m.all {
		if m.status != "" && e.Status != m.status {
			continue
		}
		if m.tag != "" && !hasTagPrefix(e.Tags, m.tag) {
			continue
		}
		idx = append(idx, i)
	}
	m.rows = m.rows[:0]
	q := parseQuery(m.query)
	if q.empty() {
		for _, i := range idx {
			m.rows = append(m.rows, row{i: i})
		}
	} else {
		for _, h := range search(m.all, idx, q) {
			m.rows = append(m.rows, row{i: h.i, matched: h.matched})
		}
	}
	// A search ranks its hits; an order the user chose wins over it.
	if q.empty() || m.sortChosen {
		slices.SortStableFunc(m.rows, func(a, b row) int {
			c := compare(m.sortBy, m.all[a.i], m.all[b.i])
			if m.sortDesc {
				return -c
			}
			return c
		})
	}
	if keep != "" {
		for j, r := range m.rows {
			if m.all[r.i].Name == keep {
				m.cursor = j
				break
			}
		}
	}
	m.clamp()
}

func (m *Model) move(d int) {
	m.cursor += d
	m.clamp()
}

func (m *Model) clamp() {
	m.cursor = max(min(m.cursor, len(m.rows)-1), 0)
	h := m.listHeight()
	if m.cursor < m.offset {
		m.offset = m.cursor
	}
	if m.cursor >= m.offset+h {
		m.offset = m.cursor - h + 1
	}
	m.offset = max(min(m.offset, len(m.rows)-h), 0)
}
