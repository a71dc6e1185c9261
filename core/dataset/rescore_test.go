package dataset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"resyn/core/env"
)

// Three versions of one environment: v2 changes only the verifier (it
// also accepts the sum written with a sign), v3 changes the generator.
const addV1 = `NAME = "adder"
DESCRIPTION = "Add two numbers."
TAGS = ["arithmetic"]
def generate(rng, difficulty):
    return {"a": rng.randint(1, 10 * difficulty), "b": rng.randint(1, 10 * difficulty)}
def render(state):
    return "What is %d + %d? Answer inside <answer></answer>." % (state["a"], state["b"])
def verify(state, answer):
    return answer == str(state["a"] + state["b"])
def solve(state):
    return str(state["a"] + state["b"])
`

var (
	addV2 = strings.Replace(addV1, `return answer == str(state["a"] + state["b"])`,
		`return answer.lstrip("+") == str(state["a"] + state["b"])`, 1)
	addV3 = strings.Replace(addV1, `rng.randint(1, 10 * difficulty)}`, `rng.randint(1, 10 * difficulty) + 100}`, 1)
)

func adder(t *testing.T, src string) (env.Executor, *env.Module) {
	t.Helper()
	m, err := env.Load("adder.star", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	ex := env.NewLocal(env.DefaultLimits(), 1)
	ex.Register(m)
	return WithHashes(ex, []*env.Module{m}), m
}

// scoredWith scores completions as `resyn score` does and returns the
// input and output files.
func scoredWith(t *testing.T, ex env.Executor, lines []string) (in, out string) {
	t.Helper()
	in = strings.Join(lines, "\n") + "\n"
	var b bytes.Buffer
	if _, err := Score(context.Background(), ex, strings.NewReader(in), &b, func(LineError) {}, nil); err != nil {
		t.Fatal(err)
	}
	return in, b.String()
}

func adderCompletions(t *testing.T, ex env.Executor) []string {
	t.Helper()
	var lines []string
	for seed := int64(0); seed < 6; seed++ {
		r := ex.Run(context.Background(), []env.Task{{Env: "adder", Seed: seed, Difficulty: 2, Render: true, Solve: true}})[0]
		answers := map[int64]string{0: r.Solution, 1: "+" + r.Solution, 2: "+" + r.Solution, 3: "0", 4: "no tags", 5: r.Solution}
		c := "<answer>" + answers[seed] + "</answer>"
		if seed == 4 {
			c = answers[seed]
		}
		b, _ := json.Marshal(map[string]any{"env": "adder", "seed": seed, "difficulty": 2, "prompt": r.Prompt, "completion": c})
		lines = append(lines, string(b))
	}
	return lines
}

// After a verifier change, rescoring a scored file reports per environment
// the versions before and now and which results changed: the two "+N"
// answers now pass; everything else is the same.
func TestRescoreAfterAVerifierChange(t *testing.T) {
	ex1, m1 := adder(t, addV1)
	lines := adderCompletions(t, ex1)
	lines = append(lines[:3], append([]string{"", "not json"}, lines[3:]...)...) // a blank and a malformed line, not scored
	in, prev := scoredWith(t, ex1, lines)
	if !strings.Contains(prev, `"env_hash":"`+m1.Hash+`"`) {
		t.Fatalf("scored lines lack the version: %s", prev)
	}
	ex2, m2 := adder(t, addV2)
	var changes []RescoreChange
	unpaired := 0
	sums, err := Rescore(context.Background(), ex2, FileItems(strings.NewReader(in), strings.NewReader(prev), "in", "prev", &unpaired),
		func(c RescoreChange) error { changes = append(changes, c); return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := RescoreSummary{Env: "adder", OldHashes: []string{m1.Hash}, NewHash: m2.Hash, N: 6, Same: 4, Higher: 2,
		OldPass: 2, NewPass: 4, OldMean: 2.0 / 6, NewMean: 4.0 / 6}
	if len(sums) != 1 || fmt.Sprint(sums[0]) != fmt.Sprint(want) {
		t.Fatalf("summary %+v\nwant    %+v", sums, want)
	}
	if unpaired != 1 || len(changes) != 2 || changes[0].Ref != "line 2" || changes[1].Ref != "line 3" ||
		changes[0].OldScore != 0 || changes[0].NewScore != 1 || changes[0].OldHash != m1.Hash || changes[0].NewHash != m2.Hash {
		t.Errorf("unpaired %d, changes %+v", unpaired, changes)
	}
	// The same verifier changes nothing.
	sums, err = Rescore(context.Background(), ex1, FileItems(strings.NewReader(in), strings.NewReader(prev), "in", "prev", &unpaired), nil, nil)
	if err != nil || sums[0].Changed() || sums[0].Same != 6 {
		t.Errorf("same version: %+v, %v", sums, err)
	}
}

// A changed generator makes the rebuilt instance another one: those items
// are counted apart, not as higher or lower scores.
func TestRescoreSeesAChangedInstance(t *testing.T) {
	ex1, _ := adder(t, addV1)
	in, prev := scoredWith(t, ex1, adderCompletions(t, ex1))
	ex3, _ := adder(t, addV3)
	unpaired := 0
	sums, err := Rescore(context.Background(), ex3, FileItems(strings.NewReader(in), strings.NewReader(prev), "in", "prev", &unpaired), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := sums[0]; s.Instance != 6 || s.Higher+s.Lower+s.Same+s.Kind != 0 {
		t.Errorf("summary %+v; want every instance changed", s)
	}
	// An environment that is gone: every result changes kind to env_error.
	ex0 := WithHashes(env.NewLocal(env.DefaultLimits(), 1), nil)
	sums, err = Rescore(context.Background(), ex0, Items([]RescoreItem{{Env: "adder", Seed: 1, Difficulty: 2, Completion: "<answer>3</answer>", OldKind: env.KindOK, OldScore: 1}}), nil, nil)
	if err != nil || sums[0].Kind != 1 || sums[0].NewHash != "" {
		t.Errorf("gone: %+v, %v", sums, err)
	}
}

func TestFileItemsRefusesTheWrongFiles(t *testing.T) {
	ex1, _ := adder(t, addV1)
	lines := adderCompletions(t, ex1)
	in, prev := scoredWith(t, ex1, lines)
	other := strings.Join(lines[1:], "\n") + "\n" // shifted by a line
	for _, c := range []struct{ in, prev, want string }{
		{other, prev, "not the file it scored"},
		{lines[0] + "\n", prev, "has 1 lines but prev has a record for line 2"},
		{in, "{\"nope\":1}\n", "prev line 1: not a reward record"},
		{in, strings.Join([]string{strings.Split(prev, "\n")[1], strings.Split(prev, "\n")[0]}, "\n"), "out of order"},
	} {
		unpaired := 0
		_, err := Rescore(context.Background(), ex1, FileItems(strings.NewReader(c.in), strings.NewReader(c.prev), "in", "prev", &unpaired), nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v; want %q", err, c.want)
		}
	}
}
