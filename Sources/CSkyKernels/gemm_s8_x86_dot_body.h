/* The body of the x86 int8 kernels that multiply unsigned activations by signed weights
   four bytes at a time into int32 (u8 x s8 dot products of 4): the AVX2 u8 kernel
   (vpmaddubsw + vpmaddwd(ones) + vpaddd, 7-bit weights) and the AVX-512 VNNI kernel
   (vpdpbusd on ymm, any 8-bit weights). Each includer defines, then includes this once:
     KT             the target attribute of its functions
     KMAC(a, x, w)  a += the dot products of the 4 unsigned bytes of x's lanes and w's
     KMAC_SETUP     the constants KMAC uses (declarations; may be empty)
     KMR            GEMM rows per tile: 4 or 8
     KRD            direct-convolution pixels per block: 5 or 8 (12 in gemm_s8_vnni.c's own blocks)
     KDIRECT_MIN_OW the narrowest output row the direct path takes
     KRD_FIRST      (optional) pixels per block of the first-layer instances (3x3 kernels over
                    1 or 3 channels, on re-laid kernel rows), at most KRD; KRD where not defined
     KKERNEL        the SKY_GEMM_* id whose packing this code reads
     KFN(name)      a name prefix for the static functions
     KGEMM, KCONV, KDIRECT  the names of the GEMM, the convolution and its direct-path test
     KBLOCKS_PROVIDED  (optional) the includer defines the register blocks and their tables
                    (KFN(block_fn), KFN(blocks)[2][KMR], KFN(direct_fn), KFN(directs)[KRD])
                    itself, as gemm_s8_vnni.c does with zmm accumulators; this file then
                    brings only the drivers around them.
   Packed weights: [n/16][k/4][n%16][k%4] int8 (gemm_s8.c), so one 32-bit broadcast of
   four activations meets 8 channels' four weights per vector; activations go in as
   unsigned bytes (x ^ 0x80 = x + 128; the 128 x column sum is folded into the packed
   bias). The output stage is gemm_s8_avx2_stage.h's. The blocks here use only ymm
   registers, so the harness's AVX2 emulation of vpdpbusd (gemm_s8_vnni.c) runs all of it
   on CPUs without VNNI; the native VNNI build brings zmm blocks of its own. */
#include "gemm_s8_avx2_stage.h"
#include <string.h>

#if !defined(KBLOCKS_PROVIDED) && (!(KMR == 4 || KMR == 8) || !(KRD == 5 || KRD == 8))
#error "KMR must be 4 or 8 and KRD 5 or 8"
#endif

#ifndef KBLOCKS_PROVIDED   /* an includer may bring its own blocks and tables (gemm_s8_vnni.c: zmm) */
static inline __attribute__((always_inline)) KT void KFN(block)(const gemm_ctx *g, int vector_stage, const uint8_t *ab, int32_t stride,
                                                                const int R, const int V, int32_t n0, int8_t *c, size_t ldc) {
    const sky_packed_header *h = g->h;
    const int32_t kp4 = h->kp / 4, k4 = (h->k + 3) / 4;
    const int8_t *b = (const int8_t *)g->wt + (size_t)(n0 / 16) * kp4 * 64;
    KMAC_SETUP
    __m256i acc[KMR][2];
    acc_from_bias(acc, g, R, V, n0);
    for (int32_t q = 0; q < k4; q++, b += 64) {
        __m256i w[2];
        for (int v = 0; v < V; v++) w[v] = _mm256_load_si256((const __m256i *)(b + 32 * v));
        for (int r = 0; r < R; r++) {
            int32_t four;
            memcpy(&four, ab + (size_t)r * stride + 4 * q, 4);
            __m256i x = _mm256_set1_epi32(four);
            for (int v = 0; v < V; v++) KMAC(acc[r][v], x, w[v]);
        }
    }
    store_rows(g, vector_stage, acc, R, V, n0, c, ldc);
}

typedef void (*KFN(block_fn))(const gemm_ctx *, int, const uint8_t *, int32_t, int32_t, int8_t *, size_t);
#define KBLOCK(R, V) static KT void KFN(block_##R##_##V)(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t s, int32_t n0, int8_t *c, size_t ldc) { \
    KFN(block)(g, vs, ab, s, R, V, n0, c, ldc); }
