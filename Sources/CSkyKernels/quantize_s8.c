/* Float input -> int8 with a tensor's scale and zero point, exactly as SkyNN's
   QuantParams.quantize (TFLite's AffineQuantize): x / scale rounded half away from zero,
   plus the zero point, then min(127, .) and max(-128, .) with Swift's comparisons (NaN
   gives 127). */
#include "sky_kernels.h"
#include <math.h>

static inline int8_t quantize_one(float x, float scale, float zp) {
    float q = roundf(x / scale) + zp;
    q = q < 127.0f ? q : 127.0f;
    q = q >= -128.0f ? q : -128.0f;
    return (int8_t)q;
}

#if defined(__x86_64__)
#include <immintrin.h>
__attribute__((target("avx2"))) static void quantize_avx2(const float *x, size_t n, float scale, float zp, int8_t *y) {
    const __m256 s = _mm256_set1_ps(scale), z = _mm256_set1_ps(zp), hi = _mm256_set1_ps(127), lo = _mm256_set1_ps(-128);
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* Half away from zero: truncate, then one step away from zero where the dropped
           fraction (exact: x - trunc(x)) is at least a half. */
        __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), s);
        __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
        __m256 up = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)), half, _CMP_GE_OQ);
        __m256 step = _mm256_and_ps(up, _mm256_or_ps(_mm256_and_ps(v, sign), one));
        __m256 q = _mm256_add_ps(_mm256_add_ps(t, step), z);
        q = _mm256_max_ps(_mm256_min_ps(q, hi), lo);   /* minps(q, 127) is q < 127 ? q : 127, NaN included */
        __m256i n32 = _mm256_cvtps_epi32(q);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(n32), _mm256_extracti128_si256(n32, 1));
        _mm_storel_epi64((__m128i *)(y + i), _mm_packs_epi16(w, w));
    }
    for (; i < n; i++) y[i] = quantize_one(x[i], scale, zp);
}
#endif

void sky_quantize_f32_s8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *y) {
#if defined(__x86_64__)
    if (sky_cpu_features() & SKY_CPU_AVX2) { quantize_avx2(x, n, scale, (float)zero_point, y); return; }
#endif
    for (size_t i = 0; i < n; i++) y[i] = quantize_one(x[i], scale, (float)zero_point);
}
