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
	c := &cand{r: r, ctx: ctx, index: index, idea: idea, start: r.p.clock(),
		prov: &Provenance{Run: r.run.ID, Index: index, Idea: idea, Provider: r.p.LLM.Name(), Timings: map[string]time.Duration{}},
		opts: CallOptions{Temperature: r.cfg.Temperature, MaxTokens: r.cfg.MaxTokens}}
	r.emit(CandidateStartedEvent{Index: index, Idea: idea})
	if err := r.logEntry(idea.Name, "start", idea.Description, storage.TokenUsage{}, idea); err != nil {
		return err
	}
	// Each stage either passes the candidate on or ends it (done), with
	// what candidate returns.
	for _, stage := range []func() (done bool, ret error){c.implement, c.validate, c.review, c.dedup, c.calibrate} {
		if done, ret := stage(); done {
			return ret
		}
	}
	c.prov.Outcome = OutcomeCandidate
	c.prov.Elapsed = r.p.clock().Sub(c.start)
	return r.verdict(c.prov, c.mod)
}

// cand is one candidate on its way through runner.candidate's stages.
type cand struct {
	r     *runner
	ctx   context.Context
	index int
	idea  Idea
	prov  *Provenance
	start time.Time
	opts  CallOptions

	code         string           // the module, as last written
	rep          *validate.Report // its validation report
	mod          *env.Module      // the module loaded, once it validates
	system, user string           // the implementation prompt, which repairs build on
}

// stream is the call options of one stage, with its reply streamed as
// events when the run asks for them.
func (c *cand) stream(stage string) CallOptions {
	o := c.opts
	if c.r.cfg.Stream {
		o.OnDelta = func(d llm.Delta) {
			c.r.emit(StreamDeltaEvent{Index: c.index, Stage: stage, Text: d.Text, Restart: d.Restart})
		}
	}
	return o
}

func (c *cand) timed(stage string, t0 time.Time) { c.prov.Timings[stage] += c.r.p.clock().Sub(t0) }

// exchange records one LLM exchange in the provenance and the run's log.
func (c *cand) exchange(ex Exchange) error {
	c.prov.Exchanges = append(c.prov.Exchanges, ex)
	c.prov.Usage = c.prov.Usage.Add(ex.Usage)
	msg := fmt.Sprintf("%d+%d tokens", ex.Usage.PromptTokens, ex.Usage.CompletionTokens)
	if ex.Error != "" {
		msg = ex.Error
	}
	return c.r.logEntry(c.idea.Name, ex.Stage, msg, tokenUsage(ex.Usage, 1), ex)
}

// finish gives the candidate its verdict.
func (c *cand) finish(o Outcome, reason string) error {
	c.prov.Outcome, c.prov.Reason = o, reason
	c.prov.Elapsed = c.r.p.clock().Sub(c.start)
	return c.r.verdict(c.prov, nil)
}

// implement asks the model for the module.
func (c *cand) implement() (bool, error) {
	t0 := c.r.p.clock()
	code, ex, err := Implement(c.ctx, c.r.llm, c.idea, c.r.examples, c.stream(StageImplement))
	c.timed(StageImplement, t0)
	if c.ctx.Err() != nil {
		return true, nil
	}
	if lerr := c.exchange(ex); lerr != nil {
		return true, lerr
	}
	switch {
	case errors.Is(err, ErrRefusal):
		return true, c.finish(OutcomeRefused, fmt.Sprintf("the model declined: %q", firstLine(ex.Reply)))
	case errors.Is(err, ErrEmptyReply):
		return true, c.finish(OutcomeEmpty, "the model replied with nothing")
	case errors.Is(err, ErrNoCode):
		return true, c.finish(OutcomeNoCode, "no module in the reply; the model replied "+Excerpt(ex.Reply, ExcerptLen))
	case err != nil:
		return true, c.r.llmFailed(err, c.finish(OutcomeError, err.Error()))
	}
	c.code = code
	c.r.emit(CodeWrittenEvent{Index: c.index, Name: c.idea.Name, Round: 0, Source: code, Lines: strings.Count(code, "\n"), Usage: ex.Usage})
	c.system, c.user = ImplementPrompt(c.idea, c.r.examples)
	return false, nil
}

