package trainbench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

// The rates are wall-clock and not asserted; what is checked is that each
// row reports the work that was done: its tokens, its FLOPs per token, the
// model's parameter count, and generation that ran every new token.
func TestRowsReportTheWorkDone(t *testing.T) {
	bm := Models(1)[0]
	row, err := FwdBwd(bm, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if row.Tokens != bm.B*bm.T || row.Params < 800_000 || row.Params > 1_100_000 {
		t.Fatalf("row %+v: want %d tokens and about 0.9M parameters", row, bm.B*bm.T)
	}
	perToken := row.GFLOPs * 1e9 / row.TokensPerSec
	want := 3 * bm.Cfg.ForwardFLOPs(bm.B, bm.T) / float64(bm.B*bm.T)
	if math.Abs(perToken-want) > 1e-6*want || row.StepMS <= 0 {
		t.Fatalf("%.0f FLOPs per token reported, the model does %.0f; AdamW step %v ms", perToken, want, row.StepMS)
	}
	if tps, err := Generate(bm, 2, 8, 4, time.Millisecond); err != nil || tps <= 0 {
		t.Fatalf("generate: %v tokens/s, %v", tps, err)
	}
	if g, err := Peak(64, 1, time.Millisecond); err != nil || g <= 0 {
		t.Fatalf("peak: %v GFLOP/s, %v", g, err)
	}
	var b bytes.Buffer
	r := Result{Machine: "m", Threads: 1, PeakShape: 64, PeakGFLOPs: 10, Train: []TrainRow{row}, Generate: []GenRow{{bm.Name, 1, 100}}, GenPrompt: 32, GenNewTokens: 4}
	if err := r.WriteText(&b); err != nil || !strings.Contains(b.String(), bm.Name) || !strings.Contains(b.String(), "native tokens/s") {
		t.Fatalf("text: %v\n%s", err, b.String())
	}
}
