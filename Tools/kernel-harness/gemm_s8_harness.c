/* Stand-alone test of the CSkyKernels int8 GEMM kernels, for targets the Swift
   tests cannot run on (AArch64 under qemu; VNNI emulated with -DSKY_EMULATE_VNNI).
   Every kernel this CPU offers is
   compared with a plain reference (the same TFLite output stage the Swift tests
   prove equal to SkyNN's reference) on random shapes. Exit status 0 = all equal.
   Build: cc -O2 -I Sources/CSkyKernels/include -I Sources/CSkyKernels \
          Tools/kernel-harness/gemm_s8_harness.c Sources/CSkyKernels/{cpu_features,gemm_s8,gemm_s8_x86,gemm_s8_avx2,gemm_s8_avx2_u8,gemm_s8_arm}.c -lm */
#include "gemm_s8_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)(state >> 11); }
static int32_t range(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static const char *names[] = {"portable", "avx2", "avx512vnni", "neon", "neon-dot"};

static int check(int kernel, int shapes) {
    for (int s = 0; s < shapes; s++) {
        int32_t m = range(1, 37), n = range(1, 70), k = range(1, 300), zp = range(-128, 127);
        int32_t kp = sky_gemm_s8_k_padded(k);
        size_t lda = (size_t)kp + (size_t)range(0, 2) * 32;
        int8_t *a = calloc((size_t)m * lda, 1), *w = malloc((size_t)n * k), *c = malloc((size_t)m * n), *ref = malloc((size_t)m * n);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        void *packed = aligned_alloc(64, (sky_gemm_s8_packed_size(n, k) + 63) / 64 * 64);
        for (int32_t i = 0; i < m; i++) for (int32_t q = 0; q < k; q++) a[i * lda + q] = (int8_t)range(-128, 127);
        for (size_t i = 0; i < (size_t)n * k; i++) w[i] = (int8_t)range(-127, 127);
        for (int32_t j = 0; j < n; j++) { bias[j] = range(-50000, 50000); mult[j] = range(1 << 30, 0x7FFFFFFF); shift[j] = range(-14, 1); }
        sky_requant_s8 rq = {mult, shift, range(-128, 127), -128, 127, (int32_t)(rnd() % 2), range(1 << 30, 0x7FFFFFFF), range(-6, -1)};
        if (rnd() % 2) { rq.act_min = rq.output_zero_point; rq.act_max = range(rq.act_min, 127); }
        for (int32_t i = 0; i < m; i++)
            for (int32_t j = 0; j < n; j++) {
                int32_t acc = bias[j];
                for (int32_t q = 0; q < k; q++) acc += ((int32_t)a[i * lda + q] - zp) * w[(size_t)j * k + q];
                ref[i * n + j] = sky_requant_one(acc, j, &rq);
            }
        if (sky_gemm_s8_pack_for(kernel, w, bias, zp, n, k, packed) != kernel) { printf("pack failed for %s\n", names[kernel]); return 1; }
        sky_gemm_s8(a, lda, m, packed, &rq, c, (size_t)n);
        if (memcmp(c, ref, (size_t)m * n) != 0) {
            for (int32_t i = 0; i < m * n; i++)
                if (c[i] != ref[i]) { printf("%s: MISMATCH m=%d n=%d k=%d at %d: %d != %d\n", names[kernel], m, n, k, i, c[i], ref[i]); break; }
            return 1;
        }
        free(a); free(w); free(c); free(ref); free(bias); free(mult); free(shift); free(packed);
    }
    printf("%s: %d random shapes bit-exact\n", names[kernel], shapes);
    return 0;
}

/* sky_conv_s8 (the kernels' own row gathering, or im2col + GEMM) against a direct
   convolution with the same output stage, on random images, kernels, strides, padding
   and groups; 1-4 input channels often, since first layers take their own path. */
static int check_conv(int kernel, int shapes) {
    for (int s = 0; s < shapes; s++) {
        int32_t groups = rnd() % 4 == 0 ? range(2, 3) : 1;
        int32_t cg = rnd() % 2 ? range(1, 4) : range(1, 40), c = cg * groups;
        int32_t kh = range(1, 5), kw = range(1, 5), sh = range(1, 3), sw = range(1, 3);
        /* A third are wide and short: rows of 24+ output pixels take the direct AVX2 path. */
        int wide = rnd() % 3 == 0;
        int32_t h = range(kh, wide ? kh + 3 : 14), w = wide ? range(24 * sw + kw, 24 * sw + kw + 40) : range(kw, 14), pt = range(0, kh - 1), pl = range(0, kw - 1);
        int32_t oh = (h + 2 * pt - kh) / sh + 1, ow = (w + 2 * pl - kw) / sw + 1, ng = range(1, 40), n = ng * groups;
        int32_t k = kh * kw * cg, kp = sky_gemm_s8_k_padded(k), zp = range(-128, 127), m = oh * ow;
        int8_t *x = malloc((size_t)h * w * c), *wt = malloc((size_t)n * k), *y = malloc((size_t)m * n), *ref = malloc((size_t)m * n);
        int8_t *scratch = malloc((size_t)m * kp);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        size_t ps = (sky_gemm_s8_packed_size(ng, k) + 63) / 64 * 64;
        char *packed = aligned_alloc(64, ps * groups);
        for (int32_t i = 0; i < h * w * c; i++) x[i] = (int8_t)range(-128, 127);
        for (int32_t i = 0; i < n * k; i++) wt[i] = (int8_t)range(-127, 127);
        for (int32_t j = 0; j < n; j++) { bias[j] = range(-50000, 50000); mult[j] = range(1 << 30, 0x7FFFFFFF); shift[j] = range(-14, 1); }
        sky_requant_s8 rq = {mult, shift, range(-128, 127), -128, 127, (int32_t)(rnd() % 2), range(1 << 30, 0x7FFFFFFF), range(-6, -1)};
        for (int32_t oy = 0; oy < oh; oy++) for (int32_t ox = 0; ox < ow; ox++) for (int32_t o = 0; o < n; o++) {
            int32_t g = o / ng, acc = bias[o];
            for (int32_t ky = 0; ky < kh; ky++) for (int32_t kx = 0; kx < kw; kx++) for (int32_t i = 0; i < cg; i++) {
                int32_t iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
                int32_t v = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(iy * w + ix) * c + g * cg + i] : zp;
                acc += (v - zp) * wt[(size_t)o * k + (ky * kw + kx) * cg + i];
            }
            ref[(oy * ow + ox) * n + o] = sky_requant_one(acc, o, &rq);
        }
        int32_t tile = range(1, m);
        for (int32_t g = 0; g < groups; g++) {
            if (sky_gemm_s8_pack_for(kernel, wt + (size_t)g * ng * k, bias + g * ng, zp, ng, k, packed + g * ps) != kernel) return 1;
            sky_requant_s8 rg = rq; rg.multiplier = mult + g * ng; rg.shift = shift + g * ng;
            for (int32_t r0 = 0; r0 < m; r0 += tile)
                sky_conv_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, r0, m - r0 < tile ? m - r0 : tile, g * cg, cg, (int8_t)zp,
                            packed + g * ps, &rg, y + (size_t)r0 * n + g * ng, (size_t)n, scratch, (size_t)kp);
        }
        if (memcmp(y, ref, (size_t)m * n) != 0) {
            printf("%s conv: MISMATCH %dx%dx%d k%dx%d s%dx%d p%d,%d groups %d n %d\n", names[kernel], h, w, c, kh, kw, sh, sw, pt, pl, groups, n);
            return 1;
        }
        free(x); free(wt); free(y); free(ref); free(scratch); free(bias); free(mult); free(shift); free(packed);
    }
    printf("%s: %d random convolutions bit-exact\n", names[kernel], shapes);
    return 0;
}

int main(int argc, char **argv) {
    int shapes = argc > 1 ? atoi(argv[1]) : 200;
    uint32_t avail = sky_gemm_s8_available();
    printf("kernels:");
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) printf(" %s", names[kk]);
    printf("\n");
    int failed = 0;
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) failed |= check(kk, shapes) | check_conv(kk, shapes / 2);
    return failed;
}
