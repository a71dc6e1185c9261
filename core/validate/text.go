package validate

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints a report for people: one line per check, failures
// indented under it.
func WriteText(w io.Writer, r *Report) {
	status := "PASS"
	if !r.OK {
		status = "FAIL"
	}
	name := r.Env
	if name == "" {
		name = "(not loaded)"
	}
	fmt.Fprintf(w, "%s  %s  %s  (%d instances, %d steps, %v)\n", status, name, r.File, r.Instances, r.Work.Steps, r.Elapsed.Round(1e6))
	if r.Stopped != "" {
		fmt.Fprintf(w, "  stopped early: %s\n", r.Stopped)
	}
	for _, c := range r.Checks {
		mark := "  ok  "
		switch {
		case c.Skipped:
			mark = "  skip"
		case !c.OK:
			mark = "  FAIL"
		}
		line := ""
		if c.Line > 0 {
			line = fmt.Sprintf(" [line %d]", c.Line)
		}
		detail := ""
		if c.Detail != "" {
			detail = ": " + strings.ReplaceAll(c.Detail, "\n", "\n          ")
		}
		fmt.Fprintf(w, "%s %s%s%s\n", mark, c.Name, line, detail)
		for _, f := range c.Failures {
			fmt.Fprintf(w, "          - %s\n", strings.ReplaceAll(f, "\n", "\n            "))
		}
	}
}
