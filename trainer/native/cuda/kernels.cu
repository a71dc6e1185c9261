/*
 * kernels.cu — the memory-bound kernels of training: embedding, RMSNorm,
 * bias + rotary, SwiGLU, the target log-softmax of the output head, AdamW,
 * reductions and weight init. Each is a _forward/_backward pair where it
 * has a backward; backward kernels accumulate (+=) into gradients.
 */
#include <math.h>
#include "common.cuh"

#define WARP_ALL 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(WARP_ALL, v, o);
    return v;
}
__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(WARP_ALL, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(WARP_ALL, v, o));
    return v;
}

// Block-wide sum of one double (blockDim.x a multiple of 32, at most 1024).
__device__ double block_sum_d(double v, double *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum_d(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    double t = 0;
    if (w == 0) {
        t = lane < nw ? sh[lane] : 0.0;
        t = warp_sum_d(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

__device__ float block_max_f(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    if (w == 0) {
        float t = lane < nw ? sh[lane] : -INFINITY;
        t = warp_max(t);
        if (lane == 0) sh[0] = t;
    }
    __syncthreads();
    return sh[0];
}

/* ---------------- embedding ---------------- */

__global__ void embed_kernel(float *out, const int32_t *tokens, const float *embed, int N, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C) return;
    int n = (int)(i / C), c = (int)(i % C);
    out[i] = embed[(size_t)tokens[n] * C + c];
}

void k_embed(cudaStream_t s, float *out, const int32_t *tokens, const float *embed, int N, int C) {
    size_t tot = (size_t)N * C;
    embed_kernel<<<cdiv(tot, 256), 256, 0, s>>>(out, tokens, embed, N, C);
}

__global__ void embed_bwd_kernel(float *dembed, const float *dx, const int32_t *tokens, int N, int C) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * C) return;
    int n = (int)(i / C), c = (int)(i % C);
    atomicAdd(dembed + (size_t)tokens[n] * C + c, dx[i]);
}

void k_embed_backward(cudaStream_t s, float *dembed, const float *dx, const int32_t *tokens, int N, int C) {
    size_t tot = (size_t)N * C;
    embed_bwd_kernel<<<cdiv(tot, 256), 256, 0, s>>>(dembed, dx, tokens, N, C);
}

/* ---------------- RMSNorm ---------------- */

// One warp per row: out = w * (x * rstd), rstd = 1 / sqrt(mean(x^2) + eps).
__global__ void rmsnorm_kernel(bf16 *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *xr = x + (size_t)row * C;
    float ss = 0;
    for (int c = lane; c < C; c += 32) ss += xr[c] * xr[c];
    ss = warp_sum(ss);
    float r = 1.0f / sqrtf(ss / C + eps);
    bf16 *o = out + (size_t)row * C;
    for (int c = lane; c < C; c += 32) o[c] = __float2bfloat16(w[c] * (xr[c] * r));
    if (lane == 0 && rstd) rstd[row] = r;
}

void k_rmsnorm(cudaStream_t s, bf16 *out, float *rstd, const float *x, const float *w, int N, int C, float eps) {
    rmsnorm_kernel<<<cdiv(N, 8), 256, 0, s>>>(out, rstd, x, w, N, C, eps);
}

// dx += r * w * dy - (r^3 / C) * x * sum(w * dy * x)
__global__ void rmsnorm_bwd_kernel(float *dx, bf16 *dx16, const float *dout, const float *x, const float *w,
                                   const float *rstd, int N, int C) {
    int row = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5), lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *xr = x + (size_t)row * C, *dy = dout + (size_t)row * C;
    float r = rstd[row], dot = 0;
    for (int c = lane; c < C; c += 32) dot += w[c] * dy[c] * xr[c];
    dot = warp_sum(dot);
    float k = dot * r * r * r / C;
    float *d = dx + (size_t)row * C;
    for (int c = lane; c < C; c += 32) {
        float v = d[c] + r * w[c] * dy[c] - k * xr[c];
        d[c] = v;
        if (dx16) dx16[(size_t)row * C + c] = __float2bfloat16(v);
    }
}

