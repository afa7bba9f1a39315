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
#define KKERNEL SKY_GEMM_AVX2_U8
#define KCAT2(a, b) a##b
#define KCAT(a, b) KCAT2(a, b)
#define KFN(name) KCAT(u8_, name)
#define KGEMM sky_gemm_s8_avx2_u8
#define KCONV sky_conv_s8_avx2_u8
#define KDIRECT sky_conv_s8_avx2_u8_direct
#include "gemm_s8_x86_dot_body.h"

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
