package validate

import (
	"fmt"
	"math"
	"strings"

	"resyn/core/env"
)

// LevelSpace is what validation learnt about one level's instances: how
// many distinct prompts the seeds it drew gave, and the instance space that
// suggests.
type LevelSpace struct {
	Difficulty int     `json:"difficulty"`
	Seeds      int     `json:"seeds"`    // seeds drawn
	Distinct   int     `json:"distinct"` // distinct prompts among them
	Estimate   float64 `json:"estimate"` // estimated instance space; +Inf (JSON: 0) when every prompt differed
}

// spaceEstimate is the number N of equally likely instances for which n
// draws give k distinct ones in expectation, N(1 − (1 − 1/N)^n) = k (the
// maximum-likelihood estimate for a uniform space; a skewed space gives a
// smaller N, which is the effective size a learner sees). +Inf when k = n.
func spaceEstimate(n, k int) float64 {
	if k >= n {
		return math.Inf(1)
	}
	if k <= 1 {
		return float64(k)
	}
	expect := func(N float64) float64 { return N * (1 - math.Pow(1-1/N, float64(n))) }
	lo, hi := float64(k), float64(k)
	for expect(hi) < float64(k) {
		hi *= 2
	}
	for i := 0; i < 100 && hi-lo > 0.01; i++ {
		mid := (lo + hi) / 2
		if expect(mid) < float64(k) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

func distinctRatio(ok []inst) float64 {
	if len(ok) == 0 {
		return 0
	}
	seen := map[string]bool{}
	for _, in := range ok {
		seen[fmt.Sprint(in.difficulty)+"\x00"+in.res.Prompt] = true
	}
	return float64(len(seen)) / float64(len(ok))
}

// diversity checks, per level, that seeds give different instances (by
// their prompts: a state that differs in what the prompt never shows is the
// same question), estimating each level's instance space from the
// repeats. A level with repeats among the first seeds draws more seeds
// (generate and render only) so that the estimate is close; a level that
// shows none has a space well beyond the seeds drawn.
func (v *run) diversity(ok []inst, levels []int) (Check, []LevelSpace) {
	if len(ok) == 0 {
		return skipped(CheckDiversity, "no instance was generated"), nil
	}
	prompts := map[int]map[string]bool{}
	seeds := map[int]int{}
	for _, in := range ok {
		if prompts[in.difficulty] == nil {
			prompts[in.difficulty] = map[string]bool{}
		}
		prompts[in.difficulty][in.res.Prompt] = true
		seeds[in.difficulty]++
	}
	// More seeds where there were repeats and the verdict is in doubt: the
	// space may be small, but is not plainly degenerate.
	var tasks []env.Task
	extra := min(100, 5*v.o.SeedsPerLevel)
	for _, d := range levels {
		n, k := seeds[d], len(prompts[d])
		if n == 0 || k == n {
			continue
		}
		if est := spaceEstimate(n, k); est >= 2*float64(v.o.MinSpace) || est < minLevelSpace && n >= 10 {
			continue
		}
		for s := v.o.SeedsPerLevel; s < v.o.SeedsPerLevel+extra; s++ {
			tasks = append(tasks, env.Task{Env: v.m.Name, Seed: int64(s), Difficulty: d, Render: true})
		}
	}
	for i, r := range v.exec(tasks) {
		if ran(r) && r.Err == nil {
			d := tasks[i].Difficulty
			prompts[d][r.Prompt] = true
			seeds[d]++
		}
	}
	upper := levels[len(levels)/2] // the upper half: this level and above
	if len(levels) == 1 {
		upper = levels[0]
	}
	c := checker{c: Check{Name: CheckDiversity}}
	var spaces []LevelSpace
	var notes []string
	for _, d := range levels {
		n, k := seeds[d], len(prompts[d])
		if n == 0 {
			continue
		}
		est := spaceEstimate(n, k)
		spaces = append(spaces, LevelSpace{Difficulty: d, Seeds: n, Distinct: k, Estimate: finite(est)})
		size := fmt.Sprintf("%d seeds gave %d distinct prompts: about %.0f instances", n, k, est)
		switch {
		case est < minLevelSpace:
			c.fail(0, "level %d: %s (does generate ignore the seed there?)", d, size)
		case est < float64(v.o.MinSpace) && d >= upper:
			c.fail(0, "level %d: %s, fewer than the %d every level of the upper half of the range must offer", d, size, v.o.MinSpace)
		case est < float64(v.o.MinSpace):
			notes = append(notes, fmt.Sprintf("level %d: about %.0f instances", d, est))
		}
	}
	detail := fmt.Sprintf("%.0f%% of the first %d seeds a level distinct", 100*distinctRatio(ok), v.o.SeedsPerLevel)
	if len(notes) > 0 {
		detail += "; small easy levels: " + strings.Join(notes, ", ")
	}
	return c.done(detail), spaces
}

// finite maps +Inf to 0 for JSON ("no repeat seen").
func finite(x float64) float64 {
	if math.IsInf(x, 0) {
		return 0
	}
	return x
}
