/*
 * kernels_avx2.c - the inner loops for x86-64 CPUs with AVX2, FMA and F16C
 * (Haswell, Zen and later).  Every function carries the target attribute
 * instead of the whole file being built with -mavx2, so the default build
 * still runs on any x86-64: kernels.c calls into this table only after
 * __builtin_cpu_supports has said yes.  The GGUF-only block types' dots and
 * rows are in kernels_avx2_gguf.c; the helpers both use, in kernels_avx2.h.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels_avx2.h"

/* 8 halves or bfloat16s from memory as f32. */
AVX2_INLINE __m256 load_f16(const uint16_t *p)
{
	return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

AVX2_INLINE __m256 load_bf16(const uint16_t *p)
{
	__m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
	return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

/* The 32 quants of a block as four vectors of 8 f32 (not yet scaled). */
AVX2_INLINE void q8_unpack(const unsigned char *b, __m256 q[4])
{
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++)
		q[j] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + 8 * j))));
}

AVX2_INLINE void q4_unpack(const unsigned char *b, __m256 q[4])
{
	__m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
	__m128i m = _mm_set1_epi8(15), e = _mm_set1_epi8(8);
	__m128i lo = _mm_sub_epi8(_mm_and_si128(v, m), e);                    /* elements 0..15 */
	__m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), e); /* 16..31 */
	q[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
	q[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
	q[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
	q[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* ----------------------------------------------------------------- dots --- */

AVX2 static float avx2_dot_f32(const float *a, const float *b, int64_t n)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 32 <= n; k += 32) {
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(b + k + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(b + k + 24), s3);
	}
	for (; k + 8 <= n; k += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), s0);
	if (k < n) {
		__m256i m = tail_mask(n - k);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + k, m), _mm256_maskload_ps(b + k, m), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

AVX2 static void avx2_axpy_f32(float *y, float a, const float *x, int64_t n)
{
	__m256 va = _mm256_set1_ps(a);
	int64_t k = 0;
	for (; k + 8 <= n; k += 8)
		_mm256_storeu_ps(y + k, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + k), _mm256_loadu_ps(y + k)));
	if (k < n) {
		__m256i m = tail_mask(n - k);
		__m256 v = _mm256_fmadd_ps(va, _mm256_maskload_ps(x + k, m), _mm256_maskload_ps(y + k, m));
		_mm256_maskstore_ps(y + k, m, v);
	}
}

AVX2 static float avx2_dot_w_f32(const void *w, const float *x, int64_t n)
{
	const float *a = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 32 <= n; k += 32) {
		PREFETCH(a + k);
		PREFETCH(a + k + 16);
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(x + k), s0);
		s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(x + k + 8), s1);
		s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(x + k + 16), s2);
		s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(x + k + 24), s3);
	}
	for (; k + 8 <= n; k += 8)
		s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(x + k), s0);
	if (k < n) {
		__m256i m = tail_mask(n - k);
		s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + k, m), _mm256_maskload_ps(x + k, m), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* The dot of a row of 16-bit weights with x: one body for f16 and bf16,
 * inlined into each with a constant `bf`, so the branch in load16 folds. */
AVX2_INLINE __m256 load16(const uint16_t *p, int bf)
{
	return bf ? load_bf16(p) : load_f16(p);
}

