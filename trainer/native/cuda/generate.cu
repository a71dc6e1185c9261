/*
 * generate.cu — batched sampling with a KV cache, on the device.
 *
 * The prompt prefill is one ragged call with every prompt token (cuBLAS
 * products, cache attention per token); every row's first token is sampled
 * on the device from its last prompt position. After that the decode loop
 * keeps all its state on the device (current token, position, live flag,
 * outputs, random streams), so one decode step for all B rows is a fixed
 * sequence of kernels: it is captured once into a CUDA graph and replayed,
 * and the host only looks at the count of live rows every 16 steps. Rows
 * that have stopped still flow through the step (their position no longer
 * advances and their outputs are not written), which keeps the graph fixed.
 * For B <= fused_rows_max() the step uses the fused matrix-vector kernels
 * of decode.cu; above it, cuBLAS.
 *
 * no_cache = 1 recomputes every row's whole prefix at every step (the
 * reference that tests compare the cache against), driven from the host.
 */
#include <stdlib.h>
#include <string.h>
#include "common.cuh"

static cudaError_t graph_instantiate(cudaGraphExec_t *exec, cudaGraph_t graph) {
#if CUDART_VERSION >= 12000
    return cudaGraphInstantiate(exec, graph, 0);
#else
    return cudaGraphInstantiateWithFlags(exec, graph, 0);
#endif
}

static void *carve(char *base, size_t *off, size_t bytes) {
    size_t o = *off;
    *off += (bytes + 255) & ~(size_t)255;
    return base ? base + o : NULL;
}

static void layout_gen(rn_model *m, gen_bufs *g, char *base, size_t *off) {
    size_t L = m->L, C = m->C, I = m->I, V = m->V, rows = g->rows, cap = g->cap;
    size_t kv = L * rows * (size_t)g->max_T * m->kvdim;
#define G_(field, type, count) g->field = (type *)carve(base, off, sizeof(type) * (count))
    G_(kc, bf16, kv);
    G_(vc, bf16, kv);
    G_(x, float, cap * C);
    G_(ln, bf16, cap * C);
    G_(f_qkv, float, cap * m->qkvdim);
    G_(q, bf16, cap * m->qdim);
    G_(att, bf16, cap * m->qdim);
    G_(gu, bf16, cap * 2 * I);
    G_(h, bf16, cap * I);
    G_(rstd, float, cap);
    G_(tok, int32_t, cap);
    G_(row, int32_t, cap);
    G_(pos, int32_t, cap);
    G_(last, int32_t, rows);
    G_(lrow, int32_t, rows);
    G_(hsel, bf16, rows * C);
    G_(logits, float, rows * V);
    G_(cur, int32_t, rows);
    G_(cpos, int32_t, rows);
    G_(live, int32_t, rows);
    G_(outlen, int32_t, rows);
    G_(out_tok, int32_t, rows * (size_t)g->maxnew);
    G_(out_lp, float, rows * (size_t)g->maxnew);
    G_(rng, uint64_t, rows);
    G_(stop, int32_t, (size_t)(g->n_stop_cap > 0 ? g->n_stop_cap : 1));
    G_(nlive, int32_t, 1);
    G_(ident, int32_t, rows);
#undef G_
}

static int ensure_gen(rn_model *m, int rows, int max_T, int cap, int maxnew, int n_stop) {
    gen_bufs *g = &m->g;
    if (m->g_alloc && g->rows >= rows && g->max_T == max_T && g->cap >= cap && g->maxnew == maxnew &&
        g->n_stop_cap >= n_stop && g->rows == rows)
        return RN_OK;
    if (m->g_alloc) cudaFree(g->kc);
    m->g_alloc = 0;
    memset(g, 0, sizeof *g);
    g->rows = rows;
    g->max_T = max_T;
    g->cap = cap;
    g->maxnew = maxnew;
    g->n_stop_cap = n_stop;
    size_t off = 0;
    layout_gen(m, g, NULL, &off);
    void *mem = NULL;
    if (cudaMalloc(&mem, off) != cudaSuccess) {
        cudaGetLastError();
        return model_err(m, RN_ERR_NOMEM, "cannot allocate %.1f GiB of generation buffers (%d rows of %d) on the GPU",
                         off / 1073741824.0, rows, max_T);
    }
    off = 0;
    layout_gen(m, g, (char *)mem, &off);
    m->g_alloc = 1;
    return RN_OK;
}

