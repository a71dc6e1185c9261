/*
 * layercheck.c — every layer's backward against central finite differences,
 * the matmul kernels against a naive double loop, and the blocked attention
 * against the one-query reference; the kernels at both vector widths. Built by
 * layers_test.go with the cpu_*.c sources; prints one line per check and
 * exits 1 if any fails.
 *
 * For a layer y = f(x, w) the scalar loss is L = sum(y * R) for a fixed
 * random R, summed in double; backward is called with dout = R, and each
 * input's gradient is compared with (L(x + h) - L(x - h)) / 2h, h = 1e-2
 * (the layers are smooth and float32: a smaller h drowns in rounding).
 * The error is the norm-wise relative error ||g - fd|| / ||fd||.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../cpu_internal.h"

static uint64_t rs = 88172645463325252ULL;
static double urand(void) {
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (rs >> 11) * 0x1.0p-53;
}
static float *rnd(size_t n, double scale) {
    float *p = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) p[i] = (float)((urand() * 2 - 1) * scale);
    return p;
}
static float *zeros(size_t n) { return calloc(n, sizeof(float)); }

static int failures = 0;
static void report(const char *what, double err, double tol) {
    int ok = err <= tol && !isnan(err);
    printf("%-4s %-40s error %.3g (tolerance %.0e)\n", ok ? "ok" : "FAIL", what, err, tol);
    if (!ok) failures++;
}

/* ---- the layer under test: a forward into y, and the loss sum(y*R) ---- */
typedef double (*loss_fn)(void *ctx);

static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

// compare analytic g (n) with finite differences of loss over x (n)
static double fd_error(loss_fn f, void *ctx, float *x, const float *g, size_t n) {
    const float h = 1e-2f;
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        float old = x[i];
        x[i] = old + h;
        double lp = f(ctx);
        x[i] = old - h;
        double lm = f(ctx);
        x[i] = old;
        double fd = (lp - lm) / (2.0 * h);
        num += (g[i] - fd) * (g[i] - fd);
        den += fd * fd;
    }
    return sqrt(num / (den > 0 ? den : 1));
}

/* ---- rmsnorm ---- */
typedef struct { int N, C; float *x, *w, *y, *rstd, *R; } rms_ctx;
static double rms_loss(void *p) {
    rms_ctx *c = p;
    rmsnorm_forward(c->y, c->rstd, c->x, c->w, c->N, c->C, 1e-6f, 2);
    return dotd(c->y, c->R, (size_t)c->N * c->C);
}

/* ---- rope (both offsets of a qkv row, as the model uses it) ---- */
typedef struct { int N, H, KVH, hd, stride; float *x, *y, *R, *cs, *sn; int32_t *pos; } rope_ctx;
static double rope_loss(void *p) {
    rope_ctx *c = p;
    memcpy(c->y, c->x, sizeof(float) * c->N * c->stride);
    rope_forward(c->y, c->stride, 0, c->H, c->hd, c->pos, c->cs, c->sn, c->N, 2);
    rope_forward(c->y, c->stride, c->H * c->hd, c->KVH, c->hd, c->pos, c->cs, c->sn, c->N, 2);
    return dotd(c->y, c->R, (size_t)c->N * c->stride);
}

/* ---- attention ---- */
typedef struct { int B, T, H, KVH, hd; float *qkv, *out, *lse, *R; } att_ctx;
static double att_loss(void *p) {
    att_ctx *c = p;
    attention_forward(c->out, c->lse, c->qkv, c->B, c->T, c->H, c->KVH, c->hd, 2);
    return dotd(c->out, c->R, (size_t)c->B * c->T * c->H * c->hd);
}

/* ---- swiglu ---- */
typedef struct { int N, I; float *gu, *y, *R; } sw_ctx;
static double sw_loss(void *p) {
    sw_ctx *c = p;
    swiglu_forward(c->y, c->gu, c->N, c->I, 2);
    return dotd(c->y, c->R, (size_t)c->N * c->I);
}

