package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"resyn/core/envlib"
	"resyn/llm"
)

// The scripted model: what a writer LLM answers in the offline end-to-end
// tests and in the recorded demo run (testdata/synth/run.jsonl, written by
// TestRecordDemoRun with -update). Twelve ideas survive ideation out of
// fifteen proposed; their candidates cover every path through the pipeline.

var scriptIdeas = [][]map[string]string{
	{ // "constraint satisfaction"
		{"name": "digit_sum_chain", "description": "Given a list of numbers, add up the digit sums of all of them."},
		{"name": "modular_inverse", "description": "For several pairs (a, p) with p prime, find the inverse of a modulo p."},
		{"name": "alphabetical_order", "description": "Sort a list of made-up words into alphabetical order."},
		{"name": "Graph Colouring", "description": "Colour the vertices of a graph so that no edge joins two vertices of one colour."},
		{"name": "interval_merge", "description": "Merge a list of overlapping integer intervals into disjoint ones."},
	},
	{ // "graph algorithms"
		{"name": "collatz_steps", "description": "For each start number, count the steps the Collatz map needs to reach 1."},
		{"name": "parity_guess", "description": "Say whether the sum of a list of numbers is even or odd."},
		{"name": "digit_sums_total", "description": "Given a list of numbers, add up the digit sums of all of them together."},
		{"name": "forbidden_topic", "description": "An environment the scripted model declines to write."},
		{"name": "silent_task", "description": "An environment for which the scripted model replies with nothing."},
	},
	{ // "arithmetic and number theory"
		{"name": "modular_inverses", "description": "For several pairs (a, p) with p prime, find the inverse of a modulo p."},
		{"name": "vertex_paint", "description": "Paint vertices with few paints such that adjacent ones differ (a renamed clone)."},
		{"name": "prime_count", "description": "Count the primes in a range of integers."},
		{"name": "gcd_pairs", "description": "For several pairs of integers, give their greatest common divisor."},
		{"name": "plan_only", "description": "The scripted model describes a plan instead of writing code."},
	},
}

// ideasReply renders one ideation reply; the second is bare JSON, the
// others come with prose and fences.
func ideasReply(i int) string {
	b, _ := json.MarshalIndent(scriptIdeas[i], "", "  ")
	if i == 1 {
		return string(b)
	}
	return "Here are some ideas:\n\n```json\n" + string(b) + "\n```\n\nEach has an exact verifier."
}

const digitSumChain = `NAME = "digit_sum_chain"
DESCRIPTION = "Add up the digit sums of a list of numbers."
TAGS = ["arithmetic"]
DIFFICULTY = (1, 10)

def digit_sum(x):
    return sum([int(c) for c in str(x).elems()])

def generate(rng, difficulty):
    n = 2 + difficulty
    return {"numbers": [rng.randint(10, 10 * pow(10, difficulty)) for _ in range(n)]}

def render(state):
    return ("Compute the sum of the digit sums of these numbers: " +
            ", ".join([str(x) for x in state["numbers"]]) +
            ". For example, the digit sum of 123 is 6. Give the total inside <answer></answer> tags.")

def verify(state, answer):
    a = answer.strip()
    if not re.fullmatch(r"-?[0-9]+", a):
        return 0.0
    return 1.0 if int(a) == sum([digit_sum(x) for x in state["numbers"]]) else 0.0

def solve(state):
    return str(sum([digit_sum(x) for x in state["numbers"]]))
`

const modularInverseBroken = `NAME = "modular_inverse"
DESCRIPTION = "Find inverses modulo primes."
TAGS = ["number-theory"]
DIFFICULTY = (1, 8)

PRIMES = [7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101]

def generate(rng, difficulty):
    pairs = []
    for _ in range(difficulty + 1):
        p = rng.choice(PRIMES)
        pairs.append([rng.randint(2, p - 1), p])
    return {"pairs": pairs}

def inverse(a, p):
    return a ** (p - 2) % p

def render(state):
    lines = ["For each pair (a, p) below, find the x in 1..p-1 with a*x = 1 modulo p."]
    for q in state["pairs"]:
        lines.append("a = %d, p = %d" % (q[0], q[1]))
    lines.append("Give the answers in order, separated by spaces, inside <answer></answer> tags.")
    return "\n".join(lines)

def verify(state, answer):
    parts = [t for t in re.split(r"[\s,]+", answer.strip()) if t != ""]
    if len(parts) != len(state["pairs"]):
        return 0.0
    for i in range(len(parts)):
        if not re.fullmatch(r"[0-9]+", parts[i]):
            return 0.0
        a, p = state["pairs"][i][0], state["pairs"][i][1]
        x = int(parts[i])
        if x < 1 or x >= p or (a * x) % p != 1:
            return 0.0
    return 1.0

def solve(state):
    return " ".join([str(inverse(q[0], q[1])) for q in state["pairs"]])
`

