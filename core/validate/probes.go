package validate

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"resyn/core/env"
)

// The probes: answers a careful reviewer would try on a verifier, derived
// from each instance's reference answer. Each kind is judged on its own
// (one kind that scores 1 on most instances is a hack, whatever the other
// kinds do), by how often an answer of that kind may legitimately be right:
//
//   - never: the answer cannot be a right one (the solution listed with a
//     wrong one, the prompt echoed, junk near the answer cap, …): one
//     instance where it scores 1 fails the check;
//   - rarely: an answer that does not depend on the instance (a JSON or
//     language sentinel, random text): it may be right by chance on a few
//     instances, not on more than maxRareRate of them;
//   - sometimes: a damaged solution (a changed digit, a dropped item, a
//     subset): it can still be a valid answer where an instance has several
//     (another colouring, another winning move), but not on most instances.
type tier int

const (
	tierSometimes tier = iota
	tierRarely
	tierNever
)

const (
	maxSometimesRate = 0.5
	maxRareRate      = 0.1
)

type probeKind struct {
	name string
	tier tier
	hack bool // reported under CheckHacks; else CheckRejects
}

// The kinds, by name; probes() refers to them.
var (
	kChanged   = probeKind{"one character changed", tierSometimes, false}
	kDigit     = probeKind{"one digit changed", tierSometimes, false}
	kSign      = probeKind{"a number's sign flipped", tierSometimes, false}
	kTruncated = probeKind{"truncated to its first half", tierSometimes, false}
	kFirst     = probeKind{"partial: the first item only", tierSometimes, false}
	kAllButOne = probeKind{"partial: one item dropped", tierSometimes, false}
	kSubset    = probeKind{"partial: a subset of the items", tierSometimes, false}
	kOneToken  = probeKind{"every item replaced by the first", tierSometimes, false}
	kDupInto   = probeKind{"an item replaced by a copy of another", tierSometimes, false}
	kExtra     = probeKind{"an item duplicated", tierSometimes, false}
	kMerged    = probeKind{"two items merged (a separator dropped)", tierSometimes, false}
	kDoubled   = probeKind{"the answer written twice", tierSometimes, false}
	kDigits    = probeKind{"random digits", tierRarely, false}
	kLetters   = probeKind{"random letters", tierRarely, false}

	kEmpty    = probeKind{"empty answer", tierNever, true}
	kTags     = probeKind{"tags alone", tierNever, true}
	kEcho     = probeKind{"the prompt echoed back", tierNever, true}
	kOverlong = probeKind{"the solution repeated to 4 KB", tierNever, true}
	kJunk     = probeKind{"junk near the answer cap", tierNever, true}
	kSolJunk  = probeKind{"the solution followed by junk near the answer cap", tierNever, true}
)

// sentinels are answers that mean "nothing" in JSON, Python and prose.
var sentinels = []string{"null", "None", "[]", "{}", "()", `""`, "''", "true", "false", "True", "False",
	"0", "-1", "nan", "undefined", "N/A", "none", "unsat", "impossible", "no solution", "yes", "no", "?", "..."}

// separators join the solution with wrong candidates: a verifier must not
// credit an answer that lists several.
var separators = []struct{ name, sep string }{
	{"|", " | "}, {";", "; "}, {"/", " / "}, {",", ", "}, {"newline", "\n"}, {"or", " or "},
}

var sentinelKinds, joinKinds = func() (map[string]probeKind, map[string]probeKind) {
	s := map[string]probeKind{}
	for _, x := range sentinels {
		s[x] = probeKind{"the sentinel " + x, tierRarely, true}
	}
	j := map[string]probeKind{}
	for _, x := range separators {
		j[x.name] = probeKind{"the solution and a wrong one joined by " + quoteSep(x.name), tierNever, true}
	}
	return s, j
}()

func quoteSep(name string) string {
	if name == "newline" || name == "or" {
		return "\"" + name + "\""
	}
	return "'" + name + "'"
}

type probe struct {
	kind   probeKind
	answer string
}

