package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"resyn/storage"
)

// `resyn rescore --run` scores a training run's stored rollouts again with
// the current verifiers and reports the versions then and now and what
// changed: here a rollout an older graph_coloring verifier scored 0 now
// scores 1, one whose prompt no longer matches its seed counts apart, and
// one that scores the same is the same.
func TestRescoreRunCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "resyn.db")
	out, errOut, code := runResyn(t, db, "envs", "show", "graph_coloring", "--seed", "3", "--difficulty", "2", "--solve", "--json")
	var inst struct {
		Prompt, Solution string
	}
	if code != 0 || json.Unmarshal([]byte(out), &inst) != nil {
		t.Fatalf("envs show: exit %d %s", code, errOut)
	}
	st, err := storage.Open(db, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	answer := "<answer>" + inst.Solution + "</answer>"
	err = st.Update(func(tx *storage.Tx) error {
		r := storage.TrainRun{Name: "t", Status: "done", Envs: []storage.EnvVersion{{Name: "graph_coloring", Hash: "00000000000000aa", MinDifficulty: 1, MaxDifficulty: 10}}}
		if err := storage.CreateTrainRun(tx, &r); err != nil {
			return err
		}
		return storage.PutRollouts(tx, r.ID, []storage.Rollout{
			{Step: 1, Env: "graph_coloring", Seed: 3, Difficulty: 2, Prompt: inst.Prompt, Completion: answer, Outcome: "ok", Reward: 0, EnvHash: "00000000000000aa"},
			{Step: 2, Env: "graph_coloring", Seed: 3, Difficulty: 2, Prompt: inst.Prompt, Completion: "<answer>1</answer>", Outcome: "ok", Reward: 0},
			{Step: 3, Env: "graph_coloring", Seed: 4, Difficulty: 2, Prompt: inst.Prompt, Completion: answer, Outcome: "ok", Reward: 1},
		})
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code = runResyn(t, db, "rescore", "--run", "1", "--workers", "1", "--json", "--out", filepath.Join(t.TempDir(), "changed.jsonl"))
	var sums []struct {
		Env                                           string
		OldHashes                                     []string `json:"old_hashes"`
		NewHash                                       string   `json:"new_hash"`
		N, Same, Higher, Lower, Kind, InstanceChanged int
	}
	if code != 0 || json.Unmarshal([]byte(out), &sums) != nil {
		t.Fatalf("rescore: exit %d\n%s%s", code, out, errOut)
	}
	if len(sums) != 1 || sums[0].N != 3 || sums[0].Same != 1 || sums[0].Higher != 1 || strings.Join(sums[0].OldHashes, ",") != "00000000000000aa" || sums[0].NewHash == "" {
		t.Errorf("summary %+v", sums)
	}
	out, _, code = runResyn(t, db, "rescore", "--run", "1", "--workers", "1")
	if code != 0 || !strings.Contains(out, "graph_coloring  00000000000000aa") || !strings.Contains(out, "1 environment(s) with changed results") {
		t.Errorf("table:\n%s", out)
	}
	if _, errOut, code := runResyn(t, db, "rescore", "--run", "9"); code == 0 || !strings.Contains(errOut, "training run 9") {
		t.Errorf("unknown run: exit %d %s", code, errOut)
	}
	if _, errOut, code := runResyn(t, db, "rescore", "--in", "x.jsonl"); code == 0 || !strings.Contains(errOut, "--prev") {
		t.Errorf("--in without --prev: exit %d %s", code, errOut)
	}
}
