package validate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"resyn/core/env"
)

// The planted suite (testdata/suite): good environments of many answer
// shapes, bugs and reward hacks planted in them (variants.txt), and hostile
// programs (hostile.txt). Every good one must pass and every other one must
// fail, with the check that names its flaw among the failing ones.

type suiteCase struct {
	name   string
	kind   string   // good, bug, hack, hostile
	expect []string // check names, any of which failing is the right verdict; nil: pass
	why    string
	src    []byte
}

const suiteDir = "testdata/suite"

func loadSuite(t testing.TB) (cases []suiteCase) {
	t.Helper()
	goods, err := filepath.Glob(filepath.Join(suiteDir, "good_*.star"))
	if err != nil || len(goods) == 0 {
		t.Fatalf("no good environments in %s: %v", suiteDir, err)
	}
	base := map[string]string{}
	for _, f := range goods {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(f), ".star")
		base[name] = string(b)
		cases = append(cases, suiteCase{name: name, kind: "good", src: b, why: header(string(b), "kind")})
	}
	for _, e := range readEntries(t, "variants.txt") {
		src, ok := base[e.fields["base"]]
		if !ok {
			t.Fatalf("%s: no base %q", e.name, e.fields["base"])
		}
		src = strings.Replace(src, fmt.Sprintf("NAME = %q", e.fields["base"]), fmt.Sprintf("NAME = %q", e.name), 1)
		for i := 0; i+1 < len(e.blocks); i += 2 {
			from, to := e.blocks[i], e.blocks[i+1]
			if from.tag != "from" || to.tag != "to" {
				t.Fatalf("%s: blocks must come in from/to pairs", e.name)
			}
			if n := strings.Count(src, from.text); n != 1 {
				t.Fatalf("%s: the from block occurs %d times in %s:\n%s", e.name, n, e.fields["base"], from.text)
			}
			src = strings.Replace(src, from.text, to.text, 1)
		}
		cases = append(cases, suiteCase{name: e.name, kind: e.fields["kind"], expect: splitExpect(e.fields["expect"]), why: e.fields["why"], src: []byte(src)})
	}
	defer func() {
		// RESYN_SUITE=REGEXP keeps the cases whose name matches (to
		// measure a few).
		if f := os.Getenv("RESYN_SUITE"); f != "" {
			re := regexp.MustCompile(f)
			kept := cases[:0]
			for _, c := range cases {
				if re.MatchString(c.name) {
					kept = append(kept, c)
				}
			}
			cases = kept
		}
	}()
	for _, e := range readEntries(t, "hostile.txt") {
		body := map[string]string{
			"generate": "    return {\"n\": rng.randint(0, 1000) + 1000 * difficulty}\n",
			"render":   "    return \"Say %d inside <answer></answer>.\" % state[\"n\"]\n",
			"verify":   "    return answer == str(state[\"n\"])\n",
		}
		for _, b := range e.blocks {
			body[b.tag] = b.text
		}
		src := fmt.Sprintf("NAME = %q\nDESCRIPTION = \"hostile\"\nTAGS = [\"test\"]\n\ndef generate(rng, difficulty):\n%s\ndef render(state):\n%s\ndef verify(state, answer):\n%s\ndef solve(state):\n    return str(state[\"n\"])\n",
			e.name, body["generate"], body["render"], body["verify"])
		cases = append(cases, suiteCase{name: e.name, kind: "hostile", expect: splitExpect(e.fields["expect"]), why: e.fields["why"], src: []byte(src)})
	}
	return cases
}

func header(src, key string) string {
	for _, l := range strings.Split(src, "\n") {
		if v, ok := strings.CutPrefix(l, "# "+key+": "); ok {
			return v
		}
	}
	return ""
}

func splitExpect(s string) []string {
	var out []string
	for _, p := range strings.Split(s, " | ") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

type entry struct {
	name   string
	fields map[string]string
	blocks []block
}

type block struct{ tag, text string }

// readEntries parses a suite file: "=== name", "key: value" lines, and
// "--- tag" blocks running to the next marker (trailing blank lines cut).
func readEntries(t testing.TB, file string) []entry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(suiteDir, file))
	if err != nil {
		t.Fatal(err)
	}
	var out []entry
	var cur *entry
	var blk *block
	flush := func() {
		if blk != nil && cur != nil {
			blk.text = strings.TrimRight(blk.text, "\n")
			if blk.text != "" {
				blk.text += "\n"
			}
			cur.blocks = append(cur.blocks, *blk)
		}
		blk = nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "=== "):
			flush()
			out = append(out, entry{name: strings.TrimPrefix(l, "=== "), fields: map[string]string{}})
			cur = &out[len(out)-1]
		case strings.HasPrefix(l, "--- "):
			flush()
			blk = &block{tag: strings.TrimPrefix(l, "--- ")}
		case blk != nil:
			blk.text += l + "\n"
		case cur != nil && strings.Contains(l, ": ") && !strings.HasPrefix(l, "#"):
			k, v, _ := strings.Cut(l, ": ")
			cur.fields[k] = v
		}
	}
	flush()
	return out
}