// normal is the form in which two answers are taken to be the same one: a
// probe that is the solution in another case or spacing is not a probe.
func normal(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// probes builds the answers a verifier must not reward for one instance
// with prompt p and reference solution sol; k is the instance's index, which
// rotates the sentinels and separators so that each is tried on a share of
// the instances rather than all on every one.
func probes(p, sol string, seed int64, k int) []probe {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(k)+0x5eed))
	var ps []probe
	solN := normal(sol)
	add := func(kind probeKind, a string) {
		if kind.tier != tierNever && normal(a) == solN {
			return // the solution itself, in another form
		}
		if len(a) > env.MaxAnswerBytes {
			return // no model's answer can be that long: it is a format failure
		}
		ps = append(ps, probe{kind, a})
	}
	if sol != "" {
		add(kChanged, changeOne(sol, r))
		add(kChanged, changeOne(sol, r))
		if d := changeDigit(sol, r); d != "" {
			add(kDigit, d)
		}
		if s := flipSign(sol); s != "" {
			add(kSign, s)
		}
		if rs := []rune(sol); len(rs) >= 2 {
			add(kTruncated, string(rs[:len(rs)/2]))
		}
		itemProbes(sol, r, add)
	}
	add(kDigits, randomFrom(r, "0123456789 ", 1+r.IntN(12)))
	add(kLetters, randomFrom(r, "abcdefghijklmnopqrstuvwxyz ", 1+r.IntN(12)))
	for i := 0; i < 4; i++ {
		s := sentinels[(4*k+i)%len(sentinels)]
		add(sentinelKinds[s], s)
	}

	add(kEmpty, "")
	add(kEcho, p)
	add(kTags, "<answer></answer>")
	add(kOverlong, strings.Repeat(sol+" ", 4096/(len(sol)+1)+1))
	junk := randomFrom(r, "abcdefghijklmnopqrstuvwxyz0123456789 ,", env.MaxAnswerBytes-64)
	add(kJunk, junk)
	if sol != "" {
		if len(sol) < len(junk)/2 {
			add(kSolJunk, sol+"\n"+junk[:len(junk)-len(sol)-1])
		}
		wrong := changeOne(sol, r)
		if normal(wrong) != solN {
			for i := 0; i < 2; i++ {
				s := separators[(2*k+i)%len(separators)]
				if i == 0 {
					add(joinKinds[s.name], sol+s.sep+wrong)
				} else {
					add(joinKinds[s.name], wrong+s.sep+sol)
				}
			}
		}
	}
	return ps
}

// itemProbes are the probes of a solution made of several items (a list, a
// sequence of moves, an assignment): a part of it, one item dropped, one
// extra, repeated or duplicated, two merged; of a single item, the item
// written twice. The random draws are in a fixed order: the same instance
// gets the same probes.
func itemProbes(sol string, r *rand.Rand, add func(probeKind, string)) {
	it := splitItems(sol)
	n := len(it.items)
	if n >= 2 {
		add(kFirst, it.join(it.items[:1]))
		drop := r.IntN(n)
		add(kAllButOne, it.join(append(append([]string{}, it.items[:drop]...), it.items[drop+1:]...)))
		add(kExtra, it.join(append(append([]string{}, it.items...), it.items[r.IntN(n)])))
		same := make([]string, n)
		for i := range same {
			same[i] = it.items[0]
		}
		add(kOneToken, it.join(same))
		if i, j := r.IntN(n), r.IntN(n); it.items[i] != it.items[j] {
			dup := append([]string{}, it.items...)
			dup[i] = it.items[j]
			add(kDupInto, it.join(dup))
		}
		// Merging two numbers makes another number ("12 3" → "123");
		// merging anything else may be the same answer in a lenient
		// verifier's eyes ("U R" → "UR", "7 *" → "7*").
		var at []int
		for i := 0; i+1 < n; i++ {
			if endsDigit(it.items[i]) && startsDigit(it.items[i+1]) {
				at = append(at, i)
			}
		}
		if len(at) > 0 {
			i := at[r.IntN(len(at))]
			merged := append(append([]string{}, it.items[:i]...), it.items[i]+it.items[i+1])
			add(kMerged, it.join(append(merged, it.items[i+2:]...)))
		}
	} else if strings.Trim(sol, "0") != "" {
		// "0" written twice is "00": the same number with a leading
		// zero, an equivalent notation a verifier may accept.
		add(kDoubled, sol+sol)
	}
	if n >= 4 {
		var sub []string
		for _, x := range it.items {
			if r.IntN(2) == 0 {
				sub = append(sub, x)
			}
		}
		if len(sub) > 0 && len(sub) < n {
			add(kSubset, it.join(sub))
		}
	}
}

// items is an answer split into its items at its main separator, outside
// brackets: "3, 1, 2" → 3 / 1 / 2; "(0,1) (2,3)" → (0,1) / (2,3); "[a; b]" →
// a / b inside the brackets; a grid by its lines.
type items struct {
	open, close string
	items       []string
	sep         string // as written between the first two items
}

func (it items) join(xs []string) string {
	sep := it.sep
	if sep == "" {
		sep = " "
	}
	return it.open + strings.Join(xs, sep) + it.close
}

var pairs = map[byte]byte{'[': ']', '(': ')', '{': '}'}