#define KBLOCKS_1_4(V) KBLOCK(1, V) KBLOCK(2, V) KBLOCK(3, V) KBLOCK(4, V)
#define KBLOCKS_5_8(V) KBLOCK(5, V) KBLOCK(6, V) KBLOCK(7, V) KBLOCK(8, V)
#define KNAMES_1_4(V) KFN(block_1_##V), KFN(block_2_##V), KFN(block_3_##V), KFN(block_4_##V)
#define KNAMES_5_8(V) , KFN(block_5_##V), KFN(block_6_##V), KFN(block_7_##V), KFN(block_8_##V)
KBLOCKS_1_4(1) KBLOCKS_1_4(2)
#if KMR > 4
KBLOCKS_5_8(1) KBLOCKS_5_8(2)
#else
#undef KNAMES_5_8
#define KNAMES_5_8(V)
#endif
static const KFN(block_fn) KFN(blocks)[2][KMR] = {{KNAMES_1_4(1) KNAMES_5_8(1)}, {KNAMES_1_4(2) KNAMES_5_8(2)}};
#endif

/* All rows of a super-block (unsigned, `stride` bytes apart) times all weights: channel
   blocks outermost, so one block's weights stay in L1 while the rows pass by. */
static KT void KFN(tile)(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t stride, int32_t rows, int8_t *c, size_t ldc) {
    const KFN(block_fn) *f = KFN(blocks)[g->h->n > 8];
    for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
        for (int32_t i = 0; i < rows; i += KMR)
            f[(rows - i < KMR ? rows - i : KMR) - 1](g, vs, ab + (size_t)i * stride, stride, n0, c + (size_t)i * ldc, ldc);
}

/* Rows per super-block: a multiple of KMR, at most 48, about 32 KiB of rows. */
static int32_t KFN(superblock_rows)(int32_t stride) {
    int32_t r = 32768 / stride / KMR * KMR;
    return r < KMR ? KMR : r > 48 ? 48 : r;
}

/* 16 int8 at src as u8 at dst. */
static inline KT void KFN(flip16)(uint8_t *dst, const int8_t *src) {
    _mm_storeu_si128((__m128i *)dst, _mm_xor_si128(_mm_loadu_si128((const __m128i *)src), _mm_set1_epi8((char)0x80)));
}

/* n int8 at src as unsigned bytes (x ^ 0x80) at dst, reading and writing exactly n. */
static inline KT void KFN(flip)(uint8_t *dst, const int8_t *src, int32_t n) {
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    int32_t q = 0;
    for (; q + 32 <= n; q += 32)
        _mm256_storeu_si256((__m256i *)(dst + q), _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + q)), bias));
    if (q + 16 <= n) { KFN(flip16)(dst + q, src + q); q += 16; }
    for (; q < n; q++) dst[q] = (uint8_t)src[q] ^ 0x80;
}

KT void KGEMM(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    gemm_ctx g;
    /* Where ctx_init declines (an INT32_MIN multiplier) every output goes through the scalar
       stage (the layout has no other kernel to fall back to). */
    const int vs = ctx_init(&g, packed, rq);
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, vs, stages);
    const int32_t kp = g.h->kp, sb = KFN(superblock_rows)(kp);   /* kp: a multiple of 32, tail zero */
    uint8_t ab[sb * kp] __attribute__((aligned(32)));
    for (int32_t i = 0; i < m; i += sb) {
        int32_t rows = m - i < sb ? m - i : sb;
        for (int r = 0; r < rows; r++) KFN(flip)(ab + (size_t)r * kp, a + (size_t)(i + r) * lda, kp);
        KFN(tile)(&g, vs, ab, kp, rows, c + (size_t)i * ldc, ldc);
    }
}

#ifndef KBLOCKS_PROVIDED
/* R output pixels of one output row, `pixel` bytes apart in the unsigned input rows
   (rowlen apart), times the 16-channel block at n0 whose weights are at b. Each pixel's
   kernel row is kw*c contiguous bytes there, read as seg k quads, which the weights'
   quads (seg per kernel row) meet row by row. Named accumulators: clang keeps an array
   of them in memory across the nested loops; R is a constant in each instance, so a
   short block computes only its pixels (the unused names are dead code). */