// verdict is what a comparison of two runs looks at: pass or fail, and
// which checks failed.
func verdict(r *Report) string {
	var failed []string
	for _, c := range r.Failed() {
		failed = append(failed, c.Name)
	}
	sort.Strings(failed)
	if r.OK {
		return "pass"
	}
	return "fail: " + strings.Join(failed, "; ")
}

type suiteResult struct {
	c       suiteCase
	rep     *Report
	elapsed time.Duration
}

func runSuite(t *testing.T, cases []suiteCase, opts Options) []suiteResult {
	t.Helper()
	p, err := env.NewPool(env.PoolOptions{Workers: runtime.NumCPU()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out []suiteResult
	for _, c := range cases {
		start := time.Now()
		rep := File(context.Background(), p, c.name+".star", c.src, opts)
		out = append(out, suiteResult{c, rep, time.Since(start)})
	}
	return out
}

// judge returns whether the verdict is right, and says why not.
func judge(r suiteResult) (bool, string) {
	if r.c.kind == "good" {
		if r.rep.OK {
			return true, ""
		}
		return false, "false reject: " + verdict(r.rep)
	}
	if r.rep.OK {
		return false, "false accept"
	}
	for _, c := range r.rep.Failed() {
		for _, want := range r.c.expect {
			if c.Name == want {
				return true, ""
			}
		}
	}
	return false, fmt.Sprintf("failed, but not for its flaw (want %q): %s", strings.Join(r.c.expect, " or "), verdict(r.rep))
}

func report(t *testing.T, rs []suiteResult) {
	t.Helper()
	var fa, fr, bad, good, wrongCheck int
	for _, r := range rs {
		ok, why := judge(r)
		if r.c.kind == "good" {
			good++
		} else {
			bad++
		}
		switch {
		case strings.HasPrefix(why, "false accept"):
			fa++
		case strings.HasPrefix(why, "false reject"):
			fr++
		case !ok:
			wrongCheck++
		}
		mark := "ok "
		if !ok {
			mark = "BAD"
			var b strings.Builder
			WriteText(&b, r.rep)
			t.Errorf("%s (%s: %s): %s\n%s", r.c.name, r.c.kind, r.c.why, why, b.String())
		}
		t.Logf("%s %-36s %-8s %8.2fs %12d steps  %s", mark, r.c.name, r.c.kind, r.elapsed.Seconds(), r.rep.Work.Steps, verdict(r.rep))
	}
	t.Logf("false accepts %d of %d planted (%.1f%%); false rejects %d of %d good (%.1f%%); flagged under another check %d",
		fa, bad, 100*float64(fa)/float64(max(bad, 1)), fr, good, 100*float64(fr)/float64(max(good, 1)), wrongCheck)
}

// TestSuite validates the planted suite with the options every command
// uses. The fast suite takes every hostile program and a sample of the
// rest; RESYN_LONG=1 takes all.
func TestSuite(t *testing.T) {
	cases := loadSuite(t)
	if os.Getenv("RESYN_LONG") == "" {
		// The hostile programs stopped by steps (cheap), and every sixth of
		// the rest.
		quick := map[string]bool{"hostile_while_true": true, "hostile_int_million_digits": true, "hostile_regex": true,
			"hostile_sample": true, "hostile_sum_strings": true, "hostile_print_loop": true}
		var sample []suiteCase
		for i, c := range cases {
			if quick[c.name] || c.kind != "hostile" && i%6 == 0 {
				sample = append(sample, c)
			}
		}
		cases = sample
	}
	report(t, runSuite(t, cases, Options{}))
}

// TestSuiteVerdictsUnderLoad validates the whole suite alone and then next
// to a CPU hog on every core: every verdict must be the same (the budgets
// are steps and CPU time, not wall time). Long suite.
func TestSuiteVerdictsUnderLoad(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	cases := loadSuite(t)
	alone := runSuite(t, cases, Options{})
	var stop atomic.Bool
	var wg sync.WaitGroup
	var spins atomic.Uint64
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var n uint64
			for !stop.Load() {
				for i := 0; i < 1<<16; i++ {
					n += uint64(i) ^ n>>3
				}
			}
			spins.Add(n)
		}()
	}
	loaded := runSuite(t, cases, Options{})
	stop.Store(true)
	wg.Wait()
	for i := range cases {
		a, b := verdict(alone[i].rep), verdict(loaded[i].rep)
		if a != b {
			t.Errorf("%s: alone %s; next to a CPU hog on every core %s", cases[i].name, a, b)
		}
		t.Logf("%-36s alone %6.2fs, loaded %6.2fs: %s", cases[i].name, alone[i].elapsed.Seconds(), loaded[i].elapsed.Seconds(), a)
	}
}