// dcol[c] += sum_n a[n, c] * (x ? x[n, c] * r[n] : 1); blocks of 32 columns x 256 rows
__global__ void colsum_kernel(float *dcol, const float *a, const float *x, const float *r, int N, int cols) {
    __shared__ float sh[8][33];
    int c = blockIdx.x * 32 + threadIdx.x;
    int r0 = blockIdx.y * 256;
    float acc = 0;
    if (c < cols) {
        int r1 = min(N, r0 + 256);
        for (int n = r0 + threadIdx.y; n < r1; n += 8) {
            float v = a[(size_t)n * cols + c];
            if (x) v *= x[(size_t)n * cols + c] * r[n];
            acc += v;
        }
    }
    sh[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float t = 0;
        for (int i = 0; i < 8; i++) t += sh[i][threadIdx.x];
        atomicAdd(dcol + c, t);
    }
}

void k_rmsnorm_backward(cudaStream_t s, float *dx, bf16 *dx16, float *dw, const float *dout, const float *x,
                        const float *w, const float *rstd, int N, int C) {
    rmsnorm_bwd_kernel<<<cdiv(N, 8), 256, 0, s>>>(dx, dx16, dout, x, w, rstd, N, C);
    dim3 grid(cdiv(C, 32), cdiv(N, 256));
    colsum_kernel<<<grid, dim3(32, 8), 0, s>>>(dw, dout, x, rstd, N, C);
}

void k_colsum(cudaStream_t s, float *dcol, const float *a, int N, int cols) {
    dim3 grid(cdiv(cols, 32), cdiv(N, 256));
    colsum_kernel<<<grid, dim3(32, 8), 0, s>>>(dcol, a, NULL, NULL, N, cols);
}

/* ---------------- bias + rotary ---------------- */

// One block per row; slots j < (H+KVH)*half are rotary pairs (d, d+half) of
// the q and k heads, the rest are pairs of v columns.
__global__ void bias_rope_kernel(bf16 *qkv, const float *f, const float *bias, const float *cos_t,
                                 const float *sin_t, int T, int H, int KVH, int hd) {
    int n = blockIdx.x, half = hd / 2, qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim;
    int t = n % T;
    const float *fr = f + (size_t)n * stride;
    bf16 *o = qkv + (size_t)n * stride;
    int nrot = (H + KVH) * half, nslots = nrot + kvdim / 2;
    for (int j = threadIdx.x; j < nslots; j += blockDim.x) {
        if (j < nrot) {
            int head = j / half, d = j % half;
            int c1 = head * hd + d, c2 = c1 + half;
            float a = fr[c1] + bias[c1], b = fr[c2] + bias[c2];
            float cs = cos_t[(size_t)t * half + d], sn = sin_t[(size_t)t * half + d];
            o[c1] = __float2bfloat16(a * cs - b * sn);
            o[c2] = __float2bfloat16(b * cs + a * sn);
        } else {
            int c = qdim + kvdim + 2 * (j - nrot);
            o[c] = __float2bfloat16(fr[c] + bias[c]);
            o[c + 1] = __float2bfloat16(fr[c + 1] + bias[c + 1]);
        }
    }
}

void k_bias_rope(cudaStream_t s, bf16 *qkv, const float *f, const float *bias, const float *cos_t,
                 const float *sin_t, int N, int T, int H, int KVH, int hd) {
    bias_rope_kernel<<<N, 128, 0, s>>>(qkv, f, bias, cos_t, sin_t, T, H, KVH, hd);
}

