#define _GNU_SOURCE
#include "allocation_counter.h"
#include <stddef.h>
#include <errno.h>

#if defined(__GLIBC__)
/* glibc exports its allocator under these names, so the wrappers can forward
   without dlsym (which itself allocates). */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static __thread int counting;
static __thread long count;
static int interposed;

void *malloc(size_t n) { interposed = 1; if (counting) count++; return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { if (counting) count++; return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { if (counting) count++; return __libc_realloc(p, n); }
void free(void *p) { __libc_free(p); }
void *memalign(size_t al, size_t n) { if (counting) count++; return __libc_memalign(al, n); }
void *aligned_alloc(size_t al, size_t n) { if (counting) count++; return __libc_memalign(al, n); }
int posix_memalign(void **out, size_t al, size_t n) {
    if (counting) count++;
    if (al < sizeof(void *) || (al & (al - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(al, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}

#include <malloc.h>
unsigned long sky_allocations_heap_in_use(void) { return (unsigned long)mallinfo2().uordblks; }

void sky_allocations_begin(void) { count = 0; counting = 1; }
long sky_allocations_end(void) { counting = 0; return count; }
int sky_allocations_supported(void) {
    void *probe = malloc(1); /* sets `interposed` when our malloc is the one called */
    __libc_free(probe);
    return interposed;
}
#else
void sky_allocations_begin(void) {}
long sky_allocations_end(void) { return 0; }
int sky_allocations_supported(void) { return 0; }
unsigned long sky_allocations_heap_in_use(void) { return 0; }
#endif
