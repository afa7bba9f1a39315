#include "sky_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static uint32_t detect(void) {
    uint32_t f = 0, a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (c & bit_SSE4_1) f |= SKY_CPU_SSE41;
    int osxsave = (c & bit_OSXSAVE) != 0;
    int fma = (c & bit_FMA) != 0;
    if (!osxsave) return f;
    uint64_t xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6;           /* SSE and AVX state saved by the OS */
    int zmm = (xcr0 & 0xE6) == 0xE6;         /* plus opmask and upper ZMM state */
    if (__get_cpuid_max(0, 0) < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    if (ymm && (b & bit_AVX2)) f |= SKY_CPU_AVX2;
    if (ymm && fma) f |= SKY_CPU_FMA;
    if (zmm && (b & bit_AVX512F)) f |= SKY_CPU_AVX512F;
    if (zmm && (b & bit_AVX512BW)) f |= SKY_CPU_AVX512BW;
    if (zmm && (c & (1u << 11))) f |= SKY_CPU_AVX512VNNI;
    __cpuid_count(7, 1, a, b, c, d);
    if (ymm && (a & (1u << 4))) f |= SKY_CPU_AVXVNNI;
#if defined(SKY_EMULATE_VNNI) || defined(SKY_EMULATE_AVX512)
    /* Harness builds: the VNNI kernel runs on AVX2 through gemm_s8_vnni.c's emulation. */
    if (f & SKY_CPU_AVX2) f |= SKY_CPU_AVX512BW | SKY_CPU_AVX512VNNI;
#endif
    return f;
}
#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
static uint32_t detect(void) {
    unsigned long hw = getauxval(AT_HWCAP);
    uint32_t f = SKY_CPU_NEON; /* Advanced SIMD is mandatory on AArch64 */
    if (hw & HWCAP_ASIMDDP) f |= SKY_CPU_NEON_DOT;
    return f;
}
#else
static uint32_t detect(void) { return 0; }
#endif

static uint32_t detected;
static int detected_once;
static uint32_t feature_mask = 0xFFFFFFFFu;

uint32_t sky_cpu_features(void) {
    /* Benign race: every thread computes the same value. */
    if (!__atomic_load_n(&detected_once, __ATOMIC_ACQUIRE)) {
        __atomic_store_n(&detected, detect(), __ATOMIC_RELAXED);
        __atomic_store_n(&detected_once, 1, __ATOMIC_RELEASE);
    }
    return __atomic_load_n(&detected, __ATOMIC_RELAXED) & __atomic_load_n(&feature_mask, __ATOMIC_RELAXED);
}

void sky_cpu_set_feature_mask(uint32_t mask) { __atomic_store_n(&feature_mask, mask, __ATOMIC_RELAXED); }
