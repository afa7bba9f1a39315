/* AVX-512 VNNI int8 GEMM and convolution: the u8 kernel's body (gemm_s8_x86_dot_body.h:
   packed layout [n/16][k/4][n%16][k%4], activations made unsigned by x ^ 0x80 with the
   128 x column sum folded into the packed bias, the direct and row-gathering
   convolutions, the AVX2 output stage) with vpdpbusd on ymm as the multiply-accumulate.
   vpdpbusd sums its four u8 x s8 products into int32 without an int16 step, so it never
   saturates: every 8-bit weight is exact (no 7-bit restriction). One instruction per 32
   MACs instead of three, and AVX-512VL's 32 ymm registers hold 8-row tiles (16
   accumulators). Also the VNNI peak loops (ymm and zmm). */
#include "gemm_s8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(SKY_EMULATE_AVX512)
/* Harness builds only (Tools/kernel-harness with -mavx2 -mfma on a CPU without AVX-512):
   the zmm blocks below as they are, their AVX-512 intrinsics done in AVX2 by SIMDe
   (libsimde-dev, a header library; never part of the package build), so that the native
   VNNI build's own code runs and is compared with the reference here too. */
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#define VNNI __attribute__((target("avx2,fma")))
#define KMAC(a, x, w) ((a) = _mm256_dpbusd_epi32((a), (x), (w)))
#elif defined(SKY_EMULATE_VNNI)
/* Harness builds only (Tools/kernel-harness on a CPU without VNNI): vpdpbusd's arithmetic
   in AVX2, exact (unsigned x signed byte products summed by fours into 32 bits, no
   saturation), so the VNNI kernel's packing, tiling, unsigned offset and output stage run
   and are compared with the reference here. The instruction's own encoding is not. */
#define VNNI __attribute__((target("avx2,fma")))
static inline VNNI __m256i emulated_dpbusd(__m256i acc, __m256i u, __m256i s) {
    __m256i ue = _mm256_and_si256(u, _mm256_set1_epi16(0x00FF)), uo = _mm256_srli_epi16(u, 8);
    __m256i se = _mm256_srai_epi16(_mm256_slli_epi16(s, 8), 8), so = _mm256_srai_epi16(s, 8);
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(ue, se), _mm256_madd_epi16(uo, so)));
}
#define KMAC(a, x, w) ((a) = emulated_dpbusd((a), (x), (w)))
#else
/* Everything the AVX2 output stage's inline helpers need, so they inline here. */
#define VNNI __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512vnni")))
#define KMAC(a, x, w) ((a) = _mm256_dpbusd_epi32((a), (x), (w)))   /* the ymm blocks (-DSKY_VNNI_YMM) */
#endif

#if defined(SKY_EMULATE_VNNI) || defined(SKY_VNNI_YMM)
/* ymm blocks (the body's): rows per GEMM tile and pixels per direct block: 8 x 2
   accumulators + 2 weight vectors + a broadcast use 19 of the 32 registers; 16
   independent chains cover vpdpbusd's latency (about 5 cycles at 2 per cycle). */
#define SKY_VNNI_MR 8
#define SKY_VNNI_RD 8
#else
/* zmm blocks (below): one 64-byte k quad of the packed layout is exactly one zmm of 16
   channels' four weights, so each broadcast meets 16 channels in one vpdpbusd, 64 MACs,
   where ymm needs two; cores with two 512-bit ports (Sapphire Rapids) then double the
   ymm kernel's rate. 12 rows or pixels: 12 accumulators + weights + broadcast. */
#define SKY_VNNI_MR 12
#define SKY_VNNI_RD 12
#define KBLOCKS_PROVIDED
#endif
#define KT VNNI
#define KMAC_SETUP
#define KMR SKY_VNNI_MR
#define KRD SKY_VNNI_RD
#define KDIRECT_MIN_OW 3
#define KKERNEL SKY_GEMM_AVX512VNNI
#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KFN(name) KCAT(vnni_, name)
#define KGEMM sky_gemm_s8_vnni
#define KCONV sky_conv_s8_vnni
#define KDIRECT sky_conv_s8_vnni_direct

#if defined(KBLOCKS_PROVIDED)
#include "gemm_s8_avx2_stage.h"
#include <string.h>

