/*
 * kernels_avx2_gguf.c - the AVX2 dots (x at 8 bits) and row conversions of
 * the block types only GGUF files hold: Q4_1, Q5_0, Q5_1 and the k-quants
 * Q2_K..Q6_K, each bit for bit as quants.c's reference dequantizes them
 * (kernels_avx2.c has the table that names them; the AVX-512 tables take
 * them too).
 */
#if defined(__x86_64__)
#include "kernels_avx2.h"

/* Q4_1, Q5_0 and Q5_1 (GGUF's other 32-element blocks) against x at 8 bits:
 * q unsigned (0-15, 0-31) into maddubs as it is, and the offset (Q4_1's and
 * Q5_1's min m, Q5_0's -16·d) once per block through x's s[]:
 * Σ (d·q + m)·x = d·xd·Σ q·q' + m·xs. */
AVX2_INLINE __m256i nibbles(const unsigned char *qs)
{
	__m128i v = _mm_loadu_si128((const __m128i *)qs);
	return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(15));
}

/* A block's 32 fifth bits (qh, bit j for element j) as 0x10 in byte j. */
AVX2_INLINE __m256i fifth_bits(const unsigned char *qh)
{
	uint32_t u;
	memcpy(&u, qh, 4);
	/* Byte j gets qh's byte j / 8, then is all ones where its bit j % 8 is. */
	const __m256i pick = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
	__m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)u), pick);
	b = _mm256_or_si256(b, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
	return _mm256_and_si256(_mm256_cmpeq_epi8(b, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

/* The 32 unsigned quants of a block of type t at b. */
AVX2_INLINE __m256i q_small(enum cl_dtype t, const unsigned char *b)
{
	if (t == CL_DTYPE_Q4_1)
		return nibbles(b + 4);
	if (t == CL_DTYPE_Q5_0)
		return _mm256_or_si256(nibbles(b + 6), fifth_bits(b + 2));
	return _mm256_or_si256(nibbles(b + 8), fifth_bits(b + 4));
}

AVX2_INLINE float dotq_small(enum cl_dtype t, const unsigned char *b, const struct cl_xq *x, int64_t n)
{
	size_t bb = t == CL_DTYPE_Q4_1 ? 20 : t == CL_DTYPE_Q5_0 ? 22 : 24;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	float off = 0;
	int64_t nb = n / QK, i = 0;
	for (; i + 2 <= nb; i += 2, b += 2 * bb) {
		PREFETCH(b + 2 * bb);
		float d0 = load_scale(b), d1 = load_scale(b + bb);
		s0 = _mm256_fmadd_ps(dot_u8s8(q_small(t, b), _mm256_loadu_si256((const __m256i *)(x->q + i * QK))),
				     _mm256_set1_ps(d0 * x->d[i]), s0);
		s1 = _mm256_fmadd_ps(dot_u8s8(q_small(t, b + bb), _mm256_loadu_si256((const __m256i *)(x->q + (i + 1) * QK))),
				     _mm256_set1_ps(d1 * x->d[i + 1]), s1);
		off += t == CL_DTYPE_Q5_0 ? -16 * (d0 * x->s[i] + d1 * x->s[i + 1])
					  : load_scale(b + 2) * x->s[i] + load_scale(b + bb + 2) * x->s[i + 1];
	}
	if (i < nb) {
		float d0 = load_scale(b);
		s0 = _mm256_fmadd_ps(dot_u8s8(q_small(t, b), _mm256_loadu_si256((const __m256i *)(x->q + i * QK))),
				     _mm256_set1_ps(d0 * x->d[i]), s0);
		off += t == CL_DTYPE_Q5_0 ? -16 * d0 * x->s[i] : load_scale(b + 2) * x->s[i];
	}
	return hsum(_mm256_add_ps(s0, s1)) + off;
}

AVX2 float cl_avx2_dotq_q4_1(const void *w, const struct cl_xq *x, int64_t n)
{
	return dotq_small(CL_DTYPE_Q4_1, w, x, n);
}
AVX2 float cl_avx2_dotq_q5_0(const void *w, const struct cl_xq *x, int64_t n)
{
	return dotq_small(CL_DTYPE_Q5_0, w, x, n);
}
AVX2 float cl_avx2_dotq_q5_1(const void *w, const struct cl_xq *x, int64_t n)
{
	return dotq_small(CL_DTYPE_Q5_1, w, x, n);
}

/* 32 quants of two sub-blocks of 16 as f32, the reference's bits: da·q - ma
 * and db·q - mb, each product rounded before the difference (no FMA). */
AVX2_INLINE void store_two_subblocks(__m256i q, int is_signed, float da, float ma, float db, float mb, float *out)
{
	__m128i h[2] = {_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1)};
	for (int g = 0; g < 4; g++) {
		__m128i v = g & 1 ? _mm_srli_si128(h[g / 2], 8) : h[g / 2];
		__m256 f = _mm256_cvtepi32_ps(is_signed ? _mm256_cvtepi8_epi32(v) : _mm256_cvtepu8_epi32(v));
		f = _mm256_mul_ps(f, _mm256_set1_ps(g < 2 ? da : db));
		_mm256_storeu_ps(out + 8 * g, _mm256_sub_ps(f, _mm256_set1_ps(g < 2 ? ma : mb)));
	}
}

/* Their rows as f32, the reference's bits: (float)q·d + m, and Q5_0's
 * (q - 16)·d. */
AVX2_INLINE void row_small(enum cl_dtype t, const void *w, int64_t k0, int64_t kc, float *out)
{
	size_t bb = t == CL_DTYPE_Q4_1 ? 20 : t == CL_DTYPE_Q5_0 ? 22 : 24;
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * bb;
	for (int64_t k = 0; k < kc; k += QK, b += bb) {
		__m256i q = q_small(t, b);
		if (t == CL_DTYPE_Q5_0)
			q = _mm256_sub_epi8(q, _mm256_set1_epi8(16));
		/* q·d + m as q·d - (-m), the same bits; Q5_0 takes off +0, which
		 * keeps a product of -0 as the reference does. */
		float d = load_scale(b), m = t == CL_DTYPE_Q5_0 ? 0 : -load_scale(b + 2);
		store_two_subblocks(q, t == CL_DTYPE_Q5_0, d, m, d, m, out + k);
	}
}

AVX2 void cl_avx2_row_q4_1(const void *w, int64_t k0, int64_t kc, float *out)
{
	row_small(CL_DTYPE_Q4_1, w, k0, kc, out);
}
AVX2 void cl_avx2_row_q5_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	row_small(CL_DTYPE_Q5_0, w, k0, kc, out);
}
AVX2 void cl_avx2_row_q5_1(const void *w, int64_t k0, int64_t kc, float *out)
{
	row_small(CL_DTYPE_Q5_1, w, k0, kc, out);
}

/* The k-quants against x at 8 bits.  A Q4_K / Q5_K sub-block of 32 is one
 * block of x: Σ w·x = d·sc·xd·Σ q·q' - dmin·mn·xs (xs = xd·Σ q', struct
 * cl_xq's s), q unsigned (0-15, 0-31), so maddubs takes it as it is.  A
 * Q6_K block of x holds two sub-blocks of 16, q - 32 in -32..31: maddubs of
 * q (0-63) less maddubs of 32, each half of the sum weighted by its own
 * int8 scale in one madd. */
/* The eight 6-bit scales (sc) and mins (mn) of a Q4_K / Q5_K super-block
 * as bytes, from its 12 scale bytes q (see cl_k4_scale_min), by 32-bit
 * masks. */
AVX2_INLINE void k4_scales(const unsigned char *q, uint64_t *sc, uint64_t *mn)
{
	uint32_t u[3];
	memcpy(u, q, 12);
	uint32_t sc_lo = u[0] & 0x3f3f3f3f, mn_lo = u[1] & 0x3f3f3f3f;
	uint32_t sc_hi = (u[2] & 0x0f0f0f0f) | ((u[0] >> 6) & 0x03030303) << 4;
	uint32_t mn_hi = ((u[2] >> 4) & 0x0f0f0f0f) | ((u[1] >> 6) & 0x03030303) << 4;
	*sc = (uint64_t)sc_hi << 32 | sc_lo;
	*mn = (uint64_t)mn_hi << 32 | mn_lo;
}

AVX2_INLINE __m256 bytes8_ps(uint64_t v)
{
	return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)v)));
}

