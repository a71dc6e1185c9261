/*
 * common.cuh — the CUDA backend's model struct, error macros and the
 * launchers that the translation units share.
 *
 * Precision: fp32 master weights, gradients and AdamW moments; a bf16 copy
 * of the weights (refreshed by every write and every step) feeds the matrix
 * products, which accumulate in fp32. The residual stream is fp32; the
 * activations that feed matrix products (norm outputs, q/k/v, attention
 * output, gate/up) are bf16. Norm weights and biases are read in fp32.
 *
 * Layout: the C reference's (cpu_model.c), from the same tensor table
 * (../model_host.h), so that tensor offsets, names and the stacked q/k/v
 * and gate/up matrices agree.
 */
#ifndef RESYN_CUDA_COMMON_CUH
#define RESYN_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <cublas_v2.h>
#include <stdint.h>
#include <stddef.h>
#include "../resyn_native.h"
#include "../model_host.h"

typedef __nv_bfloat16 bf16;

// Training activations for cap_N positions (device pointers).
typedef struct {
    float *xs;      // (L+1, N, C) residual stream into each layer; xs[L] is the final one
    bf16 *ln1;      // (L, N, C)
    float *rstd1;   // (L, N)
    bf16 *qkv;      // (L, N, qkvdim) after bias and rotary
    bf16 *att;      // (L, N, qdim)
    float *lse;     // (L, N, H)
    float *x2;      // (L, N, C)
    bf16 *ln2;      // (L, N, C)
    float *rstd2;   // (L, N)
    bf16 *gu;       // (L, N, 2I)
    bf16 *h;        // (L, N, I) SwiGLU output
    float *rstdf;   // (N)
    bf16 *lnf;      // (N, C)
    bf16 *sel_x;    // (N, C) gathered final-norm rows of masked positions
    float *head_lse;// (N)
    int32_t *tokens, *sel, *sel_tg;  // (N)
    // scratch
    float *f_qkv;   // (N, qkvdim): forward q/k/v before bias/rotary; backward dqkv
    bf16 *dh;       // (N, I)
    float *dx;      // (N, C)
    bf16 *dx16;     // (N, C)
    float *dln;     // (N, C)
    bf16 *dgu16;    // (N, 2I)
    bf16 *datt16;   // (N, qdim)
    bf16 *dqkv16;   // (N, qkvdim)
    float *Dbuf;    // (N, H)
    float *dsel;    // (N, C)
    float *lp, *ent, *dlp;  // (N)
    float *out_lp, *out_ent; // (N) scattered
    float *logits;  // (chunk, V)
    bf16 *dlogits;  // (chunk, V)
} train_acts;

// Generation buffers, sized for rows x max_T and cap tokens per decode.
typedef struct {
    int rows, max_T, cap, maxnew, n_stop_cap;
    bf16 *kc, *vc;          // (L, rows, max_T, kvdim)
    float *x;               // (cap, C)
    bf16 *ln;               // (cap, C)
    float *f_qkv;           // (cap, qkvdim)
    bf16 *q;                // (cap, qdim)
    bf16 *att;              // (cap, qdim)
    bf16 *gu;               // (cap, 2I)
    bf16 *h;                // (cap, I)
    float *rstd;            // (cap)
    int32_t *tok, *row, *pos;   // (cap) the tokens of one decode call
    int32_t *last;          // (rows) index into the decode's tokens of each row's last
    int32_t *lrow;          // (rows) the row of each logits row
    bf16 *hsel;             // (rows, C) final-norm rows to score
    float *logits;          // (rows, V)
    // per-row sampling state
    int32_t *cur, *cpos, *live, *outlen, *out_tok;  // out_tok (rows, maxnew)
    float *out_lp;          // (rows, maxnew)
    uint64_t *rng;          // (rows)
    int32_t *stop;          // (n_stop_cap)
    int32_t *nlive;         // (1)
    int32_t *ident;         // (rows) 0..rows-1
} gen_bufs;

