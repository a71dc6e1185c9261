package envlib

import (
	"fmt"
	"sync"

	"resyn/core/env"
)

var (
	loadOnce sync.Once
	loaded   []*env.Module
	loadErr  error
)

// Modules loads every built-in environment (in this process: they are
// trusted code) once, and returns them sorted by name. A built-in that fails
// to load is a bug, reported with its file.
func Modules() ([]*env.Module, error) {
	loadOnce.Do(func() {
		for _, s := range All() {
			m, err := env.Load(s.File, s.Code)
			if err != nil {
				loadErr = fmt.Errorf("built-in %s: %w", s.File, err)
				return
			}
			if m.Name != s.Name() {
				loadErr = fmt.Errorf("built-in %s declares NAME %q; the file must be named after it", s.File, m.Name)
				return
			}
			loaded = append(loaded, m)
		}
	})
	return loaded, loadErr
}