/* Q4_K (five 0) or Q5_K (five 1): their layouts differ by Q5_K's 32 bytes
 * of fifth bits before the nibbles.  The eight sub-blocks' factors d·sc·xd
 * are one vector, a lane broadcast per sub-block; the mins' part one FMA a
 * super-block. */
AVX2_INLINE float dotq_q45_k(const unsigned char *b, const struct cl_xq *x, int64_t cols, int five)
{
	const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
	const size_t bb = five ? 176 : 144;
	/* Four sums, one per pair of sub-blocks: a single one would make the
	 * FMAs wait on each other. */
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	__m256 mins = _mm256_setzero_ps();
	for (int64_t i = 0; i < cols / 256; i++, b += bb) {
		/* A super-block spans three cache lines (144 or 176 bytes). */
		PREFETCH(b);
		PREFETCH(b + 64);
		PREFETCH(b + 128);
		uint64_t sc, mn;
		k4_scales(b + 4, &sc, &mn);
		const __m256 xd = _mm256_loadu_ps(x->d + i * 8), xs = _mm256_loadu_ps(x->s + i * 8);
		const __m256 fac = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(load_scale(b)), bytes8_ps(sc)), xd);
		mins = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(load_scale(b + 2)), bytes8_ps(mn)), xs, mins);
		const unsigned char *qs = b + (five ? 48 : 16);
		const int8_t *xq = x->q + i * 256;
		__m256i qh = five ? _mm256_loadu_si256((const __m256i *)(b + 16)) : _mm256_setzero_si256();
