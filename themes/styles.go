package themes

import (
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/lipgloss"
)

// Styles is every style the workbench draws with, built from one Theme by
// NewStyles. Panes use these and never name a colour.
type Styles struct {
	Theme Theme

	Text      lipgloss.Style // body text
	Secondary lipgloss.Style // labels and metadata
	Faint     lipgloss.Style // hints, empty states
	Title     lipgloss.Style // a pane's heading
	Heading   lipgloss.Style // a section heading inside a pane
	Selected  lipgloss.Style // the selected row of a list
	Match     lipgloss.Style // characters a fuzzy search matched

	OK    lipgloss.Style
	Warn  lipgloss.Style
	Error lipgloss.Style
	Info  lipgloss.Style

	Box      lipgloss.Style // a bordered box, unfocused
	BoxFocus lipgloss.Style // a bordered box with the focus
	Overlay  lipgloss.Style // the help overlay and confirmations

	Tab       lipgloss.Style // a pane's name in the tab row
	TabActive lipgloss.Style // the current pane's name

	StatusBar   lipgloss.Style // the bottom line
	StatusKey   lipgloss.Style // a label on the status bar
	StatusError lipgloss.Style // an error on the status bar

	Prompt lipgloss.Style // the prompt of a text input
	Code   lipgloss.Style // source code and JSON

	DiffAdd    lipgloss.Style
	DiffRemove lipgloss.Style
	DiffHunk   lipgloss.Style

	Help help.Styles // for bubbles/help
}

// NewStyles builds every style from a theme.
func NewStyles(t Theme) Styles {
	fg := func(c lipgloss.TerminalColor) lipgloss.Style { return lipgloss.NewStyle().Foreground(c) }
	s := Styles{Theme: t}
	s.Text = fg(t.TextPrimary)
	s.Secondary = fg(t.TextSecondary)
	s.Faint = fg(t.TextFaint)
	s.Title = fg(t.Accent).Bold(true)
	s.Heading = fg(t.TextPrimary).Bold(true)
	s.Match = fg(t.Accent).Underline(true)
	s.OK = fg(t.StatusOK)
	s.Warn = fg(t.StatusWarn)
	s.Error = fg(t.StatusError).Bold(true)
	s.Info = fg(t.StatusInfo)
	s.Box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.BorderFaint)
	s.BoxFocus = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.BorderFocus)
	s.Overlay = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(t.BorderFocus).Padding(0, 1)
	s.Tab = fg(t.TextSecondary).Padding(0, 1)
	s.TabActive = fg(t.TextInverse).Background(t.Accent).Bold(true).Padding(0, 1)
	s.StatusBar = fg(t.TextSecondary).Background(t.Bar)
	s.StatusKey = fg(t.Accent).Background(t.Bar).Bold(true)
	s.StatusError = fg(t.StatusError).Background(t.Bar).Bold(true)
	s.Prompt = fg(t.Accent).Bold(true)
	s.Code = fg(t.TextPrimary)
	s.DiffAdd = fg(t.StatusOK)
	s.DiffRemove = fg(t.StatusError)
	s.DiffHunk = fg(t.StatusInfo)
	if t.Mono {
		s.Selected = lipgloss.NewStyle().Reverse(true)
		s.TabActive = lipgloss.NewStyle().Reverse(true).Bold(true).Padding(0, 1)
		s.StatusBar = lipgloss.NewStyle()
		s.StatusKey = lipgloss.NewStyle().Bold(true)
		s.StatusError = lipgloss.NewStyle().Bold(true)
	} else {
		s.Selected = fg(t.TextPrimary).Background(t.Selection).Bold(true)
		if t.Name == HighContrast.Name {
			s.Selected = fg(t.TextInverse).Background(t.Selection).Bold(true)
		}
	}
	s.Help = help.Styles{
		Ellipsis:       s.Faint,
		ShortKey:       s.Secondary.Bold(true),
		ShortDesc:      s.Faint,
		ShortSeparator: s.Faint,
		FullKey:        s.Secondary.Bold(true),
		FullDesc:       s.Text,
		FullSeparator:  s.Faint,
	}
	return s
}
