/* CSkyKernels: int8/fp32 micro-kernels and CPU feature dispatch, behind a tiny C ABI.
   Every kernel here has a plain Swift reference that is its specification, and a
   test that compares the two. */
#ifndef SKY_KERNELS_H
#define SKY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CPU features, detected once at run time. */
enum {
    SKY_CPU_SSE41      = 1u << 0,
    SKY_CPU_AVX2       = 1u << 1,
    SKY_CPU_FMA        = 1u << 2,
    SKY_CPU_AVX512F    = 1u << 3,
    SKY_CPU_AVX512BW   = 1u << 4,
    SKY_CPU_AVX512VNNI = 1u << 5,
    SKY_CPU_AVXVNNI    = 1u << 6,
    SKY_CPU_NEON       = 1u << 16,
    SKY_CPU_NEON_DOT   = 1u << 17,
};

/* Bit set of SKY_CPU_* the processor and the OS (saved vector state) both support. */
uint32_t sky_cpu_features(void);

/* Restricts dispatch to the features in `mask` (for tests and benchmarks that
   compare code paths on one machine). Pass 0xFFFFFFFF to restore. */
void sky_cpu_set_feature_mask(uint32_t mask);

/* The processor's spin-wait hint (x86 pause, ARM yield), for threads that poll a counter:
   it frees the core's shared resources for a sibling hardware thread. */
static inline void sky_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Histogram of 16-bit pixels: hist[v] += number of pixels equal to v.
   hist must hold 65536 counters and is not cleared. NaN-free by construction. */
void sky_histogram_u16(const uint16_t *pixels, size_t count, uint32_t *hist);

/* 3x3 matched filter for source detection. img: background-subtracted pixels,
   ivar: 1 / rms^2 (0 where unknown), both w x h row-major. conv = sum(k img) / ksum;
   snr = sum(k img ivar) / sqrt(sum(k^2 ivar)), 0 where that sum is 0. The kernel is
   clipped at the image border. Reference: SourceFilter.matched in SkyImage. */
void sky_matched_filter_3x3(const float *img, const float *ivar, size_t w, size_t h,
                            const float k[9], float ksum, float *conv, float *snr);
/* One row of the same filter, for processing in row strips: r1/v1 are the row and its
   inverse variance, r0/v0 the row above and r2/v2 the row below (NULL at the image
   border). conv and snr receive w values. Same results as the whole-image call. */
void sky_matched_filter_3x3_row(const float *r0, const float *r1, const float *r2,
                                const float *v0, const float *v1, const float *v2,
                                size_t w, const float k[9], float ksum, float *conv, float *snr);

/* ---- int8 GEMM / implicit-GEMM convolution (TFLite int8 convention) ----
   C[m][n] = requant(bias[n] + sum_k (A[m][k] - zp_in) * W[n][k]).
   A rows hold k_padded int8 values (sky_gemm_s8_k_padded(k)); the tail past k
   must be zero. Weights are packed once (sky_gemm_s8_pack) for the kernel the
   current feature mask selects; sky_gemm_s8 runs whichever kernel packed them. */
enum {
    SKY_GEMM_PORTABLE   = 0,
    SKY_GEMM_AVX2       = 1,
    /* vpdpbusd, unsigned activations x signed weights, any 8-bit weights, in the AVX2 u8
       kernel's layout (gemm_s8_x86_dot_body.h), with zmm register blocks of 16 channels
       (ymm ones in the emulated harness build). sky_gemm_s8_pack_for(SKY_GEMM_AVX512VNNI, ...)
       returns SKY_GEMM_AVX2 (packing for it) for rows longer than 16384, as the u8
       kernel does. */
    SKY_GEMM_AVX512VNNI = 2,
    SKY_GEMM_NEON       = 3,
    SKY_GEMM_NEON_DOT   = 4,
    /* AVX2 with unsigned activations x signed weights (vpmaddubsw), for layers whose
       weights all lie in [-64, 63] (7-bit quantization), where it is exact. Not a bit
       of sky_gemm_s8_available: sky_gemm_s8_pack_for(SKY_GEMM_AVX2_U8, ...) packs for
       it where AVX2 runs, more than 4 channels and every weight fit, and returns
       SKY_GEMM_AVX2 (the exact int16 kernel) otherwise; sky_gemm_s8_pack tries it
       wherever AVX2 is the best kernel. */
    SKY_GEMM_AVX2_U8    = 5,
};

