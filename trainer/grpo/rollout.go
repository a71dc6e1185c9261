package grpo

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"

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

// EvalResult is an evaluation on instances training never sees.
type EvalResult struct {
	Reward   float64            `json:"reward"`    // mean over every scored completion
	PassRate float64            `json:"pass_rate"` // fraction with reward >= PassScore
	PerEnv   map[string]float64 `json:"per_env"`   // mean reward by environment
	// PerLevel is the mean reward by environment and difficulty level.
	PerLevel map[string]map[int]float64 `json:"per_level"`
	// RewardCI is the 95% bootstrap interval of Reward (resampling
	// instances, then completions of each instance; Bootstrap); PerEnvCI
	// the same by environment.
	RewardCI [2]float64            `json:"reward_ci"`
	PerEnvCI map[string][2]float64 `json:"per_env_ci"`
	// Instances counts the distinct instances (by canonical state)
	// evaluated by environment and level; NoHoldout lists the levels of an
	// environment where none could be held out (every instance found
	// belongs to training's partition, or none could be generated): they
	// have no number in PerLevel, and an environment with no level left has
	// none in PerEnv.
	Instances map[string]map[int]int `json:"instances"`
	NoHoldout map[string][]int       `json:"no_holdout,omitempty"`
	N         int                    `json:"n"`          // completions scored
	EnvErrors int                    `json:"env_errors"` // completions dropped: the environment failed or timed out
	Sample    string                 `json:"sample,omitempty"`
	// AnswerNLL is the mean, over the instances with a solve() answer, of
	// the negative log-likelihood per token of that answer (in the
	// <answer> tags training uses) given the prompt, at temperature 1;
	// PerEnvNLL the same by environment. Lower is better. Set when
	// EvalOptions.AnswerNLL asks for it.
	AnswerNLL *float64 `json:"answer_nll,omitempty"`
	// ContentNLL is the same over the answer's own tokens, without the
	// tags (which every environment shares): what a model knows of the
	// answer, beyond its format. Instances whose answer and tags do not
	// tokenize apart are left out of it.
	ContentNLL *float64           `json:"answer_content_nll,omitempty"`
	PerEnvNLL  map[string]float64 `json:"per_env_answer_nll,omitempty"`
	// Holdout is the same evaluation on the held-out environments
	// (Config.HoldoutEnvs), when there are any.
	Holdout *EvalResult `json:"holdout,omitempty"`
}

// Partition says which instances an evaluation may use.
type Partition int

const (
	// EvalPartition: only instances of the evaluation partition
	// (Config.EvalShare), which training never draws.
	EvalPartition Partition = iota
	// AllInstances: any instance, for environments never trained on.
	AllInstances
)

// EvalOptions say what Evaluate measures.
type EvalOptions struct {
	Envs         []EnvSpec // each over its MinDifficulty…MaxDifficulty
	N            int       // distinct instances per environment, spread evenly over the levels
	MaxNewTokens int
	System       string
	PassScore    float64
	MaxPrompt    int     // longer prompts are skipped; 0: no limit
	Samples      int     // completions per instance (default 1)
	Temperature  float64 // 0: greedy
	Seed         uint64  // of the sampling streams and the bootstrap
	Partition    Partition
	Share        float64 // the evaluation partition's share (0: DefaultEvalShare)
	// AnswerNLL also measures how likely the model finds solve()'s answer
	// to each instance (EvalResult.AnswerNLL): a measure that moves before
	// a tiny model's reward does.
	AnswerNLL bool
}

// evalTries bounds the seeds Evaluate draws per level: enough to find the
// partition's instances of a small space, few enough to stay cheap.
func evalTries(want int) int { return 16*want + 64 }

// instanceQuery asks distinctInstances for instances of some environments.
type instanceQuery struct {
	envs     []EnvSpec // each over its MinDifficulty…MaxDifficulty
	n        int       // distinct instances per environment, spread evenly over its levels
	seedBase int64     // seeds are seedBase upwards
	// keep says whether an instance may be used (its partition); nil: any.
	keep func(env string, state json.RawMessage) bool
	// solve asks for solve()'s answer; needSolution drops instances
	// without one.
	solve, needSolution bool
	maxPrompt           int
}

