/*
 * cpu_model.c — the Qwen2 model on the CPU: create, weights by name,
 * forward to target log-probabilities, backward, AdamW.
 *
 * Memory: one arena for the weights, laid out per layer as
 *   ln1 | q_proj k_proj v_proj (stacked, one matmul) | q/k/v biases | o_proj |
 *   ln2 | gate_proj up_proj (stacked, one matmul) | down_proj
 * after the embedding and before the final norm and an untied lm_head; the
 * gradients and both Adam moments are arenas of the same layout, allocated
 * when first needed (a reference model never has them). Activations for
 * backward live in one more arena sized for the largest batch seen.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "cpu_internal.h"

DEFINE_MODEL_ERR

const char *rn_model_error(const rn_model *m) { return m ? m->err : "no model"; }

int rn_model_create(const rn_config *cfg, rn_model **out) {
    *out = NULL;
    if (config_check(cfg)) return RN_ERR_ARG;
    rn_model *m = calloc(1, sizeof *m);
    if (!m) return RN_ERR_NOMEM;
    m->cfg = *cfg;
    SET_DIMS(m, cfg);
    m->nt = cfg->n_threads;
#ifdef _OPENMP
    if (m->nt <= 0) m->nt = omp_get_num_procs();
#endif
    if (m->nt <= 0) m->nt = 1;

    int C = m->C, I = m->I, L = m->L;
    m->tt.slots = calloc(table_slots(L), sizeof(tensor_slot));
    m->tt.lo = calloc(L, sizeof(layer_off));
    m->layers = calloc(L, sizeof(layer_params));
    if (!m->tt.slots || !m->tt.lo || !m->layers) goto nomem;
    table_build(&m->tt, (table_dims){.V = m->V, .C = C, .I = I, .qdim = m->qdim, .kvdim = m->kvdim, .L = L,
                                     .tie = cfg->tie_word_embeddings});
    m->n_params = m->tt.n_params;
    m->params = calloc(m->n_params, sizeof(float));
    if (!m->params) goto nomem;
    m->embed = m->params + m->tt.embed;
    m->lnf = m->params + m->tt.lnf;
    m->lm_head = m->params + m->tt.head;
    for (int l = 0; l < L; l++) {
        const layer_off *o = &m->tt.lo[l];
        layer_params *p = &m->layers[l];
        p->ln1 = m->params + o->ln1;
        p->wqkv = m->params + o->wqkv;
        p->bqkv = m->params + o->bqkv;
        p->wo = m->params + o->wo;
        p->ln2 = m->params + o->ln2;
        p->wgu = m->params + o->wgu;
        p->wdown = m->params + o->wdown;
    }

    int half = m->hd / 2, T = cfg->max_seq_len;
    m->rope_cos = malloc(sizeof(float) * (size_t)T * half);
    m->rope_sin = malloc(sizeof(float) * (size_t)T * half);
    if (!m->rope_cos || !m->rope_sin) goto nomem;
    rope_tables(m->rope_cos, m->rope_sin, T, m->hd, cfg->rope_theta);
    // rows of logits per head chunk: about 16M floats, between 8 and 256 rows
    int chunk = (int)((1 << 24) / m->V);
    m->head_chunk = chunk < 8 ? 8 : chunk > 256 ? 256 : chunk;
    *out = m;
    return RN_OK;
nomem:
    rn_model_free(m);
    return RN_ERR_NOMEM;
}

void rn_model_free(rn_model *m) {
    if (!m) return;
    free(m->tt.slots);
    free(m->tt.lo);
    free(m->layers);
    free(m->params);
    free(m->grads);
    free(m->adam_m);
    free(m->adam_v);
    free(m->rope_cos);
    free(m->rope_sin);
    free(m->acts);
    free(m->la);
    free(m);
}

/* ---------------- weights by name ---------------- */

int rn_num_tensors(const rn_model *m) { return m->tt.n; }

int rn_tensor_info_at(const rn_model *m, int i, rn_tensor_info *out) { return table_info_at(&m->tt, i, out); }

int rn_tensor_index(const rn_model *m, const char *name) { return table_index(&m->tt, name); }

static float *slot_buffer(rn_model *m, int which) {
    switch (which) {
    case RN_WEIGHTS: return m->params;
    case RN_GRADS: return m->grads;
    case RN_ADAM_M: return m->adam_m;
    case RN_ADAM_V: return m->adam_v;
    }
    return NULL;
}

