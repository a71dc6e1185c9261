/*
 * loader.c — the backend tables: rn_cpu_api for the statically linked C
 * reference, rn_api_open for a shared library (the CUDA twin) that exports
 * the same rn_* symbols, and the rn_call_* trampolines Go calls through.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "rn_api.h"

const rn_api rn_cpu_api = {
    rn_model_create, rn_model_free,  rn_model_error, rn_num_tensors, rn_tensor_info_at, rn_tensor_index,
    rn_tensor_read,  rn_tensor_write, rn_init_weights, rn_forward,   rn_backward,       rn_zero_grad,
    rn_step,         rn_get_step,    rn_set_step,    rn_generate,    rn_sgemm_nt,
};

int rn_api_open(const char *path, rn_api *out, void **handle, char *err, size_t errlen) {
    *handle = NULL;
    memset(out, 0, sizeof *out);
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load %s: %s", path, why ? why : "unknown dlopen error");
        return 1;
    }
#define SYM(field, name)                                                                          \
    do {                                                                                          \
        dlerror();                                                                                \
        void *p = dlsym(h, name);                                                                 \
        if (!p || dlerror()) {                                                                    \
            snprintf(err, errlen, "%s does not export %s (a backend must export every rn_* entry " \
                                  "point of resyn_native.h)", path, name);                         \
            dlclose(h);                                                                           \
            memset(out, 0, sizeof *out);                                                          \
            return 1;                                                                             \
        }                                                                                         \
        memcpy(&out->field, &p, sizeof p);                                                        \
    } while (0)
    SYM(model_create, "rn_model_create");
    SYM(model_free, "rn_model_free");
    SYM(model_error, "rn_model_error");
    SYM(num_tensors, "rn_num_tensors");
    SYM(tensor_info_at, "rn_tensor_info_at");
    SYM(tensor_index, "rn_tensor_index");
    SYM(tensor_read, "rn_tensor_read");
    SYM(tensor_write, "rn_tensor_write");
    SYM(init_weights, "rn_init_weights");
    SYM(forward, "rn_forward");
    SYM(backward, "rn_backward");
    SYM(zero_grad, "rn_zero_grad");
    SYM(step, "rn_step");
    SYM(get_step, "rn_get_step");
    SYM(set_step, "rn_set_step");
    SYM(generate, "rn_generate");
    SYM(sgemm_nt, "rn_sgemm_nt");
#undef SYM
    *handle = h;
    return 0;
}

int rn_call_create(const rn_api *a, const rn_config *cfg, rn_model **out) { return a->model_create(cfg, out); }
void rn_call_free(const rn_api *a, rn_model *m) { a->model_free(m); }
const char *rn_call_error(const rn_api *a, const rn_model *m) { return a->model_error(m); }
int rn_call_num_tensors(const rn_api *a, const rn_model *m) { return a->num_tensors(m); }
int rn_call_tensor_info_at(const rn_api *a, const rn_model *m, int i, rn_tensor_info *out) {
    return a->tensor_info_at(m, i, out);
}
int rn_call_tensor_read(const rn_api *a, rn_model *m, int which, int i, float *dst) {
    return a->tensor_read(m, which, i, dst);
}
int rn_call_tensor_write(const rn_api *a, rn_model *m, int which, int i, const float *src) {
    return a->tensor_write(m, which, i, src);
}
int rn_call_init_weights(const rn_api *a, rn_model *m, uint64_t seed, float std) {
    return a->init_weights(m, seed, std);
}
int rn_call_forward(const rn_api *a, rn_model *m, int B, int T, const int32_t *tokens, const int32_t *targets,
                    const float *mask, float temperature, float top_p, float *logprobs, float *entropy) {
    rn_batch b = {B, T, tokens, targets, mask, temperature, top_p};
    return a->forward(m, &b, logprobs, entropy);
}
int rn_call_backward(const rn_api *a, rn_model *m, const float *dlogprobs) { return a->backward(m, dlogprobs); }
int rn_call_zero_grad(const rn_api *a, rn_model *m) { return a->zero_grad(m); }
int rn_call_step(const rn_api *a, rn_model *m, float lr, float beta1, float beta2, float eps, float weight_decay,
                 float max_grad_norm, float *grad_norm) {
    rn_adamw o = {lr, beta1, beta2, eps, weight_decay, max_grad_norm};
    return a->step(m, &o, grad_norm);
}
int64_t rn_call_get_step(const rn_api *a, const rn_model *m) { return a->get_step(m); }
void rn_call_set_step(const rn_api *a, rn_model *m, int64_t t) { a->set_step(m, t); }
int rn_call_generate(const rn_api *a, rn_model *m, int B, const int32_t *prompts, const int32_t *prompt_lens,
                     int max_new_tokens, float temperature, float top_p, const int32_t *stop_tokens, int n_stop,
                     uint64_t seed, int no_cache, int32_t *out_tokens, int32_t *out_lens, float *out_logprobs) {
    rn_gen_params p = {B, prompts, prompt_lens, max_new_tokens, temperature, top_p, stop_tokens, n_stop, seed,
                       no_cache};
    return a->generate(m, &p, out_tokens, out_lens, out_logprobs);
}
void rn_call_sgemm_nt(const rn_api *a, float *out, const float *x, const float *w, int M, int N, int K,
                      int n_threads) {
    a->sgemm_nt(out, x, w, M, N, K, n_threads);
}
