package export

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/parquet-go/parquet-go"

	"resyn/core/env"
)

// The shuffle is a bijection of [0, n) for every n: each position is taken
// exactly once, and the order is mixed (not the identity, nor a rotation).
func TestPermutationIsABijection(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 64, 100, 255, 256, 257, 1000, 4095, 4096, 4097, 65537}
	for n := 1; n < 300; n++ {
		sizes = append(sizes, n)
	}
	for _, n := range sizes {
		for _, seed := range []uint64{0, 1, 1 << 63} {
			p := newPermutation(uint64(n), seed)
			seen := make([]bool, n)
			fixed, rotation := 0, true
			d0 := int(p.at(0))
			for i := 0; i < n; i++ {
				j := p.at(uint64(i))
				if j >= uint64(n) || seen[j] {
					t.Fatalf("n=%d seed=%d: %d -> %d twice or out of range", n, seed, i, j)
				}
				seen[j] = true
				if j == uint64(i) {
					fixed++
				}
				if (int(j)-i+n)%n != d0 {
					rotation = false
				}
			}
			if n >= 16 && (fixed > n/4 || rotation) {
				t.Fatalf("n=%d seed=%d: %d fixed points, a rotation: %v; not mixed", n, seed, fixed, rotation)
			}
		}
	}
	if newPermutation(1000, 1).at(0) == newPermutation(1000, 2).at(0) && newPermutation(1000, 1).at(1) == newPermutation(1000, 2).at(1) {
		t.Fatal("the seed does not change the order")
	}
}

// Difficulty levels keep their exact counts and are spread over the seeds:
// every run of consecutive seeds has nearly the mix of the whole.
func TestPlanSpreadsLevelsOverSeeds(t *testing.T) {
	_, mods := local(t)
	m := mods[0]
	for _, n := range []int{1, 2, 3, 10, 97, 1000, 4096} {
		opts := Options{Envs: []*env.Module{m}, N: n, MinDifficulty: 1, MaxDifficulty: 4, DifficultyWeights: map[int]float64{1: 1, 2: 2, 3: 0, 4: 5}}
		plan, err := opts.Plan()
		if err != nil {
			t.Fatal(err)
		}
		bySeed := make([]int, n)
		for i := range plan.Len() {
			it := plan.Item(i)
			bySeed[it.Seed] = it.Difficulty
		}
		want, _ := apportion(n, []float64{1, 2, 0, 5})
		count := map[int]int{}
		for _, d := range bySeed {
			count[d]++
		}
		for l, c := range want {
			if count[l+1] != c {
				t.Fatalf("n=%d: level %d has %d instances, want %d (%v)", n, l+1, count[l+1], c, count)
			}
		}
		// Any window of consecutive seeds: each level within a few of its share.
		slack := 2 + int(math.Log2(float64(n)+1))
		for _, w := range []int{8, 50, n / 3, n} {
			for lo := 0; w > 0 && lo+w <= n; lo += max(1, w/2) {
				c := map[int]int{}
				for _, d := range bySeed[lo : lo+w] {
					c[d]++
				}
				for l, share := range []float64{1, 2, 0, 5} {
					exp := float64(w) * share / 8
					if math.Abs(float64(c[l+1])-exp) > float64(slack) {
						t.Fatalf("n=%d seeds %d..%d: level %d %d times, want about %.1f", n, lo, lo+w-1, l+1, c[l+1], exp)
					}
				}
			}
		}
	}
}