// validateRound runs the checks on the module as round round.
func (c *cand) validateRound(round int) error {
	t0 := c.r.p.clock()
	file := c.idea.Name + ".star"
	rep, mod := nameCheck(file, c.code, c.idea.Name)
	if rep == nil {
		rep, mod = Check(c.ctx, c.r.p.Pool, file, c.code, c.r.cfg.Validate)
	}
	c.timed(StageValidate, t0)
	if c.ctx.Err() != nil {
		return c.ctx.Err()
	}
	c.rep, c.mod = rep, mod
	c.prov.Reports = append(c.prov.Reports, rep)
	c.r.emit(ValidatedEvent{Index: c.index, Name: c.idea.Name, Round: round, OK: rep.OK, Report: rep, Failed: rep.Failed()})
	msg := "ok"
	if !rep.OK {
		msg = "failed: " + failedNames(rep)
	}
	return c.r.logEntry(c.idea.Name, StageValidate, msg, storage.TokenUsage{}, rep)
}

// validate validates the module and repairs it, up to MaxRepairs rounds.
func (c *cand) validate() (bool, error) {
	if err := c.validateRound(0); err != nil {
		return true, storeErr(c.ctx, err)
	}
	for round := 1; !c.rep.OK && round <= c.r.cfg.MaxRepairs; round++ {
		c.prov.Repairs = round
		if _, done, ret := c.repair(round); done {
			return true, ret
		}
	}
	if !c.rep.OK {
		return true, c.finish(OutcomeInvalid, fmt.Sprintf("still failing after %d repair rounds: %s", c.prov.Repairs, failedNames(c.rep)))
	}
	return false, nil
}

// repair asks for a corrected module and validates it as round round.
// noModule: the reply held none (the round is spent, the module and its
// report stand); done: the candidate has ended, and ret is what candidate
// returns.
func (c *cand) repair(round int) (noModule, done bool, ret error) {
	c.r.emit(RepairStartedEvent{Index: c.index, Name: c.idea.Name, Round: round, Failed: c.rep.Failed()})
	t0 := c.r.p.clock()
	fixed, ex, err := Repair(c.ctx, c.r.llm, c.idea, c.system, c.user, c.code, c.rep, round, c.stream(StageRepair))
	c.timed(StageRepair, t0)
	if c.ctx.Err() != nil {
		return false, true, nil
	}
	if lerr := c.exchange(ex); lerr != nil {
		return false, true, lerr
	}
	if err != nil {
		if errors.Is(err, ErrRefusal) || errors.Is(err, ErrEmptyReply) || errors.Is(err, ErrNoCode) {
			return true, false, nil
		}
		return false, true, c.r.llmFailed(err, c.finish(OutcomeError, err.Error()))
	}
	c.code = fixed
	c.r.emit(CodeWrittenEvent{Index: c.index, Name: c.idea.Name, Round: round, Source: c.code, Lines: strings.Count(c.code, "\n"), Usage: ex.Usage})
	if err := c.validateRound(round); err != nil {
		return false, true, storeErr(c.ctx, err)
	}
	return false, false, nil
}

