package synth

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"resyn/core/textout"
	"resyn/storage"
)

// TextPrinter renders a run's events as lines of text (resyn synth's
// stderr): one line per step of each candidate, and its verdict with the
// run's progress. It collects the verdicts for WriteSummary.
type TextPrinter struct {
	W        io.Writer
	Quiet    bool           // only the verdicts and the run's lines, not every step
	Rate     *textout.Rate  // candidates a minute and the time left; nil: a real clock
	RunID    uint64         // the run, once it has started
	Verdicts []VerdictEvent // every verdict printed
	n        int
	done     int // candidates finished, in this execution and before it
}

func (p *TextPrinter) line(index int, name, format string, args ...any) {
	fmt.Fprintf(p.W, "[%*d] %-24s %s\n", len(strconv.Itoa(p.n)), index+1, name, fmt.Sprintf(format, args...))
}

// Print renders one event; it is the callback of Pipeline.Run and Resume.
func (p *TextPrinter) Print(e Event) {
	switch e := e.(type) {
	case RunStartedEvent:
		p.started(e)
	case IdeateFailedEvent:
		fmt.Fprintf(p.W, "ideation (%s) failed: %v\n", e.Category, e.Err)
	case SeedIdeatedEvent:
		if e.Err == nil && (!p.Quiet || e.Done == e.Total || e.Done%max(1, e.Total/10) == 0) {
			fmt.Fprintf(p.W, "ideation %d/%d seeds: %s: %d proposals\n", e.Done, e.Total, e.Seed.Keyword, e.Proposed)
		}
	case IdeasReadyEvent:
		p.n = len(e.Ideas)
		fmt.Fprintf(p.W, "ideas: %d kept, %d dropped as duplicates\n", len(e.Ideas), len(e.Dropped))
		if !p.Quiet {
			for _, d := range e.Dropped {
				fmt.Fprintf(p.W, "  dropped %s (repeats %s, %.0f%% similar)\n", d.Idea.Name, d.SimilarTo, 100*d.Similarity)
			}
		}
	case VerdictEvent:
		p.verdict(e)
	default:
		if !p.Quiet {
			p.step(e)
		}
	}
}

// step renders the events of a candidate's steps (not shown when quiet).
func (p *TextPrinter) step(e Event) {
	switch e := e.(type) {
	case CandidateStartedEvent:
		p.line(e.Index, e.Idea.Name, "writing: %s", e.Idea.Description)
	case CodeWrittenEvent:
		what := "code"
		if e.Round > 0 {
			what = fmt.Sprintf("repaired code (round %d)", e.Round)
		}
		p.line(e.Index, e.Name, "%s: %d lines, %d tokens", what, e.Lines, e.Usage.Total())
	case ValidatedEvent:
		if e.OK {
			p.line(e.Index, e.Name, "valid (%d instances checked)", e.Report.Instances)
			return
		}
		var names []string
		for _, c := range e.Failed {
			s := c.Name
			if c.Line > 0 {
				s += fmt.Sprintf(" (line %d)", c.Line)
			}
			names = append(names, s)
		}
		p.line(e.Index, e.Name, "fails: %s", strings.Join(names, "; "))
	case RepairStartedEvent:
		p.line(e.Index, e.Name, "repair round %d", e.Round)
	case JudgedEvent:
		what := "no flaw found"
		switch {
		case e.Err != nil:
			what = "no verdict: " + e.Err.Error()
		case !e.Judgement.OK:
			what = strings.TrimPrefix(e.Judgement.Check().Failures[0], "problem: ")
		}
		p.line(e.Index, e.Name, "LLM judge: %s", what)
	case CalibratedEvent:
		var parts []string
		for _, l := range e.Calibration.Levels {
			parts = append(parts, fmt.Sprintf("d%d %d/%d", l.Difficulty, l.Passed, l.N))
		}
		p.line(e.Index, e.Name, "solver pass rates: %s %s", strings.Join(parts, ", "), strings.Join(e.Calibration.Flags, ","))
	}
}

// started prints the run's first line.
func (p *TextPrinter) started(e RunStartedEvent) {
	p.RunID, p.n, p.done = e.RunID, e.N, e.Finished
	if p.Rate == nil {
		p.Rate = textout.NewRate()
	}
	p.Rate.StartAt(e.Finished, p.Rate.Now())
	how := "started"
	if e.Resumed {
		how = fmt.Sprintf("resumed (%d candidates already finished)", e.Finished)
	}
	fmt.Fprintf(p.W, "synthesis run %d %s: %d candidates, writer %s", e.RunID, how, e.N, e.Provider)
	if e.Solver != "" {
		fmt.Fprintf(p.W, ", solver %s", e.Solver)
	}
	fmt.Fprintln(p.W)
}

// verdict prints a candidate's verdict with the run's progress.
func (p *TextPrinter) verdict(e VerdictEvent) {
	p.Verdicts = append(p.Verdicts, e)
	mark := "✗"
	if e.Outcome == OutcomeCandidate {
		mark = "✓"
	}
	msg := fmt.Sprintf("%s %s", mark, e.Outcome)
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	p.done++
	progress := fmt.Sprintf("%d/%d done", p.done, p.n)
	if p.Rate != nil {
		if r := p.Rate.Line(p.done, p.n, "candidates"); r != "" {
			progress += ", " + r
		}
	}
	p.line(e.Index, e.Name, "%s (%d repairs, %d tokens, %v) [%s]", msg, e.Repairs, e.Usage.Total(), e.Elapsed.Round(time.Millisecond), progress)
}

