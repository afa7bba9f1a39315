/* Stand-alone test of the CSkyKernels int8 GEMM kernels, for targets the Swift
   tests cannot run on (AArch64 under qemu; VNNI emulated with -DSKY_EMULATE_VNNI).
   Every kernel this CPU offers (and the AVX2 u8 kernel, on 7-bit weights) is compared
   with a plain reference (the same TFLite output stage the Swift tests prove equal to
   SkyNN's reference) on random GEMMs and convolutions. Exit status 0 = all equal.
   Build, from the repository root (bash; any C11 compiler, gcc or clang):
     cc -O3 -I Sources/CSkyKernels/include -I Sources/CSkyKernels -o gemm_s8_harness \
        Tools/kernel-harness/gemm_s8_harness.c Sources/CSkyKernels/{cpu_features,gemm_s8,gemm_s8_x86,gemm_s8_avx2,gemm_s8_avx2_u8,gemm_s8_vnni,gemm_s8_arm}.c -lm
   (add -DSKY_EMULATE_VNNI on an AVX2 CPU without VNNI to run the VNNI kernel with its
   dot product done in AVX2, or -DSKY_EMULATE_AVX512 -mavx2 -mfma -Wno-psabi to run its
   native zmm blocks with SIMDe's AVX-512 (libsimde-dev)). Run: ./gemm_s8_harness [shapes]   (default 200)
   Timing: ./gemm_s8_harness --bench   sky_conv_s8 on the 13 conv shapes of skymodel bench
   (Sources/SkyNN/Benchmark.swift) for every kernel this CPU offers, one thread, GMAC/s as
   the median of 7 runs in thread CPU time, and the int8 peak loops beside them. */
#include "gemm_s8_internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)(state >> 11); }
static int32_t range(int32_t lo, int32_t hi) { return lo + (int32_t)(rnd() % (uint32_t)(hi - lo + 1)); }

static const char *names[] = {"portable", "avx2", "avx512vnni", "neon", "neon-dot", "avx2-u8"};

/* Kernels of the 16-channel quad layout; the u8 one leaves layers of at most 4 channels
   to the int16 AVX2 kernel (sky_gemm_s8_pack_for). */
static int quads(int kernel) { return kernel == SKY_GEMM_AVX2_U8 || kernel == SKY_GEMM_AVX512VNNI; }
/* Kernels with a direct convolution path (sky_conv_s8_direct): the quad-layout ones and the
   int16 AVX2 kernel, whose first layers (odd kernel rows) read weights re-laid in pairs. */
static int has_direct(int kernel) { return quads(kernel) || kernel == SKY_GEMM_AVX2; }
static int expected_kernel(int kernel, int32_t n) { return kernel == SKY_GEMM_AVX2_U8 && n <= 4 ? SKY_GEMM_AVX2 : kernel; }
/* Random weights the kernel is exact for: 7-bit for the u8 kernel, every 8-bit value for
   VNNI (no int16 step), -127..127 elsewhere (the symmetric range the quantizer makes). */
static int8_t weight(int kernel) {
    return (int8_t)(kernel == SKY_GEMM_AVX2_U8 ? range(-64, 63) : kernel == SKY_GEMM_AVX512VNNI ? range(-128, 127) : range(-127, 127));
}

/* A quarter of the shapes requantize in float (sky_requant_s8.float_scale, never with a
   leaky slope), at the scales the fixed-point multipliers stand for. The scales to free, or NULL. */
static float *maybe_float_stage(sky_requant_s8 *rq, int32_t n) {
    if (rnd() % 4) return NULL;
    float *scales = malloc(4 * (size_t)n);
    for (int32_t j = 0; j < n; j++) scales[j] = (float)ldexp(rq->multiplier[j], rq->shift[j] - 31);
    rq->float_scale = scales; rq->leaky = 0;
    return scales;
}

