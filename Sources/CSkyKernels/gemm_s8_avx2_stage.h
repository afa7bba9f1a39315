/* The x86 int8 kernels' shared output stage (TFLite MultiplyByQuantizedMultiplier on
   8 lanes, bit-exact with sky_requant_one, or the float stage) and per-call context:
   used by the exact int16 kernel (gemm_s8_avx2.c) and by the u8 x s8 (7-bit weights) and
   VNNI kernels' shared body (gemm_s8_x86_dot_body.h). Include only inside
   #if defined(__x86_64__). */
#ifndef SKY_GEMM_S8_AVX2_STAGE_H
#define SKY_GEMM_S8_AVX2_STAGE_H
#include "gemm_s8_internal.h"
#include <immintrin.h>
#include <string.h>

#define AVX2 __attribute__((target("avx2,fma")))

/* Per-channel output-stage constants for 8 channels. */
typedef struct {
    __m256i m, m_odd, left, right, mask, half;
    /* The short sequence (short8): per 64-bit lane 2^31 + bias 2^32 for the even channels'
       products (ce) and the odd ones' (co), with bias = 2^(r-1) + zp 2^r; and bias and r in
       the lane order the products come out in, channels 0 2 1 3 4 6 5 7 (bias_p, right_p). */
    __m256i ce, co, bias_p, right_p;
    /* The float stage's per-channel scales (sky_requant_s8.float_scale), where it runs. */
    __m256 fs;
} stage8;

/* zp_fold: the output zero point where the short sequence adds it (0 otherwise). */
static inline AVX2 stage8 stage8_make(__m256i m, __m256i sh, int32_t zp_fold) {
    stage8 s;
    const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), low = _mm256_set1_epi32(INT32_MIN);
    s.m = m;
    s.m_odd = _mm256_srli_epi64(s.m, 32);
    s.left = _mm256_max_epi32(sh, zero);
    s.right = _mm256_max_epi32(_mm256_sub_epi32(zero, sh), zero);
    const __m256i pot = _mm256_sllv_epi32(one, s.right);
    s.mask = _mm256_sub_epi32(pot, one);
    s.half = _mm256_srai_epi32(s.mask, 1);
    const __m256i bias = _mm256_add_epi32(_mm256_srli_epi32(pot, 1), _mm256_sllv_epi32(_mm256_set1_epi32(zp_fold), s.right));
    s.ce = _mm256_blend_epi32(low, _mm256_slli_epi64(bias, 32), 0xAA);
    s.co = _mm256_blend_epi32(low, bias, 0xAA);
    s.bias_p = _mm256_shuffle_epi32(bias, _MM_SHUFFLE(3, 1, 2, 0));
    s.right_p = _mm256_shuffle_epi32(s.right, _MM_SHUFFLE(3, 1, 2, 0));
    return s;
}
static inline AVX2 stage8 stage8_load(int32_t n0, const sky_requant_s8 *rq, int32_t zp_fold) {
    stage8 s = stage8_make(_mm256_loadu_si256((const __m256i *)(rq->multiplier + n0)),
                           _mm256_loadu_si256((const __m256i *)(rq->shift + n0)), zp_fold);
    s.fs = rq->float_scale ? _mm256_loadu_ps(rq->float_scale + n0) : _mm256_setzero_ps();
    return s;
}

/* The same multiplier and shift in every lane (the leaky slope; one channel in 8 rows). */
static inline AVX2 stage8 uniform_stage(int32_t m, int32_t shift) {
    return stage8_make(_mm256_set1_epi32(m), _mm256_set1_epi32(shift), 0);
}

/* SaturatingRoundingDoublingHighMul on 8 lanes for multipliers that are never INT32_MIN
   (its saturating case needs both operands INT32_MIN): the 64-bit product plus 2^30,
   floored by 2^31 (gemmlowp's SIMD form, equal to the scalar's nudge with truncation). */