var modularInverseFixed = strings.Replace(modularInverseBroken, "a ** (p - 2) % p", "pow(a, p - 2) % p", 1)

const alphabeticalBroken = `NAME = "alphabetical_order"
DESCRIPTION = "Sort made-up words alphabetically."
TAGS = ["strings", "sorting"]

SYL = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "po", "qa", "fu"]

def generate(rng, difficulty):
    words = []
    for _ in range(3 + difficulty):
        w = ""
        for _ in range(rng.randint(2, 3)):
            w += rng.choice(SYL)
        words.append(w)
    return {"words": words}

def render(state):
    return ("Sort these words alphabetically: " + " ".join(state["words"]) +
            "\nGive them in order, separated by single spaces, inside <answer></answer> tags.")

def verify(state, answer):
    letters = [ch for ch in answer]
    return 1.0 if "".join(letters).split() == sorted(state["words"]) else 0.0

def solve(state):
    return " ".join(sorted(state["words"]))
`

var alphabeticalFixed = strings.Replace(alphabeticalBroken, `    letters = [ch for ch in answer]
    return 1.0 if "".join(letters).split() == sorted(state["words"]) else 0.0`,
	`    return 1.0 if answer.split() == sorted(state["words"]) else 0.0`, 1)

const intervalMergeFinal = `NAME = "interval_merge"
DESCRIPTION = "Merge overlapping integer intervals."
TAGS = ["intervals"]

def generate(rng, difficulty):
    ivs = []
    for _ in range(2 + 2 * difficulty):
        a = rng.randint(0, 10 * difficulty + 10)
        ivs.append([a, a + rng.randint(1, 6)])
    return {"intervals": ivs}

def merged(ivs):
    out = []
    for iv in sorted(ivs):
        if out and iv[0] <= out[-1][1]:
            out[-1][1] = max(out[-1][1], iv[1])
        else:
            out.append([iv[0], iv[1]])
    return out

def render(state):
    shown = " ".join(["[%d, %d]" % (iv[0], iv[1]) for iv in state["intervals"]])
    return ("Merge the overlapping intervals in this list: " + shown +
            "\nWrite the merged intervals in increasing order as a-b separated by spaces, for example 1-4 6-9, " +
            "inside <answer></answer> tags.")

def verify(state, answer):
    want = " ".join(["%d-%d" % (m[0], m[1]) for m in merged(state["intervals"])])
    got = " ".join([t for t in re.split(r"[\s,]+", answer.strip()) if t != ""])
    return 1.0 if got == want else 0.0

def solve(state):
    return " ".join(["%d-%d" % (m[0], m[1]) for m in merged(state["intervals"])])
`

// Round 0 never asks for <answer> tags; round 1 does, but solve returns a
// Python-style list that verify rejects; round 2 is right.
var (
	intervalMergeNoTags   = strings.Replace(intervalMergeFinal, `"inside <answer></answer> tags."`, `"as your final line."`, 1)
	intervalMergeBadSolve = strings.Replace(intervalMergeFinal,
		`    return " ".join(["%d-%d" % (m[0], m[1]) for m in merged(state["intervals"])])
`, `    return str(merged(state["intervals"]))
`, 1)
)

const collatzFixed = `NAME = "collatz_steps"
DESCRIPTION = "Count Collatz steps to reach 1."
TAGS = ["arithmetic", "sequences"]

def steps(n):
    k = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        k += 1
    return k

def generate(rng, difficulty):
    return {"starts": [rng.randint(2, 20 * difficulty) for _ in range(difficulty + 1)]}

def render(state):
    return ("For each start number n, count the steps of the Collatz map (n -> n/2 if n is even, 3n+1 if odd) " +
            "until n reaches 1: " + ", ".join([str(s) for s in state["starts"]]) +
            "\nGive the step counts in order, separated by spaces, inside <answer></answer> tags.")

def verify(state, answer):
    parts = [t for t in re.split(r"[\s,]+", answer.strip()) if t != ""]
    if len(parts) != len(state["starts"]):
        return 0.0
    for i in range(len(parts)):
        if not re.fullmatch(r"[0-9]+", parts[i]) or int(parts[i]) != steps(state["starts"][i]):
            return 0.0
    return 1.0

def solve(state):
    return " ".join([str(steps(s)) for s in state["starts"]])
`

// The first version of generate never ends.
var collatzLoops = strings.Replace(collatzFixed, `def generate(rng, difficulty):
`, `def generate(rng, difficulty):
    x = 1
    while x > 0:
        x += 1
`, 1)

