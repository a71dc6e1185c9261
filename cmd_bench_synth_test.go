package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"resyn/core/synth/synthload"
)

// The load test as a user runs it, small: resyn synth against the
// simulated server (slow, rate-limiting, hanging, cutting replies off),
// killed with SIGKILL mid-run and resumed: nothing finished is redone or
// recorded twice, every candidate reaches a verdict, and the report adds
// up. The long suite runs it with 150 candidates.
func TestBenchSynthKillAndResume(t *testing.T) {
	n, kill, conc := "24", "8", "4"
	if os.Getenv("RESYN_LONG") != "" {
		n, kill, conc = "150", "60", "16"
	}
	db := filepath.Join(t.TempDir(), "load.db")
	out, errOut, code := runResyn(t, "", "bench", "synth", "--candidates", n, "--concurrency", conc, "--latency-scale", "0.005",
		"--kill-after", kill, "--corpus", "tuning", "--workers", "2", "--store", db, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var rep synthload.BenchReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	k := rep.Kill
	if k == nil || k.FinishedBefore < 8 || k.Redone != 0 || k.DoubleVerdicts != 0 || k.IdeationRedone != 0 {
		t.Fatalf("kill check %+v\n%s", k, errOut)
	}
	// Every call resyn counts (answered, or failed after all its retries)
	// reached the server at least once: requests ≥ calls. (Answered
	// requests ≥ calls held only while no call failed for good; with the
	// server's faults one sometimes does, and the check failed on a sound
	// run.)
	y := rep.Yield
	finished := 0
	for _, c := range y.Outcomes {
		finished += c
	}
	if y.Kept != rep.Candidates || finished != y.Kept || y.Stored == 0 || y.Stored > y.Valid || y.Valid > y.Implemented ||
		y.Proposed < y.Kept+y.Dropped || rep.Calls < y.Implemented || rep.Server.Requests < rep.Calls || len(rep.Executions) != 2 {
		t.Errorf("report does not add up: %+v", rep)
	}
	if rep.Server.RateLimited == 0 || rep.StoreBytes == 0 || rep.Ideal <= 0 || rep.CallsPerAdmitted <= 1 {
		t.Errorf("report %+v", rep)
	}
}
