#!/usr/bin/env python3
"""Check that a checkpoint written by resyn gives the same numbers in transformers.

Usage (on a machine with PyTorch and transformers; no Go needed there):

    python3 scripts/gpu/hf_logits.py CHECKPOINT_DIR [LOGITS_CHECK_JSON] [--device cuda|cpu]

CHECKPOINT_DIR is a Hugging Face Qwen2 checkpoint written by resyn
(`resyn model init`, or a training run's checkpoint); LOGITS_CHECK_JSON
(default CHECKPOINT_DIR/logits_check.json) is what `resyn model check-logits
CHECKPOINT_DIR --out FILE` computed with resyn's own model: for each token
sequence, the log-probability of every next token and the raw logits of a few
vocabulary ids at every position (format "resyn-logits-check/1", see
trainer/hf/logits.go).

The script loads the checkpoint with AutoModelForCausalLM in float32 (eager
attention, no TF32, so that the comparison is of fp32 engines), runs every
sequence, and prints the largest absolute differences of the log-probs and
logits. It exits 0 when both are within the file's atol, 1 when not, and 2 on
a usage or load error.
"""
import argparse
import json
import math
import os
import sys

FORMAT = "resyn-logits-check/1"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("check_file", nargs="?")
    ap.add_argument("--device", default=None, help="cuda or cpu (default: cuda when available)")
    ap.add_argument("--atol", type=float, default=None, help="override the file's atol")
    args = ap.parse_args()

    path = args.check_file or os.path.join(args.checkpoint, "logits_check.json")
    try:
        with open(path) as f:
            check = json.load(f)
    except (OSError, ValueError) as e:
        print(f"hf_logits: cannot read {path}: {e}", file=sys.stderr)
        return 2
    if check.get("format") != FORMAT:
        print(f"hf_logits: {path} has format {check.get('format')!r}, want {FORMAT!r}", file=sys.stderr)
        return 2
    atol = args.atol if args.atol is not None else float(check.get("atol") or 1e-3)

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM
    import transformers

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"  # renamed in 4.56
    try:
        cfg = AutoConfig.from_pretrained(args.checkpoint)
        model = AutoModelForCausalLM.from_pretrained(
            args.checkpoint, attn_implementation="eager", **{dtype_kw: torch.float32}
        )
    except Exception as e:  # noqa: BLE001 - report any load failure plainly
        print(f"hf_logits: transformers cannot load {args.checkpoint}: {e}", file=sys.stderr)
        return 2
    model.to(device).eval()
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    n_params = sum(p.numel() for p in model.parameters())
    print(f"checkpoint  {args.checkpoint} ({cfg.model_type}, {n_params:,} parameters, "
          f"tie_word_embeddings={cfg.tie_word_embeddings})")
    print(f"engine      transformers {transformers.__version__}, torch {torch.__version__}, {gpu}, float32 eager")
    print(f"reference   {path}: {len(check['sequences'])} sequences, atol {atol:g}")

    worst_lp, worst_logit = 0.0, 0.0
    for i, seq in enumerate(check["sequences"]):
        ids = torch.tensor([seq["input_ids"]], device=device)
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].double()  # (T, V)
        logp = torch.log_softmax(logits, dim=-1)
        tgt = ids[0, 1:]
        hf_lp = logp[:-1].gather(1, tgt[:, None])[:, 0].cpu().tolist()
        d_lp = max(abs(a - b) for a, b in zip(hf_lp, seq["target_logprobs"]))
        d_logit = 0.0
        if seq.get("logits"):
            sel = logits[:, seq["logit_ids"]].cpu().tolist()
            for row_hf, row_rs in zip(sel, seq["logits"]):
                for a, b in zip(row_hf, row_rs):
                    d_logit = max(d_logit, abs(a - b))
        mean_lp = sum(hf_lp) / len(hf_lp)
        print(f"sequence {i}: {len(seq['input_ids'])} tokens, mean logprob {mean_lp:.4f}; "
              f"max |d logprob| {d_lp:.3g}, max |d logit| {d_logit:.3g}")
        worst_lp, worst_logit = max(worst_lp, d_lp), max(worst_logit, d_logit)
        if math.isnan(d_lp) or math.isnan(d_logit):
            worst_lp = float("nan")

    ok = worst_lp <= atol and worst_logit <= atol
    print(f"max difference: logprob {worst_lp:.3g}, logit {worst_logit:.3g} (atol {atol:g}): "
          f"{'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
