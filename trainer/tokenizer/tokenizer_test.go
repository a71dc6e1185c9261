package tokenizer

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

var (
	tinyOnce sync.Once
	tinyTok  *Tokenizer
	tinyErr  error
)

// tiny loads testdata/tiny-tokenizer.json: Qwen's byte alphabet, its first
// 2,000 merges and its added tokens (see testdata/make_tiny.py).
func tiny(t testing.TB) *Tokenizer {
	tinyOnce.Do(func() { tinyTok, tinyErr = Load("testdata/tiny-tokenizer.json") })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyTok
}

// TestTinyMatchesReference: ids produced by the JavaScript port of Hugging
// Face tokenizers (testdata/reference.js) on the same tokenizer.json.
func TestTinyMatchesReference(t *testing.T) {
	tk := tiny(t)
	cases := []struct {
		text string
		ids  []int
	}{
		{"Hello, world!", []int{39, 301, 385, 11, 1879, 0}},
		{"def f(x):\n    return x**2  # square\n", []int{750, 282, 2075, 982, 262, 470, 856, 334, 17, 220, 671, 274, 446, 546, 198}},
		{"你好，世界", []int{160, 121, 254, 161, 98, 121, 1540, 234, 160, 116, 244, 163, 243, 234}},
		{"  leading and trailing  ", []int{220, 512, 2228, 323, 489, 604, 287, 256}},
		{"<|im_start|>user\nHi<|im_end|>\n", []int{2257, 872, 198, 39, 72, 2258, 198}},
		{"12345 67.89", []int{16, 17, 18, 19, 20, 220, 21, 22, 13, 23, 24}},
		{"I'll they're WE'VE", []int{40, 6, 654, 807, 6, 265, 467, 36, 6, 53, 36}},
		{"emoji 🎉🚀 ok", []int{336, 78, 73, 72, 220, 172, 253, 236, 231, 172, 253, 248, 222, 297, 74}},
	}
	for _, c := range cases {
		if got := tk.Encode(c.text); !slices.Equal(got, c.ids) {
			t.Errorf("Encode(%q) = %v, want %v", c.text, got, c.ids)
		}
		if got, err := tk.Decode(c.ids); err != nil || got != c.text {
			t.Errorf("Decode(%v) = %q, %v; want %q", c.ids, got, err, c.text)
		}
	}
}

func TestSpecialTokens(t *testing.T) {
	tk := tiny(t)
	if tk.EndOfText != 2256 || tk.IMStart != 2257 || tk.IMEnd != 2258 || tk.VocabSize() != 2282 {
		t.Fatalf("specials %d %d %d, vocab %d", tk.EndOfText, tk.IMStart, tk.IMEnd, tk.VocabSize())
	}
	if !tk.IsSpecial(tk.IMEnd) || tk.IsSpecial(100) {
		t.Error("IsSpecial")
	}
	think, ok := tk.TokenID("<think>")
	if !ok || tk.IsSpecial(think) {
		t.Errorf("<think> = %d, %v (an added, non-special token)", think, ok)
	}
	// Added tokens are split out anywhere, even inside words.
	got := tk.Encode("a<think>b<|im_end|><|im_end|>")
	want := []int{64, think, 65, tk.IMEnd, tk.IMEnd}
	if !slices.Equal(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
	// EncodeOrdinary treats them as text.
	if ids := tk.EncodeOrdinary("<|im_end|>"); slices.Contains(ids, tk.IMEnd) || len(ids) < 3 {
		t.Errorf("EncodeOrdinary produced %v", ids)
	}
	if _, err := tk.Decode([]int{tk.VocabSize()}); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Decode out of range: %v", err)
	}
}

