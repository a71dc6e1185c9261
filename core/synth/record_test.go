package synth

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"resyn/llm"
)

var update = flag.Bool("update", false, "rewrite testdata/synth/run.jsonl from the scripted model")

// demoRecording is the recorded run that ships with resyn.
var demoRecording = filepath.Join("..", "..", "testdata", "synth", "run.jsonl")

// TestRecordDemoRun replays the shipped recording and checks that it still
// plays to the scripted outcomes. With -update it first records it afresh:
// the scripted model, wrapped in an llm.Recorder, runs the demo
// configuration one candidate at a time (so the file's order is stable).
func TestRecordDemoRun(t *testing.T) {
	if *update {
		var buf bytes.Buffer
		buf.WriteString("# resyn demo synthesis run: played by `resyn synth --provider replay`.\n")
		buf.WriteString("# Written by `go test ./core/synth -run TestRecordDemoRun -update` from the scripted model\n")
		buf.WriteString("# in core/synth/script_test.go (token counts are that model's estimates, bytes/4).\n")
		rec := llm.NewRecorder(newScripted(), &buf)
		cfg := DemoConfig()
		cfg.Parallel = 1
		pl := &Pipeline{LLM: rec, Pool: testPool(t), DB: openStore(t)}
		if _, err := pl.Run(context.Background(), cfg, nil); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(demoRecording), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(demoRecording, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	replay, err := llm.LoadReplay(demoRecording)
	if err != nil {
		t.Fatal(err)
	}
	db := openStore(t)
	pl := &Pipeline{LLM: replay, Pool: testPool(t), DB: db}
	var ev events
	cfg := DemoConfig()
	sum, err := pl.Run(context.Background(), cfg, ev.add)
	if err != nil {
		t.Fatal(err)
	}
	checkScriptedOutcomes(t, db, ev.all[0].(RunStartedEvent).RunID, ev.verdicts())
	if replay.Remaining() != 0 || sum.Calls != 22 {
		t.Errorf("%d recorded replies left unused, %d calls", replay.Remaining(), sum.Calls)
	}
}