static int check(int kernel, int shapes) {
    for (int s = 0; s < shapes; s++) {
        int32_t m = range(1, 37), n = range(1, 70), k = range(1, 300), zp = range(-128, 127);
        int32_t kp = sky_gemm_s8_k_padded(k);
        size_t lda = (size_t)kp + (size_t)range(0, 2) * 32;
        int8_t *a = calloc((size_t)m * lda, 1), *w = malloc((size_t)n * k), *c = malloc((size_t)m * n), *ref = malloc((size_t)m * n);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        void *packed = aligned_alloc(64, (sky_gemm_s8_packed_size(n, k) + 63) / 64 * 64);
        for (int32_t i = 0; i < m; i++) for (int32_t q = 0; q < k; q++) a[i * lda + q] = (int8_t)range(-128, 127);
        for (size_t i = 0; i < (size_t)n * k; i++) w[i] = weight(kernel);
        for (int32_t j = 0; j < n; j++) { bias[j] = range(-50000, 50000); mult[j] = range(1 << 30, 0x7FFFFFFF); shift[j] = range(-14, 1); }
        sky_requant_s8 rq = {mult, shift, range(-128, 127), -128, 127, (int32_t)(rnd() % 2), range(1 << 30, 0x7FFFFFFF), range(-6, -1)};
        if (rnd() % 2) { rq.act_min = rq.output_zero_point; rq.act_max = range(rq.act_min, 127); }
        float *scales = maybe_float_stage(&rq, n);
        for (int32_t i = 0; i < m; i++)
            for (int32_t j = 0; j < n; j++) {
                int32_t acc = bias[j];
                for (int32_t q = 0; q < k; q++) acc += ((int32_t)a[i * lda + q] - zp) * w[(size_t)j * k + q];
                ref[i * n + j] = sky_requant_one(acc, j, &rq);
            }
        if (sky_gemm_s8_pack_for(kernel, w, bias, zp, n, k, packed) != expected_kernel(kernel, n)) { printf("pack failed for %s\n", names[kernel]); return 1; }
        sky_gemm_s8(a, lda, m, packed, &rq, c, (size_t)n);
        if (memcmp(c, ref, (size_t)m * n) != 0) {
            for (int32_t i = 0; i < m * n; i++)
                if (c[i] != ref[i]) { printf("%s: MISMATCH m=%d n=%d k=%d at %d: %d != %d\n", names[kernel], m, n, k, i, c[i], ref[i]); break; }
            return 1;
        }
        free(a); free(w); free(c); free(ref); free(bias); free(mult); free(shift); free(packed); free(scales);
    }
    printf("%s: %d random shapes bit-exact\n", names[kernel], shapes);
    return 0;
}

/* sky_conv_s8 (the kernels' own direct path or row gathering, or im2col + GEMM) against a
   direct convolution with the same output stage, on random images, kernels, strides,
   padding and groups, weights packed by sky_conv_s8_pack_for; 1-4 input channels often,
   since first layers take their own path (the first four shapes: 1- and 3-channel first
   layers, two wide, two narrow; the next two, rows too long for the direct path's buffer to
   hold all a call reads). The kernels with direct paths (quad layout, and the int16 AVX2
   kernel) must have met theirs, their re-laid first-layer weights and the row gathering. */
