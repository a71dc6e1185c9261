package main

import (
	"bufio"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"resyn/storage"
	"resyn/trainer/experiment"
	"resyn/tui/panes/training"
)

// documentedKeys reads docs/json.md: for each "### `resyn …`" heading, the
// key paths of its ```keys block.
func documentedKeys(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("docs", "json.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	heading, in := "", false
	head := regexp.MustCompile("^### `resyn ([^`]*)`")
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case head.MatchString(line):
			// The command is the words before the first argument or flag.
			var words []string
			for _, w := range strings.Fields(head.FindStringSubmatch(line)[1]) {
				if !regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(w) {
					break
				}
				words = append(words, w)
			}
			heading = strings.Join(words, " ")
		case line == "```keys":
			in = true
		case line == "```":
			in = false
		case in && strings.TrimSpace(line) != "":
			out[heading] = append(out[heading], strings.Fields(line)[0])
		}
	}
	return out
}

// keyPaths lists every key path of a JSON document, as docs/json.md
// writes them.
func keyPaths(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = true
			keyPaths(e, p, out)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix+"[]", out)
		}
	}
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// checkJSONOutput: the output parses, every key outside a free-form part
// is snake_case and documented for the command, and no < > & is escaped.
func checkJSONOutput(t *testing.T, doc map[string][]string, command, out string) {
	t.Helper()
	keys, ok := doc[command]
	if !ok {
		t.Fatalf("docs/json.md has no schema for resyn %s", command)
	}
	var v any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("resyn %s --json: %v\n%s", command, err, out)
	}
	if strings.Contains(out, `\u003c`) || strings.Contains(out, `\u003e`) || strings.Contains(out, `\u0026`) {
		t.Errorf("resyn %s --json escapes < > or &:\n%.400s", command, out)
	}
	found := map[string]bool{}
	keyPaths(v, "", found)
	var paths []string
	for p := range found {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	documented := func(p string) bool {
		for _, k := range keys {
			if k == p || (strings.HasSuffix(k, ".*") && strings.HasPrefix(p, strings.TrimSuffix(k, "*"))) {
				return true
			}
		}
		return false
	}
	freeForm := func(p string) bool {
		for _, k := range keys {
			if strings.HasSuffix(k, ".*") && strings.HasPrefix(p, strings.TrimSuffix(k, "*")) {
				return true
			}
		}
		return false
	}
	for _, p := range paths {
		if !documented(p) {
			t.Errorf("resyn %s --json prints %s, which docs/json.md does not list", command, p)
		}
		if freeForm(p) {
			continue
		}
		last := p[strings.LastIndexAny(p, ".]")+1:]
		if !snakeKey.MatchString(last) || last == "hash" {
			t.Errorf("resyn %s --json: key %s breaks the naming convention", command, p)
		}
	}
}

// TestJSONOutputsFollowDocs runs each cheap --json command on a scratch
// store and checks its output against docs/json.md (bench and train are
// too slow for the fast suite; their types carry the documented tags).
func TestJSONOutputsFollowDocs(t *testing.T) {
	doc := documentedKeys(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "resyn.db")
	star := filepath.Join(dir, "parity.star")
	if err := os.WriteFile(star, []byte(parityEnv), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runResyn(t, db, args...)
		if code != 0 {
			t.Fatalf("resyn %v: exit %d\n%s", args, code, errOut)
		}
		return out
	}
	run("envs", "add", star)
	run("envs", "note", "parity", "even & odd <answer>")
	cases := []struct {
		command string
		args    []string
	}{
		{"envs list", []string{"envs", "list", "--json"}},
		{"envs show", []string{"envs", "show", "graph_coloring", "--solve", "--json"}},
		{"envs validate", []string{"envs", "validate", star, "--seeds", "2", "--json"}},
		{"envs history", []string{"envs", "history", "parity", "--json"}},
		{"db info", []string{"db", "info", "--json"}},
		{"synth", []string{"synth", "--quiet", "--json"}},
		{"synth runs", []string{"synth", "runs", "--json"}},
	}
	for _, c := range cases {
		checkJSONOutput(t, doc, c.command, run(c.args...))
	}
	// A finished run and one that failed, for resyn train runs.
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := training.LoadRecorded(s, filepath.Join("testdata", "train-run")); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *storage.Tx) error {
		return storage.CreateTrainRun(tx, &storage.TrainRun{Name: "broken", Status: "failed", Error: "out of memory", Finished: time.Now()})
	}); err != nil {
		t.Fatal(err)
	}
	storeExperiment(t, s)
	s.Close()
	checkJSONOutput(t, doc, "train runs", run("train", "runs", "--json"))
	checkJSONOutput(t, doc, "experiment show", run("experiment", "show", "1", "--report", "-"))

	gen := filepath.Join(dir, "gen.jsonl")
	run("gen", "--env", "graph_coloring", "--n", "3", "--out", gen)
	b, _ := os.ReadFile(gen)
	var completions strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var row map[string]any
		json.Unmarshal([]byte(line), &row)
		row["completion"] = "<answer>1 2 1</answer>"
		delete(row, "prompt")
		delete(row, "state")
		l, _ := json.Marshal(row)
		completions.Write(append(l, '\n'))
	}
	in := filepath.Join(dir, "completions.jsonl")
	os.WriteFile(in, []byte(completions.String()), 0o644)
	checkJSONOutput(t, doc, "score", run("score", "--in", in, "--out", filepath.Join(dir, "rewards.jsonl"), "--json"))
	checkJSONOutput(t, doc, "export", run("export", "--format", "jsonl", "--env", "graph_coloring", "--n", "4", "--out", filepath.Join(dir, "exp"), "--json"))

	model := filepath.Join(dir, "model")
	run("model", "init", model, "--vocab", "300", "--hidden", "16", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--intermediate", "32")
	checkJSONOutput(t, doc, "model check-logits", run("model", "check-logits", model, "--len", "4", "--seqs", "1", "--threads", "1", "--json"))

	srv := httptest.NewServer(&evalServer{})
	defer srv.Close()
	checkJSONOutput(t, doc, "eval", run("eval", "--provider", "openai", "--base-url", srv.URL+"/v1", "--model", "m",
		"--env", "graph_coloring", "--difficulty", "1", "--n", "1", "--workers", "1", "--max-tokens", "100", "--json"))
}

// storeExperiment records a diversity experiment with one finished run
// whose evaluations have every field.
func storeExperiment(t *testing.T, s *storage.DB) {
	t.Helper()
	rep := experiment.NewReport(experiment.Defaults())
	v := 1.5
	m := &experiment.Metrics{Reward: 0.1, RewardCI: [2]float64{0, 0.2}, AnswerNLL: &v, ContentNLL: &v,
		PerEnv: map[string]float64{"knapsack": 0.1}, PerEnvNLL: map[string]float64{"knapsack": 1.5}, N: 8}
	c := &rep.Cells[0]
	c.Status, c.RunID, c.Error, c.Pool, c.Elapsed = experiment.CellFailed, 3, "boom", map[string]int{"knapsack": 256}, time.Second
	c.InDist, c.Holdout, c.HoldoutSFT = m, m, m
	design, _ := json.Marshal(rep.Design)
	report, _ := json.Marshal(rep)
	if err := s.Update(func(tx *storage.Tx) error {
		return storage.CreateExperiment(tx, &storage.Experiment{Kind: experiment.Kind, Status: storage.RunStopped, Design: design, Report: report})
	}); err != nil {
		t.Fatal(err)
	}
}
