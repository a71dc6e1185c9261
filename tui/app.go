package tui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"resyn/tui/pane"
	"resyn/tui/panes/library"
	"resyn/tui/panes/preview"
)

// QuitGrace is how long quitting waits for cancelled jobs to finish (a
// training run saves a checkpoint first) before it leaves anyway; q or
// ctrl+c while it waits leaves at once.
const QuitGrace = 30 * time.Second

type job struct {
	id     int64
	label  string
	cancel func()
}

// quitNowMsg ends the wait for cancelled jobs.
type quitNowMsg struct{}

// Model is the root of the workbench.
type Model struct {
	ctx    *pane.Context
	panes  []pane.Pane
	active int
	w, h   int
	keys   globalKeys
	help   help.Model

	showHelp    bool
	helpTop     int // the first line of the help overlay shown
	confirmQuit bool
	quitting    bool

	jobs      []job
	closers   []func() error
	status    string
	statusErr bool
}

// Active returns the pane in front.
func (m *Model) Active() pane.Pane { return m.panes[m.active] }

// Jobs returns the labels of the running jobs.
func (m *Model) Jobs() []string {
	var out []string
	for _, j := range m.jobs {
		out = append(out, j.label)
	}
	return out
}

// Status returns the status bar's message.
func (m *Model) Status() string { return m.status }

// Init starts every pane.
func (m *Model) Init() tea.Cmd {
	cmds := make([]tea.Cmd, 0, len(m.panes))
	for _, p := range m.panes {
		cmds = append(cmds, p.Init())
	}
	return tea.Batch(cmds...)
}

// Update routes a message.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.w, m.h = msg.Width, msg.Height
		for _, p := range m.panes {
			p.SetSize(m.w, m.paneHeight())
		}
		m.help.Width = 0 // groups are flowed by helpView, never cut
		return m, nil
	case tea.KeyMsg:
		return m, m.handleBurst(msg)
	case tea.MouseMsg:
		return m, m.handleMouse(msg)
	case pane.ErrMsg:
		m.status, m.statusErr = msg.Err.Error(), true
		return m, nil
	case pane.InfoMsg:
		m.status, m.statusErr = msg.Text, false
		return m, nil
	case pane.JobStartedMsg:
		m.jobs = append(m.jobs, job{msg.ID, msg.Label, msg.Cancel})
		return m, nil
	case pane.JobFinishedMsg:
		for i, j := range m.jobs {
			if j.id == msg.ID {
				m.jobs = append(m.jobs[:i], m.jobs[i+1:]...)
				break
			}
		}
		if m.quitting && len(m.jobs) == 0 {
			return m, tea.Quit
		}
		return m, nil
	case quitNowMsg:
		return m, tea.Quit
	case pane.OpenEnvMsg:
		for i, p := range m.panes {
			if _, ok := p.(*preview.Model); ok {
				m.active = i
			}
		}
	}
	return m, m.broadcast(msg)
}

// broadcast hands a message to every pane.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for i, p := range m.panes {
		np, cmd := p.Update(msg)
		m.panes[i] = np
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// handleBurst takes in what the terminal sent in one read. Runes that
// arrive together (a laggy link, key repeat, a quick typist) come as one
// message: each is a key of its own, until a pane starts reading text,
// which then gets the rest at once. A paste (bracketed) is text: it goes to
// the text box that has the focus, and is never run as keys.
func (m *Model) handleBurst(msg tea.KeyMsg) tea.Cmd {
	if msg.Alt && !msg.Paste {
		// The workbench binds no Alt key. An Alt key is what the
		// terminal's reader makes of esc and the next key arriving in one
		// read (a quick typist, a laggy SSH link, a busy machine): they
		// are the two keys, esc first.
		next := msg
		next.Alt = false
		esc := m.handleKey(tea.KeyMsg{Type: tea.KeyEsc})
		return tea.Batch(esc, m.handleBurst(next))
	}
	if msg.Type != tea.KeyRunes || len(msg.Runes) <= 1 {
		return m.handleKey(msg)
	}
	if msg.Paste {
		if m.Active().Capturing() && !m.showHelp && !m.confirmQuit && !m.quitting {
			return m.handleKey(msg)
		}
		return pane.Info(fmt.Sprintf("pasted text (%d characters) ignored: no text box has the focus", len(msg.Runes)))
	}
	var cmds []tea.Cmd
	for i, r := range msg.Runes {
		if m.Active().Capturing() && !m.showHelp && !m.confirmQuit && !m.quitting {
			rest := msg
			rest.Runes = msg.Runes[i:]
			return tea.Batch(append(cmds, m.handleKey(rest))...)
		}
		one := msg
		one.Runes = []rune{r}
		cmds = append(cmds, m.handleKey(one))
	}
	return tea.Batch(cmds...)
}

