#include "sky_kernels.h"
#include <math.h>

/* Matched filter with a 3x3 kernel over a background-subtracted image and its
   inverse variance. The Swift reference is SourceFilter.matched (SkyImage);
   this must agree with it to float rounding. Border pixels use the part of the
   kernel inside the image. */
/* One interior row. restrict and the kernel in locals let the compiler vectorize across x. */
static void filter_row(const float *restrict r0, const float *restrict r1, const float *restrict r2,
                       const float *restrict v0, const float *restrict v1, const float *restrict v2,
                       size_t w, const float k[9], float ksum, float *restrict co, float *restrict so) {
    const float k0 = k[0], k1 = k[1], k2 = k[2], k3 = k[3], k4 = k[4], k5 = k[5], k6 = k[6], k7 = k[7], k8 = k[8];
    const float q0 = k0 * k0, q1 = k1 * k1, q2 = k2 * k2, q3 = k3 * k3, q4 = k4 * k4,
                q5 = k5 * k5, q6 = k6 * k6, q7 = k7 * k7, q8 = k8 * k8;
    for (size_t x = 1; x + 1 < w; ++x) {
        /* Same summation order as filter_pixel_rows and the Swift reference (row by row, left to right). */
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

/* One pixel of a row whose neighbouring rows may be missing (NULL at the image
   border); same order of summation as filter_row. */
static inline void filter_pixel_rows(const float *const rows[3], const float *const vars[3], size_t w, size_t x,
                                     const float k[9], float ksum, float *conv, float *snr) {
    float kd = 0, kdv = 0, kkv = 0;
    for (int dy = 0; dy < 3; ++dy) {
        const float *r = rows[dy], *v = vars[dy];
        if (!r) continue;
        for (int dx = -1; dx <= 1; ++dx) {
            long xx = (long)x + dx;
            if (xx < 0 || xx >= (long)w) continue;
            float kv = k[dy * 3 + dx + 1];
            kd += kv * r[xx];
            kdv += kv * r[xx] * v[xx];
            kkv += kv * kv * v[xx];
        }
    }
    conv[x] = kd / ksum;
    snr[x] = kkv > 0 ? kdv / sqrtf(kkv) : 0;
}

void sky_matched_filter_3x3_row(const float *r0, const float *r1, const float *r2,
                                const float *v0, const float *v1, const float *v2,
                                size_t w, const float k[9], float ksum, float *conv, float *snr) {
    if (w == 0) return;
    const float *rows[3] = {r0, r1, r2}, *vars[3] = {v0, v1, v2};
    if (!r0 || !r2 || w < 3) {
        for (size_t x = 0; x < w; ++x) filter_pixel_rows(rows, vars, w, x, k, ksum, conv, snr);
        return;
    }
    filter_pixel_rows(rows, vars, w, 0, k, ksum, conv, snr);
    filter_row(r0, r1, r2, v0, v1, v2, w, k, ksum, conv, snr);
    filter_pixel_rows(rows, vars, w, w - 1, k, ksum, conv, snr);
}

void sky_matched_filter_3x3(const float *img, const float *ivar, size_t w, size_t h,
                            const float k[9], float ksum, float *conv, float *snr) {
    if (w == 0 || h == 0) return;
    for (size_t y = 0; y < h; ++y) {
        const float *r0 = y > 0 ? img + (y - 1) * w : NULL, *v0 = y > 0 ? ivar + (y - 1) * w : NULL;
        const float *r2 = y + 1 < h ? img + (y + 1) * w : NULL, *v2 = y + 1 < h ? ivar + (y + 1) * w : NULL;
        sky_matched_filter_3x3_row(r0, img + y * w, r2, v0, ivar + y * w, v2, w, k, ksum, conv + y * w, snr + y * w);
    }
}
