package grpo

import (
	"context"
	"encoding/json"
	"fmt"

	"resyn/core/env"
	"resyn/trainer/tokenizer"
)

// instance is one generated environment instance with its encoded prompt.
type instance struct {
	Env        string
	Seed       int64
	Difficulty int
	State      json.RawMessage
	Prompt     string
	Solution   string
	Tokens     []int32 // the chat-formatted prompt, ending with the assistant header
}

// prompter formats prompts and reads completions for one tokenizer.
type prompter struct {
	tok    *tokenizer.Tokenizer
	system string
	stop   []int32
	vocab  int
}

// newPrompter formats prompts with the tokenizer's chat template (the
// model's own, or ChatML for a tokenizer without one) and stops at its
// end-of-turn tokens (tokenizer.StopTokens: the eos_token first).
func newPrompter(tok *tokenizer.Tokenizer, system string) (*prompter, error) {
	if _, err := tok.RenderChat([]tokenizer.Message{{Role: "user", Content: "x"}}, true); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	stops := tok.StopTokens()
	if len(stops) == 0 {
		return nil, fmt.Errorf("%w: the tokenizer names no end-of-turn token (eos_token in tokenizer_config.json, %s or %s)",
			ErrConfig, tokenizer.IMEndToken, tokenizer.EndOfTextToken)
	}
	p := &prompter{tok: tok, system: system, vocab: tok.VocabSize(), stop: toInt32(stops)}
	return p, nil
}

func (p *prompter) encodePrompt(prompt string) ([]int32, error) {
	var msgs []tokenizer.Message
	if p.system != "" {
		msgs = append(msgs, tokenizer.Message{Role: "system", Content: p.system})
	}
	msgs = append(msgs, tokenizer.Message{Role: "user", Content: prompt})
	ids, err := p.tok.EncodeChat(msgs, true)
	if err != nil {
		return nil, err
	}
	return toInt32(ids), nil
}

// encodeAnswer is the SFT target: the answer block and the end of the turn.
func (p *prompter) encodeAnswer(solution string) []int32 {
	ids := toInt32(p.tok.EncodeOrdinary("<answer>" + solution + "</answer>"))
	return append(ids, p.stop[0])
}

func (p *prompter) isStop(id int32) bool {
	for _, s := range p.stop {
		if s == id {
			return true
		}
	}
	return false
}

// decode turns a completion into text, leaving out a final stop token and
// any id the tokenizer does not know (padding rows of the embedding).
func (p *prompter) decode(ids []int32) string {
	if n := len(ids); n > 0 && p.isStop(ids[n-1]) {
		ids = ids[:n-1]
	}
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if _, ok := p.tok.Token(int(id)); ok || p.tok.IsSpecial(int(id)) {
			out = append(out, int(id))
		}
	}
	s, err := p.tok.Decode(out)
	if err != nil {
		return ""
	}
	return s
}

func toInt32(ids []int) []int32 {
	out := make([]int32, len(ids))
	for i, v := range ids {
		out[i] = int32(v)
	}
	return out
}

// makeInstances generates and renders tasks (and solves them when solve is
// set), dropping instances the environment failed on and prompts longer
// than maxPrompt tokens; it returns how many were dropped.
func makeInstances(ctx context.Context, ex env.Executor, p *prompter, tasks []env.Task, solve bool, maxPrompt int) ([]instance, int, error) {
	for i := range tasks {
		tasks[i].Render = true
		tasks[i].Solve = solve
	}
	res := ex.Run(ctx, tasks)
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	var out []instance
	dropped := 0
	for i, r := range res {
		if r.Err != nil || (solve && r.Solution == "") {
			dropped++
			continue
		}
		toks, err := p.encodePrompt(r.Prompt)
		if err != nil {
			return nil, 0, err
		}
		if len(toks) > maxPrompt {
			dropped++
			continue
		}
		t := tasks[i]
		out = append(out, instance{Env: t.Env, Seed: t.Seed, Difficulty: t.Difficulty, State: r.State,
			Prompt: r.Prompt, Solution: r.Solution, Tokens: toks})
	}
	return out, dropped, nil
}

