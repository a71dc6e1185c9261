package tui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"resyn/storage"
	"resyn/tui/internal/fixture"
)

// TestTmuxDailyUse drives the real binary in tmux through the journeys of
// issue 19: a search over descriptions whose box keeps the focus, keys
// that arrive in one write, sorting by a key and by a click, a click and
// the wheel in the list, marks with a question before the bulk action and
// its undo, a tag box that keeps the focus, an answer scored on enter with
// the keys after it kept as text, a copy over OSC 52 (tmux keeps it as a
// buffer), and the curves — smoothed, one environment in front, one chart
// per environment, two runs compared, a click on a curve's tab, a run
// started from the new-run form, stopped, resumed and stopped again. It opens
// with `resyn --theme light` (the root command takes the workbench's
// flags). Long suite.
func TestTmuxDailyUse(t *testing.T) {
	bin := buildResyn(t)
	db, path := fixture.Store(t)
	loadRuns(t, db, true)
	db.Close() // the binary takes the store's lock

	s := newTmux(t, "daily", 100, 30, fmt.Sprintf("env -u NO_COLOR %s --theme light --db %s", bin, path))
	s.run("set-option", "-s", "set-clipboard", "on")
	s.waitFor("1 Library", "graph_coloring", "adder")

	// A search over the description; enter keeps the box, so s is text.
	s.keys("/")
	s.waitFor("search: ")
	s.text("even number")
	s.waitFor("1 of ", "›  parity_bits")
	s.keys("Enter")
	s.text("s")
	s.waitFor("search: even numbers", "0 of ")
	s.keys("BSpace")
	s.waitFor("1 of ")
	s.keys("Escape") // leaves the box, the search stays
	s.waitFor("search: even number ")
	s.keys("Escape") // clears it
	s.waitFor("search: –")

	// Keys in one write are each a key.
	s.keys("g")
	s.waitFor("›  adder")
	s.burst("jjj")
	s.waitFor("›  boolean_circuit")

	// Sorting, a click on a header, a click on a row, the wheel.
	s.keys("o")
	s.waitFor("STATUS▲")
	x, y := s.find("NAME")
	s.click(x, y)
	s.waitFor("NAME▲")
	x, y = s.find(" old_maze ")
	s.click(x+2, y)
	s.waitFor("›  old_maze")
	s.wheelDown(x+2, y)
	s.waitFor("›  parity_bits")

	// Marks, the question before a bulk reject, and u.
	s.keys("s")
	s.waitFor("status: candidate")
	s.keys("*")
	s.waitFor("● 2 marked")
	s.keys("x")
	s.waitFor("Reject 2 marked environment(s)? y/n")
	s.keys("y")
	s.waitFor("rejected 2 environment(s)")
	s.keys("u")
	s.waitFor("undone: rejected 2 environments")
	s.keys("Escape")
	s.waitFor("2 mark(s) cleared")
	s.keys("Escape")
	s.waitFor("status: all")

	// A tag box keeps the focus after enter: x is text, not "reject".
	s.keys("g")
	s.waitFor("›  adder")
	s.keys("+")
	s.text("reviewed")
	s.keys("Enter")
	s.waitFor("adder: tagged reviewed")
	s.text("x")
	s.waitFor("add tag (adder): x")
	s.keys("Escape")
	s.keys("u")
	s.waitFor("undone: tagged reviewed adder")

	// The answer box: enter scores and stays; "1 x" in one write is text.
	s.keys("Enter")
	screen := s.waitFor("PROMPT", "REFERENCE ANSWER", "verify → 1")
	answer := lineAfter(screen, "REFERENCE ANSWER")
	s.keys("i")
	s.text(answer)
	s.keys("Enter")
	s.waitFor("✓ score 1  ok")
	s.burst("1 x")
	s.waitFor("answer › "+answer+"1 x", "✗ score 0", "adder  seed 0")
	s.keys("Escape")

	// y p copies the prompt with OSC 52; tmux (set-clipboard on) keeps it.
	s.keys("y")
	s.waitFor("copy: p prompt")
	s.keys("p")
	s.waitFor("copied the prompt")
	if buf := s.run("show-buffer"); !strings.Contains(buf, "Put the sum in <answer></answer>.") {
		t.Errorf("tmux's buffer after y p is %q, want the prompt", buf)
	}

	// The curves.
	s.keys("4")
	s.waitFor("[reward]", "run 2 baseline")
	s.keys("s")
	s.waitFor("smoothed (EMA 0.6")
	s.keys("e")
	s.waitFor("focus boolean_circuit")
	s.keys("v")
	s.waitFor("one chart per environment", "━━ knights_and_knaves")
	s.keys("c")
	s.waitFor("run 2 pinned")
	s.keys("[")
	s.waitFor("against run 2", "── run 2 reward")
	s.keys("Right")
	s.waitFor("[pass_rate]")
	x, y = s.find(" loss ")
	s.click(x+1, y)
	s.waitFor("[loss]")

	// A run from the form: the tiny-cpu preset on its three (built-in,
	// accepted) environments, two steps; x stops it during the warm start,
	// after a checkpoint.
	s.keys("t")
	s.waitFor("New training run", "ENVIRONMENTS  3 of", "[x] boolean_circuit", "[ ] adder")
	s.keys("Tab")
	s.text("2")
	s.waitFor("steps   2")
	s.keys("Enter")
	s.waitWithin(2*time.Minute, "run 3 tiny-cpu", "● running")
	s.keys("x")
	s.waitWithin(5*time.Minute, "stopped", "R resumes")
	// R resumes it from its checkpoint; x stops it again.
	s.keys("R")
	s.waitWithin(2*time.Minute, "run 3 tiny-cpu", "● running")
	s.keys("x")
	s.waitWithin(5*time.Minute, "stopped", "R resumes")

	s.keys("q")
	s.waitFor("resyn exited with 0")

	lib := storedLibrary(t, path)
	for _, name := range []string{"adder", "parity_bits"} {
		e, err := lib.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		if e.Status != storage.StatusCandidate || slices.Contains(e.Tags, "reviewed") {
			t.Errorf("%s after the undos: %s, tags %v; want a candidate without the tag", name, e.Status, e.Tags)
		}
	}
	var run storage.TrainRun
	var cks []storage.Checkpoint
	_ = lib.DB().View(func(tx *storage.Tx) error {
		run, _ = storage.GetTrainRun(tx, 3)
		cks, _ = storage.ListCheckpoints(tx, 3)
		return nil
	})
	if run.Status != "stopped" || len(cks) == 0 {
		t.Errorf("run 3 started from the form: %s with %d checkpoints; want stopped, with its checkpoint", run.Status, len(cks))
	}
	h, _ := lib.History("adder")
	var changes []string
	for _, r := range h {
		changes = append(changes, r.Change)
	}
	if got := strings.Join(changes, " | "); !strings.Contains(got, "rejected | undo: back to revision 1 | tagged reviewed | undo: back to revision 3") {
		t.Errorf("adder's history: %s", got)
	}
}
