package tokenizer

import (
	"container/heap"
	"sync"
)

// merge is the result of merging an adjacent pair: its rank (lower merges
// first) and the id of the merged token.
type merge struct {
	rank int32
	id   int32
}

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

// bpe holds the merge table and a cache of encoded pieces.
type bpe struct {
	byteID [256]int32 // id of each single byte's token, -1 when absent
	merges map[uint64]merge

	mu    sync.RWMutex
	cache map[string][]int32
}

const (
	cacheLimit    = 1 << 16 // pieces; the cache is cleared when full
	cachePieceLen = 64      // longer pieces are not cached
	heapFrom      = 48      // pieces of at least this many bytes merge with a heap
)

// encode appends the ids of one pre-tokenized piece (raw bytes).
func (m *bpe) encode(piece string, dst []int) []int {
	if len(piece) <= cachePieceLen {
		m.mu.RLock()
		ids, ok := m.cache[piece]
		m.mu.RUnlock()
		if ok {
			for _, id := range ids {
				dst = append(dst, int(id))
			}
			return dst
		}
	}
	var sym []int32
	var buf [cachePieceLen]int32
	if len(piece) <= len(buf) {
		sym = buf[:0]
	}
	for i := 0; i < len(piece); i++ {
		if id := m.byteID[piece[i]]; id >= 0 {
			sym = append(sym, id)
		} // a byte without a token is dropped, as Hugging Face does without an unk token
	}
	if len(sym) >= heapFrom {
		sym = m.mergeHeap(sym)
	} else {
		sym = m.mergeScan(sym)
	}
	if len(piece) <= cachePieceLen {
		ids := append([]int32(nil), sym...)
		m.mu.Lock()
		if len(m.cache) >= cacheLimit {
			clear(m.cache)
		}
		m.cache[piece] = ids
		m.mu.Unlock()
	}
	for _, id := range sym {
		dst = append(dst, int(id))
	}
	return dst
}

// mergeScan repeatedly merges the lowest-ranked adjacent pair (leftmost on
// ties): quadratic, and the fastest for the short pieces that dominate text.
func (m *bpe) mergeScan(sym []int32) []int32 {
	for len(sym) > 1 {
		best, at := merge{rank: -1}, -1
		for i := 0; i+1 < len(sym); i++ {
			if mg, ok := m.merges[pairKey(sym[i], sym[i+1])]; ok && (at < 0 || mg.rank < best.rank) {
				best, at = mg, i
			}
		}
		if at < 0 {
			break
		}
		sym[at] = best.id
		sym = append(sym[:at+1], sym[at+2:]...)
	}
	return sym
}

// candidate is a possible merge of the symbol at pos with its right
// neighbour, valid while both still hold ids a and b.
type candidate struct {
	rank, pos int32
	a, b, id  int32
}

type candHeap []candidate

func (h candHeap) Len() int { return len(h) }
func (h candHeap) Less(i, j int) bool {
	return h[i].rank < h[j].rank || (h[i].rank == h[j].rank && h[i].pos < h[j].pos)
}
func (h candHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *candHeap) Push(x any)   { *h = append(*h, x.(candidate)) }
func (h *candHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// mergeHeap gives the same result as mergeScan in O(n log n) for long
// pieces: symbols in a linked list, candidate merges in a heap ordered by
// (rank, position), stale candidates skipped when popped. A symbol's id
// only changes by growing, so "both ids unchanged" means "both unchanged".
func (m *bpe) mergeHeap(sym []int32) []int32 {
	n := len(sym)
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range n {
		next[i], prev[i] = int32(i+1), int32(i-1)
	}
	next[n-1] = -1
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	h := candHeap{}
	push := func(i int32) {
		j := next[i]
		if j < 0 {
			return
		}
		if mg, ok := m.merges[pairKey(sym[i], sym[j])]; ok {
			h = append(h, candidate{rank: mg.rank, pos: i, a: sym[i], b: sym[j], id: mg.id})
		}
	}
	for i := range int32(n - 1) {
		push(i)
	}
	heap.Init(&h)
	for h.Len() > 0 {
		c := heap.Pop(&h).(candidate)
		i := c.pos
		if !alive[i] || sym[i] != c.a {
			continue
		}
		j := next[i]
		if j < 0 || sym[j] != c.b {
			continue
		}
		sym[i] = c.id
		alive[j] = false
		next[i] = next[j]
		if next[j] >= 0 {
			prev[next[j]] = i
		}
		for _, k := range []int32{prev[i], i} {
			if k < 0 {
				continue
			}
			if l := next[k]; l >= 0 {
				if mg, ok := m.merges[pairKey(sym[k], sym[l])]; ok {
					heap.Push(&h, candidate{rank: mg.rank, pos: k, a: sym[k], b: sym[l], id: mg.id})
				}
			}
		}
	}
	out := sym[:0]
	for i := int32(0); i >= 0; i = next[i] {
		out = append(out, sym[i])
	}
	return out
}
