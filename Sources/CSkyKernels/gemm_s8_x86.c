/* x86 int8 GEMM kernels. AVX2 (rows longer than the 6x16 kernel's stack
   block, or multipliers of INT32_MIN): activations sign-extended to int16 in the
   loop, weights pre-widened at pack time, vpmaddwd (no saturation, so exact),
   4 rows x 16 output channels per tile (gemm_s8_avx2.c has the usual kernel), and the
   AVX2 peak loops. The AVX-512 VNNI kernel is gemm_s8_vnni.c. */
#include "gemm_s8_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>
#include "gemm_s8_peak.h"

#define AVX2 __attribute__((target("avx2,fma")))

/* TFLite MultiplyByQuantizedMultiplier on 8 lanes, bit-exact with the scalar:
   gemmlowp's SIMD SaturatingRoundingDoublingHighMul (one nudge of 2^30, floor) equals
   the scalar's sign-dependent nudge with truncating division for every input. */
static inline AVX2 __m256i mbqm8(__m256i x, __m256i m, __m256i left, __m256i right) {
    x = _mm256_sllv_epi32(x, left);
    const __m256i imin = _mm256_set1_epi32(INT32_MIN), nudge = _mm256_set1_epi64x(1ll << 30);
    __m256i sat = _mm256_and_si256(_mm256_cmpeq_epi32(x, m), _mm256_cmpeq_epi32(x, imin));
    __m256i even = _mm256_add_epi64(_mm256_mul_epi32(x, m), nudge);
    __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(x, 32), _mm256_srli_epi64(m, 32)), nudge);
    even = _mm256_slli_epi64(even, 1); odd = _mm256_slli_epi64(odd, 1);
    __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
    hi = _mm256_blendv_epi8(hi, _mm256_set1_epi32(INT32_MAX), sat);
    /* RoundingDivideByPOT with per-lane exponent */
    __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), right), _mm256_set1_epi32(1));
    __m256i rem = _mm256_and_si256(hi, mask);
    __m256i thr = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(_mm256_setzero_si256(), hi));
    return _mm256_sub_epi32(_mm256_srav_epi32(hi, right), _mm256_cmpgt_epi32(rem, thr));
}

/* Requantizes 8 consecutive output channels n0..n0+7 of one row and stores 8 bytes. */
static inline AVX2 void store8(__m256i acc, const int32_t *bias, int32_t n0, int32_t n, const sky_requant_s8 *rq, int8_t *c) {
    acc = _mm256_add_epi32(acc, _mm256_loadu_si256((const __m256i *)(bias + n0)));   /* bias is padded to 16 */
    if (n0 + 8 > n || rq->float_scale) {   /* channel tail, or the float stage (this kernel is a rare fallback): scalar */
        int32_t a[8];
        _mm256_storeu_si256((__m256i *)a, acc);
        for (int j = 0; j < 8 && n0 + j < n; j++) c[n0 + j] = sky_requant_one(a[j], n0 + j, rq);
        return;
    }
    __m256i m = _mm256_loadu_si256((const __m256i *)(rq->multiplier + n0));
    __m256i sh = _mm256_loadu_si256((const __m256i *)(rq->shift + n0));
    __m256i zero = _mm256_setzero_si256();
    __m256i left = _mm256_max_epi32(sh, zero), right = _mm256_max_epi32(_mm256_sub_epi32(zero, sh), zero);
    __m256i q = mbqm8(acc, m, left, right);
    if (rq->leaky) {
        int32_t ls = rq->leaky_shift;
        __m256i lq = mbqm8(q, _mm256_set1_epi32(rq->leaky_multiplier), _mm256_set1_epi32(ls > 0 ? ls : 0), _mm256_set1_epi32(ls > 0 ? 0 : -ls));
        q = _mm256_blendv_epi8(q, lq, _mm256_cmpgt_epi32(zero, q));
    }
    q = _mm256_add_epi32(q, _mm256_set1_epi32(rq->output_zero_point));
    q = _mm256_max_epi32(q, _mm256_set1_epi32(rq->act_min));
    q = _mm256_min_epi32(q, _mm256_set1_epi32(rq->act_max));
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q, q), zero);
    int32_t lo = _mm256_cvtsi256_si32(b), hi = _mm256_extract_epi32(b, 4);
    memcpy(c + n0, &lo, 4);
    memcpy(c + n0 + 4, &hi, 4);
}

/* AVX2: weights packed as int16 pairs, 16 output channels per block (two ymm per k pair);
   4 rows of A widened to int16 and interleaved once per row block, so the inner loop
   broadcasts one (a[k], a[k+1]) pair per row: 4 x 16 outputs in 8 accumulators, no
   horizontal sums, requantization straight on 8-channel vectors. */
