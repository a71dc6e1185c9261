/* The host-side tensor table, shared by both backends.
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
#ifndef RN_TENSOR_TABLE_H
#define RN_TENSOR_TABLE_H

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

#endif
