/* AVX2 int8 GEMM for layers whose weights all lie in [-64, 63] (7-bit quantization),
   chosen at pack time. Activations go in as unsigned bytes (x ^ 0x80 = x + 128; the
   128 x column sum is folded into the packed bias, as for VNNI), and vpmaddubsw
   multiplies 32 u8 x s8 pairs and adds neighbours into int16: |255 * 64 * 2| = 32640
   < 32767, so it never saturates and the result is exact. vpmaddwd by ones widens the
   pairs into int32 sums of 4, added into the accumulators: 3 ALU ops per 32 MACs per
   vector, against 4 for the int16 kernel's vpmaddwd + vpaddd (ONNX Runtime's
   "reduce_range" on AVX2 without VNNI rests on the same bound).
   Packed weights: [n/16][k/4][n%16][k%4] int8, so one 32-bit broadcast of four
   activations meets 8 channels' four weights per vector. Tiles are MRU rows x 16
   channels; the output stage is the int16 kernel's (gemm_s8_avx2_stage.h). */
#include "gemm_s8_internal.h"

#if defined(__x86_64__)
#include "gemm_s8_avx2_stage.h"
#include <string.h>

/* Rows per tile: 4 x 2 accumulators + 2 weight vectors + ones + broadcast + product stay
   within the 16 ymm registers (6 rows would spill). */
#define MRU 4


static inline __attribute__((always_inline)) AVX2 void block_u8(const gemm_ctx *g, int vector_stage, const uint8_t *ab, int32_t stride,
                                                                 const int R, const int V, int32_t n0, int8_t *c, size_t ldc) {
    const sky_packed_header *h = g->h;
    const int32_t kp4 = h->kp / 4, k4 = (h->k + 3) / 4;
    const int8_t *b = (const int8_t *)g->wt + (size_t)(n0 / 16) * kp4 * 64;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc[MRU][2];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) acc[r][v] = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8 * v));
    for (int32_t q = 0; q < k4; q++, b += 64) {
        __m256i w[2];
        for (int v = 0; v < V; v++) w[v] = _mm256_load_si256((const __m256i *)(b + 32 * v));
        for (int r = 0; r < R; r++) {
            int32_t four;
            memcpy(&four, ab + (size_t)r * stride + 4 * q, 4);
            __m256i x = _mm256_set1_epi32(four);
            for (int v = 0; v < V; v++)
                acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w[v]), ones));
        }
    }
    store_rows(g, vector_stage, acc, R, V, n0, c, ldc);
}

#define BLOCK_U8(R, V) static AVX2 void u8_##R##_##V(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t s, int32_t n0, int8_t *c, size_t ldc) { block_u8(g, vs, ab, s, R, V, n0, c, ldc); }
BLOCK_U8(1, 1) BLOCK_U8(2, 1) BLOCK_U8(3, 1) BLOCK_U8(4, 1)
BLOCK_U8(1, 2) BLOCK_U8(2, 2) BLOCK_U8(3, 2) BLOCK_U8(4, 2)
typedef void (*block_u8_fn)(const gemm_ctx *, int, const uint8_t *, int32_t, int32_t, int8_t *, size_t);
static const block_u8_fn blocks_u8[2][MRU] = {{u8_1_1, u8_2_1, u8_3_1, u8_4_1}, {u8_1_2, u8_2_2, u8_3_2, u8_4_2}};

/* All rows of a super-block (unsigned, `stride` bytes apart) times all weights: channel
   blocks outermost, so one block's weights stay in L1 while the rows pass by. */
static void tile_u8(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t stride, int32_t rows, int8_t *c, size_t ldc) {
    const block_u8_fn *f = blocks_u8[g->h->n > 8];
    for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
        for (int32_t i = 0; i < rows; i += MRU)
            f[(rows - i < MRU ? rows - i : MRU) - 1](g, vs, ab + (size_t)i * stride, stride, n0, c + (size_t)i * ldc, ldc);
}

