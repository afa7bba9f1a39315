/* AVX2 int8 GEMM, 6 rows x 16 output channels per tile.
   Exact: activations are widened to int16 once per 6-row block (no transpose;
   the inner loop broadcasts one (a[k], a[k+1]) pair straight from each widened
   row), weights are the int16 pairs packed at load, vpmaddwd never saturates.
   12 accumulators start at the bias. Zen 3 issues about three of its four
   vector ops per cycle in this loop, so the tile keeps the per-MAC op count at
   the vpmaddwd + vpaddd floor: one broadcast per row and two weight loads per
   k pair are loads, not ALU ops.
   The output stage is the TFLite MultiplyByQuantizedMultiplier of the scalar
   sky_requant_one, on 8 lanes, with its per-channel constants computed once
   per tile and shared by the 6 rows. */
#include "gemm_s8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define MR 6
/* Widened rows live on the stack: 6 x kp int16; longer rows take the 4x16 kernel. */
#define MAX_KP 4096

/* Per-channel output-stage constants for 8 channels. */
typedef struct {
    __m256i m, m_odd, left, right, mask, half;
} stage8;

static inline AVX2 stage8 stage8_load(int32_t n0, const sky_requant_s8 *rq) {
    stage8 s;
    __m256i sh = _mm256_loadu_si256((const __m256i *)(rq->shift + n0)), zero = _mm256_setzero_si256();
    s.m = _mm256_loadu_si256((const __m256i *)(rq->multiplier + n0));
    s.m_odd = _mm256_srli_epi64(s.m, 32);
    s.left = _mm256_max_epi32(sh, zero);
    s.right = _mm256_max_epi32(_mm256_sub_epi32(zero, sh), zero);
    s.mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), s.right), _mm256_set1_epi32(1));
    s.half = _mm256_srai_epi32(s.mask, 1);
    return s;
}

/* sky_mbqm on 8 lanes for multipliers that are never INT32_MIN (the saturating case of
   SaturatingRoundingDoublingHighMul needs both operands INT32_MIN): the 64-bit product
   plus 2^30, floored by 2^31 (gemmlowp's SIMD form, equal to the scalar's nudge with
   truncation), then a rounding shift right, half away from zero. */
static inline AVX2 __m256i mbqm8(__m256i x, const stage8 *s, int has_left) {
    if (has_left) x = _mm256_sllv_epi32(x, s->left);
    const __m256i nudge = _mm256_set1_epi64x(1ll << 30);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, s->m), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), s->m_odd), nudge);
    __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    __m256i rem = _mm256_and_si256(hi, s->mask);
    __m256i thr = _mm256_add_epi32(s->half, _mm256_srli_epi32(hi, 31));
    return _mm256_sub_epi32(_mm256_srav_epi32(hi, s->right), _mm256_cmpgt_epi32(rem, thr));
}

typedef struct {
    int32_t zp, lo, hi, leaky_m, leaky_left, leaky_right;
    int has_left, has_leaky, clamp;
} stage_common;

static inline AVX2 __m256i finish8(__m256i acc, const stage8 *s, const stage_common *k, const stage8 *leaky) {
    __m256i q = mbqm8(acc, s, k->has_left);
    if (k->has_leaky)   /* the sign bit of each q picks */
        q = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(q), _mm256_castsi256_ps(mbqm8(q, leaky, 1)), _mm256_castsi256_ps(q)));
    q = _mm256_add_epi32(q, _mm256_set1_epi32(k->zp));
    if (k->clamp) q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(k->lo)), _mm256_set1_epi32(k->hi));
    return q;   /* packs saturate to [-128, 127], which is the clamp when there is none */
}

/* 16 requantized channels of one row: [c0..c7] from q0, [c8..c15] from q1. */
static inline AVX2 void store16(__m256i q0, __m256i q1, int8_t *c) {
    __m256i t = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_setzero_si256());
    t = _mm256_permutevar8x32_epi32(t, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm_storeu_si128((__m128i *)c, _mm256_castsi256_si128(t));
}


