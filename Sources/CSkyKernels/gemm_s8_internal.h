/* Shared by the int8 GEMM kernels: packed-weight header and the scalar
   requantization that mirrors SkyNN's QuantizedMultiplier bit for bit. */
#ifndef SKY_GEMM_S8_INTERNAL_H
#define SKY_GEMM_S8_INTERNAL_H
#include "sky_kernels.h"

#define SKY_GEMM_KALIGN 32  /* row length multiple every kernel can step over */
#define SKY_GEMM_NR 4       /* output channels per tile */
/* Longest padded row the x86 kernels keep on the stack (their row blocks); longer rows go
   to the AVX2 4x16 kernel. */
#define MAX_KP 16384

/* 64-byte header, then bias[np] int32, then weights (64-byte aligned). */
typedef struct {
    int32_t n, k, kp, np, kernel, chunk;
    /* max over channels of |bias| + 255 sum |w| (saturated to INT32_MAX): no accumulator
       exceeds it, whatever the input (the AVX2 output stage's short rounding rests on it). */
    int32_t acc_bound;
    /* Convolution packing (sky_conv_s8_pack_for): the kernel geometry, and where nonzero the
       offset of the weights re-laid with each kernel row padded to whole 4-byte groups. */
    int32_t conv_kh, conv_kw, conv_c, rows_offset;
    int32_t pad[5];
} sky_packed_header;

static inline const int32_t *packed_bias(const void *p) {
    return (const int32_t *)((const char *)p + sizeof(sky_packed_header));
}
static inline size_t packed_weights_offset(int32_t np) {
    return (sizeof(sky_packed_header) + (size_t)np * 4 + 63) / 64 * 64;
}
static inline const void *packed_weights(const void *p) {
    const sky_packed_header *h = (const sky_packed_header *)p;
    return (const char *)p + packed_weights_offset(h->np);
}
/* Whether sky_conv_s8_pack_for laid out the direct paths' copy of the weights (kernel rows
   padded to whole groups) for this kernel geometry. */
static inline int packed_rows_laid(const sky_packed_header *h, int32_t kh, int32_t kw, int32_t c) {
    return h->rows_offset != 0 && h->conv_kh == kh && h->conv_kw == kw && h->conv_c == c;
}
/* The weights a direct path reads for kernel rows of `span` values in groups of `group`
   (4 int8 quads, 2 int16 pairs; 64 bytes per group of 16 channels): the GEMM layout where
   the rows are whole groups, else the copy beside it; *block: bytes per 16-channel block. */
static inline const void *direct_weights(const sky_packed_header *h, int32_t span, int32_t group, int32_t kh, size_t *block) {
    if (span % group == 0) { *block = (size_t)(h->kp / group) * 64; return packed_weights(h); }
    *block = (size_t)kh * ((span + group - 1) / group) * 64;
    return (const char *)h + h->rows_offset;
}

static inline int32_t sky_srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}
static inline int32_t sky_rdbpot(int32_t x, int32_t e) {
    int32_t mask = (int32_t)((1ll << e) - 1);
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}
static inline int32_t sky_mbqm(int32_t x, int32_t m, int32_t shift) {
    int32_t l = shift > 0 ? shift : 0, r = shift > 0 ? 0 : -shift;
    return sky_rdbpot(sky_srdhm((int32_t)(uint32_t)((uint64_t)(int64_t)x << l), m), r);
}
/* The float output stage (sky_requant_s8.float_scale): clamped before rounding, which
   gives the same integer as rounding first since the bounds are integers, and keeps the
   conversion in range. The process never leaves round-to-nearest-even, which nearbyintf
   and the vector conversions use. */
static inline int8_t sky_requant_float_one(int32_t acc, float scale, const sky_requant_s8 *rq) {
    float v = __builtin_fmaf((float)acc, scale, (float)rq->output_zero_point);
    v = v < (float)rq->act_min ? (float)rq->act_min : v;
    v = v > (float)rq->act_max ? (float)rq->act_max : v;
    return (int8_t)(int32_t)__builtin_nearbyintf(v);
}
static inline int8_t sky_requant_one(int32_t acc, int32_t ch, const sky_requant_s8 *rq) {
    if (rq->float_scale) return sky_requant_float_one(acc, rq->float_scale[ch], rq);
    int32_t q = sky_mbqm(acc, rq->multiplier[ch], rq->shift[ch]);
    if (rq->leaky && q < 0) q = sky_mbqm(q, rq->leaky_multiplier, rq->leaky_shift);
    int32_t v = q + rq->output_zero_point;
    v = v < rq->act_min ? rq->act_min : v;
    v = v > rq->act_max ? rq->act_max : v;
    return (int8_t)v;
}
/* Stores one tile row of up to NR accumulators (bias added here). */
static inline void sky_store_row(const int32_t *acc, const int32_t *bias, int32_t n0, int32_t n,
                                 const sky_requant_s8 *rq, int8_t *c) {
    for (int j = 0; j < SKY_GEMM_NR && n0 + j < n; j++)
        c[n0 + j] = sky_requant_one(acc[j] + bias[n0 + j], n0 + j, rq);
}

/* Kernels by ISA (each file compiles to nothing where the ISA is absent). */
void sky_gemm_s8_portable(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
void sky_gemm_s8_avx2(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
void sky_gemm_s8_avx2_4x16(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
/* The GEMM for weights packed for SKY_GEMM_AVX2_U8. */
void sky_gemm_s8_avx2_u8(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
/* Fused im2col + GEMM for weights packed for SKY_GEMM_AVX2_U8 (always runs). */
void sky_conv_s8_avx2_u8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                         int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                         const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy);
/* Whether sky_conv_s8_avx2_u8 takes its direct path for this layer. */
int sky_conv_s8_avx2_u8_direct(const void *packed, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw, int32_t ow);
/* Whether sky_conv_s8_avx2 runs this layer on its direct path (weights packed for it). */
int sky_conv_s8_avx2_direct(const void *packed, const sky_requant_s8 *rq, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw,
                            int32_t ow);
/* Whether sky_conv_s8_avx2 declines every call of this layer (rows too long for its stack
   block, or a multiplier of INT32_MIN). */
int sky_conv_s8_avx2_declines(const void *packed, const sky_requant_s8 *rq);
/* Fused im2col + AVX2 GEMM for rows [row0, row0 + rows) of a convolution; 0 where it declines. */
int sky_conv_s8_avx2(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                     int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                     const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy);
/* The same three for weights packed for SKY_GEMM_AVX512VNNI (gemm_s8_vnni.c). */
void sky_gemm_s8_vnni(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
void sky_conv_s8_vnni(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                      const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy);
int sky_conv_s8_vnni_direct(const void *packed, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw, int32_t ow);
void sky_gemm_s8_neon(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
void sky_gemm_s8_neon_dot(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc);
#endif
