package env

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Module is a loaded, contract-checked environment. Its globals are frozen,
// so one Module can serve concurrent calls.
type Module struct {
	Name          string
	Description   string
	Tags          []string
	MinDifficulty int
	MaxDifficulty int
	HasSolve      bool
	File          string // the file name given to Load, used in error positions
	Source        []byte
	Hash          string // hex SHA-256 of Source, first 16 characters: the environment's version

	globals starlark.StringDict
	steps   uint64 // Starlark steps run by calls into this module here (atomic)
}

// Steps is the number of Starlark execution steps that calls into this
// module have taken in this process so far: a deterministic measure of the
// environment's work, for benchmarks that must not depend on the machine's
// load. Calls run in worker processes are not counted here.
func (m *Module) Steps() uint64 { return atomic.LoadUint64(&m.steps) }

// MaxSourceBytes caps the size of a module's source.
const MaxSourceBytes = 1 << 20

// SourceHash is the version hash of an environment's source.
func SourceHash(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:8])
}

// Load compiles a module, runs its top level under the default limits and
// checks it against the contract. A module that breaks the contract in
// several ways gets one *Error that lists every problem with its line.
func Load(filename string, src []byte) (*Module, error) {
	return LoadWithLimits(filename, src, DefaultLimits())
}

// LoadWithLimits is Load with explicit limits for the top-level execution.
func LoadWithLimits(filename string, src []byte, lim Limits) (*Module, error) {
	if len(src) > MaxSourceBytes {
		return nil, &Error{Kind: FailContract, Func: "load", Msg: fmt.Sprintf("%s: source is %d bytes, more than the %d allowed", filename, len(src), MaxSourceBytes)}
	}
	f, prog, err := starlark.SourceProgramOptions(fileOptions, filename, src, predeclared.Has)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	thread := newThread("load", lim)
	stop := watch(thread, lim)
	globals, err := prog.Init(thread, predeclared)
	stop()
	if err != nil {
		return nil, callError(thread, "load", err, lim)
	}
	globals.Freeze()
	m := &Module{File: filename, Source: src, Hash: SourceHash(src), globals: globals}
	if problems := m.check(f); len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].line < problems[j].line })
		var lines []string
		for _, p := range problems {
			if p.line > 0 {
				lines = append(lines, fmt.Sprintf("%s:%d: %s", filename, p.line, p.msg))
			} else {
				lines = append(lines, fmt.Sprintf("%s: %s", filename, p.msg))
			}
		}
		return nil, &Error{Kind: FailContract, Env: CapText(m.Name, MaxNameLen), Func: "load", Line: problems[0].line,
			Msg: CapText(fmt.Sprintf("%d problem(s):\n  %s", len(problems), strings.Join(lines, "\n  ")), MaxErrorText)}
	}
	return m, nil
}

type problem struct {
	line int
	msg  string
}

