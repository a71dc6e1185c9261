/*
 * cpu_internal.h — the CPU implementation's layers and model struct.
 *
 * Layers come in _forward/_backward pairs on flat fp32 buffers, outputs
 * first, with shapes in comments; backward functions accumulate (+=) into
 * every gradient they are given. N is the number of positions (B*T).
 */
#ifndef RESYN_CPU_INTERNAL_H
#define RESYN_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "resyn_native.h"
#include "model_host.h"

/* A row function compiled for x86-64-v4, v3 and the baseline, the loader
 * picking one for the CPU (as the matmul kernels are): elementwise loops
 * in it vectorize at the CPU's full width. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* e^x within about 2 ulp (Cephes' expf polynomial), x clamped to
 * [-87.5, 88] (e^x from about 1e-38 to 1.7e38). Branch-free, so loops over
 * it vectorize (glibc's expf is a call per element); the same bits on every
 * thread. Attention, SwiGLU and the head's backward use it. */
static inline float rn_expf(float x) {
    x = x < -87.5f ? -87.5f : x;
    x = x > 88.0f ? 88.0f : x;
    const float round = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
    float n = (x * 1.44269504088896341f + round) - round;
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23;  // 2^n
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ---- matmul kernels (cpu_matmul.c) ---- */

/* out (M, N) = [out +] bias (N) + a (M, K) @ b (N, K)^T. Each element is
 * summed in the same order whatever M, N and the tiling: the result for a
 * row does not depend on the other rows in the call. bias may be NULL. */
void matmul_nt(float *out, const float *a, const float *b, const float *bias,
               int M, int N, int K, int accumulate, int nt);
/* out (M, N) += a (M, K) @ b (K, N). */
void matmul_nn_acc(float *out, const float *a, const float *b, int M, int N, int K, int nt);
/* out (M, N) += a (K, M)^T @ b (K, N): the sums of matmul_nn_acc on a^T. */
void matmul_tn_acc(float *out, const float *a, const float *b, int M, int N, int K, int nt);

/* out (M, N) += A (M, K) @ b (K, N) on the calling thread; A's element
 * (i, k) is a[i*sai + k*sak] (a or a transpose), b's (k, j) b[k*ldb + j],
 * out's (i, j) out[i*ldo + j]. Each element is summed over k in order. */
void matmul_acc_strided(float *out, size_t ldo, const float *a, size_t sai, size_t sak, const float *b, size_t ldb,
                        int M, int N, int K);

/* For tests: on (1), the 8-lane kernels run even where AVX-512 is there,
 * so that one machine checks both widths. */
void matmul_force_narrow(int on);

/* ---- layers (cpu_layers.c) ---- */

// out (N, C) = embed[tokens] ; embed (V, C)
void embedding_forward(float *out, const int32_t *tokens, const float *embed, int N, int C);
// dembed (V, C) += scatter dout (N, C)
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int N, int C);

// dbias (D) += the column sums of dout (N, D)
void bias_backward(float *dbias, const float *dout, int N, int D, int nt);

// out (N, C) = x / rms(x) * w ; rstd (N)
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int N, int C, float eps, int nt);
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int N, int C, int nt);

// x (N, stride) with n_heads heads of head_dim at column off, rotated in
// place by position pos[n]; rotate-half pairing (d with d + head_dim/2).
// cos, sin (max_T, head_dim/2).
void rope_forward(float *x, int stride, int off, int n_heads, int head_dim, const int32_t *pos,
                  const float *cos, const float *sin, int N, int nt);
// the inverse rotation of dx in place: the backward of rope_forward.
void rope_backward(float *dx, int stride, int off, int n_heads, int head_dim, const int32_t *pos,
                   const float *cos, const float *sin, int N, int nt);

// Causal self-attention for one query vector q (H*hd) over n keys: out (H*hd),
// lse (H) or NULL. Keys/values of position j at kbase + j*kv_stride (KVH*hd).
void attention_query(float *out, float *lse, const float *q, const float *kbase, const float *vbase,
                     int kv_stride, int n, int H, int KVH, int hd, float *scratch);
// Batched (B, T) forward over qkv (B*T, qdim+2*kvdim): out (B*T, H*hd),
// lse (B*T, H); blocked (cpu_attention.c).
void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KVH, int hd, int nt);
// dqkv (B*T, qdim+2*kvdim) += ...; blocked (cpu_attention.c).
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out,
                        const float *lse, int B, int T, int H, int KVH, int hd, int nt);
// The same two one query (and one key) at a time, with attention_query:
// the reference the blocked ones are checked against, and their fallback
// when their buffers cannot be allocated (cpu_layers.c).
void attention_forward_ref(float *out, float *lse, const float *qkv, int B, int T, int H, int KVH, int hd, int nt);
void attention_backward_ref(float *dqkv, const float *dout, const float *qkv, const float *out,
                            const float *lse, int B, int T, int H, int KVH, int hd, int nt);

// out (N, I) = silu(gu[:, :I]) * gu[:, I:] ; gu (N, 2I)
void swiglu_forward(float *out, const float *gu, int N, int I, int nt);
// dgu (N, 2I) += ...
void swiglu_backward(float *dgu, const float *dout, const float *gu, int N, int I, int nt);

