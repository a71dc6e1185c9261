/*
 * cpu_layers.c — the Qwen2 layers as _forward/_backward pairs.
 *
 * Conventions: outputs first, then inputs, then sizes, then the thread
 * count; backward functions accumulate (+=) into the gradients they are
 * given. Reductions that feed a normaliser (RMS, log-sum-exp, entropy) run
 * in double.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_internal.h"

/* ---------------- embedding ---------------- */

// out (N, C) = embed[tokens]
void embedding_forward(float *out, const int32_t *tokens, const float *embed, int N, int C) {
    for (int n = 0; n < N; n++) memcpy(out + (size_t)n * C, embed + (size_t)tokens[n] * C, sizeof(float) * C);
}

// dembed (V, C) += dout (N, C) scattered by tokens
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int N, int C) {
    for (int n = 0; n < N; n++) {
        float *d = dembed + (size_t)tokens[n] * C;
        const float *g = dout + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += g[c];
    }
}

/* ---------------- bias ---------------- */

// d (nc) += the sums over N rows of x (rows of ld) of nc columns, each
// column over the rows in order.
MULTIVERSION
static void colsum_block(float *d, const float *x, int N, int ld, int nc) {
    float s[64] = {0};
    for (int n = 0; n < N; n++)
        for (int c = 0; c < nc; c++) s[c] += x[(size_t)n * ld + c];
    for (int c = 0; c < nc; c++) d[c] += s[c];
}

// dbias (D) += the column sums of dout (N, D), in column blocks.
void bias_backward(float *dbias, const float *dout, int N, int D, int nt) {
    int nb = (D + 63) / 64;
#pragma omp parallel for num_threads(nt) if (N * D > 65536)
    for (int b = 0; b < nb; b++) {
        int c0 = b * 64, nc = D - c0 < 64 ? D - c0 : 64;
        colsum_block(dbias + c0, dout + c0, N, D, nc);
    }
}

/* ---------------- RMSNorm ---------------- */

// out (N, C) = x * rstd * w ; rstd (N) = 1 / sqrt(mean(x^2) + eps)
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps, int nt) {
#pragma omp parallel for num_threads(nt) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)xn[c] * xn[c];
        float r = (float)(1.0 / sqrt(ss / C + eps));
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = w[c] * (xn[c] * r);
        rstd[n] = r;
    }
}

// dw (nc) += sum over the N rows of dout * x * rstd, for nc columns of
// rows of C: the rows in order for every column.
MULTIVERSION
static void rmsnorm_dw_block(float *dw, const float *dout, const float *x, const float *rstd, int N, int C, int nc) {
    float s[64] = {0};
    for (int n = 0; n < N; n++) {
        const float *dy = dout + (size_t)n * C, *xn = x + (size_t)n * C;
        float r = rstd[n];
        for (int c = 0; c < nc; c++) s[c] += dy[c] * xn[c] * r;
    }
    for (int c = 0; c < nc; c++) dw[c] += s[c];
}

// dx (N, C) += ..., dw (C) += ... from dout (N, C)
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C, int nt) {
    // dx = r * (w*dy) - r^3 / C * x * sum(w*dy*x)
#pragma omp parallel for num_threads(nt) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *xn = x + (size_t)n * C, *dy = dout + (size_t)n * C;
        float r = rstd[n];
        double dot = 0;
        for (int c = 0; c < C; c++) dot += (double)w[c] * dy[c] * xn[c];
        float k = (float)(dot * r * r * r / C);
        float *d = dx + (size_t)n * C;
        for (int c = 0; c < C; c++) d[c] += r * w[c] * dy[c] - k * xn[c];
    }
    // dw is a reduction over rows: split the columns instead, each block
    // summing its columns over the rows in order
    int nb = (C + 63) / 64;
#pragma omp parallel for num_threads(nt) if (N * C > 65536)
    for (int cb = 0; cb < nb; cb++) {
        int c0 = cb * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        rmsnorm_dw_block(dw + c0, dout + c0, x + c0, rstd, N, C, c1 - c0);
    }
}

/* ---------------- rotary embeddings ---------------- */

