package library

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"resyn/storage"
)

// TestPick: --all takes the usable entries, names take any status in the
// order given, anyStored everything but the rejected, and neither is an
// error that says how to choose.
func TestPick(t *testing.T) {
	entries := []Entry{
		{Name: "a", Builtin: true, Status: storage.StatusAccepted, Validation: "pass"},
		{Name: "b", Stored: true, Status: storage.StatusRejected, Validation: "pass"},
		{Name: "c", Stored: true, Status: storage.StatusCandidate, Validation: "pass"},
		{Name: "e", Stored: true, Status: storage.StatusAccepted, Validation: "fail"},
	}
	cases := []struct {
		names          string
		all, anyStored bool
		want, err      string
	}{
		{all: true, want: "a"},
		{names: "b, c", want: "b,c"},
		{names: "b", all: false, anyStored: true, want: "b"},
		{anyStored: true, want: "a,c,e"},
		{names: "a,zz", err: `unknown environment "zz" (see ` + "`resyn envs list`)"},
		{err: "name environments with --env A,B or use --all"},
	}
	for _, c := range cases {
		got, err := Pick(entries, c.names, c.all, c.anyStored)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("Pick(%q, %v, %v): error %v, want %q", c.names, c.all, c.anyStored, err, c.err)
			}
			continue
		}
		var names []string
		for _, e := range got {
			names = append(names, e.Name)
		}
		if err != nil || strings.Join(names, ",") != c.want {
			t.Errorf("Pick(%q, %v, %v) = %v, %v; want %s", c.names, c.all, c.anyStored, names, err, c.want)
		}
	}
}

// TestFilterAndTable: the status and tag filters, an unknown status
// refused by name, an empty result that is [] and not null, and the table
// with "-" for a never validated entry.
func TestFilterAndTable(t *testing.T) {
	entries := []Entry{
		{Name: "maze", Status: storage.StatusAccepted, Validation: "pass", Tags: []string{"search", "grid"}, MinDifficulty: 1, MaxDifficulty: 10, Origin: storage.Origin{Kind: "builtin"}},
		{Name: "mine", Status: storage.StatusCandidate, Tags: []string{"logic"}, MinDifficulty: 2, MaxDifficulty: 5, Origin: storage.Origin{Kind: "file"}},
	}
	got, err := Filter(entries, "candidate", "")
	if err != nil || len(got) != 1 || got[0].Name != "mine" {
		t.Fatalf("Filter candidate = %v, %v", got, err)
	}
	if got, _ := Filter(entries, "", "grid"); len(got) != 1 || got[0].Name != "maze" {
		t.Errorf("Filter tag grid = %v", got)
	}
	if got, _ := Filter(entries, "rejected", ""); got == nil || len(got) != 0 {
		t.Errorf("Filter rejected = %#v, want an empty, non-nil list", got)
	}
	if _, err := Filter(entries, "acepted", ""); err == nil || !strings.Contains(err.Error(), `--status "acepted": want candidate, accepted or rejected`) {
		t.Errorf("Filter of a misspelt status: %v", err)
	}
	var b strings.Builder
	if err := WriteTable(&b, entries, 80); err != nil {
		t.Fatal(err)
	}
	want := []string{"NAME", "maze  accepted   pass   1-10  builtin  search,grid", "mine  candidate  -      2-5   file     logic"}
	for _, w := range want {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
}

// TestRevisionsDiffSourceEdit: history as a table with each revision's
// diff, DiffRevision of the latest and of a named revision (and refusals of
// a bad one), Source of a past revision, and an edit through an editor
// command stored as the next revision.
func TestRevisionsDiffSourceEdit(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	if _, _, err := l.Add(ctx, p, "parity.star", []byte(parity), fast); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Tag("parity", []string{"easy"}, nil); err != nil {
		t.Fatal(err)
	}
	h, err := l.History("parity")
	if err != nil || len(h) != 2 {
		t.Fatalf("history %v, %v", h, err)
	}
	var b strings.Builder
	if err := WriteHistory(&b, h, 100, true); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "── revision 1 → 2: tagged easy ──\ntags: [arithmetic, parity] → [arithmetic, parity, easy]\n") {
		t.Errorf("history with diffs:\n%s", b.String())
	}
	d, err := l.DiffRevision("parity", "")
	if err != nil || d != Diff(h[0], h[1]) {
		t.Errorf("DiffRevision latest = %q, %v", d, err)
	}
	if d, err := l.DiffRevision("parity", "1"); err != nil || !strings.Contains(d, "+def verify(state, answer):") {
		t.Errorf("DiffRevision 1 (against nothing) = %q, %v", d, err)
	}
	for rev, want := range map[string]string{"x": `revision "x": not a number`, "9": "parity has no revision 9"} {
		if _, err := l.DiffRevision("parity", rev); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DiffRevision %s: %v, want %q", rev, err, want)
		}
	}
	if src, err := l.Source("parity", 1); err != nil || src != parity {
		t.Errorf("Source 1 = %q, %v", src, err)
	}
	if _, err := l.Source("parity", 7); err == nil || !strings.Contains(err.Error(), "parity has no revision 7") {
		t.Errorf("Source 7: %v", err)
	}
	var log strings.Builder
	ed := Editor{Command: `sed -i 's/Say whether/Tell whether/'`, Stdout: &log, Stderr: &log}
	if err := l.EditSource(ctx, "parity", ed, fast); err != nil {
		t.Fatalf("edit: %v\n%s", err, log.String())
	}
	if src, _ := l.Source("parity", 0); !strings.Contains(src, "Tell whether") || !strings.Contains(log.String(), "parity: revision 3 stored") {
		t.Errorf("after the edit: %q\n%s", src, log.String())
	}
	log.Reset()
	if err := l.EditSource(ctx, "parity", Editor{Command: "true", Stdout: &log, Stderr: &log}, fast); err != nil || log.String() != "no change\n" {
		t.Errorf("an editor that changes nothing: %v, %q", err, log.String())
	}
}

