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
	fmt.Fprintf(w, "%s  %s  %s  (%d instances, %v)\n", status, name, r.File, r.Instances, r.Elapsed.Round(1e6))
	for _, c := range r.Checks {
		mark := "  ok  "
		if !c.OK {
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
