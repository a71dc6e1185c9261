/*
 * cpu_generate.c — batched sampling with a KV cache.
 *
 * model_decode runs the layers for a ragged set of tokens (each at its own
 * row and position) against a cache of keys and values per row: the prompt
 * prefill is one call with every prompt token, each later step one call with
 * the last token of every live row. Because the matmul kernel sums each
 * output element in the same order whatever the other rows are, and every
 * query runs attention_query over the same keys either way, a row's logits
 * are bit-for-bit those of recomputing its whole prefix (no_cache = 1) and
 * do not depend on the other rows of the batch.
 *
 * Row b samples from its own random stream seeded with (seed, b), so a batch
 * is reproducible for a seed whatever the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "cpu_internal.h"

int model_decode(rn_model *m, float *out, const int32_t *tokens, const int32_t *row, const int32_t *pos, int n,
                 float *kcache, float *vcache, int rows, int max_T) {
    int C = m->C, I = m->I, nt = m->nt, qkvdim = m->qkvdim, qdim = m->qdim, kvdim = m->kvdim;
    size_t need = (size_t)n * (C + C + qkvdim + qdim + 2 * (size_t)I + I + 1);
    float *buf = malloc(sizeof(float) * need);
    if (!buf) return model_err(m, RN_ERR_NOMEM, "cannot allocate decode buffers for %d tokens", n);
    float *x = buf, *ln = x + (size_t)n * C, *qkv = ln + (size_t)n * C, *att = qkv + (size_t)n * qkvdim;
    float *gu = att + (size_t)n * qdim, *h = gu + (size_t)n * 2 * I, *rstd = h + (size_t)n * I;
    embedding_forward(x, tokens, m->embed, n, C);
    for (int l = 0; l < m->L; l++) {
        layer_params *P = &m->layers[l];
        float *kc = kcache + (size_t)l * rows * max_T * kvdim, *vc = vcache + (size_t)l * rows * max_T * kvdim;
        rmsnorm_forward(ln, rstd, x, P->ln1, n, C, m->cfg.rms_norm_eps, nt);
        matmul_nt(qkv, ln, P->wqkv, P->bqkv, n, qkvdim, C, 0, nt);
        rope_forward(qkv, qkvdim, 0, m->H, m->hd, pos, m->rope_cos, m->rope_sin, n, nt);
        rope_forward(qkv, qkvdim, qdim, m->KVH, m->hd, pos, m->rope_cos, m->rope_sin, n, nt);
        for (int i = 0; i < n; i++) {
            size_t at = ((size_t)row[i] * max_T + pos[i]) * kvdim;
            memcpy(kc + at, qkv + (size_t)i * qkvdim + qdim, sizeof(float) * kvdim);
            memcpy(vc + at, qkv + (size_t)i * qkvdim + qdim + kvdim, sizeof(float) * kvdim);
        }
#pragma omp parallel num_threads(nt) if (n > 1)
        {
            float *scratch = malloc(sizeof(float) * max_T);
#pragma omp for schedule(dynamic, 1)
            for (int i = 0; i < n; i++) {
                size_t base = (size_t)row[i] * max_T * kvdim;
                attention_query(att + (size_t)i * qdim, NULL, qkv + (size_t)i * qkvdim, kc + base, vc + base, kvdim,
                                pos[i] + 1, m->H, m->KVH, m->hd, scratch);
            }
            free(scratch);
        }
        matmul_nt(x, att, P->wo, NULL, n, C, qdim, 1, nt);
        rmsnorm_forward(ln, rstd, x, P->ln2, n, C, m->cfg.rms_norm_eps, nt);
        matmul_nt(gu, ln, P->wgu, NULL, n, 2 * I, C, 0, nt);
        swiglu_forward(h, gu, n, I, nt);
        matmul_nt(x, h, P->wdown, NULL, n, C, I, 1, nt);
    }
    rmsnorm_forward(out, rstd, x, m->lnf, n, C, m->cfg.rms_norm_eps, nt);
    free(buf);
    return RN_OK;
}

static uint64_t rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static double rng_uniform(uint64_t *s) { return (rng_next(s) >> 11) * 0x1.0p-53; }

// Picks a token from logits z (V); returns it and its log-probability under
// the untempered distribution. probs (V) and cands (V) are scratch.
static int32_t sample_row(const float *z, int V, float temperature, float top_p, uint64_t *rng, float *logprob,
                          double *probs, rn_cand *cands) {
    float mx = -INFINITY;
    int32_t arg = 0;
    for (int v = 0; v < V; v++)
        if (z[v] > mx) {
            mx = z[v];
            arg = v;
        }
    double sum = 0;
    for (int v = 0; v < V; v++) sum += exp((double)z[v] - mx);
    double lse = mx + log(sum);
    int32_t tok = arg;
    if (temperature > 0) {
        double tsum = 0;
        for (int v = 0; v < V; v++) {
            probs[v] = exp(((double)z[v] - mx) / temperature);
            tsum += probs[v];
        }
        double u = rng_uniform(rng);
        if (top_p < 1.0f) {
            int k = rn_nucleus(probs, tsum, V, top_p, cands);
            double kept = 0;
            for (int i = 0; i < k; i++) kept += cands[i].p;
            double r = u * kept, acc = 0;
            tok = cands[k - 1].id;
            for (int i = 0; i < k; i++) {
                acc += cands[i].p;
                if (r < acc) {
                    tok = cands[i].id;
                    break;
                }
            }
        } else {
            double r = u * tsum, acc = 0;
            tok = V - 1;
            for (int v = 0; v < V; v++) {
                acc += probs[v];
                if (r < acc) {
                    tok = v;
                    break;
                }
            }
        }
    }
    *logprob = (float)(z[tok] - lse);
    return tok;
}

int rn_generate(rn_model *m, const rn_gen_params *p, int32_t *out_tokens, int32_t *out_lens, float *out_logprobs) {
    if (!p || p->B <= 0 || !p->prompts || !p->prompt_lens || p->max_new_tokens < 0 || !out_tokens || !out_lens)
        return model_err(m, RN_ERR_ARG, "generate needs B > 0, prompts, prompt lengths and outputs");
    if (p->temperature < 0 || !(p->top_p > 0 && p->top_p <= 1))
        return model_err(m, RN_ERR_ARG, "temperature %g must be >= 0 and top_p %g in (0, 1]", p->temperature,
                         p->top_p);
    int B = p->B, V = m->V, C = m->C, maxP = 0, total = 0;
    for (int b = 0; b < B; b++) {
        if (p->prompt_lens[b] < 1) return model_err(m, RN_ERR_ARG, "prompt %d is empty", b);
        if (p->prompt_lens[b] > maxP) maxP = p->prompt_lens[b];
        total += p->prompt_lens[b];
    }
    int max_T = maxP + p->max_new_tokens;
    if (max_T > m->cfg.max_seq_len)
        return model_err(m, RN_ERR_ARG, "a prompt of %d tokens plus %d new exceeds max_seq_len %d", maxP,
                         p->max_new_tokens, m->cfg.max_seq_len);
    for (int i = 0; i < total; i++)
        if (p->prompts[i] < 0 || p->prompts[i] >= V)
            return model_err(m, RN_ERR_ARG, "prompt token %d is outside the vocabulary [0, %d)", p->prompts[i], V);
    memset(out_lens, 0, sizeof(int32_t) * B);
    if (p->max_new_tokens == 0) return RN_OK;

    size_t cache = (size_t)m->L * B * max_T * m->kvdim;
    int cap = p->no_cache ? B * max_T : (total > B ? total : B);  // most tokens in one decode
    float *kc = malloc(sizeof(float) * cache), *vc = malloc(sizeof(float) * cache);
    int32_t *seq = malloc(sizeof(int32_t) * (size_t)B * max_T), *len = malloc(sizeof(int32_t) * B);
    int32_t *tok = malloc(sizeof(int32_t) * cap), *row = malloc(sizeof(int32_t) * cap);
    int32_t *pos = malloc(sizeof(int32_t) * cap), *last = malloc(sizeof(int32_t) * B);
    float *hid = malloc(sizeof(float) * (size_t)cap * C), *sel = malloc(sizeof(float) * (size_t)B * C);
    float *logits = malloc(sizeof(float) * (size_t)B * V);
    double *probs = malloc(sizeof(double) * (size_t)m->nt * V);
    rn_cand *cands = malloc(sizeof(rn_cand) * (size_t)m->nt * V);
    uint64_t *rng = malloc(sizeof(uint64_t) * B);
    int32_t *live = malloc(sizeof(int32_t) * B);
    int rc = RN_OK;
    if (!kc || !vc || !seq || !len || !tok || !row || !pos || !last || !hid || !sel || !logits || !probs ||
        !cands || !rng || !live) {
        rc = model_err(m, RN_ERR_NOMEM, "cannot allocate generation buffers for %d rows of %d", B, max_T);
        goto done;
    }
    for (int b = 0, off = 0; b < B; b++) {
        memcpy(seq + (size_t)b * max_T, p->prompts + off, sizeof(int32_t) * p->prompt_lens[b]);
        off += p->prompt_lens[b];
        len[b] = p->prompt_lens[b];
        rng[b] = p->seed ^ (0xD1B54A32D192ED03ULL * (uint64_t)(b + 1));
        rng_next(&rng[b]);
    }
    int n_live = B, fed = 0;  // fed: whether the cache holds every row's prefix but its last token
    for (int b = 0; b < B; b++) live[b] = 1;
    while (n_live > 0) {
        // Tokens to run: the whole prefix (first step, or no cache), else the last token.
        int n = 0, nb = 0;
        for (int b = 0; b < B; b++) {
            if (!live[b]) continue;
            int from = (!fed || p->no_cache) ? 0 : len[b] - 1;
            for (int t = from; t < len[b]; t++) {
                tok[n] = seq[(size_t)b * max_T + t];
                row[n] = b;
                pos[n] = t;
                n++;
            }
            last[nb++] = n - 1;
        }
        if ((rc = model_decode(m, hid, tok, row, pos, n, kc, vc, B, max_T))) goto done;
        fed = 1;
        for (int i = 0; i < nb; i++) memcpy(sel + (size_t)i * C, hid + (size_t)last[i] * C, sizeof(float) * C);
        matmul_nt(logits, sel, m->lm_head, NULL, nb, V, C, 0, m->nt);
        // sample every live row (rows are independent; each has its own stream)
        int32_t *picked = tok;  // reuse: nb <= cap
        float *lps = hid;
#pragma omp parallel for num_threads(m->nt) if (nb > 1)
        for (int i = 0; i < nb; i++) {
            int b = row[last[i]];
#ifdef _OPENMP
            int th = omp_get_thread_num();
#else
            int th = 0;
#endif
            float lp;
            picked[i] = sample_row(logits + (size_t)i * V, V, p->temperature, p->top_p, &rng[b], &lp,
                                   probs + (size_t)th * V, cands + (size_t)th * V);
            lps[i] = lp;
        }
        for (int i = 0; i < nb; i++) {
            int b = row[last[i]];
            int k = out_lens[b];
            out_tokens[(size_t)b * p->max_new_tokens + k] = picked[i];
            if (out_logprobs) out_logprobs[(size_t)b * p->max_new_tokens + k] = lps[i];
            out_lens[b] = k + 1;
            seq[(size_t)b * max_T + len[b]] = picked[i];
            len[b]++;
            int stop = out_lens[b] >= p->max_new_tokens;
            for (int s = 0; s < p->n_stop && !stop; s++) stop = picked[i] == p->stop_tokens[s];
            if (stop) {
                live[b] = 0;
                n_live--;
            }
        }
    }
done:
    free(kc);
    free(vc);
    free(seq);
    free(len);
    free(tok);
    free(row);
    free(pos);
    free(last);
    free(hid);
    free(sel);
    free(logits);
    free(probs);
    free(cands);
    free(rng);
    free(live);
    return rc;
}
