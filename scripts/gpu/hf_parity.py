"""hf_parity.py — resyn's CUDA backend against PyTorch/transformers on the GPU.

    make cuda cpu-so
    python3 scripts/gpu/hf_parity.py --lib build/libresyn_cuda.so [--ref build/libresyn_cpu.so]

Builds a random Qwen2 model with transformers (biases and norm weights
randomised too, so that every parameter matters), writes it with
save_pretrained (safetensors), loads those tensors by their Hugging Face
names into the resyn library through rn_tensor_write, and compares the
per-token log-probabilities of a batch against transformers' fp32 model on
the GPU (eager attention), for an untied and a tied head; then greedy
generation against model.generate. With --ref, the C reference is checked
the same way. Prints the differences; exits 1 when the CUDA backend's max
log-prob difference exceeds 0.05 (bf16) or the reference's exceeds 1e-3.
"""
import argparse
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rn  # noqa: E402


def build(tied, seed):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=1536, hidden_size=256, intermediate_size=704, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      rope_theta=10000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied, initializer_range=0.05)
    model = Qwen2ForCausalLM(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.normal_(0, 0.05)
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
    return cfg, model


def load_into(lib, cfg, path, max_seq_len):
    from safetensors.numpy import load_file
    m = lib.create(rn.config_from_hf(cfg, max_seq_len))
    tensors = {}
    for f in sorted(os.listdir(path)):
        if f.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(path, f)))
    missing = [n for n, _ in m.tensors if n not in tensors]
    if missing:
        raise SystemExit(f"checkpoint lacks {missing[:3]}")
    for name, _ in m.tensors:
        m.write(name, tensors[name].astype(np.float32))
    return m, sorted(set(tensors) - set(m.index))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/libresyn_cuda.so")
    ap.add_argument("--ref", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    dev = torch.device("cuda")
    libs = [("cuda", rn.Lib(args.lib), 0.05)]
    if args.ref:
        libs.append(("cpu-reference", rn.Lib(args.ref), 1e-3))
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    results, fail = [], 0
    for tied in (False, True):
        cfg, model = build(tied, seed=7 + tied)
        with tempfile.TemporaryDirectory() as d:
            model.save_pretrained(d, safe_serialization=True)
            hf = type(model).from_pretrained(d, dtype=torch.float32, attn_implementation="eager").to(dev).eval()
            B, T = 3, 200
            g = torch.Generator().manual_seed(11)
            tokens = torch.randint(0, cfg.vocab_size, (B, T + 1), generator=g)
            inp, tgt = tokens[:, :-1], tokens[:, 1:]
            with torch.no_grad():
                logits = hf(inp.to(dev)).logits.double()
                ref = torch.log_softmax(logits, -1).gather(-1, tgt.to(dev)[..., None])[..., 0].cpu().numpy()
                prompts = [tokens[b, : 5 + 7 * b].tolist() for b in range(B)]
                greedy = []
                for p in prompts:
                    out = hf.generate(torch.tensor([p], device=dev), max_new_tokens=24, do_sample=False,
                                      min_new_tokens=24, pad_token_id=0, eos_token_id=None)
                    greedy.append(out[0, len(p):].tolist())
            for label, lib, tol in libs:
                m, extra = load_into(lib, cfg, d, 512)
                lp, _ = m.forward(inp.numpy(), tgt.numpy())
                diff = np.abs(lp.astype(np.float64) - ref)
                toks, lens, _ = m.generate(prompts, 24, temperature=0.0)
                match = []
                for b in range(B):
                    k = 0
                    while k < 24 and toks[b, k] == greedy[b][k]:
                        k += 1
                    match.append(k)
                m.free()
                r = {"backend": label, "tied": tied, "max_abs_logprob_diff": float(diff.max()),
                     "mean_abs_logprob_diff": float(diff.mean()), "tolerance": tol,
                     "greedy_tokens_matching_before_divergence": match, "of": 24,
                     "ignored_checkpoint_tensors": extra}
                ok = r["max_abs_logprob_diff"] <= tol
                fail += not ok
                results.append(r)
                print(f"{label:14s} {'tied' if tied else 'untied'} head: log-prob |diff| max {diff.max():.3g} "
                      f"mean {diff.mean():.3g} (tol {tol}) {'ok' if ok else 'FAIL'}; greedy tokens equal to "
                      f"transformers before divergence: {match} of 24 per row; "
                      f"reference log-prob mean {ref.mean():.3f}")
            del hf
            torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print("PASS" if not fail else f"FAIL: {fail} comparison(s) over tolerance")
    sys.exit(1 if fail else 0)


if __name__ == "__main__":
    main()
