package library

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/storage"
)

// TestSelect: accepted environments by default (built-ins count as
// accepted), a rejected one only when named and then with a warning that
// names it, a preset's rejected default left out with a warning.
func TestSelect(t *testing.T) {
	entries := []Entry{
		{Name: "a", Builtin: true, Status: storage.StatusAccepted, Validation: "pass"},
		{Name: "b", Builtin: true, Stored: true, Status: storage.StatusRejected, Validation: "pass"},
		{Name: "c", Stored: true, Status: storage.StatusCandidate, Validation: "pass"},
		{Name: "d", Stored: true, Status: storage.StatusAccepted, Validation: "pass"},
		{Name: "e", Stored: true, Status: storage.StatusAccepted, Validation: "fail"},
	}
	cases := []struct {
		name            string
		named, defaults []string
		want            []string
		warn            []string // substrings, one per warning
		err             string
	}{
		{name: "accepted by default", want: []string{"a", "d"}},
		{name: "the preset's, less the rejected", defaults: []string{"a", "b"}, want: []string{"a"},
			warn: []string{"b is rejected in the library; left out"}},
		{name: "a rejected one when named", named: []string{"b", "a"}, want: []string{"b", "a"},
			warn: []string{"b is rejected in the library; training on it because it was named"}},
		{name: "a candidate when named", named: []string{"c"}, want: []string{"c"}, warn: []string{"c is a candidate, not accepted"}},
		{name: "failing validation when named", named: []string{"e"}, want: []string{"e"}, warn: []string{"e fails validation"}},
		{name: "named, accepted", named: []string{" d "}, want: []string{"d"}},
		{name: "unknown", named: []string{"zz"}, err: `unknown environment "zz"`},
		{name: "twice", named: []string{"a", "a"}, err: `"a" named twice`},
		{name: "every default rejected", defaults: []string{"b"}, warn: []string{"b is rejected"}, err: "no accepted environment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, warns, err := Select(entries, c.named, c.defaults)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range got {
				names = append(names, e.Name)
			}
			if !slices.Equal(names, c.want) {
				t.Errorf("chose %v, want %v", names, c.want)
			}
			if len(warns) != len(c.warn) {
				t.Fatalf("warnings %q, want %d like %q", warns, len(c.warn), c.warn)
			}
			for i, w := range c.warn {
				if !strings.Contains(warns[i], w) {
					t.Errorf("warning %q lacks %q", warns[i], w)
				}
			}
		})
	}
	if _, _, err := Select(entries, []string{"zz"}, nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("an unknown name: %v, want ErrUnknown", err)
	}
}

// TestNewExecutor: built-ins alone run in process; a stored environment
// among them brings the sandbox pool, which runs both.
func TestNewExecutor(t *testing.T) {
	l, p := setup(t)
	ctx := context.Background()
	if _, _, err := l.Add(ctx, p, "parity.star", []byte(parity), fast); err != nil {
		t.Fatal(err)
	}
	entries, err := l.List()
	if err != nil {
		t.Fatal(err)
	}
	pick := func(names ...string) []Entry {
		var out []Entry
		for _, e := range entries {
			if slices.Contains(names, e.Name) {
				out = append(out, e)
			}
		}
		return out
	}
	ex, mods, err := NewExecutor(ctx, pick("nim_move"), ExecutorOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ex.(*env.Local); !ok || len(mods) != 1 || mods[0].Name != "nim_move" {
		t.Errorf("built-ins alone: %T with %d modules, want the in-process executor", ex, len(mods))
	}
	ex.Close()
	ex, mods, err = NewExecutor(ctx, pick("nim_move", "parity"), ExecutorOptions{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	if _, ok := ex.(*env.Pool); !ok || len(mods) != 2 {
		t.Fatalf("with a stored one: %T with %d modules, want the sandbox pool", ex, len(mods))
	}
	for _, r := range ex.Run(ctx, []env.Task{{Env: "parity", Seed: 1, Difficulty: 1, Render: true}, {Env: "nim_move", Seed: 1, Difficulty: 1, Render: true}}) {
		if r.Err != nil || r.Prompt == "" {
			t.Errorf("running a task: %+v", r)
		}
	}
}