// For each of n_heads heads at column off of row n: for d < hd/2,
//   (x[d], x[d+hd/2]) <- (x[d] cos - x[d+hd/2] sin, x[d+hd/2] cos + x[d] sin)
// with the angle pos[n] * theta^(-2d/hd) (tables cos, sin (max_T, hd/2)).
static void rope_apply(float *x, int stride, int off, int n_heads, int hd, const int32_t *pos,
                       const float *cos_t, const float *sin_t, int N, float sign, int nt) {
    int half = hd / 2;
#pragma omp parallel for num_threads(nt) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *cs = cos_t + (size_t)pos[n] * half, *sn = sin_t + (size_t)pos[n] * half;
        for (int h = 0; h < n_heads; h++) {
            float *v = x + (size_t)n * stride + off + h * hd;
            for (int d = 0; d < half; d++) {
                float a = v[d], b = v[d + half], c = cs[d], s = sign * sn[d];
                v[d] = a * c - b * s;
                v[d + half] = b * c + a * s;
            }
        }
    }
}

void rope_forward(float *x, int stride, int off, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                  const float *sin_t, int N, int nt) {
    rope_apply(x, stride, off, n_heads, hd, pos, cos_t, sin_t, N, 1.0f, nt);
}

// The rotation is orthogonal: its backward is the rotation by -angle.
void rope_backward(float *dx, int stride, int off, int n_heads, int hd, const int32_t *pos, const float *cos_t,
                   const float *sin_t, int N, int nt) {
    rope_apply(dx, stride, off, n_heads, hd, pos, cos_t, sin_t, N, -1.0f, nt);
}

/* ---------------- attention ---------------- */

typedef float v8 __attribute__((vector_size(32)));

static inline float dot(const float *a, const float *b, int n) {
    v8 acc = {0};
    int n8 = n & ~7;
    for (int i = 0; i < n8; i += 8) {
        v8 x, y;
        memcpy(&x, a + i, sizeof x);
        memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (int i = n8; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline void axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

// One query q (H*hd) over keys/values 0..n-1 of its row: out (H*hd), lse (H)
// or NULL; scratch (n).
void attention_query(float *out, float *lse, const float *q, const float *kbase, const float *vbase,
                     int kv_stride, int n, int H, int KVH, int hd, float *scratch) {
    float scale = 1.0f / sqrtf((float)hd);
    int group = H / KVH;
    for (int h = 0; h < H; h++) {
        int kh = h / group;
        const float *qh = q + h * hd;
        float mx = -INFINITY;
        for (int j = 0; j < n; j++) {
            float s = dot(qh, kbase + (size_t)j * kv_stride + kh * hd, hd) * scale;
            scratch[j] = s;
            if (s > mx) mx = s;
        }
        double sum = 0;
        for (int j = 0; j < n; j++) {
            float e = expf(scratch[j] - mx);
            scratch[j] = e;
            sum += e;
        }
        float inv = (float)(1.0 / sum);
        float *oh = out + h * hd;
        memset(oh, 0, sizeof(float) * hd);
        for (int j = 0; j < n; j++) axpy(oh, scratch[j] * inv, vbase + (size_t)j * kv_stride + kh * hd, hd);
        if (lse) lse[h] = mx + (float)log(sum);
    }
}

// qkv (B*T, qdim + 2 kvdim) -> out (B*T, H*hd), lse (B*T, H); causal per
// row, one attention_query per position: the reference for the blocked
// attention_forward (cpu_attention.c), and its fallback.
void attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T, int H, int KVH, int hd, int nt) {
    int qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim;
#pragma omp parallel num_threads(nt) if (B * T > 1)
    {
        float *scratch = malloc(sizeof(float) * T);
#pragma omp for collapse(2) schedule(dynamic, 4)
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                size_t r = (size_t)b * T + t;
                const float *base = qkv + (size_t)b * T * stride;
                attention_query(out + r * qdim, lse + r * H, qkv + r * stride, base + qdim, base + qdim + kvdim,
                                stride, t + 1, H, KVH, hd, scratch);
            }
        }
        free(scratch);
    }
}

