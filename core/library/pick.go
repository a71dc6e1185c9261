package library

import (
	"context"
	"fmt"
	"strings"

	"resyn/core/env"
	"resyn/storage"
)

// Pick chooses the environments a command-line job names from the
// library's entries: all means every usable one (accepted and not failing
// validation); names (comma-separated) picks by name whatever the status;
// with neither and anyStored, every environment that is not rejected (for
// scoring files that may name any of them). Unlike Select it warns about
// nothing: the command names what it runs.
func Pick(entries []Entry, names string, all, anyStored bool) ([]Entry, error) {
	var chosen []Entry
	switch {
	case all:
		for _, e := range entries {
			if e.Usable() {
				chosen = append(chosen, e)
			}
		}
	case names != "":
		byName := map[string]Entry{}
		for _, e := range entries {
			byName[e.Name] = e
		}
		for _, n := range strings.Split(names, ",") {
			n = strings.TrimSpace(n)
			e, ok := byName[n]
			if !ok {
				return nil, fmt.Errorf("unknown environment %q (see `resyn envs list`)", n)
			}
			chosen = append(chosen, e)
		}
	case anyStored:
		for _, e := range entries {
			if e.Status != storage.StatusRejected {
				chosen = append(chosen, e)
			}
		}
	default:
		return nil, fmt.Errorf("name environments with --env A,B or use --all (see `resyn envs list`)")
	}
	return chosen, nil
}

// WithStore runs fn on the library over the store at path
// (storage.OpenExisting: readOnly shares the file with other readers and
// tolerates its absence), closing the store after. Other resyn processes
// using the store at the same time are no obstacle: each takes its turn
// between their transactions.
func WithStore(path string, readOnly bool, fn func(*Library) error) error {
	db, err := storage.OpenExisting(path, readOnly)
	if err != nil {
		return err
	}
	if db != nil {
		defer db.Close()
	}
	return fn(New(db))
}

// PickPool starts a sandbox pool (NewPool) holding the environments Pick
// chooses from the library over the store at path, and returns their
// modules. The store is open only while the list is read.
func PickPool(ctx context.Context, path string, workers int, names string, all, anyStored bool) (*env.Pool, []*env.Module, error) {
	var chosen []Entry
	if err := WithStore(path, true, func(l *Library) error {
		entries, err := l.List()
		if err == nil {
			chosen, err = Pick(entries, names, all, anyStored)
		}
		return err
	}); err != nil {
		return nil, nil, err
	}
	return NewPool(ctx, chosen, ExecutorOptions{Workers: workers})
}
