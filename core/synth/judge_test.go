package synth

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"

	"resyn/core/validate"
	"resyn/llm"
	"resyn/storage"
)

// TestTrendTest: the exact one-sided trend test against p-values computed
// by enumerating every placement of the passes (and, for two levels,
// Fisher's exact test).
func TestTrendTest(t *testing.T) {
	for _, c := range []struct {
		n, passes []int
		p         float64
	}{
		{[]int{4, 4, 4}, []int{4, 2, 0}, 0.006493506493506494},
		{[]int{4, 4, 4}, []int{3, 2, 1}, 0.15800865800865802},
		{[]int{4, 4, 4}, []int{0, 2, 4}, 1},
		{[]int{4, 4}, []int{3, 1}, 17.0 / 70}, // Fisher: (C(4,3)C(4,1) + C(4,4)) / C(8,4)
		{[]int{3, 3, 3}, []int{3, 3, 0}, 1.0 / 84},
		{[]int{5, 5}, []int{0, 0}, 1}, // nothing to rank
	} {
		tr := TrendTest(c.n, c.passes, 0.1)
		if math.Abs(tr.PValue-c.p) > 1e-12 {
			t.Errorf("n %v passes %v: p = %v, want %v", c.n, c.passes, tr.PValue, c.p)
		}
		if tr.Falls != (c.p <= 0.1) {
			t.Errorf("n %v passes %v: falls %v at alpha 0.1 with p %v", c.n, c.passes, tr.Falls, c.p)
		}
	}
}

const judgeOK = `{"reference_free": {"ok": true, "why": "checks the gcd"}, "complete": {"ok": true, "why": "every pair"}, "difficulty_scales": {"ok": true, "why": "more pairs"}, "well_specified": true, "no_loophole": {"ok": true, "why": "strict"}, "problems": []}`

const judgeFails = "Here is my review:\n```json\n" + `{"reference_free": {"ok": true, "why": "fine"}, "complete": {"ok": false, "why": "verify accepts fewer answers than pairs"}, "difficulty_scales": {"ok": true, "why": "more pairs"}, "well_specified": {"ok": true, "why": "clear"}, "no_loophole": {"ok": true, "why": "strict"}, "problems": ["line 14: a short list passes"]}` + "\n```"

func TestJudgeReadsItsVerdict(t *testing.T) {
	for _, c := range []struct {
		reply  string
		ok     bool
		failed string
		err    error
	}{
		{judgeOK, true, "", nil},
		{judgeFails, false, "complete", nil},
		{`{"reference_free": true}`, false, "complete", nil}, // unanswered criteria fail
		{"I cannot review this.", false, "", ErrJudgeReply},
	} {
		var j Judgement
		err := j.read(c.reply)
		if !errors.Is(err, c.err) || (err == nil && j.OK != c.ok) {
			t.Errorf("%q: ok %v, err %v", c.reply, j.OK, err)
			continue
		}
		if c.failed != "" && !strings.Contains(strings.Join(j.Check().Failures, "\n"), c.failed) {
			t.Errorf("%q: the check does not name %s: %+v", c.reply, c.failed, j.Check())
		}
	}
}

// TestJudgeStage: with a judge, a valid candidate is reviewed; a flaw it
// finds goes back to the writer for one revision, which is validated and
// judged again. The judge's calls are recorded with the candidate and its
// verdict is a line of the stored report.
func TestJudgeStage(t *testing.T) {
	for _, c := range []struct {
		name     string
		verdicts []string
		outcome  Outcome
	}{
		{"passes at once", []string{judgeOK}, OutcomeCandidate},
		{"passes after one revision", []string{judgeFails, judgeOK}, OutcomeCandidate},
		{"fails after one revision", []string{judgeFails, judgeFails}, OutcomeInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			db := openStore(t)
			writer, err := llm.ParseReplay(strings.NewReader(`{"tag":"ideate","reply":"[{\"name\":\"gcd_pairs\",\"description\":\"For several pairs of integers, give their greatest common divisor.\"}]"}
{"tag":"implement","subject":"gcd_pairs","reply":` + jsonString(fenced(gcdPairs)) + `}
{"tag":"repair","subject":"gcd_pairs","reply":` + jsonString(fenced(gcdPairs)) + `}`))
			if err != nil {
				t.Fatal(err)
			}
			var lines []string
			for _, v := range c.verdicts {
				lines = append(lines, `{"tag":"judge","subject":"gcd_pairs","reply":`+jsonString(v)+`}`)
			}
			judge, err := llm.ParseReplay(strings.NewReader(strings.Join(lines, "\n")))
			if err != nil {
				t.Fatal(err)
			}
			pl := &Pipeline{LLM: writer, Judge: judge, Pool: testPool(t), DB: db}
			var ev events
			if _, err := pl.Run(context.Background(), Config{N: 1, Validate: validateOpts()}, ev.add); err != nil {
				t.Fatal(err)
			}
			v := ev.verdicts()["gcd_pairs"]
			if v.Outcome != c.outcome || v.Repairs != len(c.verdicts)-1 || judge.Remaining() != 0 {
				t.Fatalf("verdict %+v; %d judge replies left", v, judge.Remaining())
			}
			judged := 0
			for _, e := range ev.all {
				if _, ok := e.(JudgedEvent); ok {
					judged++
				}
			}
			if judged != len(c.verdicts) {
				t.Errorf("%d JudgedEvent events, want %d", judged, len(c.verdicts))
			}
			if c.outcome != OutcomeCandidate {
				if !strings.Contains(v.Reason, "LLM judge") {
					t.Errorf("reason %q does not name the judge", v.Reason)
				}
				return
			}
			db.View(func(tx *storage.Tx) error {
				e, err := storage.GetEnv(tx, "gcd_pairs")
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(e.Report), validate.CheckJudge) || !strings.Contains(string(e.Provenance), `"stage":"judge"`) {
					t.Errorf("the stored report or provenance lacks the judge")
				}
				return nil
			})
		})
	}
}

// FuzzJudgeReply: no reply makes the judge's parser panic, and a verdict
// it reads as OK has every criterion answered yes.
func FuzzJudgeReply(f *testing.F) {
	for _, s := range []string{judgeOK, judgeFails, `{"reference_free": 1}`, "{", "```json\n{}\n```", `{"problems": [1, "x"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		var j Judgement
		if err := j.read(reply); err != nil {
			if !errors.Is(err, ErrJudgeReply) {
				t.Fatalf("error %v does not wrap ErrJudgeReply", err)
			}
			return
		}
		if len(j.Criteria) != len(JudgeCriteria) {
			t.Fatalf("%d criteria", len(j.Criteria))
		}
		for _, c := range j.Criteria {
			if j.OK && !c.OK {
				t.Fatalf("OK with %s answered no", c.Key)
			}
		}
	})
}
