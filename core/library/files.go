package library

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"resyn/core/env"
	"resyn/core/validate"
)

// AddFiles adds each file as `resyn envs add` does (Add, validated in a
// sandbox pool of its own), saying on log what became of it, and with
// reports also each validation report as text. It returns the reports and
// how many files failed; the error is one that stops the run (a file that
// cannot be read, a pool that does not start).
func (l *Library) AddFiles(ctx context.Context, files []string, opts AddOptions, log io.Writer, reports bool) ([]*validate.Report, int, error) {
	p, err := env.NewPool(env.PoolOptions{})
	if err != nil {
		return nil, 0, err
	}
	defer p.Close()
	failed := 0
	var reps []*validate.Report
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return reps, failed, err
		}
		e, rep, err := l.Add(ctx, p, f, src, opts)
		if rep != nil {
			reps = append(reps, rep)
			if reports {
				validate.WriteText(log, rep)
			}
		}
		switch {
		case err != nil:
			failed++
			fmt.Fprintf(log, "%v\n", err)
			if e.Stored {
				fmt.Fprintf(log, "stored %s as a candidate (revision %d)\n", e.Name, e.Revision)
			}
		default:
			fmt.Fprintf(log, "stored %s as a candidate (revision %d); `resyn envs accept %s` puts it in use\n", e.Name, e.Revision, e.Name)
		}
	}
	return reps, failed, nil
}

// Editor is the program a person edits a source in, with the terminal it
// runs on.
type Editor struct {
	Command        string // a shell command; the file is its last argument
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// EditorFromEnv is $VISUAL, else $EDITOR, else vi, on this process's
// terminal.
func EditorFromEnv() Editor {
	cmd := os.Getenv("VISUAL")
	if cmd == "" {
		cmd = os.Getenv("EDITOR")
	}
	if cmd == "" {
		cmd = "vi"
	}
	return Editor{Command: cmd, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
}

// EditSource is `resyn envs edit`: it writes name's current source to a
// temporary file, runs ed on it and, when the file changed, stores it as
// the next revision (Edit, validated in a one-worker pool), printing the report and the
// outcome on ed.Stderr. The file is removed only once nothing typed can be
// lost: an editor failure or an edit that is not stored leaves it, and the
// error says where.
func (l *Library) EditSource(ctx context.Context, name string, ed Editor, opts AddOptions) error {
	p, err := env.NewPool(env.PoolOptions{Workers: 1})
	if err != nil {
		return err
	}
	defer p.Close()
	e, err := l.Get(name)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "resyn-edit-")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, e.Name+".star")
	if err := os.WriteFile(path, []byte(e.Source), 0o600); err != nil {
		return err
	}
	c := exec.CommandContext(ctx, "sh", "-c", ed.Command+` "$1"`, "editor", path)
	c.Stdin, c.Stdout, c.Stderr = ed.Stdin, ed.Stdout, ed.Stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("editor %q: %w (your file is kept at %s)", ed.Command, err, path)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if string(src) == e.Source {
		os.RemoveAll(dir)
		fmt.Fprintln(ed.Stderr, "no change")
		return nil
	}
	ne, rep, err := l.Edit(ctx, p, e.Name, src, opts)
	if rep != nil {
		validate.WriteText(ed.Stderr, rep)
	}
	if err != nil && !ne.Stored {
		return fmt.Errorf("%w (your edit is kept at %s)", err, path)
	}
	os.RemoveAll(dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(ed.Stderr, "%s: revision %d stored\n", ne.Name, ne.Revision)
	return nil
}
