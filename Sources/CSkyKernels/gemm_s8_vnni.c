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

#if defined(SKY_EMULATE_VNNI)
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
#define KMAC(a, x, w) ((a) = _mm256_dpbusd_epi32((a), (x), (w)))
#endif

/* Rows per GEMM tile and pixels per direct block: 8 x 2 accumulators + 2 weight vectors
   + a broadcast use 19 of the 32 registers; 16 independent chains cover vpdpbusd's
   latency (about 5 cycles at 2 per cycle). */
#ifndef SKY_VNNI_MR
#define SKY_VNNI_MR 8
#endif
#ifndef SKY_VNNI_RD
#define SKY_VNNI_RD 8
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
#include "gemm_s8_x86_dot_body.h"
#include "gemm_s8_peak.h"

#if defined(SKY_EMULATE_VNNI)
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