AVX2_INLINE float dot16(const uint16_t *h, const float *x, int64_t n, int bf)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 32 <= n; k += 32) {
		PREFETCH(h + k);
		s0 = _mm256_fmadd_ps(load16(h + k, bf), _mm256_loadu_ps(x + k), s0);
		s1 = _mm256_fmadd_ps(load16(h + k + 8, bf), _mm256_loadu_ps(x + k + 8), s1);
		s2 = _mm256_fmadd_ps(load16(h + k + 16, bf), _mm256_loadu_ps(x + k + 16), s2);
		s3 = _mm256_fmadd_ps(load16(h + k + 24, bf), _mm256_loadu_ps(x + k + 24), s3);
	}
	for (; k + 8 <= n; k += 8)
		s0 = _mm256_fmadd_ps(load16(h + k, bf), _mm256_loadu_ps(x + k), s0);
	if (k < n) {
		uint16_t t[8] = {0};
		memcpy(t, h + k, (size_t)(n - k) * 2);
		s1 = _mm256_fmadd_ps(load16(t, bf), _mm256_maskload_ps(x + k, tail_mask(n - k)), s1);
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

AVX2 static float avx2_dot_f16(const void *w, const float *x, int64_t n)
{
	return dot16(w, x, n, 0);
}

AVX2 static float avx2_dot_bf16(const void *w, const float *x, int64_t n)
{
	return dot16(w, x, n, 1);
}

/* Block dots: Σ q·x over the block, then one multiply by d; two block
 * accumulators so consecutive blocks do not wait on each other's FMA. */
AVX2_INLINE __m256 block_dot(const __m256 q[4], const float *x)
{
	__m256 t = _mm256_mul_ps(q[0], _mm256_loadu_ps(x));
	t = _mm256_fmadd_ps(q[1], _mm256_loadu_ps(x + 8), t);
	t = _mm256_fmadd_ps(q[2], _mm256_loadu_ps(x + 16), t);
	return _mm256_fmadd_ps(q[3], _mm256_loadu_ps(x + 24), t);
}

AVX2 static float avx2_dot_q8_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, q[4];
	int64_t k = 0;
	for (; k + 2 * QK <= n; k += 2 * QK, b += 2 * Q8_BYTES) {
		q8_unpack(b, q);
		s0 = _mm256_fmadd_ps(block_dot(q, x + k), _mm256_set1_ps(load_scale(b)), s0);
		q8_unpack(b + Q8_BYTES, q);
		s1 = _mm256_fmadd_ps(block_dot(q, x + k + QK), _mm256_set1_ps(load_scale(b + Q8_BYTES)), s1);
	}
	if (k < n) {
		q8_unpack(b, q);
		s0 = _mm256_fmadd_ps(block_dot(q, x + k), _mm256_set1_ps(load_scale(b)), s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

AVX2 static float avx2_dot_q4_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, q[4];
	int64_t k = 0;
	for (; k + 2 * QK <= n; k += 2 * QK, b += 2 * Q4_BYTES) {
		q4_unpack(b, q);
		s0 = _mm256_fmadd_ps(block_dot(q, x + k), _mm256_set1_ps(load_scale(b)), s0);
		q4_unpack(b + Q4_BYTES, q);
		s1 = _mm256_fmadd_ps(block_dot(q, x + k + QK), _mm256_set1_ps(load_scale(b + Q4_BYTES)), s1);
	}
	if (k < n) {
		q4_unpack(b, q);
		s0 = _mm256_fmadd_ps(block_dot(q, x + k), _mm256_set1_ps(load_scale(b)), s0);
	}
	return hsum(_mm256_add_ps(s0, s1));
}

/* ------------------------------------------------------- rows as f32 --- */

AVX2 static void avx2_row_f32(const void *w, int64_t k0, int64_t kc, float *out)
{
	memcpy(out, (const float *)w + k0, (size_t)kc * 4);
}

AVX2 static void avx2_row_f16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 8 <= kc; k += 8)
		_mm256_storeu_ps(out + k, load_f16(h + k));
	for (; k < kc; k++)
		out[k] = _cvtsh_ss(h[k]);
}

AVX2 static void avx2_row_bf16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 8 <= kc; k += 8)
		_mm256_storeu_ps(out + k, load_bf16(h + k));
	for (; k < kc; k++)
		out[k] = cl_bf16_to_f32(h[k]);
}