// handleMouse: a click on the tab row switches panes; everything else in
// the pane area goes to the pane in front, in its own coordinates.
func (m *Model) handleMouse(msg tea.MouseMsg) tea.Cmd {
	if m.showHelp {
		switch msg.Button {
		case tea.MouseButtonWheelUp:
			m.helpTop = max(m.helpTop-1, 0)
		case tea.MouseButtonWheelDown:
			m.helpTop++
		}
		return nil
	}
	if m.confirmQuit || m.quitting {
		return nil
	}
	switch {
	case msg.Y == 0:
		if msg.Action != tea.MouseActionPress || msg.Button != tea.MouseButtonLeft {
			return nil
		}
		x := 0
		for i, p := range m.panes {
			w := lipgloss.Width(m.tabLabel(i, p))
			if msg.X >= x && msg.X < x+w {
				return m.switchTo(i)
			}
			x += w
		}
		return nil
	case msg.Y > m.paneHeight():
		return nil // the status bar
	}
	msg.Y--
	np, cmd := m.Active().Update(msg)
	m.panes[m.active] = np
	return cmd
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	k := m.keys
	if m.quitting {
		if key.Matches(msg, k.Quit) {
			return tea.Quit // leave now, without waiting for the jobs
		}
		return nil
	}
	if m.confirmQuit {
		switch {
		case key.Matches(msg, k.Yes):
			return m.quit()
		case key.Matches(msg, k.No):
			m.confirmQuit = false
		}
		return nil
	}
	if m.showHelp {
		// ↑/↓ scroll an overlay taller than the window; any other key
		// closes it; ctrl+c still quits.
		switch msg.String() {
		case "up", "k":
			m.helpTop = max(m.helpTop-1, 0)
			return nil
		case "down", "j":
			m.helpTop++
			return nil
		case "pgup":
			m.helpTop = max(m.helpTop-m.paneHeight()/2, 0)
			return nil
		case "pgdown", " ":
			m.helpTop += m.paneHeight() / 2
			return nil
		}
		m.showHelp = false
		if msg.String() != "ctrl+c" {
			return nil
		}
	}
	p := m.Active()
	if p.Capturing() && msg.String() != "ctrl+c" {
		np, cmd := p.Update(msg)
		m.panes[m.active] = np
		return cmd
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.askQuit()
	case key.Matches(msg, k.Help):
		m.showHelp, m.helpTop = true, 0
		return nil
	case key.Matches(msg, k.Next):
		return m.switchTo((m.active + 1) % len(m.panes))
	case key.Matches(msg, k.Prev):
		return m.switchTo((m.active + len(m.panes) - 1) % len(m.panes))
	}
	for i, b := range k.Panes {
		if key.Matches(msg, b) {
			return m.switchTo(i)
		}
	}
	np, cmd := p.Update(msg)
	m.panes[m.active] = np
	return cmd
}

// switchTo brings pane i to the front. An empty preview opens the
// environment selected in the library, so that 2 right after starting
// shows something.
func (m *Model) switchTo(i int) tea.Cmd {
	m.active = i
	p, ok := m.panes[i].(*preview.Model)
	if !ok || p.Name() != "" {
		return nil
	}
	for _, q := range m.panes {
		if lib, ok := q.(*library.Model); ok {
			if e, ok := lib.Selected(); ok {
				return pane.Msg(pane.OpenEnvMsg{Name: e.Name})
			}
		}
	}
	return nil
}

func (m *Model) askQuit() tea.Cmd {
	if len(m.jobs) == 0 {
		return tea.Quit
	}
	m.confirmQuit = true
	return nil
}

// quit cancels every job and waits (at most QuitGrace) for them to report
// that they have stopped.
func (m *Model) quit() tea.Cmd {
	m.confirmQuit = false
	m.quitting = true
	if len(m.jobs) == 0 {
		return tea.Quit
	}
	for _, j := range m.jobs {
		if j.cancel != nil {
			j.cancel()
		}
	}
	m.status, m.statusErr = fmt.Sprintf("stopping %d job(s)… (q again leaves at once)", len(m.jobs)), false
	return tea.Tick(QuitGrace, func(time.Time) tea.Msg { return quitNowMsg{} })
}

func (m *Model) paneHeight() int { return max(m.h-2, 1) }

// View draws the tab row, the pane in front (or the help overlay or the
// quit question) and the status bar.
func (m *Model) View() string {
	if m.w <= 0 || m.h <= 0 {
		return ""
	}
	body := m.Active().View()
	switch {
	case m.confirmQuit:
		body = m.overlay(m.quitQuestion())
	case m.showHelp:
		body = m.overlay(m.helpView())
	}
	return lipgloss.JoinVertical(lipgloss.Left, m.tabs(), pane.Fit(body, m.w, m.paneHeight()), m.statusBar())
}