/* Rows per super-block: a multiple of MRU, at most 48, about 32 KiB of rows. */
static int32_t superblock_rows_u8(int32_t stride) {
    int32_t r = 32768 / stride / MRU * MRU;
    return r < MRU ? MRU : r > 48 ? 48 : r;
}

/* 16 int8 at src as u8 at dst. */
static inline AVX2 void flip16(uint8_t *dst, const int8_t *src) {
    _mm_storeu_si128((__m128i *)dst, _mm_xor_si128(_mm_loadu_si128((const __m128i *)src), _mm_set1_epi8((char)0x80)));
}

/* n int8 at src as unsigned bytes (x ^ 0x80) at dst, reading and writing exactly n. */
static inline AVX2 void flip(uint8_t *dst, const int8_t *src, int32_t n) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    int32_t q = 0;
    for (; q + 32 <= n; q += 32)
        _mm256_storeu_si256((__m256i *)(dst + q), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + q)), bias));
    if (q + 16 <= n) { flip16(dst + q, src + q); q += 16; }
    for (; q < n; q++) dst[q] = (uint8_t)src[q] ^ 0x80;
}

AVX2 void sky_gemm_s8_avx2_u8(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    gemm_ctx g;
    /* Where ctx_init declines (an INT32_MIN multiplier) every output goes through the scalar
       stage (the u8 layout has no other kernel to fall back to). */
    const int vs = ctx_init(&g, packed, rq);
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, vs, stages);
    const int32_t kp = g.h->kp, sb = superblock_rows_u8(kp);   /* kp: a multiple of 32, tail zero */
    uint8_t ab[sb * kp] __attribute__((aligned(32)));
    for (int32_t i = 0; i < m; i += sb) {
        int32_t rows = m - i < sb ? m - i : sb;
        for (int r = 0; r < rows; r++) flip(ab + (size_t)r * kp, a + (size_t)(i + r) * lda, kp);
        tile_u8(&g, vs, ab, kp, rows, c + (size_t)i * ldc, ldc);
    }
}

/* Pixels per direct block: 5 x 2 accumulators + 2 weight vectors + ones + broadcast +
   product fill the 16 ymm registers exactly. */
#define RD 5

/* R output pixels of one output row, `pixel` bytes apart in the unsigned input rows
   (rowlen apart), times the 16-channel block at n0 whose weights are at b. Each pixel's
   kernel row is kw*c contiguous bytes there, read as seg k quads, which the weights'
   quads (seg per kernel row) meet row by row. Named accumulators: clang keeps an array
   of them in memory across the nested loops; R is a constant in each instance, so a
   short block computes only its pixels. */
static inline __attribute__((always_inline)) AVX2 void block_direct_u8(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base,
                                                                        int32_t pixel, size_t rowlen, int32_t kh, int32_t seg,
                                                                        const int R, int32_t n0, int8_t *c, size_t ldc) {
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(g->bias + n0)), b1 = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8));
    __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1, c40 = b0, c41 = b1;
#define MAC(acc0, acc1, p)                                                                                   \
    do {                                                                                                     \
        int32_t four;                                                                                        \
        memcpy(&four, p, 4);                                                                                 \
        const __m256i x = _mm256_set1_epi32(four);                                                           \
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w0), ones));                 \
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_maddubs_epi16(x, w1), ones));                 \
    } while (0)
    for (int32_t ky = 0; ky < kh; ky++) {
        const uint8_t *p = base + ky * rowlen;
        for (int32_t q = 0; q < seg; q++, b += 64, p += 4) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 32));
            MAC(c00, c01, p);
            if (R > 1) MAC(c10, c11, p + pixel);
            if (R > 2) MAC(c20, c21, p + 2 * pixel);
            if (R > 3) MAC(c30, c31, p + 3 * pixel);
            if (R > 4) MAC(c40, c41, p + 4 * pixel);
        }
    }
#undef MAC
    __m256i acc[RD][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}};
    store_rows(g, vs, acc, R, 2, n0, c, ldc);
}