// The inverse rotation, in place on fp32, and a bf16 copy of the whole row.
__global__ void rope_bwd_kernel(float *d, bf16 *d16, const float *cos_t, const float *sin_t, int T, int H, int KVH,
                                int hd) {
    int n = blockIdx.x, half = hd / 2, qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim;
    int t = n % T;
    float *r = d + (size_t)n * stride;
    bf16 *o = d16 + (size_t)n * stride;
    int nrot = (H + KVH) * half, nslots = nrot + kvdim / 2;
    for (int j = threadIdx.x; j < nslots; j += blockDim.x) {
        if (j < nrot) {
            int head = j / half, dd = j % half;
            int c1 = head * hd + dd, c2 = c1 + half;
            float a = r[c1], b = r[c2];
            float cs = cos_t[(size_t)t * half + dd], sn = -sin_t[(size_t)t * half + dd];
            float y1 = a * cs - b * sn, y2 = b * cs + a * sn;
            r[c1] = y1;
            r[c2] = y2;
            o[c1] = __float2bfloat16(y1);
            o[c2] = __float2bfloat16(y2);
        } else {
            int c = qdim + kvdim + 2 * (j - nrot);
            o[c] = __float2bfloat16(r[c]);
            o[c + 1] = __float2bfloat16(r[c + 1]);
        }
    }
}

void k_rope_backward(cudaStream_t s, float *dqkv, bf16 *d16, const float *cos_t, const float *sin_t, int N, int T,
                     int H, int KVH, int hd) {
    rope_bwd_kernel<<<N, 128, 0, s>>>(dqkv, d16, cos_t, sin_t, T, H, KVH, hd);
}

/* ---------------- SwiGLU ---------------- */

__global__ void swiglu_kernel(bf16 *h, const bf16 *gu, int N, int I) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * I) return;
    size_t n = i / I, c = i % I;
    float g = __bfloat162float(gu[n * 2 * I + c]), u = __bfloat162float(gu[n * 2 * I + I + c]);
    h[i] = __float2bfloat16(g / (1.0f + expf(-g)) * u);
}

void k_swiglu(cudaStream_t s, bf16 *h, const bf16 *gu, int N, int I) {
    size_t tot = (size_t)N * I;
    swiglu_kernel<<<cdiv(tot, 256), 256, 0, s>>>(h, gu, N, I);
}

__global__ void swiglu_bwd_kernel(bf16 *dgu, const bf16 *dh, const bf16 *gu, int N, int I) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)N * I) return;
    size_t n = i / I, c = i % I;
    float g = __bfloat162float(gu[n * 2 * I + c]), u = __bfloat162float(gu[n * 2 * I + I + c]);
    float sg = 1.0f / (1.0f + expf(-g)), silu = g * sg, dy = __bfloat162float(dh[i]);
    dgu[n * 2 * I + c] = __float2bfloat16(dy * u * (sg + silu * (1.0f - sg)));
    dgu[n * 2 * I + I + c] = __float2bfloat16(dy * silu);
}

void k_swiglu_backward(cudaStream_t s, bf16 *dgu, const bf16 *dh, const bf16 *gu, int N, int I) {
    size_t tot = (size_t)N * I;
    swiglu_bwd_kernel<<<cdiv(tot, 256), 256, 0, s>>>(dgu, dh, gu, N, I);
}

/* ---------------- conversions, gathers ---------------- */

__global__ void f2bf_kernel(bf16 *out, const float *in, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        out[i] = __float2bfloat16(in[i]);
}

void k_f32_to_bf16(cudaStream_t s, bf16 *out, const float *in, size_t n) {
    if (!n) return;
    long blocks = (long)((n + 255) / 256);
    if (blocks > 65536) blocks = 65536;
    f2bf_kernel<<<(int)blocks, 256, 0, s>>>(out, in, n);
}

__global__ void gather_rows_bf16_kernel(bf16 *out, const bf16 *in, const int32_t *idx, int C) {
    int i = blockIdx.x;
    const bf16 *src = in + (size_t)idx[i] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[(size_t)i * C + c] = src[c];
}

void k_gather_rows_bf16(cudaStream_t s, bf16 *out, const bf16 *in, const int32_t *idx, int n, int C) {
    if (n > 0) gather_rows_bf16_kernel<<<n, 128, 0, s>>>(out, in, idx, C);
}

__global__ void scatter_rows_f32_kernel(float *out, const float *in, const int32_t *idx, int C) {
    int i = blockIdx.x;
    float *dst = out + (size_t)idx[i] * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = in[(size_t)i * C + c];
}

void k_scatter_rows_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n, int C) {
    if (n > 0) scatter_rows_f32_kernel<<<n, 128, 0, s>>>(out, in, idx, C);
}

