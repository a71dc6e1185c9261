package validate

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"resyn/core/env"
)

func TestMain(m *testing.M) {
	env.RunWorkerIfChild()
	os.Exit(m.Run())
}

const base = `NAME = "adder"
DESCRIPTION = "Add numbers."
TAGS = ["arithmetic"]
DIFFICULTY = (1, 4)

def generate(rng, difficulty):
    return {"xs": [rng.randint(0, 100) for _ in range(difficulty + 1)]}

def render(state):
    return "Add " + " + ".join([str(x) for x in state["xs"]]) + ". Put the sum in <answer></answer>."

def verify(state, answer):
    if not re.fullmatch(r"\s*-?\d+\s*", answer):
        return 0.0
    return int(answer.strip()) == sum(state["xs"])

def solve(state):
    return str(sum(state["xs"]))
`

func validateSrc(t *testing.T, src string) *Report {
	t.Helper()
	p, err := env.NewPool(env.PoolOptions{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	return File(context.Background(), p, "t.star", []byte(src), Options{SeedsPerLevel: 5})
}

func check(r *Report, name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{Name: name + " (missing)"}
}

func TestGoodEnvironmentPasses(t *testing.T) {
	r := validateSrc(t, base)
	if !r.OK {
		var b strings.Builder
		WriteText(&b, r)
		t.Fatalf("a correct environment failed:\n%s", b.String())
	}
	if r.Instances != 20 || r.Distinct < 0.5 {
		t.Fatalf("instances %d distinct %v", r.Instances, r.Distinct)
	}
	// Every instance ran, in waves: 20 first runs, the first four seeds of
	// each of the 4 levels again, and one probe task per instance.
	if c, _ := r.Check(CheckGenerate); r.Stopped != "" || r.Work.Tasks != 20+16+20 || strings.Contains(c.Detail, "not run") {
		t.Fatalf("ran %d tasks (stopped %q): %s", r.Work.Tasks, r.Stopped, c.Detail)
	}
}

func TestValidationCatchesBadEnvironments(t *testing.T) {
	cases := []struct {
		name   string
		from   string
		to     string
		failed string
	}{
		{"verifier accepts everything", "    if not re.fullmatch(r\"\\s*-?\\d+\\s*\", answer):\n        return 0.0\n    return int(answer.strip()) == sum(state[\"xs\"])", "    return True", CheckRejects},
		{"verifier credits containment", "    if not re.fullmatch(r\"\\s*-?\\d+\\s*\", answer):\n        return 0.0\n    return int(answer.strip()) == sum(state[\"xs\"])", "    return str(sum(state[\"xs\"])) in answer", CheckHacks},
		{"verifier raises on every wrong answer", "    if not re.fullmatch(r\"\\s*-?\\d+\\s*\", answer):\n        return 0.0\n    return int(answer.strip()) == sum(state[\"xs\"])", "    if answer == solve(state):\n        return 1.0\n    fail(\"cannot score \" + answer)", CheckRejects},
		{"verifier raises on garbage", "    if not re.fullmatch(r\"\\s*-?\\d+\\s*\", answer):\n        return 0.0\n", "", CheckNoRaise},
		{"prompt without tags", "Put the sum in <answer></answer>.", "Reply with the sum.", CheckPrompt},
		{"wrong reference solution", "return str(sum(state[\"xs\"]))", "return str(sum(state[\"xs\"]) + 1)", CheckSolve},
		{"no diversity", "rng.randint(0, 100)", "7", CheckDiversity},
		{"difficulty does nothing", "range(difficulty + 1)", "range(3)", CheckDifficulty},
		{"slow generator", "    return {\"xs\"", "    for i in range(3000000):\n        pass\n    return {\"xs\"", CheckBudget},
		{"state not JSON", "return {\"xs\"", "return {1: 1, \"xs\"", CheckGenerate},
		{"contract broken", "def solve(state):", "def solve(state, extra):", CheckLoad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			src := strings.Replace(base, c.from, c.to, 1)
			if src == base {
				t.Fatalf("replacement did not apply")
			}
			r := validateSrc(t, src)
			if r.OK {
				t.Fatal("validation passed")
			}
			if ch := check(r, c.failed); ch.OK {
				var b strings.Builder
				WriteText(&b, r)
				t.Fatalf("check %q passed (or is missing):\n%s", c.failed, b.String())
			}
		})
	}
}

// TestLimitsAreReportedOnceAndStopValidation: an environment that breaks a
// limit on every instance gets the failure under the budget check alone,
// saying which limit, after how many steps and at which line; the checks
// that had nothing to run on are skipped, not failed; and validation stops
// after a few instances instead of running all of them.
func TestLimitsAreReportedOnceAndStopValidation(t *testing.T) {
	src := strings.Replace(base, "    return {\"xs\"", "    while True:\n        pass\n    return {\"xs\"", 1)
	r := validateSrc(t, src)
	if r.OK {
		t.Fatal("passed")
	}
	failed := r.Failed()
	if len(failed) != 1 || failed[0].Name != CheckBudget {
		var b strings.Builder
		WriteText(&b, r)
		t.Fatalf("want the budget check alone to fail:\n%s", b.String())
	}
	msg := strings.Join(failed[0].Failures, "\n")
	for _, want := range []string{"steps limit", "more than 1000000 execution steps", "(was executing line "} {
		if !strings.Contains(msg, want) {
			t.Errorf("the budget failure does not say %q:\n%s", want, msg)
		}
	}
	for _, name := range []string{CheckDiversity, CheckRejects, CheckHacks, CheckDeterministic, CheckPrompt} {
		if c, _ := r.Check(name); !c.Skipped {
			t.Errorf("%s: %+v, want skipped", name, c)
		}
	}
	if r.Stopped == "" || r.Work.Tasks > 8 {
		t.Errorf("validation ran %d tasks (stopped: %q); want it stopped after the first few", r.Work.Tasks, r.Stopped)
	}
}

// flaky returns a different state on the second run of each task.
type flaky struct {
	env.Executor
	runs map[string]int
}

func (f *flaky) Run(ctx context.Context, tasks []env.Task) []env.Result {
	res := f.Executor.Run(ctx, tasks)
	for i, t := range tasks {
		if t.State != nil {
			continue
		}
		k := fmt.Sprint(t.Seed, t.Difficulty)
		f.runs[k]++
		if f.runs[k] == 2 && t.Seed == 1 {
			res[i].Err = &env.Error{Kind: env.FailRuntime, Env: t.Env, Func: "render", Msg: "boom the second time"}
		}
		if f.runs[k] == 2 && t.Seed == 2 {
			res[i].State = json.RawMessage(`{"xs": [1]}`)
		}
	}
	return res
}

// TestSecondRunFailureSaysSo: a second run that fails is reported as such
// (not as "two runs differ"), and one that differs says what differs.
func TestSecondRunFailureSaysSo(t *testing.T) {
	m, err := env.Load("t.star", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	l := env.NewLocal(env.DefaultLimits(), 2)
	l.Register(m)
	r := Run(context.Background(), &flaky{Executor: l, runs: map[string]int{}}, m, Options{SeedsPerLevel: 4})
	c, _ := r.Check(CheckDeterministic)
	msg := strings.Join(c.Failures, "\n")
	if c.OK || !strings.Contains(msg, "the first run succeeded, the second failed") || !strings.Contains(msg, "boom the second time") ||
		!strings.Contains(msg, "generated different states") {
		t.Fatalf("determinism check: %+v", c)
	}
}

// TestRejectionIsJudgedPerKind: a verifier that accepts the first item of
// a list fails although every other kind of probe is rejected (the pooled
// rate would hide it).
func TestRejectionIsJudgedPerKind(t *testing.T) {
	src := strings.Replace(base, "    return int(answer.strip()) == sum(state[\"xs\"])", "    return int(answer.strip()) == sum(state[\"xs\"])\n", 1)
	src = strings.Replace(src, `def solve(state):
    return str(sum(state["xs"]))`, `def solve(state):
    return str(sum(state["xs"])) + " 0"`, 1)
	src = strings.Replace(src, `    if not re.fullmatch(r"\s*-?\d+\s*", answer):
        return 0.0
    return int(answer.strip()) == sum(state["xs"])`, `    toks = answer.split()
    if len(toks) == 0 or not re.fullmatch(r"-?\d+", toks[0]):
        return 0.0
    if len(toks) == 2 and toks[1] != "0":
        return 0.0
    return int(toks[0]) == sum(state["xs"])`, 1)
	r := validateSrc(t, src)
	c, _ := r.Check(CheckRejects)
	if c.OK || !strings.Contains(strings.Join(c.Failures, "\n"), "partial: the first item only") {
		var b strings.Builder
		WriteText(&b, r)
		t.Fatalf("the first-item probe did not fail the check:\n%s", b.String())
	}
}

// TestWriteReports: the reports sorted by file, as MarshalReports gives
// them, and one newline.
func TestWriteReports(t *testing.T) {
	rs := []*Report{{File: "b.star", OK: true}, {File: "a.star"}}
	var b strings.Builder
	if err := WriteReports(&b, rs); err != nil {
		t.Fatal(err)
	}
	want, _ := MarshalReports(rs)
	if b.String() != string(want)+"\n" || strings.Index(b.String(), "a.star") > strings.Index(b.String(), "b.star") {
		t.Errorf("wrote:\n%s", b.String())
	}
}
