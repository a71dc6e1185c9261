/*
 * attention.cu — causal grouped-query attention.
 *
 * Training: flash-style forward and backward on the tensor cores
 * (mma.sync m16n8k16, bf16 in, fp32 accumulate), after FlashAttention-2:
 * the forward keeps a running max and sum per query row and never stores
 * the (T, T) scores, writing the output and the log-sum-exp; the backward
 * runs one block per (key tile, query head, row), recomputes the
 * probabilities from the saved log-sum-exp, keeps dK and dV for its keys in
 * registers over the query tiles, and adds dQ, dK and dV with fp32 atomics
 * (dK and dV once per query head of the kv head's group).
 * Head dims 32, 64 and 128 are compiled.
 *
 * Decoding: one block per (query, head) over the KV cache of its row, the
 * scores in shared memory: used for prefill and for every decode step.
 */
#include <math.h>
#include "common.cuh"

__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

__device__ __forceinline__ uint32_t ld32(const bf16 *p) { return *reinterpret_cast<const uint32_t *>(p); }

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

/* ---------------- forward ---------------- */

// grid (ceil(T/64), H, B), 128 threads; warp w owns query rows q0+16w..+15.
template <int HD>
__global__ void __launch_bounds__(128) attn_fwd_kernel(bf16 *out, float *lse, const bf16 *qkv, int T, int H, int KVH,
                                                       float scale) {
    constexpr int BQ = 64, BK = 64, KS = HD + 8, VS = BK + 8;
    __shared__ __align__(16) bf16 Ks[BK * KS];
    __shared__ __align__(16) bf16 Vt[HD * VS];
    const int qt = gridDim.x - 1 - blockIdx.x, h = blockIdx.y, b = blockIdx.z;  // longest tiles first
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const int qdim = H * HD, kvdim = KVH * HD, stride = qdim + 2 * kvdim;
    const int kvh = h / (H / KVH);
    const bf16 *base = qkv + (size_t)b * T * stride;
    const int r0 = qt * BQ + warp * 16 + g, r1 = r0 + 8;

    uint32_t qf[HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        int col = h * HD + ks * 16 + 2 * t4;
        qf[ks][0] = r0 < T ? ld32(base + (size_t)r0 * stride + col) : 0u;
        qf[ks][1] = r1 < T ? ld32(base + (size_t)r1 * stride + col) : 0u;
        qf[ks][2] = r0 < T ? ld32(base + (size_t)r0 * stride + col + 8) : 0u;
        qf[ks][3] = r1 < T ? ld32(base + (size_t)r1 * stride + col + 8) : 0u;
    }
    float o[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;
    const float sl2 = scale * LOG2E;
    const int kend = min(qt * BQ + BQ, T);

    for (int k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();
        for (int i = threadIdx.x; i < BK * HD / 8; i += 128) {
            int key = i / (HD / 8), c8 = (i % (HD / 8)) * 8, kk = k0 + key;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (kk < T) {
                const bf16 *src = base + (size_t)kk * stride + qdim + kvh * HD + c8;
                kv = *reinterpret_cast<const uint4 *>(src);
                vv = *reinterpret_cast<const uint4 *>(src + kvdim);
            }
            *reinterpret_cast<uint4 *>(Ks + key * KS + c8) = kv;
            const bf16 *vp = reinterpret_cast<const bf16 *>(&vv);
#pragma unroll
            for (int j = 0; j < 8; j++) Vt[(c8 + j) * VS + key] = vp[j];
        }
        __syncthreads();
        float s[BK / 8][4];
#pragma unroll
        for (int j = 0; j < BK / 8; j++) {
            s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
#pragma unroll
            for (int ks = 0; ks < HD / 16; ks++) {
                const bf16 *kp = Ks + (j * 8 + g) * KS + ks * 16 + 2 * t4;
                mma16816(s[j], qf[ks], ld32(kp), ld32(kp + 8));
            }
        }
        float mx0 = m0, mx1 = m1;
#pragma unroll
        for (int j = 0; j < BK / 8; j++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + j * 8 + 2 * t4 + (e & 1), row = e < 2 ? r0 : r1;
                float v = s[j][e] * sl2;
                if (key > row || key >= T) v = -INFINITY;
                s[j][e] = v;
                if (e < 2)
                    mx0 = fmaxf(mx0, v);
                else
                    mx1 = fmaxf(mx1, v);
            }
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float c0 = mx0 == -INFINITY ? 1.f : exp2f(m0 - mx0), c1 = mx1 == -INFINITY ? 1.f : exp2f(m1 - mx1);
        m0 = mx0;
        m1 = mx1;
        l0 *= c0;
        l1 *= c1;
#pragma unroll
        for (int i = 0; i < HD / 8; i++) {
            o[i][0] *= c0;
            o[i][1] *= c0;
            o[i][2] *= c1;
            o[i][3] *= c1;
        }
        const float ms0 = m0 == -INFINITY ? 0.f : m0, ms1 = m1 == -INFINITY ? 0.f : m1;
#pragma unroll
        for (int j = 0; j < BK / 8; j++) {
            s[j][0] = exp2f(s[j][0] - ms0);
            s[j][1] = exp2f(s[j][1] - ms0);
            s[j][2] = exp2f(s[j][2] - ms1);
            s[j][3] = exp2f(s[j][3] - ms1);
            l0 += s[j][0] + s[j][1];
            l1 += s[j][2] + s[j][3];
        }
#pragma unroll
        for (int kc = 0; kc < BK / 16; kc++) {
            uint32_t a[4] = {pack_bf16(s[2 * kc][0], s[2 * kc][1]), pack_bf16(s[2 * kc][2], s[2 * kc][3]),
                             pack_bf16(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                             pack_bf16(s[2 * kc + 1][2], s[2 * kc + 1][3])};
#pragma unroll
            for (int nt = 0; nt < HD / 8; nt++) {
                const bf16 *vp = Vt + (nt * 8 + g) * VS + kc * 16 + 2 * t4;
                mma16816(o[nt], a, ld32(vp), ld32(vp + 8));
            }
        }
    }
    l0 += __shfl_xor_sync(0xffffffffu, l0, 1);
    l0 += __shfl_xor_sync(0xffffffffu, l0, 2);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 1);
    l1 += __shfl_xor_sync(0xffffffffu, l1, 2);
    float inv0 = 1.f / l0, inv1 = 1.f / l1;
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt++) {
        int col = h * HD + nt * 8 + 2 * t4;
        if (r0 < T)
            *reinterpret_cast<uint32_t *>(out + ((size_t)b * T + r0) * qdim + col) =
                pack_bf16(o[nt][0] * inv0, o[nt][1] * inv0);
        if (r1 < T)
            *reinterpret_cast<uint32_t *>(out + ((size_t)b * T + r1) * qdim + col) =
                pack_bf16(o[nt][2] * inv1, o[nt][3] * inv1);
    }
    if (t4 == 0) {
        if (r0 < T) lse[((size_t)b * T + r0) * H + h] = (m0 + log2f(l0)) * LN2;
        if (r1 < T) lse[((size_t)b * T + r1) * H + h] = (m1 + log2f(l1)) * LN2;
    }
}

