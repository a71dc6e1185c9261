package export

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"resyn/core/env"
)

// local is an in-process executor with the test environments of testdata/
// registered (trusted code, so no worker processes are needed here). They
// stand apart from the built-in library, which grows while resyn does.
func local(t testing.TB) (env.Executor, []*env.Module) {
	t.Helper()
	var mods []*env.Module
	for _, name := range []string{"add", "reverse"} {
		src, err := os.ReadFile(filepath.Join("testdata", name+".star"))
		if err != nil {
			t.Fatal(err)
		}
		m, err := env.Load(name+".star", src)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m)
	}
	ex := env.NewLocal(env.DefaultLimits(), 0)
	for _, m := range mods {
		ex.Register(m)
	}
	return ex, mods
}

// openParquet opens a Parquet file for its metadata; it is closed with the test.
func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	return pf
}

func records(t testing.TB, ex env.Executor, opts Options) []Record {
	t.Helper()
	var out []Record
	_, err := Generate(context.Background(), ex, opts, func(r Record) error { out = append(out, r); return nil },
		func(it Item, e *env.Error) { t.Errorf("%s seed %d: %v", it.Env.Name, it.Seed, e) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestExportVerlParquetReadsBack(t *testing.T) {
	ex, mods := local(t)
	opts := Options{Envs: mods, N: 40, Seed: 7, MinDifficulty: 1, MaxDifficulty: 10, TestFraction: 0.25}
	want := records(t, ex, opts)
	dir := t.TempDir()
	sum, err := Export(context.Background(), ex, opts, FormatVerl, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rows != len(want) || sum.Failed != 0 || len(sum.Files) != 2 {
		t.Fatalf("summary %+v, want %d rows in 2 files", sum, len(want))
	}
	var got []VerlRow
	for _, f := range sum.Files {
		rows, err := parquet.ReadFile[VerlRow](f.Path)
		if err != nil {
			t.Fatalf("reading %s: %v", f.Path, err)
		}
		if len(rows) != f.Rows {
			t.Fatalf("%s: %d rows, summary says %d", f.Path, len(rows), f.Rows)
		}
		for _, r := range rows {
			if r.ExtraInfo.Split != f.Split {
				t.Fatalf("row %d of split %q in %s", r.ExtraInfo.Index, r.ExtraInfo.Split, f.Path)
			}
		}
		got = append(got, rows...)
	}
	byIndex := map[int64]VerlRow{}
	for _, r := range got {
		byIndex[r.ExtraInfo.Index] = r
	}
	for _, rec := range want {
		r, ok := byIndex[int64(rec.Index)]
		if !ok {
			t.Fatalf("record %d missing from the files", rec.Index)
		}
		if !reflect.DeepEqual(r, VerlRowOf(rec)) {
			t.Fatalf("row %d read back as\n%+v\nwant\n%+v", rec.Index, r, VerlRowOf(rec))
		}
		gt, err := ParseGroundTruth([]byte(r.RewardModel.GroundTruth))
		if err != nil {
			t.Fatal(err)
		}
		if gt.Env != rec.Env || gt.Seed != rec.Seed || gt.Difficulty != rec.Difficulty || gt.Hash == "" || len(gt.State) == 0 {
			t.Fatalf("ground truth %+v for record %+v", gt, rec)
		}
		if r.DataSource != "resyn/"+rec.Env || r.Prompt[0].Role != "user" || !strings.Contains(r.Prompt[0].Content, "<answer>") {
			t.Fatalf("row %+v", r)
		}
	}
}

// TestVerlSchema pins the column paths verl's dataset loader and reward
// managers read.
func TestVerlSchema(t *testing.T) {
	ex, mods := local(t)
	path := filepath.Join(t.TempDir(), "all.parquet")
	if _, err := Export(context.Background(), ex, Options{Envs: mods[:1], N: 3, MinDifficulty: 1, MaxDifficulty: 3}, FormatVerl, path, nil, nil); err != nil {
		t.Fatal(err)
	}
	pf := openParquet(t, path)
	var paths []string
	for _, p := range pf.Schema().Columns() {
		paths = append(paths, strings.Join(p, "."))
	}
	want := []string{"data_source", "prompt.list.element.role", "prompt.list.element.content", "ability",
		"reward_model.style", "reward_model.ground_truth",
		"extra_info.index", "extra_info.split", "extra_info.env", "extra_info.seed", "extra_info.difficulty"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("columns\n%v\nwant\n%v", paths, want)
	}
	if pf.NumRows() != 3 {
		t.Fatalf("%d rows", pf.NumRows())
	}
}

func TestExportJSONL(t *testing.T) {
	ex, mods := local(t)
	opts := Options{Envs: mods, N: 30, Seed: 3, MinDifficulty: 2, MaxDifficulty: 4, TestFraction: 0.3}
	want := records(t, ex, opts)
	dir := t.TempDir()
	sum, err := Export(context.Background(), ex, opts, FormatJSONL, dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range sum.Files {
		fh, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var r JSONLRow
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r, JSONLRowOf(want[r.Index])) || r.Split != f.Split {
				t.Fatalf("line %+v, want %+v in %s", r, JSONLRowOf(want[r.Index]), f.Path)
			}
			n++
		}
		fh.Close()
	}
	if n != len(want) {
		t.Fatalf("%d lines, want %d", n, len(want))
	}
	if _, err := os.Stat(filepath.Join(dir, "test.jsonl")); err != nil {
		t.Fatal("no test split file:", err)
	}
	if st, err := os.Stat(filepath.Join(dir, "train.jsonl")); err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("train.jsonl mode: %v %v", st.Mode(), err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*.tmp"))
	if len(leftovers) > 0 {
		t.Fatalf("temporary files left: %v", leftovers)
	}
}

func TestPlanWeightsAndSplit(t *testing.T) {
	_, mods := local(t)
	if len(mods) < 2 {
		t.Fatal("need two built-ins")
	}
	a, b := mods[0], mods[1]
	opts := Options{Envs: []*env.Module{a, b}, N: 300, Seed: 100, MinDifficulty: 1, MaxDifficulty: 10, TestFraction: 0.2,
		EnvWeights: map[string]float64{a.Name: 2}, DifficultyWeights: map[int]float64{1: 3, 2: 0}}
	plan, err := opts.Plan()
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	levels := map[string]map[int]int{a.Name: {}, b.Name: {}}
	test := 0
	seen := map[string]bool{}
	items := make([]Item, plan.Len())
	for i := range items {
		items[i] = plan.Item(i)
	}
	for i, it := range items {
		if it.Index != i {
			t.Fatalf("index %d at %d", it.Index, i)
		}
		key := fmt.Sprint(it.Env.Name, it.Seed)
		if seen[key] {
			t.Fatalf("instance %s planned twice", key)
		}
		seen[key] = true
		count[it.Env.Name]++
		levels[it.Env.Name][it.Difficulty]++
		if it.Split == SplitTest {
			test++
		}
		if it.Split != SplitOf(it.Env.Name, it.Seed, 0.2) {
			t.Fatalf("split of %s differs from SplitOf", key)
		}
	}
	if count[a.Name] != 200 || count[b.Name] != 100 {
		t.Fatalf("counts %v, want 200/100 for weights 2:1", count)
	}
	if levels[a.Name][2] != 0 || levels[a.Name][1] <= levels[a.Name][3] {
		t.Fatalf("difficulty mix %v ignores weights 1=3, 2=0", levels[a.Name])
	}
	if test < 30 || test > 90 {
		t.Fatalf("%d of 300 in test for fraction 0.2", test)
	}
	// The same options give the same plan; a larger N keeps the splits.
	again, _ := opts.Plan()
	for i, it := range items {
		if !reflect.DeepEqual(it, again.Item(i)) {
			t.Fatal("plan is not deterministic")
		}
	}
	opts.N = 900
	bigger, _ := opts.Plan()
	for i := range bigger.Len() {
		if it := bigger.Item(i); seen[fmt.Sprint(it.Env.Name, it.Seed)] && it.Split != SplitOf(it.Env.Name, it.Seed, 0.2) {
			t.Fatal("split changed with N")
		}
	}
	// Plan order is mixed: the first rows are not all one environment.
	first := map[string]bool{}
	for _, it := range items[:20] {
		first[it.Env.Name] = true
	}
	if len(first) < 2 {
		t.Fatal("plan is not shuffled across environments")
	}
}

func TestPlanRejectsBadOptions(t *testing.T) {
	_, mods := local(t)
	good := Options{Envs: mods[:1], N: 5, MinDifficulty: 1, MaxDifficulty: 5}
	cases := map[string]func(o *Options){
		"no envs":       func(o *Options) { o.Envs = nil },
		"zero n":        func(o *Options) { o.N = 0 },
		"test fraction": func(o *Options) { o.TestFraction = 1 },
		"empty range":   func(o *Options) { o.MinDifficulty = 6 },
		"foreign env":   func(o *Options) { o.EnvWeights = map[string]float64{"nope": 1} },
		"negative":      func(o *Options) { o.EnvWeights = map[string]float64{mods[0].Name: -1} },
		"all zero":      func(o *Options) { o.EnvWeights = map[string]float64{mods[0].Name: 0} },
		"duplicate":     func(o *Options) { o.Envs = []*env.Module{mods[0], mods[0]} },
	}
	for name, f := range cases {
		o := good
		f(&o)
		if _, err := o.Plan(); !errors.Is(err, ErrOptions) {
			t.Errorf("%s: err = %v, want ErrOptions", name, err)
		}
	}
	if _, err := good.Plan(); err != nil {
		t.Fatal(err)
	}
}

func TestParseWeights(t *testing.T) {
	ew, err := ParseEnvWeights(" maze=2, knapsack=0.5 ")
	if err != nil || ew["maze"] != 2 || ew["knapsack"] != 0.5 {
		t.Fatalf("%v %v", ew, err)
	}
	dw, err := ParseDifficultyWeights("1-3=1,8-10=3,5=0")
	if err != nil || len(dw) != 7 || dw[9] != 3 || dw[5] != 0 {
		t.Fatalf("%v %v", dw, err)
	}
	for _, bad := range []string{"maze", "maze=x", "maze=-1", "=1", "maze=1,maze=2", "maze=NaN"} {
		if _, err := ParseEnvWeights(bad); !errors.Is(err, ErrOptions) {
			t.Errorf("env weights %q: %v", bad, err)
		}
	}
	for _, bad := range []string{"3", "a=1", "5-1=1", "1-3=1,2=1", "1=-2"} {
		if _, err := ParseDifficultyWeights(bad); !errors.Is(err, ErrOptions) {
			t.Errorf("difficulty weights %q: %v", bad, err)
		}
	}
}

func TestGroundTruth(t *testing.T) {
	_, mods := local(t)
	m := mods[0]
	g := GroundTruth{Env: m.Name, Seed: 4, Difficulty: 2, Hash: m.Hash, State: json.RawMessage(`{"a":[1,2]}`)}
	s := g.String()
	back, err := ParseGroundTruth([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	g.Version = GroundTruthVersion
	if !reflect.DeepEqual(back, g) {
		t.Fatalf("round trip %+v, want %+v", back, g)
	}
	// Encoded once more as a JSON string, as a trainer may send it.
	twice, _ := json.Marshal(s)
	if again, err := ParseGroundTruth(twice); err != nil || !reflect.DeepEqual(again, g) {
		t.Fatalf("double-encoded: %+v %v", again, err)
	}
	if err := back.Check(m); err != nil {
		t.Fatal(err)
	}
	changed := back
	changed.Hash = "0000000000000000"
	if err := changed.Check(m); !errors.Is(err, ErrEnvChanged) || !strings.Contains(err.Error(), m.Hash) {
		t.Fatalf("changed environment: %v", err)
	}
	item := back.ScoreItem("<answer>x</answer>")
	if item.Env != m.Name || item.Seed != 4 || string(item.State) != `{"a":[1,2]}` {
		t.Fatalf("score item %+v", item)
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"env":"a"}`, `{"resyn":1,"env":"a"}`, `{"resyn":1,"env_hash":"x"}`,
		`{"resyn":99,"env":"a","env_hash":"x"}`, `{"resyn":1,"env":"a","env_hash":"x","seed":"NaN"}`, `{not json`} {
		if _, err := ParseGroundTruth([]byte(bad)); !errors.Is(err, ErrGroundTruth) {
			t.Errorf("%q: err = %v, want ErrGroundTruth", bad, err)
		}
	}
	huge := make([]byte, MaxGroundTruthBytes+1)
	if _, err := ParseGroundTruth(huge); !errors.Is(err, ErrGroundTruth) {
		t.Fatal("huge ground truth accepted")
	}
}

func TestUnknownFormat(t *testing.T) {
	if _, err := NewWriter("csv", nil); !errors.Is(err, ErrFormat) {
		t.Fatal(err)
	}
}

func FuzzParseGroundTruth(f *testing.F) {
	f.Add([]byte(`{"resyn":1,"env":"a","seed":1,"difficulty":2,"env_hash":"h","state":{"x":1}}`))
	f.Add([]byte(`"{\"resyn\":1}"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := ParseGroundTruth(b)
		if err != nil {
			return
		}
		if g.Env == "" || g.Hash == "" || g.Version < 1 {
			t.Fatalf("accepted %+v", g)
		}
		if _, err := ParseGroundTruth([]byte(g.String())); err != nil && len(g.State) == 0 {
			t.Fatalf("re-encoded ground truth does not parse: %v", err)
		}
	})
}

func ExampleParseDifficultyWeights() {
	w, _ := ParseDifficultyWeights("1-2=1,3=4")
	fmt.Println(w[1], w[2], w[3])
	// Output: 1 1 4
}

func ExampleParseGroundTruth() {
	g, err := ParseGroundTruth([]byte(`{"resyn":1,"env":"maze","seed":7,"difficulty":3,"env_hash":"3f2a9c01d4e5b6a7","state":{"w":5}}`))
	fmt.Println(g.Env, g.Seed, g.Difficulty, g.Hash, string(g.State), err)
	fmt.Println(g.String())
	// Output:
	// maze 7 3 3f2a9c01d4e5b6a7 {"w":5} <nil>
	// {"resyn":1,"env":"maze","seed":7,"difficulty":3,"env_hash":"3f2a9c01d4e5b6a7","state":{"w":5}}
}
