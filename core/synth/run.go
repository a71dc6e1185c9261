package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// Run starts a new run with cfg and processes it to the end (or until ctx
// is cancelled). progress, which may be nil, gets every event, never
// concurrently; the last one is RunFinishedEvent. The returned error is the one
// RunFinishedEvent carries.
func (p *Pipeline) Run(ctx context.Context, cfg Config, progress func(Event)) (Summary, error) {
	if err := p.check(); err != nil {
		return Summary{}, err
	}
	if cfg.FromRun != 0 && len(cfg.Revisions) == 0 {
		revs, sigs, err := PlanRevisions(p.DB, cfg.FromRun, cfg.Signals)
		if err != nil {
			return Summary{}, fmt.Errorf("synth: reading training run %d: %w", cfg.FromRun, err)
		}
		if len(revs) == 0 {
			var why []string
			for _, s := range sigs {
				why = append(why, s.Env+": "+s.Reason)
			}
			return Summary{}, fmt.Errorf("%w: training run %d (%s)", ErrNoTrainingSignal, cfg.FromRun, strings.Join(why, "; "))
		}
		cfg.Revisions = revs
	}
	cfg = cfg.withDefaults()
	if cfg.Provider == "" {
		cfg.Provider = p.LLM.Name()
	}
	if p.Solver != nil && cfg.SolverModel == "" {
		cfg.SolverModel = p.Solver.Name()
	}
	if p.Judge != nil && cfg.JudgeModel == "" {
		cfg.JudgeModel = p.Judge.Name()
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return Summary{}, fmt.Errorf("synth: encoding the configuration: %w", err)
	}
	run := storage.SynthRun{Status: storage.RunRunning, Config: raw}
	var hold *storage.RunHold
	if err := p.DB.Update(func(tx *storage.Tx) error {
		if err := storage.CreateSynthRun(tx, &run); err != nil {
			return err
		}
		// Claimed in the same commit: no reader sees the run as
		// interrupted before it has started.
		var err error
		hold, err = tx.HoldRun(storage.RunSynth, run.ID)
		return err
	}); err != nil {
		return Summary{}, fmt.Errorf("synth: recording the run: %w", err)
	}
	defer hold.Release()
	return p.execute(ctx, run, cfg, nil, progress)
}

// Resume continues run id: ideas already made are kept, candidates with a
// final verdict are not touched, the rest are processed. The configuration
// is the one stored with the run.
func (p *Pipeline) Resume(ctx context.Context, id uint64, progress func(Event)) (Summary, error) {
	if err := p.check(); err != nil {
		return Summary{}, err
	}
	var (
		run  storage.SynthRun
		log  []storage.SynthLogEntry
		hold *storage.RunHold
	)
	// Claim the run and mark it running in one commit; a run that another
	// live process is running cannot be taken over.
	err := p.DB.Update(func(tx *storage.Tx) error {
		var err error
		if run, err = storage.GetSynthRun(tx, id); err != nil {
			return err
		}
		if run.Status == storage.RunDone {
			return fmt.Errorf("%w: run %d", ErrRunFinished, id)
		}
		if log, err = storage.ListSynthLog(tx, id, 0); err != nil {
			return err
		}
		if hold, err = tx.HoldRun(storage.RunSynth, id); err != nil {
			return err
		}
		resumed := run
		resumed.Status = storage.RunRunning
		return storage.PutSynthRun(tx, &resumed)
	})
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return Summary{}, fmt.Errorf("%w: %d (resyn synth runs lists them)", ErrRunNotFound, id)
	case errors.Is(err, ErrRunFinished):
		return Summary{}, err
	case errors.Is(err, storage.ErrRunBusy):
		return Summary{}, fmt.Errorf("synth: run %d is being run by another resyn process right now; resume it once that one has ended: %w", id, err)
	case err != nil:
		return Summary{}, fmt.Errorf("synth: reading run %d: %w", id, err)
	}
	defer hold.Release()
	var cfg Config
	if err := json.Unmarshal(run.Config, &cfg); err != nil {
		return Summary{}, fmt.Errorf("synth: run %d has an unreadable configuration: %w", id, err)
	}
	cfg = cfg.withDefaults()
	return p.execute(ctx, run, cfg, log, progress)
}

// Start is Run with the events on a channel, closed after RunFinishedEvent.
// Read it to the end: the run waits while the channel is full.
func (p *Pipeline) Start(ctx context.Context, cfg Config) <-chan Event {
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		if _, err := p.Run(ctx, cfg, func(e Event) { ch <- e }); err != nil && !sentFinished(err) {
			ch <- RunFinishedEvent{Err: err}
		}
	}()
	return ch
}

