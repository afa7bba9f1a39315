/* Int8 max pooling (valid windows, NHWC). The Swift Int8Kernels.maxPool is its
   specification; this one is written so the compiler vectorizes along channels
   (restrict pointers, one running maximum per channel row). */
#include "sky_kernels.h"

void sky_maxpool_s8(const int8_t *restrict x, int32_t w, int32_t c, int32_t size, int32_t stride,
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
