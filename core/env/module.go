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
	overCPU := stop()
	if err != nil {
		return nil, callError(thread, "load", err, lim)
	}
	if overCPU {
		return nil, &Error{Kind: FailLimit, Limit: LimitCPU, Func: "load", Msg: cpuLimitMsg(lim, thread.ExecutionSteps())}
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
	c := &checker{m: m, lines: map[string]int{}}
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.DefStmt:
			c.lines[s.Name.Name] = int(s.Def.Line)
		case *syntax.AssignStmt:
			if id, ok := s.LHS.(*syntax.Ident); ok {
				c.lines[id.Name] = int(id.NamePos.Line)
			}
		}
	}
	m.Name = c.str("NAME", true)
	m.Description = c.str("DESCRIPTION", true)
	c.tags()
	c.difficulty()
	c.fn("generate", []string{"rng", "difficulty"}, true)
	c.fn("render", []string{"state"}, true)
	c.fn("verify", []string{"state", "answer"}, true)
	c.fn("solve", []string{"state"}, false)
	c.literals(f)
	return c.ps
}

// checker collects the problems of a module's top-level bindings
// (Module.check), each at the line of the binding it concerns.
type checker struct {
	m     *Module
	lines map[string]int // top-level binding -> line
	ps    []problem
}

func (c *checker) add(name, format string, args ...any) {
	c.ps = append(c.ps, problem{c.lines[name], fmt.Sprintf(format, args...)})
}

// str reads a string global.
func (c *checker) str(name string, required bool) string {
	v, ok := c.m.globals[name]
	if !ok {
		if required {
			c.add(name, "missing %s (a string)", name)
		}
		return ""
	}
	s, ok := v.(starlark.String)
	if !ok {
		c.add(name, "%s must be a string, not a %s", name, v.Type())
		return ""
	}
	return string(s)
}

// tags reads TAGS, a list of strings.
func (c *checker) tags() {
	v, ok := c.m.globals["TAGS"]
	if !ok {
		c.add("TAGS", "missing TAGS (a list of strings)")
		return
	}
	seq, ok := v.(starlark.Indexable)
	if !ok || v.Type() == "string" {
		c.add("TAGS", "TAGS must be a list of strings, not a %s", v.Type())
		return
	}
	for i := 0; i < seq.Len(); i++ {
		s, ok := seq.Index(i).(starlark.String)
		if !ok {
			c.add("TAGS", "TAGS[%d] must be a string, not a %s", i, seq.Index(i).Type())
			continue
		}
		c.m.Tags = append(c.m.Tags, string(s))
	}
}

// difficulty reads DIFFICULTY, an optional (min, max) pair; default (1, 10).
func (c *checker) difficulty() {
	c.m.MinDifficulty, c.m.MaxDifficulty = 1, 10
	v, ok := c.m.globals["DIFFICULTY"]
	if !ok {
		return
	}
	seq, ok := v.(starlark.Indexable)
	if !ok || seq.Len() != 2 || v.Type() == "string" {
		c.add("DIFFICULTY", "DIFFICULTY must be a pair (min, max) of ints, not %s", v.String())
		return
	}
	lo, err1 := starlark.AsInt32(seq.Index(0))
	hi, err2 := starlark.AsInt32(seq.Index(1))
	switch {
	case err1 != nil || err2 != nil:
		c.add("DIFFICULTY", "DIFFICULTY must be a pair (min, max) of ints, not %s", v.String())
	case lo > hi || lo < 0 || hi > 1000:
		c.add("DIFFICULTY", "DIFFICULTY (%d, %d) must satisfy 0 <= min <= max <= 1000", lo, hi)
	default:
		c.m.MinDifficulty, c.m.MaxDifficulty = lo, hi
	}
}

// fn checks that name is a function of exactly params.
func (c *checker) fn(name string, params []string, required bool) {
	v, ok := c.m.globals[name]
	if !ok {
		if required {
			c.add(name, "missing def %s(%s)", name, strings.Join(params, ", "))
		}
		return
	}
	f, ok := v.(*starlark.Function)
	if !ok {
		c.add(name, "%s must be a function, not a %s", name, v.Type())
		return
	}
	if f.NumParams() != len(params) || f.HasVarargs() || f.HasKwargs() {
		c.add(name, "%s must take exactly (%s), it takes %d parameter(s)", name, strings.Join(params, ", "), f.NumParams())
		return
	}
	if name == "solve" {
		c.m.HasSolve = true
	}
}

// literals checks the bounds of the metadata and that each is bound once,
// to the literal a listing reads (meta.go).
func (c *checker) literals(f *syntax.File) {
	m := c.m
	got := Meta{Name: m.Name, Description: m.Description, Tags: m.Tags, MinDifficulty: m.MinDifficulty, MaxDifficulty: m.MaxDifficulty}
	for _, msg := range got.check() {
		c.ps = append(c.ps, problem{c.lines["NAME"], msg})
	}
	lit, lps := staticMeta(f)
	c.ps = append(c.ps, lps...)
	reported := map[int]bool{}
	for _, p := range c.ps {
		reported[p.line] = true
	}
	differs := func(name string, same bool) {
		if _, bound := m.globals[name]; bound && !same && !reported[c.lines[name]] {
			c.add(name, "%s changes after it is bound (to %s): bind it once, to a literal, so that listings show what runs", name, literalHelp[name])
		}
	}
	differs("NAME", lit.Name == m.Name)
	differs("DESCRIPTION", lit.Description == m.Description)
	differs("TAGS", slices.Equal(lit.Tags, m.Tags))
	differs("DIFFICULTY", lit.MinDifficulty == m.MinDifficulty && lit.MaxDifficulty == m.MaxDifficulty)
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
