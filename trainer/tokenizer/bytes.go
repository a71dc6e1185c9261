package tokenizer

import (
	"encoding/json"
	"os"
)

// ByteLevel returns a tokenizer for models trained from scratch: the 256
// byte tokens (ids 0–255, in byte order) and Qwen's <|endoftext|>,
// <|im_start|> and <|im_end|> (ids 256–258), with no merges, so every byte
// of text is one token. It uses Qwen2's pre-tokenizer and NFC, so it
// behaves like a Qwen tokenizer whose merges were all removed, and it saves
// (WriteFile) as a tokenizer.json that Load and Hugging Face both read.
func ByteLevel() *Tokenizer {
	f := fileJSON{Model: modelJSON{Type: "BPE", Vocab: map[string]int{}}}
	for b := range 256 {
		f.Model.Vocab[string(byteToRune[b])] = b
	}
	for i, s := range []string{EndOfTextToken, IMStartToken, IMEndToken} {
		f.AddedTokens = append(f.AddedTokens, AddedToken{ID: 256 + i, Content: s, Special: true})
	}
	f.Normalizer = json.RawMessage(`{"type":"NFC"}`)
	f.PreTokenizer = preTokenizerJSON(Qwen2Pattern)
	f.Decoder = json.RawMessage(`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`)
	b, err := json.Marshal(f)
	if err != nil {
		panic(err)
	}
	t, err := Parse(b)
	if err != nil {
		panic(err) // a bug in this function, not an input problem
	}
	return t
}

func preTokenizerJSON(pattern string) json.RawMessage {
	p, _ := json.Marshal(pattern)
	return json.RawMessage(`{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":` + string(p) +
		`},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}]}`)
}

// MarshalJSON writes the tokenizer in Hugging Face's tokenizer.json form:
// vocabulary, merges (as pairs, in rank order), added tokens, NFC, the
// split pattern, and the ByteLevel pre-tokenizer, post-processor and
// decoder.
func (t *Tokenizer) MarshalJSON() ([]byte, error) {
	type out struct {
		Version       string          `json:"version"`
		Truncation    any             `json:"truncation"`
		Padding       any             `json:"padding"`
		AddedTokens   []AddedToken    `json:"added_tokens"`
		Normalizer    json.RawMessage `json:"normalizer"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Decoder       json.RawMessage `json:"decoder"`
		Model         any             `json:"model"`
	}
	vocab := map[string]int{}
	for raw, id := range t.ids {
		vocab[toByteLevel(raw)] = id
	}
	maxRank := int32(-1)
	for _, m := range t.model.merges {
		maxRank = max(maxRank, m.rank)
	}
	merges := make([][2]string, maxRank+1)
	for k, m := range t.model.merges {
		a, b := int(k>>32), int(uint32(k))
		merges[m.rank] = [2]string{toByteLevel(t.tokens[a]), toByteLevel(t.tokens[b])}
	}
	// Ranks of dropped duplicate merges leave holes; close them.
	compact := merges[:0]
	for _, m := range merges {
		if m[0] != "" {
			compact = append(compact, m)
		}
	}
	byteLevel := json.RawMessage(`{"type":"ByteLevel","add_prefix_space":false,"trim_offsets":false,"use_regex":false}`)
	o := out{
		Version: "1.0", AddedTokens: t.AddedTokens(),
		PostProcessor: byteLevel, Decoder: byteLevel,
		Model: map[string]any{
			"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"ignore_merges": t.ignoreMerges, "vocab": vocab, "merges": compact,
		},
	}
	if t.nfc {
		o.Normalizer = json.RawMessage(`{"type":"NFC"}`)
	} else {
		o.Normalizer = json.RawMessage("null")
	}
	if t.pattern != "" {
		o.PreTokenizer = preTokenizerJSON(t.pattern)
	} else {
		o.PreTokenizer = byteLevel
	}
	if o.AddedTokens == nil {
		o.AddedTokens = []AddedToken{}
	}
	return json.Marshal(o)
}

// WriteFile saves the tokenizer as a tokenizer.json at path.
func (t *Tokenizer) WriteFile(path string) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
