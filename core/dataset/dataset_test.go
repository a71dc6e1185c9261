package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"resyn/core/env"
	"resyn/core/envlib"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

func pool(t testing.TB, workers int) (*env.Pool, []*env.Module) {
	t.Helper()
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.NewPool(env.PoolOptions{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		p.Register(m)
	}
	t.Cleanup(func() { p.Close() })
	return p, mods
}

func gen(t *testing.T, workers int, spec func([]*env.Module) Spec) string {
	p, mods := pool(t, workers)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	err := spec(mods).Rows(context.Background(), p, func(r Row) error { return enc.Encode(r) },
		func(t2 env.Task, e *env.Error) { t.Errorf("%v", e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestGenerateIsDeterministicAcrossWorkerCounts(t *testing.T) {
	spec := func(mods []*env.Module) Spec {
		return Spec{Envs: mods, N: 12, Seed: 5, MinDifficulty: 2, MaxDifficulty: 7, Solve: true}
	}
	a := gen(t, 1, spec)
	b := gen(t, 2, spec)
	if a != b {
		t.Fatal("output differs between 1 and 2 workers")
	}
	lines := strings.Split(strings.TrimSpace(a), "\n")
	mods, _ := envlib.Modules()
	if len(lines) != 12*len(mods) {
		t.Fatalf("%d lines, want %d", len(lines), 12*len(mods))
	}
	var r Row
	if err := json.Unmarshal([]byte(lines[1]), &r); err != nil {
		t.Fatal(err)
	}
	if r.Seed != 6 || r.Difficulty < 2 || r.Difficulty > 7 || r.Prompt == "" || r.Hash == "" {
		t.Fatalf("row: %+v", r)
	}
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string][2]int{"3": {3, 3}, "1-10": {1, 10}, " 2..5 ": {2, 5}} {
		lo, hi, err := ParseRange(in)
		if err != nil || lo != want[0] || hi != want[1] {
			t.Errorf("%q: %d %d %v", in, lo, hi, err)
		}
	}
	for _, bad := range []string{"", "x", "5-1", "1-y"} {
		if _, _, err := ParseRange(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// completions builds n scoring lines cycling over the built-ins, with correct,
// wrong and untagged answers, and a malformed line every 1000.
func completions(t testing.TB, p *env.Pool, mods []*env.Module, n int) (string, int) {
	var tasks []env.Task
	for i := 0; i < 64; i++ {
		m := mods[i%len(mods)]
		tasks = append(tasks, env.Task{Env: m.Name, Seed: int64(i), Difficulty: m.MinDifficulty, Solve: true})
	}
	res := p.Run(context.Background(), tasks)
	var b strings.Builder
	bad := 0
	for i := 0; i < n; i++ {
		if i%1000 == 999 {
			b.WriteString("{not json\n")
			bad++
			continue
		}
		t0 := tasks[i%len(tasks)]
		c := "<answer>" + res[i%len(tasks)].Solution + "</answer>"
		switch i % 3 {
		case 1:
			c = "I think <answer>definitely wrong</answer>"
		case 2:
			c = "no tags at all"
		}
		line, _ := json.Marshal(map[string]any{"env": t0.Env, "seed": t0.Seed, "difficulty": t0.Difficulty, "completion": c})
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String(), bad
}

func scoreLines(t *testing.T, n int) {
	p, mods := pool(t, 0)
	in, wantBad := completions(t, p, mods, n)
	var out bytes.Buffer
	var bad []LineError
	sums, err := Score(context.Background(), p, strings.NewReader(in), &out, func(e LineError) { bad = append(bad, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != wantBad || (wantBad > 0 && bad[0].Line != 1000) {
		t.Fatalf("malformed lines: %v", bad[:min(3, len(bad))])
	}
	got := strings.Count(out.String(), "\n")
	if got != n-wantBad {
		t.Fatalf("%d records for %d good lines", got, n-wantBad)
	}
	total := 0
	for _, s := range sums {
		total += s.N
		if s.EnvError > 0 || s.Timeout > 0 {
			t.Errorf("%s: %d env errors, %d timeouts", s.Env, s.EnvError, s.Timeout)
		}
		if s.Format == 0 || s.Pass == 0 {
			t.Errorf("%s: summary %+v lacks passes or format failures", s.Env, s)
		}
	}
	if total != n-wantBad {
		t.Fatalf("summaries count %d", total)
	}
	// Records are in input order with the right kinds.
	first := strings.SplitN(out.String(), "\n", 4)
	for i, want := range []string{`"kind":"ok","score":1`, `"kind":"ok","score":0`, `"kind":"format"`} {
		if !strings.Contains(first[i], want) {
			t.Errorf("record %d = %s, want %s", i+1, first[i], want)
		}
	}
}

func TestScore(t *testing.T) { scoreLines(t, 3000) }

func TestScore100kLines(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	scoreLines(t, 100_000)
}

func ExampleParseRange() {
	lo, hi, _ := ParseRange("1-10")
	fmt.Println(lo, hi)
	// Output: 1 10
}
