/*
 * model.cu — the CUDA twin of cpu_model.c: create, weights by name, forward
 * to target log-probabilities, backward, AdamW; the cuBLAS matrix products.
 *
 * Every rn_* call runs on the model's own stream and returns after it has
 * synchronised, so that results and errors are those of this call.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.cuh"

DEFINE_MODEL_ERR

extern "C" const char *rn_model_error(const rn_model *m) { return m ? m->err : "no model"; }

/* ---------------- matrix products ---------------- */

static int gemm(rn_model *m, cublasOperation_t ta, cublasOperation_t tb, int n_cm, int m_cm, int k, const bf16 *A,
                int lda, const bf16 *Bm, int ldb, void *C, int out_bf16, int ldc, float beta) {
    if (n_cm <= 0 || m_cm <= 0) return RN_OK;
    float alpha = 1.0f;
    BLAS_TRY(m, cublasGemmEx(m->blas, ta, tb, n_cm, m_cm, k, &alpha, A, CUDA_R_16BF, lda, Bm, CUDA_R_16BF, ldb, &beta,
                             C, out_bf16 ? CUDA_R_16BF : CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return RN_OK;
}

// Row-major products expressed as column-major cuBLAS calls on the transposes.
int gemm_nt(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta) {
    return gemm(m, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, b, K, a, K, out, out_bf16, N, beta);
}
int gemm_nn(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta) {
    return gemm(m, CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, b, N, a, K, out, out_bf16, N, beta);
}
int gemm_tn(rn_model *m, void *out, int out_bf16, const bf16 *a, const bf16 *b, int M, int N, int K, float beta) {
    return gemm(m, CUBLAS_OP_N, CUBLAS_OP_T, N, M, K, b, N, a, M, out, out_bf16, N, beta);
}

/* ---------------- create / free ---------------- */

/* ---------------- optional phase timing (RESYN_CUDA_PROFILE=1) ----------------
 * Events around the phases of forward, backward and step, summed after each
 * call's synchronisation and printed to stderr when the model is freed. */

enum { P_ATTN_F, P_ATTN_B, P_HEAD_F, P_HEAD_B, P_FWD, P_BWD, P_STEP, P_N };
static const char *prof_name[P_N] = {"attention forward", "attention backward", "head forward", "head backward",
                                     "forward (all)", "backward (all)", "AdamW step (all)"};
#define PROF_MAX 256
static int prof_on = -1;
static cudaEvent_t prof_ev[2 * PROF_MAX];
static int prof_cat[PROF_MAX], prof_n;
static double prof_ms[P_N];
static int prof_calls[P_N];

static int prof_stack[16], prof_depth;

static void prof_begin(rn_model *m, int cat) {
    if (prof_on < 0) {
        prof_on = getenv("RESYN_CUDA_PROFILE") != NULL;
        if (prof_on)
            for (int i = 0; i < 2 * PROF_MAX; i++) cudaEventCreate(&prof_ev[i]);
    }
    if (!prof_on || prof_depth >= 16) return;
    int slot = prof_n < PROF_MAX ? prof_n++ : -1;
    prof_stack[prof_depth++] = slot;
    if (slot < 0) return;
    prof_cat[slot] = cat;
    cudaEventRecord(prof_ev[2 * slot], m->stream);
}
static void prof_end(rn_model *m) {
    if (prof_on != 1 || prof_depth <= 0) return;
    int slot = prof_stack[--prof_depth];
    if (slot >= 0) cudaEventRecord(prof_ev[2 * slot + 1], m->stream);
}
static void prof_collect(void) {  // after a synchronisation
    if (!prof_on) return;
    if (prof_depth) return;  // a range is still open
    for (int i = 0; i < prof_n; i++) {
        float ms = 0;
        cudaEventElapsedTime(&ms, prof_ev[2 * i], prof_ev[2 * i + 1]);
        prof_ms[prof_cat[i]] += ms;
        prof_calls[prof_cat[i]]++;
    }
    prof_n = 0;
}
static void prof_report(void) {
    if (prof_on != 1) return;
    fprintf(stderr, "resyn cuda profile (ms summed over calls):\n");
    for (int i = 0; i < P_N; i++)
        if (prof_calls[i]) fprintf(stderr, "  %-20s %10.2f ms over %d ranges\n", prof_name[i], prof_ms[i], prof_calls[i]);
    memset(prof_ms, 0, sizeof prof_ms);
    memset(prof_calls, 0, sizeof prof_calls);
}

static int sync_check(rn_model *m) {
    CUDA_TRY(m, cudaGetLastError());
    CUDA_TRY(m, cudaStreamSynchronize(m->stream));
    prof_collect();
    return RN_OK;
}

extern "C" {

void rn_model_free(rn_model *m);

int rn_model_create(const rn_config *cfg, rn_model **out) {
    *out = NULL;
    if (config_check(cfg)) return RN_ERR_ARG;
    rn_model *m = (rn_model *)calloc(1, sizeof *m);
    if (!m) return RN_ERR_NOMEM;
    m->cfg = *cfg;
    SET_DIMS(m, cfg);
    *out = m;  // from here on errors leave a model whose rn_model_error explains them
    if (!attn_train_supported(m->hd)) {
        *out = NULL;
        rn_model_free(m);
        return RN_ERR_ARG;
    }
    const char *dv = getenv("RESYN_CUDA_DEVICE");
    m->dev = dv ? atoi(dv) : 0;
    if (cudaSetDevice(m->dev) != cudaSuccess) {
        *out = NULL;
        rn_model_free(m);
        return RN_ERR_STATE;
    }
    cudaDeviceGetAttribute(&m->n_sm, cudaDevAttrMultiProcessorCount, m->dev);
    if (m->n_sm <= 0) m->n_sm = 1;

    int C = m->C, I = m->I, L = m->L;
    m->tt.slots = (tensor_slot *)calloc(table_slots(L), sizeof(tensor_slot));
    m->tt.lo = (layer_off *)calloc(L, sizeof(layer_off));
    if (!m->tt.slots || !m->tt.lo) goto nomem;
    {
        table_dims d = {m->V, C, I, m->qdim, m->kvdim, L, cfg->tie_word_embeddings};
        table_build(&m->tt, d);
        m->n_params = m->tt.n_params;
    }
    if (cudaStreamCreateWithFlags(&m->stream, cudaStreamNonBlocking) != cudaSuccess) goto state;
    if (cublasCreate(&m->blas) != CUBLAS_STATUS_SUCCESS) goto state;
    cublasSetStream(m->blas, m->stream);
    m->blas_ws_size = 64u << 20;
    if (cudaMalloc(&m->blas_ws, m->blas_ws_size) != cudaSuccess) goto nomem;
    cublasSetWorkspace(m->blas, m->blas_ws, m->blas_ws_size);
    if (cudaMalloc(&m->p32, m->n_params * sizeof(float)) != cudaSuccess) goto nomem;
    if (cudaMalloc(&m->p16, m->n_params * sizeof(bf16)) != cudaSuccess) goto nomem;
    cudaMemsetAsync(m->p32, 0, m->n_params * sizeof(float), m->stream);
    cudaMemsetAsync(m->p16, 0, m->n_params * sizeof(bf16), m->stream);
    m->n_norm_part = 1024;
    if (cudaMalloc(&m->norm_part, sizeof(double) * (m->n_norm_part + 1)) != cudaSuccess) goto nomem;
    {
        int half = m->hd / 2, T = cfg->max_seq_len;
        size_t nt = (size_t)T * half;
        float *hc = (float *)malloc(sizeof(float) * nt), *hs = (float *)malloc(sizeof(float) * nt);
        if (!hc || !hs) {
            free(hc);
            free(hs);
            goto nomem;
        }
        rope_tables(hc, hs, T, m->hd, cfg->rope_theta);
        int ok = cudaMalloc(&m->rope_cos, sizeof(float) * nt) == cudaSuccess &&
                 cudaMalloc(&m->rope_sin, sizeof(float) * nt) == cudaSuccess;
        if (ok) {
            cudaMemcpy(m->rope_cos, hc, sizeof(float) * nt, cudaMemcpyHostToDevice);
            cudaMemcpy(m->rope_sin, hs, sizeof(float) * nt, cudaMemcpyHostToDevice);
        }
        free(hc);
        free(hs);
        if (!ok) goto nomem;
    }
    {
        // rows of logits per head chunk: 2^29 fp32 logits (2 GiB, plus 1 GiB of
        // bf16 d-logits) keeps the d-head product's accumulation passes few
        int chunk = (int)((1 << 29) / m->V);
        m->head_chunk = chunk < 64 ? 64 : chunk > 16384 ? 16384 : chunk;
    }
    if (fused_rows_max(m)) fused_prepare(m);
    if (cudaStreamSynchronize(m->stream) != cudaSuccess) goto state;
    return RN_OK;
nomem:
    *out = NULL;
    rn_model_free(m);
    return RN_ERR_NOMEM;
state:
    *out = NULL;
    rn_model_free(m);
    return RN_ERR_STATE;
}

void rn_model_free(rn_model *m) {
    if (!m) return;
    if (m->stream) cudaStreamSynchronize(m->stream);
    prof_report();
    cudaFree(m->p32);
    cudaFree(m->p16);
    cudaFree(m->grads);
    cudaFree(m->adam_m);
    cudaFree(m->adam_v);
    cudaFree(m->rope_cos);
    cudaFree(m->rope_sin);
    cudaFree(m->norm_part);
    cudaFree(m->acts_mem);
    if (m->g_alloc) cudaFree(m->g.kc);
    cudaFree(m->blas_ws);
    if (m->blas) cublasDestroy(m->blas);
    if (m->stream) cudaStreamDestroy(m->stream);
    free(m->tt.slots);
    free(m->tt.lo);
    free(m);
}

/* ---------------- weights by name ---------------- */

int rn_num_tensors(const rn_model *m) { return m->tt.n; }

int rn_tensor_info_at(const rn_model *m, int i, rn_tensor_info *out) { return table_info_at(&m->tt, i, out); }

int rn_tensor_index(const rn_model *m, const char *name) { return table_index(&m->tt, name); }

}  // extern "C"

static float **slot_ptr(rn_model *m, int which) {
    switch (which) {
    case RN_WEIGHTS: return &m->p32;
    case RN_GRADS: return &m->grads;
    case RN_ADAM_M: return &m->adam_m;
    case RN_ADAM_V: return &m->adam_v;
    }
    return NULL;
}

static int ensure_buffer(rn_model *m, int which) {
    float **p = slot_ptr(m, which);
    if (!*p) {
        if (cudaMalloc(p, m->n_params * sizeof(float)) != cudaSuccess) {
            *p = NULL;
            return model_err(m, RN_ERR_NOMEM, "cannot allocate %zu floats of optimizer state on the GPU",
                             m->n_params);
        }
        CUDA_TRY(m, cudaMemsetAsync(*p, 0, m->n_params * sizeof(float), m->stream));
    }
    return RN_OK;
}

extern "C" {

int rn_tensor_read(rn_model *m, int which, int i, float *dst) {
    if (tensor_arg_check(m, m->tt.n, which, i)) return RN_ERR_ARG;
    const tensor_slot *t = &m->tt.slots[i];
    float *buf = *slot_ptr(m, which);
    if (!buf) {
        memset(dst, 0, sizeof(float) * t->numel);
        return RN_OK;
    }
    CUDA_TRY(m, cudaMemcpyAsync(dst, buf + t->offset, sizeof(float) * t->numel, cudaMemcpyDeviceToHost, m->stream));
    return sync_check(m);
}

int rn_tensor_write(rn_model *m, int which, int i, const float *src) {
    if (tensor_arg_check(m, m->tt.n, which, i)) return RN_ERR_ARG;
    int rc = ensure_buffer(m, which);
    if (rc) return rc;
    const tensor_slot *t = &m->tt.slots[i];
    float *buf = *slot_ptr(m, which);
    CUDA_TRY(m, cudaMemcpyAsync(buf + t->offset, src, sizeof(float) * t->numel, cudaMemcpyHostToDevice, m->stream));
    if (which == RN_WEIGHTS) k_f32_to_bf16(m->stream, m->p16 + t->offset, m->p32 + t->offset, t->numel);
    return sync_check(m);
}

int rn_init_weights(rn_model *m, uint64_t seed, float std) {
    for (int i = 0; i < m->tt.n; i++) {
        const tensor_slot *t = &m->tt.slots[i];
        float *p = m->p32 + t->offset, v;
        if (init_constant(t, &v)) {
            k_fill(m->stream, p, t->numel, v);
            continue;
        }
        k_init_normal(m->stream, p, t->numel, init_seed(seed, i), std);
    }
    k_f32_to_bf16(m->stream, m->p16, m->p32, m->n_params);
    return sync_check(m);
}

}  // extern "C"

/* ---------------- activations ---------------- */

static void *carve(char *base, size_t *off, size_t bytes) {
    size_t o = *off;
    *off += (bytes + 255) & ~(size_t)255;
    return base ? base + o : NULL;
}

static void layout_acts(rn_model *m, char *base, size_t *off, size_t N) {
    size_t C = m->C, I = m->I, L = m->L, V = m->V, qkvdim = m->qkvdim, qdim = m->qdim, H = m->H;
    size_t ch = (size_t)m->head_chunk < N ? (size_t)m->head_chunk : N;
    train_acts *a = &m->a;
#define T_(field, type, count) a->field = (type *)carve(base, off, sizeof(type) * (count))
    T_(xs, float, (L + 1) * N * C);
    T_(ln1, bf16, L * N * C);
    T_(rstd1, float, L * N);
    T_(qkv, bf16, L * N * qkvdim);
    T_(att, bf16, L * N * qdim);
    T_(lse, float, L * N * H);
    T_(x2, float, L * N * C);
    T_(ln2, bf16, L * N * C);
    T_(rstd2, float, L * N);
    T_(gu, bf16, L * N * 2 * I);
    T_(h, bf16, L * N * I);
    T_(rstdf, float, N);
    T_(lnf, bf16, N * C);
    T_(sel_x, bf16, N * C);
    T_(head_lse, float, N);
    T_(tokens, int32_t, N);
    T_(sel, int32_t, N);
    T_(sel_tg, int32_t, N);
    T_(f_qkv, float, N * qkvdim);
    T_(dh, bf16, N * I);
    T_(dx, float, N * C);
    T_(dx16, bf16, N * C);
    T_(dln, float, N * C);
    T_(dgu16, bf16, N * 2 * I);
    T_(datt16, bf16, N * qdim);
    T_(dqkv16, bf16, N * qkvdim);
    T_(Dbuf, float, N * H);
    T_(dsel, float, N * C);
    T_(lp, float, N);
    T_(ent, float, N);
    T_(dlp, float, N);
    T_(out_lp, float, N);
    T_(out_ent, float, N);
    T_(logits, float, ch * V);
    T_(dlogits, bf16, ch * V);
#undef T_
}

static int ensure_acts(rn_model *m, int N) {
    if (m->cap_N >= N) return RN_OK;
    cudaFree(m->acts_mem);
    m->acts_mem = NULL;
    m->cap_N = 0;
    m->have_acts = 0;
    size_t off = 0;
    layout_acts(m, NULL, &off, N);
    if (cudaMalloc(&m->acts_mem, off) != cudaSuccess) {
        m->acts_mem = NULL;
        cudaGetLastError();
        return model_err(m, RN_ERR_NOMEM, "cannot allocate %.1f GiB of activations for %d positions on the GPU",
                         off / 1073741824.0, N);
    }
    off = 0;
    layout_acts(m, (char *)m->acts_mem, &off, N);
    m->cap_N = N;
    return RN_OK;
}

static int head_chunk_rows(const rn_model *m) { return m->head_chunk < m->cap_N ? m->head_chunk : m->cap_N; }

/* ---------------- forward ---------------- */

extern "C" int rn_forward(rn_model *m, const rn_batch *bt, float *logprobs, float *entropy) {
    if (batch_check(m, bt, logprobs, m->cfg.max_seq_len)) return RN_ERR_ARG;
    if ((bt->temperature > 0 && bt->temperature != 1) || (bt->top_p > 0 && bt->top_p < 1))
        return model_err(m, RN_ERR_ARG,
                         "forward at temperature %g, top_p %g: the CUDA backend computes log-probabilities of the "
                         "model's own distribution only (temperature 1, top_p 1); use the CPU backend",
                         bt->temperature, bt->top_p);
    const int B = bt->B, T = bt->T, N = B * T, C = m->C, I = m->I, V = m->V;
    for (int i = 0; i < N; i++)
        if (bt->tokens[i] < 0 || bt->tokens[i] >= V)
            return model_err(m, RN_ERR_ARG, "tokens[%d] = %d is outside the vocabulary [0, %d)", i, bt->tokens[i], V);
    int32_t *hsel = (int32_t *)malloc(sizeof(int32_t) * 2 * (size_t)N);
    if (!hsel) return model_err(m, RN_ERR_NOMEM, "cannot allocate %d indices", N);
    int32_t *htg = hsel + N;
    int n_sel = 0;
    for (int n = 0; n < N; n++) {
        if (!bt->mask || bt->mask[n] != 0) {
            if (bt->targets[n] < 0 || bt->targets[n] >= V) {
                free(hsel);
                return model_err(m, RN_ERR_ARG, "targets[%d] = %d is outside the vocabulary [0, %d)", n,
                                 bt->targets[n], V);
            }
            htg[n_sel] = bt->targets[n];
            hsel[n_sel++] = n;
        }
    }
    m->have_acts = 0;
    int rc = ensure_acts(m, N);
    if (rc) {
        free(hsel);
        return rc;
    }
    m->B = B;
    m->T = T;
    m->n_sel = n_sel;
    train_acts *a = &m->a;
    cudaStream_t s = m->stream;
    cudaMemcpyAsync(a->tokens, bt->tokens, sizeof(int32_t) * N, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(a->sel, hsel, sizeof(int32_t) * n_sel, cudaMemcpyHostToDevice, s);
    cudaMemcpyAsync(a->sel_tg, htg, sizeof(int32_t) * n_sel, cudaMemcpyHostToDevice, s);
    cudaStreamSynchronize(s);
    free(hsel);
    const size_t NC = (size_t)N * C;
    const float eps = m->cfg.rms_norm_eps;
    prof_begin(m, P_FWD);
    k_embed(s, a->xs, a->tokens, m->p32 + m->tt.embed, N, C);
    for (int l = 0; l < m->L; l++) {
        const layer_off *o = &m->tt.lo[l];
        float *x = a->xs + l * NC, *x2 = a->x2 + l * NC, *next = a->xs + (l + 1) * NC;
        bf16 *ln1 = a->ln1 + l * NC, *ln2 = a->ln2 + l * NC, *qkv = a->qkv + (size_t)l * N * m->qkvdim;
        bf16 *att = a->att + (size_t)l * N * m->qdim, *gu = a->gu + (size_t)l * N * 2 * I;
        k_rmsnorm(s, ln1, a->rstd1 + (size_t)l * N, x, m->p32 + o->ln1, N, C, eps);
        if ((rc = gemm_nt(m, a->f_qkv, 0, ln1, m->p16 + o->wqkv, N, m->qkvdim, C, 0.f))) return rc;
        k_bias_rope(s, qkv, a->f_qkv, m->p32 + o->bqkv, m->rope_cos, m->rope_sin, N, T, m->H, m->KVH, m->hd);
        prof_begin(m, P_ATTN_F);
        k_attn_forward(s, att, a->lse + (size_t)l * N * m->H, qkv, B, T, m->H, m->KVH, m->hd);
        prof_end(m);
        CUDA_TRY(m, cudaMemcpyAsync(x2, x, sizeof(float) * NC, cudaMemcpyDeviceToDevice, s));
        if ((rc = gemm_nt(m, x2, 0, att, m->p16 + o->wo, N, C, m->qdim, 1.f))) return rc;
        k_rmsnorm(s, ln2, a->rstd2 + (size_t)l * N, x2, m->p32 + o->ln2, N, C, eps);
        if ((rc = gemm_nt(m, gu, 1, ln2, m->p16 + o->wgu, N, 2 * I, C, 0.f))) return rc;
        bf16 *hh = a->h + (size_t)l * N * I;
        k_swiglu(s, hh, gu, N, I);
        CUDA_TRY(m, cudaMemcpyAsync(next, x2, sizeof(float) * NC, cudaMemcpyDeviceToDevice, s));
        if ((rc = gemm_nt(m, next, 0, hh, m->p16 + o->wdown, N, C, I, 1.f))) return rc;
    }
    LAUNCH_TRY(m);
    k_rmsnorm(s, a->lnf, a->rstdf, a->xs + m->L * NC, m->p32 + m->tt.lnf, N, C, eps);
    k_gather_rows_bf16(s, a->sel_x, a->lnf, a->sel, n_sel, C);
    const int ch = head_chunk_rows(m);
    prof_begin(m, P_HEAD_F);
    for (int c0 = 0; c0 < n_sel; c0 += ch) {
        int r = n_sel - c0 < ch ? n_sel - c0 : ch;
        if ((rc = gemm_nt(m, a->logits, 0, a->sel_x + (size_t)c0 * C, m->p16 + m->tt.head, r, V, C, 0.f)))
            return rc;
        k_head_rows(s, a->lp + c0, entropy ? a->ent + c0 : NULL, a->head_lse + c0, a->logits, a->sel_tg + c0, r, V);
    }
    prof_end(m);
    CUDA_TRY(m, cudaMemsetAsync(a->out_lp, 0, sizeof(float) * N, s));
    k_scatter_f32(s, a->out_lp, a->lp, a->sel, n_sel);
    prof_end(m);
    CUDA_TRY(m, cudaMemcpyAsync(logprobs, a->out_lp, sizeof(float) * N, cudaMemcpyDeviceToHost, s));
    if (entropy) {
        CUDA_TRY(m, cudaMemsetAsync(a->out_ent, 0, sizeof(float) * N, s));
        k_scatter_f32(s, a->out_ent, a->ent, a->sel, n_sel);
        CUDA_TRY(m, cudaMemcpyAsync(entropy, a->out_ent, sizeof(float) * N, cudaMemcpyDeviceToHost, s));
    }
    if ((rc = sync_check(m))) return rc;
    m->have_acts = 1;
    return RN_OK;
}

/* ---------------- backward ---------------- */

extern "C" int rn_backward(rn_model *m, const float *dlogprobs) {
    if (!m->have_acts) return model_err(m, RN_ERR_STATE, "backward needs a forward first");
    if (!dlogprobs) return model_err(m, RN_ERR_ARG, "backward needs dlogprobs");
    int rc = ensure_buffer(m, RN_GRADS);
    if (rc) return rc;
    const int B = m->B, T = m->T, N = B * T, C = m->C, I = m->I, V = m->V, qkvdim = m->qkvdim, qdim = m->qdim;
    const size_t NC = (size_t)N * C;
    train_acts *a = &m->a;
    cudaStream_t s = m->stream;
    float *G = m->grads;
    prof_begin(m, P_BWD);
    prof_begin(m, P_HEAD_B);
    // output head on the gathered rows
    CUDA_TRY(m, cudaMemcpyAsync(a->out_lp, dlogprobs, sizeof(float) * N, cudaMemcpyHostToDevice, s));
    k_gather_f32(s, a->dlp, a->out_lp, a->sel, m->n_sel);
    const int ch = head_chunk_rows(m);
    for (int c0 = 0; c0 < m->n_sel; c0 += ch) {
        int r = m->n_sel - c0 < ch ? m->n_sel - c0 : ch;
        const bf16 *xs = a->sel_x + (size_t)c0 * C;
        if ((rc = gemm_nt(m, a->logits, 0, xs, m->p16 + m->tt.head, r, V, C, 0.f))) return rc;
        k_head_drows(s, a->dlogits, a->logits, a->dlp + c0, a->head_lse + c0, a->sel_tg + c0, r, V);
        if ((rc = gemm_nn(m, a->dsel + (size_t)c0 * C, 0, a->dlogits, m->p16 + m->tt.head, r, C, V, 0.f)))
            return rc;
        if ((rc = gemm_tn(m, G + m->tt.head, 0, a->dlogits, xs, V, C, r, 1.f))) return rc;
    }
    prof_end(m);
    CUDA_TRY(m, cudaMemsetAsync(a->dln, 0, sizeof(float) * NC, s));
    k_scatter_rows_f32(s, a->dln, a->dsel, a->sel, m->n_sel, C);
    CUDA_TRY(m, cudaMemsetAsync(a->dx, 0, sizeof(float) * NC, s));
    k_rmsnorm_backward(s, a->dx, a->dx16, G + m->tt.lnf, a->dln, a->xs + m->L * NC, m->p32 + m->tt.lnf, a->rstdf,
                       N, C);

    for (int l = m->L - 1; l >= 0; l--) {
        const layer_off *o = &m->tt.lo[l];
        float *x = a->xs + l * NC, *x2 = a->x2 + l * NC;
        bf16 *ln1 = a->ln1 + l * NC, *ln2 = a->ln2 + l * NC, *qkv = a->qkv + (size_t)l * N * qkvdim;
        bf16 *att = a->att + (size_t)l * N * qdim, *gu = a->gu + (size_t)l * N * 2 * I;
        // next = x2 + swiglu(ln2 @ wgu^T) @ wdown^T; dx16 holds dx in bf16
        bf16 *hh = a->h + (size_t)l * N * I;
        if ((rc = gemm_tn(m, G + o->wdown, 0, a->dx16, hh, C, I, N, 1.f))) return rc;
        if ((rc = gemm_nn(m, a->dh, 1, a->dx16, m->p16 + o->wdown, N, I, C, 0.f))) return rc;
        k_swiglu_backward(s, a->dgu16, a->dh, gu, N, I);
        if ((rc = gemm_tn(m, G + o->wgu, 0, a->dgu16, ln2, 2 * I, C, N, 1.f))) return rc;
        if ((rc = gemm_nn(m, a->dln, 0, a->dgu16, m->p16 + o->wgu, N, C, 2 * I, 0.f))) return rc;
        k_rmsnorm_backward(s, a->dx, a->dx16, G + o->ln2, a->dln, x2, m->p32 + o->ln2, a->rstd2 + (size_t)l * N, N,
                           C);
        // x2 = x + att @ wo^T
        if ((rc = gemm_tn(m, G + o->wo, 0, a->dx16, att, C, qdim, N, 1.f))) return rc;
        if ((rc = gemm_nn(m, a->datt16, 1, a->dx16, m->p16 + o->wo, N, qdim, C, 0.f))) return rc;
        k_attn_D(s, a->Dbuf, a->datt16, att, N, m->H, m->hd);
        CUDA_TRY(m, cudaMemsetAsync(a->f_qkv, 0, sizeof(float) * N * qkvdim, s));
        prof_begin(m, P_ATTN_B);
        k_attn_backward(s, a->f_qkv, a->datt16, qkv, a->lse + (size_t)l * N * m->H, a->Dbuf, B, T, m->H, m->KVH,
                        m->hd);
        prof_end(m);
        k_rope_backward(s, a->f_qkv, a->dqkv16, m->rope_cos, m->rope_sin, N, T, m->H, m->KVH, m->hd);
        k_colsum(s, G + o->bqkv, a->f_qkv, N, qkvdim);
        if ((rc = gemm_tn(m, G + o->wqkv, 0, a->dqkv16, ln1, qkvdim, C, N, 1.f))) return rc;
        if ((rc = gemm_nn(m, a->dln, 0, a->dqkv16, m->p16 + o->wqkv, N, C, qkvdim, 0.f))) return rc;
        k_rmsnorm_backward(s, a->dx, a->dx16, G + o->ln1, a->dln, x, m->p32 + o->ln1, a->rstd1 + (size_t)l * N, N, C);
    }
    k_embed_backward(s, G + m->tt.embed, a->dx, a->tokens, N, C);
    prof_end(m);
    return sync_check(m);
}

extern "C" int rn_zero_grad(rn_model *m) {
    int rc = ensure_buffer(m, RN_GRADS);
    if (rc) return rc;
    CUDA_TRY(m, cudaMemsetAsync(m->grads, 0, sizeof(float) * m->n_params, m->stream));
    return sync_check(m);
}

/* ---------------- AdamW ---------------- */

extern "C" int64_t rn_get_step(const rn_model *m) { return m->step; }
extern "C" void rn_set_step(rn_model *m, int64_t t) { m->step = t; }

extern "C" int rn_step(rn_model *m, const rn_adamw *o, float *grad_norm) {
    if (adamw_check(m, o)) return RN_ERR_ARG;
    if (!m->grads) return model_err(m, RN_ERR_STATE, "step needs gradients (run backward first)");
    int rc;
    if ((rc = ensure_buffer(m, RN_ADAM_M)) || (rc = ensure_buffer(m, RN_ADAM_V))) return rc;
    double *dss = k_sumsq(m->stream, m->grads, m->n_params, m->norm_part, m->n_norm_part);
    double ss = 0;
    CUDA_TRY(m, cudaMemcpyAsync(&ss, dss, sizeof(double), cudaMemcpyDeviceToHost, m->stream));
    if ((rc = sync_check(m))) return rc;
    double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    float clip, bc1, bc2;
    m->step++;
    adamw_scalars(o, norm, m->step, &clip, &bc1, &bc2);
    prof_begin(m, P_STEP);
    for (int t = 0; t < m->tt.n; t++) {
        const tensor_slot *ts = &m->tt.slots[t];
        float wd = ts->ndim == 2 ? o->weight_decay : 0.0f;
        size_t off = ts->offset;
        k_adamw(m->stream, m->p32 + off, m->p16 + off, m->grads + off, m->adam_m + off, m->adam_v + off, ts->numel,
                clip, o->lr, o->beta1, o->beta2, o->eps, wd, bc1, bc2);
    }
    prof_end(m);
    return sync_check(m);
}

/* ---------------- a plain fp32 product, for benchmarks and tests ---------------- */

extern "C" void rn_sgemm_nt(float *out, const float *a, const float *b, int M, int N, int K, int n_threads) {
    (void)n_threads;
    static cublasHandle_t h = NULL;
    if (!h && cublasCreate(&h) != CUBLAS_STATUS_SUCCESS) return;
    float *da = NULL, *db = NULL, *dc = NULL;
    if (cudaMalloc(&da, sizeof(float) * (size_t)M * K) != cudaSuccess ||
        cudaMalloc(&db, sizeof(float) * (size_t)N * K) != cudaSuccess ||
        cudaMalloc(&dc, sizeof(float) * (size_t)M * N) != cudaSuccess)
        goto done;
    cudaMemcpy(da, a, sizeof(float) * (size_t)M * K, cudaMemcpyHostToDevice);
    cudaMemcpy(db, b, sizeof(float) * (size_t)N * K, cudaMemcpyHostToDevice);
    {
        float one = 1.0f, zero = 0.0f;
        cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, db, K, da, K, &zero, dc, N);
    }
    cudaMemcpy(out, dc, sizeof(float) * (size_t)M * N, cudaMemcpyDeviceToHost);
done:
    cudaFree(da);
    cudaFree(db);
    cudaFree(dc);
}
