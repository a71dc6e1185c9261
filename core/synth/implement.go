package synth

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"resyn/core/env"
	"resyn/core/envlib"
	"resyn/core/validate"
	"resyn/llm"
)

// contract is the environment contract of ARCHITECTURE.md and the host
// surface of core/env, as the model is told it, with the budgets, limits
// and probes that validation (core/validate) applies: a model that knows
// them writes environments that pass, and a repair round can point at them.
var contract = fmt.Sprintf(`An environment is one Starlark module (a hermetic Python dialect: no I/O, no imports). It defines:

NAME = "graph_coloring"                 # unique slug: [a-z0-9_]+, at most %[1]d characters
DESCRIPTION = "Colour a graph so that no edge joins two vertices of the same colour."   # at most %[2]d bytes
TAGS = ["constraint-satisfaction", "graphs"]                                          # at most %[3]d, each [a-z0-9._:/-]+
DIFFICULTY = (1, 10)                    # optional; inclusive range of difficulty, default (1, 10)

def generate(rng, difficulty):          # -> state: dicts with string keys, lists, str, int, float, bool, None
def render(state):                      # -> str: the prompt the solver sees; it must say to answer inside <answer></answer>
def verify(state, answer):              # answer: the text inside the solver's last <answer></answer>, trimmed -> float in [0, 1] or bool
def solve(state):                       # a reference answer (str) that verify scores 1.0

Rules:
- NAME, DESCRIPTION, TAGS and DIFFICULTY are literals, each bound once at the top level (listings read them without running the module).
- rng is seeded from (NAME, seed, difficulty): rng.randint(a, b) (inclusive, 64-bit bounds), rng.random() in [0,1),
  rng.uniform(a, b), rng.choice(seq), rng.shuffle(list) (in place), rng.sample(seq, k). Use nothing else for randomness.
- Available without import: json (json.encode, json.decode), math, re (RE2 syntax, Python-like:
  re.match (anchored at start), re.search, re.fullmatch, re.findall, re.sub, re.split), and the builtins
  sum(iterable, start=0), pow(a, b), divmod(a, b), round(x, ndigits=0), and format(value, spec) (Python's
  format-spec mini-language: format(x, ".2f"), format(n, "5d"), format(s, "<8"), format(n, "08b")).
- The state goes through JSON before render, verify and solve see it: tuples come back as lists, dict keys must be strings.
- Different seeds must give different instances (different prompts) at every difficulty level: at least %[4]d distinct
  instances at each level of the upper half of the range; easy levels may be smaller, never fewer than 4.
- Higher difficulty must change what the solver sees or must do (a longer or different prompt, more work for solve and
  verify), not only state that the prompt never shows.
- Budget, counted in Starlark steps (about one per bytecode operation; builtins charge for their work: sorted over n values
  about n*log(n) steps, re about pattern size x text length / 16, int() and str() of long numbers more), the same on any
  machine: one instance — generate, render, solve and verify of solve's answer together — at most %[5]d steps; every other
  verify call at most %[5]d steps; at most %[6]v of CPU time per instance. Compute the answer (or what checking needs) once
  in generate and keep it in the state, so that render, verify and solve only read it.
- Size limits: the prompt and the state (as JSON) at most %[7]d KB each; an answer longer than %[8]d KB never reaches verify.
- verify is strict about content and lenient about form (whitespace, case where it cannot matter, equivalent
  notations). It must never raise on any answer string (return 0 instead), and must not give credit to an answer that
  merely contains the right one among other text or lists several candidates. Validation tries, on every instance:
  the solution with one character or digit changed, a number's sign flipped, truncated, only its first item, one item
  dropped, a subset of its items, an item duplicated or repeated in place of the others, two numbers merged; random
  digits and letters; sentinels (null, None, [], {}, "", true, false, 0, -1, nan, N/A, none, yes, no, ...); the solution
  and a wrong answer joined by |, ;, /, a comma, a newline or " or "; 16 KB of junk, alone and after the solution; the
  prompt echoed back; an empty answer and bare tags. Each must score below 1 (a damaged answer may be right only where an
  instance truly has several right answers), and verify must not raise on any of them.

Starlark is not Python:
- strings are not iterable: use s.elems(); no implicit concatenation of string literals; no ** (use pow);
- %% takes no width or precision: "%%5d", "%%.2f" and "%%-8s" fail with "unknown conversion"; use format(x, "5d"),
  format(x, ".2f"), format(s, "<8"); str.format takes no spec either ("{:.2f}"); strings have no rjust/ljust/zfill/center;
- no try/except, no classes, no f-strings (use "%%d" %% x or "{}".format(x)), no imports, no global statement
  (mutate a list or dict instead), no chained comparisons (write a < b and b < c), compare with x == None;
- lists have no sort() (use sorted(xs, key=..., reverse=...)); no set literals (use set([...])); no deque;
- globals are frozen once the module has loaded: a top-level dict cannot serve as a cache;
- ints are arbitrary precision; / on ints gives a float, use //; while loops, recursion and sets are allowed.`,
	env.MaxNameLen, env.MaxDescriptionLen, env.MaxTags, validate.DefaultMinSpace, validate.DefaultStepBudget,
	validate.Limits(validate.Options{}).TaskCPU, validate.MaxState>>10, env.MaxAnswerBytes>>10)

var implementSystem = `You write reasoning environments as Starlark code for training language models with
reinforcement learning. You follow the environment contract exactly and reply with code.

` + contract

