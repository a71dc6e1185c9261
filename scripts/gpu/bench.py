"""bench.py — resyn's CUDA backend against PyTorch on one GPU, in one run.

    make cuda
    python3 scripts/gpu/bench.py --lib build/libresyn_cuda.so --out bench.json

A Qwen2.5-0.5B-sized model (vocab 151,936, hidden 896, MLP 4,864, 24 layers,
14 query / 2 key-value heads, tied head) with random weights:

  train   one forward + backward + AdamW step on B x T tokens (log-probs of
          targets, mean NLL, clipping at 1.0) — resyn; PyTorch eager
          (transformers Qwen2, fp32 master weights, bf16 autocast, SDPA,
          fused AdamW); the same step under torch.compile. Tokens/s and MFU
          (model FLOPs: 6 x matmul parameters per token, plus causal
          attention 6 x L x q_dim x T per token, over the GPU's dense bf16
          peak; also over the matmul rate measured in this run).
  decode  greedy decoding of 256 new tokens after 32-token prompts at batch
          1 and 64 — resyn's rn_generate; transformers' generate (bf16).
          Batch-1 is also put against the memory-bandwidth bound: bf16
          weight bytes (+ the KV cache read) per token over the copy
          bandwidth measured in this run.

Prints a table and writes every number to --out (JSON).
"""
import argparse
import gc
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rn  # noqa: E402

Q05 = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, n_layers=24, n_heads=14, n_kv_heads=2)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def spec_peak(name):
    if "H100" in name and "PCIe" in name:
        return 756e12, 2.0e12
    if "H100" in name:
        return 989.4e12, 3.35e12
    if "H200" in name:
        return 989.4e12, 4.8e12
    return None, None


def measure_matmul():
    a = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(8192, 8192, dtype=torch.bfloat16, device="cuda")
    for _ in range(3):
        a @ b
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10):
        a @ b
    e.record()
    torch.cuda.synchronize()
    return 10 * 2 * 8192 ** 3 / (s.elapsed_time(e) / 1e3)


def measure_bw():
    x = torch.empty(2 ** 28, dtype=torch.float32, device="cuda").normal_()
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10):
        y.copy_(x)
    e.record()
    torch.cuda.synchronize()
    return 10 * 2 * x.numel() * 4 / (s.elapsed_time(e) / 1e3)


def dims():
    C, I, L, V = Q05["hidden_size"], Q05["intermediate_size"], Q05["n_layers"], Q05["vocab_size"]
    hd = C // Q05["n_heads"]
    qdim, kvdim = Q05["n_heads"] * hd, Q05["n_kv_heads"] * hd
    P = L * (C * (qdim + 2 * kvdim) + qdim * C + 3 * I * C) + V * C
    return P, L, qdim, kvdim


def train_flops_per_token(T):
    P, L, qdim, _ = dims()
    return 6 * P + 6 * L * qdim * T


def timed(fn, warm, iters):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), ts


def resyn_train(lib, B, T, iters):
    cfg = rn.config(**Q05, max_seq_len=T, tie_word_embeddings=True)
    m = lib.create(cfg)
    m.init(1, 0.02)
    rng = np.random.default_rng(0)
    tok = rng.integers(0, Q05["vocab_size"], (B, T), dtype=np.int32)
    tg = rng.integers(0, Q05["vocab_size"], (B, T), dtype=np.int32)
    dlp = np.full((B, T), -1.0 / (B * T), dtype=np.float32)
    out = {}

    def step():
        m.zero_grad()
        lp, _ = m.forward(tok, tg, entropy=False)
        m.backward(dlp)
        out["norm"] = m.step(lr=1e-5, max_grad_norm=1.0)
        out["nll"] = float(-lp.mean())

    t, ts = timed(step, 2, iters)
    tf, _ = timed(lambda: m.forward(tok, tg, entropy=True), 1, iters)
    m.free()
    return {"step_s": t, "steps_s": ts, "forward_s": tf, "nll": out["nll"], "grad_norm": out["norm"]}