// A plan's memory does not depend on N: a trillion-row plan is a few
// hundred bytes, and its last rows are as cheap as its first.
func TestPlanMemoryDoesNotGrowWithN(t *testing.T) {
	_, mods := local(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	plan, err := Options{Envs: mods, N: 1 << 40, Seed: 3, MinDifficulty: 1, MaxDifficulty: 10, TestFraction: 0.1,
		EnvWeights: map[string]float64{mods[0].Name: 3}}.Plan()
	if err != nil {
		t.Fatal(err)
	}
	var items []Item
	for _, i := range []int{0, 1, 1<<40 - 1, 1 << 39} {
		items = append(items, plan.Item(i))
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<10 {
		t.Fatalf("a plan of 2^40 rows allocated %d bytes", got)
	}
	for _, it := range items {
		if it.Seed < 3 || it.Seed >= 3+1<<40 || it.Difficulty < 1 || it.Difficulty > 10 {
			t.Fatalf("item %+v", it)
		}
	}
}

// Every instance of the plan is planned once, whatever N: the permutation
// and the per-environment positions fit together.
func TestPlanCoversEveryInstanceOnce(t *testing.T) {
	_, mods := local(t)
	for _, n := range []int{1, 2, 5, 333, 2048} {
		plan, err := Options{Envs: mods, N: n, Seed: -7, MinDifficulty: 1, MaxDifficulty: 10, EnvWeights: map[string]float64{mods[1].Name: 0.5}}.Plan()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		perEnv := map[string][]int64{}
		for i := range plan.Len() {
			it := plan.Item(i)
			key := fmt.Sprint(it.Env.Name, it.Seed)
			if seen[key] || it.Index != i {
				t.Fatalf("n=%d: %s twice, or index %d at %d", n, key, it.Index, i)
			}
			seen[key] = true
			perEnv[it.Env.Name] = append(perEnv[it.Env.Name], it.Seed)
		}
		want, _ := apportion(n, []float64{1, 0.5})
		if len(perEnv[mods[0].Name]) != want[0] || len(perEnv[mods[1].Name]) != want[1] {
			t.Fatalf("n=%d: %d and %d instances, want %v", n, len(perEnv[mods[0].Name]), len(perEnv[mods[1].Name]), want)
		}
		for name, seeds := range perEnv {
			sort.Slice(seeds, func(a, b int) bool { return seeds[a] < seeds[b] })
			for k, s := range seeds {
				if s != -7+int64(k) {
					t.Fatalf("n=%d %s: seeds %v are not -7, -6, …", n, name, seeds)
				}
			}
		}
	}
}

// Parquet row groups are cut by size, so that the writer does not hold the
// whole file; the file reads back whole.
func TestParquetRowGroupsAreCut(t *testing.T) {
	defer func(b int) { parquetRowGroupBytes = b }(parquetRowGroupBytes)
	parquetRowGroupBytes = 4 << 10
	ex, mods := local(t)
	path := filepath.Join(t.TempDir(), "d.parquet")
	sum, err := Export(context.Background(), ex, Options{Envs: mods, N: 3000, MinDifficulty: 1, MaxDifficulty: 10}, FormatVerl, path, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pf := openParquet(t, path)
	if groups := len(pf.RowGroups()); groups < 3 || pf.NumRows() != 3000 || sum.Rows != 3000 {
		t.Fatalf("%d row groups, %d rows (summary %d)", groups, pf.NumRows(), sum.Rows)
	}
	rows, err := parquet.ReadFile[VerlRow](path)
	if err != nil || len(rows) != 3000 {
		t.Fatalf("%d rows read back: %v", len(rows), err)
	}
}

// cancelling executes normally until its n-th call, which cancels the run
// (as SIGINT does) and answers "cancelled".
type cancelling struct {
	env.Executor
	n, calls int
	cancel   context.CancelFunc
}

func (c *cancelling) Run(ctx context.Context, tasks []env.Task) []env.Result {
	c.calls++
	if c.calls < c.n {
		return c.Executor.Run(ctx, tasks)
	}
	c.cancel()
	return c.Executor.Run(ctx, tasks)
}

// An export that is cancelled leaves nothing behind: no dataset file, no
// temporary file, not the directory it made.
func TestCancelledExportLeavesNothing(t *testing.T) {
	ex, mods := local(t)
	for _, f := range []Format{FormatVerl, FormatJSONL} {
		dir := filepath.Join(t.TempDir(), "new", "out")
		ctx, cancel := context.WithCancel(context.Background())
		_, err := Export(ctx, &cancelling{Executor: ex, n: 3, cancel: cancel}, Options{Envs: mods, N: 10 * 1024, MinDifficulty: 1, MaxDifficulty: 10, TestFraction: 0.1},
			f, dir, func(it Item, e *env.Error) { t.Errorf("%+v reported as failed: %v", it, e) }, nil)
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: err %v", f, err)
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			entries, _ := os.ReadDir(dir)
			t.Fatalf("%s: %s is left (%v): %v", f, dir, err, entries)
		}
	}
}
