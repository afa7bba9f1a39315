/* Same-process A/B of two builds of the CSkyKernels convolution: on a shared, noisy machine
   two runs of one build differ by up to 40%, so comparing separate runs says little. This
   loads both builds as shared libraries (dlopen, RTLD_LOCAL: each keeps its own symbols),
   checks that they write the same output, then times them in alternation on one 3x3
   convolution (padding 1), 21 rounds, and prints each build's median GMAC/s and the median
   of the per-round speed ratios B/A with its interquartile range.

   Build each tree's kernels as a library, then the tool:
     lib() { K=$1/Sources/CSkyKernels; cc -O3 -fPIC -shared -I $K/include -I $K -o $2 \
             $K/{cpu_features,gemm_s8,gemm_s8_x86,gemm_s8_avx2,gemm_s8_avx2_u8,gemm_s8_vnni,gemm_s8_arm,layers_s8}.c -lm; }
     lib OLD_TREE a.so; lib . b.so
     cc -O2 -I Sources/CSkyKernels/include -o conv_ab Tools/kernel-harness/conv_ab.c -ldl
   Run: ./conv_ab ./a.so ./b.so H W C N STRIDE [TILE [KERNEL [fixed]]]
     TILE    output pixels per sky_conv_s8 call (default 256; TILE_B=n in the environment
             gives build B other tiles, to compare tilings with one build)
     KERNEL  SKY_GEMM_* to pack for (default 5, the AVX2 u8 kernel; 1 the int16 one)
     fixed   the fixed-point output stage (default: the float stage, as first layers use)
   Weights are 7-bit, so every x86 kernel takes them. Either build may be any version of
   the ABI as long as sky_conv_s8_packed_size, sky_conv_s8_pack_for and sky_conv_s8 keep
   their signatures. */
#include "sky_kernels.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef size_t (*size_fn)(int32_t, int32_t, int32_t, int32_t);
typedef int (*pack_fn)(int, const int8_t *, const int32_t *, int32_t, int32_t, int32_t, int32_t, int32_t, void *);
typedef void (*conv_fn)(const int8_t *, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t,
                        int32_t, int32_t, int32_t, int32_t, int8_t, const void *, const sky_requant_s8 *, int8_t *, size_t, int8_t *,
                        size_t);

static double thread_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
static int by_value(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }

typedef struct { conv_fn conv; void *packed; } build;

/* One pass of `items` images through build b, in calls of `tile` output pixels. */
static void pass(const build *b, const int8_t *x, int32_t items, int32_t h, int32_t w, int32_t c, int32_t n, int32_t s, int32_t tile,
                 const sky_requant_s8 *rq, int8_t *y, int8_t *scratch, int32_t kp) {
    const int32_t ow = (w + 2 - 3) / s + 1, m = ((h + 2 - 3) / s + 1) * ow;
    for (int32_t i = 0; i < items; i++)
        for (int32_t r0 = 0; r0 < m; r0 += tile)
            b->conv(x + (size_t)i * h * w * c, h, w, c, 3, 3, s, s, 1, 1, ow, r0, m - r0 < tile ? m - r0 : tile, 0, c, -100, b->packed, rq,
                    y + ((size_t)i * m + r0) * n, (size_t)n, scratch, (size_t)kp);
}

