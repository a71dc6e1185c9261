/*
 * cpu_matmul_kern.h — the block functions of cpu_matmul.c, written once for
 * a vector of VW floats and included once per width: VW = 16 (AVX-512,
 * compiled for x86-64-v4) and VW = 8 (AVX2+FMA and the baseline, through
 * target_clones). Before including, define VW, vf (a GCC vector type of VW
 * floats), KERN(name) (the name with the width's suffix) and KERN_TARGET
 * (the target attribute of the width's functions).
 *
 * SHUF(a, b, i...) picks lanes i of the concatenation a:b (GCC >= 12 and
 * clang: __builtin_shufflevector; older GCC: __builtin_shuffle with a mask
 * of type vi, VW ints).
 *
 * Each output element is summed in one order that depends on K and VW
 * only, never on the tile, block or thread that computes it:
 *   nt: VW lanes over k (lane l holds k = l, l + VW, ...), the lanes
 *       reduced by a fixed tree of shuffles (four halvings), then the k
 *       beyond the last full vector, then the bias;
 *   nn, tn: k = 0, 1, ..., K-1 one after another (broadcast multiply-adds).
 */

#if defined(__clang__) || __GNUC__ >= 12
#define SHUF(a, b, ...) __builtin_shufflevector(a, b, __VA_ARGS__)
#else
#define SHUF(a, b, ...) __builtin_shuffle(a, b, (vi){__VA_ARGS__})
#endif

