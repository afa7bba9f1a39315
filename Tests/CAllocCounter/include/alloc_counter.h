/* Test support: counts heap allocations made by the calling thread.
   The test binary defines malloc/calloc/realloc/posix_memalign/aligned_alloc/
   memalign; an executable's definitions take precedence over libc's for every
   caller in the process (ELF symbol interposition), so the Swift runtime's and
   Foundation's allocations are seen too. Each forwards to glibc's own entry
   point (__libc_malloc and friends), so behaviour is unchanged; only a
   thread-local counter is bumped while counting is on for that thread. */
#ifndef ALLOC_COUNTER_H
#define ALLOC_COUNTER_H
#include <stdint.h>
void alloc_counter_start(void);
/* Allocations on this thread since start; stops counting. */
uint64_t alloc_counter_stop(void);
/* 1 when the interposed malloc is the one the process calls (self-check). */
int alloc_counter_active(void);
/* glibc mallinfo2().uordblks: bytes in use in the malloc arenas. */
uint64_t alloc_counter_heap_in_use(void);
#endif
