/*
 * cpu_matmul.c — the fp32 matrix kernels everything else is built on.
 *
 * matmul_nt   out = a @ b^T, both operands row-major along K (the layout of
 *             Hugging Face Linear weights, (out_features, in_features)): a
 *             4x4 tile of dot products, each kept as a vector of lanes and
 *             the sixteen reduced together by a fixed tree of shuffles.
 *             Forward passes use it.
 * matmul_nn   out += a @ b, b row-major along N: a 6 x (2 vectors) tile of
 *             broadcast multiply-adds over a block of K. Backward passes
 *             use it, and
 * matmul_tn   its twin out += a^T @ b, for weight gradients (dW = dY^T X)
 *             with no transposed copy of dY.
 *
 * The kernels are plain C with GCC vector types, written once in
 * cpu_matmul_kern.h and compiled for two widths: 16 lanes (512-bit
 * registers) for x86-64-v4, chosen at run time where the CPU has AVX-512,
 * and 8 lanes, which target_clones compiles for v3 (AVX2+FMA) and the
 * baseline; so the binary runs everywhere and is fast where it can be.
 * Work is split across cores by output blocks, so every element is summed
 * by one thread in one order: results do not depend on the thread count,
 * and a row of matmul_nt does not depend on the other rows (generation
 * with a KV cache relies on it).
 */
#include <stdlib.h>
#include <string.h>
#include "cpu_internal.h"

typedef float v4f __attribute__((vector_size(16)));

/* The block functions, once per vector width (cpu_matmul_kern.h). */
#define KERN(name) name##_w8
#define VW 8
typedef float vf8 __attribute__((vector_size(32)));
typedef int vi8 __attribute__((vector_size(32)));
#define vf vf8
#define vi vi8
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define KERN_TARGET __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define KERN_TARGET
#endif
#include "cpu_matmul_kern.h"
#undef KERN
#undef VW
#undef vf
#undef vi
#undef KERN_TARGET

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_W16 1
#define KERN(name) name##_w16
#define VW 16
typedef float vf16 __attribute__((vector_size(64)));
typedef int vi16 __attribute__((vector_size(64)));
#define vf vf16
#define vi vi16
#define KERN_TARGET __attribute__((target("arch=x86-64-v4")))
#include "cpu_matmul_kern.h"
#undef KERN
#undef VW
#undef vf
#undef vi
#undef KERN_TARGET
#endif

static int narrow;  // matmul_force_narrow

// 1 where the CPU has AVX-512 (x86-64-v4): the 16-lane functions run.
static int wide(void) {
#ifdef HAVE_W16
    return !narrow && __builtin_cpu_supports("x86-64-v4") != 0;
#else
    return 0;
#endif
}

void matmul_force_narrow(int on) { narrow = on; }

static void nt_block(float *out, const float *a, const float *b, const float *bias, int m0, int m1, int n0, int n1,
                     int N, int K, int acc) {
#ifdef HAVE_W16
    if (wide()) {
        nt_block_w16(out, a, b, bias, m0, m1, n0, n1, N, K, acc);
        return;
    }
#endif
    nt_block_w8(out, a, b, bias, m0, m1, n0, n1, N, K, acc);
}

// out[m0:m1, n0:n1] += A @ b (cpu_matmul_kern.h, nn_any)
static void nn_any(float *out, size_t ldo, const float *a, size_t sai, size_t sak, const float *b, size_t ldb, int m0,
                   int m1, int n0, int n1, int K) {
#ifdef HAVE_W16
    if (wide()) {
        nn_any_w16(out, ldo, a, sai, sak, b, ldb, m0, m1, n0, n1, K);
        return;
    }
#endif
    nn_any_w8(out, ldo, a, sai, sak, b, ldb, m0, m1, n0, n1, K);
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

static void nn_block(float *out, const float *a, const float *b, int m0, int m1, int n0, int n1, int N, int K) {
    nn_any(out, (size_t)N, a, (size_t)K, 1, b, (size_t)N, m0, m1, n0, n1, K);
}

static void tn_block(float *out, const float *a, const float *b, int m0, int m1, int n0, int n1, int M, int N,
                     int K) {
    nn_any(out, (size_t)N, a, 1, (size_t)M, b, (size_t)N, m0, m1, n0, n1, K);
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

// out (M, N) += A (M, K) @ b (K, N) on one thread, A's element (i, k) at
// a[i * sai + k * sak], b's (k, j) at b[k * ldb + j], out's (i, j) at
// out[i * ldo + j]: the small products inside attention.
void matmul_acc_strided(float *out, size_t ldo, const float *a, size_t sai, size_t sak, const float *b, size_t ldb,
                        int M, int N, int K) {
    nn_any(out, ldo, a, sai, sak, b, ldb, 0, M, 0, N, K);
}

void rn_sgemm_nt(float *out, const float *a, const float *b, int M, int N, int K, int n_threads) {
    matmul_nt(out, a, b, NULL, M, N, K, 0, n_threads > 0 ? n_threads : 1);
}
