// Package themes holds the workbench's colour palettes and the one
// constructor that turns a palette into every lipgloss style the panes use.
//
// What it is for: a Theme names colours by meaning (TextPrimary,
// BorderFaint, StatusError…), never by hue, and NewStyles builds the Styles
// value from it. Panes take their styles from Styles and never name a
// colour, so a new theme is one value in palettes.go.
//
// What it is not for: layout, widths or anything that depends on the
// terminal's size; those belong to the panes.
//
// How the parts fit:
//
//	theme.go     Theme, the built-in palettes (dark, light, high-contrast,
//	             and the colourless one used under NO_COLOR), ByName
//	styles.go    Styles and NewStyles
//
// NO_COLOR (https://no-color.org): when the variable is set to anything
// non-empty, Select returns the colourless theme whatever was asked for;
// emphasis then comes from bold, underline and reverse video only.
package themes
