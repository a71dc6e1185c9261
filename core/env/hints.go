package env

import "strings"

// runtimeHint explains runtime errors that come from Starlark not being
// Python, as pythonHint (module.go) does for syntax errors, so that a
// repair round knows what to write instead. It returns "" for errors that
// are the environment's own.
func runtimeHint(msg string) string {
	for _, h := range runtimeHints {
		if strings.Contains(msg, h.needle) {
			return " (" + h.hint + ")"
		}
	}
	return ""
}

var runtimeHints = []struct{ needle, hint string }{
	{"unknown conversion %", "Starlark's % takes no width or precision (%5d, %.2f, %-8s): use the host's format(x, \"5d\"), format(x, \".2f\"), format(s, \"<8\"), Python's format-spec mini-language"},
	{"format spec features not supported", "Starlark's str.format takes no format spec ({:.2f}, {:>5}): use the host's format(x, \".2f\") and concatenate"},
	{"string value is not iterable", "strings are not iterable in Starlark: iterate over s.elems() (or range(len(s)))"},
	{"got string, want iterable", "strings are not iterable in Starlark: pass s.elems() (or list(s.elems()))"},
	{"has no .rjust", "Starlark strings have no rjust/ljust/center/zfill: use format(s, \">8\"), format(s, \"<8\"), format(s, \"^8\"), format(n, \"08d\")"},
	{"has no .ljust", "Starlark strings have no rjust/ljust/center/zfill: use format(s, \">8\"), format(s, \"<8\"), format(s, \"^8\"), format(n, \"08d\")"},
	{"has no .center", "Starlark strings have no rjust/ljust/center/zfill: use format(s, \">8\"), format(s, \"<8\"), format(s, \"^8\"), format(n, \"08d\")"},
	{"has no .zfill", "Starlark strings have no rjust/ljust/center/zfill: use format(n, \"08d\") or format(s, \"0>8\")"},
	{"list has no .sort", "Starlark lists have no sort(): use sorted(xs) (with key= and reverse= as in Python)"},
	{"has no .has_key", "use `key in d`"},
	{"has no .isnumeric", "use s.isdigit()"},
	{"has no .isdecimal", "use s.isdigit()"},
	{"has no .copy", "Starlark has no .copy(): use list(xs) or dict(d)"},
	{"has no .bit_length", "Starlark ints have no bit_length(): count with a loop (while n > 0: n //= 2)"},
	{"has no .extendleft", "Starlark has no deque: use a list and an index"},
	{"has no .appendleft", "Starlark has no deque: use a list and an index (or xs.insert(0, x))"},
	{"has no .popleft", "Starlark has no deque: use a list and an index (or xs.pop(0))"},
	{"split: unexpected keyword", "Starlark's split takes its arguments by position: s.split(sep, maxsplit)"},
	{"unknown binary op: string + int", "Starlark does not convert implicitly: use str(n)"},
	{"unknown binary op: int + string", "Starlark does not convert implicitly: use str(n) or int(s)"},
	{"unknown binary op: string * float", "repeat counts must be ints"},
	{"not implemented for int and string", "compare values of one type: int(s) or str(n)"},
	{"int < string not implemented", "compare values of one type: int(s) or str(n)"},
	{"string < int not implemented", "compare values of one type: int(s) or str(n)"},
	{"unhashable type: list", "lists cannot be dict keys or set members: use a tuple (tuple(xs)) or a string"},
	{"unhashable type: dict", "dicts cannot be dict keys or set members"},
	{"cannot insert into frozen", "globals are frozen after the module loads: build mutable state inside the function (a cache in a global dict cannot be filled)"},
	{"cannot append to frozen", "globals are frozen after the module loads: build mutable state inside the function"},
	{"frozen list", "globals are frozen after the module loads: copy them first (list(XS))"},
	{"frozen dict", "globals are frozen after the module loads: copy them first (dict(D))"},
	{"invalid literal with base", "int() of text that is not an integer: check with s.isdigit() (or a regexp) first; verify must return 0, not raise"},
	{"key \"", "a missing dict key: use d.get(key) or `key in d`; the state went through JSON, so int keys became strings"},
}
