package synth

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"resyn/core/env"
	"resyn/core/validate"
	"resyn/llm"
)

// ValidateFiles validates each file as `resyn envs validate` does
// (ValidateFile, in a sandbox pool of its own), writing each report as
// text to text when it is not nil. It returns the reports and how many
// failed; the error is a file that cannot be read or a pool that does not
// start.
func ValidateFiles(ctx context.Context, files []string, seeds int, judge llm.Provider, text io.Writer) ([]*validate.Report, int, error) {
	p, err := env.NewPool(env.PoolOptions{})
	if err != nil {
		return nil, 0, err
	}
	defer p.Close()
	var reports []*validate.Report
	failed := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return reports, failed, err
		}
		r := ValidateFile(ctx, p, f, src, seeds, judge)
		reports = append(reports, r)
		if !r.OK {
			failed++
		}
		if text != nil {
			validate.WriteText(text, r)
		}
	}
	return reports, failed, nil
}

// ValidateFile validates one file with seeds seeds a level and, when judge
// is set and the checks pass, has the judge review it (Judge); a file that
// fails them gets a skipped judge check.
func ValidateFile(ctx context.Context, p *env.Pool, file string, src []byte, seeds int, judge llm.Provider) *validate.Report {
	start := time.Now()
	m, err := p.Load(ctx, file, src)
	if err != nil {
		return validate.LoadFailed(file, src, err, time.Since(start))
	}
	r := validate.Run(ctx, p, m, validate.Options{SeedsPerLevel: seeds})
	if judge != nil {
		if r.OK {
			j, err := Judge(ctx, judge, p, m, CallOptions{})
			AddJudgement(r, j, err)
		} else {
			r.Checks = append(r.Checks, validate.Check{Name: validate.CheckJudge, Skipped: true, Detail: "skipped: the other checks fail (the judge reviews what passes them)"})
		}
	}
	r.Elapsed = time.Since(start)
	return r
}

// JudgeProvider makes p, opened for --judge, the judge: demo (the built-in
// recording, which holds no judge replies) is refused, and record, when
// set, is the file its calls are appended to (llm.RecordToFile).
func JudgeProvider(p llm.Provider, demo bool, record string) (llm.Provider, error) {
	if demo {
		return nil, fmt.Errorf("--judge needs a model: name one with --provider and --model, or a recording of judge replies with --provider replay --replay FILE")
	}
	if record == "" {
		return p, nil
	}
	p, err := llm.RecordToFile(p, record)
	if err != nil {
		return nil, fmt.Errorf("--record: %w", err)
	}
	return p, nil
}