/* The 16 channels of a zmm accumulator as the output stage's two 8-channel halves. */
#define ZSPLIT(out, z) do { (out)[0] = _mm512_castsi512_si256(z); (out)[1] = _mm512_extracti64x4_epi64((z), 1); } while (0)

/* R rows (stride bytes apart, unsigned) times the 16-channel block at n0: the body's
   GEMM block with one zmm accumulator per row. Channel blocks of 8 or fewer channels
   run the same 16-lane code (their padding weights are zero). */
static inline __attribute__((always_inline)) VNNI void vnni_zblock(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t stride,
                                                                    const int R, int32_t n0, int8_t *c, size_t ldc) {
    const int32_t kp4 = g->h->kp / 4, k4 = (g->h->k + 3) / 4;
    const int8_t *b = (const int8_t *)g->wt + (size_t)(n0 / 16) * kp4 * 64;
    const __m512i bias = _mm512_loadu_si512((const void *)(g->bias + n0));   /* the bias is padded to np */
    __m512i acc[KMR];
    for (int r = 0; r < R; r++) acc[r] = bias;
    for (int32_t q = 0; q < k4; q++, b += 64) {
        const __m512i w = _mm512_loadu_si512((const void *)b);
        for (int r = 0; r < R; r++) {
            int32_t four;
            memcpy(&four, ab + (size_t)r * stride + 4 * q, 4);
            acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_set1_epi32(four), w);
        }
    }
    __m256i out[KMR][2];
    for (int r = 0; r < R; r++) ZSPLIT(out[r], acc[r]);
    store_rows(g, vs, out, R, 2, n0, c, ldc);
}
typedef void (*vnni_block_fn)(const gemm_ctx *, int, const uint8_t *, int32_t, int32_t, int8_t *, size_t);
#define ZBLOCK(R) static VNNI void vnni_zblock_##R(const gemm_ctx *g, int vs, const uint8_t *ab, int32_t s, int32_t n0, int8_t *c, size_t ldc) { \
    vnni_zblock(g, vs, ab, s, R, n0, c, ldc); }
ZBLOCK(1) ZBLOCK(2) ZBLOCK(3) ZBLOCK(4) ZBLOCK(5) ZBLOCK(6) ZBLOCK(7) ZBLOCK(8) ZBLOCK(9) ZBLOCK(10) ZBLOCK(11) ZBLOCK(12)
#define ZNAMES {vnni_zblock_1, vnni_zblock_2, vnni_zblock_3, vnni_zblock_4, vnni_zblock_5, vnni_zblock_6, \
                vnni_zblock_7, vnni_zblock_8, vnni_zblock_9, vnni_zblock_10, vnni_zblock_11, vnni_zblock_12}
static const vnni_block_fn vnni_blocks[2][KMR] = {ZNAMES, ZNAMES};

/* R output pixels (pixel bytes apart in the kh unsigned input rows, rowlen apart) times
   the 16-channel block whose weights are at b: the body's direct block with one zmm
   accumulator per pixel, named (an array of them would live in memory across the loops). */
static inline __attribute__((always_inline)) VNNI void vnni_zdirect(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base,
                                                                     int32_t pixel, size_t rowlen, int32_t kh, int32_t seg,
                                                                     const int R, int32_t n0, int8_t *c, size_t ldc) {
    const __m512i bias = _mm512_loadu_si512((const void *)(g->bias + n0));
    __m512i c0 = bias, c1 = bias, c2 = bias, c3 = bias, c4 = bias, c5 = bias, c6 = bias, c7 = bias, c8 = bias, c9 = bias, c10 = bias, c11 = bias;
#define ZPIXEL(i)                                                                   \
    if (R > i) {                                                                    \
        int32_t four;                                                               \
        memcpy(&four, p + i * pixel, 4);                                            \
        c##i = _mm512_dpbusd_epi32(c##i, _mm512_set1_epi32(four), w);               \
    }
    for (int32_t ky = 0; ky < kh; ky++) {
        const uint8_t *p = base + ky * rowlen;
        for (int32_t q = 0; q < seg; q++, b += 64, p += 4) {
            const __m512i w = _mm512_loadu_si512((const void *)b);
            ZPIXEL(0) ZPIXEL(1) ZPIXEL(2) ZPIXEL(3) ZPIXEL(4) ZPIXEL(5) ZPIXEL(6) ZPIXEL(7) ZPIXEL(8) ZPIXEL(9) ZPIXEL(10) ZPIXEL(11)
        }
    }
#undef ZPIXEL
    __m256i acc[KRD][2];
#define ZOUT(i) if (R > i) ZSPLIT(acc[i], c##i);
    ZOUT(0) ZOUT(1) ZOUT(2) ZOUT(3) ZOUT(4) ZOUT(5) ZOUT(6) ZOUT(7) ZOUT(8) ZOUT(9) ZOUT(10) ZOUT(11)
#undef ZOUT
    store_rows(g, vs, acc, R, 2, n0, c, ldc);
}
typedef void (*vnni_direct_fn)(const gemm_ctx *, int, const int8_t *, const uint8_t *, int32_t, size_t, int32_t, int32_t, int32_t, int8_t *, size_t);
#define ZDIRECT(R) static VNNI void vnni_zdirect_##R(const gemm_ctx *g, int vs, const int8_t *b, const uint8_t *base, int32_t pixel, \
                                                     size_t rowlen, int32_t kh, int32_t seg, int32_t n0, int8_t *c, size_t ldc) { \
    vnni_zdirect(g, vs, b, base, pixel, rowlen, kh, seg, R, n0, c, ldc); }
