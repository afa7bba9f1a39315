/* The int8 peak loops' one shape (gemm_s8_x86.c, gemm_s8_avx2_u8.c, gemm_s8_vnni.c): 12
   independent chains a = step(a) per iteration, so the loop is bound by the instructions'
   throughput, not their latency. Named accumulators, not an array: gcc keeps an array in
   memory across the asm barrier, and the loop then measures store forwarding. The barrier
   keeps the compiler from folding or vectorizing the chains away; the result depends on
   the work, so the call is not dropped. Include inside #if defined(__x86_64__).
     name, target  the function and its target attribute
     vec, set1     the vector type and a byte (or word) broadcast for the start values
     setup         declarations step uses
     step(a)       one link of a chain
     xor, low64    to fold the chains into the returned value */
#ifndef SKY_GEMM_S8_PEAK_H
#define SKY_GEMM_S8_PEAK_H
#define SKY_PEAK_LOOP(name, target, vec, set1, setup, step, xor, low64)                                        \
    target static uint64_t name(uint64_t iterations) {                                                         \
        setup                                                                                                  \
        vec a0 = set1(1), a1 = set1(2), a2 = set1(3), a3 = set1(4), a4 = set1(5), a5 = set1(6);              \
        vec a6 = set1(7), a7 = set1(8), a8 = set1(9), a9 = set1(10), a10 = set1(11), a11 = set1(12);         \
        for (uint64_t i = 0; i < iterations; i++) {                                                            \
            a0 = step(a0); a1 = step(a1); a2 = step(a2); a3 = step(a3); a4 = step(a4); a5 = step(a5);          \
            a6 = step(a6); a7 = step(a7); a8 = step(a8); a9 = step(a9); a10 = step(a10); a11 = step(a11);      \
            __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),                  \
                                  "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));               \
        }                                                                                                      \
        vec s = xor(xor(xor(a0, a1), xor(a2, a3)), xor(xor(a4, a5), xor(a6, a7)));                             \
        s = xor(s, xor(xor(a8, a9), xor(a10, a11)));                                                           \
        return low64(s) | 1;                                                                                   \
    }
#define SKY_LOW64_YMM(s) (uint64_t)_mm256_extract_epi64(s, 0)
#endif