/* ---- output head: loss sum(dlogprob * logprob) ---- */
typedef struct { int n, C, V, chunk; float temp, top_p; float *x, *W, *lp, *ent, *lse, *d, *scratch; int32_t *tg; } head_ctx;
static double head_loss(void *p) {
    head_ctx *c = p;
    head_forward(c->lp, c->ent, c->lse, c->x, c->tg, c->W, c->n, c->C, c->V, c->temp, c->top_p, c->scratch, c->chunk, 2);
    return dotd(c->lp, c->d, c->n);
}

/* ---- embedding ---- */
typedef struct { int N, C; float *E, *y, *R; int32_t *tok; } emb_ctx;
static double emb_loss(void *p) {
    emb_ctx *c = p;
    embedding_forward(c->y, c->tok, c->E, c->N, c->C);
    return dotd(c->y, c->R, (size_t)c->N * c->C);
}

static void check_matmuls(void) {
    int sizes[][3] = {{1, 1, 1}, {5, 3, 8}, {70, 67, 29}, {130, 65, 100}, {7, 200, 17}, {64, 64, 256}, {50, 96, 520}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        float *a = rnd((size_t)M * K, 1), *b = rnd((size_t)N * K, 1), *bias = rnd(N, 1);
        float *out = rnd((size_t)M * N, 1), *o0 = malloc(sizeof(float) * M * N);
        memcpy(o0, out, sizeof(float) * M * N);
        double worst = 0;
        // nt, accumulating, with bias
        matmul_nt(out, a, b, bias, M, N, K, 1, 3);
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double r = o0[(size_t)i * N + j] + bias[j];
                for (int k = 0; k < K; k++) r += (double)a[(size_t)i * K + k] * b[(size_t)j * K + k];
                worst = fmax(worst, fabs(out[(size_t)i * N + j] - r) / (1 + fabs(r)));
            }
        char what[64];
        snprintf(what, sizeof what, "matmul_nt %dx%dx%d", M, N, K);
        report(what, worst, 1e-5);
        // nt, no bias, overwriting; each row alone gives the same bits (generation relies on it)
        float *full = malloc(sizeof(float) * M * N), *row = malloc(sizeof(float) * N);
        matmul_nt(full, a, b, NULL, M, N, K, 0, 2);
        worst = 0;
        int same = 1;
        for (int i = 0; i < M; i++) {
            matmul_nt(row, a + (size_t)i * K, b, NULL, 1, N, K, 0, 1);
            same &= !memcmp(row, full + (size_t)i * N, sizeof(float) * N);
            for (int j = 0; j < N; j++) {
                double r = 0;
                for (int k = 0; k < K; k++) r += (double)a[(size_t)i * K + k] * b[(size_t)j * K + k];
                worst = fmax(worst, fabs(full[(size_t)i * N + j] - r) / (1 + fabs(r)));
            }
        }
        snprintf(what, sizeof what, "matmul_nt %dx%dx%d, no bias, row by row", M, N, K);
        report(what, same ? worst : 1, 1e-5);
        free(full), free(row);
        // nn: out (M, N) += a (M, K) @ c (K, N)
        float *c = rnd((size_t)K * N, 1);
        memcpy(out, o0, sizeof(float) * M * N);
        matmul_nn_acc(out, a, c, M, N, K, 3);
        worst = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double r = o0[(size_t)i * N + j];
                for (int k = 0; k < K; k++) r += (double)a[(size_t)i * K + k] * c[(size_t)k * N + j];
                worst = fmax(worst, fabs(out[(size_t)i * N + j] - r) / (1 + fabs(r)));
            }
        snprintf(what, sizeof what, "matmul_nn_acc %dx%dx%d", M, N, K);
        report(what, worst, 1e-5);
        // tn: out (M, N) += at (K, M)^T @ c (K, N), against nn on the explicit transpose
        float *at = malloc(sizeof(float) * K * M), *o1 = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M; i++)
            for (int k = 0; k < K; k++) at[(size_t)k * M + i] = a[(size_t)i * K + k];
        memcpy(out, o0, sizeof(float) * M * N);
        memcpy(o1, o0, sizeof(float) * M * N);
        matmul_tn_acc(out, at, c, M, N, K, 3);
        matmul_nn_acc(o1, a, c, M, N, K, 3);
        worst = 0;
        for (size_t e = 0; e < (size_t)M * N; e++) worst = fmax(worst, fabs(out[e] - o1[e]) / (1 + fabs(o1[e])));
        snprintf(what, sizeof what, "matmul_tn_acc vs nn on a^T %dx%dx%d", M, N, K);
        report(what, worst, 1e-6);
        free(at), free(o1);
        free(a), free(b), free(bias), free(out), free(o0), free(c);
    }
}