// StartResume is Resume with the events on a channel, closed after
// RunFinishedEvent.
func (p *Pipeline) StartResume(ctx context.Context, id uint64) <-chan Event {
	ch := make(chan Event, 64)
	go func() {
		defer close(ch)
		if _, err := p.Resume(ctx, id, func(e Event) { ch <- e }); err != nil && !sentFinished(err) {
			ch <- RunFinishedEvent{RunID: id, Err: err}
		}
	}()
	return ch
}

// finishedError marks errors that execute already reported in RunFinishedEvent.
type finishedError struct{ error }

func (e finishedError) Unwrap() error { return e.error }

func sentFinished(err error) bool {
	var f finishedError
	return errors.As(err, &f)
}

// runner is one execution of a run (a fresh start or a resume).
type runner struct {
	p        *Pipeline
	cfg      Config
	run      storage.SynthRun
	base     storage.TokenUsage // the run's usage before this execution
	llm      llm.Provider       // metered
	solver   llm.Provider       // metered; nil: no calibration
	judge    llm.Provider       // metered; nil: no LLM judge
	meter    llm.Meter
	lib      *Library
	known    []Known // beyond the library's: the ideas behind stored synthesized environments
	examples []envlib.Source
	start    time.Time

	emitMu   sync.Mutex
	progress func(Event)

	// halt stops the run early: no new candidate starts and those in flight
	// are cancelled (they get no verdict, so a resume redoes them). Called
	// when the writer model's server is not there at all.
	halt func(error)

	mu      sync.Mutex // guards sum, claimed, dedup
	sum     Summary
	claimed map[string]int // environment names taken by this run's candidates
	dedupMu sync.Mutex     // serialises compare-and-add against the library
}

func (r *runner) emit(e Event) {
	if r.progress == nil {
		return
	}
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.progress(e)
}

func (r *runner) usage() storage.TokenUsage {
	u := r.meter.Usage()
	ok, failed := r.meter.Calls()
	return r.base.Add(storage.TokenUsage{Requests: int64(ok + failed), InputTokens: int64(u.PromptTokens), OutputTokens: int64(u.CompletionTokens)})
}

// saveUsage writes the run's usage so far to its record, so that what was
// spent survives a crash (kill -9, power loss) and a resume adds to it. It
// runs after every LLM call; Batch lets concurrent calls share a commit.
func (r *runner) saveUsage() error {
	return r.p.DB.Batch(func(tx *storage.Tx) error {
		run := r.run
		run.Usage = r.usage() // read inside the transaction: commits are ordered, so the stored value never goes back
		return storage.PutSynthRun(tx, &run)
	})
}

// durable is a provider whose every call's usage is on disk when the call
// returns (see saveUsage).
type durable struct {
	llm.Provider
	r *runner
}

func (d durable) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	c, err := d.Provider.Complete(ctx, req)
	// A store that fails here fails the log entry that follows every call,
	// which ends the run with the store's error.
	_ = d.r.saveUsage()
	return c, err
}

// loggedUsage sums the usage of a run's logged calls (every entry but the
// verdicts, which repeat their candidate's calls). It recovers the usage of
// runs recorded before the run record was kept current after every call.
func loggedUsage(log []storage.SynthLogEntry) storage.TokenUsage {
	var u storage.TokenUsage
	for _, e := range log {
		if e.Stage != StageVerdict {
			u = u.Add(e.Usage)
		}
	}
	return u
}

func maxUsage(a, b storage.TokenUsage) storage.TokenUsage {
	return storage.TokenUsage{Requests: max(a.Requests, b.Requests), InputTokens: max(a.InputTokens, b.InputTokens), OutputTokens: max(a.OutputTokens, b.OutputTokens)}
}

func tokenUsage(u llm.Usage, calls int) storage.TokenUsage {
	return storage.TokenUsage{Requests: int64(calls), InputTokens: int64(u.PromptTokens), OutputTokens: int64(u.CompletionTokens)}
}

// logEntry appends one entry to the run's log.
func (r *runner) logEntry(candidate, stage, msg string, u storage.TokenUsage, detail any) error {
	var raw json.RawMessage
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			return fmt.Errorf("synth: encoding the %s record: %w", stage, err)
		}
		raw = b
	}
	e := storage.SynthLogEntry{Candidate: candidate, Stage: stage, Message: msg, Usage: u, Detail: raw}
	return r.p.DB.Update(func(tx *storage.Tx) error { return storage.AppendSynthLog(tx, r.run.ID, &e) })
}

