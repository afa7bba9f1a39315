/* The AVX2 int8 kernels' shared output stage (TFLite MultiplyByQuantizedMultiplier on
   8 lanes, bit-exact with sky_requant_one) and per-call context: used by the exact
   int16 kernel (gemm_s8_avx2.c) and the u8 x s8 kernel for 7-bit weights
   (gemm_s8_avx2_u8.c). Include only inside #if defined(__x86_64__). */
#ifndef SKY_GEMM_S8_AVX2_STAGE_H
#define SKY_GEMM_S8_AVX2_STAGE_H
#include "gemm_s8_internal.h"
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
/* Longest padded row the 6x16 kernels take (their row blocks live on the stack). */
#define MAX_KP 16384

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

/* The same multiplier and shifts in every lane (the leaky slope; one channel in 8 rows). */
static inline AVX2 stage8 uniform_stage(int32_t m, int32_t left, int32_t right) {
    stage8 s;
    s.m = s.m_odd = _mm256_set1_epi32(m);
    s.left = _mm256_set1_epi32(left); s.right = _mm256_set1_epi32(right);
    s.mask = _mm256_set1_epi32((int32_t)((1ll << right) - 1));
    s.half = _mm256_set1_epi32((int32_t)(((1ll << right) - 1) >> 1));
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


/* What the direct convolution paths copy of input row iy for padded columns [jx0, jx1)
   (pl columns of left padding before the image's): `lead` values of padding, `inside`
   image values from offset `at` of the NHWC image, then padding up to n values; inside
   is 0 where the row is all padding (above or below the image, or columns past its sides). */
typedef struct { int32_t lead, inside, n; size_t at; } padded_row;
static inline padded_row padded_row_at(int32_t iy, int32_t h, int32_t w, int32_t c, int32_t pl, int32_t jx0, int32_t jx1) {
    padded_row r = {0, 0, (jx1 - jx0) * c, 0};
    int32_t ix0 = jx0 - pl < 0 ? 0 : jx0 - pl, ix1 = jx1 - pl > w ? w : jx1 - pl;
    if (iy < 0 || iy >= h || ix1 <= ix0) { r.lead = r.n; return r; }
    r.lead = (ix0 + pl - jx0) * c; r.inside = (ix1 - ix0) * c; r.at = ((size_t)iy * w + ix0) * c;
    return r;
}

/* Where the row-gathering paths may read a pixel's kernel rows straight from the NHWC
   image: the whole window inside it (and not a group of its channels), and the last
   16-byte read of a kernel row inside the image too. */
typedef struct { const int8_t *x, *last_src; int32_t w, c, c0, sh, sw, pt, pl, last_iy, last_ix, ok; } interior_window;
static inline interior_window interior_window_of(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw,
                                                 int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t c0, int32_t cg) {
    const int32_t span16 = (kw * cg + 15) / 16 * 16;
    interior_window b = {x, x + (size_t)h * w * c - (size_t)(kh - 1) * w * c - span16, w, c, c0, sh, sw, pt, pl, h - kh, w - kw, 0};
    /* An image smaller than the kernel has no interior pixel (and a negative bound would
       pass every unsigned compare below). */
    b.ok = cg == c && b.last_iy >= 0 && b.last_ix >= 0;
    return b;
}
/* The first kernel row of output pixel (oy, ox) in the image, or NULL where the pixel is not interior. */
static inline const int8_t *interior_at(const interior_window *b, int32_t oy, int32_t ox) {
    int32_t iy0 = oy * b->sh - b->pt, ix0 = ox * b->sw - b->pl;
    const int8_t *src = b->x + ((size_t)iy0 * b->w + ix0) * b->c + b->c0;
    return b->ok && (uint32_t)iy0 <= (uint32_t)b->last_iy && (uint32_t)ix0 <= (uint32_t)b->last_ix && src <= b->last_src ? src : NULL;
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
static inline int ctx_init(gemm_ctx *g, const void *packed, const sky_requant_s8 *rq) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    /* The weights and the stage's arrays are there even where the vector stage is declined. */
    g->h = h; g->wt = (const int16_t *)packed_weights(packed); g->bias = packed_bias(packed); g->rq = rq;
    if (h->kp > MAX_KP || (rq->leaky && rq->leaky_multiplier == INT32_MIN)) return 0;
    int left = 0;
    for (int32_t j = 0; j < h->n; j++) {
        if (rq->multiplier[j] == INT32_MIN) return 0;
        left |= rq->shift[j] > 0;
    }
    stage_common *k = &g->k;
    k->has_left = left;
    k->has_leaky = rq->leaky != 0;
    int32_t ls = rq->leaky_shift, r = ls > 0 ? 0 : -ls;
    k->leaky_m = rq->leaky_multiplier; k->leaky_left = ls > 0 ? ls : 0; k->leaky_right = r;
    k->zp = rq->output_zero_point; k->lo = rq->act_min; k->hi = rq->act_max;
    k->clamp = rq->act_min > -128 || rq->act_max < 127;
    return 1;
}
/* R rows of 8V-channel accumulators (bias included) for the channels at n0, requantized
   into c (rows ldc apart): the vector stage on whole 16-channel blocks, the scalar one on
   the channel tail, or everywhere when `vector` is 0 (ctx_init declined). */
static inline __attribute__((always_inline)) AVX2 void store_rows(const gemm_ctx *g, int vector, __m256i acc[][2], const int R, const int V,
                                                                   int32_t n0, int8_t *c, size_t ldc) {
    const stage_common *k = &g->k;
    int8_t *o = c + n0;
    if (vector && V == 2 && n0 + 16 <= g->h->n) {
        const stage8 lk = uniform_stage(k->leaky_m, k->leaky_left, k->leaky_right);
        stage8 s0 = stage8_load(n0, g->rq), s1 = stage8_load(n0 + 8, g->rq);
        for (int r = 0; r < R; r++, o += ldc) store16(finish8(acc[r][0], &s0, k, &lk), finish8(acc[r][1], &s1, k, &lk), o);
    } else {
        for (int r = 0; r < R; r++, o += ldc) {
            int32_t t[16];
            for (int v = 0; v < V; v++) _mm256_storeu_si256((__m256i *)(t + 8 * v), acc[r][v]);
            for (int32_t j = 0; j < 8 * V && n0 + j < g->h->n; j++) o[j] = sky_requant_one(t[j], n0 + j, g->rq);
        }
    }
}
#endif