#define DIRECT_U8(R) static AVX2 void direct_u8_##R(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base, int32_t pixel, \
                                                    size_t rowlen, int32_t kh, int32_t seg, int32_t n0, int8_t *c, size_t ldc) { \
    block_direct_u8(g, vs, b, base, pixel, rowlen, kh, seg, R, n0, c, ldc); }
DIRECT_U8(1) DIRECT_U8(2) DIRECT_U8(3) DIRECT_U8(4) DIRECT_U8(5)
typedef void (*direct_u8_fn)(const gemm_ctx *, int, const int8_t *, const uint8_t *, int32_t, size_t, int32_t, int32_t, int32_t, int8_t *, size_t);
static const direct_u8_fn directs_u8[RD] = {direct_u8_1, direct_u8_2, direct_u8_3, direct_u8_4, direct_u8_5};

#define DIRECT_U8_MIN_OW 3

/* Whether the direct path runs: no groups, more than 8 channels (8 or fewer would be
   half padding), a buffer that fits, and, where kernel rows are not whole k quads
   (kw*c % 4 != 0: 1- and 3-channel first layers), weights packed by sky_conv_s8_pack_for
   for this kernel size, which holds them re-laid with each kernel row padded to whole quads.
   Output rows of 1-2 pixels make blocks of 1-2 pixels, one or two broadcasts per weight
   load, where the row gathering fills blocks of 4 across output rows (measured: it wins
   there, and loses from 3 pixels on). */
int sky_conv_s8_avx2_u8_direct(const void *packed, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw, int32_t ow) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    const int64_t wp = (int64_t)(ow - 1) * sw + kw;
    const int rows_laid = h->rows_offset != 0 && h->conv_kh == kh && h->conv_kw == kw && h->conv_c == c;
    return h->kernel == SKY_GEMM_AVX2_U8 && cg == c && h->n > 8 && ow >= DIRECT_U8_MIN_OW && kh * (wp * c + 4) <= DIRECT_BUF_BYTES &&
           ((kw * c) % 4 == 0 || rows_laid);
}


/* Direct convolution: for each run of output pixels along an output row, the kh input
   rows it reads are made unsigned once into a stack buffer, padding included (the zero
   point ^ 0x80), and blocks of RD pixels broadcast their k quads straight from them, so
   each input byte is flipped about kh times instead of kh*kw times and no row is
   gathered. */
static AVX2 void conv_direct_u8(const gemm_ctx *g, int vs, const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw,
                                int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int8_t zp,
                                int8_t *y, size_t ldy) {
    const int32_t wp = (ow - 1) * sw + kw, span = kw * c, seg = (span + 3) / 4;
    const size_t rowlen = (size_t)wp * c + 4;   /* + what a padded quad reads past the last pixel */
    const uint8_t pad = (uint8_t)zp ^ 0x80;
    uint8_t buf[(size_t)kh * rowlen] __attribute__((aligned(32)));
    /* Kernel rows of whole quads read the GEMM layout; others the copy packed beside it. */
    const int8_t *wt = span % 4 ? (const int8_t *)g->h + g->h->rows_offset : (const int8_t *)g->wt;
    const size_t wblock = span % 4 ? (size_t)kh * seg * 64 : (size_t)(g->h->kp / 4) * 64;
    for (int32_t p = row0; p < row0 + rows;) {
        const output_run pixels = output_run_at(p, row0, rows, ow, sw, kw);
        const int32_t oy = pixels.oy, run = pixels.run, jx0 = pixels.jx0, jx1 = pixels.jx1;
        for (int32_t ky = 0; ky < kh; ky++) {
            uint8_t *d = buf + ky * rowlen;
            const padded_row r = padded_row_at(oy * sh - pt + ky, h, w, c, pl, jx0, jx1);
            memset(d, pad, (size_t)r.lead);
            flip(d + r.lead, x + r.at, r.inside);
            memset(d + r.lead + r.inside, pad, (size_t)(r.n - r.lead - r.inside) + 4);
        }
        int8_t *o = y + (size_t)(p - row0) * ldy;
        const int32_t pixel = sw * c;
        for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
            for (int32_t i = 0; i < run; i += RD)
                directs_u8[(run - i < RD ? run - i : RD) - 1](g, vs, wt + (size_t)(n0 / 16) * wblock, buf + (size_t)i * pixel, pixel,
                                                              rowlen, kh, seg, n0, o + (size_t)i * ldy, ldy);
        p += run;
    }
}