/* Everything one call shares: the packed weights and the output stage. */
typedef struct {
    const sky_packed_header *h;
    const int16_t *wt;
    const int32_t *bias;
    const sky_requant_s8 *rq;
    stage_common k;
} gemm_ctx;

/* 0 where the 4x16 kernel must run instead (rows too long for the stack block,
   or an INT32_MIN multiplier, the one case the SIMD doubling high-mul would saturate). */
static int ctx_init(gemm_ctx *g, const void *packed, const sky_requant_s8 *rq) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    if (h->kp > MAX_KP || (rq->leaky && rq->leaky_multiplier == INT32_MIN)) return 0;
    int left = 0;
    for (int32_t j = 0; j < h->n; j++) {
        if (rq->multiplier[j] == INT32_MIN) return 0;
        left |= rq->shift[j] > 0;
    }
    g->h = h; g->wt = (const int16_t *)packed_weights(packed); g->bias = packed_bias(packed); g->rq = rq;
    stage_common *k = &g->k;
    k->has_left = left;
    k->has_leaky = rq->leaky != 0;
    int32_t ls = rq->leaky_shift, r = ls > 0 ? 0 : -ls;
    k->leaky_m = rq->leaky_multiplier; k->leaky_left = ls > 0 ? ls : 0; k->leaky_right = r;
    k->zp = rq->output_zero_point; k->lo = rq->act_min; k->hi = rq->act_max;
    k->clamp = rq->act_min > -128 || rq->act_max < 127;
    return 1;
}

/* Rows of one block (widened, `stride` int16 apart, MR of them even when fewer are
   real) times every 16-channel block of weights, requantized into c. */
static AVX2 void block(const gemm_ctx *g, const int16_t *ab, int32_t stride, int rows, int8_t *c, size_t ldc) {
    const sky_packed_header *h = g->h;
    const int32_t kp2 = h->kp / 2, k2 = (h->k + 1) / 2, n = h->n;
    const int32_t *p0 = (const int32_t *)ab, *p1 = p0 + stride / 2, *p2 = p1 + stride / 2, *p3 = p2 + stride / 2,
                  *p4 = p3 + stride / 2, *p5 = p4 + stride / 2;
    const stage_common *k = &g->k;
    stage8 lk = {0};
    if (k->has_leaky) {
        lk.m = lk.m_odd = _mm256_set1_epi32(k->leaky_m);
        lk.left = _mm256_set1_epi32(k->leaky_left); lk.right = _mm256_set1_epi32(k->leaky_right);
        lk.mask = _mm256_set1_epi32((int32_t)((1ll << k->leaky_right) - 1));
        lk.half = _mm256_set1_epi32((int32_t)(((1ll << k->leaky_right) - 1) >> 1));
    }
    for (int32_t n0 = 0; n0 < h->np; n0 += 16) {
        const int16_t *b = g->wt + (size_t)(n0 / 16) * kp2 * 32;
        __m256i b0 = _mm256_loadu_si256((const __m256i *)(g->bias + n0)), b1 = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8));
        __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1;
        for (int32_t q = 0; q < k2; q++, b += 32) {
            __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 16));
            __m256i x = _mm256_set1_epi32(p0[q]);
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(p1[q]);
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(p2[q]);
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(p3[q]);
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(p4[q]);
            c40 = _mm256_add_epi32(c40, _mm256_madd_epi16(x, w0)); c41 = _mm256_add_epi32(c41, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(p5[q]);
            c50 = _mm256_add_epi32(c50, _mm256_madd_epi16(x, w0)); c51 = _mm256_add_epi32(c51, _mm256_madd_epi16(x, w1));
        }
        __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
        int8_t *o = c + n0;
        if (n0 + 16 <= n) {
            stage8 s0 = stage8_load(n0, g->rq), s1 = stage8_load(n0 + 8, g->rq);
            for (int r = 0; r < rows; r++, o += ldc)
                store16(finish8(acc[r][0], &s0, k, &lk), finish8(acc[r][1], &s1, k, &lk), o);
        } else {   /* channel tail: scalar stage (the accumulators already hold the bias) */
            for (int r = 0; r < rows; r++, o += ldc) {
                int32_t v[16];
                _mm256_storeu_si256((__m256i *)v, acc[r][0]); _mm256_storeu_si256((__m256i *)(v + 8), acc[r][1]);
                for (int32_t j = 0; j < 16 && n0 + j < n; j++) o[j] = sky_requant_one(v[j], n0 + j, g->rq);
            }
        }
    }
}

