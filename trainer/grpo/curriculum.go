package grpo

import (
	"math/rand/v2"
	"sort"
)

// Curriculum holds each environment's current difficulty level and the
// pass/fail outcomes of its recent completions. A level rises by one (up to
// the environment's MaxDifficulty) when the pass rate over the last Window
// completions at that level reaches Threshold; the window then starts over.
// It is plain data so that a resumed run continues where it stopped.
type Curriculum struct {
	Threshold float64           `json:"threshold"`
	Window    int               `json:"window"`
	Levels    map[string]int    `json:"levels"`
	Max       map[string]int    `json:"max"`
	Recent    map[string][]bool `json:"recent"` // outcomes at the current level, oldest first
}

// NewCurriculum starts every environment at its MinDifficulty.
func NewCurriculum(envs []EnvSpec, threshold float64, window int) *Curriculum {
	c := &Curriculum{Threshold: threshold, Window: window,
		Levels: map[string]int{}, Max: map[string]int{}, Recent: map[string][]bool{}}
	for _, e := range envs {
		c.Levels[e.Name] = e.MinDifficulty
		c.Max[e.Name] = e.MaxDifficulty
	}
	return c
}

// Level is the difficulty at which env's prompts are drawn now.
func (c *Curriculum) Level(env string) int { return c.Levels[env] }

// Observe records outcomes of env's completions drawn at level (outcomes of
// an older level are ignored) and reports whether the level rose.
func (c *Curriculum) Observe(env string, level int, passed []bool) (raised bool) {
	if level != c.Levels[env] {
		return false
	}
	r := append(c.Recent[env], passed...)
	if len(r) > c.Window {
		r = r[len(r)-c.Window:]
	}
	c.Recent[env] = r
	if len(r) < c.Window || c.Levels[env] >= c.Max[env] {
		return false
	}
	n := 0
	for _, p := range r {
		if p {
			n++
		}
	}
	if float64(n)/float64(len(r)) < c.Threshold {
		return false
	}
	c.Levels[env]++
	c.Recent[env] = nil
	return true
}

// Mix splits n prompts among environments in proportion to their weights:
// each gets the floor of its share, and the remaining prompts go to the
// largest remainders (ties broken by rng). The result is in a shuffled
// order, one environment index per prompt.
func Mix(envs []EnvSpec, n int, rng *rand.Rand) []int {
	var total float64
	for _, e := range envs {
		total += e.Weight
	}
	type share struct {
		i    int
		rem  float64
		tieb float64
	}
	out := make([]int, 0, n)
	shares := make([]share, len(envs))
	for i, e := range envs {
		exact := float64(n) * e.Weight / total
		k := int(exact)
		for range k {
			out = append(out, i)
		}
		shares[i] = share{i, exact - float64(k), rng.Float64()}
	}
	sort.Slice(shares, func(a, b int) bool {
		if shares[a].rem != shares[b].rem {
			return shares[a].rem > shares[b].rem
		}
		return shares[a].tieb < shares[b].tieb
	})
	for j := 0; len(out) < n; j++ {
		out = append(out, shares[j%len(shares)].i)
	}
	rng.Shuffle(len(out), func(a, b int) { out[a], out[b] = out[b], out[a] })
	return out
}
