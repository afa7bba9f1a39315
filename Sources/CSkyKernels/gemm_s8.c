/* Int8 GEMM: weight packing, run-time kernel choice, the portable kernel,
   im2col and the depthwise kernel. Layout of packed weights (per kernel):
   column blocks of NR=4 output channels, k in chunks of `chunk` values:
   element (n, k) at ((n/4 * kp/chunk + k/chunk) * 4 + n%4) * chunk + k%chunk, int8;
   AVX2: int16 (widened once here), blocks of 16 channels holding k pairs:
   ((n/16 * kp/2 + k/2) * 16 + n%16) * 2 + k%2;
   AVX2 u8 (7-bit weights) and AVX-512 VNNI (any weights): int8, blocks of 16 channels
   holding k quads: ((n/16 * kp/4 + k/4) * 16 + n%16) * 4 + k%4. */
#include "gemm_s8_internal.h"
#include <string.h>

int32_t sky_gemm_s8_k_padded(int32_t k) { return (k + SKY_GEMM_KALIGN - 1) / SKY_GEMM_KALIGN * SKY_GEMM_KALIGN; }

static int32_t n_padded(int32_t n) { return (n + SKY_GEMM_NR - 1) / SKY_GEMM_NR * SKY_GEMM_NR; }

size_t sky_gemm_s8_packed_size(int32_t n, int32_t k) {
    int32_t np = (n + 15) / 16 * 16, kp = sky_gemm_s8_k_padded(k);   /* the widest blocking (AVX2: 16 channels) */
    return packed_weights_offset(np) + (size_t)np * (size_t)kp * 2;
}

uint32_t sky_gemm_s8_available(void) {
    uint32_t f = sky_cpu_features(), a = 1u << SKY_GEMM_PORTABLE;
#if defined(__x86_64__)
    /* The AVX2 kernels are built with FMA too (the float output stage uses it). */
    if ((f & SKY_CPU_AVX2) && (f & SKY_CPU_FMA)) a |= 1u << SKY_GEMM_AVX2;
    if ((f & SKY_CPU_AVX512VNNI) && (f & SKY_CPU_AVX512BW)) a |= 1u << SKY_GEMM_AVX512VNNI;
#elif defined(__aarch64__)
    if (f & SKY_CPU_NEON) a |= 1u << SKY_GEMM_NEON;
    if (f & SKY_CPU_NEON_DOT) a |= 1u << SKY_GEMM_NEON_DOT;
#endif
    (void)f;
    return a;
}

static int best_kernel(void) {
    uint32_t a = sky_gemm_s8_available();
    if (a & (1u << SKY_GEMM_AVX512VNNI)) return SKY_GEMM_AVX512VNNI;
    if (a & (1u << SKY_GEMM_AVX2)) return SKY_GEMM_AVX2_U8;   /* where the weights allow */
    if (a & (1u << SKY_GEMM_NEON_DOT)) return SKY_GEMM_NEON_DOT;
    if (a & (1u << SKY_GEMM_NEON)) return SKY_GEMM_NEON;
    return SKY_GEMM_PORTABLE;
}

int sky_gemm_s8_pack(const int8_t *w, const int32_t *bias, int32_t zp, int32_t n, int32_t k, void *packed) {
    return sky_gemm_s8_pack_for(best_kernel(), w, bias, zp, n, k, packed);
}

/* Whether a kernel of the 16-channel quad layout (u8, VNNI) takes these weights: rows
   short enough for its stack blocks, and for the u8 kernel exact (every weight in
   [-64, 63], so no vpmaddubsw pair sum can saturate; vpdpbusd has no int16 step and takes
   any weight) and worth it (a block of 1-4 channels is mostly padding, and the int16
   kernel's per-channel dot products beat the u8 kernel there, measured; VNNI's
   instruction does twice the u8 sequence's work per op and keeps them). */
static int fits_quads(int kernel, const int8_t *w, int32_t n, int32_t k) {
    if (sky_gemm_s8_k_padded(k) > MAX_KP) return 0;
    if (kernel == SKY_GEMM_AVX2_U8) {
        if (n <= 4) return 0;
        for (size_t i = 0; i < (size_t)n * k; i++)
            if (w[i] < -64 || w[i] > 63) return 0;
    }
    return 1;
}