const parityAcceptsAll = `NAME = "parity_guess"
DESCRIPTION = "Say whether a sum is even or odd."
TAGS = ["arithmetic"]

def generate(rng, difficulty):
    return {"xs": [rng.randint(0, 99) for _ in range(2 + 2 * difficulty)]}

def render(state):
    return ("Is the sum of " + " + ".join([str(x) for x in state["xs"]]) +
            " even or odd? Answer even or odd inside <answer></answer> tags.")

def verify(state, answer):
    return 1.0

def solve(state):
    return "even" if sum(state["xs"]) % 2 == 0 else "odd"
`

const primeCountProse = `Sure! Below is the environment. It counts primes in ranges.

NAME = "prime_count"
DESCRIPTION = "Count the primes in ranges of integers."
TAGS = ["number-theory"]

def is_prime(n):
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1
    return True

def count(r):
    return len([n for n in range(r[0], r[1] + 1) if is_prime(n)])

def generate(rng, difficulty):
    ranges = []
    for _ in range(difficulty):
        lo = rng.randint(1, 50 * difficulty)
        ranges.append([lo, lo + rng.randint(10, 30)])
    return {"ranges": ranges}

def render(state):
    shown = ", ".join(["%d to %d" % (r[0], r[1]) for r in state["ranges"]])
    return ("For each range, count the prime numbers in it, both ends included: " + shown +
            "\nGive the counts in order, separated by spaces, inside <answer></answer> tags.")

def verify(state, answer):
    parts = [t for t in re.split(r"[\s,]+", answer.strip()) if t != ""]
    if len(parts) != len(state["ranges"]):
        return 0.0
    for i in range(len(parts)):
        if not re.fullmatch(r"[0-9]+", parts[i]) or int(parts[i]) != count(state["ranges"][i]):
            return 0.0
    return 1.0

def solve(state):
    return " ".join([str(count(r)) for r in state["ranges"]])

This follows the contract: generate scales with difficulty and verify is exact.
`

const gcdPairs = `NAME = "gcd_pairs"
DESCRIPTION = "Greatest common divisors of pairs of integers."
TAGS = ["number-theory"]

def gcd(a, b):
    while b != 0:
        a, b = b, a % b
    return a

def generate(rng, difficulty):
    pairs = []
    for _ in range(1 + difficulty):
        g = rng.randint(1, 12)
        pairs.append([g * rng.randint(1, 10 * difficulty), g * rng.randint(1, 10 * difficulty)])
    return {"pairs": pairs}

def render(state):
    return ("Give the greatest common divisor of each pair: " +
            "; ".join(["(%d, %d)" % (p[0], p[1]) for p in state["pairs"]]) +
            "\nAnswer with the divisors in order, separated by spaces, inside <answer></answer> tags.")

def verify(state, answer):
    parts = [t for t in re.split(r"[\s,]+", answer.strip()) if t != ""]
    if len(parts) != len(state["pairs"]):
        return 0.0
    for i in range(len(parts)):
        p = state["pairs"][i]
        if not re.fullmatch(r"[0-9]+", parts[i]) or int(parts[i]) != gcd(p[0], p[1]):
            return 0.0
    return 1.0

def solve(state):
    return " ".join([str(gcd(p[0], p[1])) for p in state["pairs"]])
`

func fenced(code string) string { return "```python\n" + code + "```\n" }

// vertexPaint is graph_coloring renamed and re-described: a duplicate.
func vertexPaint() string {
	src, _ := envlib.Get("graph_coloring")
	s := strings.Replace(string(src.Code), `NAME = "graph_coloring"`, `NAME = "vertex_paint"`, 1)
	return strings.Replace(s, `DESCRIPTION = "Colour a graph`, `DESCRIPTION = "Paint a graph`, 1)
}

// scriptReplies are each candidate's replies: implementation first, then
// the repair rounds in order.
func scriptReplies() map[string][]string {
	return map[string][]string{
		"digit_sum_chain":    {fenced(digitSumChain)},
		"modular_inverse":    {"Here is the module.\n\n" + fenced(modularInverseBroken), fenced(modularInverseFixed)},
		"alphabetical_order": {fenced(alphabeticalBroken), "Fixed: strings are not iterable in Starlark.\n" + fenced(alphabeticalFixed)},
		"interval_merge":     {fenced(intervalMergeNoTags), fenced(intervalMergeBadSolve), fenced(intervalMergeFinal)},
		"collatz_steps":      {fenced(collatzLoops), fenced(collatzFixed)},
		"parity_guess":       {fenced(parityAcceptsAll), fenced(parityAcceptsAll), fenced(parityAcceptsAll)},
		"forbidden_topic":    {"I'm sorry, but I can't help with writing that environment."},
		"silent_task":        {""},
		"vertex_paint":       {fenced(vertexPaint())},
		"prime_count":        {primeCountProse},
		"gcd_pairs":          {fenced(gcdPairs)},
		"plan_only":          {"Plan: generate pairs, render them, verify the answer exactly. I will write the module next."},
	}
}