// The layers for n tokens (tok, row, pos device arrays) against the cache;
// leaves the residual stream in g->x (n, C).
static int run_layers(rn_model *m, int n, const int32_t *tok, const int32_t *row, const int32_t *pos, int fused) {
    gen_bufs *g = &m->g;
    cudaStream_t s = m->stream;
    const int C = m->C, I = m->I, max_T = g->max_T;
    const size_t per_layer = (size_t)g->rows * max_T * m->kvdim;
    const float eps = m->cfg.rms_norm_eps;
    int rc;
    k_embed(s, g->x, tok, m->p32 + m->tt.embed, n, C);
    for (int l = 0; l < m->L; l++) {
        const layer_off *o = &m->tt.lo[l];
        bf16 *kc = g->kc + l * per_layer, *vc = g->vc + l * per_layer;
        if (fused) {
            f_qkv(m, l, g->q, kc, vc, g->x, row, pos, n, max_T);
        } else {
            k_rmsnorm(s, g->ln, g->rstd, g->x, m->p32 + o->ln1, n, C, eps);
            if ((rc = gemm_nt(m, g->f_qkv, 0, g->ln, m->p16 + o->wqkv, n, m->qkvdim, C, 0.f))) return rc;
            k_qkv_to_cache(s, g->q, kc, vc, g->f_qkv, m->p32 + o->bqkv, m->rope_cos, m->rope_sin, row, pos, n, m->H,
                           m->KVH, m->hd, max_T);
        }
        k_attn_decode(s, g->att, g->q, kc, vc, row, pos, n, m->H, m->KVH, m->hd, max_T);
        if (fused) {
            f_out_residual(m, g->x, g->att, o->wo, n, C, m->qdim);
            f_gate_up(m, l, g->h, g->x, n);
            f_out_residual(m, g->x, g->h, o->wdown, n, C, I);
        } else {
            if ((rc = gemm_nt(m, g->x, 0, g->att, m->p16 + o->wo, n, C, m->qdim, 1.f))) return rc;
            k_rmsnorm(s, g->ln, g->rstd, g->x, m->p32 + o->ln2, n, C, eps);
            if ((rc = gemm_nt(m, g->gu, 1, g->ln, m->p16 + o->wgu, n, 2 * I, C, 0.f))) return rc;
            k_swiglu(s, g->h, g->gu, n, I);
            if ((rc = gemm_nt(m, g->x, 0, g->h, m->p16 + o->wdown, n, C, I, 1.f))) return rc;
        }
    }
    return RN_OK;
}

// Logits (nb, V) of the final-norm rows idx of g->x.
static int head_logits(rn_model *m, const int32_t *idx, int nb) {
    gen_bufs *g = &m->g;
    k_rmsnorm_rows(m->stream, g->hsel, g->x, idx, m->p32 + m->tt.lnf, nb, m->C, m->cfg.rms_norm_eps);
    return gemm_nt(m, g->logits, 0, g->hsel, m->p16 + m->tt.head, nb, m->V, m->C, 0.f);
}

static int decode_step(rn_model *m, int B, int fused, const rn_gen_params *p) {
    gen_bufs *g = &m->g;
    int rc = run_layers(m, B, g->cur, g->ident, g->cpos, fused);
    if (rc) return rc;
    if (fused)
        f_head(m, g->logits, g->x, B);
    else if ((rc = head_logits(m, g->ident, B)))
        return rc;
    k_sample(m->stream, g, g->logits, B, m->V, p->temperature, p->top_p, p->n_stop);
    return RN_OK;
}