// ideasRecord is the Detail of the run's StageIdeas log entry.
type ideasRecord struct {
	Ideas   []Idea        `json:"ideas"`
	Dropped []DroppedIdea `json:"dropped,omitempty"`
	Failed  []string      `json:"failed_seeds,omitempty"` // seeds whose ideation call failed (Config.Seeds)
}

func (p *Pipeline) execute(ctx context.Context, run storage.SynthRun, cfg Config, log []storage.SynthLogEntry, progress func(Event)) (sum Summary, err error) {
	// What earlier executions spent: the run record, kept current after
	// every call, or (for runs stored before it was) the log's sum.
	r := &runner{
		p: p, cfg: cfg, run: run, base: maxUsage(run.Usage, loggedUsage(log)), progress: progress,
		claimed: map[string]int{}, start: p.clock(),
		examples: Examples(cfg.Examples),
	}
	outer := ctx
	ctx, halt := context.WithCancelCause(ctx)
	defer halt(nil)
	r.halt = halt
	r.llm = durable{llm.Metered(p.LLM, &r.meter), r}
	if p.Solver != nil {
		r.solver = durable{llm.Metered(p.Solver, &r.meter), r}
	}
	if p.Judge != nil {
		r.judge = durable{llm.Metered(p.Judge, &r.meter), r}
	}
	r.sum = Summary{N: cfg.N, Outcomes: map[Outcome]int{}}

	prev := r.replay(log)
	r.emit(RunStartedEvent{RunID: run.ID, Provider: p.LLM.Name(), Solver: solverName(p.Solver), N: cfg.N, Resumed: log != nil, Finished: len(prev.final)})
	defer func() { sum, err = r.end(ctx, outer, err) }()

	lib, err := r.library(ctx)
	if err != nil {
		return sum, err
	}
	r.lib = lib
	ideas, dropped := prev.ideas, prev.dropped
	if !prev.haveIdeas {
		if ideas, dropped, err = r.newIdeas(ctx, log); err != nil {
			return sum, err
		}
	}
	r.mu.Lock()
	r.sum.Ideas, r.sum.Dropped = len(ideas), len(dropped)
	r.mu.Unlock()
	r.emit(IdeasReadyEvent{Ideas: ideas, Dropped: dropped, Usage: r.meter.Usage()})
	return sum, r.candidates(ctx, ideas, prev.final)
}

// finished is what earlier executions of a run finished, rebuilt from its
// log: its ideas (once ideation ended) and the candidates with a final
// verdict.
type finished struct {
	ideas     []Idea
	dropped   []DroppedIdea
	haveIdeas bool
	final     map[string]bool
}

// replay rebuilds what earlier executions finished and counts their
// verdicts.
func (r *runner) replay(log []storage.SynthLogEntry) finished {
	f := finished{final: map[string]bool{}}
	for _, e := range log {
		switch e.Stage {
		case StageIdeas:
			var rec ideasRecord
			if json.Unmarshal(e.Detail, &rec) == nil {
				f.ideas, f.dropped, f.haveIdeas = rec.Ideas, rec.Dropped, true
			}
		case StageVerdict:
			var prov Provenance
			if json.Unmarshal(e.Detail, &prov) != nil || prov.Outcome == OutcomeError {
				continue
			}
			f.final[e.Candidate] = true
			r.count(verdictOf(prov))
			if prov.Outcome == OutcomeCandidate {
				r.claimed[prov.Idea.Name] = prov.Index
			}
		}
	}
	return f
}

// end records how the run ended (ctx is the run's, outer the caller's)
// and sends RunFinishedEvent; it returns the summary and the error the run
// ends with.
func (r *runner) end(ctx, outer context.Context, err error) (Summary, error) {
	r.mu.Lock()
	sum := r.summary()
	r.mu.Unlock()
	run := r.run
	status := storage.RunDone
	if cause := context.Cause(ctx); err == nil && outer.Err() == nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = fmt.Errorf("synth: run %d stopped: %w", run.ID, cause)
	}
	switch {
	case outer.Err() != nil:
		status, err = storage.RunCancelled, outer.Err()
	case err != nil:
		status = storage.RunFailed
	case sum.Finished < sum.Ideas:
		status = storage.RunIncomplete
	}
	run.Status, run.Usage = status, r.usage()
	if err != nil {
		run.Error = err.Error()
	} else {
		run.Error = ""
	}
	if status == storage.RunDone {
		run.Finished = r.p.clock().UTC()
	}
	if werr := r.p.DB.Update(func(tx *storage.Tx) error { return storage.PutSynthRun(tx, &run) }); werr != nil && err == nil {
		err = fmt.Errorf("synth: recording the end of run %d: %w", run.ID, werr)
	}
	r.emit(RunFinishedEvent{RunID: run.ID, Summary: sum, Err: err})
	if err != nil {
		err = finishedError{err}
	}
	return sum, err
}

