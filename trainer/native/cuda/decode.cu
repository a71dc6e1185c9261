/*
 * decode.cu — the kernels of generation: bias + rotary into the KV cache,
 * fused matrix-vector kernels for small decode batches, and sampling.
 *
 * Batch-1 decoding is bound by the bytes of the weights, and at this size
 * by the number of kernels long before that. For up to fused_rows_max()
 * rows a layer is five kernels: [RMSNorm + q/k/v + bias + rotary + cache
 * write], attention, [o_proj + residual], [RMSNorm + gate/up + SwiGLU],
 * [down_proj + residual]; the head is one more with the final norm fused.
 * Each weight row is read once with 16-byte loads by one warp, which
 * applies it to every row of the batch; the normalised inputs sit in shared
 * memory. The whole decode step is captured in a CUDA graph (generate.cu).
 *
 * Sampling runs one block per row on the device: max (lowest id on ties),
 * log-sum-exp, temperature, nucleus by bisection on the probability
 * threshold, then an inverse-CDF draw in token-id order with the row's own
 * splitmix64 stream, seeded as the C reference seeds it.
 */
#include <math.h>
#include <stdlib.h>
#include "common.cuh"

#define FW 4  // warps per block of the fused kernels
#define FT (FW * 32)

/* ---------------- bias + rotary into the cache (general path) ---------------- */

__global__ void qkv_to_cache_kernel(bf16 *q, bf16 *kc, bf16 *vc, const float *f, const float *bias,
                                    const float *cos_t, const float *sin_t, const int32_t *row, const int32_t *pos,
                                    int H, int KVH, int hd, int max_T) {
    int i = blockIdx.x, half = hd / 2, qdim = H * hd, kvdim = KVH * hd, stride = qdim + 2 * kvdim;
    int t = pos[i];
    const float *fr = f + (size_t)i * stride;
    size_t at = ((size_t)row[i] * max_T + t) * kvdim;
    int nrot = (H + KVH) * half, nslots = nrot + kvdim / 2;
    for (int j = threadIdx.x; j < nslots; j += blockDim.x) {
        if (j < nrot) {
            int head = j / half, d = j % half;
            int c1 = head * hd + d, c2 = c1 + half;
            float a = fr[c1] + bias[c1], b = fr[c2] + bias[c2];
            float cs = cos_t[(size_t)t * half + d], sn = sin_t[(size_t)t * half + d];
            float y1 = a * cs - b * sn, y2 = b * cs + a * sn;
            if (c1 < qdim) {
                q[(size_t)i * qdim + c1] = __float2bfloat16(y1);
                q[(size_t)i * qdim + c2] = __float2bfloat16(y2);
            } else {
                kc[at + c1 - qdim] = __float2bfloat16(y1);
                kc[at + c2 - qdim] = __float2bfloat16(y2);
            }
        } else {
            int c = 2 * (j - nrot);
            vc[at + c] = __float2bfloat16(fr[qdim + kvdim + c] + bias[qdim + kvdim + c]);
            vc[at + c + 1] = __float2bfloat16(fr[qdim + kvdim + c + 1] + bias[qdim + kvdim + c + 1]);
        }
    }
}

void k_qkv_to_cache(cudaStream_t s, bf16 *q, bf16 *kc, bf16 *vc, const float *f, const float *bias,
                    const float *cos_t, const float *sin_t, const int32_t *row, const int32_t *pos, int n, int H,
                    int KVH, int hd, int max_T) {
    if (n > 0)
        qkv_to_cache_kernel<<<n, 128, 0, s>>>(q, kc, vc, f, bias, cos_t, sin_t, row, pos, H, KVH, hd, max_T);
}

__global__ void rmsnorm_rows_kernel(bf16 *out, const float *x, const int32_t *idx, const float *w, int C,
                                    float eps) {
    __shared__ float red[32];
    int i = blockIdx.x;
    const float *xr = x + (size_t)idx[i] * C;
    float ss = 0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ss += xr[c] * xr[c];
    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = ss;
    __syncthreads();
    ss = 0;
    for (int k = 0; k < (int)(blockDim.x >> 5); k++) ss += red[k];
    float r = 1.0f / sqrtf(ss / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) out[(size_t)i * C + c] = __float2bfloat16(w[c] * (xr[c] * r));
}