static int check_conv(int kernel, int shapes) {
    int direct = 0, rows_laid = 0, gathered = 0;
    for (int s = 0; s < shapes; s++) {
        const int first = s < 4, banded = s == 4 || s == 5;
        int32_t groups = !first && !banded && rnd() % 4 == 0 ? range(2, 3) : 1;
        int32_t cg = first ? (s % 2 ? 3 : 1) : banded ? (s == 4 ? 128 : 150) : rnd() % 2 ? range(1, 4) : range(1, 40), c = cg * groups;
        int32_t kh = banded ? 3 : range(1, 5), kw = first || banded ? 3 : range(1, 5), sh = banded ? s - 3 : range(1, 3), sw = range(1, 3);
        /* A third are wide and short: rows of 24+ output pixels take the direct paths. The
           fifth and sixth have rows of 10-15 KB (20-30 KB widened to int16), so that the
           direct paths' band of input rows (96 KB) holds 6-9 of them (3-4 widened) and
           refills within a call. */
        int wide = first ? s < 2 : banded || rnd() % 3 == 0;
        int32_t h = banded ? range(kh + 10, kh + 14) : range(kh, wide ? kh + 3 : 14);
        int32_t w = banded ? range(80, 100) : wide ? range(24 * sw + kw, 24 * sw + kw + 40) : range(kw, 14);
        int32_t pt = range(0, kh - 1), pl = range(0, kw - 1);
        int32_t oh = (h + 2 * pt - kh) / sh + 1, ow = (w + 2 * pl - kw) / sw + 1, ng = first ? range(9, 40) : banded ? range(9, 16) : range(1, 40), n = ng * groups;
        int32_t k = kh * kw * cg, kp = sky_gemm_s8_k_padded(k), zp = range(-128, 127), m = oh * ow;
        int8_t *x = malloc((size_t)h * w * c), *wt = malloc((size_t)n * k), *y = malloc((size_t)m * n), *ref = malloc((size_t)m * n);
        int8_t *scratch = malloc((size_t)m * kp);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        size_t ps = (sky_conv_s8_packed_size(ng, kh, kw, cg) + 63) / 64 * 64;
        char *packed = aligned_alloc(64, ps * groups);
        for (int32_t i = 0; i < h * w * c; i++) x[i] = (int8_t)range(-128, 127);
        for (int32_t i = 0; i < n * k; i++) wt[i] = weight(kernel);
        for (int32_t j = 0; j < n; j++) { bias[j] = range(-50000, 50000); mult[j] = range(1 << 30, 0x7FFFFFFF); shift[j] = range(-14, 1); }
        sky_requant_s8 rq = {mult, shift, range(-128, 127), -128, 127, (int32_t)(rnd() % 2), range(1 << 30, 0x7FFFFFFF), range(-6, -1)};
        float *scales = maybe_float_stage(&rq, n);
        for (int32_t oy = 0; oy < oh; oy++) for (int32_t ox = 0; ox < ow; ox++) for (int32_t o = 0; o < n; o++) {
            int32_t g = o / ng, acc = bias[o];
            for (int32_t ky = 0; ky < kh; ky++) for (int32_t kx = 0; kx < kw; kx++) for (int32_t i = 0; i < cg; i++) {
                int32_t iy = oy * sh - pt + ky, ix = ox * sw - pl + kx;
                int32_t v = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[(iy * w + ix) * c + g * cg + i] : zp;
                acc += (v - zp) * wt[(size_t)o * k + (ky * kw + kx) * cg + i];
            }
            ref[(oy * ow + ox) * n + o] = sky_requant_one(acc, o, &rq);
        }
        int32_t tile = banded ? range(m * 3 / 4, m) : range(1, m);   /* small calls would read one band */
        for (int32_t g = 0; g < groups; g++) {
            if (sky_conv_s8_pack_for(kernel, wt + (size_t)g * ng * k, bias + g * ng, zp, ng, kh, kw, cg, packed + g * ps) != expected_kernel(kernel, ng)) {
                printf("conv pack failed for %s\n", names[kernel]);
                return 1;
            }
            if (g == 0 && sky_gemm_s8_kernel(packed) == kernel && has_direct(kernel)) {
                int d = sky_conv_s8_direct(packed, &rq, c, cg, kh, kw, sw, ow);
                direct += d; rows_laid += d && (kw * cg) % (quads(kernel) ? 4 : 2) != 0; gathered += !d;
            }
            sky_requant_s8 rg = rq; rg.multiplier = mult + g * ng; rg.shift = shift + g * ng;
            if (scales) rg.float_scale = scales + g * ng;
            for (int32_t r0 = 0; r0 < m; r0 += tile)
                sky_conv_s8(x, h, w, c, kh, kw, sh, sw, pt, pl, ow, r0, m - r0 < tile ? m - r0 : tile, g * cg, cg, (int8_t)zp,
                            packed + g * ps, &rg, y + (size_t)r0 * n + g * ng, (size_t)n, scratch, (size_t)kp);
        }
        if (memcmp(y, ref, (size_t)m * n) != 0) {
            printf("%s conv: MISMATCH %dx%dx%d k%dx%d s%dx%d p%d,%d groups %d n %d\n", names[kernel], h, w, c, kh, kw, sh, sw, pt, pl, groups, n);
            return 1;
        }
        free(x); free(wt); free(y); free(ref); free(scratch); free(bias); free(mult); free(shift); free(packed); free(scales);
    }
    printf("%s: %d random convolutions bit-exact", names[kernel], shapes);
    if (has_direct(kernel)) printf(" (%d direct, %d of them first layers on re-laid kernel rows; %d gathered)", direct, rows_laid, gathered);
    printf("\n");
    if (has_direct(kernel) && (!direct || !rows_laid || !gathered)) { printf("%s: a convolution path went untested\n", names[kernel]); return 1; }
    return 0;
}

