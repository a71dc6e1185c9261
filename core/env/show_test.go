package env

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestVerdict: each kind of reward gets its mark and its words.
func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		r    Reward
		want string
	}{
		{Reward{Kind: KindOK, Score: 1}, "✓ score 1  ok (correct)"},
		{Reward{Kind: KindOK, Score: 0.5}, "◐ score 0.5  ok (partial credit)"},
		{Reward{Kind: KindOK, Score: 0}, "✗ score 0  ok (wrong)"},
		{Reward{Kind: KindFormat, Error: "no <answer> block"}, "✗ score 0  format: no <answer> block"},
	} {
		if got := c.r.Verdict(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.r, got, c.want)
		}
	}
}

// TestShow: an instance of the demo module with its reference answer and
// a typed answer, as text and as JSON; a typed answer that is wrong gets
// its verdict, and no answer means no answer fields.
func TestShow(t *testing.T) {
	m, err := Load("demo.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ex := NewLocal(DefaultLimits(), 1)
	ex.Register(m)
	ctx := context.Background()
	plain, err := Show(ctx, ex, "demo", 7, 3, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := plain.JSON(); len(j) != 5 || j["prompt"] == "" || j["seed"] != int64(7) {
		t.Errorf("JSON without --solve or an answer: %v", j)
	}
	sol, _ := m.Solve(plain.Result.State, DefaultLimits())
	typed := "0"
	s, err := Show(ctx, ex, "demo", 7, 3, true, &typed)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.WriteText(&b, 80); err != nil {
		t.Fatal(err)
	}
	want := "── demo  seed 7  difficulty 3 ──\n\n" + s.Result.Prompt + "\n\n── state ──\n" + FormatState(s.Result.State, 80) +
		"\n\n── reference answer (verify → 1) ──\n" + sol + "\n\n── your answer ──\n0\n✗ score 0  ok (wrong)\n"
	if b.String() != want {
		t.Errorf("text:\n%s\nwant:\n%s", b.String(), want)
	}
	out, _ := json.Marshal(s.JSON())
	for _, w := range []string{`"solution":"` + sol + `"`, `"solution_score":1`, `"answer":"0"`, `"answer_reward":{"kind":"ok","score":0,"answer":"0"}`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("JSON lacks %s: %s", w, out)
		}
	}
	if _, err := Show(ctx, ex, "nope", 1, 1, false, nil); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("an unknown environment: %v", err)
	}
}