void k_rmsnorm_rows(cudaStream_t s, bf16 *out, const float *x, const int32_t *idx, const float *w, int n, int C,
                    float eps) {
    if (n > 0) rmsnorm_rows_kernel<<<n, 256, 0, s>>>(out, x, idx, w, C, eps);
}

/* ---------------- fused small-batch kernels ---------------- */

// xs (n, K) in shared memory = rmsnorm(x) * w, or the bf16 input as float.
template <int R>
__device__ void prologue_norm(float *xs, const float *x, const float *w, int n, int K, float eps) {
    __shared__ float red[R][FW];
    const int lane = threadIdx.x & 31, wp = threadIdx.x >> 5;
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (r >= n) break;
        float ss = 0;
        for (int c = threadIdx.x; c < K; c += FT) {
            float v = x[(size_t)r * K + c];
            xs[r * K + c] = v;
            ss += v * v;
        }
        for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
        if (lane == 0) red[r][wp] = ss;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < R; r++) {
        if (r >= n) break;
        float ss = 0;
        for (int k = 0; k < FW; k++) ss += red[r][k];
        float rs = 1.0f / sqrtf(ss / K + eps);
        for (int c = threadIdx.x; c < K; c += FT) xs[r * K + c] = w[c] * (xs[r * K + c] * rs);
    }
    __syncthreads();
}

template <int R>
__device__ void prologue_copy(float *xs, const bf16 *in, int n, int K) {
    for (int i = threadIdx.x; i < n * K; i += FT) xs[i] = __bfloat162float(in[i]);
    __syncthreads();
}

// Asks L2 for a weight row (this lane's 16-byte pieces of it) ahead of use:
// the fused kernels issue it for their first rows before the prologue, so
// that the weight stream overlaps the norm of the inputs, and for the next
// row inside their loops.
__device__ __forceinline__ void prefetch_row(const bf16 *wrow, int K) {
    for (int c = (threadIdx.x & 31) * 8; c < K; c += 256) asm volatile("prefetch.global.L2 [%0];" ::"l"(wrow + c));
}

// Programmatic dependent launch (sm_90): a fused kernel lets the next one
// start early, and waits for the previous one only after it has issued its
// weight prefetches. Both are no-ops when the launch did not ask for it.
__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void qkv_unit(int u, int H, int KVH, int hd, int *c1, int *d, int *rot) {
    const int half = hd / 2, nrot = (H + KVH) * half, qdim = H * hd, kvdim = KVH * hd;
    if (u < nrot) {
        *c1 = (u / half) * hd + u % half;
        *d = u % half;
        *rot = 1;
    } else {
        int j = u - nrot;
        *c1 = qdim + kvdim + (j / half) * hd + j % half;
        *d = j % half;
        *rot = 0;
    }
}

// acc[r] = W[row, :] . xs[r, :] for r < n, reduced across the warp.
template <int R>
__device__ __forceinline__ void warp_dot(float acc[R], const bf16 *wrow, const float *xs, int n, int K) {
    const int lane = threadIdx.x & 31;
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.f;
#pragma unroll 8
    for (int c = lane * 8; c < K; c += 256) {
        uint4 u = __ldg(reinterpret_cast<const uint4 *>(wrow + c));
        const __nv_bfloat162 *p2 = reinterpret_cast<const __nv_bfloat162 *>(&u);
        float wf[8];
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 f = __bfloat1622float2(p2[e]);
            wf[2 * e] = f.x;
            wf[2 * e + 1] = f.y;
        }
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (r < n) {
                const float4 *xp = reinterpret_cast<const float4 *>(xs + r * K + c);
                float4 a = xp[0], b = xp[1];
                acc[r] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w + wf[4] * b.x + wf[5] * b.y +
                          wf[6] * b.z + wf[7] * b.w;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < R; r++)
        for (int o = 16; o > 0; o >>= 1) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], o);
}

