// Package envlib is resyn's built-in library of reasoning environments: one
// Starlark module per file, embedded in the binary. They follow the
// environment contract of ARCHITECTURE.md exactly, pass `resyn envs validate`,
// and double as the examples the synthesis prompt shows an LLM, so they are
// written to be read: a clear generator with a difficulty knob, a prompt that
// says how to answer, a verifier that accepts every correct answer (not just
// the one solve() finds), and a reference solver.
package envlib

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed *.star
var files embed.FS

// Source is one built-in environment's file.
type Source struct {
	File string // e.g. "graph_coloring.star"
	Code []byte
}

// Name is the environment name the file is expected to declare (its base name).
func (s Source) Name() string { return strings.TrimSuffix(s.File, path.Ext(s.File)) }

// All returns every built-in environment, sorted by file name.
func All() []Source {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		panic(err) // the embedded FS is fixed at build time
	}
	var out []Source
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".star" {
			continue
		}
		b, err := files.ReadFile(e.Name())
		if err != nil {
			panic(err)
		}
		out = append(out, Source{File: e.Name(), Code: b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].File < out[j].File })
	return out
}

// Get returns the built-in environment with the given name.
func Get(name string) (Source, bool) {
	b, err := files.ReadFile(name + ".star")
	if err != nil {
		return Source{}, false
	}
	return Source{File: name + ".star", Code: b}, true
}