def torch_train(B, T, iters, compile_):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    hc = Qwen2Config(vocab_size=Q05["vocab_size"], hidden_size=Q05["hidden_size"],
                     intermediate_size=Q05["intermediate_size"], num_hidden_layers=Q05["n_layers"],
                     num_attention_heads=Q05["n_heads"], num_key_value_heads=Q05["n_kv_heads"],
                     max_position_embeddings=max(T, 2048), rope_theta=1e6, rms_norm_eps=1e-6,
                     tie_word_embeddings=True)
    hc._attn_implementation = "sdpa"
    model = Qwen2ForCausalLM(hc).cuda().train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    g = torch.Generator(device="cuda").manual_seed(0)
    ids = torch.randint(0, hc.vocab_size, (B, T), device="cuda", generator=g)
    tg = torch.randint(0, hc.vocab_size, (B, T), device="cuda", generator=g)

    def loss_fn(ids, tg):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            h = model.model(input_ids=ids).last_hidden_state
            logits = model.lm_head(h)
        lp = torch.log_softmax(logits.float(), -1).gather(-1, tg[..., None]).squeeze(-1)
        return -lp.mean()

    fn = torch.compile(loss_fn) if compile_ else loss_fn
    out = {}

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fn(ids, tg)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        out["loss"] = loss

    t0 = time.perf_counter()
    step()
    torch.cuda.synchronize()
    first = time.perf_counter() - t0
    t, ts = timed(step, 1, iters)
    r = {"step_s": t, "steps_s": ts, "first_step_s": first, "nll": float(out["loss"]),
         "max_mem_gib": torch.cuda.max_memory_allocated() / 2 ** 30}
    del model, opt, out
    gc.collect()
    torch.cuda.empty_cache()
    return r


def resyn_decode(lib, B, P, new):
    cfg = rn.config(**Q05, max_seq_len=P + new, tie_word_embeddings=True)
    m = lib.create(cfg)
    m.init(1, 0.02)
    rng = np.random.default_rng(1)
    prompts = [rng.integers(0, Q05["vocab_size"], P).tolist() for _ in range(B)]
    m.generate(prompts, 16)
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        toks, lens, _ = m.generate(prompts, new)
        ts.append(time.perf_counter() - t0)
    m.free()
    t = float(np.median(ts))
    return {"s": t, "all_s": ts, "tokens_per_s": B * new / t, "lens_ok": bool((lens == new).all())}


