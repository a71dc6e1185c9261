package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"resyn/core/env"
	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// candidate takes one idea from implementation to verdict. It returns an
// error only when the store fails; everything that goes wrong with the
// candidate itself ends in its verdict. A cancelled candidate gets none.
func (r *runner) candidate(ctx context.Context, index int, idea Idea) error {
	prov := &Provenance{
		Run: r.run.ID, Index: index, Idea: idea, Provider: r.p.LLM.Name(),
		Timings: map[string]time.Duration{},
	}
	start := r.p.clock()
	r.emit(CandidateStartedEvent{Index: index, Idea: idea})
	if err := r.logEntry(idea.Name, "start", idea.Description, storage.TokenUsage{}, idea); err != nil {
		return err
	}
	opts := CallOptions{Temperature: r.cfg.Temperature, MaxTokens: r.cfg.MaxTokens}
	stream := func(stage string) CallOptions {
		o := opts
		if r.cfg.Stream {
			o.OnDelta = func(d llm.Delta) {
				r.emit(StreamDeltaEvent{Index: index, Stage: stage, Text: d.Text, Restart: d.Restart})
			}
		}
		return o
	}
	timed := func(stage string, t0 time.Time) { prov.Timings[stage] += r.p.clock().Sub(t0) }
	exchange := func(ex Exchange) error {
		prov.Exchanges = append(prov.Exchanges, ex)
		prov.Usage = prov.Usage.Add(ex.Usage)
		msg := fmt.Sprintf("%d+%d tokens", ex.Usage.PromptTokens, ex.Usage.CompletionTokens)
		if ex.Error != "" {
			msg = ex.Error
		}
		return r.logEntry(idea.Name, ex.Stage, msg, tokenUsage(ex.Usage, 1), ex)
	}
	finish := func(o Outcome, reason string) error {
		prov.Outcome, prov.Reason = o, reason
		prov.Elapsed = r.p.clock().Sub(start)
		return r.verdict(prov, nil)
	}

	// Implementation.
	t0 := r.p.clock()
	code, ex, err := Implement(ctx, r.llm, idea, r.examples, stream(StageImplement))
	timed(StageImplement, t0)
	if ctx.Err() != nil {
		return nil
	}
	if lerr := exchange(ex); lerr != nil {
		return lerr
	}
	switch {
	case errors.Is(err, ErrRefusal):
		return finish(OutcomeRefused, fmt.Sprintf("the model declined: %q", firstLine(ex.Reply)))
	case errors.Is(err, ErrEmptyReply):
		return finish(OutcomeEmpty, "the model replied with nothing")
	case errors.Is(err, ErrNoCode):
		return finish(OutcomeNoCode, "no module in the reply; the model replied "+Excerpt(ex.Reply, ExcerptLen))
	case err != nil:
		return r.llmFailed(err, finish(OutcomeError, err.Error()))
	}
	r.emit(CodeWrittenEvent{Index: index, Name: idea.Name, Round: 0, Source: code, Lines: strings.Count(code, "\n"), Usage: ex.Usage})

	// Validation and repair.
	system, user := ImplementPrompt(idea, r.examples)
	file := idea.Name + ".star"
	validateRound := func(round int) (*validate.Report, *env.Module, error) {
		t0 := r.p.clock()
		rep, mod := nameCheck(file, code, idea.Name)
		if rep == nil {
			rep, mod = Check(ctx, r.p.Pool, file, code, r.cfg.Validate)
		}
		timed(StageValidate, t0)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		prov.Reports = append(prov.Reports, rep)
		ev := ValidatedEvent{Index: index, Name: idea.Name, Round: round, OK: rep.OK, Report: rep, Failed: rep.Failed()}
		r.emit(ev)
		msg := "ok"
		if !rep.OK {
			msg = "failed: " + failedNames(rep)
		}
		return rep, mod, r.logEntry(idea.Name, StageValidate, msg, storage.TokenUsage{}, rep)
	}
	rep, mod, err := validateRound(0)
	if err != nil {
		return storeErr(ctx, err)
	}
	// repair asks for a corrected module and validates it as round round.
	// noModule: the reply held none (the round is spent, the module and its
	// report stand); done: the candidate has ended, and ret is what
	// candidate returns.
	repair := func(round int) (noModule, done bool, ret error) {
		r.emit(RepairStartedEvent{Index: index, Name: idea.Name, Round: round, Failed: rep.Failed()})
		t0 := r.p.clock()
		fixed, ex, err := Repair(ctx, r.llm, idea, system, user, code, rep, round, stream(StageRepair))
		timed(StageRepair, t0)
		if ctx.Err() != nil {
			return false, true, nil
		}
		if lerr := exchange(ex); lerr != nil {
			return false, true, lerr
		}
		if err != nil {
			if errors.Is(err, ErrRefusal) || errors.Is(err, ErrEmptyReply) || errors.Is(err, ErrNoCode) {
				return true, false, nil
			}
			return false, true, r.llmFailed(err, finish(OutcomeError, err.Error()))
		}
		code = fixed
		r.emit(CodeWrittenEvent{Index: index, Name: idea.Name, Round: round, Source: code, Lines: strings.Count(code, "\n"), Usage: ex.Usage})
		if rep, mod, err = validateRound(round); err != nil {
			return false, true, storeErr(ctx, err)
		}
		return false, false, nil
	}
	for round := 1; !rep.OK && round <= r.cfg.MaxRepairs; round++ {
		prov.Repairs = round
		if _, done, ret := repair(round); done {
			return ret
		}
	}
	if !rep.OK {
		return finish(OutcomeInvalid, fmt.Sprintf("still failing after %d repair rounds: %s", prov.Repairs, failedNames(rep)))
	}

	// The LLM judge, with one revision for what it finds.
	for attempt := 0; r.judge != nil; attempt++ {
		t0 := r.p.clock()
		j, err := Judge(ctx, r.judge, r.p.Pool, mod, stream(StageJudge))
		timed(StageJudge, t0)
		if ctx.Err() != nil {
			return nil
		}
		if j.Exchange.Stage != "" {
			if lerr := exchange(j.Exchange); lerr != nil {
				return lerr
			}
		}
		prov.Judgements = append(prov.Judgements, j)
		AddJudgement(rep, j, err)
		r.emit(JudgedEvent{Index: index, Name: idea.Name, Round: prov.Repairs, Judgement: j, Err: err})
		if lerr := r.logEntry(idea.Name, StageJudge, judgeLine(j, err), storage.TokenUsage{}, j); lerr != nil {
			return lerr
		}
		switch {
		case err != nil && !errors.Is(err, ErrJudgeReply):
			return r.llmFailed(err, finish(OutcomeError, "the LLM judge failed: "+err.Error()))
		case err != nil:
			return finish(OutcomeError, err.Error())
		case j.OK:
		case attempt > 0:
			return finish(OutcomeInvalid, "the LLM judge still finds flaws after one revision: "+judgeLine(j, nil))
		default:
			prov.Repairs++
			noModule, done, ret := repair(prov.Repairs)
			switch {
			case done:
				return ret
			case noModule:
				return finish(OutcomeInvalid, "the LLM judge found flaws and the revision held no module: "+judgeLine(j, nil))
			case !rep.OK:
				return finish(OutcomeInvalid, "the revision for the LLM judge fails validation: "+failedNames(rep))
			}
			continue
		}
		break
	}

	// Deduplication against the library (and this run's candidates so far):
	// Admit compares and, when the candidate is new, claims its name and
	// behaviour atomically, so two concurrent near-twins cannot both get in.
	t0 = r.p.clock()
	exclude := ""
	if idea.Revise != nil {
		exclude = idea.Revise.Env // a new version is not a duplicate of the one it replaces
	}
	dup, err := r.lib.Admit(ctx, r.p.Pool, mod, exclude)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		dup = nil // a candidate that cannot be sampled passed validation; compare nothing
	}
	timed(StageDedup, t0)
	if dup != nil {
		prov.DuplicateOf, prov.Duplicate = dup.Of, dup
		return finish(OutcomeDuplicate, dup.Reason)
	}

	// Calibration.
	if r.solver != nil {
		t0 := r.p.clock()
		cal, exs, err := Calibrate(ctx, r.solver, r.p.Pool, mod, r.cfg.Calibrate, stream(StageCalibrate))
		timed(StageCalibrate, t0)
		if ctx.Err() != nil {
			return nil
		}
		for _, ex := range exs {
			prov.Usage = prov.Usage.Add(ex.Usage)
		}
		prov.Exchanges = append(prov.Exchanges, exs...)
		if err != nil {
			prov.Reason = "calibration failed: " + err.Error()
		} else {
			prov.Calibration = &cal
			r.emit(CalibratedEvent{Index: index, Name: idea.Name, Calibration: cal})
		}
		if lerr := r.logEntry(idea.Name, StageCalibrate, calibrationLine(cal, err), tokenUsage(cal.Usage, len(exs)), cal); lerr != nil {
			return lerr
		}
		if err == nil && r.cfg.Calibrate.RequireTrend && (cal.Trend == nil || !cal.Trend.Falls) {
			return finish(OutcomeInvalid, "calibration: "+trendLine(cal.Trend))
		}
	}

	prov.Outcome = OutcomeCandidate
	prov.Elapsed = r.p.clock().Sub(start)
	return r.verdict(prov, mod)
}

