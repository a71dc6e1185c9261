package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"resyn/storage"
	"resyn/trainer/grpo"
	"resyn/tui/panes/training"
)

// runsStore is a store with the recorded demo run (done, 60 steps), a run
// stored as running that no process holds (it reads as interrupted) and a
// stopped one whose last reward is NaN.
func runsStore(t *testing.T) (string, []storage.MetricPoint) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "resyn.db")
	s, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := training.LoadRecorded(s, filepath.Join("testdata", "train-run"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(func(tx *storage.Tx) error {
		gone := storage.TrainRun{Name: "killed", Status: "running"}
		if err := storage.CreateTrainRun(tx, &gone); err != nil {
			return err
		}
		if err := storage.PutMetrics(tx, gone.ID, []storage.MetricPoint{{Step: 1, Name: "sft_loss", Value: 2.5}}); err != nil {
			return err
		}
		stopped := storage.TrainRun{Name: "odd values", Status: "stopped"}
		if err := storage.CreateTrainRun(tx, &stopped); err != nil {
			return err
		}
		return storage.PutMetrics(tx, stopped.ID, []storage.MetricPoint{
			{Step: 1, Name: "reward", Value: 0.25},
			{Step: 2, Name: "reward", Value: math.NaN(), PerEnv: map[string]float64{"a": math.Inf(1), "b": 0.5}},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var pts []storage.MetricPoint
	err = s.View(func(tx *storage.Tx) error {
		pts, err = storage.ListMetrics(tx, id, 0)
		return err
	})
	if err != nil || len(pts) == 0 {
		t.Fatalf("the recorded run's metrics: %d points, %v", len(pts), err)
	}
	return db, pts
}

// TestTrainRuns: the list names every run with its status (interrupted
// included), last step and last reward, as a table and as JSON.
func TestTrainRuns(t *testing.T) {
	db, _ := runsStore(t)
	out, errs, code := runResyn(t, db, "train", "runs", "--json")
	if code != 0 {
		t.Fatalf("train runs --json: exit %d\n%s", code, errs)
	}
	var rows []grpo.RunRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rows) != 3 {
		t.Fatalf("%d runs, want 3:\n%s", len(rows), out)
	}
	want := []struct {
		name   string
		status storage.RunStatus
		steps  int64
		reward *float64
	}{
		{"tiny-cpu demo", "done", 60, nil},
		{"killed", storage.RunInterrupted, 1, nil},
		{"odd values", "stopped", 2, nil},
	}
	for i, w := range want {
		r := rows[i]
		if r.ID != uint64(i+1) || r.Name != w.name || r.Status != w.status || r.Steps != w.steps {
			t.Errorf("run %d: %+v, want %s %s at step %d", i+1, r, w.name, w.status, w.steps)
		}
	}
	if rows[0].LastReward == nil || *rows[0].LastReward <= 0 || rows[1].LastReward != nil || rows[2].LastReward != nil {
		t.Errorf("last rewards %v %v %v: want the demo's, none before any reward, none for NaN", rows[0].LastReward, rows[1].LastReward, rows[2].LastReward)
	}
	out, errs, code = runResyn(t, db, "train", "runs")
	if code != 0 {
		t.Fatalf("train runs: exit %d\n%s", code, errs)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) != 4 || !strings.Contains(lines[0], "STATUS") || !strings.Contains(lines[2], "interrupted") || !strings.Contains(lines[1], "60") {
		t.Errorf("the table:\n%s", out)
	}
	for _, l := range lines {
		if len(l) > 80 {
			t.Errorf("line wider than 80 columns: %q", l)
		}
	}
}

// flatten is the rows an export should have for points: one per metric and
// step, and one per environment of a broken-down metric.
func flatten(pts []storage.MetricPoint) map[string]float64 {
	out := map[string]float64{}
	for _, p := range pts {
		out[strconv.FormatInt(p.Step, 10)+" "+p.Name+" "] = p.Value
		for e, v := range p.PerEnv {
			out[strconv.FormatInt(p.Step, 10)+" "+p.Name+" "+e] = v
		}
	}
	return out
}

// TestTrainExport: csv and jsonl parsed back are the store's metric points,
// to stdout and to a file; NaN and infinities survive; a bad run or format
// says which.
func TestTrainExport(t *testing.T) {
	db, pts := runsStore(t)
	want := flatten(pts)
	same := func(format string, got map[string]float64, n int) {
		t.Helper()
		if n != len(want) || len(got) != len(want) {
			t.Errorf("%s: %d rows (%d distinct), want %d", format, n, len(got), len(want))
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s: %q = %v (present %v), want %v", format, k, g, ok, v)
			}
		}
	}

	out, errs, code := runResyn(t, db, "train", "export", "1", "--format", "csv")
	if code != 0 {
		t.Fatalf("export --format csv: exit %d\n%s", code, errs)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 || strings.Join(recs[0], ",") != "step,metric,env,value" {
		t.Fatalf("csv: %v, header %v", err, recs[:min(1, len(recs))])
	}
	got := map[string]float64{}
	for _, r := range recs[1:] {
		v, err := strconv.ParseFloat(r[3], 64)
		if err != nil {
			t.Fatalf("csv value %q: %v", r[3], err)
		}
		got[r[0]+" "+r[1]+" "+r[2]] = v
	}
	same("csv", got, len(recs)-1)

	file := filepath.Join(t.TempDir(), "run1.jsonl")
	if _, errs, code := runResyn(t, db, "train", "export", "1", "--format", "jsonl", "--out", file); code != 0 || !strings.Contains(errs, file) {
		t.Fatalf("export --format jsonl --out: exit %d\n%s", code, errs)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]float64{}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	for _, l := range lines {
		var r struct {
			Step   int64
			Metric string
			Env    string
			Value  float64
		}
		if err := json.Unmarshal(l, &r); err != nil {
			t.Fatalf("jsonl line %s: %v", l, err)
		}
		got[strconv.FormatInt(r.Step, 10)+" "+r.Metric+" "+r.Env] = r.Value
	}
	same("jsonl", got, len(lines))

	out, _, code = runResyn(t, db, "train", "export", "3", "--format", "jsonl")
	if code != 0 || !strings.Contains(out, `"value":"NaN"`) || !strings.Contains(out, `"env":"a","value":"+Inf"`) {
		t.Errorf("non-finite values: exit %d\n%s", code, out)
	}
	out, _, _ = runResyn(t, db, "train", "export", "3", "--format", "csv")
	if !strings.Contains(out, "2,reward,,NaN") || !strings.Contains(out, "2,reward,a,+Inf") {
		t.Errorf("non-finite values in csv:\n%s", out)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"9"}, "training run 9: not found"},
		{[]string{"x1"}, `"x1" is not a run number`},
		{[]string{"1", "--format", "xml"}, `--format "xml": want csv or jsonl`},
	} {
		out, errs, code := runResyn(t, db, append([]string{"train", "export"}, c.args...)...)
		if code != 1 || !strings.Contains(errs, c.want) || out != "" {
			t.Errorf("export %v: exit %d, stdout %q, stderr %q; want exit 1 and %q", c.args, code, out, errs, c.want)
		}
	}
}