func splitItems(s string) items {
	var it items
	body := strings.TrimSpace(s)
	if len(body) >= 2 {
		if c, ok := pairs[body[0]]; ok && body[len(body)-1] == c && balancedInside(body[1:len(body)-1]) {
			it.open, it.close, body = body[:1], body[len(body)-1:], body[1:len(body)-1]
		}
	}
	// The main separator: the first kind present at depth 0, in order of
	// precedence.
	for _, sep := range []string{"\n", ";", ",", " "} {
		parts := splitDepth0(body, sep)
		if len(parts) < 2 {
			continue
		}
		var xs []string
		for _, p := range parts {
			if t := strings.TrimSpace(p); t != "" {
				xs = append(xs, t)
			}
		}
		if len(xs) < 2 {
			continue
		}
		// "2 * 3 * 5", "a -> b -> c": the items are what the repeated
		// operator joins.
		if sep == " " && len(xs) >= 3 && len(xs)%2 == 1 && !alnum(xs[1]) {
			op := true
			for i := 1; i < len(xs); i += 2 {
				op = op && xs[i] == xs[1]
			}
			if op {
				var ys []string
				for i := 0; i < len(xs); i += 2 {
					ys = append(ys, xs[i])
				}
				it.items, it.sep = ys, " "+xs[1]+" "
				return it
			}
		}
		it.items = xs
		// The separator as written: the run of the separator and spaces
		// after the first item.
		rest := strings.TrimLeft(body, " \t")[len(xs[0]):]
		j := 0
		for j < len(rest) && (strings.ContainsRune(" \t", rune(rest[j])) || strings.HasPrefix(rest[j:], sep)) {
			j++
		}
		it.sep = rest[:j]
		if strings.TrimSpace(it.sep) == "" && sep != " " {
			it.sep = sep
		}
		return it
	}
	it.items = []string{strings.TrimSpace(s)}
	it.open, it.close = "", ""
	return it
}

func alnum(s string) bool {
	for _, c := range s {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			return true
		}
	}
	return false
}

func endsDigit(s string) bool   { return s != "" && s[len(s)-1] >= '0' && s[len(s)-1] <= '9' }
func startsDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

// bracket is +1 for an opening bracket, -1 for a closing one.
func bracket(c byte) int {
	switch c {
	case '[', '(', '{':
		return 1
	case ']', ')', '}':
		return -1
	}
	return 0
}

func balancedInside(s string) bool {
	d := 0
	for i := 0; i < len(s) && d >= 0; i++ {
		d += bracket(s[i])
	}
	return d == 0
}

// splitDepth0 splits s at sep where no bracket is open.
func splitDepth0(s, sep string) []string {
	var parts []string
	d, last := 0, 0
	for i := 0; i < len(s); i++ {
		d += bracket(s[i])
		if d == 0 && strings.HasPrefix(s[i:], sep) {
			parts = append(parts, s[last:i])
			last = i + len(sep)
			i += len(sep) - 1
		}
	}
	return append(parts, s[last:])
}

// changeOne alters one character of s: a digit to another digit, a letter
// to another letter, anything else to 'x'.
func changeOne(s string, r *rand.Rand) string {
	rs := []rune(s)
	var idx []int
	for i, c := range rs {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return s + "x"
	}
	i := idx[r.IntN(len(idx))]
	switch c := rs[i]; {
	case c >= '0' && c <= '9':
		rs[i] = '0' + (c-'0'+1+rune(r.IntN(8)))%10
	case c >= 'A' && c <= 'Z':
		rs[i] = 'A' + (c-'A'+1+rune(r.IntN(24)))%26
	case c >= 'a' && c <= 'z':
		rs[i] = 'a' + (c-'a'+1+rune(r.IntN(24)))%26
	default:
		rs[i] = 'x'
	}
	return string(rs)
}

// changeDigit changes one digit of s to another; "" when s has none.
func changeDigit(s string, r *rand.Rand) string {
	var idx []int
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return ""
	}
	i := idx[r.IntN(len(idx))]
	b := []byte(s)
	b[i] = '0' + (b[i]-'0'+1+byte(r.IntN(9)))%10
	return string(b)
}

var numberRe = regexp.MustCompile(`-?\d+(\.\d+)?`)

// flipSign negates the first non-zero number of s (or drops its minus);
// "" when it has none.
func flipSign(s string) string {
	for _, loc := range numberRe.FindAllStringIndex(s, -1) {
		num := s[loc[0]:loc[1]]
		if strings.Trim(num, "-0.") == "" {
			continue // zero: -0 is 0
		}
		if loc[0] > 0 && (unicode.IsLetter(rune(s[loc[0]-1])) || s[loc[0]-1] == '_') {
			continue // part of a name (x1)
		}
		if strings.HasPrefix(num, "-") {
			return s[:loc[0]] + num[1:] + s[loc[1]:]
		}
		return s[:loc[0]] + "-" + num + s[loc[1]:]
	}
	return ""
}

func randomFrom(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return strings.TrimSpace(string(b))
}

