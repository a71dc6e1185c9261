package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Tokenizer is a byte-level BPE tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	model    bpe
	tokens   []string       // id -> raw bytes of the token ("" for unused ids)
	special  []bool         // id -> whether it is an added token marked special
	ids      map[string]int // raw bytes -> id for the BPE vocabulary
	added    []AddedToken   // sorted by id
	addedIDs map[string]int
	// addedFirst[b] lists added tokens starting with byte b, longest first.
	addedFirst   [256][]int
	nfc          bool
	split        splitter
	pattern      string // the split pattern ("" for none)
	ignoreMerges bool
	// config is the tokenizer_config.json LoadDir read (nil for none),
	// written back by SaveDir; chatTemplate is its chat_template.
	config       []byte
	chatTemplate string
	chat         *chatTemplate // compiled chatTemplate (nil for none)
	templateFile bool          // chatTemplate came from chat_template.jinja
	eos          int           // eos_token of tokenizer_config.json, -1 for none

	// Well-known ids, -1 when the vocabulary lacks them.
	EndOfText, IMStart, IMEnd int
}

// AddedToken is an entry of tokenizer.json's added_tokens: text matched
// verbatim before normalisation and BPE, mapped to one id.
type AddedToken struct {
	ID         int    `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized bool   `json:"normalized"`
	Special    bool   `json:"special"`
}

// The special tokens of Qwen's chat format.
const (
	EndOfTextToken = "<|endoftext|>"
	IMStartToken   = "<|im_start|>"
	IMEndToken     = "<|im_end|>"
)

type fileJSON struct {
	AddedTokens  []AddedToken    `json:"added_tokens"`
	Normalizer   json.RawMessage `json:"normalizer"`
	PreTokenizer json.RawMessage `json:"pre_tokenizer"`
	Decoder      json.RawMessage `json:"decoder"`
	Model        modelJSON       `json:"model"`
}

type modelJSON struct {
	Type                    string          `json:"type"`
	Vocab                   map[string]int  `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	Dropout                 *float64        `json:"dropout"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
}

type component struct {
	Type           string          `json:"type"`
	Normalizers    []component     `json:"normalizers"`
	Pretokenizers  []component     `json:"pretokenizers"`
	Decoders       []component     `json:"decoders"`
	Pattern        json.RawMessage `json:"pattern"`
	Behavior       string          `json:"behavior"`
	Invert         bool            `json:"invert"`
	AddPrefixSpace bool            `json:"add_prefix_space"`
	UseRegex       *bool           `json:"use_regex"`
}

// Load reads a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// maxVocab bounds ids so that a hostile file cannot make Parse allocate
// without limit.
const maxVocab = 1 << 22

// Parse reads tokenizer.json bytes. It accepts byte-level BPE models with
// an NFC (or no) normalizer, a Split and/or ByteLevel pre-tokenizer and a
// ByteLevel decoder; anything else is ErrUnsupported, naming the component.
func Parse(data []byte) (*Tokenizer, error) {
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	t := &Tokenizer{ids: map[string]int{}, addedIDs: map[string]int{}, eos: -1}
	if err := t.setNormalizer(f.Normalizer); err != nil {
		return nil, err
	}
	if err := t.setPreTokenizer(f.PreTokenizer); err != nil {
		return nil, err
	}
	if err := checkDecoder(f.Decoder); err != nil {
		return nil, err
	}
	m := f.Model
	switch {
	case m.Type != "BPE" && !(m.Type == "" && m.Vocab != nil):
		return nil, fmt.Errorf("%w: model type %q (only BPE)", ErrUnsupported, m.Type)
	case m.Dropout != nil && *m.Dropout != 0:
		return nil, fmt.Errorf("%w: BPE dropout", ErrUnsupported)
	case m.ByteFallback:
		return nil, fmt.Errorf("%w: byte_fallback (a SentencePiece-style BPE, not byte-level)", ErrUnsupported)
	case m.ContinuingSubwordPrefix != nil && *m.ContinuingSubwordPrefix != "":
		return nil, fmt.Errorf("%w: continuing_subword_prefix %q", ErrUnsupported, *m.ContinuingSubwordPrefix)
	case m.EndOfWordSuffix != nil && *m.EndOfWordSuffix != "":
		return nil, fmt.Errorf("%w: end_of_word_suffix %q", ErrUnsupported, *m.EndOfWordSuffix)
	}
	t.ignoreMerges = m.IgnoreMerges
	maxID := -1
	for tok, id := range m.Vocab {
		if id < 0 || id >= maxVocab {
			return nil, fmt.Errorf("%w: vocab entry %q has id %d outside [0, %d)", ErrFormat, tok, id, maxVocab)
		}
		maxID = max(maxID, id)
	}
	for _, a := range f.AddedTokens {
		if a.ID < 0 || a.ID >= maxVocab {
			return nil, fmt.Errorf("%w: added token %q has id %d outside [0, %d)", ErrFormat, a.Content, a.ID, maxVocab)
		}
		maxID = max(maxID, a.ID)
	}
	t.tokens = make([]string, maxID+1)
	t.special = make([]bool, maxID+1)
	used := make([]bool, maxID+1)
	for tok, id := range m.Vocab {
		raw, ok := fromByteLevel(tok)
		if !ok {
			return nil, fmt.Errorf("%w: vocab entry %q is not in the byte-level alphabet", ErrFormat, tok)
		}
		if used[id] {
			return nil, fmt.Errorf("%w: id %d is used by %q and %q", ErrFormat, id, t.tokens[id], raw)
		}
		used[id] = true
		t.tokens[id] = raw
		t.ids[raw] = id
	}
	for i := range t.model.byteID {
		t.model.byteID[i] = -1
		if id, ok := t.ids[string([]byte{byte(i)})]; ok {
			t.model.byteID[i] = int32(id)
		}
	}
	if err := t.setMerges(m.Merges); err != nil {
		return nil, err
	}
	t.model.cache = map[string][]int32{}
	for _, a := range f.AddedTokens {
		if err := t.addToken(a, used); err != nil {
			return nil, err
		}
	}
	t.indexAdded()
	t.EndOfText, t.IMStart, t.IMEnd = t.lookup(EndOfTextToken), t.lookup(IMStartToken), t.lookup(IMEndToken)
	return t, nil
}

func (t *Tokenizer) lookup(s string) int {
	if id, ok := t.TokenID(s); ok {
		return id
	}
	return -1
}

func (t *Tokenizer) addToken(a AddedToken, used []bool) error {
	if a.Content == "" {
		return fmt.Errorf("%w: added token %d has empty content", ErrFormat, a.ID)
	}
	if a.SingleWord {
		return fmt.Errorf("%w: added token %q with single_word", ErrUnsupported, a.Content)
	}
	if prev, ok := t.addedIDs[a.Content]; ok && prev != a.ID {
		return fmt.Errorf("%w: added token %q has ids %d and %d", ErrFormat, a.Content, prev, a.ID)
	}
	if used[a.ID] && t.tokens[a.ID] != a.Content {
		return fmt.Errorf("%w: added token %q reuses id %d of %q", ErrFormat, a.Content, a.ID, t.tokens[a.ID])
	}
	used[a.ID] = true
	t.tokens[a.ID] = a.Content
	t.special[a.ID] = a.Special
	t.addedIDs[a.Content] = a.ID
	t.added = append(t.added, a)
	return nil
}

// indexAdded sorts the added tokens by id and indexes them by first byte,
// longest first, for leftmost-longest matching.
func (t *Tokenizer) indexAdded() {
	slices.SortFunc(t.added, func(x, y AddedToken) int { return x.ID - y.ID })
	for i, x := range t.added {
		t.addedFirst[x.Content[0]] = append(t.addedFirst[x.Content[0]], i)
	}
	for b := range t.addedFirst {
		slices.SortStableFunc(t.addedFirst[b], func(i, j int) int { return len(t.added[j].Content) - len(t.added[i].Content) })
	}
}

func (t *Tokenizer) setMerges(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		t.model.merges = map[uint64]merge{}
		return nil
	}
	// Merges are either "a b" strings (older files) or ["a", "b"] pairs.
	var pairs [][2]string
	var asStrings []string
	if err := json.Unmarshal(raw, &asStrings); err == nil {
		pairs = make([][2]string, len(asStrings))
		for i, s := range asStrings {
			a, b, ok := strings.Cut(s, " ")
			if !ok {
				return fmt.Errorf("%w: merge %d %q is not two tokens separated by a space", ErrFormat, i, s)
			}
			pairs[i] = [2]string{a, b}
		}
	} else if err := json.Unmarshal(raw, &pairs); err != nil {
		return fmt.Errorf("%w: merges are neither strings nor pairs: %v", ErrFormat, err)
	}
	t.model.merges = make(map[uint64]merge, len(pairs))
	for rank, p := range pairs {
		a, okA := fromByteLevel(p[0])
		b, okB := fromByteLevel(p[1])
		ia, inA := t.ids[a]
		ib, inB := t.ids[b]
		im, inM := t.ids[a+b]
		if !okA || !okB || !inA || !inB || !inM {
			return fmt.Errorf("%w: merge %d (%q, %q) names a token that is not in the vocabulary", ErrFormat, rank, p[0], p[1])
		}
		k := pairKey(int32(ia), int32(ib))
		if _, dup := t.model.merges[k]; !dup { // the first (lowest) rank wins
			t.model.merges[k] = merge{rank: int32(rank), id: int32(im)}
		}
	}
	return nil
}

func (t *Tokenizer) setNormalizer(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%w: normalizer: %v", ErrFormat, err)
	}
	list := []component{c}
	if c.Type == "Sequence" {
		list = c.Normalizers
	}
	for _, n := range list {
		if n.Type != "NFC" {
			return fmt.Errorf("%w: normalizer %q (only NFC)", ErrUnsupported, n.Type)
		}
		t.nfc = true
	}
	return nil
}

func (t *Tokenizer) setPreTokenizer(raw json.RawMessage) error {
	t.split = wholeSplitter{}
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%w: pre_tokenizer: %v", ErrFormat, err)
	}
	list := []component{c}
	if c.Type == "Sequence" {
		list = c.Pretokenizers
	}
	splits := 0
	for _, p := range list {
		switch p.Type {
		case "Split":
			var pat struct{ Regex, String *string }
			if err := json.Unmarshal(p.Pattern, &pat); err != nil || pat.Regex == nil {
				return fmt.Errorf("%w: Split pre-tokenizer without a Regex pattern", ErrUnsupported)
			}
			if p.Behavior != "Isolated" || p.Invert {
				return fmt.Errorf("%w: Split behaviour %q invert=%v (only Isolated)", ErrUnsupported, p.Behavior, p.Invert)
			}
			if err := t.setPattern(*pat.Regex); err != nil {
				return err
			}
			splits++
		case "ByteLevel":
			if p.AddPrefixSpace {
				return fmt.Errorf("%w: ByteLevel add_prefix_space", ErrUnsupported)
			}
			if p.UseRegex == nil || *p.UseRegex {
				if err := t.setPattern(GPT2Pattern); err != nil {
					return err
				}
				splits++
			}
		default:
			return fmt.Errorf("%w: pre-tokenizer %q", ErrUnsupported, p.Type)
		}
	}
	if splits > 1 {
		return fmt.Errorf("%w: more than one splitting pre-tokenizer", ErrUnsupported)
	}
	return nil
}

func (t *Tokenizer) setPattern(p string) error {
	t.pattern = p
	if p == Qwen2Pattern {
		t.split = qwen2Splitter{}
		return nil
	}
	rs, err := newRegexSplitter(p)
	if err != nil {
		return err
	}
	t.split = rs
	return nil
}

func checkDecoder(raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var c component
	if err := json.Unmarshal(raw, &c); err != nil {
		return fmt.Errorf("%w: decoder: %v", ErrFormat, err)
	}
	if c.Type != "ByteLevel" {
		return fmt.Errorf("%w: decoder %q (only ByteLevel)", ErrUnsupported, c.Type)
	}
	return nil
}

// VocabSize is one more than the largest id (BPE and added tokens). A
// model's embedding may be larger (Qwen pads 151,665 to 151,936).
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// TokenID returns the id of an added token or of a BPE token given as text.
func (t *Tokenizer) TokenID(s string) (int, bool) {
	if id, ok := t.addedIDs[s]; ok {
		return id, true
	}
	id, ok := t.ids[s]
	return id, ok
}

// Token returns the text of id (its raw bytes for a BPE token, which may be
// part of a UTF-8 sequence).
func (t *Tokenizer) Token(id int) (string, bool) {
	if id < 0 || id >= len(t.tokens) {
		return "", false
	}
	return t.tokens[id], true
}

// IsSpecial reports whether id is an added token marked special.
func (t *Tokenizer) IsSpecial(id int) bool { return id >= 0 && id < len(t.special) && t.special[id] }

// AddedTokens lists the added tokens in id order.
func (t *Tokenizer) AddedTokens() []AddedToken { return slices.Clone(t.added) }

// Encode tokenizes text as Hugging Face's encode(text,
// add_special_tokens=False) does: added tokens (special ones included)
// written in the text become their ids; the rest is BPE. Invalid UTF-8 is
// first replaced by U+FFFD. Text from untrusted sources that must not
// produce control tokens goes through EncodeOrdinary.
func (t *Tokenizer) Encode(text string) []int {
	return t.AppendEncode(nil, text)
}

// AppendEncode appends the ids of text to dst.
func (t *Tokenizer) AppendEncode(dst []int, text string) []int {
	return t.appendEncode(dst, strings.ToValidUTF8(text, "\uFFFD"), nil)
}

// span is a byte range [start, end) of a text.
type span struct{ start, end int }

// appendEncode is AppendEncode of valid UTF-8 text in which no added token
// may overlap a protected span (sorted, disjoint): their text there is
// ordinary text, encoded in one run with what surrounds it.
func (t *Tokenizer) appendEncode(dst []int, text string, protect []span) []int {
	start, p := 0, 0
	for i := 0; i < len(text); i++ {
		cands := t.addedFirst[text[i]]
		if len(cands) == 0 {
			continue
		}
		for p < len(protect) && protect[p].end <= i {
			p++
		}
		for _, k := range cands { // longest first: leftmost-longest
			a := &t.added[k]
			if !strings.HasPrefix(text[i:], a.Content) {
				continue
			}
			end := i + len(a.Content)
			if p < len(protect) && i < protect[p].end && end > protect[p].start {
				continue
			}
			before := i
			if a.LStrip {
				before = len(strings.TrimRight(text[start:i], " \t\n\r\v\f")) + start
			}
			if a.RStrip {
				end += len(text[end:]) - len(strings.TrimLeft(text[end:], " \t\n\r\v\f"))
			}
			dst = t.appendOrdinary(dst, text[start:before])
			dst = append(dst, a.ID)
			start = end
			i = end - 1
			break
		}
	}
	return t.appendOrdinary(dst, text[start:])
}

// EncodeOrdinary tokenizes text with BPE only: added-token text such as
// "<|im_end|>" is encoded as ordinary characters.
func (t *Tokenizer) EncodeOrdinary(text string) []int {
	return t.appendOrdinary(nil, strings.ToValidUTF8(text, "\uFFFD"))
}

func (t *Tokenizer) appendOrdinary(dst []int, text string) []int {
	if text == "" {
		return dst
	}
	if t.nfc && !norm.NFC.IsNormalString(text) {
		text = norm.NFC.String(text)
	}
	t.split.split(text, func(s, e int) {
		piece := text[s:e]
		if t.ignoreMerges {
			if id, ok := t.ids[piece]; ok {
				dst = append(dst, id)
				return
			}
		}
		dst = t.model.encode(piece, dst)
	})
	return dst
}

// Decode turns ids back into text: BPE tokens by their bytes, added tokens
// by their content. Byte sequences that are not valid UTF-8 (a completion
// cut in the middle of a character) become U+FFFD. An id outside the
// vocabulary is an error.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	var buf bytes.Buffer
	for _, id := range ids {
		if id < 0 || id >= len(t.tokens) || (t.tokens[id] == "" && !t.isAddedID(id)) {
			return "", fmt.Errorf("%w: %d (vocabulary size %d)", ErrUnknownID, id, len(t.tokens))
		}
		buf.WriteString(t.tokens[id])
	}
	b := buf.Bytes()
	if utf8.Valid(b) {
		return string(b), nil
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), nil
}

func (t *Tokenizer) isAddedID(id int) bool {
	_, ok := t.addedIDs[t.tokens[id]]
	return ok
}