AVX2 void sky_gemm_s8_avx2_4x16(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    const sky_packed_header *h = (const sky_packed_header *)packed;
    const int16_t *wt = (const int16_t *)packed_weights(packed);
    const int32_t *bias = packed_bias(packed);
    const int32_t kp2 = h->kp / 2, k2 = (h->k + 1) / 2;
    int32_t ap[(size_t)kp2 * 4] __attribute__((aligned(32)));   /* [pair][row] */
    for (int32_t i = 0; i < m; i += 4) {
        const int8_t *row[4];
        for (int r = 0; r < 4; r++) row[r] = a + (size_t)(i + r < m ? i + r : m - 1) * lda;
        for (int32_t q = 0; q < kp2; q += 8) {   /* 16 k values of 4 rows: a 4 x 8 transpose of pairs */
            __m256i x0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[0] + 2 * q)));
            __m256i x1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[1] + 2 * q)));
            __m256i x2 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[2] + 2 * q)));
            __m256i x3 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(row[3] + 2 * q)));
            __m256i t0 = _mm256_unpacklo_epi32(x0, x1), t1 = _mm256_unpackhi_epi32(x0, x1);
            __m256i t2 = _mm256_unpacklo_epi32(x2, x3), t3 = _mm256_unpackhi_epi32(x2, x3);
            __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
            __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
            __m256i *dst = (__m256i *)(ap + (size_t)q * 4);
            _mm256_store_si256(dst + 0, _mm256_permute2x128_si256(u0, u1, 0x20));
            _mm256_store_si256(dst + 1, _mm256_permute2x128_si256(u2, u3, 0x20));
            _mm256_store_si256(dst + 2, _mm256_permute2x128_si256(u0, u1, 0x31));
            _mm256_store_si256(dst + 3, _mm256_permute2x128_si256(u2, u3, 0x31));
        }
        for (int32_t n0 = 0; n0 < h->np; n0 += 16) {
            const int16_t *b = wt + (size_t)(n0 / 16) * kp2 * 32;
            __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
            const int32_t *pa = ap;
            for (int32_t q = 0; q < k2; q++, b += 32, pa += 4) {
                __m256i w0 = _mm256_load_si256((const __m256i *)b), w1 = _mm256_load_si256((const __m256i *)(b + 16));
                __m256i x = _mm256_set1_epi32(pa[0]);
                c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, w0)); c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, w1));
                x = _mm256_set1_epi32(pa[1]);
                c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, w0)); c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, w1));
                x = _mm256_set1_epi32(pa[2]);
                c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, w0)); c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, w1));
                x = _mm256_set1_epi32(pa[3]);
                c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, w0)); c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, w1));
            }
            int8_t *o = c + (size_t)i * ldc;
            store8(c00, bias, n0, h->n, rq, o); store8(c01, bias, n0 + 8, h->n, rq, o);
            if (i + 1 < m) { o += ldc; store8(c10, bias, n0, h->n, rq, o); store8(c11, bias, n0 + 8, h->n, rq, o); }
            if (i + 2 < m) { o += ldc; store8(c20, bias, n0, h->n, rq, o); store8(c21, bias, n0 + 8, h->n, rq, o); }
            if (i + 3 < m) { o += ldc; store8(c30, bias, n0, h->n, rq, o); store8(c31, bias, n0 + 8, h->n, rq, o); }
        }
    }
}

/* 12 chains a = madd(a, x): vpmaddwd alone. */
#define MADD(a) _mm256_madd_epi16(a, x)
SKY_PEAK_LOOP(peak_loop, AVX2, __m256i, _mm256_set1_epi16, const __m256i x = _mm256_set1_epi16(3);, MADD, _mm256_xor_si256, SKY_LOW64_YMM)

/* The sequence the GEMM's inner loop runs: each vpmaddwd result added into an
   accumulator (acc += madd(acc, x): 12 chains of 4 cycles, so throughput-bound). */
#define MADD_ADD(a) _mm256_add_epi32(a, _mm256_madd_epi16(a, x))
SKY_PEAK_LOOP(peak_loop_accumulate, AVX2, __m256i, _mm256_set1_epi16, const __m256i x = _mm256_set1_epi16(3);, MADD_ADD, _mm256_xor_si256, SKY_LOW64_YMM)

uint64_t sky_peak_madd_avx2(uint64_t iterations) {
    return (sky_cpu_features() & SKY_CPU_AVX2) ? peak_loop(iterations) : 0;
}
uint64_t sky_peak_madd_add_avx2(uint64_t iterations) {
    return (sky_cpu_features() & SKY_CPU_AVX2) ? peak_loop_accumulate(iterations) : 0;
}
#else
uint64_t sky_peak_madd_avx2(uint64_t iterations) { (void)iterations; return 0; }
uint64_t sky_peak_madd_add_avx2(uint64_t iterations) { (void)iterations; return 0; }
#endif
