package env

import (
	"fmt"
	"regexp"
	"slices"

	"go.starlark.net/syntax"
)

// The metadata of a module — NAME, DESCRIPTION, TAGS, DIFFICULTY — is read
// two ways: by running the module (Load), and from its syntax tree without
// running it (StaticMeta), which is how a library lists stored environments
// cheaply and safely. The contract makes the two agree: each is bound once,
// at the top level, to a literal, and stays what the literal says. What
// `resyn envs list` shows is then what the sandbox runs. Each is also
// bounded, so that no store, listing or server holds an unbounded one.

// Bounds on a module's metadata.
const (
	MaxNameLen        = 64
	MaxDescriptionLen = 1024
	MaxTags           = 16
)

var (
	nameRe = regexp.MustCompile(`^[a-z0-9_]+$`)
	// TagRe is what a tag may look like: 1–64 of a-z 0-9 - _ . : /,
	// starting with a letter or digit.
	TagRe = regexp.MustCompile(`^[a-z0-9][a-z0-9._:/-]{0,63}$`)
)

// Meta is what a module says about itself in its top-level constants.
type Meta struct {
	Name          string
	Description   string
	Tags          []string
	MinDifficulty int
	MaxDifficulty int
}

// metaNames are the constants the contract reads.
var metaNames = []string{"NAME", "DESCRIPTION", "TAGS", "DIFFICULTY"}

// StaticMeta reads the metadata from the syntax tree of src without running
// it; DIFFICULTY defaults to (1, 10) as in the contract. A value that is not
// a literal is left at its zero value, and values past the bounds are cut
// to them, so that what it returns is always bounded; Load reports both as
// contract problems.
func StaticMeta(file string, src []byte) (Meta, error) {
	f, err := fileOptions.Parse(file, src, 0)
	if err != nil {
		return Meta{MinDifficulty: 1, MaxDifficulty: 10}, err
	}
	m, _ := staticMeta(f)
	if len(m.Name) > MaxNameLen {
		m.Name = m.Name[:MaxNameLen]
	}
	m.Description = CapText(m.Description, MaxDescriptionLen)
	if len(m.Tags) > MaxTags {
		m.Tags = m.Tags[:MaxTags]
	}
	for i, t := range m.Tags {
		if len(t) > 64 {
			m.Tags[i] = t[:64]
		}
	}
	if m.Name == "" {
		return m, fmt.Errorf("%s: no literal NAME = \"…\" at the top level", file)
	}
	return m, nil
}

// staticMeta reads the literals and lists what breaks the rules: a name
// bound more than once, or bound to something that is not a literal.
func staticMeta(f *syntax.File) (Meta, []problem) {
	m := Meta{MinDifficulty: 1, MaxDifficulty: 10}
	var ps []problem
	bound := map[string]int{} // name -> line of its first binding
	bind := func(id *syntax.Ident) bool {
		if !slices.Contains(metaNames, id.Name) {
			return false
		}
		if first, ok := bound[id.Name]; ok {
			ps = append(ps, problem{int(id.NamePos.Line), fmt.Sprintf("%s is bound again (first at line %d): bind it once, to a literal", id.Name, first)})
			return false
		}
		bound[id.Name] = int(id.NamePos.Line)
		return true
	}
	// Every top-level binding of a metadata name: assignments, loops, defs.
	var walk func(stmts []syntax.Stmt)
	walk = func(stmts []syntax.Stmt) {
		for _, st := range stmts {
			switch s := st.(type) {
			case *syntax.AssignStmt:
				id, ok := s.LHS.(*syntax.Ident)
				if !ok {
					for _, id := range identsOf(s.LHS) {
						if bind(id) {
							ps = append(ps, problem{int(id.NamePos.Line), id.Name + " must be bound alone, to a literal"})
						}
					}
					continue
				}
				if !bind(id) {
					continue
				}
				if s.Op != syntax.EQ {
					ps = append(ps, problem{int(id.NamePos.Line), id.Name + " must be bound with =, to a literal"})
					continue
				}
				if !m.set(id.Name, s.RHS) {
					ps = append(ps, problem{int(id.NamePos.Line), id.Name + " must be a literal (" + literalHelp[id.Name] + "), so that listings show what runs"})
				}
			case *syntax.DefStmt:
				if bind(s.Name) {
					ps = append(ps, problem{int(s.Name.NamePos.Line), s.Name.Name + " must be a literal, not a function"})
				}
			case *syntax.ForStmt:
				for _, id := range identsOf(s.Vars) {
					if bind(id) {
						ps = append(ps, problem{int(id.NamePos.Line), id.Name + " must be a literal, not a loop variable"})
					}
				}
				walk(s.Body)
			case *syntax.IfStmt:
				walk(s.True)
				walk(s.False)
			case *syntax.WhileStmt:
				walk(s.Body)
			}
		}
	}
	walk(f.Stmts)
	return m, ps
}

