package grpo

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"resyn/storage"
)

func TestTrainProgressSaysTimeLeft(t *testing.T) {
	var b bytes.Buffer
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	p := NewTextPrinter(&b)
	p.SFT.Now, p.GRPO.Now = clock, clock
	p.Print(SFTStepEvent{Step: 1, Of: 100, Elapsed: 500 * time.Millisecond})
	for step := 1; step <= 2; step++ {
		now = now.Add(4 * time.Second)
		p.Print(StepEvent{Step: step, Of: 40, Elapsed: 4 * time.Second})
	}
	out := b.String()
	for _, want := range []string{"sft    1/100 (2 steps/s, 49s left)", "step    2/40 (15 steps/min, 2m32s left)"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q:\n%s", want, out)
		}
	}
}

// RunRows and WriteMetrics: the last step and reward of each run (a NaN
// reward is no reward), and every point as CSV or JSONL, the overall row
// before the per-environment rows in name order, non-finite values spelled.
func TestRunRowsAndWriteMetrics(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "r.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if rows, err := RunRows(nil); err != nil || len(rows) != 0 {
		t.Fatalf("no store: %v %v", rows, err)
	}
	runs := []storage.TrainRun{{Name: "a", Envs: []storage.EnvVersion{{Name: "x"}, {Name: "x"}, {Name: "y"}}}, {Name: "b"}}
	pts := [][]storage.MetricPoint{
		{{Step: 1, Name: "reward", Value: 0.25, PerEnv: map[string]float64{"y": 0.5, "x": 0}}, {Step: 2, Name: "loss", Value: math.NaN()}},
		{{Step: 3, Name: "reward", Value: math.Inf(1)}},
	}
	if err := db.Update(func(tx *storage.Tx) error {
		for i := range runs {
			if err := storage.CreateTrainRun(tx, &runs[i]); err != nil {
				return err
			}
			if err := storage.PutMetrics(tx, runs[i].ID, pts[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rows, err := RunRows(db)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows %+v, %v", rows, err)
	}
	if r := rows[0]; r.Steps != 2 || r.LastReward == nil || *r.LastReward != 0.25 || strings.Join(r.Envs, ",") != "x,y" {
		t.Errorf("run a: %+v", r)
	}
	if r := rows[1]; r.Steps != 3 || r.LastReward != nil {
		t.Errorf("run b (an infinite reward is none): %+v", r)
	}
	var csvOut, jsonOut bytes.Buffer
	if err := WriteMetrics(&csvOut, "csv", pts[0]); err != nil {
		t.Fatal(err)
	}
	if want := "step,metric,env,value\n1,reward,,0.25\n1,reward,x,0\n1,reward,y,0.5\n2,loss,,NaN\n"; csvOut.String() != want {
		t.Errorf("csv:\n%s\nwant:\n%s", csvOut.String(), want)
	}
	if err := WriteMetrics(&jsonOut, "jsonl", pts[1]); err != nil {
		t.Fatal(err)
	}
	if want := `{"step":3,"metric":"reward","value":"+Inf"}` + "\n"; jsonOut.String() != want {
		t.Errorf("jsonl: %s, want %s", jsonOut.String(), want)
	}
	if err := WriteMetrics(&jsonOut, "parquet", nil); err == nil || !strings.Contains(err.Error(), "csv or jsonl") {
		t.Errorf("an unknown format: %v", err)
	}
}