// WriteSummary is resyn synth's final table: the counts, then one row per
// candidate that reached a verdict in this execution (vs, sorted by index
// in place).
func WriteSummary(w io.Writer, runID uint64, s Summary, vs []VerdictEvent) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "run\t%d\n", runID)
	fmt.Fprintf(tw, "ideas\t%d kept, %d dropped as duplicates\n", s.Ideas, s.Dropped)
	fmt.Fprintf(tw, "implemented\t%d of %d finished\n", s.Implemented, s.Finished)
	var after []string
	for k, c := range s.ValidAfter {
		after = append(after, fmt.Sprintf("%d after %d repairs", c, k))
	}
	fmt.Fprintf(tw, "valid\t%d (%s)\n", s.Valid, strings.Join(after, ", "))
	fmt.Fprintf(tw, "stored\t%d candidates (%d flagged by calibration)\n", s.Stored, s.Flagged)
	rejected, rej := s.rejections()
	fmt.Fprintf(tw, "rejected\t%d (%s)\n", rejected, strings.Join(rej, ", "))
	if e := s.Outcomes[OutcomeError]; e > 0 {
		fmt.Fprintf(tw, "errors\t%d (LLM failures; `resyn synth --resume %d` retries them)\n", e, runID)
	}
	fmt.Fprintf(tw, "tokens\t%d in + %d out, %d calls\n", s.Usage.PromptTokens, s.Usage.CompletionTokens, s.Calls)
	fmt.Fprintf(tw, "time\t%v\n", s.Elapsed.Round(time.Millisecond))
	tw.Flush()
	if len(vs) == 0 {
		return
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Index < vs[j].Index })
	fmt.Fprintln(w)
	t := textout.NewTable("#", "NAME", "OUTCOME", "REPAIRS", "TOKENS", "WHY").Wrapping(5).RightAligned(0, 3, 4)
	for _, v := range vs {
		why := v.Reason
		if len(v.Flags) > 0 {
			why = strings.TrimSpace(why + " " + strings.Join(v.Flags, ","))
		}
		t.Row(fmt.Sprint(v.Index+1), v.Name, string(v.Outcome), fmt.Sprint(v.Repairs), fmt.Sprint(v.Usage.Total()), why)
	}
	t.WriteFitted(w)
	if s.Stored > 0 {
		fmt.Fprintln(w, "\nnext: `resyn envs list --status candidate`, then `resyn envs accept NAME`")
	}
}

// rejections are the candidates rejected, in all and as "OUTCOME COUNT"
// by outcome name.
func (s Summary) rejections() (int, []string) {
	var outs []string
	for o := range s.Outcomes {
		outs = append(outs, string(o))
	}
	sort.Strings(outs)
	rejected := 0
	var rej []string
	for _, o := range outs {
		if c := s.Outcomes[Outcome(o)]; Outcome(o).Rejected() && c > 0 {
			rejected += c
			rej = append(rej, fmt.Sprintf("%s %d", o, c))
		}
	}
	return rejected, rej
}

// RunsJSON is resyn synth runs --json's records: each run's config as
// this version names its fields, also for a run stored with older names
// (docs/json.md); never nil.
func RunsJSON(runs []storage.SynthRun) []storage.SynthRun {
	for i, r := range runs {
		var cfg Config
		if json.Unmarshal(r.Config, &cfg) == nil {
			if b, err := json.Marshal(cfg); err == nil {
				runs[i].Config = b
			}
		}
	}
	if runs == nil {
		runs = []storage.SynthRun{}
	}
	return runs
}

// WriteRuns is resyn synth runs' table, width columns wide, then a note
// on notes for every interrupted run saying how to continue it.
func WriteRuns(w, notes io.Writer, width int, runs []storage.SynthRun) error {
	t := textout.NewTable("RUN", "STATUS", "CREATED", "PROVIDER", "N", "CALLS", "TOKENS").Wrapping(3).RightAligned(0, 4, 5, 6)
	for _, r := range runs {
		var cfg Config
		_ = json.Unmarshal(r.Config, &cfg)
		t.Row(fmt.Sprint(r.ID), string(r.Status), r.Created.Local().Format("2006-01-02 15:04"),
			cfg.Provider, fmt.Sprint(cfg.N), fmt.Sprint(r.Usage.Requests), fmt.Sprint(r.Usage.InputTokens+r.Usage.OutputTokens))
	}
	if err := t.Write(w, width); err != nil {
		return err
	}
	for _, r := range runs {
		if r.Status == storage.RunInterrupted {
			fmt.Fprintf(notes, "run %d was interrupted (its process ended without recording an end); resyn synth --resume %d continues it\n", r.ID, r.ID)
		}
	}
	return nil
}

// Runs are the synthesis runs stored in db, oldest first.
func Runs(db *storage.DB) (runs []storage.SynthRun, err error) {
	err = db.View(func(tx *storage.Tx) error {
		runs, err = storage.ListSynthRuns(tx)
		return err
	})
	return runs, err
}
