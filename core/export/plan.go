package export

import (
	"fmt"
	"hash/fnv"
	"math"
	"sort"
	"strconv"
	"strings"

	"resyn/core/env"
)

// Split names.
const (
	SplitTrain = "train"
	SplitTest  = "test"
)

// Options say what a dataset holds.
type Options struct {
	Envs []*env.Module
	// N is the total number of instances, shared among Envs by EnvWeights.
	N    int
	Seed int64 // the first seed of every environment
	// MinDifficulty and MaxDifficulty bound the levels, clamped to each
	// environment's own range (an environment the range misses uses its own).
	MinDifficulty, MaxDifficulty int
	// TestFraction in [0, 1) is the share of (environment, seed) pairs that
	// go to the test split.
	TestFraction float64
	// EnvWeights by environment name; an environment not named has weight 1.
	EnvWeights map[string]float64
	// DifficultyWeights by level; a level not named has weight 1.
	DifficultyWeights map[int]float64
}

// Item is one planned instance.
type Item struct {
	Index      int // position in the plan: unique within a dataset
	Env        *env.Module
	Seed       int64
	Difficulty int
	Split      string
}

// Plan lists the dataset's instances in output order. Each environment gets
// its share of N by weight (largest remainders, so the shares add up to N),
// its instances get seeds Seed, Seed+1, … and difficulty levels in
// proportion to the difficulty weights, interleaved; the whole list is then
// shuffled with a generator seeded by Seed, so that a file read in order is
// already mixed. The split of an instance is a hash of (environment, seed)
// against TestFraction: it does not depend on N, so a larger export keeps
// the test set of a smaller one.
func (o Options) Plan() ([]Item, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	ws := make([]float64, len(o.Envs))
	for i, m := range o.Envs {
		ws[i] = 1
		if w, ok := o.EnvWeights[m.Name]; ok {
			ws[i] = w
		}
	}
	counts, err := apportion(o.N, ws)
	if err != nil {
		return nil, fmt.Errorf("%w: environment weights: %v", ErrOptions, err)
	}
	var items []Item
	for i, m := range o.Envs {
		if counts[i] == 0 {
			continue
		}
		levels, err := o.levels(m, counts[i])
		if err != nil {
			return nil, err
		}
		for k, d := range levels {
			seed := o.Seed + int64(k)
			items = append(items, Item{Env: m, Seed: seed, Difficulty: d, Split: SplitOf(m.Name, seed, o.TestFraction)})
		}
	}
	shuffle(items, uint64(o.Seed))
	for i := range items {
		items[i].Index = i
	}
	return items, nil
}

func (o Options) check() error {
	switch {
	case len(o.Envs) == 0:
		return fmt.Errorf("%w: no environments", ErrOptions)
	case o.N <= 0:
		return fmt.Errorf("%w: N is %d; want at least 1 instance", ErrOptions, o.N)
	case !(o.TestFraction >= 0 && o.TestFraction < 1):
		return fmt.Errorf("%w: test fraction %v must be in [0, 1)", ErrOptions, o.TestFraction)
	case o.MinDifficulty > o.MaxDifficulty:
		return fmt.Errorf("%w: difficulty range %d-%d is empty", ErrOptions, o.MinDifficulty, o.MaxDifficulty)
	}
	names := map[string]bool{}
	for _, m := range o.Envs {
		if names[m.Name] {
			return fmt.Errorf("%w: environment %q listed twice", ErrOptions, m.Name)
		}
		names[m.Name] = true
	}
	for name, w := range o.EnvWeights {
		if !names[name] {
			return fmt.Errorf("%w: weight for %q, which is not among the exported environments", ErrOptions, name)
		}
		if !validWeight(w) {
			return fmt.Errorf("%w: weight %v for %q must be a finite number >= 0", ErrOptions, w, name)
		}
	}
	for d, w := range o.DifficultyWeights {
		if !validWeight(w) {
			return fmt.Errorf("%w: weight %v for difficulty %d must be a finite number >= 0", ErrOptions, w, d)
		}
	}
	return nil
}

func validWeight(w float64) bool { return w >= 0 && !math.IsInf(w, 0) && !math.IsNaN(w) }