static inline AVX2 __m256i high_mul8(__m256i x, const stage8 *s) {
    const __m256i nudge = _mm256_set1_epi64x(1ll << 30);
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, s->m), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), s->m_odd), nudge);
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
}

/* sky_mbqm on 8 lanes: the doubling high multiply, then a rounding shift right, half away
   from zero (remainder against a threshold one higher for negative values). */
static inline AVX2 __m256i mbqm8(__m256i x, const stage8 *s, int has_left) {
    if (has_left) x = _mm256_sllv_epi32(x, s->left);
    __m256i hi = high_mul8(x, s);
    __m256i rem = _mm256_and_si256(hi, s->mask);
    __m256i thr = _mm256_add_epi32(s->half, _mm256_srli_epi32(hi, 31));
    return _mm256_sub_epi32(_mm256_srav_epi32(hi, s->right), _mm256_cmpgt_epi32(rem, thr));
}

/* mbqm8 plus the folded zero point, for channels whose right shift r is 1 to 22 and no left
   shift, where ctx_init has proven that no int32 below can overflow (short_rounding_fits),
   in 11 operations of which 3 shift or shuffle (the ports the packing needs too) against
   15 and 6. Each 64-bit product p = x m is doubled and given 2^31 + bias 2^32: its high
   half is then floor((p + 2^30) / 2^31) + bias = hi + bias, hi being the doubling high
   multiply. One shuffle takes the high halves of the even and odd products, so the lanes
   come out as channels 0 2 1 3 4 6 5 7 (the constants are laid out so, and the packing
   puts the bytes back). The rounding shift of hi, half away from zero, is
   floor((hi + 2^(r-1) - [hi < 0]) / 2^r) (r >= 1), and zp 2^r in the bias adds zp to it;
   hi < 0 exactly where hi + bias < bias. */
static inline AVX2 __m256i short8(__m256i x, const stage8 *s) {
    __m256i even = _mm256_mul_epi32(x, s->m), odd = _mm256_mul_epi32(_mm256_srli_epi64(x, 32), s->m_odd);
    even = _mm256_add_epi64(_mm256_add_epi64(even, even), s->ce);
    odd = _mm256_add_epi64(_mm256_add_epi64(odd, odd), s->co);
    const __m256i hb = _mm256_castps_si256(_mm256_shuffle_ps(_mm256_castsi256_ps(even), _mm256_castsi256_ps(odd), _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm256_srav_epi32(_mm256_add_epi32(hb, _mm256_cmpgt_epi32(s->bias_p, hb)), s->right_p);
}

typedef struct {
    int32_t zp, lo, hi;
    int has_left, has_leaky, clamp;
    int short_rounding;   /* short8 is exact for this call, with the zero point folded in */
    int float_stage;      /* the layer requantizes in float (float8) */
} stage_common;

/* One 8-channel vector requantized to int32 with the zero point added, before the clamp. */
static inline AVX2 __m256i requant8(__m256i acc, const stage8 *s, const stage_common *k, const stage8 *leaky) {
    __m256i q = mbqm8(acc, s, k->has_left);
    if (k->has_leaky)   /* the sign bit of each q picks */
        q = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(q), _mm256_castsi256_ps(mbqm8(q, leaky, 1)), _mm256_castsi256_ps(q)));
    return _mm256_add_epi32(q, _mm256_set1_epi32(k->zp));
}

/* The float stage on 8 lanes (sky_requant_float_one): fma, then the conversion's round to
   nearest even. No clamp here: ctx_init has checked that every accumulator's value stays
   inside int32, the packs saturate to [-128, 127], and the activation clamp after them
   gives what clamping before the rounding gives, the bounds being integers. */
static inline AVX2 __m256i float8(__m256i acc, const stage8 *s, __m256 zp) {
    return _mm256_cvtps_epi32(_mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), s->fs, zp));
}

