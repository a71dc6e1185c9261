package env

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"strconv"

	"go.starlark.net/starlark"
)

// Rng is the host random source handed to generate(). It is seeded from
// (environment name, seed, difficulty) through SHA-256 and draws from PCG-DXSM,
// whose output sequence is fixed by its definition; the bounded-integer and
// float conversions below are ours (not math/rand's helpers, which a Go release
// may change), so the same seed gives the same instance on every machine and
// every Go version.
type Rng struct {
	src     *rand.PCG
	methods [len(rngMethods)]*starlark.Builtin // bound on first use
}

// NewRng returns the generator for one instance.
func NewRng(envName string, seed int64, difficulty int) *Rng {
	// The bytes of fmt's "resyn-rng-v1\x00%s\x00%d\x00%d", built without fmt.
	b := make([]byte, 0, 64+len(envName))
	b = append(b, "resyn-rng-v1\x00"...)
	b = append(b, envName...)
	b = append(b, 0)
	b = strconv.AppendInt(b, seed, 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(difficulty), 10)
	sum := sha256.Sum256(b)
	return &Rng{src: rand.NewPCG(binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16]))}
}

// Uint64 returns the next raw 64 bits.
func (r *Rng) Uint64() uint64 { return r.src.Uint64() }

// below returns a uniform integer in [0, n) for n > 0 (Lemire's method,
// unbiased).
func (r *Rng) below(n uint64) uint64 {
	hi, lo := bits.Mul64(r.src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.src.Uint64(), n)
		}
	}
	return hi
}

// Float returns a uniform float64 in [0, 1) with 53 random bits.
func (r *Rng) Float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// Intn returns a uniform int in [a, b], inclusive, for any a <= b: the
// width b-a is computed in uint64, where it cannot overflow, and the full
// int64 range (a width of 2^64) takes 64 raw bits.
func (r *Rng) Intn(a, b int64) int64 {
	width := uint64(b) - uint64(a) // b-a in two's complement: exact for a <= b
	if width == ^uint64(0) {
		return int64(r.src.Uint64())
	}
	return int64(uint64(a) + r.below(width+1))
}

// Starlark surface.

var _ starlark.HasAttrs = (*Rng)(nil)

func (r *Rng) String() string        { return "<rng>" }
func (r *Rng) Type() string          { return "rng" }
func (r *Rng) Freeze()               {}
func (r *Rng) Truth() starlark.Bool  { return true }
func (r *Rng) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: rng") }
func (r *Rng) AttrNames() []string {
	return []string{"choice", "randint", "random", "sample", "shuffle", "uniform"}
}

// rngMethods are the attributes of an Rng, in the order of Rng.methods.
var rngMethods = [...]string{"randint", "random", "uniform", "choice", "shuffle", "sample"}

// Attr returns a method bound to r. Generators call rng.randint in loops, so
// each method is made once per Rng rather than on every access.
func (r *Rng) Attr(name string) (starlark.Value, error) {
	for i, m := range rngMethods {
		if m != name {
			continue
		}
		if b := r.methods[i]; b != nil {
			return b, nil
		}
		var fn func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)
		switch name {
		case "randint":
			fn = r.randint
		case "random":
			fn = r.random
		case "uniform":
			fn = r.uniform
		case "choice":
			fn = r.choice
		case "shuffle":
			fn = r.shuffle
		case "sample":
			fn = r.sample
		}
		r.methods[i] = starlark.NewBuiltin("rng."+name, fn)
		return r.methods[i], nil
	}
	return nil, nil
}

// The methods below take the common call shapes (positional arguments of the
// right types) directly, and leave everything else, errors included, to
// starlark.UnpackPositionalArgs, whose reflection cost a few per cent of a
// worker's time in rng.choice alone.

func (r *Rng) randint(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo, hi int64
	if !int64Args(args, kwargs, &lo, &hi) {
		var a, c starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &a, &c); err != nil {
			return nil, err
		}
		ai, ok1 := a.(starlark.Int)
		ci, ok2 := c.(starlark.Int)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("%s: want two ints, got %s and %s", b.Name(), a.Type(), c.Type())
		}
		return nil, fmt.Errorf("%s: bounds %s and %s do not fit in 64 bits (the host draws from [-2^63, 2^63-1]; for more, combine draws: rng.randint(0, 2**62) * 2**62 + …)", b.Name(), ai, ci)
	}
	if hi < lo {
		return nil, fmt.Errorf("%s: empty range [%d, %d]", b.Name(), lo, hi)
	}
	return starlark.MakeInt64(r.Intn(lo, hi)), nil
}

func (r *Rng) random(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0); err != nil {
		return nil, err
	}
	return starlark.Float(r.Float()), nil
}

func (r *Rng) uniform(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var lo, hi starlark.Value
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &lo, &hi); err != nil {
		return nil, err
	}
	a, ok1 := starlark.AsFloat(lo)
	c, ok2 := starlark.AsFloat(hi)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%s: want numbers, got %s and %s", b.Name(), lo.Type(), hi.Type())
	}
	v := a + (c-a)*r.Float()
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil, fmt.Errorf("%s: bounds %v and %v give no finite number", b.Name(), a, c)
	}
	return starlark.Float(v), nil
}

