/*
 * kernels_avx2.h - private to kernels_avx2*.c and kernels_avx512.c: the AVX2 target attributes
 * and the small inline helpers the AVX2 files share.
 */
#ifndef CL_KERNELS_AVX2_H
#define CL_KERNELS_AVX2_H

#include <immintrin.h>

#include "kernels_impl.h"

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX2_INLINE __attribute__((target("avx2,fma,f16c"), always_inline)) static inline

/* Matvec loops ask for the weights this many bytes ahead: the hardware
 * prefetcher alone leaves the memory idle while a core converts f16 or
 * unpacks blocks (measured on Zen 1: f16 8 -> 11 GB/s, q8_0 7 -> 9 GB/s per
 * core; 2048 and 4096 were close).  A prefetch past the end of the matrix is
 * harmless: it never faults. */
#define PF_DIST 4096

/* The packed products (gemm_p) add their registers into running sums every
 * MP_K steps of k, so that over a long k they round about as little as the
 * dot products do (kernels_avx2.c, avx2_mp). */
#define MP_K 16
#define PREFETCH(p) _mm_prefetch((const char *)(p) + PF_DIST, _MM_HINT_T0)

/* mask(n): the first n of 8 lanes set, for the tail of a row. */
static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

AVX2_INLINE __m256i tail_mask(int64_t n)
{
	return _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - n));
}

AVX2_INLINE float hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}

AVX2_INLINE float load_scale(const unsigned char *b)
{
	uint16_t h;
	memcpy(&h, b, 2);
	return _cvtsh_ss(h);
}

/* Σ over 32 lanes of u8 · s8, as 8 lanes of int32 in f32. */
AVX2_INLINE __m256 dot_u8s8(__m256i u, __m256i v)
{
	__m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(u, v), _mm256_set1_epi16(1));
	return _mm256_cvtepi32_ps(p);
}

#endif