func TestNFC(t *testing.T) {
	tk := tiny(t)
	decomposed := "cafe\u0301" // e + combining acute
	if got, want := tk.Encode(decomposed), tk.Encode("café"); !slices.Equal(got, want) {
		t.Errorf("NFC: %v vs %v", got, want)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tk := tiny(t)
	ids := tk.Encode("a\xffb")
	s, err := tk.Decode(ids)
	if err != nil || s != "a\uFFFDb" {
		t.Errorf("round trip of invalid UTF-8: %q, %v", s, err)
	}
	// A completion cut inside a character decodes with a replacement.
	e := tk.Encode("你")
	if len(e) < 2 {
		t.Fatalf("你 = %v, want several byte tokens", e)
	}
	if s, _ := tk.Decode(e[:1]); s != "\uFFFD" {
		t.Errorf("half a character decodes to %q", s)
	}
}

func TestChat(t *testing.T) {
	tk := tiny(t)
	msgs := []Message{{"system", "Be brief."}, {"user", "What is 2+2?"}}
	text := FormatChat(msgs, true)
	want := "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
	if text != want {
		t.Fatalf("FormatChat = %q", text)
	}
	ids, err := tk.EncodeChat(msgs, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := tk.Encode(text); !slices.Equal(ids, want) {
		t.Errorf("EncodeChat = %v, Encode(FormatChat) = %v", ids, want)
	}
	// Content cannot inject turn boundaries.
	inj, _ := tk.EncodeChat([]Message{{"user", "x<|im_end|>"}}, false)
	if n := strings.Count(fmtIDs(inj, tk.IMEnd), "E"); n != 1 {
		t.Errorf("injected <|im_end|> became a token: %v", inj)
	}
}

func fmtIDs(ids []int, mark int) string {
	var sb strings.Builder
	for _, id := range ids {
		if id == mark {
			sb.WriteByte('E')
		} else {
			sb.WriteByte('.')
		}
	}
	return sb.String()
}

func TestByteLevel(t *testing.T) {
	tk := ByteLevel()
	if tk.VocabSize() != 259 || tk.EndOfText != 256 || tk.IMStart != 257 || tk.IMEnd != 258 {
		t.Fatalf("vocab %d, specials %d %d %d", tk.VocabSize(), tk.EndOfText, tk.IMStart, tk.IMEnd)
	}
	text := "<|im_start|>user\nSolve 3×4.<|im_end|>\n"
	ids := tk.Encode(text)
	want := []int{257}
	for _, b := range []byte("user\nSolve 3×4.") {
		want = append(want, int(b))
	}
	want = append(want, 258, '\n')
	if !slices.Equal(ids, want) {
		t.Errorf("Encode = %v, want %v", ids, want)
	}
	// It saves as a tokenizer.json that loads back identically.
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tk.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Encode(text); !slices.Equal(got, ids) {
		t.Errorf("reloaded Encode = %v", got)
	}
}

func TestSaveLoadKeepsMerges(t *testing.T) {
	tk := tiny(t)
	path := filepath.Join(t.TempDir(), "tokenizer.json")
	if err := tk.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range corpus {
		if a, b := tk.Encode(s), back.Encode(s); !slices.Equal(a, b) {
			t.Fatalf("%q: %v after save, %v before", s, b, a)
		}
	}
}

func TestParseRejects(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"model": map[string]any{"type": "BPE", "vocab": map[string]int{"a": 0, "b": 1, "ab": 2}, "merges": []string{"a b"}},
		}
	}
	cases := map[string]func(m map[string]any){
		"only BPE":              func(m map[string]any) { m["model"].(map[string]any)["type"] = "WordPiece" },
		"not in the vocabulary": func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"a c"} },
		"separated by a space":  func(m map[string]any) { m["model"].(map[string]any)["merges"] = []string{"ab"} },
		"only NFC":              func(m map[string]any) { m["normalizer"] = map[string]any{"type": "NFKC"} },
		`pre-tokenizer "Whitespace"`: func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Whitespace"}
		},
		"is used by": func(m map[string]any) { m["model"].(map[string]any)["vocab"] = map[string]int{"a": 0, "b": 0, "ab": 2} },
		"outside":    func(m map[string]any) { m["model"].(map[string]any)["vocab"] = map[string]int{"a": 1 << 30} },
		"byte_fallback": func(m map[string]any) {
			m["model"].(map[string]any)["byte_fallback"] = true
		},
		"reuses id": func(m map[string]any) {
			m["added_tokens"] = []map[string]any{{"id": 0, "content": "<x>"}}
		},
	}
	for want, mutate := range cases {
		m := base()
		mutate(m)
		b, _ := json.Marshal(m)
		_, err := Parse(b)
		if err == nil || !strings.Contains(err.Error(), want) ||
			!(errors.Is(err, ErrFormat) || errors.Is(err, ErrUnsupported)) {
			t.Errorf("%s: err = %v", want, err)
		}
	}
	if _, err := Parse([]byte(`{"model":`)); !errors.Is(err, ErrFormat) {
		t.Errorf("truncated: %v", err)
	}
}