template <int R>
__global__ void __launch_bounds__(FT) fqkv_kernel(bf16 *q, bf16 *kc, bf16 *vc, const float *x, const float *lnw,
                                                  const bf16 *W, const float *bias, const float *cos_t,
                                                  const float *sin_t, const int32_t *row, const int32_t *pos, int n,
                                                  int C, int H, int KVH, int hd, int max_T, float eps) {
    extern __shared__ __align__(16) float xs[];
    pdl_trigger();
    const int half = hd / 2, qdim = H * hd, kvdim = KVH * hd;
    const int nrot = (H + KVH) * half, units = nrot + kvdim / 2;
    const int lane = threadIdx.x & 31, step = gridDim.x * FW;
    {
        int u0 = blockIdx.x * FW + (threadIdx.x >> 5), c1, d, rot;
        if (u0 < units) {
            qkv_unit(u0, H, KVH, hd, &c1, &d, &rot);
            prefetch_row(W + (size_t)c1 * C, C);
            prefetch_row(W + (size_t)(c1 + half) * C, C);
        }
    }
    pdl_wait();
    prologue_norm<R>(xs, x, lnw, n, C, eps);
    for (int u = blockIdx.x * FW + (threadIdx.x >> 5); u < units; u += step) {
        int c1, d, rot;
        qkv_unit(u, H, KVH, hd, &c1, &d, &rot);
        if (u + step < units) {
            int n1, nd, nr;
            qkv_unit(u + step, H, KVH, hd, &n1, &nd, &nr);
            prefetch_row(W + (size_t)n1 * C, C);
            prefetch_row(W + (size_t)(n1 + half) * C, C);
        }
        int c2 = c1 + half;
        float a1[R], a2[R];
        warp_dot<R>(a1, W + (size_t)c1 * C, xs, n, C);
        warp_dot<R>(a2, W + (size_t)c2 * C, xs, n, C);
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < R; r++) {
                if (r >= n) break;
                int t = pos[r];
                float y1 = a1[r] + bias[c1], y2 = a2[r] + bias[c2];
                if (rot) {
                    float cs = cos_t[(size_t)t * half + d], sn = sin_t[(size_t)t * half + d];
                    float z1 = y1 * cs - y2 * sn, z2 = y2 * cs + y1 * sn;
                    y1 = z1;
                    y2 = z2;
                }
                size_t at = ((size_t)row[r] * max_T + t) * kvdim;
                if (c1 < qdim) {
                    q[(size_t)r * qdim + c1] = __float2bfloat16(y1);
                    q[(size_t)r * qdim + c2] = __float2bfloat16(y2);
                } else if (c1 < qdim + kvdim) {
                    kc[at + c1 - qdim] = __float2bfloat16(y1);
                    kc[at + c2 - qdim] = __float2bfloat16(y2);
                } else {
                    vc[at + c1 - qdim - kvdim] = __float2bfloat16(y1);
                    vc[at + c2 - qdim - kvdim] = __float2bfloat16(y2);
                }
            }
        }
    }
}

// x (n, N_out) += in (n, K) @ W (N_out, K)^T
template <int R>
__global__ void __launch_bounds__(FT) fout_kernel(float *x, const bf16 *in, const bf16 *W, int n, int N_out, int K) {
    extern __shared__ __align__(16) float xs[];
    const int lane = threadIdx.x & 31, step = gridDim.x * FW, o0 = blockIdx.x * FW + (threadIdx.x >> 5);
    pdl_trigger();
    if (o0 < N_out) prefetch_row(W + (size_t)o0 * K, K);
    pdl_wait();
    prologue_copy<R>(xs, in, n, K);
    for (int o = o0; o < N_out; o += step) {
        if (o + step < N_out) prefetch_row(W + (size_t)(o + step) * K, K);
        float a[R];
        warp_dot<R>(a, W + (size_t)o * K, xs, n, K);
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < R; r++)
                if (r < n) x[(size_t)r * N_out + o] += a[r];
        }
    }
}

// h (n, I) = silu(g) * u with [g; u] = rmsnorm(x) @ Wgu^T
template <int R>
__global__ void __launch_bounds__(FT) fgu_kernel(bf16 *h, const float *x, const float *lnw, const bf16 *W, int n,
                                                 int C, int I, float eps) {
    extern __shared__ __align__(16) float xs[];
    const int lane = threadIdx.x & 31, step = gridDim.x * FW, u0 = blockIdx.x * FW + (threadIdx.x >> 5);
    pdl_trigger();
    if (u0 < I) {
        prefetch_row(W + (size_t)u0 * C, C);
        prefetch_row(W + (size_t)(I + u0) * C, C);
    }
    pdl_wait();
    prologue_norm<R>(xs, x, lnw, n, C, eps);
    for (int u = u0; u < I; u += step) {
        if (u + step < I) {
            prefetch_row(W + (size_t)(u + step) * C, C);
            prefetch_row(W + (size_t)(I + u + step) * C, C);
        }
        float g[R], up[R];
        warp_dot<R>(g, W + (size_t)u * C, xs, n, C);
        warp_dot<R>(up, W + (size_t)(I + u) * C, xs, n, C);
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < R; r++)
                if (r < n) h[(size_t)r * I + u] = __float2bfloat16(g[r] / (1.0f + expf(-g[r])) * up[r]);
        }
    }
}