/* ---------------- backward ---------------- */

template <int HD>
struct bwd_smem {
    static constexpr int BQ = 64, BK = 64, QS = HD + 8, TS = BQ + 8, KTS = BK + 8, DSS = BK + 8;
    static constexpr size_t bytes =
        sizeof(bf16) * (2 * BQ * QS + 2 * HD * TS + HD * KTS + BQ * DSS) + sizeof(float) * 2 * BQ;
};

// grid (ceil(T/64), H, B), 128 threads; warp w owns keys k0+16w..+15 of the
// kv head of query head blockIdx.y. dqkv (fp32) must hold zeros: dQ, dK and
// dV are added atomically (dK, dV once per query head of the group).
template <int HD>
__global__ void __launch_bounds__(128) attn_bwd_kernel(float *dqkv, const bf16 *dout, const bf16 *qkv,
                                                       const float *lse, const float *Dg, int T, int H, int KVH,
                                                       float scale) {
    typedef bwd_smem<HD> S;
    constexpr int BQ = S::BQ, BK = S::BK, QS = S::QS, TS = S::TS, KTS = S::KTS, DSS = S::DSS;
    extern __shared__ __align__(16) unsigned char smem_raw[];
    bf16 *Qs = reinterpret_cast<bf16 *>(smem_raw);
    bf16 *dOs = Qs + BQ * QS;
    bf16 *Qt = dOs + BQ * QS;
    bf16 *dOt = Qt + HD * TS;
    bf16 *Kt = dOt + HD * TS;
    bf16 *dSs = Kt + HD * KTS;
    float *lse_s = reinterpret_cast<float *>(dSs + BQ * DSS);
    float *D_s = lse_s + BQ;

    const int kt = blockIdx.x, h = blockIdx.y, b = blockIdx.z;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t4 = lane & 3;
    const int qdim = H * HD, kvdim = KVH * HD, stride = qdim + 2 * kvdim, kvh = h / (H / KVH);
    const bf16 *base = qkv + (size_t)b * T * stride;
    const int k0 = kt * BK, kA = k0 + warp * 16 + g, kB = kA + 8;
    const float sl2 = scale * LOG2E;

    uint32_t kf[HD / 16][4], vf[HD / 16][4];
#pragma unroll
    for (int ks = 0; ks < HD / 16; ks++) {
        int col = qdim + kvh * HD + ks * 16 + 2 * t4;
        kf[ks][0] = kA < T ? ld32(base + (size_t)kA * stride + col) : 0u;
        kf[ks][1] = kB < T ? ld32(base + (size_t)kB * stride + col) : 0u;
        kf[ks][2] = kA < T ? ld32(base + (size_t)kA * stride + col + 8) : 0u;
        kf[ks][3] = kB < T ? ld32(base + (size_t)kB * stride + col + 8) : 0u;
        vf[ks][0] = kA < T ? ld32(base + (size_t)kA * stride + col + kvdim) : 0u;
        vf[ks][1] = kB < T ? ld32(base + (size_t)kB * stride + col + kvdim) : 0u;
        vf[ks][2] = kA < T ? ld32(base + (size_t)kA * stride + col + kvdim + 8) : 0u;
        vf[ks][3] = kB < T ? ld32(base + (size_t)kB * stride + col + kvdim + 8) : 0u;
    }
    // K of the whole tile, transposed: Kt[d][key]
    for (int i = threadIdx.x; i < BK * HD / 8; i += 128) {
        int key = i / (HD / 8), c8 = (i % (HD / 8)) * 8, kk = k0 + key;
        uint4 kv = make_uint4(0, 0, 0, 0);
        if (kk < T) kv = *reinterpret_cast<const uint4 *>(base + (size_t)kk * stride + qdim + kvh * HD + c8);
        const bf16 *kp = reinterpret_cast<const bf16 *>(&kv);
#pragma unroll
        for (int j = 0; j < 8; j++) Kt[(c8 + j) * KTS + key] = kp[j];
    }
    float dk[HD / 8][4], dv[HD / 8][4];
#pragma unroll
    for (int i = 0; i < HD / 8; i++)
#pragma unroll
        for (int e = 0; e < 4; e++) dk[i][e] = dv[i][e] = 0.f;

    {
        for (int q0 = k0; q0 < T; q0 += BQ) {
            __syncthreads();
            for (int i = threadIdx.x; i < BQ * HD / 8; i += 128) {
                int ql = i / (HD / 8), c8 = (i % (HD / 8)) * 8, q = q0 + ql;
                uint4 qv = make_uint4(0, 0, 0, 0), ov = make_uint4(0, 0, 0, 0);
                if (q < T) {
                    qv = *reinterpret_cast<const uint4 *>(base + (size_t)q * stride + h * HD + c8);
                    ov = *reinterpret_cast<const uint4 *>(dout + ((size_t)b * T + q) * qdim + h * HD + c8);
                }
                *reinterpret_cast<uint4 *>(Qs + ql * QS + c8) = qv;
                *reinterpret_cast<uint4 *>(dOs + ql * QS + c8) = ov;
                const bf16 *qp = reinterpret_cast<const bf16 *>(&qv), *op = reinterpret_cast<const bf16 *>(&ov);
#pragma unroll
                for (int j = 0; j < 8; j++) {
                    Qt[(c8 + j) * TS + ql] = qp[j];
                    dOt[(c8 + j) * TS + ql] = op[j];
                }
            }
            for (int i = threadIdx.x; i < BQ; i += 128) {
                int q = q0 + i;
                lse_s[i] = q < T ? lse[((size_t)b * T + q) * H + h] * LOG2E : INFINITY;
                D_s[i] = q < T ? Dg[((size_t)b * T + q) * H + h] : 0.f;
            }
            __syncthreads();
            // S^T = K Q^T (16 keys x 64 queries per warp), then P^T
            float st[BQ / 8][4], dp[BQ / 8][4];
#pragma unroll
            for (int j = 0; j < BQ / 8; j++) {
                st[j][0] = st[j][1] = st[j][2] = st[j][3] = 0.f;
                dp[j][0] = dp[j][1] = dp[j][2] = dp[j][3] = 0.f;
#pragma unroll
                for (int ks = 0; ks < HD / 16; ks++) {
                    const bf16 *qp = Qs + (j * 8 + g) * QS + ks * 16 + 2 * t4;
                    mma16816(st[j], kf[ks], ld32(qp), ld32(qp + 8));
                    const bf16 *op = dOs + (j * 8 + g) * QS + ks * 16 + 2 * t4;
                    mma16816(dp[j], vf[ks], ld32(op), ld32(op + 8));
                }
            }
#pragma unroll
            for (int j = 0; j < BQ / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int ql = j * 8 + 2 * t4 + (e & 1), q = q0 + ql, key = e < 2 ? kA : kB;
                    float p = (key <= q && key < T) ? exp2f(st[j][e] * sl2 - lse_s[ql]) : 0.f;
                    st[j][e] = p;
                    dp[j][e] = p * (dp[j][e] - D_s[ql]) * scale;  // dS^T, scaled
                }
            }
            // dV += P^T dO, dK += dS^T Q (k runs over the 64 queries)
#pragma unroll
            for (int kc = 0; kc < BQ / 16; kc++) {
                uint32_t ap[4] = {pack_bf16(st[2 * kc][0], st[2 * kc][1]), pack_bf16(st[2 * kc][2], st[2 * kc][3]),
                                  pack_bf16(st[2 * kc + 1][0], st[2 * kc + 1][1]),
                                  pack_bf16(st[2 * kc + 1][2], st[2 * kc + 1][3])};
                uint32_t as[4] = {pack_bf16(dp[2 * kc][0], dp[2 * kc][1]), pack_bf16(dp[2 * kc][2], dp[2 * kc][3]),
                                  pack_bf16(dp[2 * kc + 1][0], dp[2 * kc + 1][1]),
                                  pack_bf16(dp[2 * kc + 1][2], dp[2 * kc + 1][3])};
#pragma unroll
                for (int nt = 0; nt < HD / 8; nt++) {
                    const bf16 *op = dOt + (nt * 8 + g) * TS + kc * 16 + 2 * t4;
                    mma16816(dv[nt], ap, ld32(op), ld32(op + 8));
                    const bf16 *qp = Qt + (nt * 8 + g) * TS + kc * 16 + 2 * t4;
                    mma16816(dk[nt], as, ld32(qp), ld32(qp + 8));
                }
            }
            // dS (queries x keys) to shared memory for dQ
#pragma unroll
            for (int j = 0; j < BQ / 8; j++) {
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int ql = j * 8 + 2 * t4 + (e & 1), kl = warp * 16 + g + (e < 2 ? 0 : 8);
                    dSs[ql * DSS + kl] = __float2bfloat16(dp[j][e]);
                }
            }
            __syncthreads();
            // dQ (64 x HD) += dS (64 x 64 keys) K; warp w owns query rows 16w..+15
            float dq[HD / 8][4];
#pragma unroll
            for (int i = 0; i < HD / 8; i++) dq[i][0] = dq[i][1] = dq[i][2] = dq[i][3] = 0.f;
#pragma unroll
            for (int kc = 0; kc < BK / 16; kc++) {
                const bf16 *sp = dSs + (warp * 16 + g) * DSS + kc * 16 + 2 * t4;
                uint32_t a[4] = {ld32(sp), ld32(sp + 8 * DSS), ld32(sp + 8), ld32(sp + 8 * DSS + 8)};
#pragma unroll
                for (int nt = 0; nt < HD / 8; nt++) {
                    const bf16 *kp = Kt + (nt * 8 + g) * KTS + kc * 16 + 2 * t4;
                    mma16816(dq[nt], a, ld32(kp), ld32(kp + 8));
                }
            }
            int qa = q0 + warp * 16 + g, qb = qa + 8;
#pragma unroll
            for (int nt = 0; nt < HD / 8; nt++) {
                int col = h * HD + nt * 8 + 2 * t4;
                if (qa < T) {
                    float *d = dqkv + ((size_t)b * T + qa) * stride + col;
                    atomicAdd(d, dq[nt][0]);
                    atomicAdd(d + 1, dq[nt][1]);
                }
                if (qb < T) {
                    float *d = dqkv + ((size_t)b * T + qb) * stride + col;
                    atomicAdd(d, dq[nt][2]);
                    atomicAdd(d + 1, dq[nt][3]);
                }
            }
        }
    }