static int ensure_buffer(rn_model *m, int which) {
    float **p = which == RN_GRADS ? &m->grads : which == RN_ADAM_M ? &m->adam_m : which == RN_ADAM_V ? &m->adam_v : NULL;
    if (!p) return RN_OK;
    if (!*p) {
        *p = calloc(m->n_params, sizeof(float));
        if (!*p) return model_err(m, RN_ERR_NOMEM, "cannot allocate %zu floats for optimizer state", m->n_params);
    }
    return RN_OK;
}

int ensure_grads(rn_model *m) { return ensure_buffer(m, RN_GRADS); }

int rn_tensor_read(rn_model *m, int which, int i, float *dst) {
    if (tensor_arg_check(m, m->tt.n, which, i)) return RN_ERR_ARG;
    const tensor_slot *t = &m->tt.slots[i];
    float *buf = slot_buffer(m, which);
    if (!buf)
        memset(dst, 0, sizeof(float) * t->numel);
    else
        memcpy(dst, buf + t->offset, sizeof(float) * t->numel);
    return RN_OK;
}

int rn_tensor_write(rn_model *m, int which, int i, const float *src) {
    if (tensor_arg_check(m, m->tt.n, which, i)) return RN_ERR_ARG;
    int rc = ensure_buffer(m, which);
    if (rc) return rc;
    const tensor_slot *t = &m->tt.slots[i];
    memcpy(slot_buffer(m, which) + t->offset, src, sizeof(float) * t->numel);
    return RN_OK;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int rn_init_weights(rn_model *m, uint64_t seed, float std) {
    for (int i = 0; i < m->tt.n; i++) {
        const tensor_slot *t = &m->tt.slots[i];
        float *p = m->params + t->offset, v;
        if (init_constant(t, &v)) {
            for (int64_t k = 0; k < t->numel; k++) p[k] = v;
            continue;
        }
        uint64_t s = init_seed(seed, i);
        for (int64_t k = 0; k < t->numel; k += 2) {  // Box-Muller
            double u1 = ((splitmix64(&s) >> 11) + 1.0) * 0x1.0p-53, u2 = (splitmix64(&s) >> 11) * 0x1.0p-53;
            double r = sqrt(-2.0 * log(u1));
            p[k] = (float)(std * r * cos(2 * M_PI * u2));
            if (k + 1 < t->numel) p[k + 1] = (float)(std * r * sin(2 * M_PI * u2));
        }
    }
    return RN_OK;
}

/* ---------------- activations ---------------- */

// Backward scratch, after the per-layer activations in the same arena.
typedef struct {
    float *h;     // (N, I) swiglu output, forward and backward
    float *dx;    // (N, C) running gradient of the residual stream
    float *dln;   // (N, max(C, qdim))
    float *dbig;  // (N, max(2I, qkvdim))
    float *dsel;  // (N, C) gradient of the gathered final-norm rows
    float *dlp;   // (N)
} bw_scratch;

static bw_scratch bw_of(rn_model *m);

static size_t per_layer_floats(const rn_model *m, size_t N) {
    return N * (4 * (size_t)m->C + m->qkvdim + m->qdim + m->H + 2 * (size_t)m->I + 2);
}

static size_t maxz(size_t a, size_t b) { return a > b ? a : b; }

static size_t scratch_floats(const rn_model *m, size_t N) {
    size_t big = maxz(2 * (size_t)m->I, m->qkvdim);
    return N * ((size_t)m->I + m->C + maxz(m->C, m->qdim) + big + m->C + 1);
}

static int ensure_acts(rn_model *m, int N) {
    if (m->cap_N >= N) return RN_OK;
    free(m->acts);
    free(m->la);
    m->acts = NULL;
    m->la = NULL;
    m->cap_N = 0;
    m->have_acts = 0;
    size_t n = N, C = m->C, V = m->V, ch = m->head_chunk;
    size_t total = per_layer_floats(m, n) * m->L + n * (3 * C + 3) + n * C + ch * V + scratch_floats(m, n);
    total += 5 * n;  // int32 arrays stored in the float arena (same size)
    m->acts = malloc(total * sizeof(float));
    m->la = calloc(m->L, sizeof(layer_acts));
    if (!m->acts || !m->la) return model_err(m, RN_ERR_NOMEM, "cannot allocate activations for %d positions", N);
    float *p = m->acts;
#define TAKE(ptr, count) do { ptr = p; p += (count); } while (0)
    for (int l = 0; l < m->L; l++) {
        layer_acts *a = &m->la[l];
        TAKE(a->x, n * C);
        TAKE(a->ln1, n * C);
        TAKE(a->rstd1, n);
        TAKE(a->qkv, n * m->qkvdim);
        TAKE(a->att, n * m->qdim);
        TAKE(a->lse, n * m->H);
        TAKE(a->x2, n * C);
        TAKE(a->ln2, n * C);
        TAKE(a->rstd2, n);
        TAKE(a->gu, n * 2 * m->I);
    }
    TAKE(m->xf, n * C);
    TAKE(m->lnf_out, n * C);
    TAKE(m->rstdf, n);
    TAKE(m->head_lse, n);
    TAKE(m->sel_x, n * C);
    TAKE(m->head_scratch, ch * V);
    float *ip;
    TAKE(ip, n); m->tokens = (int32_t *)ip;
    TAKE(ip, n); m->targets = (int32_t *)ip;
    TAKE(ip, n); m->pos = (int32_t *)ip;
    TAKE(ip, n); m->sel = (int32_t *)ip;
    TAKE(ip, n); m->sel_tg = (int32_t *)ip;
#undef TAKE
    m->cap_N = N;
    return RN_OK;
}

static bw_scratch bw_of(rn_model *m) {
    // The scratch region sits right after the int32 arrays.
    size_t n = m->cap_N, C = m->C;
    size_t big = maxz(2 * (size_t)m->I, m->qkvdim);
    float *p = (float *)(m->sel_tg + n);
    bw_scratch s;
    s.h = p; p += n * m->I;
    s.dx = p; p += n * C;
    s.dln = p; p += n * maxz(C, m->qdim);
    s.dbig = p; p += n * big;
    s.dsel = p; p += n * C;
    s.dlp = p;
    return s;
}

/* ---------------- forward ---------------- */

static int check_tokens(rn_model *m, const int32_t *t, int n, const char *what) {
    for (int i = 0; i < n; i++)
        if (t[i] < 0 || t[i] >= m->V)
            return model_err(m, RN_ERR_ARG, "%s[%d] = %d is outside the vocabulary [0, %d)", what, i, t[i], m->V);
    return RN_OK;
}

int rn_forward(rn_model *m, const rn_batch *bt, float *logprobs, float *entropy) {
    if (batch_check(m, bt, logprobs, m->cfg.max_seq_len)) return RN_ERR_ARG;
    int B = bt->B, T = bt->T, N = B * T, C = m->C, I = m->I, nt = m->nt;
    if (bt->temperature < 0 || bt->top_p < 0 || bt->top_p > 1 || bt->temperature != bt->temperature ||
        bt->top_p != bt->top_p)
        return model_err(m, RN_ERR_ARG, "forward: temperature %g must be >= 0 and top_p %g in [0, 1] (0: 1)",
                         bt->temperature, bt->top_p);
    int rc = check_tokens(m, bt->tokens, N, "tokens");
    if (rc) return rc;
    m->have_acts = 0;
    m->temperature = bt->temperature;
    m->top_p = bt->top_p;
    if ((rc = ensure_acts(m, N))) return rc;
    m->B = B;
    m->T = T;
    memcpy(m->tokens, bt->tokens, sizeof(int32_t) * N);
    memcpy(m->targets, bt->targets, sizeof(int32_t) * N);
    m->n_sel = 0;
    for (int n = 0; n < N; n++) {
        m->pos[n] = n % T;
        if (!bt->mask || bt->mask[n] != 0) {
            if (bt->targets[n] < 0 || bt->targets[n] >= m->V)
                return model_err(m, RN_ERR_ARG, "targets[%d] = %d is outside the vocabulary [0, %d)", n,
                                 bt->targets[n], m->V);
            m->sel_tg[m->n_sel] = bt->targets[n];
            m->sel[m->n_sel++] = n;
        }
    }
    bw_scratch s = bw_of(m);
    embedding_forward(m->la[0].x, m->tokens, m->embed, N, C);
    for (int l = 0; l < m->L; l++) {
        layer_params *P = &m->layers[l];
        layer_acts *A = &m->la[l];
        float *next = l + 1 < m->L ? m->la[l + 1].x : m->xf;
        rmsnorm_forward(A->ln1, A->rstd1, A->x, P->ln1, N, C, m->cfg.rms_norm_eps, nt);
        matmul_nt(A->qkv, A->ln1, P->wqkv, P->bqkv, N, m->qkvdim, C, 0, nt);
        rope_forward(A->qkv, m->qkvdim, 0, m->H, m->hd, m->pos, m->rope_cos, m->rope_sin, N, nt);
        rope_forward(A->qkv, m->qkvdim, m->qdim, m->KVH, m->hd, m->pos, m->rope_cos, m->rope_sin, N, nt);
        attention_forward(A->att, A->lse, A->qkv, B, T, m->H, m->KVH, m->hd, nt);
        memcpy(A->x2, A->x, sizeof(float) * N * C);
        matmul_nt(A->x2, A->att, P->wo, NULL, N, C, m->qdim, 1, nt);
        rmsnorm_forward(A->ln2, A->rstd2, A->x2, P->ln2, N, C, m->cfg.rms_norm_eps, nt);
        matmul_nt(A->gu, A->ln2, P->wgu, NULL, N, 2 * I, C, 0, nt);
        swiglu_forward(s.h, A->gu, N, I, nt);
        memcpy(next, A->x2, sizeof(float) * N * C);
        matmul_nt(next, s.h, P->wdown, NULL, N, C, I, 1, nt);
    }
    rmsnorm_forward(m->lnf_out, m->rstdf, m->xf, m->lnf, N, C, m->cfg.rms_norm_eps, nt);
    for (int i = 0; i < m->n_sel; i++)
        memcpy(m->sel_x + (size_t)i * C, m->lnf_out + (size_t)m->sel[i] * C, sizeof(float) * C);
    // head outputs land in scratch (dlp, then the tail of dsel), then scatter
    float *lp = s.dlp, *ent = entropy ? s.dsel : NULL;
    head_forward(lp, ent, m->head_lse, m->sel_x, m->sel_tg, m->lm_head, m->n_sel, C, m->V, m->temperature,
                 m->top_p, m->head_scratch, m->head_chunk, nt);
    memset(logprobs, 0, sizeof(float) * N);
    if (entropy) memset(entropy, 0, sizeof(float) * N);
    for (int i = 0; i < m->n_sel; i++) {
        logprobs[m->sel[i]] = lp[i];
        if (entropy) entropy[m->sel[i]] = ent[i];
    }
    m->have_acts = 1;
    return RN_OK;
}

/* ---------------- backward ---------------- */

#define GRAD(m, p) ((m)->grads + ((p) - (m)->params))

int rn_backward(rn_model *m, const float *dlogprobs) {
    if (!m->have_acts) return model_err(m, RN_ERR_STATE, "backward needs a forward first");
    if (!dlogprobs) return model_err(m, RN_ERR_ARG, "backward needs dlogprobs");
    int rc = ensure_grads(m);
    if (rc) return rc;
    int B = m->B, T = m->T, N = B * T, C = m->C, I = m->I, nt = m->nt;
    int qkvdim = m->qkvdim, qdim = m->qdim;
    bw_scratch s = bw_of(m);

    // output head, on the gathered rows; then back to (N, C)
    for (int i = 0; i < m->n_sel; i++) s.dlp[i] = dlogprobs[m->sel[i]];
    memset(s.dsel, 0, sizeof(float) * m->n_sel * C);
    head_backward(s.dsel, GRAD(m, m->lm_head), s.dlp, m->sel_x, m->sel_tg, m->lm_head, m->head_lse, m->n_sel, C,
                  m->V, m->temperature, m->top_p, m->head_scratch, m->head_chunk, nt);
    memset(s.dln, 0, sizeof(float) * N * C);
    for (int i = 0; i < m->n_sel; i++)
        memcpy(s.dln + (size_t)m->sel[i] * C, s.dsel + (size_t)i * C, sizeof(float) * C);
    memset(s.dx, 0, sizeof(float) * N * C);
    rmsnorm_backward(s.dx, GRAD(m, m->lnf), s.dln, m->xf, m->lnf, m->rstdf, N, C, nt);

    for (int l = m->L - 1; l >= 0; l--) {
        layer_params *P = &m->layers[l];
        layer_acts *A = &m->la[l];
        // out = x2 + swiglu(ln2 @ wgu^T) @ wdown^T
        swiglu_forward(s.h, A->gu, N, I, nt);
        matmul_tn_acc(GRAD(m, P->wdown), s.dx, s.h, C, I, N, nt);  // (C, I) += dx^T h
        memset(s.h, 0, sizeof(float) * N * I);                      // now dh
        matmul_nn_acc(s.h, s.dx, P->wdown, N, I, C, nt);
        memset(s.dbig, 0, sizeof(float) * N * 2 * I);  // dgu
        swiglu_backward(s.dbig, s.h, A->gu, N, I, nt);
        matmul_tn_acc(GRAD(m, P->wgu), s.dbig, A->ln2, 2 * I, C, N, nt);
        memset(s.dln, 0, sizeof(float) * N * C);
        matmul_nn_acc(s.dln, s.dbig, P->wgu, N, C, 2 * I, nt);
        rmsnorm_backward(s.dx, GRAD(m, P->ln2), s.dln, A->x2, P->ln2, A->rstd2, N, C, nt);  // dx: d x2
        // x2 = x + att @ wo^T
        matmul_tn_acc(GRAD(m, P->wo), s.dx, A->att, C, qdim, N, nt);
        memset(s.dln, 0, sizeof(float) * N * qdim);  // datt
        matmul_nn_acc(s.dln, s.dx, P->wo, N, qdim, C, nt);
        memset(s.dbig, 0, sizeof(float) * N * qkvdim);  // dqkv
        attention_backward(s.dbig, s.dln, A->qkv, A->att, A->lse, B, T, m->H, m->KVH, m->hd, nt);
        rope_backward(s.dbig, qkvdim, 0, m->H, m->hd, m->pos, m->rope_cos, m->rope_sin, N, nt);
        rope_backward(s.dbig, qkvdim, qdim, m->KVH, m->hd, m->pos, m->rope_cos, m->rope_sin, N, nt);
        bias_backward(GRAD(m, P->bqkv), s.dbig, N, qkvdim, nt);
        matmul_tn_acc(GRAD(m, P->wqkv), s.dbig, A->ln1, qkvdim, C, N, nt);
        memset(s.dln, 0, sizeof(float) * N * C);
        matmul_nn_acc(s.dln, s.dbig, P->wqkv, N, C, qkvdim, nt);
        rmsnorm_backward(s.dx, GRAD(m, P->ln1), s.dln, A->x, P->ln1, A->rstd1, N, C, nt);  // dx: d x
    }
    embedding_backward(GRAD(m, m->embed), s.dx, m->tokens, N, C);
    return RN_OK;
}

int rn_zero_grad(rn_model *m) {
    int rc = ensure_grads(m);
    if (rc) return rc;
    memset(m->grads, 0, sizeof(float) * m->n_params);
    return RN_OK;
}

/* ---------------- AdamW ---------------- */

int64_t rn_get_step(const rn_model *m) { return m->step; }
void rn_set_step(rn_model *m, int64_t t) { m->step = t; }

int rn_step(rn_model *m, const rn_adamw *o, float *grad_norm) {
    if (adamw_check(m, o)) return RN_ERR_ARG;
    if (!m->grads) return model_err(m, RN_ERR_STATE, "step needs gradients (run backward first)");
    int rc;
    if ((rc = ensure_buffer(m, RN_ADAM_M)) || (rc = ensure_buffer(m, RN_ADAM_V))) return rc;
    // the global norm, summed in fixed blocks so the result does not depend on threads
    const size_t BLK = 1 << 16;
    size_t nblk = (m->n_params + BLK - 1) / BLK;
    double *part = malloc(sizeof(double) * nblk);
    if (!part) return model_err(m, RN_ERR_NOMEM, "cannot allocate the norm buffer");
#pragma omp parallel for num_threads(m->nt)
    for (size_t b = 0; b < nblk; b++) {
        size_t e = (b + 1) * BLK < m->n_params ? (b + 1) * BLK : m->n_params;
        double acc = 0;
        for (size_t i = b * BLK; i < e; i++) acc += (double)m->grads[i] * m->grads[i];
        part[b] = acc;
    }
    double ss = 0;
    for (size_t b = 0; b < nblk; b++) ss += part[b];
    free(part);
    double norm = sqrt(ss);
    if (grad_norm) *grad_norm = (float)norm;
    float clip, bc1, bc2;
    m->step++;
    adamw_scalars(o, norm, m->step, &clip, &bc1, &bc2);
    for (int t = 0; t < m->tt.n; t++) {
        const tensor_slot *ts = &m->tt.slots[t];
        float wd = ts->ndim == 2 ? o->weight_decay : 0.0f;
        float *p = m->params + ts->offset, *g = m->grads + ts->offset;
        float *mm = m->adam_m + ts->offset, *vv = m->adam_v + ts->offset;
#pragma omp parallel for num_threads(m->nt) if (ts->numel > 4096)
        for (int64_t i = 0; i < ts->numel; i++) {
            float gi = g[i] * clip;
            mm[i] = o->beta1 * mm[i] + (1 - o->beta1) * gi;
            vv[i] = o->beta2 * vv[i] + (1 - o->beta2) * gi * gi;
            float mh = mm[i] / bc1, vh = vv[i] / bc2;
            p[i] -= o->lr * (wd * p[i] + mh / (sqrtf(vh) + o->eps));
        }
    }
    return RN_OK;
}
