/* Stand-alone test of the CSkyKernels int8 GEMM kernels, for targets the Swift
   tests cannot run on (AArch64 under qemu). Every kernel this CPU offers is
   compared with a plain reference (the same TFLite output stage the Swift tests
   prove equal to SkyNN's reference) on random shapes. Exit status 0 = all equal.
   Build: cc -O2 -I Sources/CSkyKernels/include -I Sources/CSkyKernels \
          Tools/kernel-harness/gemm_s8_harness.c Sources/CSkyKernels/{cpu_features,gemm_s8,gemm_s8_x86,gemm_s8_arm}.c */
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

int main(int argc, char **argv) {
    int shapes = argc > 1 ? atoi(argv[1]) : 200;
    uint32_t avail = sky_gemm_s8_available();
    printf("kernels:");
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) printf(" %s", names[kk]);
    printf("\n");
    int failed = 0;
    for (int kk = 0; kk <= SKY_GEMM_NEON_DOT; kk++) if (avail & (1u << kk)) failed |= check(kk, shapes);
    return failed;
}
