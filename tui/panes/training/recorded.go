package training

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"resyn/storage"
)

// LoadRecorded imports a recorded run (run.json, metrics.jsonl,
// rollouts.jsonl; see testdata/train-run/README.md) into the store as a new
// training run, and returns its id.
func LoadRecorded(db *storage.DB, dir string) (uint64, error) {
	var run storage.TrainRun
	b, err := os.ReadFile(filepath.Join(dir, "run.json"))
	if err != nil {
		return 0, fmt.Errorf("recorded run: %w", err)
	}
	if err := json.Unmarshal(b, &run); err != nil {
		return 0, fmt.Errorf("recorded run %s: %w", filepath.Join(dir, "run.json"), err)
	}
	type point struct {
		Step   int64              `json:"step"`
		Name   string             `json:"name"`
		Value  float64            `json:"value"`
		PerEnv map[string]float64 `json:"per_env"`
	}
	var points []storage.MetricPoint
	err = readJSONL(filepath.Join(dir, "metrics.jsonl"), func(line []byte) error {
		var p point
		if err := json.Unmarshal(line, &p); err != nil {
			return err
		}
		points = append(points, storage.MetricPoint{Step: p.Step, Name: p.Name, Value: p.Value, PerEnv: p.PerEnv})
		return nil
	})
	if err != nil {
		return 0, err
	}
	var rollouts []storage.Rollout
	err = readJSONL(filepath.Join(dir, "rollouts.jsonl"), func(line []byte) error {
		var r storage.Rollout
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		rollouts = append(rollouts, r)
		return nil
	})
	if err != nil {
		return 0, err
	}
	run.ID = 0
	err = db.Update(func(tx *storage.Tx) error {
		if err := storage.CreateTrainRun(tx, &run); err != nil {
			return err
		}
		if err := storage.PutMetrics(tx, run.ID, points); err != nil {
			return err
		}
		return storage.PutRollouts(tx, run.ID, rollouts)
	})
	return run.ID, err
}

func readJSONL(path string, fn func([]byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("recorded run: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := fn(sc.Bytes()); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}
