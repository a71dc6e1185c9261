package synth

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

func openStore(t *testing.T) *storage.DB {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), "resyn.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// events collects a run's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) verdicts() map[string]VerdictEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]VerdictEvent{}
	for _, ev := range e.all {
		if v, ok := ev.(VerdictEvent); ok {
			out[v.Name] = v
		}
	}
	return out
}

// checkScriptedOutcomes asserts that every scripted candidate ended as it
// should, in the events and in the store.
func checkScriptedOutcomes(t *testing.T, db *storage.DB, runID uint64, vs map[string]VerdictEvent) {
	t.Helper()
	if len(vs) != len(scriptOutcomes) {
		var names []string
		for n := range vs {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("%d verdicts (%v), want %d", len(vs), names, len(scriptOutcomes))
	}
	for name, want := range scriptOutcomes {
		v, ok := vs[name]
		if !ok {
			t.Errorf("%s: no verdict", name)
			continue
		}
		if v.Outcome != want.outcome || v.Repairs != want.repairs {
			t.Errorf("%s: %s after %d repairs (%s), want %s after %d; validation log:\n%s", name, v.Outcome, v.Repairs, v.Reason, want.outcome, want.repairs, validationLog(db, runID, name))
		}
	}
	if d := vs["vertex_paint"]; d.DuplicateOf != "graph_coloring" {
		t.Errorf("vertex_paint duplicates %q", d.DuplicateOf)
	}
	// The store: candidates with provenance, one verdict per candidate in the log.
	err := db.View(func(tx *storage.Tx) error {
		envs, err := storage.ListEnvs(tx)
		if err != nil {
			return err
		}
		stored := map[string]storage.Env{}
		for _, e := range envs {
			stored[e.Name] = e
		}
		for name, want := range scriptOutcomes {
			e, ok := stored[name]
			if ok != (want.outcome == OutcomeCandidate) {
				t.Errorf("%s stored = %v, outcome %s", name, ok, want.outcome)
				continue
			}
			if !ok {
				continue
			}
			var prov Provenance
			if err := json.Unmarshal(e.Provenance, &prov); err != nil {
				t.Errorf("%s provenance: %v", name, err)
			}
			if e.Status != storage.StatusCandidate || e.Origin.Kind != storage.OriginSynthesis || e.Origin.SynthRun != runID ||
				len(e.Report) == 0 || len(prov.Exchanges) != 1+want.repairs || len(prov.Reports) != 1+want.repairs ||
				prov.Usage.Total() == 0 || prov.Exchanges[0].System == "" || prov.Exchanges[0].Reply == "" {
				t.Errorf("%s stored as %+v with provenance %d exchanges, %d reports, usage %+v", name, e.Origin, len(prov.Exchanges), len(prov.Reports), prov.Usage)
			}
		}
		log, err := storage.ListSynthLog(tx, runID, 0)
		if err != nil {
			return err
		}
		n := map[string]int{}
		for _, e := range log {
			if e.Stage == StageVerdict {
				n[e.Candidate]++
			}
		}
		for name := range scriptOutcomes {
			if n[name] != 1 {
				t.Errorf("%s has %d verdicts in the log", name, n[name])
			}
		}
		run, err := storage.GetSynthRun(tx, runID)
		if err != nil {
			return err
		}
		if run.Status != storage.RunDone || run.Usage.Requests == 0 || run.Usage.InputTokens == 0 {
			t.Errorf("run record %+v", run)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestScriptedRun(t *testing.T) {
	db := openStore(t)
	pl := &Pipeline{LLM: newScripted(), Pool: testPool(t), DB: db}
	var ev events
	cfg := scriptConfig()
	cfg.Stream = true
	sum, err := pl.Run(context.Background(), cfg, ev.add)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Ideas != 12 || sum.Dropped != 3 || sum.Finished != 12 || sum.Stored != 7 || sum.Valid != 8 ||
		sum.Implemented != 9 || sum.Outcomes[OutcomeInvalid] != 1 || sum.Usage.Total() == 0 {
		t.Errorf("summary %+v", sum)
	}
	if got := sum.ValidAfter; len(got) != 3 || got[0] != 4 || got[1] != 3 || got[2] != 1 {
		t.Errorf("valid after k repairs: %v", got)
	}
	// The event stream: starts, ends, and has the per-stage events.
	first, last := ev.all[0], ev.all[len(ev.all)-1]
	if _, ok := first.(RunStartedEvent); !ok {
		t.Errorf("first event %T", first)
	}
	if f, ok := last.(RunFinishedEvent); !ok || f.Err != nil || f.Summary.Finished != 12 {
		t.Errorf("last event %#v", last)
	}
	// Bounded parallelism: never more candidates between start and verdict
	// than cfg.Parallel.
	inFlight, most := 0, 0
	for _, e := range ev.all {
		switch e.(type) {
		case CandidateStartedEvent:
			inFlight++
			most = max(most, inFlight)
		case VerdictEvent:
			inFlight--
		}
	}
	if most > cfg.Parallel || most < 2 {
		t.Errorf("%d candidates in flight at once, parallel %d", most, cfg.Parallel)
	}
	kinds := map[string]int{}
	for _, e := range ev.all {
		kinds[strings.TrimPrefix(strings.TrimPrefix(typeName(e), "synth."), "*")]++
	}
	for _, k := range []string{"IdeasReadyEvent", "CandidateStartedEvent", "CodeWrittenEvent", "ValidatedEvent", "RepairStartedEvent", "VerdictEvent", "TotalsEvent", "StreamDeltaEvent"} {
		if kinds[k] == 0 {
			t.Errorf("no %s event (%v)", k, kinds)
		}
	}
	if kinds["RepairStartedEvent"] != 7 || kinds["CandidateStartedEvent"] != 12 {
		t.Errorf("event counts %v", kinds)
	}
	checkScriptedOutcomes(t, db, first.(RunStartedEvent).RunID, ev.verdicts())

	// A second run knows the first one's candidates: ideas that repeat
	// them are dropped, and the rest store nothing new.
	pl2 := &Pipeline{LLM: newScripted(), Pool: testPool(t), DB: db}
	sum, err = pl2.Run(context.Background(), scriptConfig(), nil)
	if err != nil || sum.Ideas != 5 || sum.Dropped != 10 || sum.Stored != 0 || sum.Finished != 5 || sum.Outcomes[OutcomeDuplicate] != 1 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
}

func typeName(e Event) string {
	b, _ := json.Marshal(e) // keep fmt out of the hot path of the test: type via %T
	_ = b
	return strings.TrimPrefix(fmtType(e), "synth.")
}

func TestResumeAfterCancel(t *testing.T) {
	db := openStore(t)
	model := newScripted()
	pl := &Pipeline{LLM: model, Pool: testPool(t), DB: db}
	ctx, cancel := context.WithCancel(context.Background())
	var ev events
	var once sync.Once
	cfg := scriptConfig()
	cfg.Parallel = 2
	var runID uint64
	_, err := pl.Run(ctx, cfg, func(e Event) {
		ev.add(e)
		if s, ok := e.(RunStartedEvent); ok {
			runID = s.RunID
		}
		if v, ok := e.(VerdictEvent); ok && v.Outcome != OutcomeError {
			// Cancel once four candidates are done: the ones in flight stop mid-way.
			if len(ev.verdicts()) >= 4 {
				once.Do(cancel)
			}
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run: %v", err)
	}
	before := ev.verdicts()
	if len(before) < 4 || len(before) >= 12 {
		t.Fatalf("%d verdicts before the resume", len(before))
	}
	var status storage.RunStatus
	db.View(func(tx *storage.Tx) error {
		r, _ := storage.GetSynthRun(tx, runID)
		status = r.Status
		return nil
	})
	if status != storage.RunCancelled {
		t.Fatalf("run status %q after cancel", status)
	}
	callsBefore := map[string]int{}
	model.mu.Lock()
	for k, v := range model.calls {
		callsBefore[k] = v
	}
	model.mu.Unlock()

	var ev2 events
	sum, err := pl.Resume(context.Background(), runID, ev2.add)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Finished != 12 {
		t.Fatalf("after resume %d finished", sum.Finished)
	}
	after := ev2.verdicts()
	for name := range before {
		if _, again := after[name]; again {
			t.Errorf("%s was redone", name)
		}
		if n := model.calls[StageImplement+"/"+name]; n != callsBefore[StageImplement+"/"+name] {
			t.Errorf("%s implemented again", name)
		}
	}
	if model.calls[StageIdeate+"/"+DefaultCategories[0]] != 1 {
		t.Errorf("ideation redone: %v", model.calls)
	}
	all := map[string]VerdictEvent{}
	for k, v := range before {
		all[k] = v
	}
	for k, v := range after {
		all[k] = v
	}
	checkScriptedOutcomes(t, db, runID, all)
	if _, err := pl.Resume(context.Background(), runID, nil); !errors.Is(err, ErrRunFinished) {
		t.Errorf("resuming a finished run: %v", err)
	}
	if _, err := pl.Resume(context.Background(), 999, nil); !errors.Is(err, ErrRunNotFound) {
		t.Errorf("resuming no run: %v", err)
	}
}

func TestStartDeliversEventsOnAChannel(t *testing.T) {
	db := openStore(t)
	model := newScripted()
	model.replies = map[string][]string{}
	for name := range scriptReplies() {
		model.replies[name] = []string{""} // every candidate: empty reply
	}
	pl := &Pipeline{LLM: model, Pool: testPool(t), DB: db}
	n := 0
	var last Event
	for e := range pl.Start(context.Background(), Config{N: 3, IdeasPerCall: 5}) {
		n++
		last = e
	}
	f, ok := last.(RunFinishedEvent)
	if !ok || f.Err != nil || f.Summary.Outcomes[OutcomeEmpty] != 3 {
		t.Fatalf("last of %d events: %#v", n, last)
	}
}

func TestLLMErrorIsRetriedOnResume(t *testing.T) {
	db := openStore(t)
	r, err := llm.ParseReplay(strings.NewReader(`{"tag":"ideate","reply":"[{\"name\":\"gcd_pairs\",\"description\":\"For several pairs of integers, give their greatest common divisor.\"}]"}
{"tag":"implement","subject":"gcd_pairs","error":"server"}`))
	if err != nil {
		t.Fatal(err)
	}
	pl := &Pipeline{LLM: r, Pool: testPool(t), DB: db}
	sum, err := pl.Run(context.Background(), Config{N: 1}, nil)
	if err != nil || sum.Outcomes[OutcomeError] != 1 || sum.Finished != 0 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	var run storage.SynthRun
	db.View(func(tx *storage.Tx) error {
		runs, _ := storage.ListSynthRuns(tx)
		run = runs[0]
		return nil
	})
	if run.Status != storage.RunIncomplete {
		t.Fatalf("status %q", run.Status)
	}
	r2, _ := llm.ParseReplay(strings.NewReader("{\"tag\":\"implement\",\"subject\":\"gcd_pairs\",\"reply\":" + jsonString(fenced(gcdPairs)) + "}"))
	pl.LLM = r2
	sum, err = pl.Resume(context.Background(), run.ID, nil)
	if err != nil || sum.Stored != 1 || sum.Finished != 1 {
		t.Fatalf("after resume: %+v, %v", sum, err)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestRunWithSolver: calibration inside a run — a solver that never gets
// an answer right flags the candidate solved_nowhere, which is stored with
// it (calibration record and a note) and counted as flagged.
func TestRunWithSolver(t *testing.T) {
	db := openStore(t)
	writer, err := llm.ParseReplay(strings.NewReader(`{"tag":"ideate","reply":"[{\"name\":\"gcd_pairs\",\"description\":\"For several pairs of integers, give their greatest common divisor.\"}]"}
{"tag":"implement","subject":"gcd_pairs","reply":` + jsonString(fenced(gcdPairs)) + `}`))
	if err != nil {
		t.Fatal(err)
	}
	solver, _ := llm.ParseReplay(strings.NewReader(`{"tag":"calibrate","reply":"<answer>-1</answer>","usage":{"prompt_tokens":20,"completion_tokens":3},"repeat":true}`))
	pl := &Pipeline{LLM: writer, Solver: solver, Pool: testPool(t), DB: db}
	var ev events
	sum, err := pl.Run(context.Background(), Config{N: 1, Validate: validateOpts(), Calibrate: CalibrateOptions{Samples: 2}}, ev.add)
	if err != nil || sum.Stored != 1 || sum.Flagged != 1 || sum.Usage.PromptTokens < 6*20 {
		t.Fatalf("summary %+v, %v", sum, err)
	}
	var cal *CalibratedEvent
	for _, e := range ev.all {
		if c, ok := e.(CalibratedEvent); ok {
			cal = &c
		}
	}
	if cal == nil || len(cal.Calibration.Levels) != 3 || cal.Calibration.Levels[0].N != 2 || strings.Join(cal.Calibration.Flags, ",") != FlagSolvedNowhere {
		t.Fatalf("calibrated event %+v", cal)
	}
	db.View(func(tx *storage.Tx) error {
		e, err := storage.GetEnv(tx, "gcd_pairs")
		if err != nil || len(e.Calibration) == 0 || len(e.Notes) != 1 || !strings.Contains(e.Notes[0].Text, FlagSolvedNowhere) {
			t.Errorf("stored %+v, %v", e, err)
		}
		return nil
	})
}

// validationLog is what a candidate's validations said, for failure messages.
func validationLog(db *storage.DB, runID uint64, name string) string {
	var b strings.Builder
	db.View(func(tx *storage.Tx) error {
		log, _ := storage.ListSynthLog(tx, runID, 0)
		for _, e := range log {
			if e.Candidate == name && e.Stage == StageValidate {
				b.WriteString("  " + e.Message + "\n")
				var rep validate.Report
				if json.Unmarshal(e.Detail, &rep) == nil {
					for _, c := range rep.Failed() {
						b.WriteString("    " + c.Name + ": " + c.Detail + " " + strings.Join(c.Failures, " | ") + "\n")
					}
				}
			}
		}
		return nil
	})
	return b.String()
}
