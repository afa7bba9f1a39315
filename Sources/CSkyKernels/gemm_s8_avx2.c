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
#include "gemm_s8_avx2_stage.h"
#include <string.h>

#define MR 6
/* Widened rows live on the stack: up to 48 rows in about 64 KiB, at least 6 rows of kp
   int16 (at most 192 KiB for MAX_KP, within the 8 MiB default thread stack); longer rows
   take the 4x16 kernel. */

/* R rows of one block (widened, `stride` int16 apart) times the 16-channel block of
   weights at n0 (only its first 8 channels when V is 1: layers of at most 8 channels),
   requantized into c. R and V are constants in each instance, so the accumulators stay
   in registers and short blocks (a batch-1 dense layer is one row) compute only their rows. */
static inline __attribute__((always_inline)) AVX2 void block_rv(const gemm_ctx *g, const int16_t *ab, int32_t stride,
                                                                 const int R, const int V, int32_t n0, int8_t *c, size_t ldc) {
    const sky_packed_header *h = g->h;
    const int32_t kp2 = h->kp / 2, k2 = (h->k + 1) / 2;
    const int32_t *p[MR];
    for (int r = 0; r < R; r++) p[r] = (const int32_t *)(ab + r * stride);
    const int16_t *b = g->wt + (size_t)(n0 / 16) * kp2 * 32;
    __m256i acc[MR][2];
    acc_from_bias(acc, g, R, V, n0);
    for (int32_t q = 0; q < k2; q++, b += 32) {
        __m256i w[2];
        for (int v = 0; v < V; v++) w[v] = _mm256_load_si256((const __m256i *)(b + 16 * v));
        for (int r = 0; r < R; r++) {
            __m256i x = _mm256_set1_epi32(p[r][q]);
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(x, w[v]));
        }
    }
    store_rows(g, 1, acc, R, V, n0, c, ldc);
}

#define BLOCK(R, V) static AVX2 void block_##R##_##V(const gemm_ctx *g, const int16_t *ab, int32_t s, int32_t n0, int8_t *c, size_t ldc) { block_rv(g, ab, s, R, V, n0, c, ldc); }
BLOCK(1, 1) BLOCK(2, 1) BLOCK(3, 1) BLOCK(4, 1) BLOCK(5, 1) BLOCK(6, 1)
BLOCK(1, 2) BLOCK(2, 2) BLOCK(3, 2) BLOCK(4, 2) BLOCK(5, 2) BLOCK(6, 2)
typedef void (*block_fn)(const gemm_ctx *, const int16_t *, int32_t, int32_t, int8_t *, size_t);
static const block_fn blocks[2][MR] = {
    {block_1_1, block_2_1, block_3_1, block_4_1, block_5_1, block_6_1},
    {block_1_2, block_2_2, block_3_2, block_4_2, block_5_2, block_6_2},
};

/* Layers of 1-4 output channels (an autoencoder's last conv): a 16-channel block would
   be mostly padding, so each channel is a dot product along k per row instead, the
   rows' sums gathered into the lanes of one vector for the output stage. */
static AVX2 void block_dot(const gemm_ctx *g, const int16_t *ab, int32_t stride, int rows, int8_t *c, size_t ldc) {
    const sky_packed_header *h = g->h;
    const int32_t kw = (h->k + 15) / 16 * 16;
    const stage_common *k = &g->k;
    int16_t col[kw] __attribute__((aligned(32)));
    for (int32_t j = 0; j < h->n; j++) {
        for (int32_t q = 0; q < kw / 2; q++) memcpy(col + 2 * q, g->wt + ((size_t)q * 16 + j) * 2, 4);   /* [k/2][16][2] -> [k] */
        __m256i acc[MR];
        for (int r = 0; r < MR; r++) acc[r] = _mm256_setzero_si256();
        for (int32_t q = 0; q < kw; q += 16) {
            __m256i w = _mm256_load_si256((const __m256i *)(col + q));
            for (int r = 0; r < rows; r++)
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(ab + r * stride + q)), w));
        }
        __m256i t0 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[0], acc[1]), _mm256_hadd_epi32(acc[2], acc[3]));
        __m256i t1 = _mm256_hadd_epi32(_mm256_hadd_epi32(acc[4], acc[5]), _mm256_setzero_si256());
        __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20), _mm256_permute2x128_si256(t0, t1, 0x31));
        sums = _mm256_add_epi32(sums, _mm256_set1_epi32(g->bias[j]));
        stage8 st = uniform_stage(g->rq->multiplier[j], g->rq->shift[j]);
        if (k->float_stage) st.fs = _mm256_set1_ps(g->rq->float_scale[j]);
        int32_t out[8];
        _mm256_storeu_si256((__m256i *)out, finish8(sums, &st, k, &g->leaky));   /* the full sequence: lanes are rows here */
        for (int i = 0; i < rows; i++) c[(size_t)i * ldc + j] = (int8_t)(out[i] < -128 ? -128 : out[i] > 127 ? 127 : out[i]);
    }
}