static inline AVX2 __m256i finish8(__m256i acc, const stage8 *s, const stage_common *k, const stage8 *leaky) {
    __m256i q = k->float_stage ? float8(acc, s, _mm256_set1_ps((float)k->zp)) : requant8(acc, s, k, leaky);
    if (k->clamp) q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_set1_epi32(k->lo)), _mm256_set1_epi32(k->hi));
    return q;   /* packs saturate to [-128, 127], which is the clamp when there is none */
}

/* The largest band of copied input rows (row_band) the direct paths keep on the stack. */
#define DIRECT_BUF_BYTES (96 * 1024)

/* The run of output pixels from p (of [row0, row0 + rows)) that stays in one output row
   oy, and the padded input columns [jx0, jx1) that run reads. */
typedef struct { int32_t oy, ox, run, jx0, jx1; } output_run;
static inline output_run output_run_at(int32_t p, int32_t row0, int32_t rows, int32_t ow, int32_t sw, int32_t kw) {
    output_run r;
    r.oy = p / ow; r.ox = p % ow;
    r.run = ow - r.ox < row0 + rows - p ? ow - r.ox : row0 + rows - p;
    r.jx0 = r.ox * sw; r.jx1 = (r.ox + r.run - 1) * sw + kw;
    return r;
}

/* The input rows a direct convolution call holds in its stack buffer: the call's output
   rows read input rows [top, end); the buffer holds `band` of them at a time (all, or as
   many whole rows of `row_bytes` as DIRECT_BUF_BYTES takes, at least kh by the direct
   paths' tests), rows [have0, have1) now, row iy at (iy - have0) rows in, so that each
   input row is copied once however many output rows read it. */
typedef struct { int32_t end, band, have0, have1; } row_band;
static inline row_band row_band_of(int32_t row0, int32_t rows, int32_t ow, int32_t sh, int32_t pt, int32_t kh, size_t row_bytes) {
    const int32_t top = (row0 / ow) * sh - pt, end = ((row0 + rows - 1) / ow) * sh - pt + kh;
    const int32_t fit = (int32_t)(DIRECT_BUF_BYTES / row_bytes);
    row_band b = {end, end - top < fit ? end - top : fit, top, top};
    return b;
}
/* Whether the kh rows from iy need the next band; if so it becomes rows [iy, iy + band) (to
   the end), which the caller then copies in. */
static inline int row_band_next(row_band *b, int32_t iy, int32_t kh) {
    if (iy + kh <= b->have1) return 0;
    b->have0 = iy;
    b->have1 = iy + b->band < b->end ? iy + b->band : b->end;
    return 1;
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
    stage8 leaky;
    const stage8 *st;   /* each 8-channel group's constants, made once per call (ctx_stages), or NULL */
} gemm_ctx;

/* Whether short8 is exact for every channel: no leaky slope (it needs q before the zero
   point), multipliers >= 0 (never INT32_MIN), no left shift, 1 <= r <= 22, and
   |x| + 1 (a bound on hi, as m < 2^31) + 2^(r-1) + 128 2^r below 2^31, with x bounded by
   the packed weights' accumulator bound. */
static inline int short_rounding_fits(const sky_packed_header *h, const sky_requant_s8 *rq) {
    if (rq->leaky || h->acc_bound >= INT32_MAX) return 0;
    for (int32_t j = 0; j < h->n; j++) {
        const int32_t s = rq->shift[j], r = -s;
        if (rq->multiplier[j] < 0 || r < 1 || r > 22) return 0;
        if ((int64_t)h->acc_bound + 2 + 129 * (1ll << r) >= (1ll << 31)) return 0;
    }
    return 1;
}

/* 0 where the 4x16 kernel must run instead (rows too long for the stack block,
   or an INT32_MIN multiplier, the one case the SIMD doubling high-mul would saturate). */
