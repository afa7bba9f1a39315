/* AVX2 int8 GEMM for layers whose weights all lie in [-64, 63] (7-bit quantization),
   chosen at pack time. Activations go in as unsigned bytes (x ^ 0x80 = x + 128; the
   128 x column sum is folded into the packed bias, as for VNNI), and vpmaddubsw
   multiplies 32 u8 x s8 pairs and adds neighbours into int16: |255 * 64 * 2| = 32640
   < 32767, so it never saturates and the result is exact. vpmaddwd by ones widens the
   pairs into int32 sums of 4, added into the accumulators: 3 ALU ops per 32 MACs per
   vector, against 4 for the int16 kernel's vpmaddwd + vpaddd (ONNX Runtime's
   "reduce_range" on AVX2 without VNNI rests on the same bound).
   Packed weights: [n/16][k/4][n%16][k%4] int8, so one 32-bit broadcast of four
   activations meets 8 channels' four weights per vector. The kernel body (tiles of 4 rows
   x 16 channels, the direct and row-gathering convolutions) is gemm_s8_x86_dot_body.h,
   shared with the VNNI kernel; the output stage is the int16 kernel's (gemm_s8_avx2_stage.h). */
#include "gemm_s8_internal.h"

#if defined(__x86_64__)
/* 4 rows x 2 accumulators + 2 weight vectors + ones + broadcast + product stay within the
   16 ymm registers (6 rows would spill); direct blocks of 5 pixels fill them exactly. */
#define KT AVX2
#define KMAC_SETUP const __m256i ones = _mm256_set1_epi16(1);
#define KMAC(a, x, w) ((a) = _mm256_add_epi32((a), _mm256_madd_epi16(_mm256_maddubs_epi16((x), (w)), ones)))
#define KMR 4
#define KRD 5
#define KDIRECT_MIN_OW 3
/* First layers (3x3 over 1 or 3 channels): blocks of 4 pixels, whose stage runs in whole
   row pairs and whose 8 accumulators leave registers for it (same-process A/B against 5:
   1-channel layers 8% faster, 3-channel ones level; 2 was 11-15% slower). */
#define KRD_FIRST 4
#define KKERNEL SKY_GEMM_AVX2_U8
#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KFN(name) KCAT(u8_, name)
#define KGEMM sky_gemm_s8_avx2_u8
#define KCONV sky_conv_s8_avx2_u8
#define KDIRECT sky_conv_s8_avx2_u8_direct
#include "gemm_s8_x86_dot_body.h"
#include "gemm_s8_peak.h"

/* The u8 sequence's ceiling: 12 chains acc += madd(maddubs(acc, w), ones), 32 MACs each. */
#define MADDUBS_ADD(a) _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(a, w), ones))
SKY_PEAK_LOOP(peak_loop_u8, AVX2, __m256i, _mm256_set1_epi8, const __m256i w = _mm256_set1_epi8(3); const __m256i ones = _mm256_set1_epi16(1);,
              MADDUBS_ADD, _mm256_xor_si256, SKY_LOW64_YMM)
uint64_t sky_peak_maddubs_add_avx2(uint64_t iterations) {
    return (sky_cpu_features() & SKY_CPU_AVX2) ? peak_loop_u8(iterations) : 0;
}
#else
uint64_t sky_peak_maddubs_add_avx2(uint64_t iterations) { (void)iterations; return 0; }
#endif