/* All rows of a super-block (widened, `stride` apart) times all weights: channel blocks
   outermost, so one block's weights stay in L1 while up to SB rows pass by. */
static void tile(const gemm_ctx *g, const int16_t *ab, int32_t stride, int32_t rows, int8_t *c, size_t ldc) {
    if (g->h->n <= 4) {
        for (int32_t i = 0; i < rows; i += MR)
            block_dot(g, ab + (size_t)i * stride, stride, rows - i < MR ? rows - i : MR, c + (size_t)i * ldc, ldc);
        return;
    }
    const block_fn *f = blocks[g->h->n > 8];
    for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
        for (int32_t i = 0; i < rows; i += MR)
            f[(rows - i < MR ? rows - i : MR) - 1](g, ab + (size_t)i * stride, stride, n0, c + (size_t)i * ldc, ldc);
}

/* Rows per super-block: a multiple of 6, at most 48, about 64 KiB of widened rows. */
static int32_t superblock_rows(int32_t stride) {
    int32_t r = 65536 / (stride * 2) / MR * MR;
    return r < MR ? MR : r > 8 * MR ? 8 * MR : r;
}

/* n int8 at src as int16 at dst, 16 at a time: reads and writes up to 15 past n. */
static inline AVX2 void widen(int16_t *dst, const int8_t *src, int32_t n) {
    for (int32_t q = 0; q < n; q += 16)
        _mm256_storeu_si256((__m256i *)(dst + q), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + q))));
}

AVX2 void sky_gemm_s8_avx2(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    gemm_ctx g;
    if (!ctx_init(&g, packed, rq)) { sky_gemm_s8_avx2_4x16(a, lda, m, packed, rq, c, ldc); return; }
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, 1, stages);
    const int32_t kw = (g.h->k + 15) / 16 * 16;   /* within the row's kp bytes */
    const int32_t sb = superblock_rows(kw);
    int16_t ab[sb * kw] __attribute__((aligned(32)));
    for (int32_t i = 0; i < m; i += sb) {
        int32_t rows = m - i < sb ? m - i : sb;
        for (int r = 0; r < rows; r++) widen(ab + r * kw, a + (size_t)(i + r) * lda, kw);
        tile(&g, ab, kw, rows, c + (size_t)i * ldc, ldc);
    }
}

