/* CSkyKernels: int8/fp32 micro-kernels and CPU feature dispatch, behind a tiny C ABI.
   Every kernel here has a plain Swift reference that is its specification, and a
   test that compares the two. */
#ifndef SKY_KERNELS_H
#define SKY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CPU features, detected once at run time. */
enum {
    SKY_CPU_SSE41      = 1u << 0,
    SKY_CPU_AVX2       = 1u << 1,
    SKY_CPU_FMA        = 1u << 2,
    SKY_CPU_AVX512F    = 1u << 3,
    SKY_CPU_AVX512BW   = 1u << 4,
    SKY_CPU_AVX512VNNI = 1u << 5,
    SKY_CPU_AVXVNNI    = 1u << 6,
    SKY_CPU_NEON       = 1u << 16,
    SKY_CPU_NEON_DOT   = 1u << 17,
};

/* Bit set of SKY_CPU_* the processor and the OS (saved vector state) both support. */
uint32_t sky_cpu_features(void);

/* Restricts dispatch to the features in `mask` (for tests and benchmarks that
   compare code paths on one machine). Pass 0xFFFFFFFF to restore. */
void sky_cpu_set_feature_mask(uint32_t mask);

/* Histogram of 16-bit pixels: hist[v] += number of pixels equal to v.
   hist must hold 65536 counters and is not cleared. NaN-free by construction. */
void sky_histogram_u16(const uint16_t *pixels, size_t count, uint32_t *hist);

/* 3x3 matched filter for source detection. img: background-subtracted pixels,
   ivar: 1 / rms^2 (0 where unknown), both w x h row-major. conv = sum(k img) / ksum;
   snr = sum(k img ivar) / sqrt(sum(k^2 ivar)), 0 where that sum is 0. The kernel is
   clipped at the image border. Reference: SourceFilter.matched in SkyImage. */
void sky_matched_filter_3x3(const float *img, const float *ivar, size_t w, size_t h,
                            const float k[9], float ksum, float *conv, float *snr);

#ifdef __cplusplus
}
#endif
#endif
