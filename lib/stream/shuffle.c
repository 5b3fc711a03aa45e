/*
 * shuffle.c - the byte-shuffle filter of the stream format
 * (formats/stream.md, "Filters").
 */
#include <stddef.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "stream/stream_impl.h"

/* Byte-shuffle n bytes of s-byte elements: all first bytes, then all
 * second bytes, ... (as Blosc does).  n is a multiple of s.  2- and
 * 4-byte elements (f16, bf16, f32, i32, ...) take an SSE2 path, about ten
 * times faster than the byte loops, which do the rest and the tails.
 * SSE2 is part of x86-64, so no run-time dispatch is needed. */
#if defined(__SSE2__)
/* 16 elements of 4 bytes per step: bytes gathered by significance with
 * three rounds of byte interleaving. */
static size_t shuffle4_sse2(unsigned char *dst, const unsigned char *src,
			    size_t m)
{
	size_t i;

	for (i = 0; i + 16 <= m; i += 16) {
		const unsigned char *s = src + 4 * i;
		__m128i a0 = _mm_loadu_si128((const __m128i *)s);
		__m128i a1 = _mm_loadu_si128((const __m128i *)(s + 16));
		__m128i a2 = _mm_loadu_si128((const __m128i *)(s + 32));
		__m128i a3 = _mm_loadu_si128((const __m128i *)(s + 48));
		__m128i b0 = _mm_unpacklo_epi8(a0, a1);
		__m128i b1 = _mm_unpackhi_epi8(a0, a1);
		__m128i b2 = _mm_unpacklo_epi8(a2, a3);
		__m128i b3 = _mm_unpackhi_epi8(a2, a3);
		__m128i c0 = _mm_unpacklo_epi8(b0, b1);
		__m128i c1 = _mm_unpackhi_epi8(b0, b1);
		__m128i c2 = _mm_unpacklo_epi8(b2, b3);
		__m128i c3 = _mm_unpackhi_epi8(b2, b3);
		__m128i d0 = _mm_unpacklo_epi8(c0, c1);
		__m128i d1 = _mm_unpackhi_epi8(c0, c1);
		__m128i d2 = _mm_unpacklo_epi8(c2, c3);
		__m128i d3 = _mm_unpackhi_epi8(c2, c3);
		_mm_storeu_si128((__m128i *)(dst + i), _mm_unpacklo_epi64(d0, d2));
		_mm_storeu_si128((__m128i *)(dst + m + i), _mm_unpackhi_epi64(d0, d2));
		_mm_storeu_si128((__m128i *)(dst + 2 * m + i), _mm_unpacklo_epi64(d1, d3));
		_mm_storeu_si128((__m128i *)(dst + 3 * m + i), _mm_unpackhi_epi64(d1, d3));
	}
	return i;
}

static size_t unshuffle4_sse2(unsigned char *dst, const unsigned char *src,
			      size_t m)
{
	size_t i;

	for (i = 0; i + 16 <= m; i += 16) {
		__m128i s0 = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i s1 = _mm_loadu_si128((const __m128i *)(src + m + i));
		__m128i s2 = _mm_loadu_si128((const __m128i *)(src + 2 * m + i));
		__m128i s3 = _mm_loadu_si128((const __m128i *)(src + 3 * m + i));
		__m128i x0 = _mm_unpacklo_epi8(s0, s1);
		__m128i x1 = _mm_unpackhi_epi8(s0, s1);
		__m128i x2 = _mm_unpacklo_epi8(s2, s3);
		__m128i x3 = _mm_unpackhi_epi8(s2, s3);
		unsigned char *d = dst + 4 * i;
		_mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi16(x0, x2));
		_mm_storeu_si128((__m128i *)(d + 16), _mm_unpackhi_epi16(x0, x2));
		_mm_storeu_si128((__m128i *)(d + 32), _mm_unpacklo_epi16(x1, x3));
		_mm_storeu_si128((__m128i *)(d + 48), _mm_unpackhi_epi16(x1, x3));
	}
	return i;
}

/* 16 elements of 2 bytes per step: low bytes packed, then high bytes. */
static size_t shuffle2_sse2(unsigned char *dst, const unsigned char *src,
			    size_t m)
{
	const __m128i lo = _mm_set1_epi16(0xff);
	size_t i;

	for (i = 0; i + 16 <= m; i += 16) {
		__m128i a0 = _mm_loadu_si128((const __m128i *)(src + 2 * i));
		__m128i a1 = _mm_loadu_si128((const __m128i *)(src + 2 * i + 16));
		_mm_storeu_si128((__m128i *)(dst + i),
				 _mm_packus_epi16(_mm_and_si128(a0, lo),
						  _mm_and_si128(a1, lo)));
		_mm_storeu_si128((__m128i *)(dst + m + i),
				 _mm_packus_epi16(_mm_srli_epi16(a0, 8),
						  _mm_srli_epi16(a1, 8)));
	}
	return i;
}

static size_t unshuffle2_sse2(unsigned char *dst, const unsigned char *src,
			      size_t m)
{
	size_t i;

	for (i = 0; i + 16 <= m; i += 16) {
		__m128i s0 = _mm_loadu_si128((const __m128i *)(src + i));
		__m128i s1 = _mm_loadu_si128((const __m128i *)(src + m + i));
		_mm_storeu_si128((__m128i *)(dst + 2 * i), _mm_unpacklo_epi8(s0, s1));
		_mm_storeu_si128((__m128i *)(dst + 2 * i + 16), _mm_unpackhi_epi8(s0, s1));
	}
	return i;
}
#endif

/* Elements [i0, m) the plain way. */
static void shuffle_tail(unsigned char *dst, const unsigned char *src,
			 size_t m, size_t s, size_t i0)
{
	for (size_t j = 0; j < s; j++)
		for (size_t i = i0; i < m; i++)
			dst[j * m + i] = src[i * s + j];
}

static void unshuffle_tail(unsigned char *dst, const unsigned char *src,
			   size_t m, size_t s, size_t i0)
{
	for (size_t j = 0; j < s; j++)
		for (size_t i = i0; i < m; i++)
			dst[i * s + j] = src[j * m + i];
}

void qf_shuffle(unsigned char *dst, const unsigned char *src, size_t n,
		    size_t s)
{
	size_t m = n / s, i = 0;

#if defined(__SSE2__)
	if (s == 4)
		i = shuffle4_sse2(dst, src, m);
	else if (s == 2)
		i = shuffle2_sse2(dst, src, m);
#endif
	shuffle_tail(dst, src, m, s, i);
}

void qf_unshuffle(unsigned char *dst, const unsigned char *src, size_t n,
		      size_t s)
{
	size_t m = n / s, i = 0;

#if defined(__SSE2__)
	if (s == 4)
		i = unshuffle4_sse2(dst, src, m);
	else if (s == 2)
		i = unshuffle2_sse2(dst, src, m);
#endif
	unshuffle_tail(dst, src, m, s, i);
}
