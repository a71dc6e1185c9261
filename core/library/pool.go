package library

import (
	"context"
	"fmt"

	"resyn/core/env"
)

// Register loads the stored environments among entries into the pool (their
// top-level code runs in a worker, never in this process) so that tasks can
// name them; built-ins without a stored record are assumed registered
// already. It returns the modules of all entries, in order: stored ones as
// the pool loaded them, built-ins from builtins (by name).
func Register(ctx context.Context, pool *env.Pool, entries []Entry, builtins []*env.Module) ([]*env.Module, error) {
	byName := map[string]*env.Module{}
	for _, m := range builtins {
		byName[m.Name] = m
	}
	out := make([]*env.Module, 0, len(entries))
	for _, e := range entries {
		if !e.Stored {
			m, ok := byName[e.Name]
			if !ok {
				return nil, fmt.Errorf("%q: %w", e.Name, ErrUnknown)
			}
			out = append(out, m)
			continue
		}
		m, err := pool.Load(ctx, e.File, []byte(e.Source))
		if err != nil {
			return nil, fmt.Errorf("stored environment %s (revision %d): %w", e.Name, e.Revision, err)
		}
		out = append(out, m)
	}
	return out, nil
}