static inline int32_t pair_at(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Six output pixels of one output row, sw*c int16 apart in the widened input rows
   (rowlen apart), times the 16-channel block at n0 whose weights are at b; the first R are
   stored. Each pixel's kernel row is kw*c contiguous values there, read as seg k pairs,
   which the weights' pairs (seg per kernel row) meet row by row. Named accumulators:
   clang keeps an array of them in memory across the nested loops. */
static AVX2 void block_direct(const gemm_ctx *g, const int16_t *b, const int16_t *base, int32_t pixel, size_t rowlen, int32_t kh,
                              int32_t seg, int R, int32_t n0, int8_t *c, size_t ldc) {
    __m256i b0 = _mm256_loadu_si256((const __m256i *)(g->bias + n0)), b1 = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8));
    __m256i c00 = b0, c01 = b1, c10 = b0, c11 = b1, c20 = b0, c21 = b1, c30 = b0, c31 = b1, c40 = b0, c41 = b1, c50 = b0, c51 = b1;
    const int16_t *r0 = base, *r1 = base + (R > 1 ? 1 : 0) * pixel, *r2 = base + (R > 2 ? 2 : R - 1) * pixel,
                  *r3 = base + (R > 3 ? 3 : R - 1) * pixel, *r4 = base + (R > 4 ? 4 : R - 1) * pixel, *r5 = base + (R > 5 ? 5 : R - 1) * pixel;
    for (int32_t ky = 0; ky < kh; ky++) {
        /* Pairs start on any int16 (odd pixel strides of 1- and 3-channel layers): memcpy loads. */
        const int16_t *p0 = r0 + ky * rowlen, *p1 = r1 + ky * rowlen, *p2 = r2 + ky * rowlen, *p3 = r3 + ky * rowlen,
                      *p4 = r4 + ky * rowlen, *p5 = r5 + ky * rowlen;
#define PAIR(p) pair_at((p) + 2 * q)
        for (int32_t q = 0; q < seg; q++, b += 32) {
            __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 16));
            __m256i x = _mm256_set1_epi32(PAIR(p0));
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(PAIR(p1));
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(PAIR(p2));
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(PAIR(p3));
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(PAIR(p4));
            c40 = _mm256_add_epi32(c40, _mm256_madd_epi16(x, w0)); c41 = _mm256_add_epi32(c41, _mm256_madd_epi16(x, w1));
            x = _mm256_set1_epi32(PAIR(p5));
            c50 = _mm256_add_epi32(c50, _mm256_madd_epi16(x, w0)); c51 = _mm256_add_epi32(c51, _mm256_madd_epi16(x, w1));
        }
#undef PAIR
    }
    __m256i acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    store_rows(g, 1, acc, R, 2, n0, c, ldc);
}

/* Input row iy over padded columns [0, wp) widened to int16 at d, padding as the zero point. */
static inline AVX2 void widen_padded_row(int16_t *d, const int8_t *x, int32_t iy, int32_t h, int32_t w, int32_t c, int32_t pl,
                                         int32_t wp, int8_t zp) {
    const padded_row r = padded_row_at(iy, h, w, c, pl, 0, wp);
    const int32_t lead = r.lead, inside = r.inside, n = r.n;
    for (int32_t j = 0; j < lead; j++) d[j] = zp;
    const int8_t *src = x + r.at;
    int32_t q = 0;
    for (; q + 16 <= inside; q += 16)
        _mm256_storeu_si256((__m256i *)(d + lead + q), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(src + q))));
    for (; q < inside; q++) d[lead + q] = src[q];
    for (int32_t j = lead + inside; j < n; j++) d[j] = zp;
}

/* Direct convolution for layers of more than 8 channels whose kernel rows are an even
   count of values (kw*c), or odd ones (1- and 3-channel first layers) where
   sky_conv_s8_pack_for laid out a copy of the weights with each kernel row padded by a zero
   weight to whole pairs: the input rows a call reads are widened once, padding included
   (as the zero point), into a band of whole padded rows (row_band), and blocks of 6 pixels
   of each run of output pixels along an output row read their kernel rows straight from
   them (a padded pair's second value, the next pixel's or the slack past the band, meets
   the zero weight). 0 where it declines (and the row gathering runs). */
static int direct_fits(const sky_packed_header *ph, int32_t c, int32_t kh, int32_t kw, int32_t sw, int32_t ow) {
    const int32_t wp = (ow - 1) * sw + kw, span = kw * c;   /* wp: input columns one whole output row reads */
    /* Blocks do not cross output rows, so a narrow output (a 16-pixel row is 6 + 6 + 4,
       computed as 18) wastes more than the row gathering costs. */
    return (span % 2 == 0 || packed_rows_laid(ph, kh, kw, c)) && ph->n > 8 && ow >= 24 && (size_t)kh * wp * c * 2 <= DIRECT_BUF_BYTES;
}

int sky_conv_s8_avx2_direct(const void *packed, const sky_requant_s8 *rq, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw,
                            int32_t ow) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    return h->kernel == SKY_GEMM_AVX2 && cg == c && !sky_conv_s8_avx2_declines(packed, rq) && direct_fits(h, c, kh, kw, sw, ow);
}

