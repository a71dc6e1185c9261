package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"resyn/core/dataset"
	"resyn/core/env"
)

func init() {
	register(newGenCmd)
	register(newScoreCmd)
}

// flagAtLeast refuses a numeric flag below its least sensible value, with a
// message naming the flag, the value and what it means; cobra only checks
// that the value parses. what is the lower bound in words ("at least 1").
func flagAtLeast(name string, v, least int, what string) error {
	if v < least {
		return fmt.Errorf("--%s %d: must be %s", name, v, what)
	}
	return nil
}

// checkFlags returns the first error of checks, so a command can validate
// all its flags in one statement before doing any work.
func checkFlags(checks ...error) error {
	for _, err := range checks {
		if err != nil {
			return err
		}
	}
	return nil
}

// createOut opens --out (or stdout for "" and "-") and returns a closer that
// reports write errors. Callers flush w as their work produces output (a
// chunk at a time), so that a reader of the file or pipe sees rows as they
// come and an interrupted run leaves only complete lines.
func createOut(path string) (*bufio.Writer, func() error, error) {
	if path == "" || path == "-" {
		w := bufio.NewWriterSize(os.Stdout, 1<<20)
		return w, w.Flush, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return w, func() error {
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// outName names --out in messages.
func outName(path string) string {
	if path == "" || path == "-" {
		return "stdout"
	}
	return path
}

// progressLine shows a long job's progress (dataset.Progress: count, rate,
// time left) on one line of stderr, rewritten in place at most five times a
// second; other messages go on lines of their own above it.
type progressLine struct {
	verb    string
	open    bool
	width   int
	shown   time.Time
	pending *dataset.Progress // the latest, when it was not shown
}

func (p *progressLine) show(pr dataset.Progress) {
	if time.Since(p.shown) < 200*time.Millisecond {
		p.pending = &pr
		return
	}
	p.pending, p.shown = nil, time.Now()
	s := pr.Line(p.verb)
	pad := max(0, p.width-len(s))
	p.width = len(s)
	fmt.Fprintf(os.Stderr, "\r%s%*s", s, pad, "")
	p.open = true
}

// printf prints a message on a line of its own.
func (p *progressLine) printf(format string, args ...any) {
	if p.open {
		fmt.Fprintln(os.Stderr)
		p.open = false
	}
	fmt.Fprintf(os.Stderr, format, args...)
}

// end shows the last progress and closes the line with the time taken.
func (p *progressLine) end(d time.Duration) {
	if p.pending != nil {
		p.shown = time.Time{}
		p.show(*p.pending)
	}
	if p.open {
		fmt.Fprintf(os.Stderr, " in %v\n", d.Round(time.Millisecond))
		p.open = false
	}
}

// interrupted is the exit of a command stopped by SIGINT or SIGTERM, after
// it has said what it left behind.
var interrupted = exitError{code: 130}

func newGenCmd() *cobra.Command {
	var envs, diff, out string
	var all, solve bool
	var n, workers int
	var seed int64
	c := &cobra.Command{
		Use:   "gen",
		Short: "Generate instances as JSONL",
		Long: `Writes N instances of each chosen environment as JSON lines with env, seed,
difficulty, prompt and state (and solve()'s answer with --solve). Seeds run from
--seed upwards; difficulties cycle through the --difficulty range, clamped to
each environment's own (an environment whose range the request misses entirely
uses its own whole range). --n must be at least 1 and --workers 0 (one per
core) or more; other values are refused before any work. The output is the same on every run and machine;
generation runs in parallel in sandboxed workers, with progress (rate, time
left) on stderr.

Rows are written as they are produced, a chunk of 1024 at a time, and memory
does not grow with --n. SIGINT or SIGTERM stops within about a second: what
was written is whole rows (the last line complete), the message says how
many, and the exit status is 130.`,
		Example: `  resyn gen --all --n 100 --difficulty 1-10 --seed 0 --out train.jsonl
  resyn gen --env maze,knapsack --n 5 --difficulty 3 | jq .prompt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFlags(
				flagAtLeast("n", n, 1, "at least 1 (instances per environment)"),
				flagAtLeast("workers", workers, 0, "0 (one per core) or more"),
			); err != nil {
				return err
			}
			if seed > math.MaxInt64-int64(n)+1 {
				return fmt.Errorf("--seed %d with --n %d: the last seed would overflow a 64-bit integer", seed, n)
			}
			if envs == "" && !all {
				return fmt.Errorf("name the environments with --env A,B or take every one with --all")
			}
			lo, hi, err := dataset.ParseRange(diff)
			if err != nil {
				return fmt.Errorf("--difficulty: %w", err)
			}
			p, chosen, err := libraryPool(cmd.Context(), workers, envs, all, false)
			if err != nil {
				return err
			}
			defer p.Close()
			spec := dataset.Spec{Envs: chosen, N: n, Seed: seed, MinDifficulty: lo, MaxDifficulty: hi, Solve: solve}
			if err := spec.Check(); err != nil {
				return fmt.Errorf("--n %d: %w", n, err)
			}
			w, closeOut, err := createOut(out)
			if err != nil {
				return err
			}
			enc := dataset.NewEncoder(w)
			start := time.Now()
			rows := 0
			pl := &progressLine{verb: "generated"}
			err = spec.Rows(cmd.Context(), p,
				func(r dataset.Row) error { rows++; return enc.Encode(r) },
				func(t env.Task, e *env.Error) {
					pl.printf("skipped %s seed %d difficulty %d: %s\n", t.Env, t.Seed, t.Difficulty, dataset.CapText(e.Error(), dataset.MaxErrorBytes))
				},
				func(pr dataset.Progress) {
					if err := w.Flush(); err == nil { // rows out as they come
						pl.show(pr)
					}
				})
			pl.end(time.Since(start))
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if errors.Is(err, context.Canceled) {
				pl.printf("resyn gen: interrupted; %s holds the first %d rows, each a complete line\n", outName(out), rows)
				return interrupted
			}
			return err
		},
	}
	c.Flags().StringVar(&envs, "env", "", "comma-separated environment names")
	c.Flags().BoolVar(&all, "all", false, "every environment")
	c.Flags().IntVar(&n, "n", 10, "instances per environment")
	c.Flags().StringVar(&diff, "difficulty", "1-10", "difficulty level or range LO-HI")
	c.Flags().Int64Var(&seed, "seed", 0, "first seed")
	c.Flags().StringVar(&out, "out", "", "output file (default stdout)")
	c.Flags().BoolVar(&solve, "solve", false, "include the reference answer")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	return c
}

func newScoreCmd() *cobra.Command {
	var in, out string
	var workers int
	var asJSON bool
	c := &cobra.Command{
		Use:   "score",
		Short: "Score completions with the environments' verifiers",
		Long: `Reads JSON lines with env, seed, difficulty and completion (and optionally the
instance's state) and writes one reward record per line: the input line number,
kind (ok, format, env_error, timeout), score and the extracted answer. The
answer is the text inside the last <answer>…</answer> of the completion; none
is a format failure with score 0. A summary per environment goes to stderr (or
to stdout as JSON with --json and --out).

env, seed, difficulty and completion are all required: there are no defaults,
since the instance depends on env, seed and difficulty together. Other fields
are ignored, so resyn gen's lines with a "completion" added score as they are.
A malformed line (not a JSON object, a field missing or of the wrong type, or
longer than 16 MiB) is reported on stderr with its line number and skipped;
the rest is still scored, and the exit status is then 1. Blank lines are
ignored.

Lines are read and scored in chunks (4096 lines or 64 MiB of completions)
and the records written as each chunk is done, so memory does not grow with
the input. Progress (rate; time left when --in is a file) goes to stderr.
SIGINT or SIGTERM stops within about a second: --out then holds the records
of the chunks finished, each a complete line, and the exit status is 130.`,
		Example: `  resyn score --in completions.jsonl --out rewards.jsonl
  echo '{"env":"graph_coloring","seed":1,"difficulty":2,"completion":"<answer>1 2 3</answer>"}' | resyn score --in -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := flagAtLeast("workers", workers, 0, "0 (one per core) or more"); err != nil {
				return err
			}
			var r io.Reader = os.Stdin
			if in != "" && in != "-" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f // Score reads its size for the time left
			} else if in == "" {
				return fmt.Errorf("--in is required (use --in - for stdin)")
			}
			p, mods, err := libraryPool(cmd.Context(), workers, "", false, true)
			if err != nil {
				return err
			}
			defer p.Close()
			w, closeOut, err := createOut(out)
			if err != nil {
				return err
			}
			bad := 0
			start := time.Now()
			pl := &progressLine{verb: "scored"}
			scored := 0
			sums, err := dataset.Score(cmd.Context(), dataset.WithHashes(p, mods), r, w,
				func(e dataset.LineError) {
					bad++
					pl.printf("skipped %s\n", dataset.CapText(e.Error(), dataset.MaxErrorBytes))
				},
				func(pr dataset.Progress) {
					scored = pr.Done
					if err := w.Flush(); err == nil { // records out as they come
						pl.show(pr)
					}
				})
			pl.end(time.Since(start))
			if cerr := closeOut(); err == nil {
				err = cerr
			}
			if errors.Is(err, context.Canceled) {
				pl.printf("resyn score: interrupted; %s holds the records of the first %d scored lines, each a complete line\n", outName(out), scored)
				return interrupted
			}
			if err != nil {
				return err
			}
			if asJSON && out != "" && out != "-" {
				return writeJSON(sums)
			}
			tw := tabwriter.NewWriter(os.Stderr, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "ENV\tN\tMEAN\tPASS\tOK\tFORMAT\tENV_ERROR\tTIMEOUT\t")
			for _, s := range sums {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%d\t%d\t%d\t%d\t%d\t\n", s.Env, s.N, s.MeanScore, s.Pass, s.OK, s.Format, s.EnvError, s.Timeout)
			}
			tw.Flush()
			if bad > 0 {
				// The good lines are scored and written; the exit status
				// says that the input was not all good, so that a pipeline
				// does not go on with a silently shorter file.
				fmt.Fprintf(os.Stderr, "resyn: %d malformed line(s) skipped (see above); the other lines were scored\n", bad)
				return exitError{code: 1}
			}
			return nil
		},
	}
	c.Flags().StringVar(&in, "in", "", "completions JSONL (- for stdin)")
	c.Flags().StringVar(&out, "out", "", "rewards JSONL (default stdout)")
	c.Flags().IntVar(&workers, "workers", 0, "worker processes (default: one per core)")
	c.Flags().BoolVar(&asJSON, "json", false, "with --out: print the per-environment summary as JSON on stdout")
	return c
}