/* n int8 at src as int16 at dst, 16 at a time: reads and writes up to 15 past n. */
static inline AVX2 void widen(int16_t *dst, const int8_t *src, int32_t n) {
    for (int32_t q = 0; q < n; q += 16)
        _mm256_storeu_si256((__m256i *)(dst + q), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + q))));
}

AVX2 void sky_gemm_s8_avx2(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    gemm_ctx g;
    if (!ctx_init(&g, packed, rq)) { sky_gemm_s8_avx2_4x16(a, lda, m, packed, rq, c, ldc); return; }
    const int32_t kw = (g.h->k + 15) / 16 * 16;   /* within the row's kp bytes */
    int16_t ab[MR * kw] __attribute__((aligned(32)));
    for (int32_t i = 0; i < m; i += MR) {
        int32_t rows = m - i < MR ? m - i : MR;
        for (int r = 0; r < MR; r++)   /* short blocks repeat their last row */
            widen(ab + r * kw, a + (size_t)(i + (r < rows ? r : rows - 1)) * lda, kw);
        block(&g, ab, kw, rows, c + (size_t)i * ldc, ldc);
    }
}

/* Implicit GEMM: the rows of a block are gathered and widened straight from the
   NHWC image (each kernel row of an interior pixel is kw*c contiguous bytes), with
   no int8 im2col pass; border pixels go through sky_im2col_s8 one row at a time. */
AVX2 int sky_conv_s8_avx2(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                          int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                          const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy) {
    gemm_ctx g;
    if (!ctx_init(&g, packed, rq)) return 0;
    const int32_t k = g.h->k, stride = (k + 15) / 16 * 16 + 16;   /* + the last chunk's overshoot */
    const int32_t span = kw * cg, span16 = (span + 15) / 16 * 16;
    const int8_t *end = x + (size_t)h * w * c;
    int16_t ab[MR * stride] __attribute__((aligned(32)));
    int8_t row[g.h->kp + 16] __attribute__((aligned(32)));
    int32_t oy = row0 / ow, ox = row0 % ow;
    for (int32_t i = 0; i < rows; i += MR) {
        int32_t n = rows - i < MR ? rows - i : MR;
        for (int r = 0; r < MR; r++) {
            int16_t *d = ab + r * stride;
            if (r >= n) { memcpy(d, d - stride, (size_t)stride * 2); continue; }   /* short block: repeat */
            int32_t iy0 = oy * sh - pt, ix0 = ox * sw - pl;
            const int8_t *src = x + ((size_t)iy0 * w + ix0) * c + c0;
            if (cg == c && iy0 >= 0 && iy0 + kh <= h && ix0 >= 0 && ix0 + kw <= w &&
                src + (size_t)(kh - 1) * w * c + span16 <= end) {
                for (int32_t ky = 0; ky < kh; ky++) widen(d + ky * span, src + (size_t)ky * w * c, span);
            } else {
                sky_im2col_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, (oy * ow + ox), 1, c0, cg, zp, row, (size_t)g.h->kp);
                widen(d, row, k);
            }
            if (++ox == ow) { ox = 0; oy++; }
        }
        block(&g, ab, stride, n, y + (size_t)i * ldy, ldy);
    }
    return 1;
}
#endif
