package export

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
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

// Plan is the dataset's instances in output order, computed one at a time
// from their index (Item, Task), so that its memory does not depend on N:
// a few numbers per environment and per difficulty level.
//
// Each environment gets its share of N by weight (largest remainders, so the
// shares add up to N) and its instances seeds Seed, Seed+1, …; its seeds get
// difficulty levels in proportion to the difficulty weights, spread evenly
// over the seeds (a golden-ratio stride, so that any run of consecutive
// seeds has nearly the mix of the whole). The whole list is then permuted by
// a keyed bijection of [0, N) seeded by Seed (a Feistel network with
// cycle-walking), so that a file read in order is already mixed, and the
// same options give the same order on every machine. The split of an
// instance is a hash of (environment, seed) against TestFraction: it does
// not depend on N, so a larger export keeps the test set of a smaller one.
type Plan struct {
	opts   Options
	n      int
	envs   []planEnv // the environments with a share, in option order
	starts []int     // starts[e]: position of envs[e]'s first instance before the permutation
	perm   permutation
}

// planEnv is one environment's share of the plan.
type planEnv struct {
	m      *env.Module
	n      int
	levels []int // difficulty levels with instances, ascending
	ends   []int // ends[l]: instances of levels[0..l] together
	stride uint64
}

// Plan checks the options and returns the dataset's plan.
func (o Options) Plan() (*Plan, error) {
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
	p := &Plan{opts: o, n: o.N, perm: newPermutation(uint64(o.N), uint64(o.Seed))}
	at := 0
	for i, m := range o.Envs {
		if counts[i] == 0 {
			continue
		}
		pe, err := o.share(m, counts[i])
		if err != nil {
			return nil, err
		}
		p.envs = append(p.envs, pe)
		p.starts = append(p.starts, at)
		at += counts[i]
	}
	return p, nil
}

// Len is the number of instances, N.
func (p *Plan) Len() int { return p.n }

// Item is the instance at position i (0 <= i < Len) of the dataset.
func (p *Plan) Item(i int) Item {
	j := int(p.perm.at(uint64(i)))
	e := sort.Search(len(p.starts), func(e int) bool { return p.starts[e] > j }) - 1
	pe := &p.envs[e]
	k := j - p.starts[e]
	seed := p.opts.Seed + int64(k)
	return Item{Index: i, Env: pe.m, Seed: seed, Difficulty: pe.level(k), Split: SplitOf(pe.m.Name, seed, p.opts.TestFraction)}
}

// Task is what generates instance i: generate and render.
func (p *Plan) Task(i int) env.Task {
	it := p.Item(i)
	return env.Task{Env: it.Env.Name, Seed: it.Seed, Difficulty: it.Difficulty, Render: true}
}

// level is the difficulty of the k-th seed: the level whose run of
// instances holds position (k × stride) mod n, a bijection of [0, n) that
// spreads each level evenly over the seeds while keeping its exact count.
func (pe *planEnv) level(k int) int {
	hi, lo := bits.Mul64(uint64(k), pe.stride)
	pos := int(bits.Rem64(hi, lo, uint64(pe.n)))
	return pe.levels[sort.SearchInts(pe.ends, pos+1)]
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

// share is m's part of the plan: n instances over its difficulty levels in
// proportion to the difficulty weights.
func (o Options) share(m *env.Module, n int) (planEnv, error) {
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
		return planEnv{}, fmt.Errorf("%w: %s: difficulty weights over levels %d-%d: %v", ErrOptions, m.Name, lo, hi, err)
	}
	pe := planEnv{m: m, n: n, stride: goldenStride(uint64(n))}
	total := 0
	for i, c := range counts {
		if c > 0 {
			total += c
			pe.levels = append(pe.levels, ds[i])
			pe.ends = append(pe.ends, total)
		}
	}
	return pe, nil
}

// goldenStride is the integer nearest n/φ that is coprime with n, so that
// k ↦ k·stride mod n is a bijection that visits [0, n) in the even,
// low-discrepancy order of the golden-ratio (Weyl) sequence.
func goldenStride(n uint64) uint64 {
	if n <= 2 {
		return 1
	}
	s := uint64(math.Round(float64(n) / math.Phi))
	for gcd(s, n) != 1 {
		s++
	}
	return s
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
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

// permutation is a keyed bijection of [0, n): a balanced Feistel network
// on the smallest even number of bits that covers n, with cycle-walking
// (apply it again until the value falls below n; the domain is less than
// 4n, so that takes under 4 rounds on average). It needs no table, so a plan
// of a billion rows is shuffled in constant memory; splitmix64 as the round
// function keeps it the same on every machine.
type permutation struct {
	n    uint64
	half uint // bits in each half
	keys [feistelRounds]uint64
}

const feistelRounds = 6

func newPermutation(n, seed uint64) permutation {
	p := permutation{n: n, half: 1}
	for p.half < 32 && uint64(1)<<(2*p.half) < n {
		p.half++
	}
	state := seed ^ 0x5265_5379_6e45_7870 // "ReSynExp"
	for r := range p.keys {
		state = splitmix64(state)
		p.keys[r] = state
	}
	return p
}

// at is the position that i moves to.
func (p permutation) at(i uint64) uint64 {
	if p.n <= 1 {
		return i
	}
	mask := uint64(1)<<p.half - 1
	x := i
	for {
		l, r := x>>p.half, x&mask
		for _, k := range p.keys {
			l, r = r, l^(splitmix64(r^k)&mask)
		}
		x = l<<p.half | r
		if x < p.n {
			return x
		}
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
