/* AArch64 int8 GEMM kernels, 4 rows x 4 output channels per tile, k in steps of 16.
   NEON: vmull_s8 + vmlal_high_s8 into int16 (two products of |x| <= 128, |w| <= 127
   cannot overflow), then vpadalq_s16 into int32. NEON dot product: vdotq_s32. */
#include "gemm_s8_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#if defined(__clang__)
#define DOTPROD __attribute__((target("dotprod")))
#else
#define DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

static inline int32x4_t hsum4(int32x4_t v0, int32x4_t v1, int32x4_t v2, int32x4_t v3) {
    return vpaddq_s32(vpaddq_s32(v0, v1), vpaddq_s32(v2, v3));
}

#define TILE_LOOP(STEP)                                                                              \
    const sky_packed_header *h = (const sky_packed_header *)packed;                                  \
    const int8_t *wt = (const int8_t *)packed_weights(packed);                                       \
    const int32_t *bias = packed_bias(packed);                                                       \
    const int32_t kc = h->kp / 16;                                                                   \
    for (int32_t i = 0; i < m; i += 4) {                                                             \
        const int8_t *ar[4];                                                                         \
        for (int r = 0; r < 4; r++) ar[r] = a + (size_t)(i + r < m ? i + r : m - 1) * lda;           \
        for (int32_t n0 = 0; n0 < h->np; n0 += 4) {                                                  \
            const int8_t *b = wt + (size_t)(n0 / 4) * kc * 64;                                       \
            int32x4_t acc[4][4];                                                                     \
            for (int r = 0; r < 4; r++) for (int j = 0; j < 4; j++) acc[r][j] = vdupq_n_s32(0);      \
            for (int32_t q = 0; q < kc; q++, b += 64) {                                              \
                int8x16_t w0 = vld1q_s8(b), w1 = vld1q_s8(b + 16), w2 = vld1q_s8(b + 32), w3 = vld1q_s8(b + 48); \
                for (int r = 0; r < 4; r++) {                                                        \
                    int8x16_t x = vld1q_s8(ar[r] + q * 16);                                          \
                    STEP(acc[r][0], x, w0); STEP(acc[r][1], x, w1);                                  \
                    STEP(acc[r][2], x, w2); STEP(acc[r][3], x, w3);                                  \
                }                                                                                    \
            }                                                                                        \
            for (int r = 0; r < 4 && i + r < m; r++) {                                               \
                int32_t out[4];                                                                      \
                vst1q_s32(out, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));                   \
                sky_store_row(out, bias, n0, h->n, rq, c + (size_t)(i + r) * ldc);                   \
            }                                                                                        \
        }                                                                                            \
    }

#define NEON_STEP(acc, x, w) do {                                                   \
        int16x8_t p = vmull_s8(vget_low_s8(x), vget_low_s8(w));                     \
        p = vmlal_high_s8(p, x, w);                                                 \
        acc = vpadalq_s16(acc, p);                                                  \
    } while (0)

#define DOT_STEP(acc, x, w) acc = vdotq_s32(acc, x, w)

void sky_gemm_s8_neon(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    TILE_LOOP(NEON_STEP)
}

DOTPROD void sky_gemm_s8_neon_dot(const int8_t *a, size_t lda, int32_t m, const void *packed, const sky_requant_s8 *rq, int8_t *c, size_t ldc) {
    TILE_LOOP(DOT_STEP)
}
#endif