// newIdeas ideates (or takes the revisions the run was given) and logs
// the ideas, so that a resumed run implements the same ones.
func (r *runner) newIdeas(ctx context.Context, log []storage.SynthLogEntry) (ideas []Idea, dropped []DroppedIdea, err error) {
	var failed []string
	switch {
	case len(r.cfg.Revisions) > 0:
		ideas = revisionIdeas(r.cfg.Revisions)
	case len(r.cfg.Seeds) > 0:
		ideas, dropped, failed, err = r.ideateSeeds(ctx, log)
	default:
		ideas, dropped, err = r.ideate(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	msg := fmt.Sprintf("%d ideas, %d dropped as duplicates", len(ideas), len(dropped))
	if len(failed) > 0 {
		msg += fmt.Sprintf("; ideation failed for %d seeds", len(failed))
	}
	return ideas, dropped, r.logEntry("", StageIdeas, msg, storage.TokenUsage{}, ideasRecord{ideas, dropped, failed})
}

// candidates takes every idea without a final verdict to one,
// cfg.Parallel at a time; the error is the first store failure.
func (r *runner) candidates(ctx context.Context, ideas []Idea, final map[string]bool) error {
	var todo []int
	for i, idea := range ideas {
		if !final[idea.Name] {
			todo = append(todo, i)
		}
	}
	var storeErr error
	var storeOnce sync.Once
	inParallel(ctx, len(todo), r.cfg.Parallel, func(k int) {
		i := todo[k]
		idea := ideas[i]
		defer func() {
			// A bug must not take the other candidates down with it.
			if v := recover(); v != nil {
				prov := &Provenance{Run: r.run.ID, Index: i, Idea: idea, Provider: r.p.LLM.Name(),
					Outcome: OutcomeError, Reason: fmt.Sprintf("internal error: %v", v)}
				if err := r.verdict(prov, nil); err != nil {
					storeOnce.Do(func() { storeErr = err })
				}
			}
		}()
		if err := r.candidate(ctx, i, idea); err != nil {
			storeOnce.Do(func() { storeErr = err })
		}
	})
	return storeErr
}

func solverName(p llm.Provider) string {
	if p == nil {
		return ""
	}
	return p.Name()
}

// library loads what candidates must not duplicate: the built-ins and every
// stored environment that is not rejected.
func (r *runner) library(ctx context.Context) (*Library, error) {
	mods, err := envlib.Modules()
	if err != nil {
		return nil, err
	}
	for _, m := range mods {
		r.p.Pool.Register(m)
	}
	var stored []storage.Env
	if err := r.p.DB.View(func(tx *storage.Tx) error {
		var err error
		stored, err = storage.ListEnvs(tx)
		return err
	}); err != nil {
		return nil, fmt.Errorf("synth: reading the library: %w", err)
	}
	builtin := map[string]bool{}
	for _, m := range mods {
		builtin[m.Name] = true
	}
	var load []storage.Env
	for _, e := range stored {
		if builtin[e.Name] {
			continue
		}
		// Ideation avoids every stored name and synthesized idea, rejected
		// ones included (a person turned them down; proposing them again
		// wastes calls); behaviour is compared with the rest only.
		k := Known{Name: e.Name}
		var prov struct {
			Idea struct {
				Description string `json:"description"`
			} `json:"idea"`
		}
		if len(e.Provenance) > 0 && json.Unmarshal(e.Provenance, &prov) == nil {
			k.Description = prov.Idea.Description
		}
		if e.Status == storage.StatusRejected || k.Description != "" {
			r.known = append(r.known, k)
		}
		if e.Status != storage.StatusRejected {
			load = append(load, e)
		}
	}
	// A thousand stored environments load a few at a time; the library
	// keeps their order.
	loaded := make([]*env.Module, len(load))
	inParallel(ctx, len(load), libraryParallel, func(i int) {
		// A stored environment that no longer loads duplicates nothing.
		loaded[i], _ = r.p.Pool.Load(ctx, load[i].Name+".star", []byte(load[i].Source))
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, m := range loaded {
		if m != nil {
			mods = append(mods, m)
		}
	}
	return NewLibrary(ctx, r.p.Pool, mods, r.cfg.PromptSimilarity)
}

// ideate asks for ideas category by category until cfg.N are kept.
func (r *runner) ideate(ctx context.Context) ([]Idea, []DroppedIdea, error) {
	cfg := r.cfg
	dd := NewIdeaDeduper(cfg.IdeaSimilarity, append(r.lib.Known(), r.known...))
	var ideas []Idea
	var dropped []DroppedIdea
	calls := 2*((cfg.N+cfg.IdeasPerCall-1)/cfg.IdeasPerCall) + len(cfg.Categories)
	failures := 0
	for c := 0; len(ideas) < cfg.N && c < calls; c++ {
		cat := cfg.Categories[c%len(cfg.Categories)]
		req := IdeateRequest{Category: cat, Topics: cfg.Topics, Count: cfg.IdeasPerCall, Avoid: dd.Names()}
		got, ex, err := Ideate(ctx, r.llm, req, CallOptions{Temperature: cfg.Temperature, MaxTokens: cfg.MaxTokens})
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		msg := fmt.Sprintf("%s: %d ideas", cat, len(got))
		if err != nil {
			msg = fmt.Sprintf("%s: %v", cat, err)
		}
		if lerr := r.logEntry("", StageIdeate, msg, tokenUsage(ex.Usage, 1), ex); lerr != nil {
			return nil, nil, lerr
		}
		if err != nil {
			if errors.Is(err, llm.ErrReplayExhausted) {
				break
			}
			r.emit(IdeateFailedEvent{Category: cat, Err: err})
			if errors.Is(err, llm.ErrUnreachable) {
				return nil, nil, fmt.Errorf("%w: %w", ErrNoIdeas, err)
			}
			if failures++; failures >= 3 {
				if len(ideas) == 0 {
					return nil, nil, fmt.Errorf("%w: ideation failed three times: %w", ErrNoIdeas, err)
				}
				break
			}
			continue
		}
		failures = 0
		for _, idea := range got {
			if len(ideas) >= cfg.N {
				break
			}
			if ok, dr := dd.Add(idea); ok {
				ideas = append(ideas, idea)
			} else {
				dropped = append(dropped, dr)
			}
		}
	}
	if len(ideas) == 0 {
		return nil, nil, fmt.Errorf("%w: the model proposed none that was new", ErrNoIdeas)
	}
	return ideas, dropped, nil
}

// count adds a verdict to the summary; r.mu must be held or r not shared yet.
func (r *runner) count(v VerdictEvent) {
	s := &r.sum
	s.Outcomes[v.Outcome]++
	if v.Outcome == OutcomeError {
		return
	}
	s.Finished++
	if v.Implemented {
		s.Implemented++
	}
	if v.Outcome == OutcomeCandidate || v.Outcome == OutcomeDuplicate {
		s.Valid++
		for len(s.ValidAfter) <= v.Repairs {
			s.ValidAfter = append(s.ValidAfter, 0)
		}
		s.ValidAfter[v.Repairs]++
	}
	if v.Outcome == OutcomeCandidate {
		s.Stored++
		if len(v.Flags) > 0 {
			s.Flagged++
		}
	}
}

// summary is the current summary; r.mu must be held.
func (r *runner) summary() Summary {
	s := r.sum
	s.Outcomes = map[Outcome]int{}
	for k, v := range r.sum.Outcomes {
		s.Outcomes[k] = v
	}
	s.ValidAfter = append([]int(nil), r.sum.ValidAfter...)
	u := r.usage()
	s.Usage = llm.Usage{PromptTokens: int(u.InputTokens), CompletionTokens: int(u.OutputTokens)}
	s.Calls = int(u.Requests)
	s.Elapsed = r.p.clock().Sub(r.start)
	return s
}

func verdictOf(prov Provenance) VerdictEvent {
	v := VerdictEvent{
		Index: prov.Index, Name: prov.Idea.Name, Outcome: prov.Outcome, Reason: prov.Reason,
		Repairs: prov.Repairs, DuplicateOf: prov.DuplicateOf, Usage: prov.Usage, Elapsed: prov.Elapsed,
		Implemented: len(prov.Reports) > 0,
	}
	if prov.Calibration != nil {
		v.Flags = prov.Calibration.Flags
	}
	return v
}

// failedNames lists the failing checks of a report, for a verdict's reason.
func failedNames(rep *validate.Report) string {
	var names []string
	for _, c := range rep.Failed() {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return strings.Join(names, "; ")
}