int sky_gemm_s8_pack_for(int kernel, const int8_t *w, const int32_t *bias, int32_t zp, int32_t n, int32_t k, void *packed) {
    int needs = kernel == SKY_GEMM_AVX2_U8 ? SKY_GEMM_AVX2 : kernel;
    if (kernel < 0 || kernel > SKY_GEMM_AVX2_U8 || !(sky_gemm_s8_available() & (1u << needs))) return -1;
    const int quads = kernel == SKY_GEMM_AVX2_U8 || kernel == SKY_GEMM_AVX512VNNI;
    if (quads && !fits_quads(kernel, w, n, k)) kernel = SKY_GEMM_AVX2;   /* always there beside them */
    sky_packed_header *h = (sky_packed_header *)packed;
    memset(h, 0, sizeof *h);
    h->n = n; h->k = k; h->kp = sky_gemm_s8_k_padded(k); h->kernel = kernel;
    const int layout16 = kernel == SKY_GEMM_AVX2 || kernel == SKY_GEMM_AVX2_U8 || kernel == SKY_GEMM_AVX512VNNI;
    h->np = layout16 ? (n + 15) / 16 * 16 : n_padded(n);
    h->chunk = 16;
    int32_t *b = (int32_t *)((char *)packed + sizeof *h);
    /* The zero point (and VNNI's unsigned offset) times the weight column sum folds into the bias. */
    int32_t offset = zp + (kernel == SKY_GEMM_AVX512VNNI || kernel == SKY_GEMM_AVX2_U8 ? 128 : 0);
    int64_t bound = 0;
    for (int32_t j = 0; j < h->np; j++) {
        int32_t colsum = 0;
        int64_t magnitude = 0;
        if (j < n) for (int32_t q = 0; q < k; q++) {
            colsum += w[(size_t)j * k + q];
            magnitude += w[(size_t)j * k + q] < 0 ? -w[(size_t)j * k + q] : w[(size_t)j * k + q];
        }
        b[j] = j < n ? bias[j] - offset * colsum : 0;
        if (j < n) {   /* |bias + sum (x - zp) w| with |x - zp| <= 255 */
            int64_t most = (bias[j] < 0 ? -(int64_t)bias[j] : bias[j]) + 255 * magnitude;
            bound = most > bound ? most : bound;
        }
    }
    h->acc_bound = bound >= INT32_MAX ? INT32_MAX : (int32_t)bound;
    void *dst = (char *)packed + packed_weights_offset(h->np);
    int32_t chunk = h->chunk, kc = h->kp / chunk;
    for (int32_t j = 0; j < h->np; j++)
        for (int32_t q = 0; q < h->kp; q++) {
            int8_t v = (j < n && q < k) ? w[(size_t)j * k + q] : 0;
            if (kernel == SKY_GEMM_AVX2) {   /* [n/16][k/2][n%16][k%2] int16 */
                ((int16_t *)dst)[(((size_t)(j / 16) * (h->kp / 2) + q / 2) * 16 + j % 16) * 2 + q % 2] = v;
            } else if (kernel == SKY_GEMM_AVX2_U8 || kernel == SKY_GEMM_AVX512VNNI) {   /* [n/16][k/4][n%16][k%4] int8 */
                ((int8_t *)dst)[(((size_t)(j / 16) * (h->kp / 4) + q / 4) * 16 + j % 16) * 4 + q % 4] = v;
            } else {
                ((int8_t *)dst)[(((size_t)(j / 4) * kc + q / chunk) * 4 + j % 4) * chunk + q % chunk] = v;
            }
        }
    return kernel;
}

/* Bytes of the copies for the direct convolution paths: 16-channel blocks of kh kernel rows,
   each of whole 4-byte groups of int8 (the u8 and VNNI kernels) or of whole pairs of int16
   (the int16 AVX2 kernel): 64 bytes per group or pair of 16 channels. */