// logits (n, V) = rmsnorm(x) @ W^T
template <int R>
__global__ void __launch_bounds__(FT) fhead_kernel(float *logits, const float *x, const float *lnw, const bf16 *W,
                                                   int n, int C, int V, float eps) {
    extern __shared__ __align__(16) float xs[];
    const int lane = threadIdx.x & 31, step = gridDim.x * FW, v0 = blockIdx.x * FW + (threadIdx.x >> 5);
    pdl_trigger();
    if (v0 < V) prefetch_row(W + (size_t)v0 * C, C);
    pdl_wait();
    prologue_norm<R>(xs, x, lnw, n, C, eps);
    for (int v = v0; v < V; v += step) {
        if (v + step < V) prefetch_row(W + (size_t)(v + step) * C, C);
        float a[R];
        warp_dot<R>(a, W + (size_t)v * C, xs, n, C);
        if (lane == 0) {
#pragma unroll
            for (int r = 0; r < R; r++)
                if (r < n) logits[(size_t)r * V + v] = a[r];
        }
    }
}

#define FUSED_R 4

int fused_rows_max(const rn_model *m) {
    if (m->C % 8 || m->I % 8 || m->qdim % 8) return 0;
    int K = m->C > m->I ? m->C : m->I;
    if (m->qdim > K) K = m->qdim;
    if ((size_t)FUSED_R * K * 4 > 200 * 1024) return 0;
    return FUSED_R;
}