AVX2 static void avx2_row_q8_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q8_BYTES;
	__m256 q[4];
	for (int64_t k = 0; k < kc; k += QK, b += Q8_BYTES) {
		__m256 d = _mm256_set1_ps(load_scale(b));
		q8_unpack(b, q);
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			_mm256_storeu_ps(out + k + 8 * j, _mm256_mul_ps(q[j], d));
	}
}

AVX2 static void avx2_row_q4_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q4_BYTES;
	__m256 q[4];
	for (int64_t k = 0; k < kc; k += QK, b += Q4_BYTES) {
		__m256 d = _mm256_set1_ps(load_scale(b));
		q4_unpack(b, q);
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			_mm256_storeu_ps(out + k + 8 * j, _mm256_mul_ps(q[j], d));
	}
}

/* ------------------------------------------------- 8-bit x, int8 dots --- */

/* x in blocks of 32 as struct cl_xq: d = amax/127, q = x/d rounded to
 * nearest even (cvtps), so |q| <= 127 and a Q4_0 maddubs pair stays far
 * from saturating (2·15·127). */
AVX2 void cl_avx2_quant_x(const float *x, int64_t n, int8_t *q, float *d, float *s)
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (int64_t b = 0; b < n / QK; b++) {
		const float *p = x + b * QK;
		__m256 v[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			v[j] = _mm256_loadu_ps(p + 8 * j);
		__m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
					 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
		__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
		h = _mm_max_ps(h, _mm_movehl_ps(h, h));
		h = _mm_max_ss(h, _mm_movehdup_ps(h));
		float amax = _mm_cvtss_f32(h), dd = amax / 127;
		__m256 id = _mm256_set1_ps(dd > 0 ? 1 / dd : 0);
		__m256i i[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			i[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[j], id));
		__m256i sum = _mm256_add_epi32(_mm256_add_epi32(i[0], i[1]), _mm256_add_epi32(i[2], i[3]));
		/* packs work within 128-bit lanes; the permute puts the 32
		 * bytes back in order. */
		__m256i p16a = _mm256_packs_epi32(i[0], i[1]), p16b = _mm256_packs_epi32(i[2], i[3]);
		__m256i p8 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p16a, p16b), perm);
		_mm256_storeu_si256((__m256i *)(q + b * QK), p8);
		__m128i t = _mm_add_epi32(_mm256_castsi256_si128(sum), _mm256_extracti128_si256(sum, 1));
		t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4e));
		t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xb1));
		d[b] = dd;
		s[b] = dd * (float)_mm_cvtsi128_si32(t);
	}
}

AVX2_INLINE __m256 q8_block(const unsigned char *b, const int8_t *xq)
{
	__m256i w = _mm256_loadu_si256((const __m256i *)(b + 2));
	__m256i x = _mm256_loadu_si256((const __m256i *)xq);
	/* maddubs wants one unsigned operand: |w| and x with w's sign. */
	return dot_u8s8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}

AVX2_INLINE __m256 q4_block(const unsigned char *b, const int8_t *xq)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
	__m256i w = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
	return dot_u8s8(w, _mm256_loadu_si256((const __m256i *)xq));
}

AVX2 float cl_avx2_dotq_q8_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	int64_t nb = n / QK, i = 0;
	for (; i + 2 <= nb; i += 2, b += 2 * Q8_BYTES) {
		PREFETCH(b);
		PREFETCH(b + 64);
		s0 = _mm256_fmadd_ps(q8_block(b, x->q + i * QK), _mm256_set1_ps(load_scale(b) * x->d[i]), s0);
		s1 = _mm256_fmadd_ps(q8_block(b + Q8_BYTES, x->q + (i + 1) * QK),
				     _mm256_set1_ps(load_scale(b + Q8_BYTES) * x->d[i + 1]), s1);
	}
	if (i < nb)
		s0 = _mm256_fmadd_ps(q8_block(b, x->q + i * QK), _mm256_set1_ps(load_scale(b) * x->d[i]), s0);
	return hsum(_mm256_add_ps(s0, s1));
}

