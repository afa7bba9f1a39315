/* Counts heap allocations made by the calling thread, for tests that prove a
   hot path allocates nothing (DESIGN.md section 3). Linking this into the test
   binary interposes malloc and friends; every call is forwarded to glibc. */
#ifndef SKY_ALLOCATION_COUNTER_H
#define SKY_ALLOCATION_COUNTER_H
#ifdef __cplusplus
extern "C" {
#endif
/* Starts counting this thread's allocations from zero. */
void sky_allocations_begin(void);
/* Stops counting and returns how many allocations (malloc, calloc, realloc,
   posix_memalign, aligned_alloc, memalign) this thread made since begin. */
long sky_allocations_end(void);
/* 1 when the interposition is active (glibc), else 0: tests skip when it is not. */
int sky_allocations_supported(void);
/* glibc mallinfo2().uordblks: bytes in use in the malloc arenas, process-wide
   (for information: other threads' allocations are in it too). */
unsigned long sky_allocations_heap_in_use(void);
#ifdef __cplusplus
}
#endif
#endif
