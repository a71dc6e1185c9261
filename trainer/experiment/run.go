package experiment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"resyn/core/library"
	"resyn/core/textout"
	"resyn/storage"
	"resyn/trainer/grpo"
)

// Kind is the storage.Experiment kind of a diversity experiment.
const Kind = "diversity"

// Options say how to run an experiment: a new one (Design) or a stored
// one to go on with (Resume), and on what.
type Options struct {
	Design Design
	Resume uint64 // a stored experiment: its design, its finished runs kept
	Name   string // of a new experiment's record

	Store     *storage.DB
	StorePath string
	Out       string // each run's checkpoint directory goes under it (default: runs/<time> beside the store)
	Threads   int    // CPU threads of each run (default 1)
	Parallel  int    // runs at a time (default 1)
	Backend   string // grpo.Spec.Backend

	// Log receives a line as each run starts and ends; nil discards them.
	Log io.Writer
	// Progress, when set, is called after each run with the report so far
	// (from one goroutine at a time).
	Progress func(Report)
}

// Result is an experiment's record and its report.
type Result struct {
	ID     uint64
	Status storage.RunStatus
	Report Report
}

// Run runs every pending cell of the experiment, Parallel at a time, and
// records the report in the store after each. A cancelled context stops
// it after the runs in progress are abandoned (their training runs are
// recorded as stopped); the experiment is then "stopped", and Resume goes
// on from the cells that finished. A run that fails is recorded with its
// error and the others go on; the experiment then ends "failed".
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Store == nil {
		return Result{}, errors.New("an experiment is recorded in a store, and there is none")
	}
	rec, rep, hold, err := open(o)
	if err != nil {
		return Result{}, err
	}
	defer hold.Release()
	res := Result{ID: rec.ID, Report: rep}
	var mu sync.Mutex
	save := func(status storage.RunStatus, msg string) error {
		b, err := json.Marshal(res.Report)
		if err != nil {
			return err
		}
		rec.Report, rec.Status, rec.Error = b, status, msg
		if status != storage.RunRunning {
			rec.Finished = time.Now().UTC()
		}
		return o.Store.Update(func(tx *storage.Tx) error { return storage.PutExperiment(tx, &rec) })
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	var pending []int
	for i, c := range res.Report.Cells {
		if c.Status != CellDone {
			pending = append(pending, i)
		}
	}
	rate := textout.NewRate()
	rate.Observe(0)
	total, finished := len(pending), 0
	var saveErr error
	work := make(chan int)
	var wg sync.WaitGroup
	for range max(o.Parallel, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				mu.Lock()
				c := res.Report.Cells[i]
				mu.Unlock()
				fmt.Fprintf(log, "run K=%d seed %d on %d instances each of %v…\n", c.K, c.Seed, c.PerEnv, c.Envs)
				c = runCell(ctx, o, res.Report.Design, c, rec.ID)
				mu.Lock()
				if ctx.Err() != nil && c.Status != CellDone {
					mu.Unlock()
					continue // abandoned by the stop: it stays pending
				}
				res.Report.Cells[i] = c
				finished++
				fmt.Fprintf(log, "%s%s\n", cellLine(c), textout.Paren(rate.Line(finished, total, "runs")))
				if err := save(storage.RunRunning, ""); err != nil && saveErr == nil {
					saveErr = err
				}
				if o.Progress != nil {
					o.Progress(res.Report)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range pending {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if saveErr != nil {
		return res, fmt.Errorf("recording experiment %d: %w", rec.ID, saveErr)
	}
	return res, finish(ctx, &res, save)
}

// finish records how the experiment ended.
func finish(ctx context.Context, res *Result, save func(storage.RunStatus, string) error) error {
	done, failed := res.Report.Done()
	res.Status = storage.RunDone
	var err error
	switch {
	case ctx.Err() != nil:
		res.Status, err = storage.RunStopped, ctx.Err()
	case failed > 0:
		res.Status, err = storage.RunFailed, fmt.Errorf("%d of %d runs failed (the report gives their errors)", failed, failed+done)
	}
	msg := ""
	if err != nil && res.Status == storage.RunFailed {
		msg = err.Error()
	}
	// The record is written even when the context is cancelled: a stop
	// must say it stopped.
	if serr := save(res.Status, msg); serr != nil {
		return errors.Join(err, fmt.Errorf("recording experiment %d: %w", res.ID, serr))
	}
	return err
}

// open creates the experiment's record, or loads it to resume, and claims
// it for this process.
func open(o Options) (storage.Experiment, Report, *storage.RunHold, error) {
	var rec storage.Experiment
	var rep Report
	var hold *storage.RunHold
	err := o.Store.Update(func(tx *storage.Tx) error {
		var err error
		if o.Resume != 0 {
			if rec, err = storage.GetExperiment(tx, o.Resume); err != nil {
				return err
			}
			if rec.Kind != Kind {
				return fmt.Errorf("experiment %d is a %q experiment, not %s", rec.ID, rec.Kind, Kind)
			}
			if rec.Status == storage.RunDone {
				return fmt.Errorf("experiment %d is done: nothing to resume", rec.ID)
			}
			if err := json.Unmarshal(rec.Report, &rep); err != nil {
				return fmt.Errorf("experiment %d: its report: %w", rec.ID, err)
			}
		} else {
			if err := o.Design.Validate(); err != nil {
				return err
			}
			if err := known(tx, o.Design); err != nil {
				return err
			}
			rep = NewReport(o.Design)
			design, _ := json.Marshal(o.Design)
			report, _ := json.Marshal(rep)
			rec = storage.Experiment{Kind: Kind, Name: o.Name, Status: storage.RunRunning, Design: design, Report: report}
			if err := storage.CreateExperiment(tx, &rec); err != nil {
				return err
			}
		}
		rec.Status, rec.Error, rec.Finished = storage.RunRunning, "", time.Time{}
		if hold, err = tx.HoldRun(storage.RunExperiment, rec.ID); err != nil {
			return err
		}
		return storage.PutExperiment(tx, &rec)
	})
	if err != nil && hold != nil {
		hold.Release()
	}
	return rec, rep, hold, err
}

// known refuses a design that names an environment the library lacks.
func known(tx *storage.Tx, d Design) error {
	entries, err := library.New(nil).List()
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name] = true
	}
	stored, err := storage.ListEnvs(tx)
	if err != nil {
		return err
	}
	for _, e := range stored {
		have[e.Name] = true
	}
	for _, n := range append(slices.Clone(d.Envs), d.Holdout...) {
		if !have[n] {
			return fmt.Errorf("design: unknown environment %q (see resyn envs list)", n)
		}
	}
	return nil
}

// NewReport is the report of a design before any run: every cell pending.
func NewReport(d Design) Report {
	r := Report{Design: d}
	for _, seed := range d.Seeds {
		for _, k := range d.Ks {
			r.Cells = append(r.Cells, Cell{K: k, Seed: seed, Envs: d.Subset(seed, k), PerEnv: d.PerEnv(k), Status: CellPending})
		}
	}
	return r
}

// runCell trains and evaluates one cell's model.
func runCell(ctx context.Context, o Options, d Design, c Cell, expID uint64) Cell {
	start := time.Now()
	seed, sft, evalN, samples, per := c.Seed, d.SFTSteps, d.EvalN, d.EvalSamples, c.PerEnv
	threads := o.Threads
	if threads <= 0 {
		threads = 1
	}
	spec := grpo.Spec{Preset: d.Preset, ModelDir: d.Model, Envs: c.Envs, Holdout: d.Holdout,
		MinDifficulty: d.Levels[0], MaxDifficulty: d.Levels[1],
		Overrides: grpo.Overrides{Steps: d.Steps, SFTSteps: &sft, EvalN: &evalN, Seed: &seed, TrainInstances: &per, AnswerNLL: true,
			EvalSamples: &samples, NoInitEval: true},
		Backend: o.Backend, Threads: threads, EnvWorkers: 1,
		Store: o.Store, StorePath: o.StorePath,
		Name: fmt.Sprintf("diversity %d: K=%d seed %d", expID, c.K, c.Seed)}
	if o.Out != "" { // a directory of each run's own under it
		spec.Out = filepath.Join(o.Out, fmt.Sprintf("experiment%d-k%d-seed%d-%s", expID, c.K, c.Seed, time.Now().Format("20060102-150405")))
	}
	if d.Preset != "" {
		spec.TokenizerEnvs = d.Envs // one vocabulary for every subset; a model directory has its own
	}
	fail := func(err error) Cell {
		c.Status, c.Error, c.Elapsed = CellFailed, err.Error(), time.Since(start)
		return c
	}
	run, err := grpo.Setup(ctx, spec)
	if err != nil {
		return fail(err)
	}
	defer run.Close()
	sum, err := run.Run(ctx)
	c.RunID, c.Pool = sum.RunID, sum.TrainPool
	if err != nil {
		return fail(err)
	}
	final := sum.Final
	if final == nil {
		final = sum.AfterSFT
	}
	if final == nil || final.Holdout == nil {
		return fail(errors.New("the run ended without an evaluation of the held-out environments"))
	}
	c.InDist, c.Holdout = metricsOf(final), metricsOf(final.Holdout)
	if sum.AfterSFT != nil {
		c.HoldoutSFT = metricsOf(sum.AfterSFT.Holdout)
	}
	c.Status, c.Elapsed = CellDone, time.Since(start)
	return c
}

// cellLine is the line a finished cell prints.
func cellLine(c Cell) string {
	if c.Status != CellDone {
		return fmt.Sprintf("K=%d seed %d: failed: %s", c.K, c.Seed, c.Error)
	}
	nll := ""
	if c.Holdout.AnswerNLL != nil {
		nll = fmt.Sprintf(", answer NLL %.3f", *c.Holdout.AnswerNLL)
	}
	if c.Holdout.ContentNLL != nil {
		nll += fmt.Sprintf(" (%.3f without the tags)", *c.Holdout.ContentNLL)
	}
	return fmt.Sprintf("K=%d seed %d (run %d, %d instances): held-out reward %.3f [%.3f, %.3f]%s; in-distribution %.3f; %s",
		c.K, c.Seed, c.RunID, c.Total(), c.Holdout.Reward, c.Holdout.RewardCI[0], c.Holdout.RewardCI[1], nll, c.InDist.Reward,
		textout.RoughDuration(c.Elapsed))
}
