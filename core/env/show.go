package env

import (
	"context"
	"fmt"
	"io"
)

// Shown is one instance as `resyn envs show` presents it: what a Task with
// Render (and, when Solve, VerifySolution) produced, and the reward verify
// gave a typed answer when one was scored.
type Shown struct {
	Env        string
	Seed       int64
	Difficulty int
	Solve      bool // solve()'s answer and its score were asked for
	Result     Result
	Answer     string
	Reward     *Reward // nil when no answer was scored
}

// Show generates the instance (name, seed, difficulty) through ex, with
// solve()'s answer scored when solve, and, when answer is not nil, scores
// it as the workbench's answer box does (TypedCompletion). A failure of
// generate, render or solve is the error.
func Show(ctx context.Context, ex Executor, name string, seed int64, difficulty int, solve bool, answer *string) (Shown, error) {
	s := Shown{Env: name, Seed: seed, Difficulty: difficulty, Solve: solve}
	s.Result = ex.Run(ctx, []Task{{Env: name, Seed: seed, Difficulty: difficulty, Render: true, VerifySolution: solve}})[0]
	if s.Result.Err != nil {
		return s, s.Result.Err
	}
	if answer != nil {
		rw := ScoreCompletions(ctx, ex, []ScoreItem{{Env: name, Seed: seed, Difficulty: difficulty,
			State: s.Result.State, Completion: TypedCompletion(*answer)}})[0]
		s.Answer, s.Reward = *answer, &rw
	}
	return s, nil
}

// JSON is the object `resyn envs show --json` prints (docs/json.md).
func (s Shown) JSON() map[string]any {
	r := s.Result
	out := map[string]any{"env": s.Env, "seed": s.Seed, "difficulty": s.Difficulty, "prompt": r.Prompt, "state": r.State}
	if s.Solve {
		out["solution"] = r.Solution
		if r.SolutionScore.Err != nil {
			out["solution_error"] = r.SolutionScore.Err.Error()
		} else {
			out["solution_score"] = r.SolutionScore.Value
		}
	}
	if s.Reward != nil {
		out["answer"] = s.Answer
		out["answer_reward"] = s.Reward
	}
	return out
}

// WriteText prints the instance for a person: the prompt, the state packed
// to width (FormatState), the reference answer with its score, and the
// typed answer with its verdict.
func (s Shown) WriteText(w io.Writer, width int) error {
	r := s.Result
	_, err := fmt.Fprintf(w, "── %s  seed %d  difficulty %d ──\n\n%s\n\n── state ──\n%s\n", s.Env, s.Seed, s.Difficulty, r.Prompt, FormatState(r.State, width))
	if err == nil && s.Solve {
		score := "error: " + fmt.Sprint(r.SolutionScore.Err)
		if r.SolutionScore.Err == nil {
			score = fmt.Sprintf("%g", r.SolutionScore.Value)
		}
		_, err = fmt.Fprintf(w, "\n── reference answer (verify → %s) ──\n%s\n", score, r.Solution)
	}
	if err == nil && s.Reward != nil {
		_, err = fmt.Fprintf(w, "\n── your answer ──\n%s\n%s\n", s.Answer, s.Reward.Verdict())
	}
	return err
}

// Verdict says in one line what verify made of an answer, as the
// workbench's preview pane does: ✓ correct, ◐ partial credit, ✗ wrong or
// not scored (with the kind and the error).
func (r Reward) Verdict() string {
	switch {
	case r.Kind != KindOK:
		return fmt.Sprintf("✗ score %.3g  %s: %s", r.Score, r.Kind, r.Error)
	case r.Score >= 1:
		return fmt.Sprintf("✓ score %.3g  ok (correct)", r.Score)
	case r.Score > 0:
		return fmt.Sprintf("◐ score %.3g  ok (partial credit)", r.Score)
	}
	return fmt.Sprintf("✗ score %.3g  ok (wrong)", r.Score)
}