static inline __attribute__((always_inline)) KT void KFN(block_direct)(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base,
                                                                       int32_t pixel, size_t rowlen, int32_t kh, int32_t seg,
                                                                       const int R, int32_t n0, int8_t *c, size_t ldc) {
    KMAC_SETUP
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(g->bias + n0)), b1 = _mm256_loadu_si256((const __m256i *)(g->bias + n0 + 8));
    __m256i c0a = b0, c0b = b1, c1a = b0, c1b = b1, c2a = b0, c2b = b1, c3a = b0, c3b = b1, c4a = b0, c4b = b1, c5a = b0, c5b = b1;
    __m256i c6a = b0, c6b = b1, c7a = b0, c7b = b1;
#define PIXEL(i)                                                 \
    if (R > i) {                                                 \
        int32_t four;                                            \
        memcpy(&four, p + i * pixel, 4);                         \
        const __m256i x = _mm256_set1_epi32(four);               \
        KMAC(c##i##a, x, w0);                                    \
        KMAC(c##i##b, x, w1);                                    \
    }
    for (int32_t ky = 0; ky < kh; ky++) {
        const uint8_t *p = base + ky * rowlen;
        for (int32_t q = 0; q < seg; q++, b += 64, p += 4) {
            const __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 32));
            PIXEL(0) PIXEL(1) PIXEL(2) PIXEL(3) PIXEL(4) PIXEL(5) PIXEL(6) PIXEL(7)
        }
    }
#undef PIXEL
    /* Only the R rows the block computed (R <= KRD, so i % KRD is i wherever it runs). */
    __m256i acc[KRD][2];
#define OUT(i) if (R > i) { acc[i % KRD][0] = c##i##a; acc[i % KRD][1] = c##i##b; }
    OUT(0) OUT(1) OUT(2) OUT(3) OUT(4) OUT(5) OUT(6) OUT(7)
#undef OUT
    store_rows(g, vs, acc, R, 2, n0, c, ldc);
}

typedef void (*KFN(direct_fn))(const gemm_ctx *, int, const int8_t *, const uint8_t *, int32_t, size_t, int32_t, int32_t, int32_t, int8_t *, size_t);
#define KDIRECT_BLOCK(R) static KT void KFN(direct_##R)(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base, int32_t pixel, \
                                                        size_t rowlen, int32_t kh, int32_t seg, int32_t n0, int8_t *c, size_t ldc) { \
    KFN(block_direct)(g, vs, b, base, pixel, rowlen, kh, seg, R, n0, c, ldc); }
KDIRECT_BLOCK(1) KDIRECT_BLOCK(2) KDIRECT_BLOCK(3) KDIRECT_BLOCK(4) KDIRECT_BLOCK(5)
#if KRD > 5
KDIRECT_BLOCK(6) KDIRECT_BLOCK(7) KDIRECT_BLOCK(8)
#define KDIRECT_NAMES_6_8 , KFN(direct_6), KFN(direct_7), KFN(direct_8)
#else
#define KDIRECT_NAMES_6_8
#endif
static const KFN(direct_fn) KFN(directs)[KRD] = {KFN(direct_1), KFN(direct_2), KFN(direct_3), KFN(direct_4), KFN(direct_5)
                                                 KDIRECT_NAMES_6_8};
#define KDIRECT_INLINE KFN(block_direct)
#endif

/* A run of `run` output pixels times the 16-channel block at n0: whole blocks of B pixels
   (B <= KRD) inline, the tail through the table. Instances with the kernel rows and quads per row as
   constants (3x3 kernels over 1 or 3 channels: 3 x 1 and 3 x 3 quads on re-laid rows, the
   first layers; conv_direct takes them for those only) unroll the whole dot product, where the generic instance loops over one quad per row:
   such layers have so few MACs per output that loop and call overhead otherwise rival them. */
static inline __attribute__((always_inline)) KT void KFN(direct_run)(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base,
                                                                     int32_t pixel, size_t rowlen, int32_t kh, int32_t seg, int32_t run,
                                                                     int32_t n0, int8_t *o, size_t ldy, const int B) {
    int32_t i = 0;
    for (; i + B <= run; i += B)
        KDIRECT_INLINE(g, vs, b, base + (size_t)i * pixel, pixel, rowlen, kh, seg, B, n0, o + (size_t)i * ldy, ldy);
    if (i < run) KFN(directs)[run - i - 1](g, vs, b, base + (size_t)i * pixel, pixel, rowlen, kh, seg, n0, o + (size_t)i * ldy, ldy);
}
typedef void (*KFN(direct_run_fn))(const gemm_ctx *, int, const int8_t *, const uint8_t *, int32_t, size_t, int32_t, int32_t, int32_t,
                                   int32_t, int8_t *, size_t);
