#include "sky_kernels.h"

/* Counts go to one of two tables by pixel parity of position so that runs of
   equal neighbours (flat sky) do not serialize on one counter's
   store-to-load dependency; the tables are summed at the end. */
void sky_histogram_u16(const uint16_t *p, size_t n, uint32_t *hist) {
    static __thread uint32_t second[65536];
    size_t i = 0;
    for (; i + 2 <= n; i += 2) {
        hist[p[i]]++;
        second[p[i + 1]]++;
    }
    if (i < n) hist[p[i]]++;
    for (size_t v = 0; v < 65536; ++v) {
        hist[v] += second[v];
        second[v] = 0;
    }
}