static size_t conv_rows_bytes(int32_t n, int32_t kh, int32_t kw, int32_t cg) {
    return (size_t)((n + 15) / 16) * (size_t)kh * (size_t)((kw * cg + 3) / 4) * 64;
}
static size_t conv_pairs_bytes(int32_t n, int32_t kh, int32_t kw, int32_t cg) {
    return (size_t)((n + 15) / 16) * (size_t)kh * (size_t)((kw * cg + 1) / 2) * 64;
}
/* Where each copy starts: after the GEMM layout (np x kp bytes for the quad layout, twice
   that for int16 pairs), 64-byte aligned. */
static size_t conv_rows_offset(int32_t np, int32_t kp, int pairs) {
    return (packed_weights_offset(np) + (size_t)np * kp * (pairs ? 2 : 1) + 63) / 64 * 64;
}

size_t sky_conv_s8_packed_size(int32_t n, int32_t kh, int32_t kw, int32_t cg) {
    int32_t k = kh * kw * cg, np = (n + 15) / 16 * 16, kp = sky_gemm_s8_k_padded(k);
    size_t quads = conv_rows_offset(np, kp, 0) + conv_rows_bytes(n, kh, kw, cg);
    size_t pairs = conv_rows_offset(np, kp, 1) + conv_pairs_bytes(n, kh, kw, cg);
    return quads > pairs ? quads : pairs;   /* both hold the widest GEMM layout (sky_gemm_s8_packed_size) */
}

/* The direct paths' copy of the weights at `dst`: [n/16][kh][seg][n%16][group], each kernel
   row of `span` values starting on a whole group of `group` (4 int8 for the quad layout, 2
   int16 for the int16 one), zero weights past it. */
static void lay_out_kernel_rows(void *dst, int int16, const int8_t *w, int32_t n, int32_t kh, int32_t span) {
    const int32_t group = int16 ? 2 : 4, seg = (span + group - 1) / group, k = kh * span;
    memset(dst, 0, (size_t)((n + 15) / 16) * kh * seg * 64);
    for (int32_t j = 0; j < n; j++)
        for (int32_t ky = 0; ky < kh; ky++)
            for (int32_t t = 0; t < span; t++) {
                const size_t at = ((((size_t)(j / 16) * kh + ky) * seg + t / group) * 16 + j % 16) * group + t % group;
                const int8_t v = w[(size_t)j * k + (size_t)ky * span + t];
                if (int16) ((int16_t *)dst)[at] = v; else ((int8_t *)dst)[at] = v;
            }
}

int sky_conv_s8_pack_for(int kernel, const int8_t *w, const int32_t *bias, int32_t zp, int32_t n,
                         int32_t kh, int32_t kw, int32_t cg, void *packed) {
    const int32_t k = kh * kw * cg, span = kw * cg;
    int got = sky_gemm_s8_pack_for(kernel, w, bias, zp, n, k, packed);
    if (got < 0) return got;
    sky_packed_header *h = (sky_packed_header *)packed;
    h->conv_kh = kh; h->conv_kw = kw; h->conv_c = cg; h->rows_offset = 0;
    /* Kernel rows that are not whole groups of the kernel's layout (1- and 3-channel first
       layers) get the copy; the others read the GEMM layout itself. */
    const int int16 = got == SKY_GEMM_AVX2, quads = got == SKY_GEMM_AVX2_U8 || got == SKY_GEMM_AVX512VNNI;
    if ((int16 && span % 2) || (quads && span % 4)) {
        h->rows_offset = (int32_t)conv_rows_offset(h->np, h->kp, int16);
        lay_out_kernel_rows((char *)packed + h->rows_offset, int16, w, n, kh, span);
    }
    return got;
}

int sky_conv_s8_pack(const int8_t *w, const int32_t *bias, int32_t zp, int32_t n, int32_t kh, int32_t kw, int32_t cg, void *packed) {
    return sky_conv_s8_pack_for(best_kernel(), w, bias, zp, n, kh, kw, cg, packed);
}

int sky_gemm_s8_kernel(const void *packed) { return ((const sky_packed_header *)packed)->kernel; }