#ifndef KRD_FIRST
#define KRD_FIRST KRD
#endif
#if KRD_FIRST > KRD
#error "KRD_FIRST must not exceed KRD"
#endif
/* Instances by geometry (NAME, KH, SEG, B) and stage: any (`vs` as given), or each vector
   sequence on whole 16-channel blocks, a constant there, so that the accumulators go
   straight from the dot product into that stage. */
#define KDIRECT_RUN_STAGE(NAME, KH, SEG, B, STAGE)                                                                                   \
    static KT void KFN(NAME)(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base, int32_t pixel, size_t rowlen, int32_t kh, \
                             int32_t seg, int32_t run, int32_t n0, int8_t *o, size_t ldy) {                                          \
        KFN(direct_run)(g, STAGE, b, base, pixel, rowlen, KH, SEG, run, n0, o, ldy, B);                                              \
    }
#define KDIRECT_RUN(NAME, KH, SEG, B)                                         \
    KDIRECT_RUN_STAGE(NAME, KH, SEG, B, vs)                                   \
    KDIRECT_RUN_STAGE(NAME##_full, KH, SEG, B, STAGE_WHOLE + STAGE_FULL)      \
    KDIRECT_RUN_STAGE(NAME##_short, KH, SEG, B, STAGE_WHOLE + STAGE_SHORT)    \
    KDIRECT_RUN_STAGE(NAME##_float, KH, SEG, B, STAGE_WHOLE + STAGE_FLOAT)    \
    static const KFN(direct_run_fn) KFN(NAME##_stages)[4] = {KFN(NAME##_full), KFN(NAME##_short), KFN(NAME##_float), KFN(NAME)};
KDIRECT_RUN(direct_run_any, kh, seg, KRD)
KDIRECT_RUN(direct_run_3x1, 3, 1, KRD_FIRST)
KDIRECT_RUN(direct_run_3x3, 3, 3, KRD_FIRST)
#undef KDIRECT_RUN

/* Whether the direct path runs: no groups, more than 8 channels (8 or fewer would be
   half padding), a buffer that fits, and, where kernel rows are not whole k quads
   (kw*c % 4 != 0: 1- and 3-channel first layers), weights packed by sky_conv_s8_pack_for
   for this kernel size, which holds them re-laid with each kernel row padded to whole quads.
   Output rows of 1-2 pixels make blocks of 1-2 pixels, one or two broadcasts per weight
   load, where the row gathering fills blocks across output rows (measured on the u8
   kernel: it wins there, and loses from 3 pixels on). */
int KDIRECT(const void *packed, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw, int32_t ow) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    const int64_t wp = (int64_t)(ow - 1) * sw + kw;
    return h->kernel == KKERNEL && cg == c && h->n > 8 && ow >= KDIRECT_MIN_OW && kh * (wp * c + 4) <= DIRECT_BUF_BYTES &&
           ((kw * c) % 4 == 0 || packed_rows_laid(h, kh, kw, c));
}

/* Input row iy over padded columns [0, wp) as unsigned bytes at d, padding included (the
   zero point ^ 0x80), and 4 more padding bytes for the last quad's overshoot. */
static inline KT void KFN(flip_padded_row)(uint8_t *d, const int8_t *x, int32_t iy, int32_t h, int32_t w, int32_t c, int32_t pl,
                                           int32_t wp, uint8_t pad) {
    const padded_row r = padded_row_at(iy, h, w, c, pl, 0, wp);
    memset(d, pad, (size_t)r.lead);
    KFN(flip)(d + r.lead, x + r.at, r.inside);
    memset(d + r.lead + r.inside, pad, (size_t)(r.n - r.lead - r.inside) + 4);
}

/* Direct convolution: the input rows a call reads are made unsigned once into a stack
   buffer of whole padded rows (a band of as many as fit, each input row flipped once
   however many output rows read it), and blocks of pixels (KRD, or KRD_FIRST for first
   layers) of each run of output pixels along an output row broadcast their k quads
   straight from the band's rows, so no row is gathered. */
static KT void KFN(conv_direct)(const gemm_ctx *g, int vs, const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw,
                                int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int8_t zp,
                                int8_t *y, size_t ldy) {
    const int32_t wp = (ow - 1) * sw + kw, span = kw * c, seg = (span + 3) / 4;
    const size_t rowlen = (size_t)wp * c + 4;   /* + what a padded quad reads past the last pixel */
    const uint8_t pad = (uint8_t)zp ^ 0x80;
    row_band band = row_band_of(row0, rows, ow, sh, pt, kh, rowlen);
    uint8_t buf[(size_t)band.band * rowlen] __attribute__((aligned(32)));
    size_t wblock;
    const int8_t *wt = (const int8_t *)direct_weights(g->h, span, 4, kh, &wblock);
    const int32_t pixel = sw * c;
    /* The first-layer instances where they were measured: 3x3 over 1 or 3 channels (rows of
       3 or 9 bytes, re-laid). Other layers with 3 rows of 1 or 3 quads take the generic one. */
    const int first = kh == 3 && kw == 3 && (c == 1 || c == 3);
    const KFN(direct_run_fn) *runs = first && seg == 1 ? KFN(direct_run_3x1_stages)
                                    : first && seg == 3 ? KFN(direct_run_3x3_stages) : KFN(direct_run_any_stages);
    /* Whole 16-channel blocks: the call's vector sequence; a channel tail: any. */
    const KFN(direct_run_fn) run_whole = runs[vs ? stage_sequence(&g->k) : 3], run_tail = runs[3];
    for (int32_t p = row0; p < row0 + rows;) {
        const output_run pixels = output_run_at(p, row0, rows, ow, sw, kw);
        const int32_t iy = pixels.oy * sh - pt;
        if (row_band_next(&band, iy, kh))
            for (int32_t r = band.have0; r < band.have1; r++) KFN(flip_padded_row)(buf + (size_t)(r - band.have0) * rowlen, x, r, h, w, c, pl, wp, pad);
        const uint8_t *base = buf + (size_t)(iy - band.have0) * rowlen + (size_t)pixels.jx0 * c;
        int8_t *o = y + (size_t)(p - row0) * ldy;
        for (int32_t n0 = 0; n0 < g->h->np; n0 += 16)
            (n0 + 16 <= g->h->n ? run_whole : run_tail)(g, vs, wt + (size_t)(n0 / 16) * wblock, base, pixel, rowlen, kh, seg, pixels.run,
                                                           n0, o, ldy);
        p += pixels.run;
    }
}

/* Implicit GEMM as sky_conv_s8_avx2's: rows gathered from the NHWC image and made
   unsigned on the way (kernel rows of interior pixels are kw*c contiguous bytes); border
   pixels and groups through sky_im2col_s8 one row at a time. Bytes past k in a row
   meet zero weights, so what the 16-byte steps leave there does not matter. */
KT void KCONV(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t kh, int32_t kw, int32_t sh, int32_t sw,
              int32_t pt, int32_t pl, int32_t ow, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zp,
              const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy) {
    gemm_ctx g;
    const int vs = ctx_init(&g, packed, rq);
    stage8 stages[ctx_stage_slots(packed)];
    ctx_stages(&g, vs, stages);
    if (KDIRECT(packed, c, cg, kh, kw, sw, ow)) {
        KFN(conv_direct)(&g, vs, x, h, w, c, kh, kw, sh, sw, pt, pl, ow, row0, rows, zp, y, ldy);
        return;
    }
    const int32_t kp = g.h->kp, stride = ((g.h->k + 15) / 16 * 16 + 16 + 31) / 32 * 32;   /* >= kp, + the last 16-byte overshoot */
    const int32_t span = kw * cg;
    const int32_t sb = KFN(superblock_rows)(stride);
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
                    for (int32_t q = 0; q < span; q += 16) KFN(flip16)(d + ky * span + q, src + q);
            } else {
                sky_im2col_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, (oy * ow + ox), 1, c0, cg, zp, row, (size_t)kp);
                KFN(flip)(d, row, kp);
            }
            if (++ox == ow) { ox = 0; oy++; }
        }
        KFN(tile)(&g, vs, ab, stride, n, y + (size_t)i * ldy, ldy);
    }
}
