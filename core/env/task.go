package env

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Task is one unit of work on one instance: generate (unless State is given),
// then optionally render, solve and verify answers. Batching the calls of one
// instance into one Task is what makes the worker pool fast.
type Task struct {
	Env        string          `json:"env"`
	Seed       int64           `json:"seed"`
	Difficulty int             `json:"difficulty"`
	State      json.RawMessage `json:"state,omitempty"` // when set, generate is skipped
	Render     bool            `json:"render,omitempty"`
	Solve      bool            `json:"solve,omitempty"`
	// VerifySolution scores solve()'s answer too (implies Solve).
	VerifySolution bool `json:"verify_solution,omitempty"`
	// Answers are extracted answers (not completions) to score.
	Answers []string `json:"answers,omitempty"`
	// Limits, when set, replace the executor's per-call limits for this
	// task (its memory cap, a property of the worker process, stays).
	// Validation uses them to run under budgets of its own.
	Limits *Limits `json:"limits,omitempty"`
}

// Result is what a Task produced. Err is the first failure of generate,
// render or solve; a verify failure is reported per answer in Scores.
type Result struct {
	State         json.RawMessage `json:"state,omitempty"`
	Prompt        string          `json:"prompt,omitempty"`
	Solution      string          `json:"solution,omitempty"`
	SolutionScore *Score          `json:"solution_score,omitempty"`
	Scores        []Score         `json:"scores,omitempty"`
	Err           *Error          `json:"err,omitempty"`
	Elapsed       time.Duration   `json:"elapsed"`
	// Steps is the Starlark execution steps the task took (host builtins'
	// work included): a measure of its work that, unlike Elapsed, does not
	// depend on the machine's load. Work splits it by function.
	Steps uint64 `json:"steps,omitempty"`
	Work  Work   `json:"work,omitzero"`
	// CPU is the CPU time the task took, measured in worker processes
	// (which run one task at a time); 0 in-process.
	CPU time.Duration `json:"cpu,omitempty"`
}

// Work is a task's steps by function: Verify is verify of the solution,
// Answers the verify calls of the task's answers together.
type Work struct {
	Generate uint64 `json:"generate,omitempty"`
	Render   uint64 `json:"render,omitempty"`
	Solve    uint64 `json:"solve,omitempty"`
	Verify   uint64 `json:"verify,omitempty"`
	Answers  uint64 `json:"answers,omitempty"`
}

// Total is the sum of the steps.
func (w Work) Total() uint64 { return w.Generate + w.Render + w.Solve + w.Verify + w.Answers }

// Score is verify's verdict on one answer.
type Score struct {
	Value float64 `json:"value"`
	Err   *Error  `json:"err,omitempty"`
}

// Executor runs Tasks against registered environments. The in-process Local
// executor is for trusted code (the built-ins, tests); Pool isolates hostile
// code in worker processes. Results come back in the order of the tasks.
type Executor interface {
	Register(m *Module)
	Run(ctx context.Context, tasks []Task) []Result
	Close() error
}

// limitsFor are the limits a task runs under on an executor with lim.
func limitsFor(t Task, lim Limits) Limits {
	if t.Limits == nil {
		return lim
	}
	l := *t.Limits
	l.MaxMemory = lim.MaxMemory
	return l
}

// runTask executes one task in this process with the module already resolved.
func runTask(m *Module, t Task, lim Limits) (r Result) {
	lim = limitsFor(t, lim)
	start := time.Now()
	defer func() { r.Elapsed, r.Steps = time.Since(start), r.Work.Total() }()
	fail := func(err error) Result {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Kind: FailRuntime, Env: m.Name, Msg: CapText(err.Error(), MaxErrorText)}
		}
		r.Err = e
		return r
	}
	state := t.State
	if state == nil {
		var err error
		if state, err = m.generate(t.Seed, t.Difficulty, lim, &r.Work.Generate); err != nil {
			return fail(err)
		}
	}
	r.State = state
	if t.Render {
		p, err := m.render(state, lim, &r.Work.Render)
		if err != nil {
			return fail(err)
		}
		r.Prompt = p
	}
	if t.Solve || t.VerifySolution {
		if !m.HasSolve {
			return fail(&Error{Kind: FailContract, Env: m.Name, Func: "solve", Msg: "the environment defines no solve(state)"})
		}
		s, err := m.solve(state, lim, &r.Work.Solve)
		if err != nil {
			return fail(err)
		}
		r.Solution = s
		if t.VerifySolution {
			sc := verifyOne(m, state, s, lim, &r.Work.Verify)
			r.SolutionScore = &sc
		}
	}
	if len(t.Answers) > 0 {
		r.Scores = make([]Score, len(t.Answers))
		for i, a := range t.Answers {
			r.Scores[i] = verifyOne(m, state, a, lim, &r.Work.Answers)
		}
	}
	return r
}

func verifyOne(m *Module, state json.RawMessage, answer string, lim Limits, steps *uint64) Score {
	v, err := m.verify(state, answer, lim, steps)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = &Error{Kind: FailRuntime, Env: m.Name, Func: "verify", Msg: CapText(err.Error(), MaxErrorText)}
		}
		return Score{Err: e}
	}
	return Score{Value: v}
}

// Local runs tasks in this process, in parallel across goroutines. It cannot
// contain code that allocates gigabytes at once or recurses without end:
// use it only for trusted environments.
type Local struct {
	Limits  Limits
	Workers int

	mu   sync.RWMutex
	mods map[string]*Module
}

// NewLocal returns an in-process executor using all cores.
func NewLocal(lim Limits, workers int) *Local {
	if workers <= 0 {
		workers = defaultWorkers()
	}
	return &Local{Limits: lim, Workers: workers, mods: map[string]*Module{}}
}

func (l *Local) Register(m *Module) {
	l.mu.Lock()
	l.mods[m.Name] = m
	l.mu.Unlock()
}

func (l *Local) module(name string) *Module {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.mods[name]
}

func (l *Local) Run(ctx context.Context, tasks []Task) []Result {
	out := make([]Result, len(tasks))
	parallel(ctx, len(tasks), l.Workers, func(i int) {
		m := l.module(tasks[i].Env)
		if m == nil {
			out[i] = Result{Err: unknownEnv(tasks[i].Env)}
			return
		}
		out[i] = runTask(m, tasks[i], l.Limits)
	})
	for i := range out {
		if out[i].Err == nil && out[i].State == nil && ctx.Err() != nil {
			out[i].Err = &Error{Kind: FailWorker, Env: tasks[i].Env, Msg: "cancelled: " + ctx.Err().Error()}
		}
	}
	return out
}

func (l *Local) Close() error { return nil }

func unknownEnv(name string) *Error {
	return &Error{Kind: FailUnknown, Env: name, Msg: fmt.Sprintf("no environment named %q", name)}
}

// parallel runs f(0..n-1) on up to workers goroutines, stopping early when
// ctx is cancelled.
func parallel(ctx context.Context, n, workers int, f func(i int)) {
	if workers > n {
		workers = n
	}
	var next int64 = -1
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				next++
				i := next
				mu.Unlock()
				if i >= int64(n) {
					return
				}
				f(int(i))
			}
		}()
	}
	wg.Wait()
}