func (r *Rng) choice(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	seq, ok := oneArg[starlark.Indexable](args, kwargs)
	if !ok {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &seq); err != nil {
			return nil, err
		}
	}
	if seq.Len() == 0 {
		return nil, fmt.Errorf("%s: empty sequence", b.Name())
	}
	return seq.Index(int(r.below(uint64(seq.Len())))), nil
}

func (r *Rng) shuffle(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	l, ok := oneArg[*starlark.List](args, kwargs)
	if !ok {
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 1, &l); err != nil {
			return nil, err
		}
	}
	if err := charge(thread, uint64(l.Len()), func() string { return fmt.Sprintf("%s of %d values", b.Name(), l.Len()) }); err != nil {
		return nil, err
	}
	// Fisher–Yates from the end, like Python's random.shuffle.
	for i := l.Len() - 1; i > 0; i-- {
		j := int(r.below(uint64(i + 1)))
		vi, vj := l.Index(i), l.Index(j)
		if err := l.SetIndex(i, vj); err != nil {
			return nil, err
		}
		if err := l.SetIndex(j, vi); err != nil {
			return nil, err
		}
	}
	return starlark.None, nil
}

func (r *Rng) sample(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) == 2 && len(kwargs) == 0 {
		if seq, ok := args[0].(starlark.Indexable); ok && seq.Type() != "string" {
			if k, err := starlark.AsInt32(args[1]); err == nil && k >= 0 && k <= seq.Len() {
				if err := charge(thread, 1+uint64(k), func() string { return fmt.Sprintf("%s of %d values", b.Name(), k) }); err != nil {
					return nil, err
				}
				return r.sampleIndexable(seq, k), nil
			}
		}
	}
	var seq starlark.Iterable
	var k int
	if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 2, &seq, &k); err != nil {
		return nil, err
	}
	// The general path copies the whole population first.
	if err := charge(thread, 1+lenOf(seq)+uint64(max(k, 0)), func() string {
		return fmt.Sprintf("%s of %d values from %d", b.Name(), k, lenOf(seq))
	}); err != nil {
		return nil, err
	}
	var pool []starlark.Value
	it := seq.Iterate()
	defer it.Done()
	var x starlark.Value
	for it.Next(&x) {
		pool = append(pool, x)
	}
	if k < 0 || k > len(pool) {
		return nil, fmt.Errorf("%s: sample larger than population or negative (k=%d, population %d)", b.Name(), k, len(pool))
	}
	out := make([]starlark.Value, k)
	for i := 0; i < k; i++ {
		j := i + int(r.below(uint64(len(pool)-i)))
		pool[i], pool[j] = pool[j], pool[i]
		out[i] = pool[i]
	}
	return starlark.NewList(out), nil
}

// int64Args sets *lo and *hi from exactly two positional ints that fit in
// an int64, and reports whether it could.
func int64Args(args starlark.Tuple, kwargs []starlark.Tuple, lo, hi *int64) bool {
	if len(args) != 2 || len(kwargs) != 0 {
		return false
	}
	a, ok1 := args[0].(starlark.Int)
	b, ok2 := args[1].(starlark.Int)
	if !ok1 || !ok2 {
		return false
	}
	var ok3, ok4 bool
	*lo, ok3 = a.Int64()
	*hi, ok4 = b.Int64()
	return ok3 && ok4
}

// oneArg returns the single positional argument when it has type T.
func oneArg[T starlark.Value](args starlark.Tuple, kwargs []starlark.Tuple) (T, bool) {
	var zero T
	if len(args) != 1 || len(kwargs) != 0 {
		return zero, false
	}
	v, ok := args[0].(T)
	return v, ok
}

// sampleIndexable is sample for a list, tuple or range, with the same draws
// and the same result as the general path, which copies the whole population
// first: it shuffles positions instead, and only the k it needs
// (rng.sample(range(n), 3) is common in generators).
func (r *Rng) sampleIndexable(seq starlark.Indexable, k int) starlark.Value {
	n := seq.Len()
	out := make([]starlark.Value, k)
	var pos positions
	if k > len(pos.small)/2 {
		pos.big = make(map[int]int, 2*k)
	}
	for i := 0; i < k; i++ {
		j := i + int(r.below(uint64(n-i)))
		pi, pj := pos.at(i), pos.at(j)
		pos.set(i, pj)
		pos.set(j, pi)
		out[i] = seq.Index(pj)
	}
	return starlark.NewList(out)
}

// positions records the slots a partial shuffle has swapped: at(i) is the
// position now at slot i. Small samples (the usual rng.sample(range(n), 3))
// keep them in an array on the stack, larger ones in a map.
type positions struct {
	small [16]struct{ slot, pos int }
	n     int
	big   map[int]int
}

func (p *positions) at(i int) int {
	if p.big != nil {
		if v, ok := p.big[i]; ok {
			return v
		}
		return i
	}
	for _, s := range p.small[:p.n] {
		if s.slot == i {
			return s.pos
		}
	}
	return i
}

func (p *positions) set(i, v int) {
	if p.big != nil {
		p.big[i] = v
		return
	}
	for j := range p.small[:p.n] {
		if p.small[j].slot == i {
			p.small[j].pos = v
			return
		}
	}
	p.small[p.n] = struct{ slot, pos int }{i, v}
	p.n++
}