#pragma GCC unroll 4
		for (int p = 0; p < 4; p++) {
			__m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
			__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
			if (five) {
				lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(qh, one), 4));
				hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 1), one), 4));
				qh = _mm256_srli_epi16(qh, 2);
			}
			__m256 s0 = dot_u8s8(lo, _mm256_loadu_si256((const __m256i *)(xq + 64 * p)));
			__m256 s1 = dot_u8s8(hi, _mm256_loadu_si256((const __m256i *)(xq + 64 * p + 32)));
			acc[p] = _mm256_fmadd_ps(s0, _mm256_permutevar8x32_ps(fac, _mm256_set1_epi32(2 * p)), acc[p]);
			acc[p] = _mm256_fmadd_ps(s1, _mm256_permutevar8x32_ps(fac, _mm256_set1_epi32(2 * p + 1)), acc[p]);
		}
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]))) - hsum(mins);
}

AVX2 float cl_avx2_dotq_q4_k(const void *w, const struct cl_xq *x, int64_t cols)
{
	return dotq_q45_k(w, x, cols, 0);
}

AVX2 float cl_avx2_dotq_q5_k(const void *w, const struct cl_xq *x, int64_t cols)
{
	return dotq_q45_k(w, x, cols, 1);
}


/* Half a Q6_K super-block's 128 quants, 0..63 as bytes, in the order of
 * their 32-byte groups: the low nibbles of ql (l0, l1), then the high ones,
 * each with its two bits of qh. */
AVX2_INLINE void q6_k_unpack(__m256i l0, __m256i l1, __m256i qh, __m256i q[4])
{
	const __m256i m4 = _mm256_set1_epi8(15), m30 = _mm256_set1_epi8(0x30);
	q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
	q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
	q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
	q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}