// norm-wise relative error of a against the reference r
static double rel_error(const float *a, const float *r, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) num += ((double)a[i] - r[i]) * ((double)a[i] - r[i]), den += (double)r[i] * r[i];
    return sqrt(num / (den > 0 ? den : 1));
}

// The blocked attention (cpu_attention.c) against the one-query-at-a-time
// reference on shapes whose T is not a multiple of the query block (24) or
// of 16, at head_dim 32 and 64, with and without grouped queries; and the
// same bits on 1, 2 and 3 threads.
static void check_blocked_attention(void) {
    const int shapes[][5] = {{2, 37, 4, 2, 32}, {1, 50, 4, 1, 64}, {3, 24, 2, 2, 32}, {2, 1, 2, 1, 32}, {1, 61, 6, 2, 64}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int B = shapes[k][0], T = shapes[k][1], H = shapes[k][2], KVH = shapes[k][3], hd = shapes[k][4];
        int stride = (H + 2 * KVH) * hd;
        size_t n = (size_t)B * T * stride, no = (size_t)B * T * H * hd, nl = (size_t)B * T * H;
        float *qkv = rnd(n, 1.5), *dout = rnd(no, 1), *out = zeros(no), *lse = zeros(nl);
        float *rout = zeros(no), *rlse = zeros(nl), *dq = zeros(n), *rdq = zeros(n);
        attention_forward_ref(rout, rlse, qkv, B, T, H, KVH, hd, 2);
        attention_backward_ref(rdq, dout, qkv, rout, rlse, B, T, H, KVH, hd, 2);
        int same = 1;
        for (int nt = 1; nt <= 3; nt++) {
            float *o = zeros(no), *l = zeros(nl), *d = zeros(n);
            attention_forward(o, l, qkv, B, T, H, KVH, hd, nt);
            attention_backward(d, dout, qkv, o, l, B, T, H, KVH, hd, nt);
            if (nt == 1) {
                memcpy(out, o, sizeof(float) * no), memcpy(lse, l, sizeof(float) * nl), memcpy(dq, d, sizeof(float) * n);
            } else {
                same &= !memcmp(out, o, sizeof(float) * no) && !memcmp(lse, l, sizeof(float) * nl) &&
                        !memcmp(dq, d, sizeof(float) * n);
            }
            free(o), free(l), free(d);
        }
        char what[64];
        snprintf(what, sizeof what, "blocked attention out B%d T%d H%d/%d hd%d", B, T, H, KVH, hd);
        report(what, rel_error(out, rout, no), 1e-5);
        snprintf(what, sizeof what, "blocked attention lse B%d T%d H%d/%d hd%d", B, T, H, KVH, hd);
        report(what, rel_error(lse, rlse, nl), 1e-5);
        snprintf(what, sizeof what, "blocked attention dqkv B%d T%d H%d/%d hd%d", B, T, H, KVH, hd);
        report(what, rel_error(dq, rdq, n), 1e-5);
        snprintf(what, sizeof what, "blocked attention, 1 = 2 = 3 threads T%d", T);
        report(what, same ? 0 : 1, 0);
        free(qkv), free(dout), free(out), free(lse), free(rout), free(rlse), free(dq), free(rdq);
    }
}

