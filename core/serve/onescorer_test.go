package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"resyn/core/dataset"
	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/export"
)

// scorerCase is one completion of one exported instance.
type scorerCase struct {
	rec        export.Record
	completion string
}

// builtinCases exports perEnv instances of every built-in environment
// through a worker pool and makes completions for each: the reference
// answer, a corrupted one, an empty one, none, and the reference nested in
// stray tags.
func builtinCases(t *testing.T, p *env.Pool, mods []*env.Module, perEnv int) []scorerCase {
	t.Helper()
	opts := export.Options{Envs: mods, N: perEnv * len(mods), Seed: 500, MinDifficulty: 1, MaxDifficulty: 10}
	var recs []export.Record
	_, err := export.Generate(context.Background(), p, opts,
		func(r export.Record) error { recs = append(recs, r); return nil },
		func(it export.Item, e *env.Error) {
			t.Errorf("built-in %s cannot generate seed %d difficulty %d: %v", it.Env.Name, it.Seed, it.Difficulty, e)
		}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The ground truths are those of the exported Parquet file, read back.
	path := filepath.Join(t.TempDir(), "all.parquet")
	if _, err := export.Export(context.Background(), p, opts, export.FormatVerl, path, nil, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.ReadFile[export.VerlRow](path)
	if err != nil || len(rows) != len(recs) {
		t.Fatalf("exported %d rows for %d records: %v", len(rows), len(recs), err)
	}
	for i := range recs {
		gt, err := export.ParseGroundTruth([]byte(rows[i].RewardModel.GroundTruth))
		if err != nil || rows[i].ExtraInfo.Index != int64(recs[i].Index) || gt.String() != rows[i].RewardModel.GroundTruth {
			t.Fatalf("row %d: %v", i, err) // (so sending gt.String() sends the row's own string)
		}
		recs[i].GroundTruth = gt
	}
	tasks := make([]env.Task, len(recs))
	for i, r := range recs {
		tasks[i] = env.Task{Env: r.Env, Seed: r.Seed, Difficulty: r.Difficulty, Solve: true}
	}
	sols := p.Run(context.Background(), tasks)
	var cases []scorerCase
	for i, r := range recs {
		sol := "42"
		if sols[i].Err == nil {
			sol = sols[i].Solution
		}
		for _, c := range []string{
			"Reasoning…\n<answer>" + sol + "</answer>",
			"<answer>" + reverse(sol) + "x</answer>",
			"<answer></answer>",
			"I give up.",
			"<answer>draft</answer> <answer>\n" + sol + "\n</answer><answer>",
		} {
			cases = append(cases, scorerCase{r, c})
		}
	}
	return cases
}

func reverse(s string) string {
	r := []rune(s)
	for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
		r[i], r[j] = r[j], r[i]
	}
	return string(r)
}

func builtinPool(t *testing.T) (*env.Pool, []*env.Module) {
	t.Helper()
	mods, err := envlib.Modules()
	if err != nil {
		t.Fatal(err)
	}
	p, err := env.NewPool(env.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mods {
		p.Register(m)
	}
	t.Cleanup(func() { p.Close() })
	return p, mods
}

// same compares what a reward means: its kind, score and extracted answer.
func same(a, b env.Reward) bool {
	return a.Kind == b.Kind && a.Score == b.Score && a.Answer == b.Answer
}

// TestOneScorer checks, on every built-in environment, that a completion
// gets the same reward from `resyn score` (dataset.Score), from POST /score
// by (env, seed, difficulty) and from POST /score by an exported row's
// ground truth; in the long suite also from the Python shims of
// integrations/ (pythonShims).
func TestOneScorer(t *testing.T) {
	p, mods := builtinPool(t)
	perEnv := 2
	if os.Getenv("RESYN_LONG") != "" {
		perEnv = 6
	}
	cases := builtinCases(t, p, mods, perEnv)

	// 1. `resyn score`: JSONL in, one ScoredLine per line out.
	var in strings.Builder
	for _, c := range cases {
		b, _ := json.Marshal(map[string]any{"env": c.rec.Env, "seed": c.rec.Seed, "difficulty": c.rec.Difficulty, "completion": c.completion})
		in.Write(append(b, '\n'))
	}
	var out strings.Builder
	if _, err := dataset.Score(context.Background(), p, strings.NewReader(in.String()), &out, func(e dataset.LineError) { t.Fatal(e) }, nil); err != nil {
		t.Fatal(err)
	}
	var byScore []env.Reward
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var l dataset.ScoredLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		byScore = append(byScore, l.Reward)
	}

	// 2 and 3. The server, by instance and by ground truth.
	s, err := New(Options{Exec: p, Envs: mods})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	c := &Client{URL: hs.URL}
	var byInst, byGT []Item
	for _, k := range cases {
		byInst = append(byInst, ByInstance(k.rec.Env, k.rec.Seed, k.rec.Difficulty, k.completion))
		byGT = append(byGT, ByGroundTruth(k.rec.GroundTruth.String(), k.completion))
	}
	fromInst, err := c.Score(context.Background(), byInst)
	if err != nil {
		t.Fatal(err)
	}
	fromGT, err := c.Score(context.Background(), byGT)
	if err != nil {
		t.Fatal(err)
	}
	if len(byScore) != len(cases) {
		t.Fatalf("resyn score gave %d records for %d cases", len(byScore), len(cases))
	}
	perfect := map[string]bool{}
	for i, k := range cases {
		// Every path gives the same record, timeouts included: the built-ins
		// take at most a few hundred thousand steps and milliseconds of CPU,
		// far inside the limits, and the wall clock is only a last resort
		// (10 s) that a loaded machine does not reach.
		a, b, g := byScore[i], fromInst[i].Reward, fromGT[i].Reward
		if !same(a, b) || !same(a, g) || fromInst[i].Code != "" || fromGT[i].Code != "" {
			t.Errorf("%s seed %d difficulty %d, completion %q:\n  resyn score   %+v\n  by instance   %+v\n  by ground truth %+v",
				k.rec.Env, k.rec.Seed, k.rec.Difficulty, k.completion, a, fromInst[i], fromGT[i])
		}
		if a.Kind == env.KindOK && a.Score == 1 {
			perfect[k.rec.Env] = true
		}
	}
	for _, m := range mods {
		if m.HasSolve && !perfect[m.Name] {
			t.Errorf("%s: no reference answer scored 1 by any path", m.Name)
		}
	}
	t.Logf("%d environments, %d completions: the same reward by resyn score, by instance and by ground truth", len(mods), len(cases))

	if os.Getenv("RESYN_LONG") != "" {
		pythonShims(t, hs.URL, cases, fromGT, mods)
	}
}

// shimHarness runs both shims on the cases of cases.json and prints what
// they returned: verl's compute_score one by one, compute_score_batch,
// TRL's reward function (conversational completions for odd indexes), and
// what each raises for a ground truth of a changed environment.
const shimHarness = `
import importlib.util, json, sys

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

verl = load("resyn_verl", sys.argv[1])
trl = load("resyn_trl", sys.argv[2])
cases = json.load(open(sys.argv[3]))
out = {}
out["single"] = [verl.compute_score(c["data_source"], c["completion"], c["ground_truth"], c["extra_info"]) for c in cases]
out["batch"] = verl.compute_score_batch([c["data_source"] for c in cases], [c["completion"] for c in cases],
                                        [c["ground_truth"] for c in cases], [c["extra_info"] for c in cases])
completions = [c["completion"] if i % 2 == 0 else [{"role": "assistant", "content": c["completion"]}] for i, c in enumerate(cases)]
out["trl"] = trl.resyn_reward(completions=completions, ground_truth=[c["ground_truth"] for c in cases],
                              prompts=[None] * len(cases), env=[c["extra_info"]["env"] for c in cases])
changed = json.load(open(sys.argv[4]))
out["changed"] = []
for f in (lambda: verl.compute_score(changed["data_source"], "<answer>1</answer>", changed["ground_truth"]),
          lambda: verl.compute_score_batch([changed["data_source"]], ["<answer>1</answer>"], [changed["ground_truth"]], [{}]),
          lambda: trl.resyn_reward(completions=["<answer>1</answer>"], ground_truth=[changed["ground_truth"]])):
    try:
        f()
        out["changed"].append("no error")
    except verl.ResynError as e:
        out["changed"].append("verl.ResynError: " + str(e))
    except trl.ResynError as e:
        out["changed"].append("trl.ResynError: " + str(e))
json.dump(out, sys.stdout)
`

func pythonShims(t *testing.T, url string, cases []scorerCase, want []Reward, mods []*env.Module) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("the Python shims need python3 on PATH (Debian: apt-get install python3): %v", err)
	}
	dir := t.TempDir()
	type pyCase struct {
		DataSource  string           `json:"data_source"`
		Completion  string           `json:"completion"`
		GroundTruth string           `json:"ground_truth"`
		ExtraInfo   export.ExtraInfo `json:"extra_info"`
	}
	var pcs []pyCase
	for _, c := range cases {
		row := export.VerlRowOf(c.rec)
		pcs = append(pcs, pyCase{row.DataSource, c.completion, row.RewardModel.GroundTruth, row.ExtraInfo})
	}
	writeJSONFile(t, filepath.Join(dir, "cases.json"), pcs)
	changed := cases[0].rec
	changed.GroundTruth.Hash = "ffffffffffffffff"
	writeJSONFile(t, filepath.Join(dir, "changed.json"), map[string]string{"data_source": export.DataSource(changed.Env), "ground_truth": changed.GroundTruth.String()})
	writeFile(t, filepath.Join(dir, "harness.py"), shimHarness)
	cmd := exec.Command(py, filepath.Join(dir, "harness.py"),
		filepath.Join("..", "..", "integrations", "verl", "resyn_reward.py"),
		filepath.Join("..", "..", "integrations", "trl", "resyn_reward.py"),
		filepath.Join(dir, "cases.json"), filepath.Join(dir, "changed.json"))
	cmd.Env = append(os.Environ(), "RESYN_URL="+url, "RESYN_RETRIES=2")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 harness: %v\n%s", err, stderr.String())
	}
	var got struct {
		Single, Batch []map[string]float64
		TRL           []*float64 `json:"trl"`
		Changed       []string
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("harness output: %v\n%.400s", err, b)
	}
	if len(got.Single) != len(cases) || len(got.Batch) != len(cases) || len(got.TRL) != len(cases) {
		t.Fatalf("harness gave %d/%d/%d results for %d cases", len(got.Single), len(got.Batch), len(got.TRL), len(cases))
	}
	for i, w := range want {
		if w.Kind == env.KindTimeout {
			continue
		}
		valid := w.Kind == env.KindOK || w.Kind == env.KindFormat
		wantVerl := map[string]float64{"score": 0, "resyn_valid": 0}
		if valid {
			wantVerl = map[string]float64{"score": w.Score, "resyn_valid": 1}
		}
		trlOK := (!valid && got.TRL[i] == nil) || (valid && got.TRL[i] != nil && *got.TRL[i] == w.Score)
		if fmt.Sprint(got.Single[i]) != fmt.Sprint(wantVerl) || fmt.Sprint(got.Batch[i]) != fmt.Sprint(wantVerl) || !trlOK {
			trl := "None"
			if got.TRL[i] != nil {
				trl = fmt.Sprint(*got.TRL[i])
			}
			t.Errorf("case %d (%s, %q): server %+v; verl compute_score %v, compute_score_batch %v, trl %s",
				i, cases[i].rec.Env, cases[i].completion, w, got.Single[i], got.Batch[i], trl)
		}
	}
	for i, msg := range got.Changed {
		if !strings.Contains(msg, "ResynError") || !strings.Contains(msg, "env_changed") || !strings.Contains(msg, "ffffffffffffffff") {
			t.Errorf("shim %d on a changed environment: %s", i, msg)
		}
	}
	t.Logf("Python shims (verl single, verl batch, TRL) agree on %d completions over %d environments", len(cases), len(mods))
}