/* Output stage: per-channel Q31 multiplier and shift (as QuantizedMultiplier),
   output zero point, activation clamp, optional leaky-ReLU multiplier applied
   to negative requantized values before the zero point is added.
   float_scale, where not NULL, requantizes in float instead (a layer the model marks so,
   never with a leaky slope): q = clamp(round_half_even(fma((float)acc, float_scale[ch],
   (float)output_zero_point)), act_min, act_max), within one LSB of the fixed-point
   result (Requantization.swift, requantizeInFloat); multiplier and shift must still point
   at n entries (the AVX2 stage reads them while it sets up, though the float stage does
   not use them). */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
    int32_t output_zero_point;
    int32_t act_min;
    int32_t act_max;
    int32_t leaky;
    int32_t leaky_multiplier;
    int32_t leaky_shift;
    const float *float_scale;
} sky_requant_s8;

int32_t sky_gemm_s8_k_padded(int32_t k);
size_t sky_gemm_s8_packed_size(int32_t n, int32_t k);
/* w: n rows of k int8 (OHWI flattened); bias: n int32. Returns the kernel (SKY_GEMM_*). */
int sky_gemm_s8_pack(const int8_t *w, const int32_t *bias, int32_t input_zero_point,
                     int32_t n, int32_t k, void *packed);
int sky_gemm_s8_pack_for(int kernel, const int8_t *w, const int32_t *bias, int32_t input_zero_point,
                         int32_t n, int32_t k, void *packed);
int sky_gemm_s8_kernel(const void *packed);
/* Kernels this build and CPU (under the feature mask) can run, as a bit set of 1 << SKY_GEMM_*. */
uint32_t sky_gemm_s8_available(void);
void sky_gemm_s8(const int8_t *a, size_t lda, int32_t m, const void *packed,
                 const sky_requant_s8 *rq, int8_t *c, size_t ldc);

/* A convolution's weights (n filters of kh x kw x cg, OHWI flattened) packed as
   sky_gemm_s8_pack(_for) packs them with k = kh*kw*cg, plus what sky_conv_s8's direct
   paths need of the kernel geometry: for the AVX2 u8 and VNNI kernels, where kernel rows are not
   whole 4-byte groups (kw*cg % 4 != 0: 1- and 3-channel first layers), a second copy with
   each kernel row padded by zero weights to whole groups. Packed by sky_gemm_s8_pack,
   such layers take the row-gathering path instead. */
size_t sky_conv_s8_packed_size(int32_t n, int32_t kh, int32_t kw, int32_t cg);
int sky_conv_s8_pack(const int8_t *w, const int32_t *bias, int32_t input_zero_point,
                     int32_t n, int32_t kh, int32_t kw, int32_t cg, void *packed);
int sky_conv_s8_pack_for(int kernel, const int8_t *w, const int32_t *bias, int32_t input_zero_point,
                         int32_t n, int32_t kh, int32_t kw, int32_t cg, void *packed);

/* Rows [row0, row0 + rows) of the im2col matrix of one NHWC image, channels
   [c0, c0 + cg) (a group), padding read as zero_point, row tail zeroed to lda. */
void sky_im2col_s8(const int8_t *x, int32_t h, int32_t w, int32_t c,
                   int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pad_top, int32_t pad_left,
                   int32_t out_w, int32_t row0, int32_t rows, int32_t c0, int32_t cg,
                   int8_t zero_point, int8_t *a, size_t lda);

