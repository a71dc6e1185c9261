package dataset

import (
	"fmt"
	"io"
	"time"
)

// ProgressLine shows a long job's Progress (count, rate, time left) on one
// line of a terminal's stderr, rewritten in place at most five times a
// second; other messages (Printf) go on lines of their own above it.
type ProgressLine struct {
	W       io.Writer
	Verb    string           // "generated", "scored", …
	Now     func() time.Time // time.Now when nil; tests set a clock
	open    bool
	width   int
	shown   time.Time
	pending *Progress // the latest, when it was not shown
}

func (p *ProgressLine) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Show shows pr, or keeps it for later when the line was rewritten less
// than 200 ms ago.
func (p *ProgressLine) Show(pr Progress) {
	if p.now().Sub(p.shown) < 200*time.Millisecond {
		p.pending = &pr
		return
	}
	p.pending, p.shown = nil, p.now()
	s := pr.Line(p.Verb)
	pad := max(0, p.width-len(s))
	p.width = len(s)
	fmt.Fprintf(p.W, "\r%s%*s", s, pad, "")
	p.open = true
}

// Printf prints a message on a line of its own.
func (p *ProgressLine) Printf(format string, args ...any) {
	if p.open {
		fmt.Fprintln(p.W)
		p.open = false
	}
	fmt.Fprintf(p.W, format, args...)
}

// End shows the last progress and closes the line with the time taken.
func (p *ProgressLine) End(d time.Duration) {
	if p.pending != nil {
		p.shown = time.Time{}
		p.Show(*p.pending)
	}
	if p.open {
		fmt.Fprintf(p.W, " in %v\n", d.Round(time.Millisecond))
		p.open = false
	}
}