// Examples returns the named built-ins' sources as prompt examples; unknown
// names are skipped.
func Examples(names []string) []envlib.Source {
	var out []envlib.Source
	for _, n := range names {
		if s, ok := envlib.Get(n); ok {
			out = append(out, s)
		}
	}
	return out
}

// ImplementPrompt builds the system prompt and the user message that ask
// for an idea's module, with the examples shown in full. For an idea that
// revises an environment (Idea.Revise) the user message is RevisePrompt's.
func ImplementPrompt(idea Idea, examples []envlib.Source) (system, user string) {
	var b strings.Builder
	b.WriteString(implementSystem)
	if len(examples) > 0 {
		b.WriteString("\n\nExamples of complete, valid environments:\n")
		for _, ex := range examples {
			fmt.Fprintf(&b, "\n```python\n# %s\n%s```\n", ex.File, strings.TrimRight(string(ex.Code), "\n")+"\n")
		}
	}
	if idea.Revise != nil {
		return b.String(), RevisePrompt(*idea.Revise)
	}
	var u strings.Builder
	fmt.Fprintf(&u, "Write the environment for this task.\n\nNAME = %q\n", idea.Name)
	if idea.Category != "" {
		fmt.Fprintf(&u, "Category: %s\n", idea.Category)
	}
	fmt.Fprintf(&u, "Task: %s\n\n", idea.Description)
	u.WriteString("Reply with the whole module in one ```python fenced block, with NAME exactly as given.")
	return b.String(), u.String()
}

// Implement asks the model for an idea's module and extracts it. The
// exchange is returned also when extraction fails (ErrRefusal,
// ErrEmptyReply, ErrNoCode) or the call does.
func Implement(ctx context.Context, p llm.Provider, idea Idea, examples []envlib.Source, opts CallOptions) (code string, ex Exchange, err error) {
	system, user := ImplementPrompt(idea, examples)
	ex, err = call(ctx, p, StageImplement, idea.Name, system, []llm.Message{{Role: llm.RoleUser, Content: user}}, opts)
	if err != nil {
		return "", ex, err
	}
	code, err = ExtractCode(ex.Reply)
	return code, ex, err
}

var (
	fenceOpenRe = regexp.MustCompile("(?m)^[ \t]*```[a-zA-Z0-9_+-]*[ \t]*$")
	refusalRe   = regexp.MustCompile(`(?i)\b(i\s*(?:'m| am)\s*(?:sorry|unable|not able)|i\s*(?:can(?:'|no)t|won't|will not|must decline)|as an ai\b|cannot (?:help|assist|comply)|unable to (?:help|assist|comply))`)
	// codeLineRe matches a line that reads as Starlark at the top level.
	codeLineRe = regexp.MustCompile(`^(#|def |if |elif |else:|for |while |return\b|[A-Za-z_][A-Za-z0-9_]*(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*(=|\+=|-=|\(|\[|\.)|[\])}"'])`)
)

// ExtractCode takes the environment module out of a model's reply. It
// prefers a fenced block that defines generate and verify (the longest one
// when there are several), accepts an unterminated fence (a reply cut at the
// token limit) and unfenced code with prose before or after it. A reply
// without code is ErrEmptyReply when blank, ErrRefusal when it declines,
// ErrNoCode otherwise.
func ExtractCode(reply string) (string, error) {
	reply = strings.ReplaceAll(reply, "\r\n", "\n")
	if strings.TrimSpace(reply) == "" {
		return "", ErrEmptyReply
	}
	isModule := func(s string) bool {
		return strings.Contains(s, "def generate") && strings.Contains(s, "def verify")
	}
	// Fenced blocks: split at fence lines; odd pieces are inside fences.
	if locs := fenceOpenRe.FindAllStringIndex(reply, -1); len(locs) > 0 {
		best := ""
		for i := 0; i < len(locs); i += 2 {
			start := locs[i][1]
			end := len(reply)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			block := strings.Trim(reply[start:end], "\n")
			if isModule(block) && len(block) > len(best) {
				best = block
			}
		}
		if best != "" {
			return best + "\n", nil
		}
	}
	if isModule(reply) {
		if code := unfenced(reply); code != "" {
			return code, nil
		}
	}
	if refusalRe.MatchString(reply) {
		return "", fmt.Errorf("%w: %s", ErrRefusal, firstLine(reply))
	}
	return "", fmt.Errorf("%w: %s", ErrNoCode, firstLine(reply))
}

// unfenced cuts the prose off both ends of unfenced code: it starts at the
// first top-level line that reads as code and ends at the last line that is
// indented or reads as code.
func unfenced(reply string) string {
	lines := strings.Split(reply, "\n")
	first, last := -1, -1
	for i, l := range lines {
		t := strings.TrimRight(l, " \t")
		if t == "" {
			continue
		}
		indented := t[0] == ' ' || t[0] == '\t'
		if first < 0 {
			if !indented && codeLineRe.MatchString(t) {
				first = i
				last = i
			}
			continue
		}
		if indented || codeLineRe.MatchString(t) {
			last = i
		} else if lineIsProse(t) {
			// prose after the code ends it, unless code follows again
			rest := strings.Join(lines[i+1:], "\n")
			if !strings.Contains(rest, "def ") {
				break
			}
		}
	}
	if first < 0 {
		return ""
	}
	return strings.Join(lines[first:last+1], "\n") + "\n"
}

// lineIsProse: a top-level line of words with a space after the first one
// (prose), not a statement.
func lineIsProse(t string) bool {
	return !codeLineRe.MatchString(t) && strings.Contains(t, " ")
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}