/* ---- --bench: the kernels side by side on the model families' convolutions ---- */

/* Benchmark.convShapes: 3x3, padding 1. */
typedef struct { const char *name; int32_t h, w, c, n, stride; } bench_shape;
static const bench_shape bench_shapes[] = {
    {"realbogus conv1 63x63x3->16", 63, 63, 3, 16, 1},   {"realbogus conv2 63x63x16->16", 63, 63, 16, 16, 1},
    {"realbogus conv3 31x31x16->32", 31, 31, 16, 32, 1}, {"realbogus conv4 31x31x32->32", 31, 31, 32, 32, 1},
    {"quality conv1 128x128x1->16", 128, 128, 1, 16, 1}, {"quality conv2 64x64x16->32", 64, 64, 16, 32, 1},
    {"quality conv3 32x32x32->64", 32, 32, 32, 64, 1},   {"quality conv4 16x16x64->128", 16, 16, 64, 128, 1},
    {"autoenc conv1 64x64x1->16 s2", 64, 64, 1, 16, 2},  {"autoenc conv2 32x32x16->32 s2", 32, 32, 16, 32, 2},
    {"autoenc conv3 16x16x32->32", 16, 16, 32, 32, 1},   {"autoenc conv4 32x32x32->16", 32, 32, 32, 16, 1},
    {"autoenc conv5 64x64x16->1", 64, 64, 16, 1, 1},
};

static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

/* GMAC/s of a peak loop (12 chains of `macs` MACs per iteration): the best of 5 runs. */
static double peak_gmacs(uint64_t (*loop)(uint64_t), double macs) {
    if (!loop(1)) return 0;
    const uint64_t iters = 20000000;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        double t0 = thread_seconds();
        volatile uint64_t sink = loop(iters);
        (void)sink;
        double t = thread_seconds() - t0;
        best = t < best ? t : best;
    }
    return (double)iters * 12 * macs / best / 1e9;
}

/* One thread, whole images per sky_conv_s8 call, 7-bit weights (so the u8 kernel runs too;
   the others take them as any weights) and ReLU, as skymodel bench's 7-bit models. */