int main(void) {
    check_matmuls();
    {   // embedding: dE
        emb_ctx c = {.N = 9, .C = 6};
        int V = 5;
        c.E = rnd((size_t)V * c.C, 1), c.y = zeros((size_t)c.N * c.C), c.R = rnd((size_t)c.N * c.C, 1);
        c.tok = malloc(sizeof(int32_t) * c.N);
        for (int i = 0; i < c.N; i++) c.tok[i] = (int32_t)(urand() * V);
        float *dE = zeros((size_t)V * c.C);
        embedding_backward(dE, c.R, c.tok, c.N, c.C);
        report("embedding dembed", fd_error(emb_loss, &c, c.E, dE, (size_t)V * c.C), 1e-4);
    }
    {   // rmsnorm: dx, dw
        rms_ctx c = {.N = 7, .C = 24};
        size_t n = (size_t)c.N * c.C;
        c.x = rnd(n, 1), c.w = rnd(c.C, 1), c.y = zeros(n), c.rstd = zeros(c.N), c.R = rnd(n, 1);
        float *dx = zeros(n), *dw = zeros(c.C);
        rms_loss(&c);
        rmsnorm_backward(dx, dw, c.R, c.x, c.w, c.rstd, c.N, c.C, 2);
        report("rmsnorm dx", fd_error(rms_loss, &c, c.x, dx, n), 1e-3);
        report("rmsnorm dw", fd_error(rms_loss, &c, c.w, dw, c.C), 1e-3);
    }
    {   // rope
        rope_ctx c = {.N = 6, .H = 4, .KVH = 2, .hd = 8};
        c.stride = (c.H + 2 * c.KVH) * c.hd;
        size_t n = (size_t)c.N * c.stride;
        int half = c.hd / 2;
        c.x = rnd(n, 1), c.y = zeros(n), c.R = rnd(n, 1);
        c.cs = malloc(sizeof(float) * c.N * half), c.sn = malloc(sizeof(float) * c.N * half);
        c.pos = malloc(sizeof(int32_t) * c.N);
        for (int t = 0; t < c.N; t++) {
            c.pos[t] = (t * 3) % c.N;
            for (int d = 0; d < half; d++) {
                double inv = 1.0 / pow(10000.0, 2.0 * d / c.hd);
                c.cs[t * half + d] = (float)cos(t * inv), c.sn[t * half + d] = (float)sin(t * inv);
            }
        }
        float *dx = malloc(sizeof(float) * n);
        memcpy(dx, c.R, sizeof(float) * n);
        // the v part is not rotated: its gradient is R itself
        rope_backward(dx, c.stride, 0, c.H, c.hd, c.pos, c.cs, c.sn, c.N, 2);
        rope_backward(dx, c.stride, c.H * c.hd, c.KVH, c.hd, c.pos, c.cs, c.sn, c.N, 2);
        report("rope dx", fd_error(rope_loss, &c, c.x, dx, n), 1e-3);
    }
    {   // attention
        att_ctx c = {.B = 2, .T = 5, .H = 4, .KVH = 2, .hd = 8};
        int stride = (c.H + 2 * c.KVH) * c.hd;
        size_t n = (size_t)c.B * c.T * stride, no = (size_t)c.B * c.T * c.H * c.hd;
        c.qkv = rnd(n, 1), c.out = zeros(no), c.lse = zeros((size_t)c.B * c.T * c.H), c.R = rnd(no, 1);
        float *dqkv = zeros(n);
        att_loss(&c);
        attention_backward(dqkv, c.R, c.qkv, c.out, c.lse, c.B, c.T, c.H, c.KVH, c.hd, 2);
        report("attention dqkv (GQA 4/2, causal)", fd_error(att_loss, &c, c.qkv, dqkv, n), 1e-3);
        // one query against the same keys gives the same output as the batched forward
        float scratch[16], o[32];
        int t = 3, b = 1;
        const float *base = c.qkv + (size_t)b * c.T * stride;
        attention_query(o, NULL, base + (size_t)t * stride, base + c.H * c.hd, base + (c.H + c.KVH) * c.hd, stride,
                        t + 1, c.H, c.KVH, c.hd, scratch);
        float *ref = zeros(no), *rlse = zeros((size_t)c.B * c.T * c.H);
        attention_forward_ref(ref, rlse, c.qkv, c.B, c.T, c.H, c.KVH, c.hd, 2);
        report("attention_query == attention_forward_ref row",
               memcmp(o, ref + ((size_t)b * c.T + t) * c.H * c.hd, sizeof(float) * c.H * c.hd) ? 1 : 0, 0);
    }
    check_blocked_attention();
    printf("-- again with the 8-lane kernels (matmul_force_narrow) --\n");
    matmul_force_narrow(1);
    check_matmuls();
    check_blocked_attention();
    matmul_force_narrow(0);
    {   // swiglu
        sw_ctx c = {.N = 5, .I = 12};
        size_t n = (size_t)c.N * 2 * c.I;
        c.gu = rnd(n, 3), c.y = zeros((size_t)c.N * c.I), c.R = rnd((size_t)c.N * c.I, 1);
        float *dgu = zeros(n);
        swiglu_backward(dgu, c.R, c.gu, c.N, c.I, 2);
        report("swiglu dgu", fd_error(sw_loss, &c, c.gu, dgu, n), 1e-3);
    }
    {   // head, with a chunk smaller than n so the chunking is exercised
        head_ctx c = {.n = 7, .C = 12, .V = 23, .chunk = 3};
        c.x = rnd((size_t)c.n * c.C, 1), c.W = rnd((size_t)c.V * c.C, 1);
        c.lp = zeros(c.n), c.ent = zeros(c.n), c.lse = zeros(c.n), c.d = rnd(c.n, 1);
        c.scratch = zeros((size_t)2 * c.chunk * c.V);
        c.tg = malloc(sizeof(int32_t) * c.n);
        for (int i = 0; i < c.n; i++) c.tg[i] = (int32_t)(urand() * c.V);
        float *dx = zeros((size_t)c.n * c.C), *dW = zeros((size_t)c.V * c.C);
        head_loss(&c);
        head_backward(dx, dW, c.d, c.x, c.tg, c.W, c.lse, c.n, c.C, c.V, 0, 0, c.scratch, c.chunk, 2);
        report("head dx (chunked)", fd_error(head_loss, &c, c.x, dx, (size_t)c.n * c.C), 1e-3);
        report("head dW (chunked)", fd_error(head_loss, &c, c.W, dW, (size_t)c.V * c.C), 1e-3);
        // the sampling distribution at temperature 1.7 (top-p, a selection that a step of h = 1e-2 crosses, is checked by the model test with h = 1e-5)
        c.temp = 1.7f, c.top_p = 1;
        float *tdx = zeros((size_t)c.n * c.C), *tdW = zeros((size_t)c.V * c.C);
        head_loss(&c);
        head_backward(tdx, tdW, c.d, c.x, c.tg, c.W, c.lse, c.n, c.C, c.V, c.temp, c.top_p, c.scratch, c.chunk, 2);
        report("head dx (temperature 1.7)", fd_error(head_loss, &c, c.x, tdx, (size_t)c.n * c.C), 1e-3);
        report("head dW (temperature 1.7)", fd_error(head_loss, &c, c.W, tdW, (size_t)c.V * c.C), 1e-3);
        c.temp = 0, c.top_p = 0;
        // entropy and log-probs against a direct double computation
        head_loss(&c);
        double worst = 0;
        for (int i = 0; i < c.n; i++) {
            double z[64], mx = -1e300, s = 0, ws = 0;
            for (int v = 0; v < c.V; v++) {
                z[v] = 0;
                for (int k = 0; k < c.C; k++) z[v] += (double)c.x[i * c.C + k] * c.W[v * c.C + k];
                mx = fmax(mx, z[v]);
            }
            for (int v = 0; v < c.V; v++) s += exp(z[v] - mx), ws += exp(z[v] - mx) * z[v];
            double l = mx + log(s);
            worst = fmax(worst, fabs(c.lp[i] - (z[c.tg[i]] - l)));
            worst = fmax(worst, fabs(c.ent[i] - (l - ws / s)));
        }
        report("head logprob and entropy", worst, 1e-5);
    }
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