// scriptOutcomes is what each candidate must end as (MaxRepairs 2).
var scriptOutcomes = map[string]struct {
	outcome Outcome
	repairs int
}{
	"digit_sum_chain":    {OutcomeCandidate, 0},
	"modular_inverse":    {OutcomeCandidate, 1},
	"alphabetical_order": {OutcomeCandidate, 1},
	"interval_merge":     {OutcomeCandidate, 2},
	"collatz_steps":      {OutcomeCandidate, 1},
	"parity_guess":       {OutcomeInvalid, 2},
	"forbidden_topic":    {OutcomeRefused, 0},
	"silent_task":        {OutcomeEmpty, 0},
	"vertex_paint":       {OutcomeDuplicate, 0},
	"prime_count":        {OutcomeCandidate, 0},
	"gcd_pairs":          {OutcomeCandidate, 0},
	"plan_only":          {OutcomeNoCode, 0},
}

// scriptConfig is the configuration of the scripted run.
func scriptConfig() Config {
	cfg := DemoConfig()
	cfg.Validate = validateOpts()
	return cfg
}

// scripted is an llm.Provider that plays the script, addressing replies by
// tag and subject like a replay file does. It counts calls per subject.
type scripted struct {
	mu      sync.Mutex
	ideate  int
	next    map[string]int
	replies map[string][]string
	calls   map[string]int // "tag/subject" -> calls
	block   chan struct{}  // when set, implementation calls wait on it
}

func newScripted() *scripted {
	return &scripted{next: map[string]int{}, replies: scriptReplies(), calls: map[string]int{}}
}

func (s *scripted) Name() string { return "scripted" }

func (s *scripted) Complete(ctx context.Context, req llm.Request) (llm.Completion, error) {
	s.mu.Lock()
	s.calls[req.Tag+"/"+req.Subject]++
	var text string
	var err error
	switch req.Tag {
	case StageIdeate:
		if s.ideate < len(scriptIdeas) {
			text = ideasReply(s.ideate)
			s.ideate++
		} else {
			err = llm.ErrReplayExhausted
		}
	case StageImplement, StageRepair:
		// An implementation call starts the candidate over (as after a
		// resume); repair k gets reply k.
		if req.Tag == StageImplement {
			s.next[req.Subject] = 0
		}
		rs := s.replies[req.Subject]
		i := s.next[req.Subject]
		if i >= len(rs) {
			i = len(rs) - 1
		}
		s.next[req.Subject]++
		if i < 0 {
			err = fmt.Errorf("scripted model: no reply for %q", req.Subject)
		} else {
			text = rs[i]
		}
	default:
		err = fmt.Errorf("scripted model: unexpected tag %q", req.Tag)
	}
	block := s.block
	s.mu.Unlock()
	if block != nil && req.Tag != StageIdeate {
		select {
		case <-block:
		case <-ctx.Done():
			return llm.Completion{}, ctx.Err()
		}
	}
	if err != nil {
		return llm.Completion{}, err
	}
	u := llm.Usage{PromptTokens: len(req.System)/4 + totalLen(req.Messages)/4, CompletionTokens: len(text) / 4}
	if req.OnDelta != nil && text != "" {
		req.OnDelta(llm.Delta{Text: text})
	}
	return llm.Completion{Text: text, FinishReason: "stop", Usage: u, Attempts: 1}, nil
}

func totalLen(ms []llm.Message) int {
	n := 0
	for _, m := range ms {
		n += len(m.Content)
	}
	return n
}

// subjectOf works out, from a chat-completions request body alone, which
// stage and candidate it is for — what the scripted HTTP server needs.
var nameLineRe = regexp.MustCompile(`NAME = "([a-z0-9_]+)"`)

func stageOf(system string, msgs []llm.Message) (stage, subject string) {
	switch {
	case strings.HasPrefix(system, ideateSystem[:40]):
		return StageIdeate, ""
	case strings.HasPrefix(system, implementSystem[:40]):
		m := nameLineRe.FindStringSubmatch(msgs[0].Content)
		if m == nil {
			return "", ""
		}
		if len(msgs) > 1 {
			return StageRepair, m[1]
		}
		return StageImplement, m[1]
	}
	return "", ""
}