static int bench(void) {
    const struct { const char *name; uint64_t (*loop)(uint64_t); double macs; } peaks[] = {
        {"vpmaddwd ymm", sky_peak_madd_avx2, 16}, {"vpmaddwd+vpaddd ymm", sky_peak_madd_add_avx2, 16},
        {"vpmaddubsw+vpmaddwd+vpaddd ymm", sky_peak_maddubs_add_avx2, 32},
        {"vpdpbusd ymm", sky_peak_dpbusd_avx512vnni, 32}, {"vpdpbusd zmm", sky_peak_dpbusd_zmm_avx512vnni, 64},
    };
    printf("int8 peak loops, 1 thread (GMAC/s, best of 5; 0 = not on this CPU):\n");
    for (size_t i = 0; i < sizeof peaks / sizeof *peaks; i++) printf("  %-32s %8.1f\n", peaks[i].name, peak_gmacs(peaks[i].loop, peaks[i].macs));
    uint32_t avail = sky_gemm_s8_available();
    int kernels[6], nk = 0;
    const int order[] = {SKY_GEMM_PORTABLE, SKY_GEMM_AVX2, SKY_GEMM_AVX2_U8, SKY_GEMM_AVX512VNNI, SKY_GEMM_NEON, SKY_GEMM_NEON_DOT};
    for (int i = 0; i < 6; i++) {
        int kk = order[i], needs = kk == SKY_GEMM_AVX2_U8 ? SKY_GEMM_AVX2 : kk;
        if (avail & (1u << needs)) kernels[nk++] = kk;
    }
    printf("sky_conv_s8, 1 thread, GMAC/s (median of 7; * = packed for the int16 AVX2 kernel instead: u8 on 4 or fewer channels)\n");
    printf("%-32s %7s", "conv shape", "MMAC");
    for (int i = 0; i < nk; i++) printf(" %11s", names[kernels[i]]);
    printf("\n");
    for (size_t s = 0; s < sizeof bench_shapes / sizeof *bench_shapes; s++) {
        const bench_shape *b = &bench_shapes[s];
        const int32_t kh = 3, kw = 3, pad = 1, k = kh * kw * b->c, kp = sky_gemm_s8_k_padded(k), n = b->n;
        const int32_t oh = (b->h + 2 * pad - kh) / b->stride + 1, ow = (b->w + 2 * pad - kw) / b->stride + 1, m = oh * ow;
        const double macs = (double)m * n * k;
        int8_t *x = malloc((size_t)b->h * b->w * b->c), *wt = malloc((size_t)n * k), *y = malloc((size_t)m * n), *scratch = malloc((size_t)m * kp);
        int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
        void *packed = aligned_alloc(64, (sky_conv_s8_packed_size(n, kh, kw, b->c) + 63) / 64 * 64);
        for (int32_t i = 0; i < b->h * b->w * b->c; i++) x[i] = (int8_t)range(-128, 127);
        for (int32_t i = 0; i < n * k; i++) wt[i] = (int8_t)range(-64, 63);
        for (int32_t j = 0; j < n; j++) { bias[j] = range(-5000, 5000); mult[j] = range(1 << 30, 0x7FFFFFFF); shift[j] = range(-12, -6); }
        const int8_t zp = -100;
        sky_requant_s8 rq = {mult, shift, -128, -128, 127, 0, 0, 0};
        const int reps = macs >= 40e6 ? 1 : (int)(40e6 / macs);
        printf("%-32s %7.1f", b->name, macs / 1e6);
        for (int i = 0; i < nk; i++) {
            int got = sky_conv_s8_pack_for(kernels[i], wt, bias, zp, n, kh, kw, b->c, packed);
            double t[7];
            for (int r = -1; r < 7; r++) {
                double t0 = thread_seconds();
                for (int q = 0; q < reps; q++)
                    sky_conv_s8(x, b->h, b->w, b->c, kh, kw, b->stride, b->stride, pad, pad, ow, 0, m, 0, b->c, zp, packed, &rq, y,
                                (size_t)n, scratch, (size_t)kp);
                if (r >= 0) t[r] = thread_seconds() - t0;
            }
            qsort(t, 7, sizeof *t, by_value);
            printf(" %10.1f%s", macs * reps / t[3] / 1e9, got == kernels[i] ? " " : "*");
        }
        printf("\n");
        free(x); free(wt); free(y); free(scratch); free(bias); free(mult); free(shift); free(packed);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) return bench();
    int shapes = argc > 1 ? atoi(argv[1]) : 200;
    uint32_t avail = sky_gemm_s8_available();
    printf("kernels:");
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) printf(" %s", names[kk]);
    if (avail & (1u << SKY_GEMM_AVX2)) printf(" %s", names[SKY_GEMM_AVX2_U8]);
    printf("\n");
    int failed = 0;
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) failed |= check(kk, shapes) | check_conv(kk, shapes / 2);
    /* The u8 kernel shares its body with VNNI's (gemm_s8_x86_dot_body.h). */
    if (avail & (1u << SKY_GEMM_AVX2)) failed |= check(SKY_GEMM_AVX2_U8, shapes) | check_conv(SKY_GEMM_AVX2_U8, shapes / 2);
    return failed;
}