// evalInstances finds, per environment and level, up to the wanted number
// of distinct instances (by canonical state) of the partition, drawing
// seeds EvalSeedBase upwards in rounds. The same options give the same
// instances.
func evalInstances(ctx context.Context, ex env.Executor, p *prompter, o EvalOptions, maxPrompt int) ([]instance, map[string]map[int]int, map[string][]int, error) {
	share := o.Share
	if share == 0 {
		share = DefaultEvalShare
	}
	q := instanceQuery{envs: o.Envs, n: o.N, seedBase: EvalSeedBase, solve: o.AnswerNLL, maxPrompt: maxPrompt}
	if o.Partition == EvalPartition {
		q.keep = func(name string, state json.RawMessage) bool {
			eval, _ := inEvalPartition(name, state, share)
			return eval
		}
	}
	return distinctInstances(ctx, ex, p, q)
}

// distinctInstances finds, per environment and level, up to the wanted
// number of distinct instances (by canonical state) that q.keep keeps,
// drawing seeds q.seedBase upwards in rounds (at most evalTries of them
// per level). It returns them with the count found per environment and
// level, and the levels where none was. The same query gives the same
// instances.
func distinctInstances(ctx context.Context, ex env.Executor, p *prompter, q instanceQuery) ([]instance, map[string]map[int]int, map[string][]int, error) {
	type cell struct {
		env       string
		level     int
		want, got int
		next      int64
		seen      map[uint64]bool
	}
	var cells []*cell
	for _, e := range q.envs {
		levels := max(e.MaxDifficulty-e.MinDifficulty+1, 1)
		for j := range levels {
			want := q.n / levels
			if j < q.n%levels {
				want++
			}
			if want > 0 {
				cells = append(cells, &cell{env: e.Name, level: e.MinDifficulty + j, want: want, seen: map[uint64]bool{}})
			}
		}
	}
	var out []instance
	for {
		var tasks []env.Task
		var owner []*cell
		for _, c := range cells {
			if c.got >= c.want || c.next >= int64(evalTries(c.want)) {
				continue
			}
			n := min(int64(2*(c.want-c.got)+8), int64(evalTries(c.want))-c.next)
			for k := range n {
				tasks = append(tasks, env.Task{Env: c.env, Seed: q.seedBase + c.next + k, Difficulty: c.level, Render: true, Solve: q.solve})
				owner = append(owner, c)
			}
			c.next += n
		}
		if len(tasks) == 0 {
			break
		}
		res := ex.Run(ctx, tasks)
		if err := ctx.Err(); err != nil {
			return nil, nil, nil, err
		}
		for i, r := range res {
			c := owner[i]
			if r.Err != nil || c.got >= c.want || (q.needSolution && r.Solution == "") {
				continue
			}
			h, err := env.InstanceHash(c.env, r.State)
			if err != nil || c.seen[h] {
				continue
			}
			c.seen[h] = true
			if q.keep != nil && !q.keep(c.env, r.State) {
				continue
			}
			toks, err := p.encodePrompt(r.Prompt)
			if err != nil {
				return nil, nil, nil, err
			}
			if len(toks) > q.maxPrompt {
				continue
			}
			c.got++
			t := tasks[i]
			out = append(out, instance{Env: t.Env, Seed: t.Seed, Difficulty: t.Difficulty, State: r.State, Prompt: r.Prompt,
				Solution: r.Solution, Tokens: toks})
		}
	}
	counts := map[string]map[int]int{}
	none := map[string][]int{}
	for _, c := range cells {
		if counts[c.env] == nil {
			counts[c.env] = map[int]int{}
		}
		counts[c.env][c.level] = c.got
		if c.got == 0 {
			none[c.env] = append(none[c.env], c.level)
		}
	}
	return out, counts, none, nil
}