// check verifies the contract's names and types, collecting every problem.
func (m *Module) check(f *syntax.File) []problem {
	lines := map[string]int{} // top-level binding -> line
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.DefStmt:
			lines[s.Name.Name] = int(s.Def.Line)
		case *syntax.AssignStmt:
			if id, ok := s.LHS.(*syntax.Ident); ok {
				lines[id.Name] = int(id.NamePos.Line)
			}
		}
	}
	var ps []problem
	add := func(name, format string, args ...any) {
		ps = append(ps, problem{lines[name], fmt.Sprintf(format, args...)})
	}
	str := func(name string, required bool) string {
		v, ok := m.globals[name]
		if !ok {
			if required {
				add(name, "missing %s (a string)", name)
			}
			return ""
		}
		s, ok := v.(starlark.String)
		if !ok {
			add(name, "%s must be a string, not a %s", name, v.Type())
			return ""
		}
		return string(s)
	}
	m.Name = str("NAME", true)
	m.Description = str("DESCRIPTION", true)
	if v, ok := m.globals["TAGS"]; !ok {
		add("TAGS", "missing TAGS (a list of strings)")
	} else if seq, ok := v.(starlark.Indexable); !ok || v.Type() == "string" {
		add("TAGS", "TAGS must be a list of strings, not a %s", v.Type())
	} else {
		for i := 0; i < seq.Len(); i++ {
			s, ok := seq.Index(i).(starlark.String)
			if !ok {
				add("TAGS", "TAGS[%d] must be a string, not a %s", i, seq.Index(i).Type())
				continue
			}
			m.Tags = append(m.Tags, string(s))
		}
	}
	m.MinDifficulty, m.MaxDifficulty = 1, 10
	if v, ok := m.globals["DIFFICULTY"]; ok {
		seq, ok := v.(starlark.Indexable)
		if !ok || seq.Len() != 2 || v.Type() == "string" {
			add("DIFFICULTY", "DIFFICULTY must be a pair (min, max) of ints, not %s", v.String())
		} else {
			lo, err1 := starlark.AsInt32(seq.Index(0))
			hi, err2 := starlark.AsInt32(seq.Index(1))
			switch {
			case err1 != nil || err2 != nil:
				add("DIFFICULTY", "DIFFICULTY must be a pair (min, max) of ints, not %s", v.String())
			case lo > hi || lo < 0 || hi > 1000:
				add("DIFFICULTY", "DIFFICULTY (%d, %d) must satisfy 0 <= min <= max <= 1000", lo, hi)
			default:
				m.MinDifficulty, m.MaxDifficulty = lo, hi
			}
		}
	}
	fn := func(name string, params []string, required bool) {
		v, ok := m.globals[name]
		if !ok {
			if required {
				add(name, "missing def %s(%s)", name, strings.Join(params, ", "))
			}
			return
		}
		f, ok := v.(*starlark.Function)
		if !ok {
			add(name, "%s must be a function, not a %s", name, v.Type())
			return
		}
		if f.NumParams() != len(params) || f.HasVarargs() || f.HasKwargs() {
			add(name, "%s must take exactly (%s), it takes %d parameter(s)", name, strings.Join(params, ", "), f.NumParams())
			return
		}
		if name == "solve" {
			m.HasSolve = true
		}
	}
	fn("generate", []string{"rng", "difficulty"}, true)
	fn("render", []string{"state"}, true)
	fn("verify", []string{"state", "answer"}, true)
	fn("solve", []string{"state"}, false)

	// Bounds, and the literals a listing reads (meta.go).
	got := Meta{Name: m.Name, Description: m.Description, Tags: m.Tags, MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty}
	for _, msg := range got.check() {
		ps = append(ps, problem{lines["NAME"], msg})
	}
	lit, lps := staticMeta(f)
	ps = append(ps, lps...)
	reported := map[int]bool{}
	for _, p := range ps {
		reported[p.line] = true
	}
	differs := func(name string, same bool) {
		if !same && !reported[lines[name]] {
			add(name, "%s changes after it is bound (to %s): bind it once, to a literal, so that listings show what runs", name, literalHelp[name])
		}
	}
	if _, ok := m.globals["NAME"]; ok {
		differs("NAME", lit.Name == m.Name)
	}
	if _, ok := m.globals["DESCRIPTION"]; ok {
		differs("DESCRIPTION", lit.Description == m.Description)
	}
	if _, ok := m.globals["TAGS"]; ok {
		differs("TAGS", slices.Equal(lit.Tags, m.Tags))
	}
	if _, ok := m.globals["DIFFICULTY"]; ok {
		differs("DIFFICULTY", lit.MinDifficulty == m.MinDifficulty && lit.MaxDifficulty == m.MaxDifficulty)
	}
	return ps
}

func syntaxError(filename string, err error) *Error {
	e := &Error{Kind: FailSyntax, Func: "load", Msg: err.Error()}
	var se syntax.Error
	if errors.As(err, &se) {
		e.Line = int(se.Pos.Line)
		e.Msg = fmt.Sprintf("%s:%d:%d: %s%s", filename, se.Pos.Line, se.Pos.Col, se.Msg, pythonHint(se.Msg))
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) && len(rl) > 0 {
		var parts []string
		for _, r := range rl {
			parts = append(parts, fmt.Sprintf("%s:%d:%d: %s%s", filename, r.Pos.Line, r.Pos.Col, r.Msg, pythonHint(r.Msg)))
		}
		e.Line = int(rl[0].Pos.Line)
		e.Msg = strings.Join(parts, "\n")
	}
	e.Msg = CapText(e.Msg, MaxErrorText)
	return e
}

// pythonHint explains errors that come from Starlark not being Python, so
// that a repair round (or a person) knows what to change.
func pythonHint(msg string) string {
	hints := []struct{ needle, hint string }{
		{"got '**'", " (Starlark has no ** operator: use pow(a, b))"},
		{"got '*'", ""},
		{"try", " (Starlark has no try/except: check conditions before acting)"},
		{"class", " (Starlark has no classes: use dicts and functions)"},
		{"import", " (Starlark has no imports: json, math and re are predeclared)"},
		{"undefined: is", ""},
		{"got is", " (Starlark has no 'is': use == None)"},
		{"global", " (Starlark has no global statement: mutate a list or dict instead)"},
		{"lambda", ""},
		{"got string literal", " (Starlark does not concatenate adjacent string literals: use +)"},
		{"f-string", " (Starlark has no f-strings: use \"%d\" % x or .format)"},
	}
	for _, h := range hints {
		if h.hint != "" && strings.Contains(msg, h.needle) {
			return h.hint
		}
	}
	return ""
}