var nameDeclRe = regexp.MustCompile(`(?m)^NAME\s*=\s*["']([^"'\n]*)["']`)

// nameCheck fails a module whose NAME is not the idea's. Ideas are unique
// and never a library name, so this keeps candidates from replacing one
// another's (or a built-in's) registration in the shared pool.
func nameCheck(file, code, want string) (*validate.Report, *env.Module) {
	m := nameDeclRe.FindStringSubmatch(code)
	if m != nil && m[1] == want {
		return nil, nil
	}
	c := validate.Check{Name: validate.CheckLoad, Detail: fmt.Sprintf("the module must declare NAME = %q", want)}
	if m != nil {
		c.Detail = fmt.Sprintf("NAME is %q; it must be %q", m[1], want)
		c.Line = strings.Count(code[:strings.Index(code, m[0])], "\n") + 1
	}
	return &validate.Report{File: file, Hash: env.SourceHash([]byte(code)), Checks: []validate.Check{c}}, nil
}

// trendLine says what the trend test found.
func trendLine(t *Trend) string {
	if t == nil {
		return "no trend test (fewer than two levels scored)"
	}
	if t.Falls {
		return fmt.Sprintf("the pass rate falls with the level (p = %.3g)", t.PValue)
	}
	return fmt.Sprintf("the pass rate does not fall significantly with the level (p = %.3g > %.3g)", t.PValue, t.Alpha)
}