func writeJSONFile(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, string(b))
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// failureHarness exercises the shims' other paths: an item that times out,
// a ground truth already parsed into a dict, a data source that is not
// resyn's, and a wrong token.
const failureHarness = `
import importlib.util, json, os, sys

def load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

verl = load("resyn_verl", sys.argv[1])
trl = load("resyn_trl", sys.argv[2])
slow, add, ans = sys.argv[3], sys.argv[4], sys.argv[5]
out = {
    "verl_timeout": verl.compute_score("resyn/slow", "<answer>1</answer>", slow),
    "verl_dict_gt": verl.compute_score("resyn/add", "<answer>" + ans + "</answer>", json.loads(add), {"index": 0}),
    "trl": trl.resyn_reward(completions=["<answer>1</answer>", [{"role": "assistant", "content": "<answer>" + ans + "</answer>"}], "no tags"],
                            ground_truth=[slow, add, add]),
}
try:
    verl.compute_score("openai/gsm8k", "<answer>1</answer>", add)
    out["foreign"] = "no error"
except verl.ResynError as e:
    out["foreign"] = str(e)
os.environ["RESYN_TOKEN"] = "wrong"
try:
    trl.resyn_reward(completions=["x"], ground_truth=[add])
    out["wrong_token"] = "no error"
except trl.ResynError as e:
    out["wrong_token"] = str(e)
json.dump(out, sys.stdout)
`

