#include "sky_kernels.h"
#include <math.h>

/* Matched filter with a 3x3 kernel over a background-subtracted image and its
   inverse variance. The Swift reference is SourceFilter.matched (SkyImage);
   this must agree with it to float rounding. Border pixels use the part of the
   kernel inside the image. */
static inline void filter_pixel(const float *img, const float *ivar, size_t w, size_t h,
                                size_t x, size_t y, const float k[9], float ksum,
                                float *conv, float *snr) {
    float kd = 0, kdv = 0, kkv = 0;
    for (int dy = -1; dy <= 1; ++dy) {
        long yy = (long)y + dy;
        if (yy < 0 || yy >= (long)h) continue;
        for (int dx = -1; dx <= 1; ++dx) {
            long xx = (long)x + dx;
            if (xx < 0 || xx >= (long)w) continue;
            size_t p = (size_t)yy * w + (size_t)xx;
            float kv = k[(dy + 1) * 3 + dx + 1];
            kd += kv * img[p];
            kdv += kv * img[p] * ivar[p];
            kkv += kv * kv * ivar[p];
        }
    }
    conv[y * w + x] = kd / ksum;
    snr[y * w + x] = kkv > 0 ? kdv / sqrtf(kkv) : 0;
}

/* One interior row. restrict and the kernel in locals let the compiler vectorize across x. */
static void filter_row(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                       const float *restrict v0, const float *restrict v1, const float *restrict v2,
                       size_t w, const float k[9], float ksum, float *restrict co, float *restrict so) {
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7], k8 = k[8];
    const float q0 = k0 * k0, q1 = k1 * k1, q2 = k2 * k2, q3 = k3 * k3, q4 = k4 * k4,
                q5 = k5 * k5, q6 = k6 * k6, q7 = k7 * k7, q8 = k8 * k8;
    for (size_t x = 1; x + 1 < w; ++x) {
        /* Same summation order as the border path and the Swift reference (row by row, left to right). */
        float kd = 0, kdv = 0, kkv = 0;
        kd += k0 * r0[x - 1]; kdv += k0 * r0[x - 1] * v0[x - 1]; kkv += q0 * v0[x - 1];
        kd += k1 * r0[x];     kdv += k1 * r0[x] * v0[x];         kkv += q1 * v0[x];
        kd += k2 * r0[x + 1]; kdv += k2 * r0[x + 1] * v0[x + 1]; kkv += q2 * v0[x + 1];
        kd += k3 * r1[x - 1]; kdv += k3 * r1[x - 1] * v1[x - 1]; kkv += q3 * v1[x - 1];
        kd += k4 * r1[x];     kdv += k4 * r1[x] * v1[x];         kkv += q4 * v1[x];
        kd += k5 * r1[x + 1]; kdv += k5 * r1[x + 1] * v1[x + 1]; kkv += q5 * v1[x + 1];
        kd += k6 * r2[x - 1]; kdv += k6 * r2[x - 1] * v2[x - 1]; kkv += q6 * v2[x - 1];
        kd += k7 * r2[x];     kdv += k7 * r2[x] * v2[x];         kkv += q7 * v2[x];
        kd += k8 * r2[x + 1]; kdv += k8 * r2[x + 1] * v2[x + 1]; kkv += q8 * v2[x + 1];
        co[x] = kd / ksum;
        /* Branch-free select so the loop vectorizes; sqrt of a non-positive sum is discarded. */
        float root = sqrtf(kkv > 0 ? kkv : 1.0f);
        so[x] = kkv > 0 ? kdv / root : 0.0f;
    }
}

void sky_matched_filter_3x3(const float *img, const float *ivar, size_t w, size_t h,
                            const float k[9], float ksum, float *conv, float *snr) {
    if (w == 0 || h == 0) return;
    for (size_t y = 0; y < h; ++y) {
        if (y == 0 || y + 1 >= h || w < 3) {
            for (size_t x = 0; x < w; ++x) filter_pixel(img, ivar, w, h, x, y, k, ksum, conv, snr);
            continue;
        }
        filter_pixel(img, ivar, w, h, 0, y, k, ksum, conv, snr);
        filter_row(img + (y - 1) * w, img + y * w, img + (y + 1) * w,
                   ivar + (y - 1) * w, ivar + y * w, ivar + (y + 1) * w, w, k, ksum, conv + y * w, snr + y * w);
        filter_pixel(img, ivar, w, h, w - 1, y, k, ksum, conv, snr);
    }
}