/* Implicit GEMM as sky_conv_s8_avx2's: rows gathered from the NHWC image and made
   unsigned on the way (kernel rows of interior pixels are kw*c contiguous bytes); border
   pixels and groups through sky_im2col_s8 one row at a time. Bytes past k in a row
   meet zero weights, so what the 16-byte steps leave there does not matter. */
AVX2 void sky_conv_s8_avx2_u8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                              int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                              const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy) {
    gemm_ctx g;
    const int vs = ctx_init(&g, packed, rq);
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, vs, stages);
    if (sky_conv_s8_avx2_u8_direct(packed, c, cg, kh, kw, sw, ow)) {
        conv_direct_u8(&g, vs, x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, zp, y, ldy);
        return;
    }
    const int32_t kp = g.h->kp, stride = ((g.h->k + 15) / 16 * 16 + 16 + 31) / 32 * 32;   /* >= kp, + the last 16-byte overshoot */
    const int32_t span = kw * cg;
    const int32_t sb = superblock_rows_u8(stride);
    uint8_t ab[sb * stride] __attribute__((aligned(32)));
    int8_t row[kp] __attribute__((aligned(32)));
    int32_t oy = row0 / ow, ox = row0 % ow;
    const size_t wc = (size_t)w * c;
    const interior_window win = interior_window_of(x, h, w, c, kh, kw, sh, sw, pt, pl, c0, cg);
    for (int32_t i = 0; i < rows; i += sb) {
        int32_t n = rows - i < sb ? rows - i : sb;
        for (int r = 0; r < n; r++) {
            uint8_t *d = ab + (size_t)r * stride;
            const int8_t *src = interior_at(&win, oy, ox);
            if (src) {
                for (int32_t ky = 0; ky < kh; ky++, src += wc)
                    for (int32_t q = 0; q < span; q += 16) flip16(d + ky * span + q, src + q);
            } else {
                sky_im2col_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, (oy * ow + ox), 1, c0, cg, zp, row, (size_t)kp);
                flip(d, row, kp);
            }
            if (++ox == ow) { ox = 0; oy++; }
        }
        tile_u8(&g, vs, ab, stride, n, y + (size_t)i * ldy, ldy);
    }
}

/* The u8 sequence's ceiling: 12 chains acc += madd(maddubs(acc, w), ones), 32 MACs each. */
AVX2 static uint64_t peak_loop_u8(uint64_t iterations) {
    const __m256i w = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
    __m256i acc[12];
    for (int r = 0; r < 12; r++) acc[r] = _mm256_set1_epi8((char)(r + 1));
    for (uint64_t i = 0; i < iterations; i++) {
        for (int r = 0; r < 12; r++) acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_maddubs_epi16(acc[r], w), ones));
        __asm__ volatile("" : "+x"(acc[0]), "+x"(acc[1]), "+x"(acc[2]), "+x"(acc[3]), "+x"(acc[4]), "+x"(acc[5]),
                              "+x"(acc[6]), "+x"(acc[7]), "+x"(acc[8]), "+x"(acc[9]), "+x"(acc[10]), "+x"(acc[11]));
    }
    __m256i s = acc[0];
    for (int r = 1; r < 12; r++) s = _mm256_xor_si256(s, acc[r]);
    return (uint64_t)_mm256_extract_epi64(s, 0) | 1;
}
uint64_t sky_peak_maddubs_add_avx2(uint64_t iterations) {
    return (sky_cpu_features() & SKY_CPU_AVX2) ? peak_loop_u8(iterations) : 0;
}
#else
uint64_t sky_peak_maddubs_add_avx2(uint64_t iterations) { (void)iterations; return 0; }
#endif