// review has the LLM judge (when the run has one) review the valid module,
// with one revision for what it finds.
func (c *cand) review() (bool, error) {
	for attempt := 0; c.r.judge != nil; attempt++ {
		t0 := c.r.p.clock()
		j, err := Judge(c.ctx, c.r.judge, c.r.p.Pool, c.mod, c.stream(StageJudge))
		c.timed(StageJudge, t0)
		if c.ctx.Err() != nil {
			return true, nil
		}
		if j.Exchange.Stage != "" {
			if lerr := c.exchange(j.Exchange); lerr != nil {
				return true, lerr
			}
		}
		c.prov.Judgements = append(c.prov.Judgements, j)
		AddJudgement(c.rep, j, err)
		c.r.emit(JudgedEvent{Index: c.index, Name: c.idea.Name, Round: c.prov.Repairs, Judgement: j, Err: err})
		if lerr := c.r.logEntry(c.idea.Name, StageJudge, judgeLine(j, err), storage.TokenUsage{}, j); lerr != nil {
			return true, lerr
		}
		switch {
		case err != nil && !errors.Is(err, ErrJudgeReply):
			return true, c.r.llmFailed(err, c.finish(OutcomeError, "the LLM judge failed: "+err.Error()))
		case err != nil:
			return true, c.finish(OutcomeError, err.Error())
		case j.OK:
			return false, nil
		case attempt > 0:
			return true, c.finish(OutcomeInvalid, "the LLM judge still finds flaws after one revision: "+judgeLine(j, nil))
		}
		c.prov.Repairs++
		noModule, done, ret := c.repair(c.prov.Repairs)
		switch {
		case done:
			return true, ret
		case noModule:
			return true, c.finish(OutcomeInvalid, "the LLM judge found flaws and the revision held no module: "+judgeLine(j, nil))
		case !c.rep.OK:
			return true, c.finish(OutcomeInvalid, "the revision for the LLM judge fails validation: "+failedNames(c.rep))
		}
	}
	return false, nil
}

// dedup compares the module with the library (and this run's candidates
// so far): Admit compares and, when the candidate is new, claims its name
// and behaviour atomically, so two concurrent near-twins cannot both get in.
func (c *cand) dedup() (bool, error) {
	t0 := c.r.p.clock()
	exclude := ""
	if c.idea.Revise != nil {
		exclude = c.idea.Revise.Env // a new version is not a duplicate of the one it replaces
	}
	dup, err := c.r.lib.Admit(c.ctx, c.r.p.Pool, c.mod, exclude)
	if c.ctx.Err() != nil {
		return true, nil
	}
	if err != nil {
		dup = nil // a candidate that cannot be sampled passed validation; compare nothing
	}
	c.timed(StageDedup, t0)
	if dup != nil {
		c.prov.DuplicateOf, c.prov.Duplicate = dup.Of, dup
		return true, c.finish(OutcomeDuplicate, dup.Reason)
	}
	return false, nil
}

// calibrate measures the solver model's pass rates (when the run has one).
func (c *cand) calibrate() (bool, error) {
	if c.r.solver == nil {
		return false, nil
	}
	t0 := c.r.p.clock()
	cal, exs, err := Calibrate(c.ctx, c.r.solver, c.r.p.Pool, c.mod, c.r.cfg.Calibrate, c.stream(StageCalibrate))
	c.timed(StageCalibrate, t0)
	if c.ctx.Err() != nil {
		return true, nil
	}
	for _, ex := range exs {
		c.prov.Usage = c.prov.Usage.Add(ex.Usage)
	}
	c.prov.Exchanges = append(c.prov.Exchanges, exs...)
	if err != nil {
		c.prov.Reason = "calibration failed: " + err.Error()
	} else {
		c.prov.Calibration = &cal
		c.r.emit(CalibratedEvent{Index: c.index, Name: c.idea.Name, Calibration: cal})
	}
	if lerr := c.r.logEntry(c.idea.Name, StageCalibrate, calibrationLine(cal, err), tokenUsage(cal.Usage, len(exs)), cal); lerr != nil {
		return true, lerr
	}
	if err == nil && c.r.cfg.Calibrate.RequireTrend && (cal.Trend == nil || !cal.Trend.Falls) {
		return true, c.finish(OutcomeInvalid, "calibration: "+trendLine(cal.Trend))
	}
	return false, nil
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