struct rn_model {
    rn_config cfg;
    int C, I, H, KVH, hd, qdim, kvdim, qkvdim, V, L;
    tensor_table tt;  // names, shapes and offsets into the arenas (../model_host.h)
    size_t n_params;
    float *p32;            // device fp32 master weights
    bf16 *p16;             // device bf16 copy
    float *grads, *adam_m, *adam_v;
    float *rope_cos, *rope_sin;  // (max_seq_len, hd/2)
    int64_t step;
    int dev, n_sm;
    cudaStream_t stream;
    cublasHandle_t blas;
    void *blas_ws;
    size_t blas_ws_size;
    double *norm_part;     // reduction scratch
    int n_norm_part;

    int cap_N, B, T, have_acts, n_sel, head_chunk;
    train_acts a;
    void *acts_mem;

    gen_bufs g;
    int g_alloc;

    char err[256];
};


#define CUDA_TRY(m, call)                                                                              \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess)                                                                         \
            return model_err((m), e_ == cudaErrorMemoryAllocation ? RN_ERR_NOMEM : RN_ERR_STATE,       \
                             "%s: %s (%s:%d)", #call, cudaGetErrorString(e_), __FILE__, __LINE__);      \
    } while (0)

#define BLAS_TRY(m, call)                                                                              \
    do {                                                                                               \
        cublasStatus_t s_ = (call);                                                                    \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                               \
            return model_err((m), RN_ERR_STATE, "%s: cuBLAS status %d (%s:%d)", #call, (int)s_, __FILE__, \
                             __LINE__);                                                                \
    } while (0)

#define LAUNCH_TRY(m) CUDA_TRY(m, cudaGetLastError())

static inline int cdiv(long a, long b) { return (int)((a + b - 1) / b); }

/* ---- matrix products (model.cu), row-major, fp32 accumulation ----
 * gemm_nt: out (M, N) = alpha a (M, K) @ b (N, K)^T + beta out
 * gemm_nn: out (M, N) = alpha a (M, K) @ b (K, N) + beta out
 * gemm_tn: out (M, N) = alpha a (K, M)^T @ b (K, N) + beta out
 * a and b are bf16; out is fp32 (out_bf16 = 0) or bf16. */
int gemm_nt(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta);
int gemm_nn(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta);
int gemm_tn(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta);

/* ---- kernels.cu ---- */
void k_embed(cudaStream_t s, float *out, const int32_t *tokens, const float *embed, int N, int C);
void k_embed_backward(cudaStream_t s, float *dembed, const float *dx, const int32_t *tokens, int N, int C);
void k_rmsnorm(cudaStream_t s, bf16 *out, float *rstd, const float *x, const float *w, int N, int C, float eps);
// dx16, when not NULL, gets a bf16 copy of the updated dx
void k_rmsnorm_backward(cudaStream_t s, float *dx, bf16 *dx16, float *dw, const float *dout, const float *x,
                        const float *w, const float *rstd, int N, int C);
// qkv (N, qkvdim) bf16 = rope(f (N, qkvdim) + bias); positions n % T
void k_bias_rope(cudaStream_t s, bf16 *qkv, const float *f, const float *bias, const float *cos_t,
                 const float *sin_t, int N, int T, int H, int KVH, int hd);
// dqkv (N, qkvdim) fp32 rotated back in place, bf16 copy in d16
void k_rope_backward(cudaStream_t s, float *dqkv, bf16 *d16, const float *cos_t, const float *sin_t, int N, int T,
                     int H, int KVH, int hd);
