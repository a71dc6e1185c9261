"""PyTorch reference for `resyn bench train`.

The model trainer/native runs (Qwen2-like: RMSNorm, rotary embeddings on
q and k, grouped-query causal attention, a SwiGLU MLP, q/k/v biases, tied
embeddings), written in plain fp32 torch, and the same measured work as
trainbench.FwdBwd: a forward over a (B, T) batch, the log-softmax of the
output head gathered at the targets, and the backward of their mean, with
the parameters' gradients zeroed first. One warm-up call, then repeated
calls for --seconds (at least three, unless one alone outlasts --seconds);
the fastest is kept. Prints one JSON
object on stdout, with the BLAS library torch loaded. Standard library and
torch only; it installs nothing. trainbench embeds it and runs it as
`python3 - ARGS` with the script on stdin.
"""
import argparse
import json
import math
import os
import time


def parse_args():
    ap = argparse.ArgumentParser()
    for name in ("vocab", "hidden", "inter", "layers", "heads", "kv-heads", "batch", "seq", "threads"):
        ap.add_argument("--" + name, type=int, required=True)
    ap.add_argument("--seconds", type=float, default=2.0)
    return ap.parse_args()


ARGS = parse_args()
# OpenBLAS (a libblas.so.3 alternative on Debian) takes its thread count
# from the environment when it loads, so set it before torch loads it;
# torch.set_num_threads covers torch's own loops.
os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = str(ARGS.threads)
import torch  # noqa: E402


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate(x, cos, sin):
    # rotate-half pairing: d with d + hd/2, as trainer/native's rope_forward
    h = x.shape[-1] // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class Model(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        C, I, H, KV = a.hidden, a.inter, a.heads, a.kv_heads
        self.H, self.KV, self.hd, self.eps = H, KV, C // H, 1e-6
        hd = self.hd
        p = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        one = lambda n: torch.nn.Parameter(torch.ones(n))
        self.embed = p(a.vocab, C)
        self.layers = torch.nn.ModuleList()
        for _ in range(a.layers):
            m = torch.nn.Module()
            m.ln1, m.ln2 = one(C), one(C)
            m.wqkv = p((H + 2 * KV) * hd, C)  # q_proj, k_proj, v_proj stacked
            m.bqkv = torch.nn.Parameter(torch.zeros((H + 2 * KV) * hd))
            m.wo = p(C, H * hd)
            m.wgu = p(2 * I, C)  # gate_proj, up_proj stacked
            m.wdown = p(C, I)
            self.layers.append(m)
        self.lnf = one(C)
        inv = 1.0 / (1e4 ** (torch.arange(0, hd // 2, dtype=torch.float64) * 2 / hd))
        ang = torch.arange(a.seq, dtype=torch.float64)[:, None] * inv[None, :]
        self.register_buffer("cos", torch.cos(ang).float())
        self.register_buffer("sin", torch.sin(ang).float())
        mask = torch.full((a.seq, a.seq), float("-inf")).triu(1)
        self.register_buffer("mask", mask)

    def attention(self, m, x):
        B, T, _ = x.shape
        H, KV, hd = self.H, self.KV, self.hd
        qkv = torch.nn.functional.linear(x, m.wqkv, m.bqkv)
        q, k, v = qkv.split([H * hd, KV * hd, KV * hd], dim=-1)
        q = q.view(B, T, H, hd).transpose(1, 2)
        k = k.view(B, T, KV, hd).transpose(1, 2)
        v = v.view(B, T, KV, hd).transpose(1, 2)
        cos, sin = self.cos[:T], self.sin[:T]
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        k = k.repeat_interleave(H // KV, dim=1)
        v = v.repeat_interleave(H // KV, dim=1)
        s = q @ k.transpose(-1, -2) / math.sqrt(hd) + self.mask[:T, :T]
        o = torch.softmax(s, dim=-1) @ v
        return torch.nn.functional.linear(o.transpose(1, 2).reshape(B, T, H * hd), m.wo)

    def forward(self, tokens, targets):
        x = self.embed[tokens]
        for m in self.layers:
            x = x + self.attention(m, rms_norm(x, m.ln1, self.eps))
            gu = torch.nn.functional.linear(rms_norm(x, m.ln2, self.eps), m.wgu)
            g, u = gu.chunk(2, dim=-1)
            x = x + torch.nn.functional.linear(torch.nn.functional.silu(g) * u, m.wdown)
        logits = torch.nn.functional.linear(rms_norm(x, self.lnf, self.eps), self.embed)
        lp = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])
        return lp.squeeze(-1)


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = Model(a)
    n = a.batch * a.seq
    idx = torch.arange(n)
    tokens = ((idx * 7919) % a.vocab).view(a.batch, a.seq)  # trainbench.FwdBwd's batch
    targets = ((idx * 104729 + 1) % a.vocab).view(a.batch, a.seq)

    def step():
        model.zero_grad(set_to_none=False)
        lp = model(tokens, targets)
        (-lp.mean()).backward()

    step()
    best, runs, start = 0.0, 0, time.perf_counter()
    # at least three timed runs, as trainbench's repeat; but one where a run
    # alone outlasts --seconds (the reference BLAS takes ~30 s for the 27M model)
    while (runs < 3 and not (runs == 1 and best > a.seconds)) or time.perf_counter() - start < a.seconds:
        t = time.perf_counter()
        step()
        s = time.perf_counter() - t
        best = s if runs == 0 or s < best else best
        runs += 1
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "params": params,
                      "tokens": n, "seconds": best, "runs": runs, "tokens_per_s": n / best, "blas": blas()}))


def blas():
    """The BLAS libraries this process has loaded, resolved: torch's build
    says BLAS_INFO=generic on Debian, and the library behind libblas.so.3
    (the reference BLAS or OpenBLAS) decides its matmul speed."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in os.path.basename(path).lower():
                    libs.add(os.path.realpath(path))
    except OSError:
        return ""
    return " ".join(sorted(libs))


if __name__ == "__main__":
    main()