// TestEditKeepsARefusedEdit: an edit that fails validation is not stored,
// and the file with what was typed is still there, named in the error.
func TestEditKeepsARefusedEdit(t *testing.T) {
	l, p := setup(t)
	if _, _, err := l.Add(context.Background(), p, "parity.star", []byte(parity), fast); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	ed := Editor{Command: `sed -i 's/return 1.0 if .*/return 1.0/'`, Stdout: &log, Stderr: &log}
	err := l.EditSource(context.Background(), "parity", ed, fast)
	if err == nil || !strings.Contains(err.Error(), "your edit is kept at ") {
		t.Fatalf("a failing edit: %v", err)
	}
	path := strings.TrimSuffix(err.Error()[strings.LastIndex(err.Error(), "kept at ")+len("kept at "):], ")")
	src, rerr := os.ReadFile(path)
	if rerr != nil || !strings.Contains(string(src), "    return 1.0\n") {
		t.Errorf("the kept file %s: %v\n%s", path, rerr, src)
	}
	os.RemoveAll(filepath.Dir(path))
	if h, _ := l.History("parity"); len(h) != 1 {
		t.Errorf("%d revisions after a refused edit, want 1", len(h))
	}
}

// TestAddFiles: a valid file is stored, an invalid one counted as failed
// with its report; a missing file stops the run.
func TestAddFiles(t *testing.T) {
	l, _ := setup(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "parity.star"), filepath.Join(dir, "accepting.star")
	os.WriteFile(good, []byte(parity), 0o644)
	os.WriteFile(bad, []byte(accepting), 0o644)
	var log strings.Builder
	reps, failed, err := l.AddFiles(context.Background(), []string{good, bad}, fast, &log, false)
	if err != nil || failed != 1 || len(reps) != 2 || !reps[0].OK || reps[1].OK {
		t.Fatalf("AddFiles: %d reports, %d failed, %v", len(reps), failed, err)
	}
	if !strings.Contains(log.String(), "stored parity as a candidate (revision 1); `resyn envs accept parity` puts it in use") {
		t.Errorf("log:\n%s", log.String())
	}
	if _, _, err := l.AddFiles(context.Background(), []string{filepath.Join(dir, "none.star")}, fast, &log, false); err == nil {
		t.Error("a missing file: no error")
	}
}