int main(int argc, char **argv) {
    if (argc < 8) {
        fprintf(stderr, "usage: %s A.so B.so H W C N STRIDE [TILE [KERNEL [fixed]]]\n", argv[0]);
        return 2;
    }
    void *lib[2] = {dlopen(argv[1], RTLD_NOW | RTLD_LOCAL), dlopen(argv[2], RTLD_NOW | RTLD_LOCAL)};
    if (!lib[0] || !lib[1]) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    const int32_t h = atoi(argv[3]), w = atoi(argv[4]), c = atoi(argv[5]), n = atoi(argv[6]), s = atoi(argv[7]);
    const int32_t tile = argc > 8 ? atoi(argv[8]) : 256, kernel = argc > 9 ? atoi(argv[9]) : SKY_GEMM_AVX2_U8;
    const int32_t tile_b = getenv("TILE_B") ? atoi(getenv("TILE_B")) : tile;
    const int fixed = argc > 10 && strcmp(argv[10], "fixed") == 0;
    if (h < 1 || w < 1 || c < 1 || n < 1 || s < 1 || tile < 1 || tile_b < 1) { fprintf(stderr, "sizes must be positive\n"); return 2; }
    const int32_t k = 9 * c, kp = (k + 31) / 32 * 32, m = ((h + 2 - 3) / s + 1) * ((w + 2 - 3) / s + 1);   /* kp: sky_gemm_s8_k_padded's rule */
    const int32_t items = (int32_t)(20e6 / ((double)m * n * k)) + 1;   /* about 20 MMAC per pass */
    int8_t *x = malloc((size_t)items * h * w * c), *wt = malloc((size_t)n * k);
    int8_t *y[2] = {malloc((size_t)items * m * n), malloc((size_t)items * m * n)}, *scratch = malloc((size_t)m * kp);
    int32_t *bias = malloc(4 * (size_t)n), *mult = malloc(4 * (size_t)n), *shift = malloc(4 * (size_t)n);
    float *scale = malloc(4 * (size_t)n);
    srand(1);
    for (size_t i = 0; i < (size_t)items * h * w * c; i++) x[i] = (int8_t)(rand() % 256 - 128);
    for (int32_t i = 0; i < n * k; i++) wt[i] = (int8_t)(rand() % 127 - 63);
    for (int32_t j = 0; j < n; j++) {
        bias[j] = rand() % 10000 - 5000; mult[j] = (1 << 30) + rand() % (1 << 29); shift[j] = -8;
        scale[j] = (float)mult[j] / 2147483648.0f / 256.0f;
    }
    const sky_requant_s8 rq = {mult, shift, -128, -128, 127, 0, 0, 0, fixed ? NULL : scale};
    build b[2];
    for (int v = 0; v < 2; v++) {
        size_fn size = (size_fn)dlsym(lib[v], "sky_conv_s8_packed_size");
        pack_fn pack = (pack_fn)dlsym(lib[v], "sky_conv_s8_pack_for");
        b[v].conv = (conv_fn)dlsym(lib[v], "sky_conv_s8");
        if (!size || !pack || !b[v].conv) { fprintf(stderr, "%s lacks the convolution ABI\n", argv[1 + v]); return 2; }
        b[v].packed = aligned_alloc(64, (size(n, 3, 3, c) + 63) / 64 * 64);
        if (pack(kernel, wt, bias, -100, n, 3, 3, c, b[v].packed) < 0) { fprintf(stderr, "kernel %d not available\n", kernel); return 2; }
        pass(&b[v], x, 1, h, w, c, n, s, v ? tile_b : tile, &rq, y[v], scratch, kp);
    }
    if (memcmp(y[0], y[1], (size_t)m * n) != 0) { printf("the two builds disagree\n"); return 1; }
    enum { ROUNDS = 21 };
    double t[2][ROUNDS], ratio[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        for (int v = 0; v < 2; v++) {
            const double t0 = thread_seconds();
            pass(&b[v], x, items, h, w, c, n, s, v ? tile_b : tile, &rq, y[v], scratch, kp);
            t[v][r] = thread_seconds() - t0;
        }
        ratio[r] = t[0][r] / t[1][r];
    }
    qsort(t[0], ROUNDS, sizeof(double), by_value); qsort(t[1], ROUNDS, sizeof(double), by_value); qsort(ratio, ROUNDS, sizeof(double), by_value);
    const double macs = (double)items * m * n * k;
    printf("%dx%dx%d->%d s%d, tiles %d/%d, kernel %d, %s stage: A %.1f B %.1f GMAC/s, B/A speed median %.3f (IQR %.3f-%.3f)\n", h, w, c, n,
           s, tile, tile_b, kernel, fixed ? "fixed-point" : "float", macs / t[0][ROUNDS / 2] / 1e9, macs / t[1][ROUNDS / 2] / 1e9,
           ratio[ROUNDS / 2], ratio[ROUNDS / 4], ratio[3 * ROUNDS / 4]);
    return 0;
}