int fused_prepare(rn_model *m) {
    int K = m->C > m->I ? m->C : m->I;
    if (m->qdim > K) K = m->qdim;
    int bytes = FUSED_R * K * 4;
    cudaFuncSetAttribute(fqkv_kernel<FUSED_R>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fout_kernel<FUSED_R>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fgu_kernel<FUSED_R>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fhead_kernel<FUSED_R>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    bytes = K * 4;
    cudaFuncSetAttribute(fqkv_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fout_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fgu_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    cudaFuncSetAttribute(fhead_kernel<1>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    return 0;
}

// Launches a fused kernel with programmatic stream serialisation (PDL) when
// RESYN_CUDA_PDL=1 (and the launch is accepted), else plainly. Opt-in: it
// was written after the last GPU run and has not been measured there yet.
template <typename... P, typename... A>
static void launch_pdl(cudaStream_t s, int grid, size_t smem, void (*k)(P...), A... args) {
    static int use = -1;
    if (use < 0) {
        const char *e = getenv("RESYN_CUDA_PDL");
        use = e && e[0] == '1';
    }
    if (use) {
        cudaLaunchConfig_t cfg = {};
        cudaLaunchAttribute attr[1];
        attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attr[0].val.programmaticStreamSerializationAllowed = 1;
        cfg.gridDim = dim3(grid);
        cfg.blockDim = dim3(FT);
        cfg.dynamicSmemBytes = smem;
        cfg.stream = s;
        cfg.attrs = attr;
        cfg.numAttrs = 1;
        if (cudaLaunchKernelEx(&cfg, k, ((P)args)...) == cudaSuccess) return;
        cudaGetLastError();
        use = 0;
    }
    k<<<grid, FT, smem, s>>>(((P)args)...);
}

static int grid_for(const rn_model *m, int units) {
    int g = cdiv(units, FW), cap = m->n_sm * 16;
    return g < cap ? g : cap;
}

void f_qkv(rn_model *m, int l, bf16 *q, bf16 *kc, bf16 *vc, const float *x, const int32_t *row, const int32_t *pos,
           int n, int max_T) {
    const layer_off *o = &m->tt.lo[l];
    int units = (m->H + m->KVH) * (m->hd / 2) + m->kvdim / 2, g = grid_for(m, units);
#define ARGS q, kc, vc, x, m->p32 + o->ln1, m->p16 + o->wqkv, m->p32 + o->bqkv, m->rope_cos, m->rope_sin, row, pos, n, \
        m->C, m->H, m->KVH, m->hd, max_T, m->cfg.rms_norm_eps
    if (n == 1)
        launch_pdl(m->stream, g, (size_t)m->C * 4, fqkv_kernel<1>, ARGS);
    else
        launch_pdl(m->stream, g, (size_t)FUSED_R * m->C * 4, fqkv_kernel<FUSED_R>, ARGS);
#undef ARGS
}

void f_out_residual(rn_model *m, float *x, const bf16 *in, size_t w_off, int n, int N_out, int K) {
    int g = grid_for(m, N_out);
    const bf16 *W = m->p16 + w_off;
    if (n == 1)
        launch_pdl(m->stream, g, (size_t)K * 4, fout_kernel<1>, x, in, W, n, N_out, K);
    else
        launch_pdl(m->stream, g, (size_t)FUSED_R * K * 4, fout_kernel<FUSED_R>, x, in, W, n, N_out, K);
}

void f_gate_up(rn_model *m, int l, bf16 *h, const float *x, int n) {
    const layer_off *o = &m->tt.lo[l];
    int g = grid_for(m, m->I);
#define ARGS h, x, m->p32 + o->ln2, m->p16 + o->wgu, n, m->C, m->I, m->cfg.rms_norm_eps
    if (n == 1)
        launch_pdl(m->stream, g, (size_t)m->C * 4, fgu_kernel<1>, ARGS);
    else
        launch_pdl(m->stream, g, (size_t)FUSED_R * m->C * 4, fgu_kernel<FUSED_R>, ARGS);
#undef ARGS
}

void f_head(rn_model *m, float *logits, const float *x, int n) {
    int g = grid_for(m, m->V);
#define ARGS logits, x, m->p32 + m->tt.lnf, m->p16 + m->tt.head, n, m->C, m->V, m->cfg.rms_norm_eps
    if (n == 1)
        launch_pdl(m->stream, g, (size_t)m->C * 4, fhead_kernel<1>, ARGS);
    else
        launch_pdl(m->stream, g, (size_t)FUSED_R * m->C * 4, fhead_kernel<FUSED_R>, ARGS);
#undef ARGS
}

/* ---------------- sampling ---------------- */

#define SMP 1024

__device__ __forceinline__ uint64_t rng_next_d(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

__device__ float bsum_f(float v, float *sh) {
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) sh[w] = v;
    __syncthreads();
    float t = 0;
    for (int k = 0; k < SMP / 32; k++) t += sh[k];
    return t;
}

// One block per logits row i (row lrow[i] of the batch).
__global__ void __launch_bounds__(SMP) sample_kernel(const float *logits, const int32_t *lrow, int32_t *cur,
                                                     int32_t *cpos, int32_t *live, int32_t *outlen, int32_t *out_tok,
                                                     float *out_lp, uint64_t *rng, const int32_t *stop, int n_stop,
                                                     int32_t *nlive, int maxnew, int V, float temperature,
                                                     float top_p) {
    __shared__ float shf[SMP / 32];
    __shared__ int shi[SMP / 32];
    __shared__ double shd[SMP];
    __shared__ float s_u;
    __shared__ int s_tok;
    const int i = blockIdx.x, b = lrow[i];
    if (!live[b]) return;
    const float *z = logits + (size_t)i * V;
    const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
    // max, lowest id on ties
    float mx = -INFINITY;
    int arg = V;
    const int V4 = (V & 3) == 0 ? V / 4 : 0;
    const float4 *z4 = reinterpret_cast<const float4 *>(z);
#pragma unroll 4
    for (int k = tid; k < V4; k += SMP) {
        float4 q = z4[k];
        if (q.x > mx) { mx = q.x; arg = 4 * k; }
        if (q.y > mx) { mx = q.y; arg = 4 * k + 1; }
        if (q.z > mx) { mx = q.z; arg = 4 * k + 2; }
        if (q.w > mx) { mx = q.w; arg = 4 * k + 3; }
    }
    for (int v = 4 * V4 + tid; v < V; v += SMP)
        if (z[v] > mx) {
            mx = z[v];
            arg = v;
        }
    for (int o = 16; o > 0; o >>= 1) {
        float om = __shfl_xor_sync(0xffffffffu, mx, o);
        int oa = __shfl_xor_sync(0xffffffffu, arg, o);
        if (om > mx || (om == mx && oa < arg)) {
            mx = om;
            arg = oa;
        }
    }
    if (lane == 0) {
        shf[w] = mx;
        shi[w] = arg;
    }
    __syncthreads();
    mx = shf[0];
    arg = shi[0];
    for (int k = 1; k < SMP / 32; k++)
        if (shf[k] > mx || (shf[k] == mx && shi[k] < arg)) {
            mx = shf[k];
            arg = shi[k];
        }
    float se = 0;
#pragma unroll 4
    for (int k = tid; k < V4; k += SMP) {
        float4 q = z4[k];
        se += __expf(q.x - mx) + __expf(q.y - mx) + __expf(q.z - mx) + __expf(q.w - mx);
    }
    for (int v = 4 * V4 + tid; v < V; v += SMP) se += expf(z[v] - mx);
    float lse = mx + logf(bsum_f(se, shf));
    int tok = arg;
    if (temperature > 0) {
        if (tid == 0) {
            uint64_t st = rng[b];
            s_u = (float)((rng_next_d(&st) >> 11) * 0x1.0p-53);
            rng[b] = st;
        }
        const float it = 1.0f / temperature;
        float ts = 0;
        for (int v = tid; v < V; v += SMP) ts += expf((z[v] - mx) * it);
        float tsum = bsum_f(ts, shf);
        float thr = 0.f;
        if (top_p < 1.0f) {
            float target = top_p * tsum, lo = 0.f, hi = 1.f;
            float m1 = 0;
            for (int v = tid; v < V; v += SMP) {
                float p = expf((z[v] - mx) * it);
                if (p >= 1.f) m1 += p;
            }
            if (bsum_f(m1, shf) >= target) {
                lo = 1.f;
            } else {
                for (int iter = 0; iter < 32; iter++) {
                    float mid = 0.5f * (lo + hi), mm = 0;
                    for (int v = tid; v < V; v += SMP) {
                        float p = expf((z[v] - mx) * it);
                        if (p >= mid) mm += p;
                    }
                    if (bsum_f(mm, shf) >= target)
                        lo = mid;
                    else
                        hi = mid;
                }
            }
            thr = lo;
        }
        // inverse CDF over the kept tokens in id order; thread tid owns a contiguous range
        const int chunk = (V + SMP - 1) / SMP, v0 = tid * chunk, v1 = min(V, v0 + chunk);
        double part = 0;
        for (int v = v0; v < v1; v++) {
            float p = expf((z[v] - mx) * it);
            if (p >= thr) part += p;
        }
        shd[tid] = part;
        if (tid == 0) s_tok = -1;
        __syncthreads();
        // inclusive scan (Hillis-Steele) over SMP partials
        for (int off = 1; off < SMP; off <<= 1) {
            double add = tid >= off ? shd[tid - off] : 0.0;
            __syncthreads();
            shd[tid] += add;
            __syncthreads();
        }
        double kept = shd[SMP - 1], r = (double)s_u * kept;
        double before = tid > 0 ? shd[tid - 1] : 0.0;
        if (part > 0 && r >= before && r < shd[tid]) {
            double acc = before;
            int pick = -1, lastk = -1;
            for (int v = v0; v < v1; v++) {
                float p = expf((z[v] - mx) * it);
                if (p >= thr) {
                    lastk = v;
                    acc += p;
                    if (r < acc) {
                        pick = v;
                        break;
                    }
                }
            }
            s_tok = pick >= 0 ? pick : lastk;
        }
        __syncthreads();
        if (s_tok >= 0) tok = s_tok;
    }
    if (tid == 0) {
        int k = outlen[b];
        out_tok[(size_t)b * maxnew + k] = tok;
        out_lp[(size_t)b * maxnew + k] = z[tok] - lse;
        outlen[b] = k + 1;
        cur[b] = tok;
        cpos[b] += 1;
        int st = k + 1 >= maxnew;
        for (int j = 0; j < n_stop && !st; j++) st = tok == stop[j];
        if (st) {
            live[b] = 0;
            atomicSub(nlive, 1);
        }
    }
}

void k_sample(cudaStream_t s, gen_bufs *g, const float *logits, int nb, int V, float temperature, float top_p,
              int n_stop) {
    if (nb > 0)
        sample_kernel<<<nb, SMP, 0, s>>>(logits, g->lrow, g->cur, g->cpos, g->live, g->outlen, g->out_tok, g->out_lp,
                                         g->rng, g->stop, n_stop, g->nlive, g->maxnew, V, temperature, top_p);
}
