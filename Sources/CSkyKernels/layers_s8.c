/* Int8 layers around the GEMMs, NHWC: max pooling and nearest upsampling. The
   Swift Int8Kernels functions are their specifications; these are written so the
   compiler vectorizes along channels (restrict pointers) and call no library
   function per pixel. */
#include "sky_kernels.h"
#include <string.h>

static inline __attribute__((always_inline)) void maxpool(const int8_t *restrict x, int32_t w, int32_t c, int32_t size, int32_t stride,
                                                          int32_t oh, int32_t ow, int8_t *restrict y) {
    for (int32_t oy = 0; oy < oh; oy++)
        for (int32_t ox = 0; ox < ow; ox++) {
            int8_t *restrict o = y + ((size_t)oy * ow + ox) * c;
            const int8_t *restrict first = x + ((size_t)oy * stride * w + (size_t)ox * stride) * c;
            for (int32_t ch = 0; ch < c; ch++) o[ch] = first[ch];
            for (int32_t ky = 0; ky < size; ky++)
                for (int32_t kx = 0; kx < size; kx++) {
                    const int8_t *restrict i = first + ((size_t)ky * w + kx) * c;
                    for (int32_t ch = 0; ch < c; ch++) o[ch] = i[ch] > o[ch] ? i[ch] : o[ch];
                }
        }
}

/* The same loops compiled for AVX2 (vpmaxsb on 32 channels; the baseline has no pmaxsb). */
#if defined(__x86_64__)
__attribute__((target("avx2"))) static void maxpool_avx2(const int8_t *x, int32_t w, int32_t c, int32_t size, int32_t stride,
                                                         int32_t oh, int32_t ow, int8_t *y) {
    maxpool(x, w, c, size, stride, oh, ow, y);
}
#endif

void sky_maxpool_s8(const int8_t *x, int32_t w, int32_t c, int32_t size, int32_t stride, int32_t oh, int32_t ow, int8_t *y) {
#if defined(__x86_64__)
    if (sky_cpu_features() & SKY_CPU_AVX2) { maxpool_avx2(x, w, c, size, stride, oh, ow, y); return; }
#endif
    maxpool(x, w, c, size, stride, oh, ow, y);
}

void sky_upsample_nearest_s8(const int8_t *restrict x, int32_t h, int32_t w, int32_t c, int32_t f, int8_t *restrict y) {
    size_t row = (size_t)w * f * c;
    for (int32_t iy = 0; iy < h; iy++) {
        int8_t *restrict first = y + (size_t)iy * f * row;
        for (int32_t ix = 0; ix < w; ix++) {
            const int8_t *restrict s = x + ((size_t)iy * w + ix) * c;
            for (int32_t k = 0; k < f; k++) {
                int8_t *restrict d = first + ((size_t)ix * f + k) * c;
                for (int32_t ch = 0; ch < c; ch++) d[ch] = s[ch];
            }
        }
        for (int32_t k = 1; k < f; k++) memcpy(first + k * row, first, row);   /* the other f - 1 output rows */
    }
}
