#include <fitsio.h>
// zlib is cfitsio's own dependency; SkyImage uses it to measure what a .fits.gz
// expands to before cfitsio decompresses the whole file into memory.
#include <zlib.h>