// EvalResult is a greedy evaluation on held-out seeds.
type EvalResult struct {
	Reward   float64            `json:"reward"`    // mean over every instance
	PassRate float64            `json:"pass_rate"` // fraction with reward >= PassScore
	PerEnv   map[string]float64 `json:"per_env"`   // mean reward by environment
	// PerLevel is the mean reward by environment and difficulty level.
	PerLevel map[string]map[int]float64 `json:"per_level"`
	N        int                        `json:"n"`                // completions scored
	Sample   string                     `json:"sample,omitempty"` // the first completion, for a look
}

// EvalOptions say what Evaluate measures.
type EvalOptions struct {
	Envs         []EnvSpec // each over its MinDifficulty…MaxDifficulty
	N            int       // instances per environment, seeds EvalSeedBase…, spread evenly over the levels
	MaxNewTokens int
	System       string
	PassScore    float64
	MaxPrompt    int     // longer prompts are skipped; 0: no limit
	Samples      int     // completions per instance (default 1)
	Temperature  float64 // 0: greedy
	Seed         uint64  // of the sampling streams
}

// Evaluate samples completions (or decodes greedily) on N held-out
// instances of each environment (seeds EvalSeedBase upwards, spread evenly
// over every level of the environment's difficulty range, so that a run
// whose curriculum climbs is measured on the levels it trains on) and
// scores them; the reward is the mean over instances and samples. The same options give the same instances, so
// numbers taken at different times of a run compare directly.
func Evaluate(ctx context.Context, m Model, tok *tokenizer.Tokenizer, ex env.Executor, o EvalOptions) (EvalResult, error) {
	p, err := newPrompter(tok, o.System)
	if err != nil {
		return EvalResult{}, err
	}
	maxPrompt := o.MaxPrompt
	if maxPrompt <= 0 {
		maxPrompt = 1 << 30
	}
	var tasks []env.Task
	for _, e := range o.Envs {
		levels := max(e.MaxDifficulty-e.MinDifficulty+1, 1)
		for j := range o.N {
			tasks = append(tasks, env.Task{Env: e.Name, Seed: EvalSeedBase + int64(j), Difficulty: e.MinDifficulty + j%levels})
		}
	}
	insts, _, err := makeInstances(ctx, ex, p, tasks, false, maxPrompt)
	if err != nil {
		return EvalResult{}, err
	}
	res := EvalResult{PerEnv: map[string]float64{}, PerLevel: map[string]map[int]float64{}}
	if len(insts) == 0 {
		return res, fmt.Errorf("%w: no evaluation instance could be generated", ErrNoData)
	}
	k := max(o.Samples, 1)
	var prompts [][]int32
	for _, in := range insts {
		for range k {
			prompts = append(prompts, in.Tokens)
		}
	}
	comps, err := m.Generate(GenRequest{Prompts: prompts, MaxNewTokens: o.MaxNewTokens, Temperature: float32(o.Temperature),
		TopP: 1, StopTokens: p.stop, Seed: o.Seed})
	if err != nil {
		return res, err
	}
	items := make([]env.ScoreItem, len(prompts))
	for i := range prompts {
		in := insts[i/k]
		items[i] = env.ScoreItem{Env: in.Env, Seed: in.Seed, Difficulty: in.Difficulty, State: in.State, Completion: p.decode(comps[i])}
	}
	rws := env.ScoreCompletions(ctx, ex, items)
	counts := map[string]int{}
	levelCounts := map[string]map[int]int{}
	for i, rw := range rws {
		name, d := items[i].Env, items[i].Difficulty
		res.Reward += rw.Score
		if rw.Kind == env.KindOK && rw.Score >= o.PassScore {
			res.PassRate++
		}
		res.PerEnv[name] += rw.Score
		counts[name]++
		if res.PerLevel[name] == nil {
			res.PerLevel[name], levelCounts[name] = map[int]float64{}, map[int]int{}
		}
		res.PerLevel[name][d] += rw.Score
		levelCounts[name][d]++
	}
	res.N = len(rws)
	res.Reward /= float64(res.N)
	res.PassRate /= float64(res.N)
	for k, c := range counts {
		res.PerEnv[k] /= float64(c)
	}
	for k, byLevel := range res.PerLevel {
		for d := range byLevel {
			byLevel[d] /= float64(levelCounts[k][d])
		}
	}
	res.Sample = items[0].Completion
	return res, nil
}
