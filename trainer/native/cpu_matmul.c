/*
 * cpu_matmul.c — the fp32 matrix kernels everything else is built on.
 *
 * matmul_nt   out = a @ b^T, both operands row-major along K (the layout of
 *             Hugging Face Linear weights, (out_features, in_features)): a
 *             4x4 tile of dot products, each kept as 8 lanes summed in a
 *             fixed order at the end. Forward passes use it.
 * matmul_nn   out += a @ b, b row-major along N: a 6x16 tile of broadcast
 *             multiply-adds over a block of K. Backward passes use it, and
 * matmul_tn   its twin out += a^T @ b, for weight gradients (dW = dY^T X)
 *             with no transposed copy of dY.
 *
 * The kernels are plain C with GCC vector types; target_clones compiles
 * each block function for x86-64-v4 (AVX-512 registers), v3 (AVX2+FMA) and
 * the baseline, and the loader picks one for the machine, so the binary
 * runs everywhere and is fast where it can be. Work is split across cores
 * by output blocks, so every element is summed by one thread in one order:
 * results do not depend on the thread count, and a row of matmul_nt does
 * not depend on the other rows (generation with a KV cache relies on it).
 */
#include <stdlib.h>
#include <string.h>
#include "cpu_internal.h"

typedef float v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

static inline v8 ld8(const float *p) {
    v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void st8(float *p, v8 v) { memcpy(p, &v, sizeof v); }
static inline float hsum8(v8 v) {
    return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/* ---------------- out = a @ b^T ---------------- */

// out (mr, nr) tile, mr, nr <= 4. Inlined with constants for full tiles.
static inline __attribute__((always_inline)) void nt_tile(float *out, int ldo, const float *a, int lda,
                                                          const float *b, int ldb, const float *bias,
                                                          int mr, int nr, int K, int acc) {
    v8 c[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) c[i][j] = (v8){0};
    int K8 = K & ~7;
    for (int k = 0; k < K8; k += 8) {
        v8 bv[4];
        for (int j = 0; j < nr; j++) bv[j] = ld8(b + (size_t)j * ldb + k);
        for (int i = 0; i < mr; i++) {
            v8 av = ld8(a + (size_t)i * lda + k);
            for (int j = 0; j < nr; j++) c[i][j] += av * bv[j];
        }
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++) {
            float s = hsum8(c[i][j]);
            for (int k = K8; k < K; k++) s += a[(size_t)i * lda + k] * b[(size_t)j * ldb + k];
            if (bias) s += bias[j];
            float *o = out + (size_t)i * ldo + j;
            *o = acc ? *o + s : s;
        }
    }
}

MULTIVERSION
static void nt_block(float *out, const float *a, const float *b, const float *bias, int m0, int m1,
                     int n0, int n1, int N, int K, int acc) {
    for (int j = n0; j < n1; j += 4) {
        int nr = n1 - j < 4 ? n1 - j : 4;
        const float *bj = b + (size_t)j * K;
        const float *biasj = bias ? bias + j : NULL;
        for (int i = m0; i < m1; i += 4) {
            int mr = m1 - i < 4 ? m1 - i : 4;
            float *o = out + (size_t)i * N + j;
            const float *ai = a + (size_t)i * K;
            if (mr == 4 && nr == 4)
                nt_tile(o, N, ai, K, bj, K, biasj, 4, 4, K, acc);
            else
                nt_tile(o, N, ai, K, bj, K, biasj, mr, nr, K, acc);
        }
    }
}

// out (M, N) = [out +] bias + a (M, K) @ b (N, K)^T
void matmul_nt(float *out, const float *a, const float *b, const float *bias, int M, int N, int K,
               int accumulate, int nt) {
    const int MB = 64, NB = 64;
    int nmb = (M + MB - 1) / MB, nnb = (N + NB - 1) / NB;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt)
    for (int ib = 0; ib < nmb; ib++) {
        for (int jb = 0; jb < nnb; jb++) {
            int m0 = ib * MB, m1 = m0 + MB < M ? m0 + MB : M;
            int n0 = jb * NB, n1 = n0 + NB < N ? n0 + NB : N;
            nt_block(out, a, b, bias, m0, m1, n0, n1, N, K, accumulate);
        }
    }
}

/* ---------------- out += a @ b ---------------- */