/* Q2_K and Q3_K against x at 8 bits.  Shift s of half h of a super-block's
 * 2-bit quants is 32 consecutive elements, one block of x (4h + s/2), whose
 * two sub-blocks of 16 have their own scales: maddubs of the unsigned quants
 * with x gives pairs, 8 of each sub-block in each 128-bit half, and one madd
 * by the two scales (an int16 each across its half) sums them.  Q2_K's
 * mins: Σ mn·x the same way with ones for quants.  Q3_K's q - 4 where the
 * high bit is clear: (q | 4·hi) - 4, the 4·Σ x taken off the pairs. */
AVX2_INLINE __m256i two_scales(int a, int b)
{
	return _mm256_set_m128i(_mm_set1_epi16((short)b), _mm_set1_epi16((short)a));
}

AVX2 float cl_avx2_dotq_q2_k(const void *w, const struct cl_xq *x, int64_t cols)
{
	const unsigned char *b = w;
	const __m256i m3 = _mm256_set1_epi8(3), ones = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps(), accm = acc;
	for (int64_t i = 0; i < cols / 256; i++, b += 84) {
		PREFETCH(b + 84);
		const unsigned char *sc = b;
		float d = load_scale(b + 80), dmin = load_scale(b + 82);
		for (int h = 0; h < 2; h++) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
			for (int sh = 0; sh < 4; sh++) {
				int xb = (int)i * 8 + 4 * h + sh, is = 8 * h + 2 * sh;
				__m256i xq = _mm256_loadu_si256((const __m256i *)(x->q + (size_t)xb * QK));
				__m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * sh), m3);
				__m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), two_scales(sc[is] & 15, sc[is + 1] & 15));
				__m256i pm = _mm256_madd_epi16(_mm256_maddubs_epi16(ones, xq), two_scales(sc[is] >> 4, sc[is + 1] >> 4));
				acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * x->d[xb]), acc);
				accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(pm), _mm256_set1_ps(dmin * x->d[xb]), accm);
			}
		}
	}
	return hsum(acc) - hsum(accm);
}

/* The sixteen 6-bit scales of a Q3_K super-block (12 bytes at s: low
 * nibbles in bytes 0-7, two high bits each in bytes 8-11), less 32. */
AVX2_INLINE void q3_k_scales(const unsigned char *s, int sc[16])
{
	for (int j = 0; j < 16; j++) {
		int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
		int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
		sc[j] = (lo | hi << 4) - 32;
	}
}

/* Sub-block sh of half h of a Q3_K super-block as 32 unsigned quants (0-7):
 * two bits from qv, shifted by 2·sh, and 4 where the bit of hm for the
 * sub-block is set. */
AVX2_INLINE __m256i q3_k_quants(__m256i hm, __m256i qv, int h, int sh)
{
	__m256i bit = _mm256_set1_epi8((char)(1 << (4 * h + sh)));
	__m256i hi = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), _mm256_set1_epi8(4));
	return _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 2 * sh), _mm256_set1_epi8(3)), hi);
}

AVX2 float cl_avx2_dotq_q3_k(const void *w, const struct cl_xq *x, int64_t cols)
{
	const unsigned char *b = w;
	const __m256i ones = _mm256_set1_epi8(1);
	__m256 acc = _mm256_setzero_ps();
	for (int64_t i = 0; i < cols / 256; i++, b += 110) {
		PREFETCH(b + 110);
		int sc[16];
		q3_k_scales(b + 96, sc);
		float d = load_scale(b + 108);
		__m256i hm = _mm256_loadu_si256((const __m256i *)b);
		for (int h = 0; h < 2; h++) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
			for (int sh = 0; sh < 4; sh++) {
				int xb = (int)i * 8 + 4 * h + sh, is = 8 * h + 2 * sh;
				__m256i q = q3_k_quants(hm, qv, h, sh);
				__m256i xq = _mm256_loadu_si256((const __m256i *)(x->q + (size_t)xb * QK));
				__m256i pairs = _mm256_sub_epi16(_mm256_maddubs_epi16(q, xq),
								 _mm256_slli_epi16(_mm256_maddubs_epi16(ones, xq), 2));
				__m256i p = _mm256_madd_epi16(pairs, two_scales(sc[is], sc[is + 1]));
				acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(d * x->d[xb]), acc);
			}
		}
	}
	return hsum(acc);
}