extern "C" int rn_generate(rn_model *m, const rn_gen_params *p, int32_t *out_tokens, int32_t *out_lens,
                           float *out_logprobs) {
    if (!p || p->B <= 0 || !p->prompts || !p->prompt_lens || p->max_new_tokens < 0 || !out_tokens || !out_lens)
        return model_err(m, RN_ERR_ARG, "generate needs B > 0, prompts, prompt lengths and outputs");
    if (p->temperature < 0 || !(p->top_p > 0 && p->top_p <= 1))
        return model_err(m, RN_ERR_ARG, "temperature %g must be >= 0 and top_p %g in (0, 1]", p->temperature,
                         p->top_p);
    const int B = p->B, V = m->V;
    int maxP = 0, total = 0;
    for (int b = 0; b < B; b++) {
        if (p->prompt_lens[b] < 1) return model_err(m, RN_ERR_ARG, "prompt %d is empty", b);
        if (p->prompt_lens[b] > maxP) maxP = p->prompt_lens[b];
        total += p->prompt_lens[b];
    }
    const int max_T = maxP + p->max_new_tokens, maxnew = p->max_new_tokens;
    if (max_T > m->cfg.max_seq_len)
        return model_err(m, RN_ERR_ARG, "a prompt of %d tokens plus %d new exceeds max_seq_len %d", maxP,
                         p->max_new_tokens, m->cfg.max_seq_len);
    for (int i = 0; i < total; i++)
        if (p->prompts[i] < 0 || p->prompts[i] >= V)
            return model_err(m, RN_ERR_ARG, "prompt token %d is outside the vocabulary [0, %d)", p->prompts[i], V);
    if (p->n_stop > 0 && !p->stop_tokens) return model_err(m, RN_ERR_ARG, "n_stop > 0 needs stop_tokens");
    memset(out_lens, 0, sizeof(int32_t) * B);
    if (maxnew == 0) return RN_OK;
    if (m->hd % 8) return model_err(m, RN_ERR_ARG, "the CUDA decoder needs head_dim %% 8 == 0 (head_dim %d)", m->hd);
    if (attn_decode_prepare(max_T))
        return model_err(m, RN_ERR_ARG, "the CUDA decoder supports rows of up to 50000 positions, not %d", max_T);

    int cap = p->no_cache ? B * max_T : (total > B ? total : B);
    int rc = ensure_gen(m, B, max_T, cap, maxnew, p->n_stop);
    if (rc) return rc;
    gen_bufs *g = &m->g;
    cudaStream_t s = m->stream;

    // host-side initial state
    int32_t *hi = (int32_t *)malloc(sizeof(int32_t) * ((size_t)3 * cap + 6 * (size_t)B));
    uint64_t *hr = (uint64_t *)malloc(sizeof(uint64_t) * B);
    int32_t *hseq = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * max_T);
    if (!hi || !hr || !hseq) {
        free(hi);
        free(hr);
        free(hseq);
        return model_err(m, RN_ERR_NOMEM, "cannot allocate generation state for %d rows", B);
    }
    int32_t *htok = hi, *hrow = htok + cap, *hpos = hrow + cap, *hlast = hpos + cap, *hcpos = hlast + B;
    int32_t *hlive = hcpos + B, *hident = hlive + B, *hlen = hident + B, *hlrow = hlen + B;
    int n = 0;
    for (int b = 0, off = 0; b < B; b++) {
        int P = p->prompt_lens[b];
        memcpy(hseq + (size_t)b * max_T, p->prompts + off, sizeof(int32_t) * P);
        for (int t = 0; t < P; t++) {
            htok[n] = p->prompts[off + t];
            hrow[n] = b;
            hpos[n] = t;
            n++;
        }
        off += P;
        hlast[b] = n - 1;
        hcpos[b] = P - 1;
        hlive[b] = 1;
        hident[b] = b;
        uint64_t st = p->seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(b + 1));
        st += 0x9E3779B97F4A7C15ULL;  // the reference advances each stream once
        hr[b] = st;
    }
    int32_t nl = B;