// out (mr, 16) += a (mr, kc) @ b (kc, 16), mr <= 6; element (i, k) of a is
// a[i * sai + k * sak], so the same tile serves a and a^T.
static inline __attribute__((always_inline)) void nn_tile(float *out, int ldo, const float *a, size_t sai,
                                                          size_t sak, const float *b, int ldb, int mr, int kc) {
    v8 c[6][2];
    for (int i = 0; i < mr; i++) {
        c[i][0] = ld8(out + (size_t)i * ldo);
        c[i][1] = ld8(out + (size_t)i * ldo + 8);
    }
    for (int k = 0; k < kc; k++) {
        v8 b0 = ld8(b + (size_t)k * ldb), b1 = ld8(b + (size_t)k * ldb + 8);
        for (int i = 0; i < mr; i++) {
            v8 av = (v8){0} + a[i * sai + k * sak];
            c[i][0] += av * b0;
            c[i][1] += av * b1;
        }
    }
    for (int i = 0; i < mr; i++) {
        st8(out + (size_t)i * ldo, c[i][0]);
        st8(out + (size_t)i * ldo + 8, c[i][1]);
    }
}

// out[m0:m1, n0:n1] += A @ b (K, N) where A (M, K) has element (i, k) at
// a[i * sai + k * sak]: a itself (sai = K, sak = 1) or the transpose of a
// (K, M) array (sai = 1, sak = M). Each element sums over k in the same
// order either way.
static inline __attribute__((always_inline)) void nn_block_any(float *out, const float *a, size_t sai, size_t sak,
                                                               const float *b, int m0, int m1, int n0, int n1,
                                                               int N, int K) {
    const int KC = 256;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int j = n0;
        for (; j + 16 <= n1; j += 16) {
            for (int i = m0; i < m1; i += 6) {
                int mr = m1 - i < 6 ? m1 - i : 6;
                float *o = out + (size_t)i * N + j;
                const float *ai = a + i * sai + k0 * sak;
                const float *bk = b + (size_t)k0 * N + j;
                if (mr == 6)
                    nn_tile(o, N, ai, sai, sak, bk, N, 6, kc);
                else
                    nn_tile(o, N, ai, sai, sak, bk, N, mr, kc);
            }
        }
        for (; j < n1; j++) {  // leftover columns
            for (int i = m0; i < m1; i++) {
                float s = out[(size_t)i * N + j];
                for (int k = k0; k < k0 + kc; k++) s += a[i * sai + k * sak] * b[(size_t)k * N + j];
                out[(size_t)i * N + j] = s;
            }
        }
    }
}

MULTIVERSION
static void nn_block(float *out, const float *a, const float *b, int m0, int m1, int n0, int n1, int N, int K) {
    nn_block_any(out, a, (size_t)K, 1, b, m0, m1, n0, n1, N, K);
}

MULTIVERSION
static void tn_block(float *out, const float *a, const float *b, int m0, int m1, int n0, int n1, int M, int N,
                     int K) {
    nn_block_any(out, a, 1, (size_t)M, b, m0, m1, n0, n1, N, K);
}

// out (M, N) += a (M, K) @ b (K, N)
void matmul_nn_acc(float *out, const float *a, const float *b, int M, int N, int K, int nt) {
    const int MB = 48, NB = 64;
    int nmb = (M + MB - 1) / MB, nnb = (N + NB - 1) / NB;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt)
    for (int ib = 0; ib < nmb; ib++) {
        for (int jb = 0; jb < nnb; jb++) {
            int m0 = ib * MB, m1 = m0 + MB < M ? m0 + MB : M;
            int n0 = jb * NB, n1 = n0 + NB < N ? n0 + NB : N;
            nn_block(out, a, b, m0, m1, n0, n1, N, K);
        }
    }
}

// out (M, N) += a (K, M)^T @ b (K, N): weight gradients, dW = dY^T @ X,
// without materialising the transpose; the same sums as matmul_nn_acc on
// the transposed a.
void matmul_tn_acc(float *out, const float *a, const float *b, int M, int N, int K, int nt) {
    const int MB = 48, NB = 64;
    int nmb = (M + MB - 1) / MB, nnb = (N + NB - 1) / NB;
#pragma omp parallel for collapse(2) schedule(dynamic, 1) num_threads(nt)
    for (int ib = 0; ib < nmb; ib++) {
        for (int jb = 0; jb < nnb; jb++) {
            int m0 = ib * MB, m1 = m0 + MB < M ? m0 + MB : M;
            int n0 = jb * NB, n1 = n0 + NB < N ? n0 + NB : N;
            tn_block(out, a, b, m0, m1, n0, n1, M, N, K);
        }
    }
}

void rn_sgemm_nt(float *out, const float *a, const float *b, int M, int N, int K, int n_threads) {
    matmul_nt(out, a, b, NULL, M, N, K, 0, n_threads > 0 ? n_threads : 1);
}