void sky_gemm_s8(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    if (m <= 0) return;
    switch (((const sky_packed_header *)packed)->kernel) {
#if defined(__x86_64__)
    case SKY_GEMM_AVX2: sky_gemm_s8_avx2(a, lda, m, packed, rq, c, ldc); return;
    case SKY_GEMM_AVX2_U8: sky_gemm_s8_avx2_u8(a, lda, m, packed, rq, c, ldc); return;
    case SKY_GEMM_AVX512VNNI: sky_gemm_s8_vnni(a, lda, m, packed, rq, c, ldc); return;
#elif defined(__aarch64__)
    case SKY_GEMM_NEON: sky_gemm_s8_neon(a, lda, m, packed, rq, c, ldc); return;
    case SKY_GEMM_NEON_DOT: sky_gemm_s8_neon_dot(a, lda, m, packed, rq, c, ldc); return;
#endif
    default: sky_gemm_s8_portable(a, lda, m, packed, rq, c, ldc); return;
    }
}

void sky_gemm_s8_portable(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    const int8_t *wt = (const int8_t *)packed_weights(packed);
    const int32_t *bias = packed_bias(packed);
    int32_t kc = h->kp / 16;
    for (int32_t i = 0; i < m; i++) {
        const int8_t *ar = a + (size_t)i * lda;
        for (int32_t n0 = 0; n0 < h->np; n0 += 4) {
            int32_t acc[4] = {0, 0, 0, 0};
            const int8_t *bb = wt + (size_t)(n0 / 4) * kc * 64;
            for (int32_t q = 0; q < kc; q++)
                for (int j = 0; j < 4; j++)
                    for (int t = 0; t < 16; t++) acc[j] += (int32_t)ar[q * 16 + t] * bb[(q * 4 + j) * 16 + t];
            sky_store_row(acc, bias, n0, h->n, rq, c + (size_t)i * ldc);
        }
    }
}

/* Copies and fills of a few to a few hundred bytes, inline: a library memcpy or
   memset call per kernel row would cost more than the bytes (3-channel images
   copy 9 bytes at a time). Short ones are two overlapping fixed-size moves. */
static inline void copy_bytes(int8_t *d, const int8_t *s, size_t n) {
    if (n >= 16) {
        size_t i = 0;
        for (; i + 16 <= n; i += 16) memcpy(d + i, s + i, 16);
        if (i < n) memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8) { memcpy(d, s, 8); memcpy(d + n - 8, s + n - 8, 8); }
    else if (n >= 4) { memcpy(d, s, 4); memcpy(d + n - 4, s + n - 4, 4); }
    else for (size_t i = 0; i < n; i++) d[i] = s[i];
}
static inline void fill_bytes(int8_t *d, int8_t v, size_t n) {
    uint64_t v8 = 0x0101010101010101ull * (uint8_t)v;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) memcpy(d + i, &v8, 8);
        if (i < n) memcpy(d + n - 8, &v8, 8);
    } else if (n >= 4) { memcpy(d, &v8, 4); memcpy(d + n - 4, &v8, 4); }
    else for (size_t i = 0; i < n; i++) d[i] = v;
}

void sky_im2col_s8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                   int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg,
                   int8_t zp, int8_t *a, size_t lda) {
    size_t k = (size_t)kh * kw * cg, span = (size_t)kw * cg, stride = (size_t)w * c;
    int32_t oy = row0 / ow, ox = row0 % ow;   /* stepped, not divided, per row */
    for (int32_t r = 0; r < rows; r++) {
        int8_t *dst = a + (size_t)r * lda;
        int32_t ix0 = ox * sw - pl, iy0 = oy * sh - pt;
        /* Without groups, a kernel row inside the image is kw*c contiguous input bytes. */
        int whole_rows = cg == c && ix0 >= 0 && ix0 + kw <= w;
        if (whole_rows && iy0 >= 0 && iy0 + kh <= h) {   /* interior pixel: kh straight copies */
            const int8_t *src = x + ((size_t)iy0 * w + ix0) * c;
            for (int32_t ky = 0; ky < kh; ky++, dst += span, src += stride) copy_bytes(dst, src, span);
        } else {
            for (int32_t ky = 0; ky < kh; ky++) {
                int32_t iy = iy0 + ky;
                if (iy < 0 || iy >= h) { fill_bytes(dst, zp, span); dst += span; continue; }
                const int8_t *src = x + (size_t)iy * stride + c0;
                if (whole_rows) { copy_bytes(dst, src + (size_t)ix0 * c, span); dst += span; continue; }
                for (int32_t kx = 0; kx < kw; kx++) {
                    int32_t ix = ix0 + kx;
                    if (ix < 0 || ix >= w) fill_bytes(dst, zp, (size_t)cg);
                    else copy_bytes(dst, src + (size_t)ix * c, (size_t)cg);
                    dst += cg;
                }
            }
        }
        fill_bytes(a + (size_t)r * lda + k, 0, lda - k);
        if (++ox == ow) { ox = 0; oy++; }
    }
}

