package library

import (
	"fmt"
	"slices"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"

	"resyn/storage"
)

// Diff describes what changed from revision a to revision b: a line per
// changed field (status, tags, notes), then a unified diff of the sources
// ("" when the source did not change).
func Diff(a, b storage.Env) string {
	var sb strings.Builder
	if a.Status != b.Status {
		fmt.Fprintf(&sb, "status: %s → %s\n", a.Status, b.Status)
	}
	if !slices.Equal(a.Tags, b.Tags) {
		fmt.Fprintf(&sb, "tags: [%s] → [%s]\n", strings.Join(a.Tags, ", "), strings.Join(b.Tags, ", "))
	}
	for _, n := range b.Notes[min(len(a.Notes), len(b.Notes)):] {
		fmt.Fprintf(&sb, "note: %s\n", n.Text)
	}
	if a.Source != b.Source {
		la := fmt.Sprintf("%s@%d", a.Name, a.Revision)
		lb := fmt.Sprintf("%s@%d", b.Name, b.Revision)
		sb.WriteString(udiff.Unified(la, lb, a.Source, b.Source))
	}
	return sb.String()
}
