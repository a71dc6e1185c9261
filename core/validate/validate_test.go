package validate

import (
	"context"
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
