// Package textout is how resyn's commands print for a person at a
// terminal: tables that fit its width, the rate and time left of a long
// job, and JSON as every --json output is written (docs/json.md). The
// printers of core and trainer packages use it too, so that a command's
// output and a package's report read the same.
package textout

import (
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
)

// Table is command output in columns that fits the terminal (80 columns
// when the output is not one): when the natural widths do not fit, the
// columns marked to wrap (free text: tags, reasons, changes) are narrowed
// and their cells wrapped at spaces, commas and hyphens onto continuation
// lines; the others (names, numbers, statuses) are never cut, so that what
// is printed can be copied back into a command.
//
// text/tabwriter, which the other commands use, only aligns: a long
// reason makes every line of the table as wide as the longest one.
type Table struct {
	head  []string
	rows  [][]string
	wrap  map[int]bool // column index → may wrap
	right map[int]bool // column index → aligned right (numbers)
	// Headless tables (key and value) print no header line.
	Headless bool
}

// NewTable starts a table with these column heads.
func NewTable(head ...string) *Table {
	return &Table{head: head, wrap: map[int]bool{}, right: map[int]bool{}}
}

// Wrapping marks columns whose cells may be wrapped.
func (t *Table) Wrapping(cols ...int) *Table {
	for _, c := range cols {
		t.wrap[c] = true
	}
	return t
}

// RightAligned marks columns of numbers.
func (t *Table) RightAligned(cols ...int) *Table {
	for _, c := range cols {
		t.right[c] = true
	}
	return t
}

// Row adds a row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// tableGap is the space between two columns.
const tableGap = 2

// minWrap is the narrowest a wrapping column gets (it may still be as
// narrow as its widest content).
const minWrap = 12

// widths fits the columns into width cells.
func (t *Table) widths(width int) []int {
	n := len(t.head)
	nat := make([]int, n)
	for _, r := range append([][]string{t.head}, t.rows...) {
		for c := 0; c < n && c < len(r); c++ {
			nat[c] = max(nat[c], ansi.StringWidth(r[c]))
		}
	}
	total := tableGap * (n - 1)
	flex := 0
	for c, w := range nat {
		total += w
		if t.wrap[c] {
			flex += w
		}
	}
	if total <= width || flex == 0 {
		return nat
	}
	// Share what the fixed columns leave among the wrapping ones, in
	// proportion to their natural widths.
	room := width - (total - flex)
	out := append([]int(nil), nat...)
	for c := range out {
		if t.wrap[c] {
			out[c] = min(nat[c], max(minWrap, room*nat[c]/flex))
		}
	}
	return out
}

// WriteFitted prints the table at the width of w (WidthOf).
func (t *Table) WriteFitted(w io.Writer) error { return t.Write(w, WidthOf(w)) }

// Write prints the table in width cells.
func (t *Table) Write(w io.Writer, width int) error {
	ws := t.widths(width)
	var b strings.Builder
	all := append([][]string{t.head}, t.rows...)
	if t.Headless {
		all = t.rows
	}
	for _, r := range all {
		cells := make([][]string, len(ws))
		lines := 1
		for c := range ws {
			s := ""
			if c < len(r) {
				s = r[c]
			}
			if t.wrap[c] && ansi.StringWidth(s) > ws[c] {
				cells[c] = strings.Split(ansi.Wrap(s, ws[c], ",-/"), "\n")
			} else {
				cells[c] = []string{s}
			}
			lines = max(lines, len(cells[c]))
		}
		for l := 0; l < lines; l++ {
			var line strings.Builder
			for c, cw := range ws {
				s := ""
				if l < len(cells[c]) {
					s = strings.TrimRight(cells[c][l], " ")
				}
				pad := strings.Repeat(" ", max(cw-ansi.StringWidth(s), 0))
				if t.right[c] {
					line.WriteString(pad + s)
				} else {
					line.WriteString(s + pad)
				}
				if c < len(ws)-1 {
					line.WriteString(strings.Repeat(" ", tableGap))
				}
			}
			b.WriteString(strings.TrimRight(line.String(), " ") + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WidthOf is OutputWidth of w when it is a file, else 80.
func WidthOf(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		return OutputWidth(f)
	}
	return 80
}

// OutputWidth is the width tables fit on f: the terminal's, else
// $COLUMNS, else 80.
func OutputWidth(f *os.File) int {
	if term.IsTerminal(f.Fd()) {
		if w, _, err := term.GetSize(f.Fd()); err == nil && w > 0 {
			return w
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	return 80
}