static inline AVX2 int ctx_init(gemm_ctx *g, const void *packed, const sky_requant_s8 *rq) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    /* The weights and the stage's arrays are there even where the vector stage is declined. */
    g->h = h; g->wt = (const int16_t *)packed_weights(packed); g->bias = packed_bias(packed); g->rq = rq; g->st = NULL;
    memset(&g->k, 0, sizeof g->k);   /* defined even where the call declines (nothing reads it then) */
    g->k.float_stage = rq->float_scale != NULL;
    if (h->kp > MAX_KP || (rq->leaky && rq->leaky_multiplier == INT32_MIN)) return 0;
    if (rq->float_scale) {   /* float8 converts unclamped: every |acc scale| + |zp| must stay inside int32 */
        double most = 0;
        for (int32_t j = 0; j < h->n; j++) {
            double v = (double)h->acc_bound * (rq->float_scale[j] < 0 ? -rq->float_scale[j] : rq->float_scale[j]);
            most = v > most ? v : most;
        }
        if (!(most + 256 < 2147483520.0)) return 0;
    }
    int left = 0;
    for (int32_t j = 0; j < h->n; j++) {
        if (rq->multiplier[j] == INT32_MIN) return 0;
        left |= rq->shift[j] > 0;
    }
    stage_common *k = &g->k;
    k->has_left = left;
    k->has_leaky = rq->leaky != 0;
    k->zp = rq->output_zero_point; k->lo = rq->act_min; k->hi = rq->act_max;
    k->clamp = rq->act_min > -128 || rq->act_max < 127;
    k->short_rounding = !k->float_stage && short_rounding_fits(h, rq);
    g->leaky = uniform_stage(rq->leaky_multiplier, rq->leaky_shift);
    return 1;
}

/* The zero point the stage constants fold in (the short rounding adds it). */
static inline int32_t zp_fold(const stage_common *k) { return k->short_rounding ? k->zp : 0; }

/* How many 8-channel stages a call keeps (ctx_stages): up to 512 channels; wider layers
   make them per block instead (a one-element array is still declared). */
#define CTX_MAX_STAGES 64
static inline int32_t ctx_stage_slots(const void *packed) {
    int32_t groups = ((const sky_packed_header *)packed)->np / 8;
    return groups <= CTX_MAX_STAGES ? groups : 1;
}
/* Makes every whole 8-channel group's constants once, where the vector stage runs. */
static inline AVX2 void ctx_stages(gemm_ctx *g, int vector, stage8 *slots) {
    if (!vector || g->h->np / 8 > CTX_MAX_STAGES) return;
    for (int32_t b = 0; 8 * b + 8 <= g->h->n; b++) slots[b] = stage8_load(8 * b, g->rq, zp_fold(&g->k));
    g->st = slots;
}

/* R rows of a whole 16-channel block, requantized into c (rows ldc apart), by short8
   (STAGE_SHORT, its bytes put back in channel order by one byte shuffle), the full
   sequence, or the float stage (STAGE_FLOAT). Rows go in pairs: one int8 pack, clamp and permute serve two rows (the clamp
   after the saturating packs equals the clamp before them, since [act_min, act_max] lies
   within [-128, 127], and it is a no-op without an activation bound). Each instance is
   specialized for one sequence, so a block's rows are straight-line code. */
enum { STAGE_FULL, STAGE_SHORT, STAGE_FLOAT };
/* The sequence a call's whole 16-channel blocks run. */
static inline int stage_sequence(const stage_common *k) { return k->float_stage ? STAGE_FLOAT : k->short_rounding ? STAGE_SHORT : STAGE_FULL; }
static inline __attribute__((always_inline)) AVX2 void store_block16(const gemm_ctx *g, __m256i acc[][2], const int R, int32_t n0,
                                                                      int8_t *o, size_t ldc, const int sequence) {
    const stage_common *k = &g->k;
    stage8 made[2];
    const stage8 *s = g->st ? g->st + n0 / 8 : made;
    if (!g->st) { made[0] = stage8_load(n0, g->rq, zp_fold(k)); made[1] = stage8_load(n0 + 8, g->rq, zp_fold(k)); }
    const __m256i lo = _mm256_set1_epi8((char)k->lo), hi = _mm256_set1_epi8((char)k->hi);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i bytes = _mm256_broadcastsi128_si256(_mm_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15));
    const int is_short = sequence == STAGE_SHORT;
    const __m256 zp = _mm256_set1_ps((float)k->zp);