// The output head and target log-softmax for n rows of x (n, C) against
// W (V, C), in chunks of rows so that no more than chunk*V logits exist:
// logprob (n), entropy (n) or NULL, lse (n) kept for backward; of the
// sampling distribution at temperature and top_p (rn_batch).
void head_forward(float *logprob, float *entropy, float *lse, const float *x, const int32_t *targets,
                  const float *W, int n, int C, int V, float temperature, float top_p, float *logits_scratch,
                  int chunk, int nt);
// dx (n, C) += ..., dW (V, C) += ... from dlogprob (n), with the forward's
// temperature and top_p
void head_backward(float *dx, float *dW, const float *dlogprob, const float *x, const int32_t *targets,
                   const float *W, const float *lse, int n, int C, int V, float temperature, float top_p,
                   float *logits_scratch, int chunk, int nt);

/* ---- the model (cpu_model.c) ---- */

typedef struct {
    float *ln1;    // (C)
    float *wqkv;   // (qdim + 2 kvdim, C): q_proj, k_proj, v_proj stacked
    float *bqkv;   // (qdim + 2 kvdim)
    float *wo;     // (C, qdim)
    float *ln2;    // (C)
    float *wgu;    // (2I, C): gate_proj, up_proj stacked
    float *wdown;  // (C, I)
} layer_params;

typedef struct {
    float *x;      // (N, C) residual stream into the layer
    float *ln1;    // (N, C)
    float *rstd1;  // (N)
    float *qkv;    // (N, qkvdim) after bias and rotary
    float *att;    // (N, qdim) attention output
    float *lse;    // (N, H)
    float *x2;     // (N, C) residual after attention
    float *ln2;    // (N, C)
    float *rstd2;  // (N)
    float *gu;     // (N, 2I) gate and up, before the activation
} layer_acts;

struct rn_model {
    rn_config cfg;
    int C, I, H, KVH, hd, qdim, kvdim, qkvdim, V, L, nt;
    tensor_table tt;  // names, shapes and offsets into the arenas (model_host.h)
    size_t n_params;
    float *params, *grads, *adam_m, *adam_v;  // one arena each
    float *embed, *lnf, *lm_head;             // into params
    layer_params *layers;                     // (L) pointers into params
    float *rope_cos, *rope_sin;               // (max_seq_len, hd/2)
    int64_t step;

    // activations of the last forward, sized for cap_N positions
    int cap_N, B, T, have_acts;
    float *acts;
    layer_acts *la;   // (L)
    float *xf;        // (N, C) final residual
    float *lnf_out;   // (N, C)
    float *rstdf;     // (N)
    float *head_lse;  // (n_masked)
    int32_t *tokens, *targets, *pos, *sel; // (N) each; sel: masked positions
    int n_sel;
    float *sel_x;     // (N, C) gathered final-norm rows of masked positions
    int32_t *sel_tg;  // (N)
    float *head_scratch; // (chunk, V)
    int head_chunk;
    float temperature, top_p; // of the last forward's distribution (rn_batch)

    char err[256];
};

int ensure_grads(rn_model *m);
/* Runs the layers for n tokens of a ragged batch: token i is at (row[i],
 * pos[i]) and attends to the keys cached for its row at positions 0..pos[i];
 * its own k/v are written to the cache first. Leaves the final-norm output
 * in out (n, C). kcache, vcache (L, rows, max_T, kvdim). */
int model_decode(rn_model *m, float *out, const int32_t *tokens, const int32_t *row, const int32_t *pos,
                 int n, float *kcache, float *vcache, int rows, int max_T);

/* A token and its probability, for nucleus (top-p) selection: the sampler
 * (cpu_generate.c) and the head's log-softmax at the sampling distribution
 * (cpu_layers.c) must order candidates the same way, so they share this. */
typedef struct {
    float p;
    int32_t id;
} rn_cand;

/* qsort order: probability descending, then the lower id first. */
static inline int rn_cand_desc(const void *a, const void *b) {
    const rn_cand *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id < y->id ? -1 : 1;
}

/* rn_nucleus puts the top-p nucleus of the distribution probs / tsum (V
 * entries) into cands[0..k), most probable first, and returns k. The nucleus
 * lies among the tokens with p >= thr as soon as those hold top_p of the
 * mass: only they are sorted (a 151,936-entry qsort per token would cost more
 * than a small model's step); lowering thr until then keeps the result that
 * of a full sort. The sampler and the head's tempered log-softmax both call
 * it, so they agree on the nucleus. */
static inline int rn_nucleus(const double *probs, double tsum, int V, float top_p, rn_cand *cands) {
    double thr = 1e-3, held;
    int nc;
    for (;;) {
        held = 0;
        nc = 0;
        for (int v = 0; v < V; v++) {
            float pv = (float)(probs[v] / tsum);
            if (pv >= thr) {
                cands[nc].p = pv;
                cands[nc].id = v;
                nc++;
                held += pv;
            }
        }
        if (held >= (double)top_p + 1e-6 || thr == 0) break; /* margin: sums in another order */
        thr = thr > 1e-9 ? thr * 1e-3 : 0;
    }
    qsort(cands, nc, sizeof(rn_cand), rn_cand_desc);
    double kept = 0;
    int k = 0;
    while (k < nc && (k == 0 || kept < top_p)) kept += cands[k++].p;
    return k;
}

#endif