// dqkv (B*T, stride) += the gradient of attention_forward from dout (B*T, H*hd),
// one query and one key at a time: the reference for the blocked
// attention_backward (cpu_attention.c), and its fallback. Work is split by
// (row, kv head) so that every dk/dv has one writer.
void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int H, int KVH, int hd, int nt) {
    int qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt) if (B * KVH > 1)
    for (int b = 0; b < B; b++) {
        for (int kh = 0; kh < KVH; kh++) {
            const float *base = qkv + (size_t)b * T * stride;
            float *dbase = dqkv + (size_t)b * T * stride;
            for (int h = kh * group; h < (kh + 1) * group; h++) {
                for (int t = 0; t < T; t++) {
                    size_t r = (size_t)b * T + t;
                    const float *q = qkv + r * stride + h * hd;
                    const float *o = out + r * qdim + h * hd;
                    const float *dof = dout + r * qdim + h * hd;
                    float *dq = dqkv + r * stride + h * hd;
                    float l = lse[r * H + h];
                    float D = dot(dof, o, hd);
                    for (int j = 0; j <= t; j++) {
                        const float *k = base + (size_t)j * stride + qdim + kh * hd;
                        const float *v = base + (size_t)j * stride + qdim + kvdim + kh * hd;
                        float p = expf(dot(q, k, hd) * scale - l);
                        float dp = dot(dof, v, hd);
                        float ds = p * (dp - D) * scale;
                        axpy(dq, ds, k, hd);
                        axpy(dbase + (size_t)j * stride + qdim + kh * hd, ds, q, hd);
                        axpy(dbase + (size_t)j * stride + qdim + kvdim + kh * hd, p, dof, hd);
                    }
                }
            }
        }
    }
}

/* ---------------- SwiGLU ---------------- */

// One row of swiglu_forward: o (I) = silu(g) * u.
MULTIVERSION
static void swiglu_row(float *o, const float *g, const float *u, int I) {
    for (int i = 0; i < I; i++) o[i] = g[i] / (1.0f + rn_expf(-g[i])) * u[i];
}

// One row of swiglu_backward: dg, du (I) += ... from dy (I).
MULTIVERSION
static void swiglu_row_backward(float *dg, float *du, const float *dy, const float *g, const float *u, int I) {
    for (int i = 0; i < I; i++) {
        float s = 1.0f / (1.0f + rn_expf(-g[i]));
        float silu = g[i] * s;
        dg[i] += dy[i] * u[i] * (s + silu * (1.0f - s));
        du[i] += dy[i] * silu;
    }
}

// out (N, I) = silu(g) * u, g = gu[:, :I], u = gu[:, I:]
void swiglu_forward(float *out, const float *gu, int N, int I, int nt) {
#pragma omp parallel for num_threads(nt) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * I;
        swiglu_row(out + (size_t)n * I, g, g + I, I);
    }
}

// dgu (N, 2I) += ...
void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int I, int nt) {
#pragma omp parallel for num_threads(nt) if (N > 16)
    for (int n = 0; n < N; n++) {
        const float *g = gu + (size_t)n * 2 * I;
        float *dg = dgu + (size_t)n * 2 * I;
        swiglu_row_backward(dg, dg + I, dout + (size_t)n * I, g, g + I, I);
    }
}

/* ---------------- output head and target log-softmax ---------------- */

// Turns the logits z (V) of one row into those of the sampling distribution
// (resyn_native.h, rn_batch): z / temperature, and with top_p < 1 every
// token outside rn_generate's nucleus (computed as its sampler does, from
// the untempered logits) but the target set to -inf.
static void head_temper(float *z, int V, float temperature, float top_p, int32_t target) {
    if (top_p > 0 && top_p < 1 && temperature > 0) {
        float mx = -INFINITY;
        for (int v = 0; v < V; v++)
            if (z[v] > mx) mx = z[v];
        double *probs = malloc(sizeof(double) * V);
        rn_cand *cands = malloc(sizeof(rn_cand) * V);
        unsigned char *in = calloc(V, 1);
        if (probs && cands && in) {
            double tsum = 0;
            for (int v = 0; v < V; v++) {
                probs[v] = exp(((double)z[v] - mx) / temperature);
                tsum += probs[v];
            }
            int k = rn_nucleus(probs, tsum, V, top_p, cands);  // the sampler's nucleus (cpu_generate.c, sample_row)
            for (int i = 0; i < k; i++) in[cands[i].id] = 1;
            in[target] = 1;
            for (int v = 0; v < V; v++)
                if (!in[v]) z[v] = -INFINITY;
        }
        free(probs);
        free(cands);
        free(in);
    }
    if (temperature > 0 && temperature != 1) {
        float inv = 1.0f / temperature;
        for (int v = 0; v < V; v++) z[v] *= inv;
    }
}