func (m *Model) tabs() string {
	st := m.ctx.Styles
	var parts []string
	for i, p := range m.panes {
		parts = append(parts, m.tabLabel(i, p))
	}
	row := strings.Join(parts, "")
	brand := st.Faint.Render("resyn workbench ")
	if gap := m.w - lipgloss.Width(row) - lipgloss.Width(brand); gap > 0 {
		row += strings.Repeat(" ", gap) + brand
	}
	return pane.Pad(row, m.w)
}

// tabLabel is pane i's name on the tab row, styled.
func (m *Model) tabLabel(i int, p pane.Pane) string {
	st := m.ctx.Styles
	label := fmt.Sprintf("%d %s", i+1, p.Title())
	if i == m.active && st.Theme.Mono {
		label = "[" + label + "]" // seen without colour, and in plain text
	}
	if i == m.active {
		return st.TabActive.Render(label)
	}
	return st.Tab.Render(label)
}

func (m *Model) statusBar() string {
	st := m.ctx.Styles
	right := st.StatusKey.Render(" ? ") + st.StatusBar.Render("help ")
	var jobs string
	if n := len(m.jobs); n > 0 {
		jobs = st.StatusKey.Render(" ⏵ ") + st.StatusBar.Render(m.jobs[0].label)
		if n > 1 {
			jobs += st.StatusBar.Render(fmt.Sprintf(" (+%d)", n-1))
		}
		jobs += st.StatusBar.Render(" ")
	}
	var msg string
	if m.status != "" {
		if m.statusErr {
			msg = st.StatusError.Render(" " + m.status + " ")
		} else {
			msg = st.StatusBar.Render(" " + m.status + " ")
		}
	}
	path := m.ctx.StorePath
	if path == "" {
		path = "(no store)"
	}
	room := m.w - lipgloss.Width(right) - lipgloss.Width(jobs) - lipgloss.Width(msg) - 8
	if room < 12 {
		// Narrow: the message and jobs win over the path.
		room = 12
	}
	if lipgloss.Width(path) > room {
		path = "…" + path[len(path)-room+1:]
	}
	left := st.StatusKey.Render(" store ") + st.StatusBar.Render(path+" ")
	line := left + jobs + msg
	if lw := lipgloss.Width(line); lw+lipgloss.Width(right) <= m.w {
		line += st.StatusBar.Render(strings.Repeat(" ", m.w-lw-lipgloss.Width(right))) + right
	}
	return pane.Cut(line, m.w)
}

// helpView is the overlay of every key: the global group, then the
// front pane's groups, each drawn by bubbles/help and flowed into rows that
// fit the window.
func (m *Model) helpView() string {
	st := m.ctx.Styles
	groups := [][]key.Binding{m.keys.group()}
	groups = append(groups, m.Active().FullHelp()...)
	room := max(m.w-6, 20) // the overlay's border and padding
	var rows []string
	var row []string
	rowW := 0
	for _, g := range groups {
		block := m.help.FullHelpView([][]key.Binding{g})
		w := lipgloss.Width(block)
		if len(row) > 0 && rowW+3+w > room {
			rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
			row, rowW = nil, 0
		}
		if len(row) > 0 {
			row = append(row, "   ")
			rowW += 3
		}
		row = append(row, block)
		rowW += w
	}
	if len(row) > 0 {
		rows = append(rows, lipgloss.JoinHorizontal(lipgloss.Top, row...))
	}
	body := strings.Split(strings.Join(rows, "\n\n"), "\n")
	hint := "   (any key closes)"
	// The box's border and the title take four lines; a taller overlay
	// scrolls.
	if room := m.paneHeight() - 4; len(body) > room && room > 0 {
		m.helpTop = min(m.helpTop, len(body)-room)
		hint = fmt.Sprintf("   (↑/↓ scroll, lines %d–%d of %d · any other key closes)", m.helpTop+1, m.helpTop+room, len(body))
		body = body[m.helpTop : m.helpTop+room]
	}
	title := st.Title.Render(m.Active().Title()+" — keys") + st.Faint.Render(hint)
	return title + "\n\n" + strings.Join(body, "\n")
}

func (m *Model) quitQuestion() string {
	st := m.ctx.Styles
	var b strings.Builder
	b.WriteString(st.Title.Render(fmt.Sprintf("%d job(s) running:", len(m.jobs))))
	b.WriteByte('\n')
	for _, j := range m.jobs {
		b.WriteString(st.Text.Render("  · "+j.label) + "\n")
	}
	b.WriteString("\n" + st.Text.Render("Quit and stop them? ") + st.Prompt.Render("y") + st.Faint.Render("/") + st.Prompt.Render("n"))
	return b.String()
}

// overlay centres a box over the pane area.
func (m *Model) overlay(content string) string {
	box := m.ctx.Styles.Overlay.MaxWidth(m.w).Render(content)
	return lipgloss.Place(m.w, m.paneHeight(), lipgloss.Center, lipgloss.Center, box)
}