static AVX2 int conv_direct(const gemm_ctx *g, const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw,
                            int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int8_t zp,
                            int8_t *y, size_t ldy) {
    const sky_packed_header *ph = g->h;
    if (!direct_fits(ph, c, kh, kw, sw, ow)) return 0;
    const int32_t wp = (ow - 1) * sw + kw, span = kw * c, seg = (span + 1) / 2;
    size_t wblock;
    const int16_t *wt = (const int16_t *)direct_weights(ph, span, 2, kh, &wblock);
    const size_t rowlen = (size_t)wp * c;
    row_band band = row_band_of(row0, rows, ow, sh, pt, kh, rowlen * 2);
    int16_t buf[(size_t)band.band * rowlen + 16] __attribute__((aligned(32)));
    /* The slack a padded pair of the band's last row reads (meeting a zero weight): defined,
       so that memory checkers see no uninitialized read. */
    for (int j = 0; j < 16; j++) buf[(size_t)band.band * rowlen + j] = zp;
    for (int32_t p = row0; p < row0 + rows;) {
        const output_run pixels = output_run_at(p, row0, rows, ow, sw, kw);
        const int32_t iy = pixels.oy * sh - pt, run = pixels.run;
        if (row_band_next(&band, iy, kh))
            for (int32_t r = band.have0; r < band.have1; r++) widen_padded_row(buf + (size_t)(r - band.have0) * rowlen, x, r, h, w, c, pl, wp, zp);
        const int16_t *base = buf + (size_t)(iy - band.have0) * rowlen + (size_t)pixels.jx0 * c;
        int8_t *o = y + (size_t)(p - row0) * ldy;
        for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
            for (int32_t i = 0; i < run; i += MR)
                block_direct(g, wt + (size_t)(n0 / 16) * wblock / 2, base + (size_t)i * sw * c, sw * c, rowlen, kh, seg, run - i < MR ? run - i : MR, n0,
                             o + (size_t)i * ldy, ldy);
        p += run;
    }
    return 1;
}

AVX2 int sky_conv_s8_avx2_declines(const void *packed, const sky_requant_s8 *rq) {
    gemm_ctx g;
    return !ctx_init(&g, packed, rq);
}

/* Implicit GEMM: the rows of a block are gathered and widened straight from the
   NHWC image (each kernel row of an interior pixel is kw*c contiguous bytes), with
   no int8 im2col pass; border pixels go through sky_im2col_s8 one row at a time. */
AVX2 int sky_conv_s8_avx2(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
                          int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
                          const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy) {
    gemm_ctx g;
    if (!ctx_init(&g, packed, rq)) return 0;
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, 1, stages);
    if (cg == c && conv_direct(&g, x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, zp, y, ldy)) return 1;
    const int32_t k = g.h->k, stride = (k + 15) / 16 * 16 + 16;   /* + the last chunk's overshoot */
    const int32_t span = kw * cg;
    const int32_t sb = superblock_rows(stride);
    int16_t ab[sb * stride] __attribute__((aligned(32)));
    int8_t row[g.h->kp + 16] __attribute__((aligned(32)));
    int32_t oy = row0 / ow, ox = row0 % ow;
    const size_t wc = (size_t)w * c;
    const interior_window win = interior_window_of(x, h, w, c, kh, kw, sh, sw, pt, pl, c0, cg);
    for (int32_t i = 0; i < rows; i += sb) {
        int32_t n = rows - i < sb ? rows - i : sb;
        for (int r = 0; r < n; r++) {
            int16_t *d = ab + r * stride;
            const int8_t *src = interior_at(&win, oy, ox);
            if (src) {
                if (span <= 16)   /* small first layers: one 16-byte widening per kernel row */
                    for (int32_t ky = 0; ky < kh; ky++, src += wc)
                        _mm256_storeu_si256((__m256i *)(d + ky * span), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)src)));
                else
                    for (int32_t ky = 0; ky < kh; ky++) widen(d + ky * span, src + (size_t)ky * wc, span);
            } else {
                sky_im2col_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, (oy * ow + ox), 1, c0, cg, zp, row, (size_t)g.h->kp);
                widen(d, row, k);
            }
            if (++ox == ow) { ox = 0; oy++; }
        }
        tile(&g, ab, stride, n, y + (size_t)i * ldy, ldy);
    }
    return 1;
}
#endif