/* Σ (q - 8)·x = Σ q·x - 8·Σ x: the nibbles go into maddubs unsigned as they
 * are, and the offset comes off once per block through x's s[]. */
AVX2 float cl_avx2_dotq_q4_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	float off = 0;
	int64_t nb = n / QK, i = 0;
	for (; i + 2 <= nb; i += 2, b += 2 * Q4_BYTES) {
		PREFETCH(b);
		float d0 = load_scale(b), d1 = load_scale(b + Q4_BYTES);
		s0 = _mm256_fmadd_ps(q4_block(b, x->q + i * QK), _mm256_set1_ps(d0 * x->d[i]), s0);
		s1 = _mm256_fmadd_ps(q4_block(b + Q4_BYTES, x->q + (i + 1) * QK), _mm256_set1_ps(d1 * x->d[i + 1]), s1);
		off += d0 * x->s[i] + d1 * x->s[i + 1];
	}
	if (i < nb) {
		float d0 = load_scale(b);
		s0 = _mm256_fmadd_ps(q4_block(b, x->q + i * QK), _mm256_set1_ps(d0 * x->d[i]), s0);
		off += d0 * x->s[i];
	}
	return hsum(_mm256_add_ps(s0, s1)) - 8 * off;
}

/* ------------------------------------------------ quantizing weights --- */
/* Bit for bit as cl_quant_q8_0_c / cl_quant_q4_0_c: the same f32 operations
 * in the same order (the build's -std=c11 keeps the compiler from fusing a
 * multiply and an add into an FMA, on either side), and the same rounding:
 * Q8_0 half away from zero, Q4_0 truncation after + 8.5. */

AVX2_INLINE float block_amax(const __m256 v[4])
{
	const __m256 sign = _mm256_set1_ps(-0.0f);
	__m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
				 _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
	__m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
	h = _mm_max_ps(h, _mm_movehl_ps(h, h));
	h = _mm_max_ss(h, _mm_movehdup_ps(h));
	return _mm_cvtss_f32(h);
}

AVX2 void cl_avx2_quant_q8_0(const float *x, int64_t n, unsigned char *out)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.5f);
	const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
	const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
	for (int64_t k = 0; k < n; k += QK, out += Q8_BYTES) {
		__m256 v[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			v[j] = _mm256_loadu_ps(x + k + 8 * j);
		float amax = block_amax(v);
		float d = amax / 127, id = d > 0 ? 1 / d : 0;
		uint16_t h = cl_f32_to_f16(d);
		memcpy(out, &h, 2);
		__m256 vid = _mm256_set1_ps(id);
		__m256i q[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			__m256 t = _mm256_mul_ps(v[j], vid);
			/* ±0.5 with t's sign: the same sum as (t >= 0 ? 0.5 : -0.5)
			 * except at t = -0, where both truncate to 0. */
			t = _mm256_add_ps(t, _mm256_or_ps(half, _mm256_and_ps(t, sign)));
			q[j] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(t, lo), hi));
		}
		__m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
		_mm256_storeu_si256((__m256i *)(out + 2), _mm256_permutevar8x32_epi32(p, perm));
	}
}