#pragma unroll
    for (int nt = 0; nt < HD / 8; nt++) {
        int col = qdim + kvh * HD + nt * 8 + 2 * t4;
        if (kA < T) {
            float *d = dqkv + ((size_t)b * T + kA) * stride + col;
            atomicAdd(d, dk[nt][0]);
            atomicAdd(d + 1, dk[nt][1]);
            atomicAdd(d + kvdim, dv[nt][0]);
            atomicAdd(d + kvdim + 1, dv[nt][1]);
        }
        if (kB < T) {
            float *d = dqkv + ((size_t)b * T + kB) * stride + col;
            atomicAdd(d, dk[nt][2]);
            atomicAdd(d + 1, dk[nt][3]);
            atomicAdd(d + kvdim, dv[nt][2]);
            atomicAdd(d + kvdim + 1, dv[nt][3]);
        }
    }
}

int attn_train_supported(int hd) { return hd == 32 || hd == 64 || hd == 128; }

void k_attn_forward(cudaStream_t s, bf16 *out, float *lse, const bf16 *qkv, int B, int T, int H, int KVH, int hd) {
    dim3 grid(cdiv(T, 64), H, B);
    float scale = 1.0f / sqrtf((float)hd);
    switch (hd) {
    case 32: attn_fwd_kernel<32><<<grid, 128, 0, s>>>(out, lse, qkv, T, H, KVH, scale); break;
    case 64: attn_fwd_kernel<64><<<grid, 128, 0, s>>>(out, lse, qkv, T, H, KVH, scale); break;
    case 128: attn_fwd_kernel<128><<<grid, 128, 0, s>>>(out, lse, qkv, T, H, KVH, scale); break;
    }
}