__global__ void gather_f32_kernel(float *out, const float *in, const int32_t *idx, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = in[idx[i]];
}
__global__ void scatter_f32_kernel(float *out, const float *in, const int32_t *idx, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[idx[i]] = in[i];
}
void k_gather_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n) {
    if (n > 0) gather_f32_kernel<<<cdiv(n, 256), 256, 0, s>>>(out, in, idx, n);
}
void k_scatter_f32(cudaStream_t s, float *out, const float *in, const int32_t *idx, int n) {
    if (n > 0) scatter_f32_kernel<<<cdiv(n, 256), 256, 0, s>>>(out, in, idx, n);
}

/* ---------------- output head: target log-softmax ---------------- */

// One block per row, one pass over the logits: each thread keeps a running
// max m, sum s = sum exp(z - m) and sz = sum exp(z - m) z, rescaled when m
// grows; the block combines them. lse = m + log(s); logprob = z[tg] - lse;
// entropy = lse - sz / s.
__global__ void head_rows_kernel(float *lp, float *ent, float *lse_out, const float *logits, const int32_t *tg,
                                 int V) {
    __shared__ float sm_m[32], sm_s[32], sm_z[32];
    int r = blockIdx.x;
    const float *z = logits + (size_t)r * V;
    float m = -INFINITY, s = 0.f, sz = 0.f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float x = z[v];
        if (x > m) {
            float c = expf(m - x);
            s = s * c + 1.f;
            sz = sz * c + x;
            m = x;
        } else {
            float e = expf(x - m);
            s += e;
            sz += e * x;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(WARP_ALL, m, o), os = __shfl_xor_sync(WARP_ALL, s, o),
              oz = __shfl_xor_sync(WARP_ALL, sz, o);
        float nm = fmaxf(m, om);
        float c1 = m == -INFINITY ? 0.f : expf(m - nm), c2 = om == -INFINITY ? 0.f : expf(om - nm);
        s = s * c1 + os * c2;
        sz = sz * c1 + oz * c2;
        m = nm;
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    if (lane == 0) {
        sm_m[w] = m;
        sm_s[w] = s;
        sm_z[w] = sz;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double M = -INFINITY;
        for (int k = 0; k < nw; k++) M = fmax(M, (double)sm_m[k]);
        double S = 0, SZ = 0;
        for (int k = 0; k < nw; k++) {
            if (sm_m[k] == -INFINITY) continue;
            double c = exp((double)sm_m[k] - M);
            S += sm_s[k] * c;
            SZ += sm_z[k] * c;
        }
        double l = M + log(S);
        lse_out[r] = (float)l;
        lp[r] = (float)(z[tg[r]] - l);
        if (ent) ent[r] = (float)(l - SZ / S);
    }
}

void k_head_rows(cudaStream_t s, float *lp, float *ent, float *lse, const float *logits, const int32_t *tg, int r,
                 int V) {
    if (r > 0) head_rows_kernel<<<r, 512, 0, s>>>(lp, ent, lse, logits, tg, V);
}

__global__ void head_drows_kernel(bf16 *dl, const float *logits, const float *g, const float *lse,
                                  const int32_t *tg, int V) {
    int r = blockIdx.x;
    const float *z = logits + (size_t)r * V;
    bf16 *d = dl + (size_t)r * V;
    float gr = g[r], l = lse[r];
    int t = tg[r];
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float val = -gr * expf(z[v] - l);
        if (v == t) val += gr;
        d[v] = __float2bfloat16(val);
    }
}

void k_head_drows(cudaStream_t s, bf16 *dlogits, const float *logits, const float *g, const float *lse,
                  const int32_t *tg, int r, int V) {
    if (r > 0) head_drows_kernel<<<r, 512, 0, s>>>(dlogits, logits, g, lse, tg, V);
}

/* ---------------- attention helper ---------------- */

__global__ void attn_D_kernel(float *D, const bf16 *dout, const bf16 *out, int NH, int hd) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= NH) return;
    const bf16 *a = dout + (size_t)i * hd, *b = out + (size_t)i * hd;
    float acc = 0;
    for (int d = 0; d < hd; d++) acc += __bfloat162float(a[d]) * __bfloat162float(b[d]);
    D[i] = acc;
}

