package library

import (
	"fmt"

	"go.starlark.net/syntax"
)

// Info is what a module says about itself in its top-level constants.
type Info struct {
	Name          string
	Description   string
	Tags          []string
	MinDifficulty int
	MaxDifficulty int
}

// StaticInfo reads NAME, DESCRIPTION, TAGS and DIFFICULTY from the syntax
// tree of src, without running it: only literal values count (a computed
// NAME is reported as missing). DIFFICULTY defaults to (1, 10) as in the
// contract. The sandbox (core/env) remains the authority on whether a
// module is valid; this is for listing stored environments cheaply and
// safely.
func StaticInfo(file string, src []byte) (Info, error) {
	info := Info{MinDifficulty: 1, MaxDifficulty: 10}
	f, err := (&syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}).Parse(file, src, 0)
	if err != nil {
		return info, err
	}
	for _, st := range f.Stmts {
		a, ok := st.(*syntax.AssignStmt)
		if !ok || a.Op != syntax.EQ {
			continue
		}
		id, ok := a.LHS.(*syntax.Ident)
		if !ok {
			continue
		}
		switch id.Name {
		case "NAME":
			info.Name, _ = literalString(a.RHS)
		case "DESCRIPTION":
			info.Description, _ = literalString(a.RHS)
		case "TAGS":
			if l, ok := a.RHS.(*syntax.ListExpr); ok {
				info.Tags = info.Tags[:0]
				for _, e := range l.List {
					if s, ok := literalString(e); ok {
						info.Tags = append(info.Tags, s)
					}
				}
			}
		case "DIFFICULTY":
			var elems []syntax.Expr
			switch t := unparen(a.RHS).(type) {
			case *syntax.TupleExpr:
				elems = t.List
			case *syntax.ListExpr:
				elems = t.List
			}
			if len(elems) == 2 {
				lo, ok1 := literalInt(elems[0])
				hi, ok2 := literalInt(elems[1])
				if ok1 && ok2 {
					info.MinDifficulty, info.MaxDifficulty = lo, hi
				}
			}
		}
	}
	if info.Name == "" {
		return info, fmt.Errorf("%s: no literal NAME = \"…\" at the top level", file)
	}
	return info, nil
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
