/*
 * rn_api.h — the backend table: one function pointer per entry point of
 * resyn_native.h.
 *
 * The Go wrapper never calls rn_* directly: every call goes through an
 * rn_api, so that the CPU reference (statically linked, rn_cpu_api) and a
 * backend loaded at run time from a shared library (rn_api_open) are used
 * the same way. The rn_call_* helpers exist because cgo cannot call through
 * a function pointer, and because they build the argument structs on the C
 * stack, so that no Go memory ever holds a pointer to Go memory.
 */
#ifndef RESYN_RN_API_H
#define RESYN_RN_API_H

#include <stddef.h>
#include "resyn_native.h"

typedef struct {
    int (*model_create)(const rn_config *cfg, rn_model **out);
    void (*model_free)(rn_model *m);
    const char *(*model_error)(const rn_model *m);
    int (*num_tensors)(const rn_model *m);
    int (*tensor_info_at)(const rn_model *m, int i, rn_tensor_info *out);
    int (*tensor_index)(const rn_model *m, const char *name);
    int (*tensor_read)(rn_model *m, int which, int i, float *dst);
    int (*tensor_write)(rn_model *m, int which, int i, const float *src);
    int (*init_weights)(rn_model *m, uint64_t seed, float std);
    int (*forward)(rn_model *m, const rn_batch *batch, float *logprobs, float *entropy);
    int (*backward)(rn_model *m, const float *dlogprobs);
    int (*zero_grad)(rn_model *m);
    int (*step)(rn_model *m, const rn_adamw *opt, float *grad_norm);
    int64_t (*get_step)(const rn_model *m);
    void (*set_step)(rn_model *m, int64_t t);
    int (*generate)(rn_model *m, const rn_gen_params *p, int32_t *out_tokens, int32_t *out_lens,
                    float *out_logprobs);
    void (*sgemm_nt)(float *out, const float *a, const float *b, int M, int N, int K, int n_threads);
} rn_api;

/* The C reference, linked into the binary. */
extern const rn_api rn_cpu_api;

/* dlopen()s path (RTLD_NOW | RTLD_LOCAL) and fills *out with its rn_*
 * symbols. On failure returns nonzero, closes the library and writes a
 * sentence naming the path and the missing symbol to err. */
int rn_api_open(const char *path, rn_api *out, void **handle, char *err, size_t errlen);

/* Calls through a table (see the note above). */
int rn_call_create(const rn_api *a, const rn_config *cfg, rn_model **out);
void rn_call_free(const rn_api *a, rn_model *m);
const char *rn_call_error(const rn_api *a, const rn_model *m);
int rn_call_num_tensors(const rn_api *a, const rn_model *m);
int rn_call_tensor_info_at(const rn_api *a, const rn_model *m, int i, rn_tensor_info *out);
int rn_call_tensor_read(const rn_api *a, rn_model *m, int which, int i, float *dst);
int rn_call_tensor_write(const rn_api *a, rn_model *m, int which, int i, const float *src);
int rn_call_init_weights(const rn_api *a, rn_model *m, uint64_t seed, float std);
int rn_call_forward(const rn_api *a, rn_model *m, int B, int T, const int32_t *tokens, const int32_t *targets,
                    const float *mask, float temperature, float top_p, float *logprobs, float *entropy);
int rn_call_backward(const rn_api *a, rn_model *m, const float *dlogprobs);
int rn_call_zero_grad(const rn_api *a, rn_model *m);
int rn_call_step(const rn_api *a, rn_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float max_grad_norm, float *grad_norm);
int64_t rn_call_get_step(const rn_api *a, const rn_model *m);
void rn_call_set_step(const rn_api *a, rn_model *m, int64_t t);
int rn_call_generate(const rn_api *a, rn_model *m, int B, const int32_t *prompts, const int32_t *prompt_lens,
                     int max_new_tokens, float temperature, float top_p, const int32_t *stop_tokens, int n_stop,
                     uint64_t seed, int no_cache, int32_t *out_tokens, int32_t *out_lens, float *out_logprobs);
void rn_call_sgemm_nt(const rn_api *a, float *out, const float *x, const float *w, int M, int N, int K,
                      int n_threads);

#endif
