package library

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/textout"
	"resyn/storage"
)

// CheckStatusFilter refuses a --status filter that names no status ("" is
// any).
func CheckStatusFilter(status string) error {
	switch storage.Status(status) {
	case "", storage.StatusCandidate, storage.StatusAccepted, storage.StatusRejected:
		return nil
	}
	return fmt.Errorf("--status %q: want candidate, accepted or rejected", status)
}

// Filter keeps the entries with status (a storage.Status, "" for any) and
// tag ("" for any), in order; an unknown status is an error naming it
// (CheckStatusFilter). The result is never nil.
func Filter(entries []Entry, status, tag string) ([]Entry, error) {
	if err := CheckStatusFilter(status); err != nil {
		return nil, err
	}
	kept := []Entry{}
	for _, e := range entries {
		if (status == "" || string(e.Status) == status) && (tag == "" || slices.Contains(e.Tags, tag)) {
			kept = append(kept, e)
		}
	}
	return kept, nil
}

// Filtered is List kept to status and tag (Filter).
func (l *Library) Filtered(status, tag string) ([]Entry, error) {
	entries, err := l.List()
	if err != nil {
		return nil, err
	}
	return Filter(entries, status, tag)
}

// WriteTable prints entries as `resyn envs list` does, fitted to width
// with the tags wrapped.
func WriteTable(w io.Writer, entries []Entry, width int) error {
	t := textout.NewTable("NAME", "STATUS", "VALID", "DIFF", "ORIGIN", "TAGS").Wrapping(5)
	for _, e := range entries {
		valid := e.Validation
		if valid == "" {
			valid = "-"
		}
		t.Row(e.Name, string(e.Status), valid, fmt.Sprintf("%d-%d", e.MinDifficulty, e.MaxDifficulty), string(e.Origin.Kind), strings.Join(e.Tags, ","))
	}
	return t.Write(w, width)
}

// WriteHistory prints revisions (History's, oldest first) as a table fitted
// to width, times in the local zone; with diffs, what each revision changed
// after it (Diff).
func WriteHistory(w io.Writer, h []storage.Env, width int, diffs bool) error {
	t := textout.NewTable("REV", "TIME", "STATUS", "HASH", "CHANGE").Wrapping(4).RightAligned(0)
	for _, r := range h {
		when := "-"
		if !r.Time.IsZero() {
			when = r.Time.Local().Format("2006-01-02 15:04:05")
		}
		t.Row(fmt.Sprint(r.Revision), when, string(r.Status), env.SourceHash([]byte(r.Source)), r.Change)
	}
	if err := t.Write(w, width); err != nil || !diffs {
		return err
	}
	for i := 1; i < len(h); i++ {
		if _, err := fmt.Fprintf(w, "\n── revision %d → %d: %s ──\n%s", h[i-1].Revision, h[i].Revision, h[i].Change, Diff(h[i-1], h[i])); err != nil {
			return err
		}
	}
	return nil
}

// DiffRevision is what revision rev (a number; "" for the latest) of name
// changed against the revision before it (Diff). A built-in's first stored
// revision is compared with the embedded source.
func (l *Library) DiffRevision(name, rev string) (string, error) {
	h, err := l.History(name)
	if err != nil {
		return "", err
	}
	i := len(h) - 1
	if rev != "" {
		n, err := strconv.ParseUint(rev, 10, 64)
		if err != nil {
			return "", fmt.Errorf("revision %q: not a number", rev)
		}
		if i = revisionIndex(h, n); i < 0 {
			return "", fmt.Errorf("%s has no revision %d (see `resyn envs history %s`)", name, n, name)
		}
	}
	prev := storage.Env{Name: name}
	if i > 0 {
		prev = h[i-1]
	} else if src, ok := envlib.Get(name); ok && h[i].Revision > 0 {
		prev = storage.Env{Name: name, Source: string(src.Code), Status: storage.StatusAccepted, Tags: h[i].Tags}
	}
	return Diff(prev, h[i]), nil
}

// revisionIndex is the index of revision rev in h, -1 when there is none.
func revisionIndex(h []storage.Env, rev uint64) int {
	i := -1
	for j, r := range h {
		if r.Revision == rev {
			i = j
		}
	}
	return i
}

// Source is the Starlark source of name's current revision (rev 0) or of
// revision rev.
func (l *Library) Source(name string, rev uint64) (string, error) {
	if rev == 0 {
		e, err := l.Get(name)
		return e.Source, err
	}
	h, err := l.History(name)
	if err != nil {
		return "", err
	}
	i := revisionIndex(h, rev)
	if i < 0 || h[i].Source == "" {
		return "", fmt.Errorf("%s has no revision %d (see `resyn envs history %s`)", name, rev, name)
	}
	return h[i].Source, nil
}
