package library

import (
	"context"
	"fmt"
	"strings"
	"time"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/storage"
)

// Select picks the environments a job runs on from the library's entries.
//
// Named ones are taken whatever their status (each must exist); one that a
// person rejected, or that fails validation, is taken with a warning that
// names it. With none named, the usable ones (Usable: accepted, built-ins
// counting as accepted unless the store marks them otherwise) among
// defaults are taken, and each default left out is warned about; with no
// defaults either, every usable entry. Choosing nothing is an error.
func Select(entries []Entry, named, defaults []string) ([]Entry, []string, error) {
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
	}
	var chosen []Entry
	var warnings []string
	seen := map[string]bool{}
	switch {
	case len(named) > 0:
		for _, n := range named {
			n = strings.TrimSpace(n)
			e, ok := byName[n]
			if !ok {
				return nil, nil, fmt.Errorf("unknown environment %q: %w (see `resyn envs list`)", n, ErrUnknown)
			}
			if seen[n] {
				return nil, nil, fmt.Errorf("environment %q named twice", n)
			}
			seen[n] = true
			if w := unusableWhy(e); w != "" {
				warnings = append(warnings, fmt.Sprintf("%s %s; training on it because it was named", n, w))
			}
			chosen = append(chosen, e)
		}
	case len(defaults) > 0:
		for _, n := range defaults {
			e, ok := byName[n]
			if !ok {
				warnings = append(warnings, fmt.Sprintf("%s is not in the library; left out", n))
				continue
			}
			if w := unusableWhy(e); w != "" {
				warnings = append(warnings, fmt.Sprintf("%s %s; left out (name it to use it anyway)", n, w))
				continue
			}
			chosen = append(chosen, e)
		}
	default:
		for _, e := range entries {
			if e.Usable() {
				chosen = append(chosen, e)
			}
		}
	}
	if len(chosen) == 0 {
		return nil, warnings, fmt.Errorf("no accepted environment to use: accept some (resyn envs accept NAME) or name them")
	}
	return chosen, warnings, nil
}

// unusableWhy says why an entry is not used by default ("" when it is).
func unusableWhy(e Entry) string {
	switch {
	case e.Status == storage.StatusRejected:
		return "is rejected in the library"
	case e.Status != storage.StatusAccepted:
		return fmt.Sprintf("is a %s, not accepted", e.Status)
	case e.Validation == "fail":
		return "fails validation"
	}
	return ""
}

// ExecutorOptions tune NewExecutor.
type ExecutorOptions struct {
	// Workers: processes of the sandbox pool, or goroutines of the
	// in-process executor; 0 is one per core.
	Workers int
	// Limits per call; zero is env.DefaultLimits.
	Limits env.Limits
	// Sandbox always runs the environments in a worker pool, even when
	// every one is built in (a server that may load more later).
	Sandbox bool
}

// NewExecutor returns the executor that runs the chosen environments, with
// their modules in order: the in-process executor when every one is an
// unmodified built-in, else a sandbox pool (stored environments may have
// been written by an LLM: their code never runs in this process) holding
// every built-in and the chosen stored ones. The caller closes it.
func NewExecutor(ctx context.Context, chosen []Entry, o ExecutorOptions) (env.Executor, []*env.Module, error) {
	builtins, err := envlib.Modules()
	if err != nil {
		return nil, nil, err
	}
	lim := o.Limits
	if lim == (env.Limits{}) {
		lim = env.DefaultLimits()
	}
	sandbox := o.Sandbox
	for _, e := range chosen {
		sandbox = sandbox || e.Stored
	}
	if !sandbox {
		ex := env.NewLocal(lim, o.Workers)
		for _, m := range builtins {
			ex.Register(m)
		}
		mods, err := Register(ctx, nil, chosen, builtins)
		if err != nil {
			ex.Close()
			return nil, nil, err
		}
		return ex, mods, nil
	}
	p, mods, err := NewPool(ctx, chosen, ExecutorOptions{Workers: o.Workers, Limits: lim})
	if err != nil {
		return nil, nil, err
	}
	return p, mods, nil
}

// NewPool starts a sandbox pool holding every built-in and the chosen
// entries (a stored one's top level runs in a worker, never in this
// process), and returns the chosen entries' modules in order. The caller
// closes it.
func NewPool(ctx context.Context, chosen []Entry, o ExecutorOptions) (*env.Pool, []*env.Module, error) {
	builtins, err := envlib.Modules()
	if err != nil {
		return nil, nil, err
	}
	p, err := env.NewPool(env.PoolOptions{Workers: o.Workers, Limits: o.Limits})
	if err != nil {
		return nil, nil, err
	}
	for _, m := range builtins {
		p.Register(m)
	}
	mods, err := Register(ctx, p, chosen, builtins)
	if err != nil {
		p.Close()
		return nil, nil, err
	}
	return p, mods, nil
}

// OpenServePool is NewServePool on the library of the store at path (read
// only; a missing store is the built-ins alone), or with stored false on
// the built-ins alone.
func OpenServePool(ctx context.Context, path string, stored bool, names string, workers int, itemTimeout time.Duration) (*env.Pool, []*env.Module, error) {
	var entries []Entry
	list := func(l *Library) (err error) {
		entries, err = l.List()
		return err
	}
	var err error
	if stored {
		err = WithStore(path, true, list)
	} else {
		err = list(New(nil))
	}
	if err != nil {
		return nil, nil, err
	}
	return NewServePool(ctx, entries, stored, names, workers, itemTimeout)
}

// NewServePool starts the reward server's sandbox (resyn serve, resyn
// bench serve) with every built-in registered and each call under
// itemTimeout of wall-clock time (0: the default limits'); with stored,
// also the entries named in names (comma-separated), or with no names
// every usable one (accepted, not failing validation). It returns the
// modules to serve, or an error naming an unknown environment.
func NewServePool(ctx context.Context, entries []Entry, stored bool, names string, workers int, itemTimeout time.Duration) (*env.Pool, []*env.Module, error) {
	lim := env.DefaultLimits()
	if itemTimeout > 0 {
		lim.Timeout = itemTimeout
	}
	want := map[string]bool{}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	named := len(want) > 0 // the names are deleted from want as they are found
	var chosen []Entry
	for _, e := range entries {
		if !stored || (!named && e.Usable()) || want[e.Name] {
			chosen = append(chosen, e)
			delete(want, e.Name)
		}
	}
	for n := range want {
		return nil, nil, fmt.Errorf("unknown environment %q (see `resyn envs list`)", n)
	}
	return NewPool(ctx, chosen, ExecutorOptions{Workers: workers, Limits: lim})
}