// TestShimFailurePaths runs the shims against a server of testdata's
// environments with a token: env errors are 0.0 with resyn_valid 0 for verl
// and None for TRL, never a silent score.
func TestShimFailurePaths(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("the Python shims need python3 on PATH (Debian: apt-get install python3): %v", err)
	}
	f := newFixture(t, false, func(o *Options) { o.Token = "shim-test-token" })
	slowGT, _ := instance(t, f.mods["slow"], 1, 1)
	addGT, sum := instance(t, f.mods["add"], 2, 3)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "harness.py"), failureHarness)
	cmd := exec.Command(py, filepath.Join(dir, "harness.py"),
		filepath.Join("..", "..", "integrations", "verl", "resyn_reward.py"),
		filepath.Join("..", "..", "integrations", "trl", "resyn_reward.py"),
		slowGT.String(), addGT.String(), sum)
	cmd.Env = append(os.Environ(), "RESYN_URL="+f.http.URL, "RESYN_TOKEN=shim-test-token", "RESYN_RETRIES=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 harness: %v\n%s", err, stderr.String())
	}
	var got struct {
		VerlTimeout map[string]float64 `json:"verl_timeout"`
		VerlDictGT  map[string]float64 `json:"verl_dict_gt"`
		TRL         []*float64         `json:"trl"`
		Foreign     string             `json:"foreign"`
		WrongToken  string             `json:"wrong_token"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("harness output: %v\n%s", err, b)
	}
	if got.VerlTimeout["score"] != 0 || got.VerlTimeout["resyn_valid"] != 0 || !strings.Contains(stderr.String(), "resyn: item not scored (timeout)") {
		t.Errorf("verl on a timeout: %v, stderr %q", got.VerlTimeout, stderr.String())
	}
	if got.VerlDictGT["score"] != 1 || got.VerlDictGT["resyn_valid"] != 1 {
		t.Errorf("verl with a dict ground truth: %v", got.VerlDictGT)
	}
	if len(got.TRL) != 3 || got.TRL[0] != nil || got.TRL[1] == nil || *got.TRL[1] != 1 || got.TRL[2] == nil || *got.TRL[2] != 0 {
		t.Errorf("trl: %v", got.TRL)
	}
	if !strings.Contains(got.Foreign, `'openai/gsm8k' is not a resyn dataset`) {
		t.Errorf("foreign data source: %s", got.Foreign)
	}
	if !strings.Contains(got.WrongToken, "HTTP 401") {
		t.Errorf("wrong token: %s", got.WrongToken)
	}
}