#define REQUANT(a, st) (sequence == STAGE_FLOAT ? float8(a, st, zp) : is_short ? short8(a, st) : requant8(a, st, k, &g->leaky))
    for (int r = 0; r < R; r += 2) {
        __m256i a = _mm256_packs_epi32(REQUANT(acc[r][0], s), REQUANT(acc[r][1], s + 1));
        __m256i b = r + 1 < R ? _mm256_packs_epi32(REQUANT(acc[r + 1][0], s), REQUANT(acc[r + 1][1], s + 1)) : a;
        __m256i v = _mm256_min_epi8(_mm256_max_epi8(_mm256_packs_epi16(a, b), lo), hi);
        if (is_short) v = _mm256_shuffle_epi8(v, bytes);   /* each 4 bytes: channels 0 2 1 3 -> 0 1 2 3 */
        v = _mm256_permutevar8x32_epi32(v, order);
        _mm_storeu_si128((__m128i *)(o + (size_t)r * ldc), _mm256_castsi256_si128(v));
        if (r + 1 < R) _mm_storeu_si128((__m128i *)(o + (size_t)(r + 1) * ldc), _mm256_extracti128_si256(v, 1));
    }
#undef REQUANT
}

/* R rows of accumulators for the 8V channels at n0, each starting at the (packed) bias. */
static inline __attribute__((always_inline)) AVX2 void acc_from_bias(__m256i acc[][2], const gemm_ctx *g, const int R, const int V,
                                                                      int32_t n0) {
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8 * v));
}

/* store_rows's `vector`: 0 scalar, 1 vector where the block has 16 channels, or
   STAGE_WHOLE + STAGE_FULL / SHORT / FLOAT: the caller knows that it has and which
   sequence runs (constants, so only that sequence is compiled and the accumulators can
   stay in registers). */
#define STAGE_WHOLE 2
/* R rows of 8V-channel accumulators (bias included) for the channels at n0, requantized
   into c (rows ldc apart): the vector stage on whole 16-channel blocks, the scalar one on
   the channel tail, or everywhere when `vector` is 0 (ctx_init declined). */
static inline __attribute__((always_inline)) AVX2 void store_rows(const gemm_ctx *g, int vector, __m256i acc[][2], const int R, const int V,
                                                                   int32_t n0, int8_t *c, size_t ldc) {
    int8_t *o = c + n0;
    if (V == 2 && vector >= STAGE_WHOLE) {
        store_block16(g, acc, R, n0, o, ldc, vector - STAGE_WHOLE);
    } else if (vector && V == 2 && n0 + 16 <= g->h->n) {
        switch (stage_sequence(&g->k)) {
        case STAGE_FLOAT: store_block16(g, acc, R, n0, o, ldc, STAGE_FLOAT); break;
        case STAGE_SHORT: store_block16(g, acc, R, n0, o, ldc, STAGE_SHORT); break;
        default: store_block16(g, acc, R, n0, o, ldc, STAGE_FULL);
        }
    } else {
        for (int r = 0; r < R; r++, o += ldc) {
            int32_t t[16];
            for (int v = 0; v < V; v++) _mm256_storeu_si256((__m256i *)(t + 8 * v), acc[r][v]);
            for (int32_t j = 0; j < 8 * V && n0 + j < g->h->n; j++) o[j] = sky_requant_one(t[j], n0 + j, g->rq);
        }
    }
}
#endif
