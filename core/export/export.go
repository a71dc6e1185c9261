package export

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"resyn/core/dataset"
	"resyn/core/env"
)

// Record is one exported instance, before it takes a format's shape.
type Record struct {
	Index       int
	Split       string
	Env         string
	Seed        int64
	Difficulty  int
	Ability     string // the environment's first tag ("reasoning" when it has none)
	Prompt      string
	GroundTruth GroundTruth
}

// DataSource is the value of verl's data_source column for an environment.
func DataSource(envName string) string { return "resyn/" + envName }

// EnvFromDataSource is the inverse of DataSource; ok is false for a data
// source that resyn did not write.
func EnvFromDataSource(ds string) (string, bool) {
	name, ok := strings.CutPrefix(ds, "resyn/")
	return name, ok && name != ""
}

// Generate runs the plan of opts through ex (dataset.Generate: a chunk at a
// time, in constant memory) and calls emit with each Record in plan order.
// An instance whose environment fails is passed to onErr and skipped; the
// export goes on. It returns how many records were emitted.
func Generate(ctx context.Context, ex env.Executor, opts Options, emit func(Record) error, onErr func(Item, *env.Error), progress func(dataset.Progress)) (int, error) {
	plan, err := opts.Plan()
	if err != nil {
		return 0, err
	}
	emitted := 0
	err = dataset.Generate(ctx, ex, plan,
		func(i int, _ env.Task, r env.Result) error {
			it := plan.Item(i)
			rec := Record{Index: it.Index, Split: it.Split, Env: it.Env.Name, Seed: it.Seed, Difficulty: it.Difficulty,
				Ability: ability(it.Env), Prompt: r.Prompt,
				GroundTruth: GroundTruth{Env: it.Env.Name, Seed: it.Seed, Difficulty: it.Difficulty, Hash: it.Env.Hash, State: r.State}}
			if err := emit(rec); err != nil {
				return err
			}
			emitted++
			return nil
		},
		func(i int, _ env.Task, e *env.Error) {
			if onErr != nil {
				onErr(plan.Item(i), e)
			}
		}, progress)
	return emitted, err
}

func ability(m *env.Module) string {
	if len(m.Tags) > 0 && m.Tags[0] != "" {
		return m.Tags[0]
	}
	return "reasoning"
}

// File is one file an export wrote.
type File struct {
	Path  string `json:"path"`
	Split string `json:"split"` // "train", "test", or "" for a file holding both
	Rows  int    `json:"rows"`
}

// Summary is what Export did.
type Summary struct {
	Files  []File `json:"files"`
	Rows   int    `json:"rows"`
	Failed int    `json:"failed"`
}

// Export writes the dataset of opts in format to out. When out ends in the
// format's extension (.parquet, .jsonl) it is one file holding both splits
// (each row says its split); otherwise out is a directory that gets
// train.<ext> and, when TestFraction > 0, test.<ext>. Files are written
// under a temporary name as the rows are produced and renamed when
// complete; when ctx is cancelled (or anything fails) the temporary files
// are removed and no file of the dataset is left half-written. Memory does
// not grow with N (Plan, dataset.Generate; Parquet row groups are cut at
// about 32 MiB).
func Export(ctx context.Context, ex env.Executor, opts Options, format Format, out string, onErr func(Item, *env.Error), progress func(dataset.Progress)) (Summary, error) {
	ext, err := format.Ext()
	if err != nil {
		return Summary{}, err
	}
	if _, err := opts.Plan(); err != nil {
		return Summary{}, err
	}
	o := &outputs{format: format}
	route := map[string]*target{}
	if strings.HasSuffix(out, ext) {
		t, err := o.open(out, "")
		if err != nil {
			return Summary{}, err
		}
		route[SplitTrain], route[SplitTest] = t, t
	} else {
		t, err := o.open(filepath.Join(out, SplitTrain+ext), SplitTrain)
		if err != nil {
			return Summary{}, err
		}
		route[SplitTrain], route[SplitTest] = t, t
		if opts.TestFraction > 0 {
			if route[SplitTest], err = o.open(filepath.Join(out, SplitTest+ext), SplitTest); err != nil {
				o.cleanup()
				return Summary{}, err
			}
		}
	}
	var sum Summary
	emit := func(r Record) error {
		t := route[r.Split]
		t.file.Rows++
		return t.writer.Write(r)
	}
	_, err = Generate(ctx, ex, opts, emit, func(it Item, e *env.Error) {
		sum.Failed++
		if onErr != nil {
			onErr(it, e)
		}
	}, progress)
	if err != nil { // cancelled or failed: the partial files go, unfinished
		o.cleanup()
		return Summary{}, err
	}
	if sum.Files, err = o.commit(); err != nil {
		return Summary{}, err
	}
	for _, f := range sum.Files {
		sum.Rows += f.Rows
	}
	return sum, nil
}

// target is one file an export writes: a temporary file beside it until
// the export has finished.
type target struct {
	file   File
	tmp    *os.File
	writer Writer
}

// outputs are the files of one export, and the directories it made for
// them.
type outputs struct {
	format  Format
	targets []*target
	made    []string
}

func (o *outputs) open(path, split string) (*target, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		o.made = append(o.made, dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	w, err := NewWriter(o.format, f)
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	t := &target{file: File{Path: path, Split: split}, tmp: f, writer: w}
	o.targets = append(o.targets, t)
	return t, nil
}

// cleanup removes every temporary file, and the directories the export
// made when they are empty.
func (o *outputs) cleanup() {
	for _, t := range o.targets {
		t.tmp.Close()
		os.Remove(t.tmp.Name())
	}
	for _, dir := range o.made {
		os.Remove(dir) // only when empty: a directory this export made
	}
}

// commit finishes every file and moves it into place; on an error nothing
// is left behind.
func (o *outputs) commit() ([]File, error) {
	var err error
	for _, t := range o.targets {
		if cerr := t.writer.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", t.file.Path, cerr)
		}
		if cerr := t.tmp.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("writing %s: %w", t.file.Path, cerr)
		}
	}
	if err != nil {
		o.cleanup()
		return nil, err
	}
	var files []File
	for _, t := range o.targets {
		// CreateTemp makes 0600 files; a dataset is for the trainer's
		// users too, as os.Create would have made it.
		if err := os.Chmod(t.tmp.Name(), 0o644); err != nil {
			o.cleanup()
			return nil, err
		}
		if err := os.Rename(t.tmp.Name(), t.file.Path); err != nil {
			o.cleanup()
			return nil, err
		}
		files = append(files, t.file)
	}
	return files, nil
}
