/* The host side of a model, shared by both backends: the config check and
 * the dimensions derived from it, the tensor table, the rotary tables, how
 * each tensor is initialised, the argument checks of the ABI's calls and
 * AdamW's scalars.
 *
 * A model's weights live in one arena per buffer (weights, gradients, the
 * two AdamW moments); the table names each tensor as Hugging Face's Qwen2
 * checkpoints do, with its shape and its offset into the arenas. The CPU
 * backend (cpu_model.c) and the CUDA backend (cuda/model.cu) build it with
 * the same function, so that a checkpoint written by one is read by the
 * other tensor for tensor, and answer rn_num_tensors, rn_tensor_info_at and
 * rn_tensor_index from it.
 *
 * Header-only (static inline) plain C: gcc compiles it into the CPU backend
 * and nvcc into the CUDA one, each a separate shared object. */
#ifndef RN_MODEL_HOST_H
#define RN_MODEL_HOST_H

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "resyn_native.h"

typedef struct {
    char name[96];
    int ndim;
    int64_t shape[2];
    int64_t numel;
    size_t offset;  // into the arenas, in elements
} tensor_slot;

// Where one decoder layer's tensors start in the arenas. The tensors that
// the kernels use together are adjacent: q, k and v (weights, then biases),
// and gate and up.
typedef struct {
    size_t ln1, wqkv, bqkv, wo, ln2, wgu, wdown;
} layer_off;

// The dimensions the table depends on.
typedef struct {
    int V, C, I, qdim, kvdim, L;
    int tie;  // lm_head shares the embedding
} table_dims;

// The whole layout: slots (room for table_slots(L)) and lo (L entries) are
// the caller's; the rest is filled in.
typedef struct {
    tensor_slot *slots;
    int n;
    layer_off *lo;
    size_t embed, lnf, head;  // head == embed when tied
    size_t n_params;
} tensor_table;

static inline size_t table_slots(int L) { return (size_t)L * 12 + 3; }

static inline void table_add(tensor_table *t, size_t *off, const char *name, int ndim, int64_t d0, int64_t d1) {
    tensor_slot *s = &t->slots[t->n++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = ndim == 2 ? d1 : 1;
    s->numel = d0 * s->shape[1];
    s->offset = *off;
    *off += (size_t)s->numel;
}

// table_build lays the tensors out in checkpoint order.
static inline void table_build(tensor_table *t, table_dims d) {
    size_t off = 0;
    char name[96];
    t->n = 0;
    t->embed = off;
    table_add(t, &off, "model.embed_tokens.weight", 2, d.V, d.C);
    for (int l = 0; l < d.L; l++) {
        layer_off *o = &t->lo[l];
#define RN_LAYER_TENSOR(suffix, ndim, d0, d1)                                   \
    do {                                                                        \
        snprintf(name, sizeof name, "model.layers.%d.%s", l, suffix);          \
        table_add(t, &off, name, ndim, d0, d1);                                 \
    } while (0)
        o->ln1 = off;
        RN_LAYER_TENSOR("input_layernorm.weight", 1, d.C, 1);
        o->wqkv = off;
        RN_LAYER_TENSOR("self_attn.q_proj.weight", 2, d.qdim, d.C);
        RN_LAYER_TENSOR("self_attn.k_proj.weight", 2, d.kvdim, d.C);
        RN_LAYER_TENSOR("self_attn.v_proj.weight", 2, d.kvdim, d.C);
        o->bqkv = off;
        RN_LAYER_TENSOR("self_attn.q_proj.bias", 1, d.qdim, 1);
        RN_LAYER_TENSOR("self_attn.k_proj.bias", 1, d.kvdim, 1);
        RN_LAYER_TENSOR("self_attn.v_proj.bias", 1, d.kvdim, 1);
        o->wo = off;
        RN_LAYER_TENSOR("self_attn.o_proj.weight", 2, d.C, d.qdim);
        o->ln2 = off;
        RN_LAYER_TENSOR("post_attention_layernorm.weight", 1, d.C, 1);
        o->wgu = off;
        RN_LAYER_TENSOR("mlp.gate_proj.weight", 2, d.I, d.C);
        RN_LAYER_TENSOR("mlp.up_proj.weight", 2, d.I, d.C);
        o->wdown = off;
        RN_LAYER_TENSOR("mlp.down_proj.weight", 2, d.C, d.I);
#undef RN_LAYER_TENSOR
    }
    t->lnf = off;
    table_add(t, &off, "model.norm.weight", 1, d.C, 1);
    t->head = t->embed;
    if (!d.tie) {
        t->head = off;
        table_add(t, &off, "lm_head.weight", 2, d.V, d.C);
    }
    t->n_params = off;
}

static inline int table_info_at(const tensor_table *t, int i, rn_tensor_info *out) {
    if (i < 0 || i >= t->n) return RN_ERR_ARG;
    const tensor_slot *s = &t->slots[i];
    out->name = s->name;
    out->ndim = s->ndim;
    out->shape[0] = s->shape[0];
    out->shape[1] = s->shape[1];
    out->numel = s->numel;
    return RN_OK;
}

static inline int table_index(const tensor_table *t, const char *name) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->slots[i].name, name) == 0) return i;
    return -1;
}

