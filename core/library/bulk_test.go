package library

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"resyn/storage"
)

func TestBulkAndRevert(t *testing.T) {
	l, p := setup(t)
	if _, _, err := l.Add(context.Background(), p, "parity.star", []byte(parity), fast); err != nil {
		t.Fatal(err)
	}
	// A stored candidate and a built-in that has no record yet.
	names := []string{"parity", "graph_coloring"}
	ch, err := l.SetStatusAll(names, storage.StatusRejected)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || !ch[0].Changed || !ch[1].Changed || ch[0].Before != 1 || ch[1].Before != 0 {
		t.Fatalf("changes %+v", ch)
	}
	for _, c := range ch {
		if c.Entry.Status != storage.StatusRejected || !c.Entry.Stored {
			t.Errorf("%s after a bulk reject: %+v", c.Entry.Name, c.Entry)
		}
	}
	// Rejecting again changes nothing and says so.
	again, err := l.SetStatusAll(names, storage.StatusRejected)
	if err != nil || again[0].Changed || again[1].Changed || again[0].Entry.Revision != 2 {
		t.Fatalf("a no-op bulk reject: %+v %v", again, err)
	}
	// An unknown name stores nothing at all.
	if _, err := l.SetStatusAll([]string{"parity", "no_such_env"}, storage.StatusAccepted); !errors.Is(err, ErrUnknown) {
		t.Fatalf("bulk with an unknown name: %v", err)
	}
	if e, _ := l.Get("parity"); e.Status != storage.StatusRejected || e.Revision != 2 {
		t.Fatalf("a failed bulk action changed parity: %+v", e)
	}
	if _, err := l.TagAll(names, []string{"Bad"}, nil); !errors.Is(err, ErrBadTag) {
		t.Errorf("bad tag: %v", err)
	}
	tagged, err := l.TagAll(names, []string{"reviewed"}, nil)
	if err != nil || !slices.Contains(tagged[1].Entry.Tags, "reviewed") {
		t.Fatalf("bulk tag: %+v %v", tagged, err)
	}

	// Undo the tag, then the reject: back to a candidate with its tags, and
	// the built-in back to as it ships. The history only grows.
	var undoTag []RevertItem
	for _, c := range tagged {
		undoTag = append(undoTag, RevertItem{Name: c.Entry.Name, To: c.Before, Expect: c.Entry.Revision})
	}
	if _, err := l.Revert(undoTag); err != nil {
		t.Fatal(err)
	}
	var undoReject []RevertItem
	for _, c := range ch {
		cur, _ := l.Get(c.Entry.Name)
		undoReject = append(undoReject, RevertItem{Name: c.Entry.Name, To: c.Before, Expect: cur.Revision})
	}
	back, err := l.Revert(undoReject)
	if err != nil {
		t.Fatal(err)
	}
	if e := back[0].Entry; e.Status != storage.StatusCandidate || strings.Join(e.Tags, ",") != "arithmetic,parity" || e.Revision != 5 {
		t.Errorf("parity after undo: status %s tags %v revision %d", e.Status, e.Tags, e.Revision)
	}
	if e := back[1].Entry; e.Status != storage.StatusAccepted || slices.Contains(e.Tags, "reviewed") || e.Validation != "pass" {
		t.Errorf("graph_coloring after undo: %+v", e)
	}
	h, _ := l.History("parity")
	if got := h[len(h)-1].Change; got != "undo: back to revision 1" {
		t.Errorf("the undo's revision says %q", got)
	}

	// A revert whose environment changed since is refused for it alone.
	if _, err := l.SetStatus("parity", storage.StatusAccepted, ""); err != nil {
		t.Fatal(err)
	}
	cur, _ := l.Get("graph_coloring")
	out, err := l.Revert([]RevertItem{{Name: "parity", To: 1, Expect: 5}, {Name: "graph_coloring", To: 1, Expect: cur.Revision}})
	if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), "parity is at revision 6, not 5") {
		t.Fatalf("revert over a newer change: %v", err)
	}
	if len(out) != 1 || out[0].Entry.Name != "graph_coloring" || out[0].Entry.Status != storage.StatusRejected {
		t.Errorf("the other revert did not happen: %+v", out)
	}
	if e, _ := l.Get("parity"); e.Status != storage.StatusAccepted {
		t.Errorf("parity was reverted over a newer change: %s", e.Status)
	}
}
