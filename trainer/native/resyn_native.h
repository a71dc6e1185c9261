/*
 * resyn_native.h — the one C ABI of resyn's numeric core.
 *
 * A Qwen2-architecture decoder (token embedding, RMSNorm, rotate-half rotary
 * embeddings, grouped-query attention with q/k/v biases, SwiGLU MLP, tied or
 * untied output head) with everything the RL trainer needs from it:
 * per-token log-probabilities of given targets, their backward pass, AdamW,
 * and batched sampling with a KV cache.
 *
 * Two implementations share this header: the C reference on the CPU
 * (cpu_*.c beside it, compiled into the Go binary by cgo) and a CUDA twin
 * built into a shared library that Go may load at run time. Everything
 * crosses the boundary as plain structs, flat fp32/int32 arrays in
 * row-major order, and int status codes; a model is an opaque handle.
 *
 * Weights are addressed by their Hugging Face Qwen2 names and shapes
 * (model.layers.3.self_attn.q_proj.weight, (n_heads*head_dim, hidden)), and
 * are copied in and out rather than exposed, so that a device-side twin
 * can keep them where it likes.
 *
 * A model is not safe for concurrent use; calls on different models are.
 */
#ifndef RESYN_NATIVE_H
#define RESYN_NATIVE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. rn_model_error() has a sentence about the last failure. */
enum {
    RN_OK = 0,
    RN_ERR_ARG = 1,      /* an argument is out of range or inconsistent */
    RN_ERR_NOMEM = 2,    /* an allocation failed */
    RN_ERR_STATE = 3,    /* a call out of order (backward before forward, …) */
    RN_ERR_NOTFOUND = 4, /* no tensor of that name */
};

/* Which buffer of a tensor rn_tensor_read/rn_tensor_write address. */
enum {
    RN_WEIGHTS = 0,
    RN_GRADS = 1,   /* allocated by the first rn_backward or rn_zero_grad */
    RN_ADAM_M = 2,  /* first moment; allocated by the first rn_step */
    RN_ADAM_V = 3,  /* second moment */
};

typedef struct {
    int vocab_size;
    int hidden_size;        /* C */
    int intermediate_size;  /* I, the MLP width */
    int n_layers;
    int n_heads;            /* query heads; head_dim = hidden_size / n_heads */
    int n_kv_heads;         /* key/value heads; divides n_heads */
    int max_seq_len;        /* longest row forward or generate will see */
    int tie_word_embeddings;/* 1: lm_head is model.embed_tokens.weight */
    int n_threads;          /* 0: every core */
    float rope_theta;
    float rms_norm_eps;
} rn_config;

typedef struct rn_model rn_model;

typedef struct {
    const char *name;  /* Hugging Face name; owned by the model */
    int ndim;          /* 1 or 2 */
    int64_t shape[2];
    int64_t numel;
} rn_tensor_info;

/* A batch of B rows of T positions (right-padded). Position t of row b
 * predicts targets[b*T+t] from tokens[b*T .. b*T+t]. Where mask is 0 the
 * output head is skipped and the log-probability reads 0.
 *
 * temperature and top_p name the distribution the log-probabilities (and
 * entropies, and their backward) are of: the sampler's, as rn_generate
 * draws with the same settings — logits / temperature, and with top_p < 1
 * renormalised over the nucleus that rn_generate would sample from (the
 * same rule: most probable first, ties by lower id, until top_p of the
 * mass is held). A target outside that nucleus (the weights moved since
 * it was sampled) is counted in with it, so that its log-probability is
 * finite. temperature <= 0 or 1 and top_p 0 or 1: the model's own
 * distribution. The nucleus is a selection, not differentiated. */
typedef struct {
    int B, T;
    const int32_t *tokens;   /* (B, T) */
    const int32_t *targets;  /* (B, T) */
    const float *mask;       /* (B, T), or NULL for all ones */
    float temperature;
    float top_p;
} rn_batch;

typedef struct {
    float lr, beta1, beta2, eps;
    float weight_decay;   /* decoupled; applied to 2-D tensors only */
    float max_grad_norm;  /* <= 0: no clipping */
} rn_adamw;

typedef struct {
    int B;                      /* rows */
    const int32_t *prompts;     /* the B prompts, concatenated */
    const int32_t *prompt_lens; /* (B), each >= 1 */
    int max_new_tokens;         /* per row */
    float temperature;          /* 0: greedy (argmax, lowest id on ties) */
    float top_p;                /* (0, 1]; 1: no nucleus truncation */
    const int32_t *stop_tokens; /* a row ends after emitting one of these */
    int n_stop;
    uint64_t seed;              /* row b draws from its own stream (seed, b) */
    int no_cache;               /* 1: recompute every prefix (a reference for tests) */
} rn_gen_params;

/* Lifecycle. rn_model_create zero-fills the weights; fill them with
 * rn_tensor_write or rn_init_weights. */
int rn_model_create(const rn_config *cfg, rn_model **out);
void rn_model_free(rn_model *m);
const char *rn_model_error(const rn_model *m);

/* Weights by name. Index i runs over [0, rn_num_tensors). */
int rn_num_tensors(const rn_model *m);
int rn_tensor_info_at(const rn_model *m, int i, rn_tensor_info *out);
int rn_tensor_index(const rn_model *m, const char *name); /* -1 when absent */
int rn_tensor_read(rn_model *m, int which, int i, float *dst);
int rn_tensor_write(rn_model *m, int which, int i, const float *src);
/* Normal(0, std) matrices, ones for norms, zeros for biases; deterministic. */
int rn_init_weights(rn_model *m, uint64_t seed, float std);

/* Training. forward writes logprobs (B, T) and, when not NULL, the entropy
 * of the predicted distribution (B, T); backward takes d(loss)/d(logprob)
 * (B, T) for the last forward and accumulates (+=) into the gradients. */
int rn_forward(rn_model *m, const rn_batch *batch, float *logprobs, float *entropy);
int rn_backward(rn_model *m, const float *dlogprobs);
int rn_zero_grad(rn_model *m);
/* Clips, then takes one AdamW step; *grad_norm gets the norm before clipping. */
int rn_step(rn_model *m, const rn_adamw *opt, float *grad_norm);
int64_t rn_get_step(const rn_model *m);
void rn_set_step(rn_model *m, int64_t t);

/* Sampling. out_tokens and out_logprobs are (B, max_new_tokens); row b's
 * first out_lens[b] entries are set (a stop token is included). Logprobs are
 * of the model's own distribution (temperature 1, no truncation); may be NULL. */
int rn_generate(rn_model *m, const rn_gen_params *p, int32_t *out_tokens,
                int32_t *out_lens, float *out_logprobs);

/* out (M, N) = a (M, K) @ b (N, K)^T with the model code's kernel; for
 * benchmarks and tests. */
void rn_sgemm_nt(float *out, const float *a, const float *b, int M, int N, int K, int n_threads);

#ifdef __cplusplus
}
#endif
#endif