// judgeLine sums a judgement up for the log and a verdict's reason.
func judgeLine(j Judgement, err error) string {
	if err != nil {
		return err.Error()
	}
	if j.OK {
		return "no flaw found"
	}
	var no []string
	for _, c := range j.Criteria {
		if !c.OK {
			no = append(no, c.Key)
		}
	}
	s := "fails " + strings.Join(no, ", ")
	if len(j.Problems) > 0 {
		s += ": " + j.Problems[0]
	}
	return s
}

func calibrationLine(c Calibration, err error) string {
	if err != nil {
		return err.Error()
	}
	var parts []string
	for _, l := range c.Levels {
		parts = append(parts, fmt.Sprintf("d%d %d/%d", l.Difficulty, l.Passed, l.N))
	}
	s := strings.Join(parts, ", ")
	if c.Trend != nil {
		s += "; " + trendLine(c.Trend)
	}
	if len(c.Flags) > 0 {
		s += " (" + strings.Join(c.Flags, ", ") + ")"
	}
	return s
}

// llmFailed halts the run when the writer's server is not there at all
// (every other candidate would fail the same way), after the candidate's
// verdict "error" is stored; it returns the store's error from that.
func (r *runner) llmFailed(err, storeErr error) error {
	if errors.Is(err, llm.ErrUnreachable) {
		r.halt(err)
	}
	return storeErr
}