// dcol (cols) += column sums of a (N, cols)
void k_colsum(cudaStream_t s, float *dcol, const float *a, int N, int cols);
void k_swiglu(cudaStream_t s, bf16 *h, const bf16 *gu, int N, int I);
void k_swiglu_backward(cudaStream_t s, bf16 *dgu, const bf16 *dh, const bf16 *gu, int N, int I);
void k_f32_to_bf16(cudaStream_t s, bf16 *out, const float *in, size_t n);
void k_gather_rows_bf16(cudaStream_t s, bf16 *out, const bf16 *in, const int32_t *idx, int n, int C);
void k_scatter_rows_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n, int C);
void k_gather_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n);
void k_scatter_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n);
// head rows: logits (r, V) fp32 -> logprob, entropy (may be NULL), lse
void k_head_rows(cudaStream_t s, float *lp, float *ent, float *lse, const float *logits, const int32_t *tg, int r,
                 int V);
// dlogits (r, V) bf16 = g * (onehot(tg) - softmax)
void k_head_drows(cudaStream_t s, bf16 *dlogits, const float *logits, const float *g, const float *lse,
                  const int32_t *tg, int r, int V);
// D (N, H) = rowsum(dout * out) per head
void k_attn_D(cudaStream_t s, float *D, const bf16 *dout, const bf16 *out, int N, int H, int hd);
double *k_sumsq(cudaStream_t s, const float *g, size_t n, double *part, int n_part);  // returns device scalar
void k_adamw(cudaStream_t s, float *p, bf16 *p16, const float *g, float *mm, float *vv, size_t n, float clip,
             float lr, float b1, float b2, float eps, float wd, float bc1, float bc2);
void k_init_normal(cudaStream_t s, float *p, size_t n, uint64_t seed, float std);
void k_fill(cudaStream_t s, float *p, size_t n, float v);

/* ---- attention.cu ---- */
int attn_train_supported(int hd);
void k_attn_forward(cudaStream_t s, bf16 *out, float *lse, const bf16 *qkv, int B, int T, int H, int KVH, int hd);
void k_attn_backward(cudaStream_t s, float *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
                     const float *D, int B, int T, int H, int KVH, int hd);
// Ragged decode attention: query i (q (n, qdim)) of row row[i] at pos[i] over
// kc/vc (rows, max_T, kvdim) positions 0..pos[i]: out (n, qdim).
void k_attn_decode(cudaStream_t s, bf16 *out, const bf16 *q, const bf16 *kc, const bf16 *vc, const int32_t *row,
                   const int32_t *pos, int n, int H, int KVH, int hd, int max_T);
int attn_decode_prepare(int max_T);

/* ---- decode.cu ---- */
// bias + rotary of f (n, qkvdim) fp32 at pos[i]: q (n, qdim), k/v into the caches at (row[i], pos[i])
void k_qkv_to_cache(cudaStream_t s, bf16 *q, bf16 *kc, bf16 *vc, const float *f, const float *bias,
                    const float *cos_t, const float *sin_t, const int32_t *row, const int32_t *pos, int n, int H,
                    int KVH, int hd, int max_T);
int fused_rows_max(const rn_model *m);
int fused_prepare(rn_model *m);
// fused small-batch decode kernels (n <= fused_rows_max)
void f_qkv(rn_model *m, int l, bf16 *q, bf16 *kc, bf16 *vc, const float *x, const int32_t *row,
           const int32_t *pos, int n, int max_T);
void f_out_residual(rn_model *m, float *x, const bf16 *in, size_t w_off, int n, int N_out, int K);
void f_gate_up(rn_model *m, int l, bf16 *h, const float *x, int n);
void f_head(rn_model *m, float *logits, const float *x, int n);
void k_embed_idx(cudaStream_t s, float *out, const int32_t *tokens, const float *embed, int n, int C);
// rmsnorm of the rows last[i] of x into out (n, C) bf16
void k_rmsnorm_rows(cudaStream_t s, bf16 *out, const float *x, const int32_t *idx, const float *w, int n, int C,
                    float eps);
void k_sample(cudaStream_t s, gen_bufs *g, const float *logits, int nb, int V, float temperature, float top_p,
              int n_stop);

#endif