AVX2 void cl_avx2_row_q2_k(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / 256) * 84;
	const __m256i m3 = _mm256_set1_epi8(3);
	for (int64_t k = 0; k < kc; k += 256, b += 84) {
		float d = load_scale(b + 80), dmin = load_scale(b + 82);
		for (int h = 0; h < 2; h++) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * h));
			for (int sh = 0; sh < 4; sh++) {
				int is = 8 * h + 2 * sh;
				__m256i q = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * sh), m3);
				store_two_subblocks(q, 0, d * (float)(b[is] & 15), dmin * (float)(b[is] >> 4),
						    d * (float)(b[is + 1] & 15), dmin * (float)(b[is + 1] >> 4),
						    out + k + 32 * (4 * h + sh));
			}
		}
	}
}

AVX2 void cl_avx2_row_q3_k(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / 256) * 110;
	const __m256i four = _mm256_set1_epi8(4);
	for (int64_t k = 0; k < kc; k += 256, b += 110) {
		int sc[16];
		q3_k_scales(b + 96, sc);
		float d = load_scale(b + 108);
		__m256i hm = _mm256_loadu_si256((const __m256i *)b);
		for (int h = 0; h < 2; h++) {
			__m256i qv = _mm256_loadu_si256((const __m256i *)(b + 32 + 32 * h));
			for (int sh = 0; sh < 4; sh++) {
				int is = 8 * h + 2 * sh;
				/* q - 4, as signed bytes */
				__m256i q = _mm256_sub_epi8(q3_k_quants(hm, qv, h, sh), four);
				store_two_subblocks(q, 1, d * (float)sc[is], 0, d * (float)sc[is + 1], 0,
						    out + k + 32 * (4 * h + sh));
			}
		}
	}
}

AVX2 float cl_avx2_dotq_q6_k(const void *w, const struct cl_xq *x, int64_t cols)
{
	const unsigned char *b = w;
	const __m256i k32 = _mm256_set1_epi8(32);
	/* Bytes 0-1 across the low 128 bits, 2-3 across the high. */
	const __m256i halves = _mm256_setr_epi8(0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2,
						3, 2, 3, 2, 3, 2, 3);
	__m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
	for (int64_t i = 0; i < cols / 256; i++, b += 210) {
		PREFETCH(b);
		PREFETCH(b + 64);
		PREFETCH(b + 128);
		PREFETCH(b + 192);
		/* The 16 scales as int16, pairs (2m, 2m+1) in int32 lane m; a
		 * group's two, each across its half, by a permute and a shuffle. */
		const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + 192)));
		const __m256 dx = _mm256_mul_ps(_mm256_set1_ps(load_scale(b + 208)), _mm256_loadu_ps(x->d + i * 8));
#pragma GCC unroll 2
		for (int h = 0; h < 2; h++) {
			const unsigned char *ql = b + 64 * h, *qhp = b + 128 + 32 * h;
			__m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			__m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
			__m256i q[4];
			q6_k_unpack(l0, l1, qh, q);
#pragma GCC unroll 4
			for (int g = 0; g < 4; g++) {
				int xb = i * 8 + 4 * h + g;
				__m256i xv = _mm256_loadu_si256((const __m256i *)(x->q + (int64_t)xb * 32));
				__m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q[g], xv), _mm256_maddubs_epi16(k32, xv));
				__m256i scv = _mm256_shuffle_epi8(_mm256_permutevar8x32_epi32(sc16, _mm256_set1_epi32(4 * h + g)),
								  halves);
				acc[g] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(p, scv)),
							 _mm256_permutevar8x32_ps(dx, _mm256_set1_epi32(4 * h + g)), acc[g]);
			}
		}
	}
	return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}