void sky_conv_s8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                 int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                 const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy, int8_t *scratch, size_t lda) {
    if (rows <= 0) return;
#if defined(__x86_64__)
    if (sky_gemm_s8_kernel(packed) == SKY_GEMM_AVX2 &&
        sky_conv_s8_avx2(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, c0, cg, zp, packed, rq, y, ldy)) return;
    if (sky_gemm_s8_kernel(packed) == SKY_GEMM_AVX2_U8) {
        sky_conv_s8_avx2_u8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, c0, cg, zp, packed, rq, y, ldy);
        return;
    }
    if (sky_gemm_s8_kernel(packed) == SKY_GEMM_AVX512VNNI) {
        sky_conv_s8_vnni(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, c0, cg, zp, packed, rq, y, ldy);
        return;
    }
#endif
    sky_im2col_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, c0, cg, zp, scratch, lda);
    sky_gemm_s8(scratch, lda, rows, packed, rq, y, ldy);
}

int sky_conv_s8_uses_scratch(const void *packed, const sky_requant_s8 *rq) {
#if defined(__x86_64__)
    switch (sky_gemm_s8_kernel(packed)) {
    case SKY_GEMM_AVX2_U8: case SKY_GEMM_AVX512VNNI: return 0;   /* they always run */
    case SKY_GEMM_AVX2: return sky_conv_s8_avx2_declines(packed, rq);
    default: return 1;
    }
#else
    (void)packed; (void)rq;
    return 1;
#endif
}

int sky_conv_s8_direct(const void *packed, const sky_requant_s8 *rq, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw,
                       int32_t out_w) {
#if defined(__x86_64__)
    return sky_conv_s8_avx2_u8_direct(packed, c, cg, kh, kw, sw, out_w) || sky_conv_s8_vnni_direct(packed, c, cg, kh, kw, sw, out_w) ||
           sky_conv_s8_avx2_direct(packed, rq, c, cg, kh, kw, sw, out_w);
#else
    (void)packed; (void)rq; (void)c; (void)cg; (void)kh; (void)kw; (void)sw; (void)out_w;
    return 0;
#endif
}

void sky_depthwise_s8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                      int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t zp,
                      const int8_t *wt, const int32_t *bias, const sky_requant_s8 *rq, int8_t *y, int32_t *acc) {
    for (int32_t r = 0; r < rows; r++) {
        int32_t p = row0 + r, oy = p / ow, ox = p % ow;
        for (int32_t ch = 0; ch < c; ch++) acc[ch] = bias[ch];
        for (int32_t ky = 0; ky < kh; ky++) {
            int32_t iy = oy * sh - pt + ky;
            if (iy < 0 || iy >= h) continue;   /* padding is zp: contributes (zp - zp) * w = 0 */
            for (int32_t kx = 0; kx < kw; kx++) {
                int32_t ix = ox * sw - pl + kx;
                if (ix < 0 || ix >= w) continue;
                const int8_t *xi = x + ((size_t)iy * w + ix) * c;
                const int8_t *wi = wt + ((size_t)ky * kw + kx) * c;
                for (int32_t ch = 0; ch < c; ch++) acc[ch] += ((int32_t)xi[ch] - zp) * wi[ch];
            }
        }
        int8_t *out = y + (size_t)r * c;
        for (int32_t ch = 0; ch < c; ch++) out[ch] = sky_requant_one(acc[ch], ch, rq);
    }
}
