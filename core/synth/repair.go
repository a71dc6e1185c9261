package synth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"resyn/core/env"
	"resyn/core/validate"
	"resyn/llm"
)

// Check validates a candidate module in the pool. A quick smoke test comes
// first — load, then one instance at the lowest and the highest difficulty
// with its reference answer and a junk answer verified — so that a module
// that loops, raises or breaks the contract costs a couple of calls instead
// of a full validation of timeouts. Only a module that passes it gets the
// full validate.Run. The returned module is nil when it did not load.
func Check(ctx context.Context, pool *env.Pool, file, code string, opts validate.Options) (*validate.Report, *env.Module) {
	start := time.Now()
	m, err := pool.Load(ctx, file, []byte(code))
	if err != nil {
		c := validate.Check{Name: validate.CheckLoad, Detail: err.Error()}
		var e *env.Error
		if errors.As(err, &e) {
			c.Line = e.Line
		}
		return &validate.Report{File: file, Hash: env.SourceHash([]byte(code)), Checks: []validate.Check{c}, Elapsed: time.Since(start)}, nil
	}
	if rep := smoke(ctx, pool, m, opts); rep != nil {
		rep.Elapsed = time.Since(start)
		return rep, m
	}
	rep := validate.Run(ctx, pool, m, opts)
	rep.Elapsed = time.Since(start)
	return rep, m
}

// smoke returns a failing report, or nil when the module passed.
func smoke(ctx context.Context, ex env.Executor, m *env.Module, opts validate.Options) *validate.Report {
	var tasks []env.Task
	lim := validate.Limits(opts) // the same budgets as the full validation
	for _, d := range []int{m.MinDifficulty, m.MaxDifficulty} {
		tasks = append(tasks, env.Task{Env: m.Name, Seed: 0, Difficulty: d, Render: true, VerifySolution: m.HasSolve, Answers: []string{"", "0"}, Limits: &lim})
	}
	res := ex.Run(ctx, tasks)
	rep := &validate.Report{Env: m.Name, File: m.File, Hash: m.Hash, Instances: len(tasks)}
	rep.Checks = append(rep.Checks, validate.Check{Name: validate.CheckLoad, OK: true})
	add := func(name string, e *env.Error, where string) {
		for i := range rep.Checks {
			if rep.Checks[i].Name == name {
				rep.Checks[i].Failures = append(rep.Checks[i].Failures, fmt.Sprintf("%s: %v", where, e))
				return
			}
		}
		rep.Checks = append(rep.Checks, validate.Check{Name: name, Detail: "quick check before the full validation",
			Line: e.Line, Failures: []string{fmt.Sprintf("%s: %v", where, e)}})
	}
	isLimit := func(e *env.Error) bool { return e != nil && e.Kind == env.FailLimit }
	for i, r := range res {
		where := fmt.Sprintf("seed 0, difficulty %d", tasks[i].Difficulty)
		switch {
		case isLimit(r.Err):
			add(validate.CheckBudget, r.Err, where)
		case r.SolutionScore != nil && isLimit(r.SolutionScore.Err):
			add(validate.CheckBudget, r.SolutionScore.Err, where)
		case r.Err != nil:
			add(validate.CheckGenerate, r.Err, where)
		case r.SolutionScore != nil && r.SolutionScore.Err != nil:
			add(validate.CheckSolve, r.SolutionScore.Err, where)
		default:
			for _, s := range r.Scores {
				if isLimit(s.Err) {
					add(validate.CheckBudget, s.Err, where+", a junk answer")
					break
				}
				if s.Err != nil {
					add(validate.CheckNoRaise, s.Err, where+", a junk answer")
					break
				}
			}
		}
	}
	if len(rep.Checks) == 1 {
		return nil
	}
	return rep
}

// RepairPrompt is the message that asks the model to fix the failing
// checks: each with its detail, the first failures, and the source line it
// points at.
func RepairPrompt(code string, rep *validate.Report) string {
	lines := strings.Split(code, "\n")
	var b strings.Builder
	b.WriteString("The module failed these validation checks:\n")
	for _, c := range rep.Failed() {
		fmt.Fprintf(&b, "\n- %s", c.Name)
		if c.Detail != "" {
			fmt.Fprintf(&b, ": %s", c.Detail)
		}
		b.WriteString("\n")
		if c.Line > 0 && c.Line <= len(lines) {
			fmt.Fprintf(&b, "  at line %d: %s\n", c.Line, strings.TrimSpace(lines[c.Line-1]))
		}
		for _, f := range c.Failures {
			fmt.Fprintf(&b, "  %s\n", f)
		}
	}
	b.WriteString("\nFix every problem (remember that Starlark is not Python) and reply with the whole corrected module in one ```python fenced block.")
	return b.String()
}

// Repair asks for a corrected module: the conversation is the
// implementation request, the module as the model last wrote it, and the
// failing checks.
func Repair(ctx context.Context, p llm.Provider, idea Idea, system, firstUser, code string, rep *validate.Report, round int, opts CallOptions) (string, Exchange, error) {
	msgs := []llm.Message{
		{Role: llm.RoleUser, Content: firstUser},
		{Role: llm.RoleAssistant, Content: "```python\n" + code + "```"},
		{Role: llm.RoleUser, Content: RepairPrompt(code, rep)},
	}
	ex, err := call(ctx, p, StageRepair, idea.Name, system, msgs, opts)
	ex.Round = round
	if err != nil {
		return "", ex, err
	}
	fixed, err := ExtractCode(ex.Reply)
	return fixed, ex, err
}
