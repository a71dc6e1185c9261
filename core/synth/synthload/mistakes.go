package synthload

import (
	"math/rand/v2"
	"regexp"
	"strings"
)

// Mistake is one kind of error a writer model makes in Starlark, applied to
// a correct module. Apply reports false when the module offers no place for
// it. Every mistake makes validation fail (corpus_test.go checks that on
// the tuning part): a repair round has something to fix.
type Mistake struct {
	Name  string
	Apply func(code string, r *rand.Rand) (string, bool)
}

var (
	powRe    = regexp.MustCompile(`pow\(([^(),]+), ([^(),]+)\)`)
	elemsRe  = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_\[\]"().]*)\.elems\(\)`)
	formatRe = regexp.MustCompile(`"([^"\n]*%d[^"\n]*)" % ([A-Za-z_][A-Za-z0-9_\[\]"]*)\)`)
	nameRe   = regexp.MustCompile(`(?m)^NAME = "([a-z0-9_]+)"`)
	// answerTagRe is an answer block in a prompt, empty or an example.
	answerTagRe = regexp.MustCompile(`<answer>([^<"]*)</answer>`)
)

// insertAfterDef puts lines at the start of function fn's body.
func insertAfterDef(code, fn, lines string) (string, bool) {
	i := strings.Index(code, "\ndef "+fn+"(")
	if i < 0 {
		return code, false
	}
	j := strings.Index(code[i+1:], ":\n")
	if j < 0 {
		return code, false
	}
	at := i + 1 + j + 2
	return code[:at] + lines + code[at:], true
}

// Mistakes are the kinds the simulated model makes, after what LLMs
// writing Starlark get wrong most: Python syntax Starlark lacks, the
// contract's rules, and verifiers that do not verify.
var Mistakes = []Mistake{
	{"python power operator", func(code string, r *rand.Rand) (string, bool) {
		if loc := powRe.FindStringSubmatchIndex(code); loc != nil {
			return code[:loc[0]] + code[loc[2]:loc[3]] + " ** " + code[loc[4]:loc[5]] + code[loc[1]:], true
		}
		return insertAfterDef(code, "generate", "    scale = 2 ** difficulty\n")
	}},
	{"string iterated like a list", func(code string, r *rand.Rand) (string, bool) {
		if loc := elemsRe.FindStringSubmatchIndex(code); loc != nil {
			return code[:loc[0]] + code[loc[2]:loc[3]] + code[loc[1]:], true
		}
		return insertAfterDef(code, "verify", "    letters = [c for c in answer]\n")
	}},
	{"f-string", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "render", "    title = f\"Task {len(state)}\"\n")
	}},
	{"try/except", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "verify", "    try:\n        answer = answer.strip()\n    except Exception:\n        return 0.0\n")
	}},
	{"chained comparison", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "verify", "    if 0 < len(answer) < 0:\n        return 0.0\n")
	}},
	{"global statement", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "generate", "    global CALLS\n")
	}},
	{"implicit string concatenation", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "render", "    header = \"Read the task \" \"carefully.\"\n")
	}},
	{"prompt without answer tags", func(code string, r *rand.Rand) (string, bool) {
		if !strings.Contains(code, "<answer></answer>") {
			return code, false
		}
		out := strings.ReplaceAll(code, "inside <answer></answer> tags", "on the last line")
		out = answerTagRe.ReplaceAllString(out, "$1")
		return out, out != code
	}},
	{"verifier accepts everything", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "verify", "    return 1.0\n")
	}},
	{"verifier raises on junk", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "verify", "    first = int(answer.split()[0])\n")
	}},
	{"reference answer in the wrong form", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "solve", "    return \"The answer is unknown\"\n")
	}},
	{"generator that never ends", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "generate", "    while True:\n        difficulty += 0\n")
	}},
	{"difficulty ignored", func(code string, r *rand.Rand) (string, bool) {
		return insertAfterDef(code, "generate", "    difficulty = 1\n")
	}},
	{"wrong NAME", func(code string, r *rand.Rand) (string, bool) {
		m := nameRe.FindStringSubmatchIndex(code)
		if m == nil {
			return code, false
		}
		return code[:m[2]] + code[m[2]:m[3]] + "_env" + code[m[3]:], true
	}},
	{"format string with a missing argument", func(code string, r *rand.Rand) (string, bool) {
		if loc := formatRe.FindStringSubmatchIndex(code); loc != nil {
			q := code[loc[2]:loc[3]]
			return code[:loc[0]] + `"` + q + ` and %d" % ` + code[loc[4]:loc[5]] + ")" + code[loc[1]:], true
		}
		return insertAfterDef(code, "render", "    note = \"%d and %d\" % len(state)\n")
	}},
}

// MistakeByName finds a mistake.
func MistakeByName(name string) (Mistake, bool) {
	for _, m := range Mistakes {
		if m.Name == name {
			return m, true
		}
	}
	return Mistake{}, false
}