void k_attn_D(cudaStream_t s, float *D, const bf16 *dout, const bf16 *out, int N, int H, int hd) {
    attn_D_kernel<<<cdiv((long)N * H, 256), 256, 0, s>>>(D, dout, out, N * H, hd);
}

/* ---------------- AdamW ---------------- */

__global__ void sumsq_kernel(double *part, const float *g, size_t n) {
    __shared__ double sh[32];
    double acc = 0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        acc += (double)g[i] * g[i];
    acc = block_sum_d(acc, sh);
    if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

__global__ void sum_parts_kernel(double *part, int n) {
    __shared__ double sh[32];
    double acc = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) acc += part[i];
    acc = block_sum_d(acc, sh);
    if (threadIdx.x == 0) part[n] = acc;
}

double *k_sumsq(cudaStream_t s, const float *g, size_t n, double *part, int n_part) {
    sumsq_kernel<<<n_part, 256, 0, s>>>(part, g, n);
    sum_parts_kernel<<<1, 1024, 0, s>>>(part, n_part);
    return part + n_part;
}

__global__ void adamw_kernel(float *p, bf16 *p16, const float *g, float *mm, float *vv, size_t n, float clip,
                             float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        float gi = g[i] * clip;
        float m = b1 * mm[i] + (1 - b1) * gi;
        float v = b2 * vv[i] + (1 - b2) * gi * gi;
        mm[i] = m;
        vv[i] = v;
        float mh = m / bc1, vh = v / bc2;
        float w = p[i];
        w -= lr * (wd * w + mh / (sqrtf(vh) + eps));
        p[i] = w;
        p16[i] = __float2bfloat16(w);
    }
}

void k_adamw(cudaStream_t s, float *p, bf16 *p16, const float *g, float *mm, float *vv, size_t n, float clip,
             float lr, float b1, float b2, float eps, float wd, float bc1, float bc2) {
    if (!n) return;
    long blocks = (long)((n + 255) / 256);
    if (blocks > 8192) blocks = 8192;
    adamw_kernel<<<(int)blocks, 256, 0, s>>>(p, p16, g, mm, vv, n, clip, lr, b1, b2, eps, wd, bc1, bc2);
}

/* ---------------- weight init (the C reference's stream, in parallel) ---------------- */

__device__ __forceinline__ uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

// splitmix64's c-th output (0-based) from state s0 is mix64(s0 + (c+1) * gamma),
// so Box-Muller pair k (elements 2k, 2k+1) is computable on its own.
__global__ void init_normal_kernel(float *p, size_t n, uint64_t s0, float std) {
    const uint64_t G = 0x9E3779B97F4A7C15ULL;
    size_t npair = (n + 1) / 2;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < npair; k += (size_t)gridDim.x * blockDim.x) {
        size_t e = 2 * k;
        uint64_t z1 = mix64(s0 + (uint64_t)(e + 1) * G), z2 = mix64(s0 + (uint64_t)(e + 2) * G);
        double u1 = ((z1 >> 11) + 1.0) * 0x1.0p-53, u2 = (z2 >> 11) * 0x1.0p-53;
        double r = sqrt(-2.0 * log(u1));
        p[e] = (float)(std * r * cos(2 * M_PI * u2));
        if (e + 1 < n) p[e + 1] = (float)(std * r * sin(2 * M_PI * u2));
    }
}

void k_init_normal(cudaStream_t s, float *p, size_t n, uint64_t seed, float std) {
    long blocks = (long)((n / 2 + 256) / 256);
    if (blocks > 16384) blocks = 16384;
    init_normal_kernel<<<(int)blocks, 256, 0, s>>>(p, n, seed, std);
}

__global__ void fill_kernel(float *p, size_t n, float v) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        p[i] = v;
}

void k_fill(cudaStream_t s, float *p, size_t n, float v) {
    long blocks = (long)((n + 255) / 256);
    if (blocks > 4096) blocks = 4096;
    if (blocks > 0) fill_kernel<<<(int)blocks, 256, 0, s>>>(p, n, v);
}