/* Rows [row0, row0 + rows) of a convolution's output (one group: input channels
   [c0, c0 + cg), the weights packed for that group), into y with row stride ldy:
   im2col + sky_gemm_s8, or a kernel that gathers its rows from the image itself.
   scratch: rows x lda bytes (lda >= sky_gemm_s8_k_padded(kh * kw * cg)). */
void sky_conv_s8(const int8_t *x, int32_t h, int32_t w, int32_t c,
                 int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pad_top, int32_t pad_left,
                 int32_t out_w, int32_t row0, int32_t rows, int32_t c0, int32_t cg, int8_t zero_point,
                 const void *packed, const sky_requant_s8 *rq, int8_t *y, size_t ldy,
                 int8_t *scratch, size_t lda);

/* Whether sky_conv_s8 may write its scratch for this layer (weights packed for it, output
   stage rq): where it runs im2col + sky_gemm_s8 (the portable and ARM kernels, and the
   AVX2 kernel where it declines). Where it does not, the kernel reads the image itself and
   a call's rows are not bounded by the scratch: larger calls then spread the per-call set-up
   (output stage, row buffers) over more pixels. */
int sky_conv_s8_uses_scratch(const void *packed, const sky_requant_s8 *rq);

/* Whether sky_conv_s8 runs this layer (weights packed for it, output stage rq) on a
   kernel's direct path, reading kernel rows straight from copies of the input rows: the
   AVX2 int16, u8 and VNNI kernels' (for tests: which shapes exercise it). */
int sky_conv_s8_direct(const void *packed, const sky_requant_s8 *rq, int32_t c, int32_t cg, int32_t kh, int32_t kw, int32_t sw,
                       int32_t out_w);

/* n floats to int8 as QuantParams.quantize does (bit for bit). */
void sky_quantize_f32_s8(const float *x, size_t n, float scale, int32_t zero_point, int8_t *y);

/* Max pooling, valid windows of size x size every stride pixels, over an NHWC image
   w pixels wide with c channels, into oh x ow x c. Reference: Int8Kernels.maxPool. */
void sky_maxpool_s8(const int8_t *x, int32_t w, int32_t c, int32_t size, int32_t stride,
                    int32_t oh, int32_t ow, int8_t *y);

/* Nearest upsampling of an h x w x c image by f in both directions. Reference:
   Int8Kernels.upsampleNearest. */
void sky_upsample_nearest_s8(const int8_t *x, int32_t h, int32_t w, int32_t c, int32_t f, int8_t *y);

/* Depthwise convolution (channel multiplier 1), output pixels [row0, row0 + rows).
   Weights [kh][kw][c]; acc: c int32 of scratch. */
void sky_depthwise_s8(const int8_t *x, int32_t h, int32_t w, int32_t c,
                      int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pad_top, int32_t pad_left,
                      int32_t out_w, int32_t row0, int32_t rows, int32_t input_zero_point,
                      const int8_t *weights, const int32_t *bias, const sky_requant_s8 *rq,
                      int8_t *y, int32_t *acc);

/* Runs iterations x 12 independent 256-bit vpmaddwd (16 int8-as-int16 MACs each);
   for measuring the AVX2 int8 peak. Returns a value that depends on the work; 0 without AVX2. */
uint64_t sky_peak_madd_avx2(uint64_t iterations);
/* The same with each product added into its accumulator (vpmaddwd + vpaddd, the GEMM's
   inner-loop pair): the ceiling of that instruction sequence. */
uint64_t sky_peak_madd_add_avx2(uint64_t iterations);
/* The 7-bit path's sequence: vpmaddubsw (32 u8 x s8 MACs), vpmaddwd by ones, vpaddd. */
uint64_t sky_peak_maddubs_add_avx2(uint64_t iterations);
/* The VNNI kernel's instruction: iterations x 12 independent vpdpbusd chains on ymm (32 MACs
   each), and on zmm (64 MACs each). 0 without AVX-512 VNNI. */
uint64_t sky_peak_dpbusd_avx512vnni(uint64_t iterations);
uint64_t sky_peak_dpbusd_zmm_avx512vnni(uint64_t iterations);

#ifdef __cplusplus
}
#endif
#endif