static inline vf KERN(ld)(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void KERN(st)(float *p, vf v) { memcpy(p, &v, sizeof v); }

/* ---------------- out = a @ b^T ---------------- */

#if VW == 16
// The accumulator of tile element e (= 4i + j) is c[SLOT(e)], so that the
// reduction tree below leaves element e's sum in lane e: rev4(e), the four
// bits of e reversed.
#define SLOT(e) ((((e) & 1) << 3) | (((e) & 2) << 1) | (((e) & 4) >> 1) | (((e) & 8) >> 3))
// Sixteen accumulators reduced to sixteen lane sums in r (one vector):
// four halvings, each adding two shuffles of a pair.
static inline __attribute__((always_inline)) void KERN(reduce16)(float *r, const vf *c) {
    vf w[8], u[4], z[2];
    for (int k = 0; k < 8; k++)
        w[k] = SHUF(c[2 * k], c[2 * k + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22,
                                       23) +
               SHUF(c[2 * k], c[2 * k + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29,
                                       30, 31);
    for (int k = 0; k < 4; k++)
        u[k] = SHUF(w[2 * k], w[2 * k + 1], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26,
                                       27) +
               SHUF(w[2 * k], w[2 * k + 1], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29,
                                       30, 31);
    for (int k = 0; k < 2; k++)
        z[k] = SHUF(u[2 * k], u[2 * k + 1], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28,
                                       29) +
               SHUF(u[2 * k], u[2 * k + 1], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15,
                                       30, 31);
    KERN(st)(r, SHUF(z[0], z[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30) +
                    SHUF(z[0], z[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31));
}
#else
// As above for 8 lanes: element e's accumulator is c[(e & 8) | rev3(e & 7)]
// and three halvings leave the sums of elements 0..7 and 8..15 in two
// vectors.
#define SLOT(e) (((e) & 8) | (((e) & 1) << 2) | ((e) & 2) | (((e) & 4) >> 2))
static inline __attribute__((always_inline)) void KERN(reduce16)(float *r, const vf *c) {
    vf w[8], u[4];
    for (int k = 0; k < 8; k++)
        w[k] = SHUF(c[2 * k], c[2 * k + 1], 0, 1, 2, 3, 8, 9, 10, 11) +
               SHUF(c[2 * k], c[2 * k + 1], 4, 5, 6, 7, 12, 13, 14, 15);
    for (int k = 0; k < 4; k++)
        u[k] = SHUF(w[2 * k], w[2 * k + 1], 0, 1, 8, 9, 4, 5, 12, 13) +
               SHUF(w[2 * k], w[2 * k + 1], 2, 3, 10, 11, 6, 7, 14, 15);
    for (int k = 0; k < 2; k++)
        KERN(st)(r + 8 * k, SHUF(u[2 * k], u[2 * k + 1], 0, 8, 2, 10, 4, 12, 6, 14) +
                                SHUF(u[2 * k], u[2 * k + 1], 1, 9, 3, 11, 5, 13, 7, 15));
}
#endif

// out (mr, nr) tile, mr, nr <= 4: always a full 4x4 tile of sums, the rows
// and columns past mr, nr repeating the last one and thrown away, so an
// element's sum is the same in a full tile and a partial one.
static inline __attribute__((always_inline)) void KERN(nt_tile)(float *out, int ldo, const float *a, int lda,
                                                                const float *b, int ldb, const float *bias, int mr,
                                                                int nr, int K, int acc) {
    const float *ar[4], *br[4];
    for (int i = 0; i < 4; i++) ar[i] = a + (size_t)(i < mr ? i : mr - 1) * lda;
    for (int j = 0; j < 4; j++) br[j] = b + (size_t)(j < nr ? j : nr - 1) * ldb;
    vf c[16];
    for (int i = 0; i < 16; i++) c[i] = (vf){0};
    int KV = K - K % VW;
    for (int k = 0; k < KV; k += VW) {
        vf bv[4];
        for (int j = 0; j < 4; j++) bv[j] = KERN(ld)(br[j] + k);
        for (int i = 0; i < 4; i++) {
            vf av = KERN(ld)(ar[i] + k);
            for (int j = 0; j < 4; j++) c[SLOT(4 * i + j)] += av * bv[j];
        }
    }
    float r[16];
    KERN(reduce16)(r, c);
    if (mr == 4 && nr == 4 && KV == K) {  // rows of four: the same operations as below, four at a time
        for (int i = 0; i < 4; i++) {
            v4f s, t;
            memcpy(&s, r + 4 * i, sizeof s);
            if (bias) memcpy(&t, bias, sizeof t), s += t;
            float *o = out + (size_t)i * ldo;
            if (acc) memcpy(&t, o, sizeof t), s = t + s;
            memcpy(o, &s, sizeof s);
        }
        return;
    }
    for (int i = 0; i < mr; i++) {
        for (int j = 0; j < nr; j++) {
            float s = r[4 * i + j];
            for (int k = KV; k < K; k++) s += ar[i][k] * br[j][k];
            if (bias) s += bias[j];
            float *o = out + (size_t)i * ldo + j;
            *o = acc ? *o + s : s;
        }
    }
}
#undef SLOT

KERN_TARGET
static void KERN(nt_block)(float *out, const float *a, const float *b, const float *bias, int m0, int m1, int n0,
                           int n1, int N, int K, int acc) {
    for (int j = n0; j < n1; j += 4) {
        int nr = n1 - j < 4 ? n1 - j : 4;
        const float *bj = b + (size_t)j * K;
        const float *biasj = bias ? bias + j : NULL;
        for (int i = m0; i < m1; i += 4) {
            int mr = m1 - i < 4 ? m1 - i : 4;
            KERN(nt_tile)(out + (size_t)i * N + j, N, a + (size_t)i * K, K, bj, K, biasj, mr, nr, K, acc);
        }
    }
}

/* ---------------- out += a @ b ---------------- */

// out (mr, NV*VW) += a (mr, kc) @ b (kc, NV*VW), mr <= 6; element (i, k)
// of a is a[i * sai + k * sak], so the same tile serves a and a^T.
static inline __attribute__((always_inline)) void KERN(nn_tile)(float *out, size_t ldo, const float *a, size_t sai,
                                                                size_t sak, const float *b, size_t ldb, int mr,
                                                                int kc, int NV) {
    vf c[6][2];
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < NV; v++) c[i][v] = KERN(ld)(out + i * ldo + v * VW);
    for (int k = 0; k < kc; k++) {
        vf bv[2];
        for (int v = 0; v < NV; v++) bv[v] = KERN(ld)(b + k * ldb + v * VW);
        for (int i = 0; i < mr; i++) {
            vf av = (vf){0} + a[i * sai + k * sak];
            for (int v = 0; v < NV; v++) c[i][v] += av * bv[v];
        }
    }
    for (int i = 0; i < mr; i++)
        for (int v = 0; v < NV; v++) KERN(st)(out + i * ldo + v * VW, c[i][v]);
}

// One strip of columns [j, j + NV*VW) over rows m0..m1 for k0..k0+kc; bk
// is b at (k0, j), with rows of ldb.
static inline __attribute__((always_inline)) void KERN(nn_strip)(float *out, size_t ldo, const float *a, size_t sai,
                                                                 size_t sak, const float *bk, size_t ldb, int m0,
                                                                 int m1, int j, int k0, int kc, int NV) {
    for (int i = m0; i < m1; i += 6) {
        int mr = m1 - i < 6 ? m1 - i : 6;
        float *o = out + i * ldo + j;
        const float *ai = a + i * sai + k0 * sak;
        if (mr == 6)
            KERN(nn_tile)(o, ldo, ai, sai, sak, bk, ldb, 6, kc, NV);
        else
            KERN(nn_tile)(o, ldo, ai, sai, sak, bk, ldb, mr, kc, NV);
    }
}

// out[m0:m1, n0:n1] += A @ b where A has element (i, k) at a[i * sai +
// k * sak] and b element (k, j) at b[k * ldb + j]; out has rows of ldo.
// With more than two tiles of rows, each (kc, 2 VW) panel of b is first
// copied to a contiguous buffer: rows of b a power-of-two apart (512 or
// 1024 floats, common here) would otherwise share a few cache sets. The
// copy changes no sum.
KERN_TARGET
static void KERN(nn_any)(float *out, size_t ldo, const float *a, size_t sai, size_t sak, const float *b, size_t ldb,
                         int m0, int m1, int n0, int n1, int K) {
    enum { KC = 256 };
    float panel[KC * 2 * VW] __attribute__((aligned(64)));
    int pack = m1 - m0 > 12;
    for (int k0 = 0; k0 < K; k0 += KC) {
        int kc = K - k0 < KC ? K - k0 : KC;
        int j = n0;
        for (; j + 2 * VW <= n1; j += 2 * VW) {
            const float *bk = b + k0 * ldb + j;
            if (pack) {
                for (int k = 0; k < kc; k++) memcpy(panel + k * 2 * VW, bk + k * ldb, sizeof(float) * 2 * VW);
                KERN(nn_strip)(out, ldo, a, sai, sak, panel, 2 * VW, m0, m1, j, k0, kc, 2);
            } else {
                KERN(nn_strip)(out, ldo, a, sai, sak, bk, ldb, m0, m1, j, k0, kc, 2);
            }
        }
        for (; j + VW <= n1; j += VW) KERN(nn_strip)(out, ldo, a, sai, sak, b + k0 * ldb + j, ldb, m0, m1, j, k0, kc, 1);
        for (; j < n1; j++) {  // leftover columns
            for (int i = m0; i < m1; i++) {
                float s = out[i * ldo + j];
                for (int k = k0; k < k0 + kc; k++) s += a[i * sai + k * sak] * b[k * ldb + j];
                out[i * ldo + j] = s;
            }
        }
    }
}
#undef SHUF