var literalHelp = map[string]string{
	"NAME":        `NAME = "my_env"`,
	"DESCRIPTION": `DESCRIPTION = "What the task is."`,
	"TAGS":        `TAGS = ["category", "tag"]`,
	"DIFFICULTY":  `DIFFICULTY = (1, 10)`,
}

// set reads one literal into m and reports whether it was one.
func (m *Meta) set(name string, e syntax.Expr) bool {
	switch name {
	case "NAME":
		s, ok := literalString(e)
		m.Name = s
		return ok
	case "DESCRIPTION":
		s, ok := literalString(e)
		m.Description = s
		return ok
	case "TAGS":
		elems, ok := elemsOf(e)
		if !ok {
			return false
		}
		m.Tags = nil
		for _, x := range elems {
			s, ok := literalString(x)
			if !ok {
				return false
			}
			m.Tags = append(m.Tags, s)
		}
		return true
	case "DIFFICULTY":
		elems, _ := elemsOf(e)
		if len(elems) != 2 {
			return false
		}
		lo, ok1 := literalInt(elems[0])
		hi, ok2 := literalInt(elems[1])
		if ok1 && ok2 {
			m.MinDifficulty, m.MaxDifficulty = lo, hi
		}
		return ok1 && ok2
	}
	return false
}

// check reports where metadata breaks its bounds.
func (m Meta) check() []string {
	var ps []string
	if m.Name != "" && !nameRe.MatchString(m.Name) {
		ps = append(ps, fmt.Sprintf("NAME %q must match [a-z0-9_]+", CapText(m.Name, 80)))
	}
	if len(m.Name) > MaxNameLen {
		ps = append(ps, fmt.Sprintf("NAME is %d bytes long, more than the %d allowed", len(m.Name), MaxNameLen))
	}
	if len(m.Description) > MaxDescriptionLen {
		ps = append(ps, fmt.Sprintf("DESCRIPTION is %d bytes long, more than the %d allowed: say what the task is in a sentence or two", len(m.Description), MaxDescriptionLen))
	}
	if len(m.Tags) > MaxTags {
		ps = append(ps, fmt.Sprintf("TAGS has %d tags, more than the %d allowed", len(m.Tags), MaxTags))
	}
	for i, t := range m.Tags {
		if !TagRe.MatchString(t) {
			ps = append(ps, fmt.Sprintf("TAGS[%d] %q: a tag is 1–64 of a-z 0-9 - _ . : / starting with a letter or digit", i, CapText(t, 80)))
			break
		}
	}
	return ps
}

// elemsOf is the elements of a list or tuple literal.
func elemsOf(e syntax.Expr) ([]syntax.Expr, bool) {
	switch l := unparen(e).(type) {
	case *syntax.ListExpr:
		return l.List, true
	case *syntax.TupleExpr:
		return l.List, true
	}
	return nil, false
}

func identsOf(e syntax.Expr) []*syntax.Ident {
	var out []*syntax.Ident
	syntax.Walk(e, func(n syntax.Node) bool {
		if id, ok := n.(*syntax.Ident); ok {
			out = append(out, id)
		}
		return true
	})
	return out
}

func unparen(e syntax.Expr) syntax.Expr {
	for {
		p, ok := e.(*syntax.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

func literalString(e syntax.Expr) (string, bool) {
	l, ok := unparen(e).(*syntax.Literal)
	if !ok || l.Token != syntax.STRING {
		return "", false
	}
	s, ok := l.Value.(string)
	return s, ok
}

func literalInt(e syntax.Expr) (int, bool) {
	l, ok := unparen(e).(*syntax.Literal)
	if !ok || l.Token != syntax.INT {
		return 0, false
	}
	n, ok := l.Value.(int64)
	return int(n), ok
}