// levels returns n difficulty levels for m, in proportion to the difficulty
// weights and interleaved (smooth weighted round robin), so that any prefix
// of an environment's seeds has the mix of the whole.
func (o Options) levels(m *env.Module, n int) ([]int, error) {
	lo, hi := max(o.MinDifficulty, m.MinDifficulty), min(o.MaxDifficulty, m.MaxDifficulty)
	if lo > hi {
		lo, hi = m.MinDifficulty, m.MaxDifficulty
	}
	var ds []int
	var ws []float64
	for d := lo; d <= hi; d++ {
		w := 1.0
		if x, ok := o.DifficultyWeights[d]; ok {
			w = x
		}
		ds = append(ds, d)
		ws = append(ws, w)
	}
	counts, err := apportion(n, ws)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: difficulty weights over levels %d-%d: %v", ErrOptions, m.Name, lo, hi, err)
	}
	out := make([]int, 0, n)
	credit := make([]int, len(ds))
	for len(out) < n {
		best := -1
		for i := range ds {
			credit[i] += counts[i]
			if counts[i] > 0 && (best < 0 || credit[i] > credit[best]) {
				best = i
			}
		}
		credit[best] -= n
		out = append(out, ds[best])
	}
	return out, nil
}

// apportion splits n among weights by largest remainders (ties to the
// earlier index), so the counts add up to n exactly.
func apportion(n int, ws []float64) ([]int, error) {
	sum := 0.0
	for _, w := range ws {
		sum += w
	}
	if sum <= 0 {
		return nil, fmt.Errorf("every weight is 0")
	}
	counts := make([]int, len(ws))
	type rem struct {
		i int
		r float64
	}
	rems := make([]rem, len(ws))
	total := 0
	for i, w := range ws {
		exact := float64(n) * w / sum
		counts[i] = int(math.Floor(exact))
		total += counts[i]
		rems[i] = rem{i, exact - float64(counts[i])}
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
	for k := 0; total < n; k++ {
		if ws[rems[k%len(rems)].i] > 0 {
			counts[rems[k%len(rems)].i]++
			total++
		}
	}
	return counts, nil
}

// SplitOf says which split the instances of (env, seed) belong to.
func SplitOf(envName string, seed int64, testFraction float64) string {
	h := fnv.New64a()
	h.Write([]byte(envName))
	x := splitmix64(h.Sum64() ^ uint64(seed))
	if float64(x>>11)/(1<<53) < testFraction {
		return SplitTest
	}
	return SplitTrain
}

// splitmix64 is a fixed, well-mixed 64-bit hash (Steele et al.); written out
// so that plans do not depend on the standard library's generators.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// shuffle is Fisher–Yates driven by splitmix64, the same on every machine.
func shuffle(items []Item, seed uint64) {
	state := seed ^ 0x5265_5379_6e45_7870 // "ReSynExp"
	for i := len(items) - 1; i > 0; i-- {
		state = splitmix64(state)
		j := int(state % uint64(i+1))
		items[i], items[j] = items[j], items[i]
	}
}

// ParseEnvWeights parses "maze=2,knapsack=0.5".
func ParseEnvWeights(s string) (map[string]float64, error) {
	out := map[string]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		name = strings.TrimSpace(name)
		if !ok || name == "" || err != nil || !validWeight(w) {
			return nil, fmt.Errorf("%w: weight %q: want env=w with w a number >= 0, e.g. maze=2,knapsack=1", ErrOptions, part)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%w: weight for %q given twice", ErrOptions, name)
		}
		out[name] = w
	}
	return out, nil
}

// ParseDifficultyWeights parses "1-3=1,8-10=3" or "5=2": weights by level
// or inclusive level range.
func ParseDifficultyWeights(s string) (map[int]float64, error) {
	out := map[int]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, part := range strings.Split(s, ",") {
		rng, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		w, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil || !validWeight(w) {
			return nil, fmt.Errorf("%w: difficulty weight %q: want LEVEL=w or LO-HI=w, e.g. 1-3=1,8-10=3", ErrOptions, part)
		}
		a, b, isRange := strings.Cut(strings.TrimSpace(rng), "-")
		lo, err1 := strconv.Atoi(strings.TrimSpace(a))
		hi, err2 := lo, error(nil)
		if isRange {
			hi, err2 = strconv.Atoi(strings.TrimSpace(b))
		}
		if err1 != nil || err2 != nil || hi < lo || hi-lo > 10000 {
			return nil, fmt.Errorf("%w: difficulty weight %q: want LEVEL=w or LO-HI=w, e.g. 1-3=1,8-10=3", ErrOptions, part)
		}
		for d := lo; d <= hi; d++ {
			if _, dup := out[d]; dup {
				return nil, fmt.Errorf("%w: weight for difficulty %d given twice", ErrOptions, d)
			}
			out[d] = w
		}
	}
	return out, nil
}