template <int HD>
static void launch_bwd(cudaStream_t s, float *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
                       const float *D, int B, int T, int H, int KVH, float scale) {
    static int configured = 0;
    size_t bytes = bwd_smem<HD>::bytes;
    if (!configured) {
        cudaFuncSetAttribute(attn_bwd_kernel<HD>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
        configured = 1;
    }
    dim3 grid(cdiv(T, 64), H, B);
    attn_bwd_kernel<HD><<<grid, 128, bytes, s>>>(dqkv, dout, qkv, lse, D, T, H, KVH, scale);
}

void k_attn_backward(cudaStream_t s, float *dqkv, const bf16 *dout, const bf16 *qkv, const float *lse,
                     const float *D, int B, int T, int H, int KVH, int hd) {
    float scale = 1.0f / sqrtf((float)hd);
    switch (hd) {
    case 32: launch_bwd<32>(s, dqkv, dout, qkv, lse, D, B, T, H, KVH, scale); break;
    case 64: launch_bwd<64>(s, dqkv, dout, qkv, lse, D, B, T, H, KVH, scale); break;
    case 128: launch_bwd<128>(s, dqkv, dout, qkv, lse, D, B, T, H, KVH, scale); break;
    }
}

/* ---------------- decoding against the KV cache ---------------- */

#define DEC_THREADS 256

// grid (n, H). Shared: scores (max_T), q (hd), partial outputs (DEC_THREADS*8).
template <int HDT>  // the head dim, or 0 for any (read from hd_rt)
__global__ void __launch_bounds__(DEC_THREADS) attn_decode_kernel(bf16 *out, const bf16 *q, const bf16 *kc,
                                                                  const bf16 *vc, const int32_t *row,
                                                                  const int32_t *pos, int H, int KVH, int hd_rt,
                                                                  int max_T, float scale) {
    const int hd = HDT ? HDT : hd_rt;
    extern __shared__ float sm[];
    __shared__ float red[32];
    const int i = blockIdx.x, h = blockIdx.y, kvh = h / (H / KVH), kvdim = KVH * hd, qdim = H * hd;
    const int n = pos[i] + 1, r = row[i];
    float *sc = sm, *qs = sm + max_T, *part = qs + hd;
    const bf16 *K = kc + (size_t)r * max_T * kvdim + kvh * hd, *Vp = vc + (size_t)r * max_T * kvdim + kvh * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) qs[d] = __bfloat162float(q[(size_t)i * qdim + h * hd + d]);
    __syncthreads();
    const int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    float mx = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        const bf16 *kj = K + (size_t)j * kvdim;
        float acc = 0.f;
#pragma unroll
        for (int d = 0; d < (HDT ? HDT : hd); d += 8) {
            uint4 u = *reinterpret_cast<const uint4 *>(kj + d);
            const __nv_bfloat162 *p2 = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 f = __bfloat1622float2(p2[e]);
                acc += qs[d + 2 * e] * f.x + qs[d + 2 * e + 1] * f.y;
            }
        }
        acc *= scale;
        sc[j] = acc;
        mx = fmaxf(mx, acc);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if (lane == 0) red[w] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int k = 0; k < nw; k++) mx = fmaxf(mx, red[k]);
    __syncthreads();
    float sum = 0.f;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float e = expf(sc[j] - mx);
        sc[j] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane == 0) red[w] = sum;
    __syncthreads();
    sum = 0.f;
    for (int k = 0; k < nw; k++) sum += red[k];
    const float inv = 1.0f / sum;
    // outputs: hd/8 threads per key, G key groups
    const int nd8 = hd / 8, G = blockDim.x / nd8, c8 = threadIdx.x % nd8, gi = threadIdx.x / nd8;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (gi < G) {
#pragma unroll 4
        for (int j = gi; j < n; j += G) {
            float p = sc[j];
            uint4 u = *reinterpret_cast<const uint4 *>(Vp + (size_t)j * kvdim + c8 * 8);
            const __nv_bfloat162 *p2 = reinterpret_cast<const __nv_bfloat162 *>(&u);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 f = __bfloat1622float2(p2[e]);
                acc[2 * e] += p * f.x;
                acc[2 * e + 1] += p * f.y;
            }
        }