/* 16 int32 (two vectors) to 16 bytes in order. */
AVX2_INLINE __m128i pack16(__m256i a, __m256i b)
{
	__m256i p = _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xd8);
	return _mm_packus_epi16(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

AVX2 void cl_avx2_quant_q4_0(const float *x, int64_t n, unsigned char *out)
{
	const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps();
	const __m256 off = _mm256_set1_ps(8.5f), top = _mm256_set1_ps(15.0f);
	for (int64_t k = 0; k < n; k += QK, out += Q4_BYTES) {
		__m256 v[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++)
			v[j] = _mm256_loadu_ps(x + k + 8 * j);
		float amax = block_amax(v), m = 0;
		if (amax > 0) {
			/* The first element of largest magnitude, with its sign. */
			__m256 a = _mm256_set1_ps(amax);
			uint32_t bits = 0;
#pragma GCC unroll 4
			for (int j = 0; j < 4; j++)
				bits |= (uint32_t)_mm256_movemask_ps(
						_mm256_cmp_ps(_mm256_andnot_ps(sign, v[j]), a, _CMP_EQ_OQ))
					<< (8 * j);
			m = x[k + __builtin_ctz(bits)];
		}
		float d = m / -8, id = d != 0 ? 1 / d : 0;
		uint16_t h = cl_f32_to_f16(d);
		memcpy(out, &h, 2);
		__m256 vid = _mm256_set1_ps(id);
		__m256i q[4];
#pragma GCC unroll 4
		for (int j = 0; j < 4; j++) {
			__m256 t = _mm256_add_ps(_mm256_mul_ps(v[j], vid), off);
			q[j] = _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(t, zero), top));
		}
		__m128i lo = pack16(q[0], q[1]), hi = pack16(q[2], q[3]);
		_mm_storeu_si128((__m128i *)(out + 2), _mm_or_si128(lo, _mm_slli_epi16(hi, 4)));
	}
}

/* ----------------------------------------------------------------- gemm --- */

/* An MI x MR block of dot products over kc: MI rows of x against MR weight
 * rows, MI·MR accumulators (4 x 3 = 12 of the 16 ymm registers, plus 3 for
 * the weights and one for x).  Each 8-wide step loads 7 vectors for 12 FMAs,
 * within what two load ports feed.  Instantiated with constant MI and MR, so
 * the loops unroll and the arrays live in registers. */
