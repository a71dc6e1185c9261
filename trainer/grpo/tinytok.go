package grpo

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/dlclark/regexp2"

	"resyn/trainer/tokenizer"
)

// TrainBPE learns byte-level BPE merges on texts, on top of the byte
// vocabulary of tokenizer.ByteLevel (256 bytes and Qwen's three special
// tokens), until the vocabulary has vocabSize tokens or no pair occurs
// twice. Text is split with Qwen2's pre-tokenizer first, so merges never
// cross a word, and digits stay single tokens. The result is an ordinary
// tokenizer.json tokenizer that Hugging Face loads; it is deterministic for
// the same texts. The tiny-cpu preset uses it on prompts of its
// environments: a few hundred merges make prompts three to four times
// shorter than bytes, which is most of a small model's training time.
func TrainBPE(texts []string, vocabSize int) (*tokenizer.Tokenizer, error) {
	base := tokenizer.ByteLevel()
	raw, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	var file map[string]any
	if err := json.Unmarshal(raw, &file); err != nil {
		return nil, err
	}
	model := file["model"].(map[string]any)
	vocab := model["vocab"].(map[string]any)
	// tokens[id] is the byte-level spelling; ids 256-258 are the specials.
	tokens := make([]string, base.VocabSize())
	for s, id := range vocab {
		tokens[int(id.(float64))] = s
	}
	re := regexp2.MustCompile(tokenizer.Qwen2Pattern, regexp2.RE2)
	counts := map[string]int{}
	for _, t := range texts {
		m, err := re.FindStringMatch(t)
		for ; err == nil && m != nil; m, err = re.FindNextMatch(m) {
			counts[m.String()]++
		}
		if err != nil {
			return nil, fmt.Errorf("pre-tokenizing: %w", err)
		}
	}
	type word struct {
		syms []int
		n    int
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	words := make([]word, len(keys))
	for i, k := range keys {
		syms := make([]int, len(k))
		for j := range len(k) {
			syms[j] = int(k[j])
		}
		words[i] = word{syms, counts[k]}
	}
	var merges [][2]string
	for len(tokens) < vocabSize {
		pairs := map[[2]int]int{}
		for _, w := range words {
			for j := 0; j+1 < len(w.syms); j++ {
				pairs[[2]int{w.syms[j], w.syms[j+1]}] += w.n
			}
		}
		best, bestN := [2]int{}, 1
		for p, n := range pairs {
			if n > bestN || (n == bestN && bestN > 1 && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1])) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break
		}
		id := len(tokens)
		tokens = append(tokens, tokens[best[0]]+tokens[best[1]])
		merges = append(merges, [2]string{tokens[best[0]], tokens[best[1]]})
		vocab[tokens[id]] = id
		for i := range words {
			s := words[i].syms
			out := s[:0]
			for j := 0; j < len(s); j++ {
				if j+1 < len(s) && s[j] == best[0] && s[j+1] == best[1] {
					out = append(out, id)
					j++
				} else {
					out = append(out, s[j])
				}
			}
			words[i].syms = out
		}
	}
	model["merges"] = merges
	b, err := json.Marshal(file)
	if err != nil {
		return nil, err
	}
	return tokenizer.Parse(b)
}
