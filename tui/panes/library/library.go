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
	"github.com/sahilm/fuzzy"

	"resyn/core/envlib"
	corelib "resyn/core/library"
	"resyn/core/validate"
	"resyn/storage"
	"resyn/tui/pane"
)

type mode int

const (
	modeBrowse    mode = iota
	modeSearch         // typing the fuzzy search
	modeTagFilter      // typing the tag to filter by
	modeAddTag         // typing a tag to add
	modeRemoveTag      // typing a tag to remove
	modeNote           // typing a note
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

// LibraryUpdatedMsg is the outcome of a curation action on one environment.
type LibraryUpdatedMsg struct {
	Entry corelib.Entry
	Did   string // "accepted", "tagged x", … for the status bar
	Err   error
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
	query  string         // fuzzy search

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
	return &Model{ctx: ctx, keys: newKeyMap(), input: in, diff: viewport.New(0, 0)}
}

// Title names the pane on the tab row.
func (m *Model) Title() string { return "Library" }

// Capturing reports whether the pane is reading text.
func (m *Model) Capturing() bool {
	switch m.mode {
	case modeSearch, modeTagFilter, modeAddTag, modeRemoveTag, modeNote:
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
	case LibraryUpdatedMsg:
		if msg.Err != nil {
			return m, pane.Err(msg.Err)
		}
		m.replace(msg.Entry)
		return m, pane.Info(msg.Entry.Name + ": " + msg.Did)
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
		m.replace(msg.Entry)
		text := msg.Entry.Name + ": edit stored as revision " + fmt.Sprint(msg.Entry.Revision)
		if msg.Report != nil && !msg.Report.OK {
			text += fmt.Sprintf("; validation failed (%d check(s)): preview shows the report", len(msg.Report.Failed()))
		}
		return m, tea.Batch(done, pane.Info(text), pane.Msg(pane.LibraryChangedMsg{Name: msg.Entry.Name}))
	case tea.KeyMsg:
		return m, m.handleKey(msg)
	}
	if m.Capturing() {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	switch m.mode {
	case modeSearch:
		switch msg.Type {
		case tea.KeyEsc:
			m.query, m.mode = "", modeBrowse
			m.input.Blur()
			m.refilter("")
			return nil
		case tea.KeyEnter:
			m.mode = modeBrowse
			m.input.Blur()
			return nil
		case tea.KeyUp, tea.KeyDown:
			m.move(map[bool]int{true: -1, false: 1}[msg.Type == tea.KeyUp])
			return nil
		}
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		if v := m.input.Value(); v != m.query {
			m.query = v
			m.refilter("")
			m.cursor, m.offset = 0, 0
		}
		return cmd
	case modeTagFilter, modeAddTag, modeRemoveTag, modeNote:
		switch msg.Type {
		case tea.KeyEsc:
			m.mode = modeBrowse
			m.input.Blur()
			return nil
		case tea.KeyEnter:
			return m.submitInput()
		}
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return cmd
	case modeHistory:
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
	case modeDiff:
		if key.Matches(msg, k.Back) {
			m.mode = modeHistory
			return nil
		}
		var cmd tea.Cmd
		m.diff, cmd = m.diff.Update(msg)
		return cmd
	}

	switch {
	case key.Matches(msg, k.Up):
		m.move(-1)
	case key.Matches(msg, k.Down):
		m.move(1)
	case key.Matches(msg, k.PageUp):
		m.move(-m.listHeight())
	case key.Matches(msg, k.PageDown):
		m.move(m.listHeight())
	case key.Matches(msg, k.Top):
		m.move(-len(m.rows))
	case key.Matches(msg, k.Bottom):
		m.move(len(m.rows))
	case key.Matches(msg, k.Search):
		m.startInput(modeSearch, "search: ", m.query)
	case key.Matches(msg, k.Status):
		i := slices.Index(statusCycle, m.status)
		m.status = statusCycle[(i+1)%len(statusCycle)]
		sel, _ := m.Selected()
		m.refilter(sel.Name)
	case key.Matches(msg, k.Tag):
		m.startInput(modeTagFilter, "filter by tag: ", m.tag)
	case key.Matches(msg, k.Clear):
		sel, _ := m.Selected()
		m.status, m.tag, m.query = "", "", ""
		m.refilter(sel.Name)
	case key.Matches(msg, k.Open):
		if e, ok := m.Selected(); ok {
			return pane.Msg(pane.OpenEnvMsg{Name: e.Name})
		}
	case key.Matches(msg, k.Accept):
		return m.setStatusCmd(storage.StatusAccepted)
	case key.Matches(msg, k.Reject):
		return m.setStatusCmd(storage.StatusRejected)
	case key.Matches(msg, k.AddTag):
		m.startInput(modeAddTag, "add tag: ", "")
	case key.Matches(msg, k.RemoveTag):
		m.startInput(modeRemoveTag, "remove tag: ", "")
	case key.Matches(msg, k.Note):
		m.startInput(modeNote, "note: ", "")
	case key.Matches(msg, k.Edit):
		return m.editCmd()
	case key.Matches(msg, k.History):
		return m.historyCmd()
	}
	return nil
}

func (m *Model) startInput(md mode, prompt, value string) {
	if md != modeSearch && md != modeTagFilter {
		if _, ok := m.Selected(); !ok {
			return
		}
	}
	m.mode = md
	m.input.Prompt = prompt
	m.input.SetValue(value)
	m.input.CursorEnd()
	m.input.Focus()
}

func (m *Model) submitInput() tea.Cmd {
	v := strings.TrimSpace(m.input.Value())
	md := m.mode
	m.mode = modeBrowse
	m.input.Blur()
	e, ok := m.Selected()
	switch md {
	case modeTagFilter:
		m.tag = v
		m.refilter(e.Name)
		return nil
	case modeAddTag, modeRemoveTag:
		if !ok || v == "" {
			return nil
		}
		lib, name := m.ctx.Library, e.Name
		add := md == modeAddTag
		return func() tea.Msg {
			if add {
				e, err := lib.Tag(name, []string{v}, nil)
				return LibraryUpdatedMsg{e, "tagged " + v, err}
			}
			e, err := lib.Tag(name, nil, []string{v})
			return LibraryUpdatedMsg{e, "untagged " + v, err}
		}
	case modeNote:
		if !ok || v == "" {
			return nil
		}
		lib, name := m.ctx.Library, e.Name
		return func() tea.Msg {
			e, err := lib.Note(name, v)
			return LibraryUpdatedMsg{e, "note added", err}
		}
	}
	return nil
}

func (m *Model) setStatusCmd(s storage.Status) tea.Cmd {
	e, ok := m.Selected()
	if !ok {
		return nil
	}
	lib, name := m.ctx.Library, e.Name
	return func() tea.Msg {
		e, err := lib.SetStatus(name, s, "")
		return LibraryUpdatedMsg{e, string(s), err}
	}
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
// filters, keeping the cursor on it when it still shows.
func (m *Model) replace(e corelib.Entry) {
	if e.Name == "" {
		return
	}
	i := sort.Search(len(m.all), func(i int) bool { return m.all[i].Name >= e.Name })
	if i < len(m.all) && m.all[i].Name == e.Name {
		m.all[i] = e
	} else {
		m.all = slices.Insert(m.all, i, e)
	}
	m.refilter(e.Name)
}

// refilter recomputes the visible rows and puts the cursor on keep when it
// is among them.
func (m *Model) refilter(keep string) {
	var idx []int
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
	if m.query == "" {
		for _, i := range idx {
			m.rows = append(m.rows, row{i: i})
		}
	} else {
		for _, r := range fuzzy.FindFrom(m.query, names{m.all, idx}) {
			m.rows = append(m.rows, row{i: idx[r.Index], matched: r.MatchedIndexes})
		}
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

func hasTagPrefix(tags []string, p string) bool {
	for _, t := range tags {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// names is the fuzzy search's view of the filtered entries.
type names struct {
	all []corelib.Entry
	idx []int
}

func (n names) String(i int) string { return n.all[n.idx[i]].Name }
func (n names) Len() int            { return len(n.idx) }

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