/* The k-quants' rows as f32 for the batched products: the plain-C
 * reference's operations, a multiply then a subtract (no FMA), so the same
 * bits. */
AVX2_INLINE void store_q8x8(float *out, __m128i q8, __m256 scale, __m256 min)
{
	__m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q8));
	_mm256_storeu_ps(out, _mm256_sub_ps(_mm256_mul_ps(scale, v), min));
}

AVX2 void cl_avx2_row_q4_k(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / 256) * 144;
	const __m256i m4 = _mm256_set1_epi8(15);
	for (int64_t k = 0; k < kc; k += 256, b += 144) {
		float d = load_scale(b), dmin = load_scale(b + 2);
		for (int p = 0; p < 4; p++) {
			int sc0, mn0, sc1, mn1;
			cl_k4_scale_min(2 * p, b + 4, &sc0, &mn0);
			cl_k4_scale_min(2 * p + 1, b + 4, &sc1, &mn1);
			__m256i q = _mm256_loadu_si256((const __m256i *)(b + 16 + 32 * p));
			__m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
			__m256 s0 = _mm256_set1_ps(d * (float)sc0), n0 = _mm256_set1_ps(dmin * (float)mn0);
			__m256 s1 = _mm256_set1_ps(d * (float)sc1), n1 = _mm256_set1_ps(dmin * (float)mn1);
			float *o = out + k + 64 * p;
			__m128i l0 = _mm256_castsi256_si128(lo), l1 = _mm256_extracti128_si256(lo, 1);
			__m128i h0 = _mm256_castsi256_si128(hi), h1 = _mm256_extracti128_si256(hi, 1);
			store_q8x8(o, l0, s0, n0);
			store_q8x8(o + 8, _mm_srli_si128(l0, 8), s0, n0);
			store_q8x8(o + 16, l1, s0, n0);
			store_q8x8(o + 24, _mm_srli_si128(l1, 8), s0, n0);
			store_q8x8(o + 32, h0, s1, n1);
			store_q8x8(o + 40, _mm_srli_si128(h0, 8), s1, n1);
			store_q8x8(o + 48, h1, s1, n1);
			store_q8x8(o + 56, _mm_srli_si128(h1, 8), s1, n1);
		}
	}
}

AVX2 void cl_avx2_row_q6_k(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / 256) * 210;
	const __m256i k32 = _mm256_set1_epi8(32);
	const __m256 zero = _mm256_setzero_ps();
	for (int64_t k = 0; k < kc; k += 256, b += 210) {
		float d = load_scale(b + 208);
		const int8_t *sc = (const int8_t *)(b + 192);
		for (int h = 0; h < 2; h++) {
			const unsigned char *ql = b + 64 * h;
			__m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
			__m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
			__m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
			__m256i q[4];
			q6_k_unpack(l0, l1, qh, q);
			for (int g = 0; g < 4; g++) {
				__m256i v = _mm256_sub_epi8(q[g], k32);
				__m256 s0 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * g]);
				__m256 s1 = _mm256_set1_ps(d * (float)sc[8 * h + 2 * g + 1]);
				float *o = out + k + 128 * h + 32 * g;
				__m128i v0 = _mm256_castsi256_si128(v), v1 = _mm256_extracti128_si256(v, 1);
				/* Less zero: the reference's product alone, bit for bit. */
				store_q8x8(o, v0, s0, zero);
				store_q8x8(o + 8, _mm_srli_si128(v0, 8), s0, zero);
				store_q8x8(o + 16, v1, s1, zero);
				store_q8x8(o + 24, _mm_srli_si128(v1, 8), s1, zero);
			}
		}
	}
}

#endif
