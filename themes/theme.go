package themes

import (
	"fmt"
	"os"
	"sort"

	"github.com/charmbracelet/lipgloss"
)

// Theme is a palette named by meaning. A zero colour (lipgloss.NoColor)
// means "the terminal's own".
type Theme struct {
	Name string

	TextPrimary   lipgloss.TerminalColor // body text
	TextSecondary lipgloss.TerminalColor // labels, metadata
	TextFaint     lipgloss.TerminalColor // hints, disabled items
	TextInverse   lipgloss.TerminalColor // text on Accent or Selection backgrounds

	Accent      lipgloss.TerminalColor // titles, the active tab, the cursor
	Selection   lipgloss.TerminalColor // background of the selected row
	BorderFaint lipgloss.TerminalColor // borders of unfocused boxes
	BorderFocus lipgloss.TerminalColor // border of the focused box
	Bar         lipgloss.TerminalColor // status bar background

	StatusOK    lipgloss.TerminalColor // passed checks, accepted, score 1
	StatusWarn  lipgloss.TerminalColor // candidates, partial scores
	StatusError lipgloss.TerminalColor // failed checks, rejected, errors
	StatusInfo  lipgloss.TerminalColor // running jobs, neutral news

	// Series are the colours of chart lines, in order.
	Series []lipgloss.TerminalColor

	// Mono marks the colourless theme: styles use reverse video for the
	// selection instead of a background colour.
	Mono bool
}

// Dark is the default theme, for dark terminals.
var Dark = Theme{
	Name:          "dark",
	TextPrimary:   lipgloss.Color("252"),
	TextSecondary: lipgloss.Color("246"),
	TextFaint:     lipgloss.Color("240"),
	TextInverse:   lipgloss.Color("235"),
	Accent:        lipgloss.Color("75"),
	Selection:     lipgloss.Color("237"),
	BorderFaint:   lipgloss.Color("238"),
	BorderFocus:   lipgloss.Color("75"),
	Bar:           lipgloss.Color("236"),
	StatusOK:      lipgloss.Color("114"),
	StatusWarn:    lipgloss.Color("179"),
	StatusError:   lipgloss.Color("203"),
	StatusInfo:    lipgloss.Color("111"),
	Series:        []lipgloss.TerminalColor{lipgloss.Color("75"), lipgloss.Color("114"), lipgloss.Color("179"), lipgloss.Color("176"), lipgloss.Color("203"), lipgloss.Color("80")},
}

// Light is for light terminals.
var Light = Theme{
	Name:          "light",
	TextPrimary:   lipgloss.Color("235"),
	TextSecondary: lipgloss.Color("242"),
	TextFaint:     lipgloss.Color("248"),
	TextInverse:   lipgloss.Color("255"),
	Accent:        lipgloss.Color("25"),
	Selection:     lipgloss.Color("254"),
	BorderFaint:   lipgloss.Color("250"),
	BorderFocus:   lipgloss.Color("25"),
	Bar:           lipgloss.Color("253"),
	StatusOK:      lipgloss.Color("28"),
	StatusWarn:    lipgloss.Color("130"),
	StatusError:   lipgloss.Color("160"),
	StatusInfo:    lipgloss.Color("25"),
	Series:        []lipgloss.TerminalColor{lipgloss.Color("25"), lipgloss.Color("28"), lipgloss.Color("130"), lipgloss.Color("90"), lipgloss.Color("160"), lipgloss.Color("30")},
}

// HighContrast uses the sixteen basic ANSI colours at full strength, bright
// on black, for low-vision use and poor terminals.
var HighContrast = Theme{
	Name:          "high-contrast",
	TextPrimary:   lipgloss.Color("15"),
	TextSecondary: lipgloss.Color("15"),
	TextFaint:     lipgloss.Color("7"),
	TextInverse:   lipgloss.Color("0"),
	Accent:        lipgloss.Color("11"),
	Selection:     lipgloss.Color("11"),
	BorderFaint:   lipgloss.Color("7"),
	BorderFocus:   lipgloss.Color("11"),
	Bar:           lipgloss.Color("0"),
	StatusOK:      lipgloss.Color("10"),
	StatusWarn:    lipgloss.Color("11"),
	StatusError:   lipgloss.Color("9"),
	StatusInfo:    lipgloss.Color("14"),
	Series:        []lipgloss.TerminalColor{lipgloss.Color("11"), lipgloss.Color("10"), lipgloss.Color("14"), lipgloss.Color("13"), lipgloss.Color("9"), lipgloss.Color("15")},
}

// NoColor is the colourless theme used when NO_COLOR is set.
var NoColor = Theme{
	Name:          "none",
	TextPrimary:   lipgloss.NoColor{},
	TextSecondary: lipgloss.NoColor{},
	TextFaint:     lipgloss.NoColor{},
	TextInverse:   lipgloss.NoColor{},
	Accent:        lipgloss.NoColor{},
	Selection:     lipgloss.NoColor{},
	BorderFaint:   lipgloss.NoColor{},
	BorderFocus:   lipgloss.NoColor{},
	Bar:           lipgloss.NoColor{},
	StatusOK:      lipgloss.NoColor{},
	StatusWarn:    lipgloss.NoColor{},
	StatusError:   lipgloss.NoColor{},
	StatusInfo:    lipgloss.NoColor{},
	Series:        []lipgloss.TerminalColor{lipgloss.NoColor{}},
	Mono:          true,
}

var byName = map[string]Theme{
	Dark.Name: Dark, Light.Name: Light, HighContrast.Name: HighContrast, NoColor.Name: NoColor,
}

// Names lists the themes ByName knows, sorted.
func Names() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// ByName returns a built-in theme ("dark", "light", "high-contrast",
// "none"); an empty name means dark.
func ByName(name string) (Theme, error) {
	if name == "" {
		return Dark, nil
	}
	t, ok := byName[name]
	if !ok {
		return Theme{}, fmt.Errorf("unknown theme %q (have %v): %w", name, Names(), ErrUnknownTheme)
	}
	return t, nil
}

// NoColorRequested reports whether the NO_COLOR convention asks for no
// colour: the variable is set and not empty.
func NoColorRequested() bool { return os.Getenv("NO_COLOR") != "" }

// Select is ByName, except that NO_COLOR wins over any name.
func Select(name string) (Theme, error) {
	t, err := ByName(name)
	if err != nil {
		return t, err
	}
	if NoColorRequested() {
		return NoColor, nil
	}
	return t, nil
}

// Resolve is the theme a command's --theme flag asks for: flag, else
// $RESYN_THEME, else dark, with NO_COLOR winning over both (Select). The
// error names where the unknown name came from.
func Resolve(flag string) (Theme, error) {
	name := flag
	if name == "" {
		name = os.Getenv("RESYN_THEME")
	}
	t, err := Select(name)
	if err != nil {
		if flag == "" {
			return t, fmt.Errorf("$RESYN_THEME: %w", err)
		}
		return t, fmt.Errorf("--theme: %w", err)
	}
	return t, nil
}
