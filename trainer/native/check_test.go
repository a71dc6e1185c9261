package native

import (
	"math"
	"path/filepath"
	"testing"

	"resyn/trainer/hf"
)

// TestLogitsCheck: the raw logits recovered with the ghost row equal the
// float64 reference's (to 2e-5), the target log-probs equal Forward's, and
// the file round-trips through trainer/hf.
func TestLogitsCheck(t *testing.T) {
	for _, tie := range []bool{true, false} {
		m := newTiny(t, tinyConfig(tie), 41)
		r := newRNG(2)
		seqs := [][]int32{r.tokens(6, 37), r.tokens(11, 37)}
		ids := []int32{0, 5, 36}
		lc, err := m.LogitsCheck(seqs, ids, 1e-3)
		if err != nil {
			t.Fatal(err)
		}
		ref := refFrom(t, m)
		V := m.Config().VocabSize
		for i, s := range seqs {
			T := len(s)
			logits := ref.logits(s)
			for t2 := range T {
				for k, id := range ids {
					if got, want := lc.Sequences[i].Logits[t2][k], logits[t2*V+int(id)]; math.Abs(got-want) > 2e-5 {
						t.Fatalf("tie=%v seq %d pos %d id %d: logit %v, reference %v", tie, i, t2, id, got, want)
					}
				}
			}
			want, _ := ref.forward(Batch{B: 1, T: T - 1, Tokens: s[:T-1], Targets: s[1:]})
			for t2, v := range lc.Sequences[i].TargetLogprobs {
				if math.Abs(v-want[t2]) > 2e-5 {
					t.Fatalf("target logprob %d: %v, reference %v", t2, v, want[t2])
				}
			}
		}
		path := filepath.Join(t.TempDir(), "logits_check.json")
		if err := hf.WriteLogitsCheck(path, lc); err != nil {
			t.Fatal(err)
		}
		if back, err := hf.ReadLogitsCheck(path); err != nil || len(back.Sequences) != 2 {
			t.Fatalf("read back: %v", err)
		}
	}
}