def hf_decode(B, P, new):
    from transformers import Qwen2Config, Qwen2ForCausalLM
    hc = Qwen2Config(vocab_size=Q05["vocab_size"], hidden_size=Q05["hidden_size"],
                     intermediate_size=Q05["intermediate_size"], num_hidden_layers=Q05["n_layers"],
                     num_attention_heads=Q05["n_heads"], num_key_value_heads=Q05["n_kv_heads"],
                     max_position_embeddings=2048, rope_theta=1e6, rms_norm_eps=1e-6, tie_word_embeddings=True)
    model = Qwen2ForCausalLM(hc).to(device="cuda", dtype=torch.bfloat16).eval()
    g = torch.Generator(device="cuda").manual_seed(1)
    ids = torch.randint(0, hc.vocab_size, (B, P), device="cuda", generator=g)
    kw = dict(do_sample=False, pad_token_id=0, eos_token_id=None)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=8, min_new_tokens=8, **kw)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, **kw)
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
    n = out.shape[1] - P
    del model
    gc.collect()
    torch.cuda.empty_cache()
    return {"s": t, "tokens_per_s": B * n / t, "new_tokens": int(n)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", default="build/libresyn_cuda.so")
    ap.add_argument("--out", default="bench.json")
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--T", type=int, default=1024)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--new", type=int, default=256)
    ap.add_argument("--skip", default="", help="comma list of: torch,compile,hf")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    name = torch.cuda.get_device_name(0)
    peak, spec_bw = spec_peak(name)
    R = {"gpu": name, "torch": torch.__version__, "spec_bf16_dense_flops": peak, "spec_hbm_bytes_s": spec_bw}
    log(f"GPU {name}")
    R["measured_matmul_flops"] = measure_matmul()
    R["measured_copy_bytes_s"] = measure_bw()
    log(f"matmul {R['measured_matmul_flops'] / 1e12:.0f} TFLOP/s, copy {R['measured_copy_bytes_s'] / 1e12:.2f} TB/s")
    lib = rn.Lib(args.lib)
    B, T = args.B, args.T
    ntok = B * T
    fpt = train_flops_per_token(T)
    R["train"] = {"B": B, "T": T, "tokens": ntok, "flops_per_token": fpt}

    def train_entry(r):
        r["tokens_per_s"] = ntok / r["step_s"]
        r["tflops"] = fpt * ntok / r["step_s"] / 1e12
        r["mfu_spec"] = fpt * ntok / r["step_s"] / peak if peak else None
        r["mfu_measured_peak"] = fpt * ntok / r["step_s"] / R["measured_matmul_flops"]
        return r

    log("resyn train ...")
    R["train"]["resyn"] = train_entry(resyn_train(lib, B, T, args.iters))
    R["train"]["resyn"]["forward_tokens_per_s"] = ntok / R["train"]["resyn"]["forward_s"]
    for label, comp in (("torch_eager", False), ("torch_compile", True)):
        if label == "torch_eager" and "torch" in skip or label == "torch_compile" and "compile" in skip:
            continue
        log(f"{label} train ...")
        try:
            R["train"][label] = train_entry(torch_train(B, T, args.iters, comp))
        except Exception as e:  # report and go on: the other numbers still count
            R["train"][label] = {"error": repr(e)[:500]}
            gc.collect()
            torch.cuda.empty_cache()
    P, new = 32, args.new
    Ptot, L, qdim, kvdim = dims()
    kv_bytes = L * 2 * kvdim * 2 * (P + new / 2)
    bytes_tok = 2 * Ptot + kv_bytes
    R["decode"] = {"prompt": P, "new_tokens": new, "bytes_per_token_b1": bytes_tok,
                   "bound_tokens_per_s_measured_bw": R["measured_copy_bytes_s"] / bytes_tok,
                   "bound_tokens_per_s_spec_bw": spec_bw / bytes_tok if spec_bw else None}
    for Bd in (1, 64):
        log(f"resyn decode B={Bd} ...")
        R["decode"][f"resyn_b{Bd}"] = resyn_decode(lib, Bd, P, new)
        if "hf" not in skip:
            log(f"transformers generate B={Bd} ...")
            try:
                R["decode"][f"hf_b{Bd}"] = hf_decode(Bd, P, new)
            except Exception as e:
                R["decode"][f"hf_b{Bd}"] = {"error": repr(e)[:500]}
    d = R["decode"]
    d["resyn_b1_fraction_of_bound"] = d["resyn_b1"]["tokens_per_s"] / d["bound_tokens_per_s_measured_bw"]
    with open(args.out, "w") as f:
        json.dump(R, f, indent=1)

    print(f"\n{name}; torch {torch.__version__}; matmul {R['measured_matmul_flops'] / 1e12:.0f} TFLOP/s measured "
          f"(spec dense bf16 {peak / 1e12 if peak else float('nan'):.0f}); copy "
          f"{R['measured_copy_bytes_s'] / 1e12:.2f} TB/s measured")
    print(f"train step, Qwen2.5-0.5B shape, B={B} T={T} ({ntok} tokens), fwd+bwd+AdamW:")
    for k in ("resyn", "torch_eager", "torch_compile"):
        r = R["train"].get(k)
        if not r:
            continue
        if "error" in r:
            print(f"  {k:14s} error: {r['error'][:200]}")
            continue
        mfu = f"{100 * r['mfu_spec']:.1f}%" if r["mfu_spec"] else "n/a"
        print(f"  {k:14s} {r['step_s'] * 1e3:8.1f} ms  {r['tokens_per_s']:10.0f} tok/s  {r['tflops']:6.1f} TFLOP/s  "
              f"MFU {mfu} (of measured matmul {100 * r['mfu_measured_peak']:.1f}%)  nll {r['nll']:.3f}")
    print(f"  resyn forward only (log-probs + entropy): {R['train']['resyn']['forward_tokens_per_s']:.0f} tok/s")
    print(f"decode, greedy, prompt {P}, {new} new tokens:")
    for k in ("resyn_b1", "hf_b1", "resyn_b64", "hf_b64"):
        r = d.get(k)
        if r is None:
            continue
        if "error" in r:
            print(f"  {k:10s} error: {r['error'][:200]}")
            continue
        print(f"  {k:10s} {r['tokens_per_s']:10.1f} tok/s  ({r['s']:.2f} s)")
    print(f"  batch-1 bandwidth bound: {d['bound_tokens_per_s_measured_bw']:.0f} tok/s at the measured copy rate "
          f"({bytes_tok / 1e6:.0f} MB per token); resyn reaches {100 * d['resyn_b1_fraction_of_bound']:.1f}%")


if __name__ == "__main__":
    main()