// sum = sum of e^(z - mx) and wsum = sum of e^(z - mx) z over the logits z
// (V) that are not -inf (outside the nucleus): float exponentials, a block
// at a time (a loop that vectorizes), summed in double in a fixed order
// (8 running sums).
MULTIVERSION
static void head_row_sums(const float *z, int V, float mx, double *sum, double *wsum) {
    double s[8] = {0}, w[8] = {0};
    float e[256], ez[256];
    for (int v0 = 0; v0 < V; v0 += 256) {
        int nb = V - v0 < 256 ? V - v0 : 256;
        for (int l = 0; l < nb; l++) {
            float zi = z[v0 + l], in = zi == -INFINITY ? 0.0f : 1.0f;
            zi = zi == -INFINITY ? mx : zi;
            e[l] = in * rn_expf(zi - mx);
            ez[l] = e[l] * zi;
        }
        for (int l = 0; l < nb; l++) s[l & 7] += e[l], w[l & 7] += ez[l];
    }
    *sum = ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
    *wsum = ((w[0] + w[4]) + (w[2] + w[6])) + ((w[1] + w[5]) + (w[3] + w[7]));
}

// For n rows of x (n, C): logits = x @ W^T (V), in chunks of rows, tempered
// and truncated to the sampling distribution (head_temper).
// logprob = logits[target] - lse; entropy = lse - sum(p * logits).
void head_forward(float *logprob, float *entropy, float *lse, const float *x, const int32_t *targets,
                  const float *W, int n, int C, int V, float temperature, float top_p, float *logits, int chunk,
                  int nt) {
    for (int c0 = 0; c0 < n; c0 += chunk) {
        int r = n - c0 < chunk ? n - c0 : chunk;
        matmul_nt(logits, x + (size_t)c0 * C, W, NULL, r, V, C, 0, nt);
#pragma omp parallel for num_threads(nt) if (r > 1)
        for (int i = 0; i < r; i++) {
            float *z = logits + (size_t)i * V;
            head_temper(z, V, temperature, top_p, targets[c0 + i]);
            float mx = -INFINITY;
            for (int v = 0; v < V; v++)
                if (z[v] > mx) mx = z[v];
            double sum, wsum;
            head_row_sums(z, V, mx, &sum, &wsum);
            double l = mx + log(sum);
            lse[c0 + i] = (float)l;
            logprob[c0 + i] = (float)(z[targets[c0 + i]] - l);
            if (entropy) entropy[c0 + i] = (float)(l - wsum / sum);
        }
    }
}

// z (V) <- -g * softmax: exp(z - lse) scaled by -g, 0 outside the nucleus.
MULTIVERSION
static void head_row_grad(float *z, int V, float g, float lse) {
    for (int v = 0; v < V; v++) {
        float e = -g * rn_expf(z[v] - lse);
        z[v] = z[v] == -INFINITY ? 0.0f : e;
    }
}

// dx (n, C) += ..., dW (V, C) += ... from dlogprob (n); logits holds
// chunk*V floats.
void head_backward(float *dx, float *dW, const float *dlogprob, const float *x, const int32_t *targets,
                   const float *W, const float *lse, int n, int C, int V, float temperature, float top_p,
                   float *logits, int chunk, int nt) {
    float inv = temperature > 0 ? 1.0f / temperature : 1.0f;
    for (int c0 = 0; c0 < n; c0 += chunk) {
        int r = n - c0 < chunk ? n - c0 : chunk;
        matmul_nt(logits, x + (size_t)c0 * C, W, NULL, r, V, C, 0, nt);
        // d logits = dlogprob * (onehot(target) - softmax) / temperature,
        // the softmax over the tempered nucleus (0 outside it)
#pragma omp parallel for num_threads(nt) if (r > 1)
        for (int i = 0; i < r; i++) {
            float *z = logits + (size_t)i * V;
            head_temper(z, V, temperature, top_p, targets[c0 + i]);
            head_row_grad(z, V, dlogprob[c0 + i], lse[c0 + i]);
            z[targets[c0 + i]] += dlogprob[c0 + i];
            if (inv != 1.0f)
                for (int v = 0; v < V; v++) z[v] *= inv;
        }
        matmul_nn_acc(dx + (size_t)c0 * C, logits, W, r, C, V, nt);
        matmul_tn_acc(dW, logits, x + (size_t)c0 * C, V, C, r, nt);
    }
}
