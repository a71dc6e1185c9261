package synth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"resyn/core/env"
	"resyn/core/validate"
	"resyn/llm"
)

// The LLM judge, ReSyn's first admission gate: a model reads an
// environment's code and a few of its questions with their reference
// answers, and says whether verification needs no reference answer (it
// decides correctness from the instance and accepts every right answer),
// whether it checks everything the question asks, whether difficulty truly
// scales, whether the questions are well specified, and whether any wrong
// answer can get credit. It complements validation's probes, which only
// try what can be derived mechanically. Its calls are tagged StageJudge
// with the environment's name as subject, recorded with every other call
// and replayable (a replay entry with tag "judge" and the subject answers
// it).

// JudgeCriteria are what the judge is asked, by key, in report order.
var JudgeCriteria = []struct{ Key, Question string }{
	{"reference_free", "verify decides from the instance itself whether an answer is correct, and accepts every correct answer (not only one reference answer when a question has several)"},
	{"complete", "verify checks every requirement the question states: no partial answer, wrong count, missing or extra item, or broken constraint gets credit"},
	{"difficulty_scales", "a higher difficulty makes the question genuinely harder to solve (more to reason about), not only longer or differently worded"},
	{"well_specified", "every sample question is unambiguous, has a correct answer, and says exactly what form the answer must take"},
	{"no_loophole", "no answer that is not a correct solution can score 1: not a sentinel (null, None, []), not a list of candidates, not the question echoed, not junk"},
}

// Judgement is the judge's verdict on one environment.
type Judgement struct {
	Env      string            `json:"env"`
	Judge    string            `json:"judge"` // the provider, e.g. "openai:gpt-4o"
	OK       bool              `json:"ok"`
	Criteria []JudgeCriterion  `json:"criteria"`
	Problems []string          `json:"problems,omitempty"`
	Samples  []JudgeSample     `json:"samples"`
	Exchange Exchange          `json:"exchange"`
	Usage    llm.Usage         `json:"usage"`
	Raw      map[string]string `json:"-"`
}

// JudgeCriterion is one question's answer.
type JudgeCriterion struct {
	Key string `json:"key"`
	OK  bool   `json:"ok"`
	Why string `json:"why,omitempty"`
}

// JudgeSample is a question the judge saw.
type JudgeSample struct {
	Difficulty int    `json:"difficulty"`
	Seed       int64  `json:"seed"`
	Prompt     string `json:"prompt"`
	Solution   string `json:"solution"`
}

// ErrJudgeReply: the judge's reply held no verdict that could be read.
var ErrJudgeReply = errors.New("the judge's reply holds no readable verdict")

const judgeSystem = `You review reasoning environments written in Starlark for training language models with reinforcement
learning, as a careful, sceptical reviewer would. An environment generates questions, renders them as prompts, and its
verify function is the reward: a loose verifier teaches a model to exploit it. Judge only what you read; do not
run anything. Reply with one JSON object and nothing else.`

// judgeSampleSeed keeps the judge's questions away from validation's and
// calibration's seeds.
const judgeSampleSeed = 7000

// maxSampleText cuts long prompts and answers in the judge's request.
const maxSampleText = 3000

// JudgePrompt is the request: the code, the samples, and the questions.
func JudgePrompt(code string, samples []JudgeSample) string {
	var b strings.Builder
	b.WriteString("Review this environment.\n\n```python\n")
	b.WriteString(strings.TrimRight(code, "\n"))
	b.WriteString("\n```\n\nSample questions (prompts as the solver sees them) with the reference answer from solve():\n")
	for i, s := range samples {
		fmt.Fprintf(&b, "\n--- sample %d (difficulty %d) ---\n%s\n--- reference answer ---\n%s\n", i+1, s.Difficulty,
			env.CapText(s.Prompt, maxSampleText), env.CapText(s.Solution, maxSampleText))
	}
	b.WriteString("\nAnswer each question with true or false and a one-sentence reason:\n")
	for _, c := range JudgeCriteria {
		fmt.Fprintf(&b, "- %s: %s?\n", c.Key, c.Question)
	}
	b.WriteString("\nReply with exactly this JSON shape:\n{")
	for i, c := range JudgeCriteria {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: {\"ok\": true, \"why\": \"...\"}", c.Key)
	}
	b.WriteString(`, "problems": ["each concrete flaw, with the line or the answer that shows it"]}`)
	return b.String()
}