ZDIRECT(1) ZDIRECT(2) ZDIRECT(3) ZDIRECT(4) ZDIRECT(5) ZDIRECT(6) ZDIRECT(7) ZDIRECT(8) ZDIRECT(9) ZDIRECT(10) ZDIRECT(11) ZDIRECT(12)
static const vnni_direct_fn vnni_directs[KRD] = {vnni_zdirect_1, vnni_zdirect_2, vnni_zdirect_3, vnni_zdirect_4, vnni_zdirect_5, vnni_zdirect_6,
                                                 vnni_zdirect_7, vnni_zdirect_8, vnni_zdirect_9, vnni_zdirect_10, vnni_zdirect_11, vnni_zdirect_12};
#define KDIRECT_INLINE vnni_zdirect
#endif
#include "gemm_s8_x86_dot_body.h"
#include "gemm_s8_peak.h"

#if defined(SKY_EMULATE_VNNI) || defined(SKY_EMULATE_AVX512)
/* An emulated instruction has no peak to measure. */
uint64_t sky_peak_dpbusd_avx512vnni(uint64_t iterations) { (void)iterations; return 0; }
uint64_t sky_peak_dpbusd_zmm_avx512vnni(uint64_t iterations) { (void)iterations; return 0; }
#else
/* 12 chains a = dpbusd(a, a, w): 32 MACs each on ymm, 64 on zmm (cores with one 512-bit
   port issue one a cycle). */
#define DPBUSD_YMM(a) _mm256_dpbusd_epi32(a, a, w)
#define DPBUSD_ZMM(a) _mm512_dpbusd_epi32(a, a, w)
#define LOW64_ZMM(s) (uint64_t)_mm_cvtsi128_si64(_mm512_castsi512_si128(s))
SKY_PEAK_LOOP(peak_loop_vnni, VNNI, __m256i, _mm256_set1_epi8, const __m256i w = _mm256_set1_epi8(3);, DPBUSD_YMM, _mm256_xor_si256, SKY_LOW64_YMM)
SKY_PEAK_LOOP(peak_loop_vnni_zmm, VNNI, __m512i, _mm512_set1_epi8, const __m512i w = _mm512_set1_epi8(3);, DPBUSD_ZMM, _mm512_xor_si512, LOW64_ZMM)

static int has_vnni(void) {
    const uint32_t need = SKY_CPU_AVX512F | SKY_CPU_AVX512BW | SKY_CPU_AVX512VNNI;
    return (sky_cpu_features() & need) == need;
}
uint64_t sky_peak_dpbusd_avx512vnni(uint64_t iterations) { return has_vnni() ? peak_loop_vnni(iterations) : 0; }
uint64_t sky_peak_dpbusd_zmm_avx512vnni(uint64_t iterations) { return has_vnni() ? peak_loop_vnni_zmm(iterations) : 0; }
#endif
#else
uint64_t sky_peak_dpbusd_avx512vnni(uint64_t iterations) { (void)iterations; return 0; }
uint64_t sky_peak_dpbusd_zmm_avx512vnni(uint64_t iterations) { (void)iterations; return 0; }
#endif