#define UP(dst, src, bytes) CUDA_TRY(m, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s))
    UP(g->tok, htok, sizeof(int32_t) * n);
    UP(g->row, hrow, sizeof(int32_t) * n);
    UP(g->pos, hpos, sizeof(int32_t) * n);
    UP(g->last, hlast, sizeof(int32_t) * B);
    UP(g->cpos, hcpos, sizeof(int32_t) * B);
    UP(g->live, hlive, sizeof(int32_t) * B);
    UP(g->ident, hident, sizeof(int32_t) * B);
    UP(g->lrow, hident, sizeof(int32_t) * B);
    UP(g->rng, hr, sizeof(uint64_t) * B);
    UP(g->nlive, &nl, sizeof(int32_t));
    if (p->n_stop > 0) UP(g->stop, p->stop_tokens, sizeof(int32_t) * p->n_stop);
    CUDA_TRY(m, cudaMemsetAsync(g->outlen, 0, sizeof(int32_t) * B, s));
    CUDA_TRY(m, cudaStreamSynchronize(s));

    // prefill every prompt, sample each row's first token
    if ((rc = run_layers(m, n, g->tok, g->row, g->pos, 0))) goto done;
    if ((rc = head_logits(m, g->last, B))) goto done;
    k_sample(s, g, g->logits, B, V, p->temperature, p->top_p, p->n_stop);
    CUDA_TRY(m, cudaGetLastError());

    if (p->no_cache) {
        int32_t *hot = (int32_t *)malloc(sizeof(int32_t) * (size_t)B * maxnew);
        if (!hot) {
            rc = model_err(m, RN_ERR_NOMEM, "cannot allocate %d output tokens", B * maxnew);
            goto done;
        }
        for (;;) {
            cudaMemcpyAsync(hlive, g->live, sizeof(int32_t) * B, cudaMemcpyDeviceToHost, s);
            cudaMemcpyAsync(hlen, g->outlen, sizeof(int32_t) * B, cudaMemcpyDeviceToHost, s);
            cudaMemcpyAsync(hot, g->out_tok, sizeof(int32_t) * (size_t)B * maxnew, cudaMemcpyDeviceToHost, s);
            if (cudaStreamSynchronize(s) != cudaSuccess) break;
            int nb = 0;
            n = 0;
            for (int b = 0; b < B; b++) {
                if (!hlive[b]) continue;
                int P = p->prompt_lens[b], len = P + hlen[b];
                for (int t = 0; t < len; t++) {
                    htok[n] = t < P ? hseq[(size_t)b * max_T + t] : hot[(size_t)b * maxnew + t - P];
                    hrow[n] = b;
                    hpos[n] = t;
                    n++;
                }
                hlast[nb] = n - 1;
                hlrow[nb] = b;
                nb++;
            }
            if (nb == 0) break;
            cudaMemcpyAsync(g->tok, htok, sizeof(int32_t) * n, cudaMemcpyHostToDevice, s);
            cudaMemcpyAsync(g->row, hrow, sizeof(int32_t) * n, cudaMemcpyHostToDevice, s);
            cudaMemcpyAsync(g->pos, hpos, sizeof(int32_t) * n, cudaMemcpyHostToDevice, s);
            cudaMemcpyAsync(g->last, hlast, sizeof(int32_t) * nb, cudaMemcpyHostToDevice, s);
            cudaMemcpyAsync(g->lrow, hlrow, sizeof(int32_t) * nb, cudaMemcpyHostToDevice, s);
            if ((rc = run_layers(m, n, g->tok, g->row, g->pos, 0))) break;
            if ((rc = head_logits(m, g->last, nb))) break;
            k_sample(s, g, g->logits, nb, V, p->temperature, p->top_p, p->n_stop);
        }
        free(hot);
        if (rc) goto done;
    } else if (maxnew > 1) {
        const int fused = B <= fused_rows_max(m);
        const int steps = maxnew - 1;
        cudaGraph_t graph = NULL;
        cudaGraphExec_t exec = NULL;
        int use_graph = getenv("RESYN_CUDA_NO_GRAPH") == NULL;
        if (use_graph) {
            if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) use_graph = 0;
        }
        if (use_graph) {
            int crc = decode_step(m, B, fused, p);
            cudaError_t e = cudaStreamEndCapture(s, &graph);
            if (crc || e != cudaSuccess || graph_instantiate(&exec, graph) != cudaSuccess) {
                use_graph = 0;
                cudaGetLastError();
                if (exec) cudaGraphExecDestroy(exec);
                exec = NULL;
            }
            if (graph) cudaGraphDestroy(graph);
        }
        for (int st = 0; st < steps; st++) {
            if (use_graph) {
                if (cudaGraphLaunch(exec, s) != cudaSuccess) {
                    rc = model_err(m, RN_ERR_STATE, "decode graph launch failed: %s",
                                   cudaGetErrorString(cudaGetLastError()));
                    break;
                }
            } else if ((rc = decode_step(m, B, fused, p))) {
                break;
            }
            if (st % 16 == 15) {
                CUDA_TRY(m, cudaMemcpyAsync(&nl, g->nlive, sizeof(int32_t), cudaMemcpyDeviceToHost, s));
                CUDA_TRY(m, cudaStreamSynchronize(s));
                if (nl <= 0) break;
            }
        }
        if (exec) cudaGraphExecDestroy(exec);
        if (rc) goto done;
    }
    CUDA_TRY(m, cudaMemcpyAsync(out_lens, g->outlen, sizeof(int32_t) * B, cudaMemcpyDeviceToHost, s));
    CUDA_TRY(m, cudaMemcpyAsync(out_tokens, g->out_tok, sizeof(int32_t) * (size_t)B * maxnew, cudaMemcpyDeviceToHost,
                                s));
    if (out_logprobs)
        CUDA_TRY(m, cudaMemcpyAsync(out_logprobs, g->out_lp, sizeof(float) * (size_t)B * maxnew,
                                    cudaMemcpyDeviceToHost, s));
    CUDA_TRY(m, cudaStreamSynchronize(s));
    CUDA_TRY(m, cudaGetLastError());
done:
    free(hi);
    free(hr);
    free(hseq);
    return rc;
#undef UP
}