// Judge asks p to review module m (registered with ex), on questions at its
// lowest, middle and highest difficulty. The exchange is returned also when
// the call or the reading of the reply fails.
func Judge(ctx context.Context, p llm.Provider, ex env.Executor, m *env.Module, opts CallOptions) (Judgement, error) {
	j := Judgement{Env: m.Name, Judge: p.Name()}
	levels := []int{m.MinDifficulty, (m.MinDifficulty + m.MaxDifficulty) / 2, m.MaxDifficulty}
	if levels[0] == levels[2] {
		levels = levels[:1]
	}
	var tasks []env.Task
	for i, d := range levels {
		tasks = append(tasks, env.Task{Env: m.Name, Seed: judgeSampleSeed + int64(i), Difficulty: d, Render: true, Solve: m.HasSolve})
	}
	for i, r := range ex.Run(ctx, tasks) {
		if r.Err != nil {
			return j, fmt.Errorf("judging %s: its sample question at difficulty %d: %w", m.Name, tasks[i].Difficulty, r.Err)
		}
		j.Samples = append(j.Samples, JudgeSample{Difficulty: tasks[i].Difficulty, Seed: tasks[i].Seed, Prompt: r.Prompt, Solution: r.Solution})
	}
	ex2, err := call(ctx, p, StageJudge, m.Name, judgeSystem, []llm.Message{{Role: llm.RoleUser, Content: JudgePrompt(string(m.Source), j.Samples)}}, opts)
	j.Exchange, j.Usage = ex2, ex2.Usage
	if err != nil {
		return j, err
	}
	if err := j.read(ex2.Reply); err != nil {
		return j, err
	}
	return j, nil
}

var jsonObjectRe = regexp.MustCompile(`(?s)\{.*\}`)

// read parses the judge's reply: the first JSON object in it (fenced or
// not), each criterion as {"ok": bool, "why": …} or a bare bool. A
// criterion the reply does not answer counts as failed, so that a judge
// that says nothing admits nothing.
func (j *Judgement) read(reply string) error {
	text := jsonObjectRe.FindString(reply)
	var raw map[string]json.RawMessage
	if text == "" || json.Unmarshal([]byte(text), &raw) != nil {
		return fmt.Errorf("%w: %s", ErrJudgeReply, firstLine(reply))
	}
	j.OK = true
	for _, c := range JudgeCriteria {
		jc := JudgeCriterion{Key: c.Key}
		var obj struct {
			OK  *bool  `json:"ok"`
			Why string `json:"why"`
		}
		var b bool
		switch v, ok := raw[c.Key]; {
		case !ok:
			jc.Why = "the judge did not answer"
		case json.Unmarshal(v, &b) == nil:
			jc.OK = b
		case json.Unmarshal(v, &obj) == nil && obj.OK != nil:
			jc.OK, jc.Why = *obj.OK, env.CapText(obj.Why, 500)
		default:
			jc.Why = "unreadable: " + env.CapText(string(v), 200)
		}
		j.OK = j.OK && jc.OK
		j.Criteria = append(j.Criteria, jc)
	}
	var problems []string
	if v, ok := raw["problems"]; ok && json.Unmarshal(v, &problems) == nil {
		for _, p := range problems {
			if p = strings.TrimSpace(p); p != "" && len(j.Problems) < 10 {
				j.Problems = append(j.Problems, env.CapText(p, 500))
			}
		}
	}
	return nil
}

// Check is the judgement as a line of a validation report.
func (j Judgement) Check() validate.Check {
	c := validate.Check{Name: validate.CheckJudge, OK: j.OK, Detail: "judge " + j.Judge}
	for _, cr := range j.Criteria {
		if !cr.OK {
			c.Failures = append(c.Failures, fmt.Sprintf("%s: no (%s)", cr.Key, cr.Why))
		}
	}
	for _, p := range j.Problems {
		if !j.OK {
			c.Failures = append(c.Failures, "problem: "+p)
		}
	}
	return c
}

// JudgeFailed is the check for a judge that could not give a verdict.
func JudgeFailed(judge string, err error) validate.Check {
	return validate.Check{Name: validate.CheckJudge, Detail: "judge " + judge + ": " + env.CapText(err.Error(), 500)}
}

// AddJudgement puts the judge's check and its full record on a report.
func AddJudgement(rep *validate.Report, j Judgement, err error) {
	c := j.Check()
	if err != nil {
		c = JudgeFailed(j.Judge, err)
	}
	rep.Checks = append(rep.Checks, c)
	rep.Judge, _ = json.Marshal(j)
	rep.OK = rep.OK && c.OK
}
