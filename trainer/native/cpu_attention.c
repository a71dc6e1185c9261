/*
 * cpu_attention.c — blocked causal self-attention for training: forward
 * and backward over a (B, T) batch, in tiles of QB queries through the
 * matmul kernel (matmul_acc_strided, full vector width).
 *
 * For a block of queries q0..q1 of one head, S = Q K^T (QB, q1) is one
 * product against the keys transposed once per (row, kv head) into Kt
 * (hd, Tp); a two-pass softmax per query row (its max, then exponentials
 * of its causal prefix, the rest of the row set to 0) gives P, and O = P V
 * is a second product. The backward recomputes P from the forward's
 * log-sum-exp and forms dP = dO V^T, dS = P (dP - D) / sqrt(hd), then
 * dQ += dS K, dK += dS^T Q and dV += P^T dO, all through the same kernel.
 *
 * Determinism: the forward splits work by (row, head, query block), the
 * backward by (row, kv head) so that every dK and dV has one writer, which
 * visits its heads and query blocks in one order; every product sums each
 * element in a fixed order. Results do not depend on the thread count.
 *
 * attention_query (cpu_layers.c), one query at a time, is the decoding path
 * and the reference these are checked against (testdata/layercheck.c); the
 * sums are the same up to rounding, not bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_internal.h"
#ifdef _OPENMP
#include <omp.h>
#define THREAD_NUM() omp_get_thread_num()
#else
#define THREAD_NUM() 0
#endif

enum { QB = 24 };  // queries per block: four tiles of the kernel's six rows

// The max of x[0..n), in a fixed order (16 running maxima, then combined).
static inline float row_max(const float *x, int n) {
    float m[16];
    for (int l = 0; l < 16; l++) m[l] = -INFINITY;
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int l = 0; l < 16; l++) m[l] = x[j + l] > m[l] ? x[j + l] : m[l];
    for (; j < n; j++) m[0] = x[j] > m[0] ? x[j] : m[0];
    float r = m[0];
    for (int l = 1; l < 16; l++) r = m[l] > r ? m[l] : r;
    return r;
}

// The sum of x[0..n) in double, in a fixed order (8 running sums).
static inline double row_sum(const float *x, int n) {
    double s[8] = {0};
    int j = 0;
    for (; j + 8 <= n; j += 8)
        for (int l = 0; l < 8; l++) s[l] += x[j + l];
    for (; j < n; j++) s[0] += x[j];
    return ((s[0] + s[4]) + (s[2] + s[6])) + ((s[1] + s[5]) + (s[3] + s[7]));
}

// Row i of the score block s (scaled scores of query position t over keys
// 0..nk) becomes its probabilities: keys 0..t by exp(s*scale - mx) / sum
// (forward: mx the row max, lse the log-sum-exp out) or exp(s*scale - lse)
// (backward: lse in); keys t+1..nk-1 get 0.
MULTIVERSION
static void softmax_row(float *s, int t, int nk, float scale, float *lse, int backward) {
    int n = t + 1;
    for (int j = 0; j < n; j++) s[j] *= scale;
    if (backward) {
        float l = *lse;
        for (int j = 0; j < n; j++) s[j] = rn_expf(s[j] - l);
    } else {
        float mx = row_max(s, n);
        for (int j = 0; j < n; j++) s[j] = rn_expf(s[j] - mx);
        double sum = row_sum(s, n);
        float inv = (float)(1.0 / sum);
        for (int j = 0; j < n; j++) s[j] *= inv;
        *lse = mx + (float)log(sum);
    }
    for (int j = n; j < nk; j++) s[j] = 0;
}

// kt (B, KVH, hd, Tp) = the keys (or values) at column off of qkv rows,
// transposed per (row, kv head); columns T..Tp are 0.
static void transpose_kv(float *kt, const float *qkv, int off, int B, int T, int Tp, int KVH, int hd, int stride,
                         int nt) {
#pragma omp parallel for collapse(2) num_threads(nt) if (B * KVH > 1)
    for (int b = 0; b < B; b++) {
        for (int kh = 0; kh < KVH; kh++) {
            float *d = kt + ((size_t)b * KVH + kh) * hd * Tp;
            const float *src = qkv + (size_t)b * T * stride + off + kh * hd;
            for (int j = 0; j < T; j++)
                for (int e = 0; e < hd; e++) d[(size_t)e * Tp + j] = src[(size_t)j * stride + e];
            for (int e = 0; e < hd; e++) memset(d + (size_t)e * Tp + T, 0, sizeof(float) * (Tp - T));
        }
    }
}

static int round16(int n) { return (n + 15) & ~15; }

// qkv (B*T, qdim + 2 kvdim) -> out (B*T, H*hd), lse (B*T, H); causal per row.
void attention_forward(float *out, float *lse, const float *qkv, int B, int T, int H, int KVH, int hd, int nt) {
    int qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim, group = H / KVH, Tp = round16(T);
    int nqb = (T + QB - 1) / QB;
    float scale = 1.0f / sqrtf((float)hd);
    // the transposed keys, then a score block (QB, Tp) per thread
    float *kt = malloc(sizeof(float) * ((size_t)B * KVH * hd * Tp + (size_t)nt * QB * Tp));
    if (!kt) {
        attention_forward_ref(out, lse, qkv, B, T, H, KVH, hd, nt);
        return;
    }
    transpose_kv(kt, qkv, qdim, B, T, Tp, KVH, hd, stride, nt);
#pragma omp parallel num_threads(nt)
    {
        float *s = kt + (size_t)B * KVH * hd * Tp + (size_t)THREAD_NUM() * QB * Tp;
#pragma omp for collapse(3) schedule(dynamic, 1)
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                for (int qb = nqb - 1; qb >= 0; qb--) {  // the longest blocks first
                    int kh = h / group, q0 = qb * QB, mq = T - q0 < QB ? T - q0 : QB, nk = q0 + mq;
                    size_t r0 = (size_t)b * T + q0;
                    const float *q = qkv + r0 * stride + h * hd;
                    memset(s, 0, sizeof(float) * mq * Tp);
                    // S (mq, nk) = Q (mq, hd) @ Kt (hd, nk)
                    matmul_acc_strided(s, Tp, q, stride, 1, kt + ((size_t)b * KVH + kh) * hd * Tp, Tp, mq,
                                       round16(nk), hd);
                    for (int i = 0; i < mq; i++)
                        softmax_row(s + (size_t)i * Tp, q0 + i, nk, scale, lse + (r0 + i) * H + h, 0);
                    // O (mq, hd) = P (mq, nk) @ V (nk, hd)
                    float *o = out + r0 * qdim + h * hd;
                    for (int i = 0; i < mq; i++) memset(o + (size_t)i * qdim, 0, sizeof(float) * hd);
                    const float *v = qkv + (size_t)b * T * stride + qdim + kvdim + kh * hd;
                    matmul_acc_strided(o, qdim, s, Tp, 1, v, stride, mq, hd, nk);
                }
            }
        }
    }
    free(kt);
}

// One (row b, kv head kh) of the backward: every head of the group, every
// query block in order; dbase is dqkv at row b's first position.
static void attention_backward_kv(float *dbase, const float *dout, const float *base, const float *out,
                                  const float *lse, const float *kt, const float *vt, float *p, float *ds, int b,
                                  int kh, int T, int Tp, int H, int KVH, int hd) {
    int qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim, group = H / KVH;
    float scale = 1.0f / sqrtf((float)hd);
    const float *k = base + qdim + kh * hd;
    float *dk = dbase + qdim + kh * hd, *dv = dk + kvdim;
    for (int h = kh * group; h < (kh + 1) * group; h++) {
        for (int q0 = 0; q0 < T; q0 += QB) {
            int mq = T - q0 < QB ? T - q0 : QB, nk = q0 + mq;
            size_t r0 = (size_t)b * T + q0;
            const float *q = base + (size_t)q0 * stride + h * hd;
            const float *dof = dout + r0 * qdim + h * hd, *o = out + r0 * qdim + h * hd;
            memset(p, 0, sizeof(float) * mq * Tp);
            memset(ds, 0, sizeof(float) * mq * Tp);
            matmul_acc_strided(p, Tp, q, stride, 1, kt, Tp, mq, round16(nk), hd);      // S = Q K^T
            matmul_acc_strided(ds, Tp, dof, qdim, 1, vt, Tp, mq, round16(nk), hd);  // dP = dO V^T
            for (int i = 0; i < mq; i++) {
                float *pi = p + (size_t)i * Tp, *di = ds + (size_t)i * Tp, l = lse[(r0 + i) * H + h];
                softmax_row(pi, q0 + i, nk, scale, &l, 1);
                float D = 0;  // D = dO . O
                for (int e = 0; e < hd; e++) D += dof[(size_t)i * qdim + e] * o[(size_t)i * qdim + e];
                for (int j = 0; j < nk; j++) di[j] = pi[j] * (di[j] - D) * scale;  // dS; 0 where P is
            }
            matmul_acc_strided(dbase + (size_t)q0 * stride + h * hd, stride, ds, Tp, 1, k, stride, mq, hd,
                               nk);                                               // dQ += dS K
            matmul_acc_strided(dk, stride, ds, 1, Tp, q, stride, nk, hd, mq);    // dK += dS^T Q
            matmul_acc_strided(dv, stride, p, 1, Tp, dof, qdim, nk, hd, mq);     // dV += P^T dO
        }
    }
}

// dqkv (B*T, stride) += the gradient of attention_forward from dout (B*T, H*hd).
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *out, const float *lse,
                        int B, int T, int H, int KVH, int hd, int nt) {
    int qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim, Tp = round16(T);
    size_t per = (size_t)hd * Tp;
    // the transposed keys and values, then P and dS blocks (QB, Tp) per thread
    float *kt = malloc(sizeof(float) * ((size_t)B * KVH * per * 2 + (size_t)nt * 2 * QB * Tp));
    if (!kt) {
        attention_backward_ref(dqkv, dout, qkv, out, lse, B, T, H, KVH, hd, nt);
        return;
    }
    float *vt = kt + (size_t)B * KVH * per;
    transpose_kv(kt, qkv, qdim, B, T, Tp, KVH, hd, stride, nt);
    transpose_kv(vt, qkv, qdim + kvdim, B, T, Tp, KVH, hd, stride, nt);
#pragma omp parallel num_threads(nt)
    {
        float *p = vt + (size_t)B * KVH * per + (size_t)THREAD_NUM() * 2 * QB * Tp;
#pragma omp for collapse(2) schedule(dynamic, 1)
        for (int b = 0; b < B; b++) {
            for (int kh = 0; kh < KVH; kh++) {
                size_t at = ((size_t)b * KVH + kh) * per;
                attention_backward_kv(dqkv + (size_t)b * T * stride, dout, qkv + (size_t)b * T * stride, out, lse,
                                      kt + at, vt + at, p, p + (size_t)QB * Tp, b, kh, T, Tp, H, KVH, hd);
            }
        }
    }
    free(kt);
}