// storeErr passes store errors up and swallows cancellation.
func storeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// verdict writes the candidate's end in one transaction — the environment
// (for OutcomeCandidate), the verdict log entry with the provenance, and the
// run's usage — then counts it and tells the consumer. A name that is taken
// in the store by then makes the candidate a duplicate instead.
func (r *runner) verdict(prov *Provenance, mod *env.Module) error {
	err := r.p.DB.Update(func(tx *storage.Tx) error {
		if prov.Outcome == OutcomeCandidate {
			name := mod.Name
			if _, err := storage.GetEnv(tx, name); err == nil {
				prov.Outcome, prov.DuplicateOf = OutcomeDuplicate, name
				prov.Reason = fmt.Sprintf("the store already has an environment named %s", name)
			} else if !errors.Is(err, storage.ErrNotFound) {
				return err
			} else if err := storage.PutEnv(tx, r.envRecord(prov, mod)); err != nil {
				return err
			}
		}
		b, err := json.Marshal(prov)
		if err != nil {
			return err
		}
		msg := string(prov.Outcome)
		if prov.Reason != "" {
			msg += ": " + prov.Reason
		}
		e := storage.SynthLogEntry{Candidate: prov.Idea.Name, Stage: StageVerdict, Message: msg,
			Usage: tokenUsage(prov.Usage, len(prov.Exchanges)), Detail: b}
		if err := storage.AppendSynthLog(tx, r.run.ID, &e); err != nil {
			return err
		}
		run := r.run
		run.Usage = r.usage()
		return storage.PutSynthRun(tx, &run)
	})
	if err != nil {
		return fmt.Errorf("synth: recording the verdict on %s: %w", prov.Idea.Name, err)
	}
	v := verdictOf(*prov)
	r.mu.Lock()
	r.count(v)
	sum := r.summary()
	r.mu.Unlock()
	r.emit(v)
	r.emit(TotalsEvent{Summary: sum})
	return nil
}

// envRecord is the stored candidate.
func (r *runner) envRecord(prov *Provenance, mod *env.Module) *storage.Env {
	e := &storage.Env{
		Name:   mod.Name,
		Change: fmt.Sprintf("synthesized by run %d (%s)", r.run.ID, prov.Provider),
		Source: string(mod.Source),
		Origin: storage.Origin{Kind: storage.OriginSynthesis, SynthRun: r.run.ID},
		Status: storage.StatusCandidate,
		Tags:   mod.Tags,
	}
	if rev := prov.Idea.Revise; rev != nil {
		e.Origin.TrainRun, e.Origin.Parent = rev.TrainRun, rev.Parent()
		e.Change = fmt.Sprintf("synthesized by run %d (%s) from training run %d: a new version of %s (%s)",
			r.run.ID, prov.Provider, rev.TrainRun, rev.Env, rev.Signal.Signal)
	}
	e.Report, _ = json.Marshal(prov.Reports[len(prov.Reports)-1])
	if prov.Calibration != nil {
		e.Calibration, _ = json.Marshal(prov.Calibration)
		if len(prov.Calibration.Flags) > 0 {
			e.Notes = append(e.Notes, storage.Note{Time: r.p.clock().UTC(), Text: "calibration: " + strings.Join(prov.Calibration.Flags, ", ")})
		}
	}
	e.Provenance, _ = json.Marshal(prov)
	return e
}