func TestGPT2PatternFallback(t *testing.T) {
	m := map[string]any{
		"pre_tokenizer": map[string]any{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
		"model":         map[string]any{"type": "BPE", "vocab": map[string]int{}, "merges": []string{}},
	}
	vocab := m["model"].(map[string]any)["vocab"].(map[string]int)
	for b := range 256 {
		vocab[string(byteToRune[b])] = b
	}
	b, _ := json.Marshal(m)
	tk, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	var pieces []string
	text := "Hello  world's 123!"
	tk.split.split(text, func(s, e int) { pieces = append(pieces, text[s:e]) })
	want := []string{"Hello", " ", " world", "'s", " 123", "!"}
	if !slices.Equal(pieces, want) {
		t.Errorf("GPT-2 split = %q, want %q", pieces, want)
	}
}

// corpus is varied text shared by tests and benchmarks.
var corpus = []string{
	"Hello, world! The quick brown fox jumps over the lazy dog.",
	"def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\nprint(fib(30))\n",
	"func main() {\n\tfmt.Println(\"héllo\")\t// tab\r\n}\r\n",
	"机器学习是人工智能的一个分支。日本語のテキストも少し。한국어 문장도 있습니다.",
	"Emoji: 👩‍👩‍👧‍👦 🎉🎉 🇯🇵 ❤️ and ✓ ✗",
	"Numbers 1234567890 3.14159 1,000,000 ٣٤٥ ⅷ ² ½",
	"    indented\n\n\n   \n  mixed\t \t whitespace   \n",
	"I'm sure they'll say it's what we've done; YOU'D think he'S right. 'quoted'",
	"<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n<think>Solve 2+2</think><|im_end|>\n",
	"Ελληνικά, русский текст, עברית, العربية, हिन्दी, ไทย",
	"$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$ — em dash… ellipsis «quotes» ‘single’",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	"\u00a0non-breaking\u3000ideographic\u2028line sep\u2029para\u000bvt\u000cff",
	"!!!???...,,,;;;::: ---___ +++ *** ### @@@",
	"https://example.com/path?q=1&r=two#frag user@example.org",
	"<answer>42</answer>",
	"",
}

func TestRoundTripCorpus(t *testing.T) {
	for _, tk := range []*Tokenizer{tiny(t), ByteLevel()} {
		for _, s := range corpus {
			got, err := tk.Decode(tk.Encode(s))
			if err != nil || got != norm.NFC.String(s) {
				t.Errorf("round trip %q = %q, %v", s, got, err)
			}
		}
	}
}

func FuzzEncodeDecode(f *testing.F) {
	for _, s := range corpus {
		f.Add(s)
	}
	tk := tiny(f)
	f.Fuzz(func(t *testing.T, s string) {
		ids := tk.Encode(s)
		got, err := tk.Decode(ids)
		if err != nil {
			t.Fatal(err)
		}
		want := norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
		if got != want {
			// NFC of a string with added tokens cut out may differ from NFC
			// of the whole (a combining mark after "<|im_end|>"): compare
			// piecewise in that rare case.
			if !strings.Contains(s, "<") {
				t.Fatalf("Decode(Encode(%q)) = %q, want %q", s, got, want)
			}
		}
		for _, id := range ids {
			if id < 0 || id >= tk.VocabSize() {
				t.Fatalf("id %d out of range", id)
			}
		}
		if !utf8.ValidString(got) {
			t.Fatalf("Decode gave invalid UTF-8 %q", got)
		}
	})
}

func FuzzParse(f *testing.F) {
	b, _ := json.Marshal(ByteLevel())
	f.Add(b)
	f.Add([]byte(`{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":[["a","b"]]},"added_tokens":[{"id":3,"content":"<s>"}]}`))
	f.Add([]byte(`{"model":{"vocab":{"a":0},"merges":["a a"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tk, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		// Whatever parses must encode and decode without panicking.
		ids := tk.Encode("héllo <s> wörld 123 \n\n")
		if _, err := tk.Decode(ids); err != nil {
			t.Fatal(err)
		}
	})
}

// TestHeapMatchesScan checks the two merge loops agree on long random
// pieces over a small alphabet (many merges apply, many ties).
func TestHeapMatchesScan(t *testing.T) {
	tk := tiny(t)
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("  aeinrst\nthe")
	for range 300 {
		n := 1 + r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		sym := make([]int32, n)
		for i, c := range b {
			sym[i] = tk.model.byteID[c]
		}
		a := tk.model.mergeScan(slices.Clone(sym))
		h := tk.model.mergeHeap(slices.Clone(sym))
		if !slices.Equal(a, h) {
			t.Fatalf("%q: scan %v heap %v", b, a, h)
		}
	}
}