#pragma unroll
        for (int e = 0; e < 8; e++) part[gi * hd + c8 * 8 + e] = acc[e];
    }
    __syncthreads();
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float t = 0.f;
        for (int k = 0; k < G; k++) t += part[k * hd + d];
        out[(size_t)i * qdim + h * hd + d] = __float2bfloat16(t * inv);
    }
}

static size_t decode_smem(int max_T, int hd) { return sizeof(float) * ((size_t)max_T + hd + DEC_THREADS * 8); }

int attn_decode_prepare(int max_T) {
    size_t bytes = decode_smem(max_T, 128);
    if (bytes > 200 * 1024) return -1;
    cudaFuncSetAttribute(attn_decode_kernel<0>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    cudaFuncSetAttribute(attn_decode_kernel<32>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    cudaFuncSetAttribute(attn_decode_kernel<64>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    cudaFuncSetAttribute(attn_decode_kernel<128>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes);
    return 0;
}

void k_attn_decode(cudaStream_t s, bf16 *out, const bf16 *q, const bf16 *kc, const bf16 *vc, const int32_t *row,
                   const int32_t *pos, int n, int H, int KVH, int hd, int max_T) {
    dim3 grid(n, H);
    size_t sm = decode_smem(max_T, hd);
    float sc = 1.0f / sqrtf((float)hd);
    switch (hd) {
    case 32: attn_decode_kernel<32><<<grid, DEC_THREADS, sm, s>>>(out, q, kc, vc, row, pos, H, KVH, hd, max_T, sc); break;
    case 64: attn_decode_kernel<64><<<grid, DEC_THREADS, sm, s>>>(out, q, kc, vc, row, pos, H, KVH, hd, max_T, sc); break;
    case 128: attn_decode_kernel<128><<<grid, DEC_THREADS, sm, s>>>(out, q, kc, vc, row, pos, H, KVH, hd, max_T, sc); break;
    default: attn_decode_kernel<0><<<grid, DEC_THREADS, sm, s>>>(out, q, kc, vc, row, pos, H, KVH, hd, max_T, sc);
    }
}