// tally is how one probe kind fared.
type tally struct {
	kind     probeKind
	tried    int // instances on which an answer of this kind was scored
	accepted int // … and scored 1
	examples []string
}

func (t *tally) failed() bool {
	switch t.kind.tier {
	case tierNever:
		return t.accepted > 0
	case tierRarely:
		return t.accepted > 1 && float64(t.accepted) > maxRareRate*float64(t.tried)
	}
	return t.tried >= 3 && float64(t.accepted) > maxSometimesRate*float64(t.tried)
}

// probeChecks runs the probes on every instance that passed phase 1 and
// judges each kind on its own.
func (v *run) probeChecks(ok []inst) []Check {
	if len(ok) == 0 {
		return []Check{
			skipped(CheckRejects, "no instance was generated"),
			skipped(CheckHacks, "no instance was generated"),
			skipped(CheckNoRaise, "no instance was generated"),
		}
	}
	noRaise := checker{c: Check{Name: CheckNoRaise}}
	var tasks []env.Task
	var sets [][]probe
	for i, in := range ok {
		ps := probes(in.res.Prompt, in.res.Solution, in.seed*1009+int64(in.difficulty), i)
		answers := make([]string, len(ps))
		for j, p := range ps {
			answers[j] = p.answer
		}
		tasks = append(tasks, env.Task{Env: v.m.Name, Seed: in.seed, Difficulty: in.difficulty, State: in.res.State, Answers: answers})
		sets = append(sets, ps)
	}
	res := v.exec(tasks)
	tallies := map[string]*tally{}
	var order []string
	scored, sent := 0, 0
	for i, r := range res {
		in := ok[i]
		w := where(in.seed, in.difficulty)
		if !ran(r) {
			continue
		}
		if r.Err != nil {
			if r.Err.Kind != env.FailLimit {
				noRaise.fail(r.Err.Line, "%s: %v", w, r.Err)
			}
			continue
		}
		// A kind counts once per instance: accepted when any of its
		// answers there scored 1.
		accepted := map[string]bool{}
		var kinds []string
		for j, p := range sets[i] {
			if j >= len(r.Scores) {
				break
			}
			sent++
			sc := r.Scores[j]
			if sc.Err != nil {
				if sc.Err.Kind != env.FailLimit {
					noRaise.fail(sc.Err.Line, "%s, %s: %v", w, p.kind.name, sc.Err)
				}
				continue
			}
			scored++
			t := tallies[p.kind.name]
			if t == nil {
				t = &tally{kind: p.kind}
				tallies[p.kind.name] = t
				order = append(order, p.kind.name)
			}
			if _, seen := accepted[p.kind.name]; !seen {
				kinds = append(kinds, p.kind.name)
			}
			acc := sc.Value >= 1
			accepted[p.kind.name] = accepted[p.kind.name] || acc
			if acc && len(t.examples) < 2 {
				t.examples = append(t.examples, fmt.Sprintf("%s: %q", w, short(p.answer)))
			}
		}
		for _, name := range kinds {
			tallies[name].tried++
			if accepted[name] {
				tallies[name].accepted++
			}
		}
	}
	rejects, hacks := probeVerdicts(tallies, order, sent, scored)
	return []Check{rejects, hacks, noRaise.done(fmt.Sprintf("%d probe answers scored", scored))}
}

// probeVerdicts are the rejects and hacks checks from the tallies per
// probe kind (order: the kinds as first met), sent probes and scored ones.
func probeVerdicts(tallies map[string]*tally, order []string, sent, scored int) (rejectsCheck, hacksCheck Check) {
	rejects := checker{c: Check{Name: CheckRejects}}
	hacks := checker{c: Check{Name: CheckHacks}}
	sort.SliceStable(order, func(i, j int) bool { return tallies[order[i]].kind.tier > tallies[order[j]].kind.tier })
	var rDetail, hDetail []string
	for _, name := range order {
		t := tallies[name]
		k := &rejects
		if t.kind.hack {
			k = &hacks
		}
		if t.failed() {
			k.fail(0, "%s scored 1 on %d of %d instances (%s)", t.kind.name, t.accepted, t.tried, strings.Join(t.examples, "; "))
		}
		line := fmt.Sprintf("%s %d/%d", t.kind.name, t.tried-t.accepted, t.tried)
		if t.kind.hack {
			hDetail = append(hDetail, line)
		} else {
			rDetail = append(rDetail, line)
		}
	}
	if sent > 0 && scored == 0 {
		rejects.fail(0, "verify raised on all %d probes: none was scored", sent)
		hacks.fail(0, "verify raised on all %d probes: none was scored", sent)
	}
	return rejects.done("rejected/tried per kind: " + strings.Join(rDetail, ", ")),
		hacks.done("rejected/tried per kind: " + strings.Join(hDetail, ", "))
}
