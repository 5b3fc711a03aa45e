/*
 * ggml_quants.h - ggml's Q8_0 and Q4_0 block formats (internal to lib/).
 *
 * Both formats cut a row into blocks of QF_QK = 32 values; each block has
 * one scale d, stored as IEEE binary16, and 32 small integer codes; the
 * value of code q is q * d (d widened to f32, the product in f32).
 *
 *   Q8_0  codes in [-127, 127]; a block is 34 bytes: d, then 32 int8.
 *   Q4_0  codes in [-8, 7]; a block is 18 bytes: d, then 16 bytes where
 *         byte j holds code j + 8 in its low nibble and code j + 16 + 8
 *         in its high nibble.
 *
 * Here codes are always int8_t, one per value, and scales uint16_t (the
 * binary16 bits), one per block: the "split" form.  The pack/unpack
 * functions convert between it and ggml's bytes.  n, the number of
 * values, must be a multiple of QF_QK everywhere.
 *
 * The quantizers reproduce ggml's reference quantizers
 * (quantize_row_q8_0_ref, quantize_row_q4_0_ref in ggml-quants.c) and
 * the numpy implementation published with llama.cpp (gguf-py
 * quants.py), code for code and scale bit for bit:
 *
 *   Q8_0  amax = max |x|, d = amax / 127, id = d ? 1/d : 0 (all f32),
 *         q = roundf(x * id) (halves away from zero), scale = f16(d).
 *   Q4_0  m = the x of largest |x| (the first one), d = m / -8,
 *         id = d ? 1/d : 0, q = min(15, trunc(x * id + 8.5)) - 8,
 *         scale = f16(d).
 *
 * f16() rounds to nearest, ties to even.  For Q4_0, x * id + 8.5 is
 * evaluated exactly (in double, where it is exact whenever the result
 * is near an integer), as gguf-py does and as ggml's C code does when
 * the compiler fuses the multiply-add; ggml compiled without fused
 * multiply-adds rounds x * id to f32 first and can give a code one
 * higher when x * id lies within half an f32 ulp below k + 0.5.
 *
 * Outside the reference: a NaN value is left out of amax / m and gets
 * code 0 (Q8_0) or -8 (Q4_0) - nibble 0; so does any x * id that is not
 * finite (an infinity in the block, or a block so small that 1/d
 * overflows - its scale is then f16 zero anyway).  This is what the
 * reference yields on x86; in C it would be undefined behaviour.
 */
#ifndef QF_GGML_QUANTS_H
#define QF_GGML_QUANTS_H

#include <stddef.h>
#include <stdint.h>

#define QF_QK 32		/* values per block */
#define QF_Q8_0_BYTES 34	/* bytes per Q8_0 block */
#define QF_Q4_0_BYTES 18	/* bytes per Q4_0 block */

/* Quantize n values: n / 32 scales, n codes. */
void qf_q8_0_quantize(const float *x, size_t n, uint16_t *scales,
		      int8_t *codes);
void qf_q4_0_quantize(const float *x, size_t n, uint16_t *scales,
		      int8_t *codes);

/* y[i] = codes[i] * f32(scales[i / 32]).  Same for both formats; the
 * two names say which code range is meant. */
void qf_q8_0_dequantize(const uint16_t *scales, const int8_t *codes,
			size_t n, float *y);
void qf_q4_0_dequantize(const uint16_t *scales, const int8_t *codes,
			size_t n, float *y);

/* Split form <-> ggml bytes (n / 32 blocks).  Q4_0 packing keeps the
 * low 4 bits of code + 8, so codes must lie in [-8, 7]. */
void qf_q8_0_pack(const uint16_t *scales, const int8_t *codes, size_t n,
		  unsigned char *blocks);
void qf_q8_0_unpack(const unsigned char *blocks, size_t n, uint16_t *scales,
		    int8_t *codes);
void qf_q4_0_pack(const uint16_t *scales, const int8_t *codes, size_t n,
		  unsigned char *blocks);
void qf_q4_0_unpack(const unsigned char *blocks, size_t n, uint16_t *scales,
		    int8_t *codes);

/* Straight between floats and ggml bytes. */
void qf_q8_0_quantize_blocks(const float *x, size_t n, unsigned char *blocks);
void qf_q4_0_quantize_blocks(const float *x, size_t n, unsigned char *blocks);
void qf_q8_0_dequantize_blocks(const unsigned char *blocks, size_t n,
			       float *y);
void qf_q4_0_dequantize_blocks(const unsigned char *blocks, size_t n,
			       float *y);

#endif