AVX2_INLINE void avx2_mk(const int MI, const int MR, int64_t kc, const float *x, int64_t ldx,
			 const float *w, int64_t ldw, float *y, int64_t ldy)
{
	__m256 acc[4][3];
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 3
		for (int r = 0; r < MR; r++)
			acc[i][r] = _mm256_setzero_ps();
	int64_t k = 0;
	for (; k + 8 <= kc; k += 8) {
		__m256 wv[3];
#pragma GCC unroll 3
		for (int r = 0; r < MR; r++)
			wv[r] = _mm256_loadu_ps(w + r * ldw + k);
#pragma GCC unroll 4
		for (int i = 0; i < MI; i++) {
			__m256 xv = _mm256_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 3
			for (int r = 0; r < MR; r++)
				acc[i][r] = _mm256_fmadd_ps(xv, wv[r], acc[i][r]);
		}
	}
	if (k < kc) {
		__m256i m = tail_mask(kc - k);
		__m256 wv[3];
#pragma GCC unroll 3
		for (int r = 0; r < MR; r++)
			wv[r] = _mm256_maskload_ps(w + r * ldw + k, m);
#pragma GCC unroll 4
		for (int i = 0; i < MI; i++) {
			__m256 xv = _mm256_maskload_ps(x + i * ldx + k, m);
#pragma GCC unroll 3
			for (int r = 0; r < MR; r++)
				acc[i][r] = _mm256_fmadd_ps(xv, wv[r], acc[i][r]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 3
		for (int r = 0; r < MR; r++)
			y[i * ldy + r] += hsum(acc[i][r]);
}

/* All rows of x against MR weight rows. */
AVX2_INLINE void avx2_mk_rows(const int MR, int64_t ni, int64_t kc, const float *x, int64_t ldx,
			      const float *w, int64_t ldw, float *y, int64_t ldy)
{
	int64_t i = 0;
	for (; i + 4 <= ni; i += 4)
		avx2_mk(4, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy);
	switch (ni - i) {
	case 3: avx2_mk(3, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 2: avx2_mk(2, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 1: avx2_mk(1, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	}
}

AVX2 static void avx2_gemm(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
			   const float *w, int64_t ldw, float *y, int64_t ldy)
{
	int64_t r = 0;
	for (; r + 3 <= nr; r += 3)
		avx2_mk_rows(3, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy);
	if (nr - r == 2)
		avx2_mk_rows(2, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy);
	else if (nr - r == 1)
		avx2_mk_rows(1, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy);
}

/* ------------------------------------------------------ packed gemm --- */

/* 8 vectors of 8 as their transpose: v[j] lane r becomes v[r] lane j. */
AVX2_INLINE void transpose8(__m256 v[8])
{
	__m256 t[8], u[8];
#pragma GCC unroll 4
	for (int j = 0; j < 8; j += 2) {
		t[j] = _mm256_unpacklo_ps(v[j], v[j + 1]);
		t[j + 1] = _mm256_unpackhi_ps(v[j], v[j + 1]);
	}
#pragma GCC unroll 2
	for (int j = 0; j < 8; j += 4) {
		u[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
		u[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
		u[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
		u[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
	}
#pragma GCC unroll 4
	for (int j = 0; j < 4; j++) {
		v[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20);
		v[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
	}
}

AVX2 void cl_avx2_pack(const float *t, int64_t ldt, int64_t kc, float *p)
{
	int64_t k = 0;
	for (; k + 8 <= kc; k += 8)
#pragma GCC unroll 2
		for (int h = 0; h < PANEL; h += 8) {
			__m256 v[8];
#pragma GCC unroll 8
			for (int r = 0; r < 8; r++)
				v[r] = _mm256_loadu_ps(t + (h + r) * ldt + k);
			transpose8(v);
#pragma GCC unroll 8
			for (int j = 0; j < 8; j++)
				_mm256_storeu_ps(p + (k + j) * PANEL + h, v[j]);
		}
	for (; k < kc; k++)
		for (int r = 0; r < PANEL; r++)
			p[k * PANEL + r] = t[r * ldt + k];
}

/* MI rows of x against a panel: 2·MI accumulators (12 of the 16 ymm
 * registers at MI = 6, plus 2 for the panel and one for x), each step two
 * loads and MI broadcasts for 2·MI FMAs, from data that stays in L1 (a
 * panel of kc = 256 is 16 KiB).  With everything in L1 it runs at 80 % of
 * the FMA probe on Zen 3, where avx2_gemm's dot-product tiles run at 72 %
 * (panels of 24 or 32 rows, fewer broadcasts per FMA: no faster).
 *
 * Each output sums its terms one after another in a register, so over a
 * long k it would round more than the dot products' 32 partial sums do;
 * moving the registers into running sums every MP_K steps keeps it as
 * close to the reference (stories260K logits: max |d| 6.2e-6, against
 * 1.9e-5 with whole 256-column blocks; the dot products: 5.7e-6) at no
 * cost measured (MP_K, kernels_avx2.h). */
#define NW (PANEL / 8) /* vectors of weights per step */
#define MI_MAX 6       /* rows of x per call */

AVX2_INLINE void avx2_mp(const int MI, int64_t nr, int64_t kc, const float *x, int64_t ldx,
			 const float *p, float *y, int64_t ldy)
{
	__m256 sum[MI_MAX][NW];
#pragma GCC unroll 6
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
		for (int j = 0; j < NW; j++)
			sum[i][j] = _mm256_setzero_ps();
	for (int64_t k0 = 0; k0 < kc; k0 += MP_K) {
		int64_t k1 = kc - k0 < MP_K ? kc : k0 + MP_K;
		__m256 acc[MI_MAX][NW];
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
			for (int j = 0; j < NW; j++)
				acc[i][j] = _mm256_setzero_ps();
#pragma GCC unroll 4
		for (int64_t k = k0; k < k1; k++) {
			__m256 w[NW];
#pragma GCC unroll 4
			for (int j = 0; j < NW; j++)
				w[j] = _mm256_loadu_ps(p + k * PANEL + 8 * j);
#pragma GCC unroll 6
			for (int i = 0; i < MI; i++) {
				__m256 xv = _mm256_broadcast_ss(x + i * ldx + k);
#pragma GCC unroll 4
				for (int j = 0; j < NW; j++)
					acc[i][j] = _mm256_fmadd_ps(xv, w[j], acc[i][j]);
			}
		}
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
			for (int j = 0; j < NW; j++)
				sum[i][j] = _mm256_add_ps(sum[i][j], acc[i][j]);
	}
#pragma GCC unroll 4
	for (int j = 0; j < NW; j++) {
		int64_t nj = nr - 8 * j;
		__m256i m = tail_mask(nj < 0 ? 0 : nj > 8 ? 8 : nj);
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++) {
			float *yi = y + i * ldy + 8 * j;
			_mm256_maskstore_ps(yi, m, _mm256_add_ps(_mm256_maskload_ps(yi, m), sum[i][j]));
		}
	}
}

AVX2 static void avx2_gemm_p(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
			     const float *p, int64_t ldp, float *y, int64_t ldy)
{
	int64_t i = 0;
	for (; i + MI_MAX <= ni; i += MI_MAX)
		avx2_mp(MI_MAX, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy);
	switch (ni - i) {
	case 5: avx2_mp(5, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy); break;
	case 4: avx2_mp(4, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy); break;
	case 3: avx2_mp(3, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy); break;
	case 2: avx2_mp(2, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy); break;
	case 1: avx2_mp(1, nr, kc, x + i * ldx, ldx, p, y + i * ldy, ldy); break;
	}
}

const struct cl_kern cl_kern_avx2 = {
	.name = "avx2",
	.dot = {avx2_dot_w_f32, avx2_dot_f16, avx2_dot_bf16, avx2_dot_q8_0, avx2_dot_q4_0},
	.row_f32 = {avx2_row_f32, avx2_row_f16, avx2_row_bf16, avx2_row_q8_0, avx2_row_q4_0,
		    [CL_DTYPE_Q4_1] = cl_avx2_row_q4_1, [CL_DTYPE_Q5_0] = cl_avx2_row_q5_0,
		    [CL_DTYPE_Q5_1] = cl_avx2_row_q5_1, [CL_DTYPE_Q2_K] = cl_avx2_row_q2_k,
		    [CL_DTYPE_Q3_K] = cl_avx2_row_q3_k, [CL_DTYPE_Q4_K] = cl_avx2_row_q4_k,
		    [CL_DTYPE_Q6_K] = cl_avx2_row_q6_k},
	.gemm = avx2_gemm,
	.pack = cl_avx2_pack,
	.panels = 1,
	.gemm_p = avx2_gemm_p,
	.dot_f32 = avx2_dot_f32,
	.axpy_f32 = avx2_axpy_f32,
	.quant_x = cl_avx2_quant_x,
	.dotq = {[CL_DTYPE_Q8_0] = cl_avx2_dotq_q8_0, [CL_DTYPE_Q4_0] = cl_avx2_dotq_q4_0,
		 [CL_DTYPE_Q4_1] = cl_avx2_dotq_q4_1, [CL_DTYPE_Q5_0] = cl_avx2_dotq_q5_0,
		 [CL_DTYPE_Q5_1] = cl_avx2_dotq_q5_1, [CL_DTYPE_Q2_K] = cl_avx2_dotq_q2_k,
		 [CL_DTYPE_Q3_K] = cl_avx2_dotq_q3_k, [CL_DTYPE_Q4_K] = cl_avx2_dotq_q4_k,
		 [CL_DTYPE_Q5_K] = cl_avx2_dotq_q5_k, [CL_DTYPE_Q6_K] = cl_avx2_dotq_q6_k},
	.quant_row = {[CL_DTYPE_Q8_0] = cl_avx2_quant_q8_0, [CL_DTYPE_Q4_0] = cl_avx2_quant_q4_0},
};
#endif