// Evaluate samples completions (or decodes greedily) on N distinct
// instances of each environment, spread evenly over every level of its
// difficulty range (so that a run whose curriculum climbs is measured on
// the levels it trains on), taken from the evaluation partition (or, for
// held-out environments, from all instances), and scores them. Completions
// the environment failed on are dropped and counted, as training drops
// them; the reward is the mean over the rest, with a bootstrap interval.
// The same options give the same instances, so numbers taken at different
// times of a run compare directly.
func Evaluate(ctx context.Context, m Model, tok *tokenizer.Tokenizer, ex env.Executor, o EvalOptions) (EvalResult, error) {
	p, err := newPrompter(tok, o.System)
	if err != nil {
		return EvalResult{}, err
	}
	maxPrompt := o.MaxPrompt
	if maxPrompt <= 0 {
		maxPrompt = 1 << 30
	}
	insts, counts, none, err := evalInstances(ctx, ex, p, o, maxPrompt)
	if err != nil {
		return EvalResult{}, err
	}
	res := EvalResult{PerEnv: map[string]float64{}, PerLevel: map[string]map[int]float64{}, PerEnvCI: map[string][2]float64{},
		Instances: counts}
	if len(none) > 0 {
		res.NoHoldout = none
	}
	if len(insts) == 0 {
		return res, fmt.Errorf("%w: no evaluation instance could be held out (%v): the environments' levels have too few distinct instances", ErrNoData, none)
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
	// scores[i]: the scored completions of instance i (env errors out)
	scores := make([][]float64, len(insts))
	counts2 := map[string]int{}
	levelCounts := map[string]map[int]int{}
	for i, rw := range rws {
		if rw.Kind == env.KindEnvError || rw.Kind == env.KindTimeout {
			res.EnvErrors++
			continue
		}
		name, d := items[i].Env, items[i].Difficulty
		scores[i/k] = append(scores[i/k], rw.Score)
		res.Reward += rw.Score
		if rw.Kind == env.KindOK && rw.Score >= o.PassScore {
			res.PassRate++
		}
		res.PerEnv[name] += rw.Score
		counts2[name]++
		if res.PerLevel[name] == nil {
			res.PerLevel[name], levelCounts[name] = map[int]float64{}, map[int]int{}
		}
		res.PerLevel[name][d] += rw.Score
		levelCounts[name][d]++
		res.N++
	}
	if res.N == 0 {
		return res, fmt.Errorf("%w: every evaluation completion was an environment error (%d)", ErrNoData, res.EnvErrors)
	}
	res.Reward /= float64(res.N)
	res.PassRate /= float64(res.N)
	for name, c := range counts2 {
		res.PerEnv[name] /= float64(c)
	}
	for name, byLevel := range res.PerLevel {
		for d := range byLevel {
			byLevel[d] /= float64(levelCounts[name][d])
		}
	}
	res.RewardCI = Bootstrap(scores, o.Seed)
	for name := range counts2 {
		var sub [][]float64
		for i, in := range insts {
			if in.Env == name {
				sub = append(sub, scores[i])
			}
		}
		res.PerEnvCI[name] = Bootstrap(sub, o.Seed)
	}
	res.Sample = items[0].Completion
	if o.AnswerNLL {
		if err := answerNLL(m, p, insts, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// answerNLL sets r.AnswerNLL and r.PerEnvNLL from insts' solve() answers
// (instances without one are left out), and r.ContentNLL from the tokens
// of the answers themselves, without the tags, in forward passes of at
// most 16 rows.
func answerNLL(m Model, p *prompter, insts []instance, r *EvalResult) error {
	var seqs []*sequence
	var envs []string
	var spans [][2]int // the answer's own tokens in the completion; [0 0] when they cannot be told apart
	for _, in := range insts {
		if in.Solution != "" {
			full := p.encodeAnswer(in.Solution)
			seqs = append(seqs, &sequence{prompt: in.Tokens, completion: full})
			envs = append(envs, in.Env)
			spans = append(spans, p.answerSpan(in.Solution, full))
		}
	}
	if len(seqs) == 0 {
		return nil
	}
	var sum, content float64
	perEnv, count, nContent := map[string]float64{}, map[string]int{}, 0
	for _, c := range chunks(len(seqs), 16) {
		pk := pack(seqs[c[0]:c[1]])
		lp := make([]float32, pk.B*pk.T)
		if err := m.Forward(pk.Batch, lp, nil); err != nil {
			return err
		}
		for b, s := range seqs[c[0]:c[1]] {
			nll, cn := 0.0, 0.0
			sp := spans[c[0]+b]
			for j := range s.completion {
				v := -float64(lp[b*pk.T+pk.start[b]+j])
				nll += v
				if j >= sp[0] && j < sp[1] {
					cn += v
				}
			}
			nll /= float64(max(len(s.completion), 1))
			if sp[1] > sp[0] {
				content += cn / float64(sp[1]-sp[0])
				nContent++
			}
			name := envs[c[0]+b]
			sum += nll
			perEnv[name] += nll
			count[name]++
		}
	}
	mean := sum / float64(len(seqs))
	r.AnswerNLL = &mean
	if nContent > 0 {
		c := content / float64(nContent)
		r.ContentNLL = &c
	}
	for name, n := range count {
		perEnv[name] /= float64(n)
	}
	r.PerEnvNLL = perEnv
	return nil
}

// answerSpan is where solution's own tokens sit in full (its encodeAnswer):
// where the tags and the answer tokenize apart, as the pre-tokenizer
// keeps them, the tokens between the tags; else [0 0].
func (p *prompter) answerSpan(solution string, full []int32) [2]int {
	pre := p.tok.EncodeOrdinary("<answer>")
	mid := p.tok.EncodeOrdinary(solution)
	suf := p.tok.EncodeOrdinary("</answer>")
	if len(pre)+len(mid)+len(suf)+1 != len(full) {
		return [2]int{}
	}
	for i, id := range append(append(append([]int{}, pre...), mid...), suf...) {
		if int32(id) != full[i] {
			return [2]int{}
		}
	}
	return [2]int{len(pre), len(pre) + len(mid)}
}

// bootstrapReps is the number of bootstrap resamples.
const bootstrapReps = 1000

// Bootstrap is the 95% percentile interval of the mean score, from
// bootstrapReps resamples of the instances (with replacement) and, within
// each instance drawn, of its completions (sampling seeds): the two
// sources of evaluation noise. scores[i] are instance i's scores (an
// instance with none is skipped). The stream is seeded by seed: the same
// scores give the same interval.
func Bootstrap(scores [][]float64, seed uint64) [2]float64 {
	var insts [][]float64
	for _, s := range scores {
		if len(s) > 0 {
			insts = append(insts, s)
		}
	}
	if len(insts) == 0 {
		return [2]float64{}
	}
	rng := rand.New(rand.NewPCG(seed, 0xb007))
	means := make([]float64, bootstrapReps)
	for r := range means {
		var sum float64
		var n int
		for range insts {
			s := insts[rng.IntN(len(insts))]
			for range s {
				sum += s[rng.IntN(len(s))]
				n++
			}
		}
		means[r] = sum / float64(n)
	}
	slices.Sort(means)
	return [2]float64{means[bootstrapReps*25/1000], means[bootstrapReps*975/1000-1]}
}

// Format is the one-line report of an evaluation the CLI prints: the mean
// reward with its interval, the distinct instances, each environment (and
// level) and what could not be held out; then the held-out environments.
func (r EvalResult) Format() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mean reward %.3f [95%% CI %.3f, %.3f], pass rate %.3f on %d completions of %d distinct instances",
		r.Reward, r.RewardCI[0], r.RewardCI[1], r.PassRate, r.N, r.distinct())
	if r.EnvErrors > 0 {
		fmt.Fprintf(&b, " (%d environment errors dropped)", r.EnvErrors)
	}
	if r.AnswerNLL != nil {
		fmt.Fprintf(&b, ", reference-answer NLL %.3f nats/token", *r.AnswerNLL)
		if r.ContentNLL != nil {
			fmt.Fprintf(&b, " (%.3f without the tags)", *r.ContentNLL)
		}
	}
	var envs []string
	for _, name := range slices.Sorted(maps.Keys(r.Instances)) {
		byLevel := r.Instances[name]
		s := name
		if v, ok := r.PerEnv[name]; ok {
			ci := r.PerEnvCI[name]
			s += fmt.Sprintf(" %.3f [%.2f, %.2f]", v, ci[0], ci[1])
		}
		var ls []string
		for _, d := range slices.Sorted(maps.Keys(byLevel)) {
			if byLevel[d] == 0 {
				ls = append(ls, fmt.Sprintf("d%d: too few distinct instances to hold any out", d))
				continue
			}
			ls = append(ls, fmt.Sprintf("d%d %.2f on %d", d, r.PerLevel[name][d], byLevel[d]))
		}
		envs = append(envs, s+" ("+strings.Join(ls, ", ")+")")
	}
	fmt.Fprintf(&b, " [%s]", strings.Join(envs, "; "))
	if r.Holdout != nil {
		fmt.Fprintf(&b, "; held-out environments: %s", r.Holdout.Format())
	}
	return b.String()
}

func (r EvalResult) distinct() int {
	n := 0
	for _, byLevel := range r.Instances {
		for _, c := range byLevel {
			n += c
		}
	}
	return n
}