// config_check is RN_OK for a config both backends can build: positive
// sizes, heads dividing the hidden size and the query heads, an even head
// dimension (rotary pairs), a positive norm epsilon and rotary base.
static inline int config_check(const rn_config *cfg) {
    if (!cfg || cfg->vocab_size <= 0 || cfg->hidden_size <= 0 || cfg->intermediate_size <= 0 ||
        cfg->n_layers <= 0 || cfg->n_heads <= 0 || cfg->n_kv_heads <= 0 || cfg->max_seq_len <= 0)
        return RN_ERR_ARG;
    if (cfg->hidden_size % cfg->n_heads || cfg->n_heads % cfg->n_kv_heads ||
        (cfg->hidden_size / cfg->n_heads) % 2 || cfg->rms_norm_eps <= 0 || cfg->rope_theta <= 0)
        return RN_ERR_ARG;
    return RN_OK;
}

// SET_DIMS fills the dimension fields that both backends' rn_model has
// under the same names from a checked config.
#define SET_DIMS(m, cfg)                            \
    do {                                            \
        (m)->C = (cfg)->hidden_size;                \
        (m)->I = (cfg)->intermediate_size;          \
        (m)->H = (cfg)->n_heads;                    \
        (m)->KVH = (cfg)->n_kv_heads;               \
        (m)->hd = (m)->C / (m)->H;                  \
        (m)->qdim = (m)->H * (m)->hd;               \
        (m)->kvdim = (m)->KVH * (m)->hd;            \
        (m)->qkvdim = (m)->qdim + 2 * (m)->kvdim;   \
        (m)->V = (cfg)->vocab_size;                 \
        (m)->L = (cfg)->n_layers;                   \
    } while (0)

// rope_tables fills cos_t and sin_t, (T, hd/2) each: angle = pos *
// theta^(-2d/hd), computed in double.
static inline void rope_tables(float *cos_t, float *sin_t, int T, int hd, double theta) {
    int half = hd / 2;
    for (int t = 0; t < T; t++)
        for (int d = 0; d < half; d++) {
            double inv = 1.0 / pow(theta, (2.0 * d) / hd);
            cos_t[(size_t)t * half + d] = (float)cos(t * inv);
            sin_t[(size_t)t * half + d] = (float)sin(t * inv);
        }
}

// init_constant says how rn_init_weights initialises tensor t: a vector (a
// norm weight, 1, or a bias, 0) is the constant *v and init_constant is 1;
// a matrix is Normal(0, std) from the stream init_seed(seed, i) and it is 0.
static inline int init_constant(const tensor_slot *t, float *v) {
    if (t->ndim != 1) return 0;
    size_t len = strlen(t->name);
    *v = len > 5 && strcmp(t->name + len - 5, ".bias") == 0 ? 0.0f : 1.0f;
    return 1;
}

static inline uint64_t init_seed(uint64_t seed, int i) { return seed ^ (0xA24BAED4963EE407ULL * (uint64_t)(i + 1)); }

// model_err records a message in m (rn_model_error) and returns code; each
// backend defines it with DEFINE_MODEL_ERR, its rn_model having err.
int model_err(rn_model *m, int code, const char *fmt, ...);

#define DEFINE_MODEL_ERR                                              \
    int model_err(rn_model *m, int code, const char *fmt, ...) {     \
        if (m) {                                                      \
            va_list ap;                                               \
            va_start(ap, fmt);                                        \
            vsnprintf(m->err, sizeof m->err, fmt, ap);                \
            va_end(ap);                                               \
        }                                                             \
        return code;                                                  \
    }

// tensor_arg_check: tensor i of a table of n and buffer which exist.
static inline int tensor_arg_check(rn_model *m, int n, int which, int i) {
    if (i < 0 || i >= n || which < RN_WEIGHTS || which > RN_ADAM_V)
        return model_err(m, RN_ERR_ARG, "tensor index %d or buffer %d out of range", i, which);
    return RN_OK;
}

// batch_check: a forward's batch has tokens, targets, an output and at
// most max_seq_len positions a row.
static inline int batch_check(rn_model *m, const rn_batch *bt, const float *logprobs, int max_seq_len) {
    if (!bt || bt->B <= 0 || bt->T <= 0 || !bt->tokens || !bt->targets || !logprobs)
        return model_err(m, RN_ERR_ARG, "forward needs B, T > 0, tokens, targets and an output");
    if (bt->T > max_seq_len) return model_err(m, RN_ERR_ARG, "T = %d exceeds max_seq_len %d", bt->T, max_seq_len);
    return RN_OK;
}

// adamw_check refuses options no step can use.
static inline int adamw_check(rn_model *m, const rn_adamw *o) {
    if (!o || o->lr < 0 || o->beta1 < 0 || o->beta1 >= 1 || o->beta2 < 0 || o->beta2 >= 1 || o->eps <= 0)
        return model_err(m, RN_ERR_ARG, "AdamW needs lr >= 0, betas in [0, 1) and eps > 0");
    return RN_OK;
}

// adamw_scalars: the gradients' scale for clipping at o->max_grad_norm
// (0: none) given their global norm, and the bias corrections of step.
static inline void adamw_scalars(const rn_adamw *o, double norm, int64_t step, float *clip, float *bc1, float *bc2) {
    *clip = 1.0f;
    if (o->max_grad_norm > 0 && norm > o->max_grad_norm) *clip = (float)(o->max_grad_norm / (norm + 1e-6));
    *bc1 = 1.0f - (float)pow(o->beta1, (double)step);
    *bc2 = 1.0f - (float)pow(o->beta2, (double)step);
}

#endif
