/*
 * kernels_avx512.c - the inner loops for x86-64 CPUs with AVX-512 F, BW and
 * VL (Skylake-SP, Ice Lake, Zen 4 and later): the AVX2 loops at twice the
 * width, with mask registers for the tails.  Per-function target attributes,
 * as in kernels_avx2.c; kernels.c uses this table only where
 * __builtin_cpu_supports("avx512f") etc. say yes.
 *
 * First run on hardware on an AMD EPYC of CPU family 25 model 17 (Zen 4:
 * AVX-512 F/BW/VL/DQ, VNNI, BF16), where tests/unit/test-kernels.c checks
 * every path against the reference.  Where the CPU has AVX-512 VNNI, a
 * second table of the same name differs in the 8-bit dots alone: vpdpbusd
 * does maddubs and madd in one instruction.
 */
#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels_avx2.h"

#define AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c")))
#define AVX512_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,fma,f16c"), always_inline)) static inline

/* Matvec loops prefetch the weights PF_DIST ahead, as the AVX2 ones do
 * (kernels_avx2.h, whose hsum and load_scale the VNNI dots use too). */

AVX512_INLINE __mmask16 mask16(int64_t n)
{
	return (__mmask16)((1u << n) - 1);
}

AVX512_INLINE __m512 load_f16(const uint16_t *p)
{
	return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

AVX512_INLINE __m512 load_f16_tail(const uint16_t *p, int64_t n)
{
	return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask16(n), p));
}

AVX512_INLINE __m512 load_bf16(const uint16_t *p)
{
	__m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

AVX512_INLINE __m512 load_bf16_tail(const uint16_t *p, int64_t n)
{
	__m512i v = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask16(n), p));
	return _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
}

/* The 32 quants of a block as two vectors of 16 f32 (not yet scaled). */
AVX512_INLINE void q8_unpack(const unsigned char *b, __m512 q[2])
{
	q[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 2))));
	q[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 18))));
}

AVX512_INLINE void q4_unpack(const unsigned char *b, __m512 q[2])
{
	__m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
	__m128i m = _mm_set1_epi8(15), e = _mm_set1_epi8(8);
	__m128i lo = _mm_sub_epi8(_mm_and_si128(v, m), e);
	__m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(v, 4), m), e);
	q[0] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(lo));
	q[1] = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(hi));
}

/* ----------------------------------------------------------------- dots --- */

AVX512 static float avx512_dot_f32(const float *a, const float *b, int64_t n)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 64 <= n; k += 64) {
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
		s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), s1);
		s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 32), _mm512_loadu_ps(b + k + 32), s2);
		s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 48), _mm512_loadu_ps(b + k + 48), s3);
	}
	for (; k + 16 <= n; k += 16)
		s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), s0);
	if (k < n) {
		__mmask16 m = mask16(n - k);
		s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + k), _mm512_maskz_loadu_ps(m, b + k), s1);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

AVX512 static void avx512_axpy_f32(float *y, float a, const float *x, int64_t n)
{
	__m512 va = _mm512_set1_ps(a);
	int64_t k = 0;
	for (; k + 16 <= n; k += 16)
		_mm512_storeu_ps(y + k, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + k), _mm512_loadu_ps(y + k)));
	if (k < n) {
		__mmask16 m = mask16(n - k);
		__m512 v = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + k), _mm512_maskz_loadu_ps(m, y + k));
		_mm512_mask_storeu_ps(y + k, m, v);
	}
}

/* The dots of f32, f16 and bf16 weight rows, one body: T is the type, 16
 * elements of the row at k as f32 (the tail of n - k < 16 masked). */
AVX512_INLINE __m512 wload(const int T, const void *w, int64_t k)
{
	if (T == CL_DTYPE_F32)
		return _mm512_loadu_ps((const float *)w + k);
	return T == CL_DTYPE_F16 ? load_f16((const uint16_t *)w + k) : load_bf16((const uint16_t *)w + k);
}

AVX512_INLINE __m512 wload_tail(const int T, const void *w, int64_t k, int64_t n)
{
	if (T == CL_DTYPE_F32)
		return _mm512_maskz_loadu_ps(mask16(n - k), (const float *)w + k);
	return T == CL_DTYPE_F16 ? load_f16_tail((const uint16_t *)w + k, n - k)
				 : load_bf16_tail((const uint16_t *)w + k, n - k);
}

/* Four sums, 64 elements a step (more work in flight per step keeps one
 * core's memory busier: TinyLlama f16, one thread, 10 % faster than two
 * sums), then 16 at a time into the first, then the masked tail into the
 * second; the weights prefetched 4 KiB ahead. */
AVX512_INLINE float dot_w(const int T, const void *w, const float *x, int64_t n)
{
	const int es = T == CL_DTYPE_F32 ? 4 : 2;
	const unsigned char *wb = w;
	__m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
	int64_t k = 0;
	for (; k + 64 <= n; k += 64) {
#pragma GCC unroll 4
		for (int l = 0; l < es; l++)
			PREFETCH(wb + k * es + 64 * l);
#pragma GCC unroll 4
		for (int l = 0; l < 4; l++)
			s[l] = _mm512_fmadd_ps(wload(T, w, k + 16 * l), _mm512_loadu_ps(x + k + 16 * l), s[l]);
	}
	for (; k + 16 <= n; k += 16)
		s[0] = _mm512_fmadd_ps(wload(T, w, k), _mm512_loadu_ps(x + k), s[0]);
	if (k < n)
		s[1] = _mm512_fmadd_ps(wload_tail(T, w, k, n), _mm512_maskz_loadu_ps(mask16(n - k), x + k), s[1]);
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])));
}

AVX512 static float avx512_dot_w_f32(const void *w, const float *x, int64_t n)
{
	return dot_w(CL_DTYPE_F32, w, x, n);
}

AVX512 static float avx512_dot_f16(const void *w, const float *x, int64_t n)
{
	return dot_w(CL_DTYPE_F16, w, x, n);
}

AVX512 static float avx512_dot_bf16(const void *w, const float *x, int64_t n)
{
	return dot_w(CL_DTYPE_BF16, w, x, n);
}

/* One weight row by MR rows of x, each pair summed exactly as dot_w sums it
 * alone (its four sums, in the same order), so that every row of a small
 * batch gets the bits it gets alone; each weight vector, once converted,
 * serves MR rows of x from registers.  matmul.c gives it batches of 2 to 8
 * rows (sequences stepping together, .dot_rows_max below): there it beats a
 * dot per pair (Zen 4, 2 threads, 2048 x 2048: f16 2 rows 58 GMAC/s against
 * 45, 4 rows 41 against 36, f32 4 rows 32 against 23), and on Zen 5 the
 * packed product up to 8 rows (matmul.c); on Zen 4 the tiles of the time
 * were faster from 8 rows, their x rows reused from L1 where these stream
 * them from L2.  (Two sums a
 * pair and two weight rows a step did 4 rows faster, f16 51 GMAC/s, but
 * one row alone 10 % slower on one thread.) */
#define MR_F 4 /* 16 sums and 4 weight vectors; x comes from memory */

AVX512_INLINE void rows_mk(const int T, const int MR, const unsigned char *w, const float *x, int64_t ldx,
			   int64_t n, float *y)
{
	const int es = T == CL_DTYPE_F32 ? 4 : 2;
	__m512 s[MR_F][4];
#pragma GCC unroll 4
	for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
		for (int l = 0; l < 4; l++)
			s[j][l] = _mm512_setzero_ps();
	int64_t k = 0;
	for (; k + 64 <= n; k += 64) {
		__m512 wv[4];
#pragma GCC unroll 4
		for (int l = 0; l < es; l++)
			PREFETCH(w + k * es + 64 * l);
#pragma GCC unroll 4
		for (int l = 0; l < 4; l++)
			wv[l] = wload(T, w, k + 16 * l);
#pragma GCC unroll 4
		for (int j = 0; j < MR; j++)
#pragma GCC unroll 4
			for (int l = 0; l < 4; l++)
				s[j][l] = _mm512_fmadd_ps(wv[l], _mm512_loadu_ps(x + j * ldx + k + 16 * l), s[j][l]);
	}
	for (; k + 16 <= n; k += 16) {
		__m512 wv = wload(T, w, k);
#pragma GCC unroll 4
		for (int j = 0; j < MR; j++)
			s[j][0] = _mm512_fmadd_ps(wv, _mm512_loadu_ps(x + j * ldx + k), s[j][0]);
	}
	if (k < n) {
		__m512 wv = wload_tail(T, w, k, n);
#pragma GCC unroll 4
		for (int j = 0; j < MR; j++)
			s[j][1] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask16(n - k), x + j * ldx + k), s[j][1]);
	}
#pragma GCC unroll 4
	for (int j = 0; j < MR; j++)
		y[j] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[j][0], s[j][1]), _mm512_add_ps(s[j][2], s[j][3])));
}

AVX512_INLINE void dot_rows(const int T, const void *w, size_t rb, int64_t nw, const float *x, int64_t ni,
			    int64_t cols, float *y, int64_t ldy)
{
	const unsigned char *b = w;
	float out[MR_F];
	for (int64_t i = 0; i < ni; i += MR_F) {
		int64_t nx = ni - i < MR_F ? ni - i : MR_F;
		for (int64_t r = 0; r < nw; r++) {
			const unsigned char *wr = b + (size_t)r * rb;
			const float *xi = x + i * cols;
			switch (nx) {
			case 4: rows_mk(T, 4, wr, xi, cols, cols, out); break;
			case 3: rows_mk(T, 3, wr, xi, cols, cols, out); break;
			case 2: rows_mk(T, 2, wr, xi, cols, cols, out); break;
			default: rows_mk(T, 1, wr, xi, cols, cols, out); break;
			}
			for (int64_t j = 0; j < nx; j++)
				y[(i + j) * ldy + r] = out[j];
		}
	}
}

AVX512 static void avx512_rows_f32(const void *w, size_t rb, int64_t nw, const float *x, int64_t n, int64_t cols,
				   float *y, int64_t ldy)
{
	dot_rows(CL_DTYPE_F32, w, rb, nw, x, n, cols, y, ldy);
}

AVX512 static void avx512_rows_f16(const void *w, size_t rb, int64_t nw, const float *x, int64_t n, int64_t cols,
				   float *y, int64_t ldy)
{
	dot_rows(CL_DTYPE_F16, w, rb, nw, x, n, cols, y, ldy);
}

AVX512 static void avx512_rows_bf16(const void *w, size_t rb, int64_t nw, const float *x, int64_t n, int64_t cols,
				    float *y, int64_t ldy)
{
	dot_rows(CL_DTYPE_BF16, w, rb, nw, x, n, cols, y, ldy);
}

AVX512_INLINE __m512 block_dot(const __m512 q[2], const float *x)
{
	return _mm512_fmadd_ps(q[1], _mm512_loadu_ps(x + 16), _mm512_mul_ps(q[0], _mm512_loadu_ps(x)));
}

AVX512 static float avx512_dot_q8_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, q[2];
	int64_t k = 0;
	for (; k + 2 * QK <= n; k += 2 * QK, b += 2 * Q8_BYTES) {
		q8_unpack(b, q);
		s0 = _mm512_fmadd_ps(block_dot(q, x + k), _mm512_set1_ps(load_scale(b)), s0);
		q8_unpack(b + Q8_BYTES, q);
		s1 = _mm512_fmadd_ps(block_dot(q, x + k + QK), _mm512_set1_ps(load_scale(b + Q8_BYTES)), s1);
	}
	if (k < n) {
		q8_unpack(b, q);
		s0 = _mm512_fmadd_ps(block_dot(q, x + k), _mm512_set1_ps(load_scale(b)), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

AVX512 static float avx512_dot_q4_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, q[2];
	int64_t k = 0;
	for (; k + 2 * QK <= n; k += 2 * QK, b += 2 * Q4_BYTES) {
		q4_unpack(b, q);
		s0 = _mm512_fmadd_ps(block_dot(q, x + k), _mm512_set1_ps(load_scale(b)), s0);
		q4_unpack(b + Q4_BYTES, q);
		s1 = _mm512_fmadd_ps(block_dot(q, x + k + QK), _mm512_set1_ps(load_scale(b + Q4_BYTES)), s1);
	}
	if (k < n) {
		q4_unpack(b, q);
		s0 = _mm512_fmadd_ps(block_dot(q, x + k), _mm512_set1_ps(load_scale(b)), s0);
	}
	return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* ------------------------------------------------------- rows as f32 --- */

AVX512 static void avx512_row_f32(const void *w, int64_t k0, int64_t kc, float *out)
{
	memcpy(out, (const float *)w + k0, (size_t)kc * 4);
}

AVX512 static void avx512_row_f16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 16 <= kc; k += 16)
		_mm512_storeu_ps(out + k, load_f16(h + k));
	if (k < kc)
		_mm512_mask_storeu_ps(out + k, mask16(kc - k), load_f16_tail(h + k, kc - k));
}

AVX512 static void avx512_row_bf16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 16 <= kc; k += 16)
		_mm512_storeu_ps(out + k, load_bf16(h + k));
	if (k < kc)
		_mm512_mask_storeu_ps(out + k, mask16(kc - k), load_bf16_tail(h + k, kc - k));
}

AVX512 static void avx512_row_q8_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q8_BYTES;
	__m512 q[2];
	for (int64_t k = 0; k < kc; k += QK, b += Q8_BYTES) {
		__m512 d = _mm512_set1_ps(load_scale(b));
		q8_unpack(b, q);
		_mm512_storeu_ps(out + k, _mm512_mul_ps(q[0], d));
		_mm512_storeu_ps(out + k + 16, _mm512_mul_ps(q[1], d));
	}
}

AVX512 static void avx512_row_q4_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q4_BYTES;
	__m512 q[2];
	for (int64_t k = 0; k < kc; k += QK, b += Q4_BYTES) {
		__m512 d = _mm512_set1_ps(load_scale(b));
		q4_unpack(b, q);
		_mm512_storeu_ps(out + k, _mm512_mul_ps(q[0], d));
		_mm512_storeu_ps(out + k + 16, _mm512_mul_ps(q[1], d));
	}
}

/* ----------------------------------------------------------------- gemm --- */

/* As avx2_mk, 4 x 4 here: 16 accumulators, 4 weight vectors and one of x
 * fit the 32 zmm registers; each 16-wide step loads 8 vectors for 16 FMAs. */
AVX512_INLINE void avx512_mk(const int MI, const int MR, int64_t kc, const float *x, int64_t ldx,
			     const float *w, int64_t ldw, float *y, int64_t ldy)
{
	__m512 acc[4][4];
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			acc[i][r] = _mm512_setzero_ps();
	int64_t k = 0;
	for (; k + 16 <= kc; k += 16) {
		__m512 wv[4];
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			wv[r] = _mm512_loadu_ps(w + r * ldw + k);
#pragma GCC unroll 4
		for (int i = 0; i < MI; i++) {
			__m512 xv = _mm512_loadu_ps(x + i * ldx + k);
#pragma GCC unroll 4
			for (int r = 0; r < MR; r++)
				acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
		}
	}
	if (k < kc) {
		__mmask16 m = mask16(kc - k);
		__m512 wv[4];
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			wv[r] = _mm512_maskz_loadu_ps(m, w + r * ldw + k);
#pragma GCC unroll 4
		for (int i = 0; i < MI; i++) {
			__m512 xv = _mm512_maskz_loadu_ps(m, x + i * ldx + k);
#pragma GCC unroll 4
			for (int r = 0; r < MR; r++)
				acc[i][r] = _mm512_fmadd_ps(xv, wv[r], acc[i][r]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			y[i * ldy + r] += _mm512_reduce_add_ps(acc[i][r]);
}

AVX512_INLINE void avx512_mk_rows(const int MR, int64_t ni, int64_t kc, const float *x, int64_t ldx,
				  const float *w, int64_t ldw, float *y, int64_t ldy)
{
	int64_t i = 0;
	for (; i + 4 <= ni; i += 4)
		avx512_mk(4, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy);
	switch (ni - i) {
	case 3: avx512_mk(3, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 2: avx512_mk(2, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 1: avx512_mk(1, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	}
}

AVX512 static void avx512_gemm(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
			       const float *w, int64_t ldw, float *y, int64_t ldy)
{
	int64_t r = 0;
	for (; r + 4 <= nr; r += 4)
		avx512_mk_rows(4, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy);
	switch (nr - r) {
	case 3: avx512_mk_rows(3, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	case 2: avx512_mk_rows(2, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	case 1: avx512_mk_rows(1, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	}
}

/* MI rows of x against NP packed panels of 16 weight rows each
 * (cl_avx2_pack's layout: one zmm of a panel a step of k): MI·NP
 * accumulators, each step NP loads of the panels and MI broadcasts of x
 * (from memory) for MI·NP FMAs; the registers go into running sums every
 * MP_K steps, as avx2_mp's do.  Two panels by six rows of x: 8 loads for 12
 * FMAs, where one panel by twelve rows took 13 (Zen 5 takes two 512-bit
 * loads a cycle and two FMAs).  The panels (kc = 256: 16 KiB each) stay in
 * L1 while every row of x runs against them, where avx512_gemm's
 * dot-product tiles read their converted rows (196 KiB) from L2. */
#define MI5 6 /* rows of x a call: with 2 panels, 24 of the 32 registers hold sums */

AVX512_INLINE void avx512_mp(const int NP, const int MI, int64_t nr, int64_t kc, const float *x, int64_t ldx,
			     const float *p, int64_t ldp, float *y, int64_t ldy)
{
	__m512 sum[MI5][2];
#pragma GCC unroll 6
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 2
		for (int q = 0; q < NP; q++)
			sum[i][q] = _mm512_setzero_ps();
	for (int64_t k0 = 0; k0 < kc; k0 += MP_K) {
		int64_t k1 = kc - k0 < MP_K ? kc : k0 + MP_K;
		__m512 acc[MI5][2];
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++)
#pragma GCC unroll 2
			for (int q = 0; q < NP; q++)
				acc[i][q] = _mm512_setzero_ps();
#pragma GCC unroll 4
		for (int64_t k = k0; k < k1; k++) {
			__m512 w[2];
#pragma GCC unroll 2
			for (int q = 0; q < NP; q++)
				w[q] = _mm512_loadu_ps(p + q * ldp + k * PANEL);
#pragma GCC unroll 6
			for (int i = 0; i < MI; i++) {
				__m512 xv = _mm512_set1_ps(x[i * ldx + k]);
#pragma GCC unroll 2
				for (int q = 0; q < NP; q++)
					acc[i][q] = _mm512_fmadd_ps(xv, w[q], acc[i][q]);
			}
		}
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++)
#pragma GCC unroll 2
			for (int q = 0; q < NP; q++)
				sum[i][q] = _mm512_add_ps(sum[i][q], acc[i][q]);
	}
#pragma GCC unroll 2
	for (int q = 0; q < NP; q++) {
		int64_t nq = nr - q * PANEL;
		__mmask16 m = mask16(nq > PANEL ? PANEL : nq);
#pragma GCC unroll 6
		for (int i = 0; i < MI; i++) {
			float *yi = y + i * ldy + q * PANEL;
			_mm512_mask_storeu_ps(yi, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, yi), sum[i][q]));
		}
	}
}

AVX512_INLINE void avx512_mp_rows(const int NP, int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
				  const float *p, int64_t ldp, float *y, int64_t ldy)
{
	int64_t i = 0;
	for (; i + MI5 <= ni; i += MI5)
		avx512_mp(NP, MI5, nr, kc, x + i * ldx, ldx, p, ldp, y + i * ldy, ldy);
#define MP_CASE(R) case R: avx512_mp(NP, R, nr, kc, x + i * ldx, ldx, p, ldp, y + i * ldy, ldy); break;
	switch (ni - i) {
	MP_CASE(5) MP_CASE(4) MP_CASE(3) MP_CASE(2) MP_CASE(1)
	}
#undef MP_CASE
}

/* nr <= 2 panels: a second panel only where it has rows. */
AVX512 static void avx512_gemm_p(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx, const float *p,
				 int64_t ldp, float *y, int64_t ldy)
{
	if (nr > PANEL)
		avx512_mp_rows(2, ni, nr, kc, x, ldx, p, ldp, y, ldy);
	else
		avx512_mp_rows(1, ni, nr, kc, x, ldx, p, ldp, y, ldy);
}

/* F16 packed a column of 16 rows at a time (CL_PACK_F16_K16, packed.c) by n
 * rows of x: one load and one conversion give 16 rows' weights of a column,
 * and each of up to F16P_XR rows of x takes one FMA with its element
 * broadcast.  Each pair of a weight row and a row of x sums in two partial
 * sums, even columns and odd, added at the end: the same arithmetic for one
 * row of x or a prompt's (each row its bits alone), and two chains, so one
 * row of x is not held by the FMA's latency. */
#define F16P_XR 8

AVX512_INLINE void f16p_mk(const int XR, const uint16_t *g, int64_t cols, const float *x, int64_t ldx, float *y,
			   int64_t ldy, __mmask16 m)
{
	__m512 a0[F16P_XR], a1[F16P_XR];
#pragma GCC unroll 8
	for (int j = 0; j < XR; j++)
		a0[j] = a1[j] = _mm512_setzero_ps();
	int64_t k = 0;
	for (; k + 2 <= cols; k += 2, g += 32) {
		__m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
		__m512 w1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(g + 16)));
#pragma GCC unroll 8
		for (int j = 0; j < XR; j++) {
			a0[j] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[j * ldx + k]), a0[j]);
			a1[j] = _mm512_fmadd_ps(w1, _mm512_set1_ps(x[j * ldx + k + 1]), a1[j]);
		}
	}
	if (k < cols) {
		__m512 w0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)g));
#pragma GCC unroll 8
		for (int j = 0; j < XR; j++)
			a0[j] = _mm512_fmadd_ps(w0, _mm512_set1_ps(x[j * ldx + k]), a0[j]);
	}
#pragma GCC unroll 8
	for (int j = 0; j < XR; j++)
		_mm512_mask_storeu_ps(y + j * ldy, m, _mm512_add_ps(a0[j], a1[j]));
}

AVX512 static void avx512_dot_packed_f16(const void *w, int64_t nr, const float *x, int64_t n, int64_t cols, float *y,
					 int64_t ldy)
{
	for (int64_t r0 = 0; r0 < nr; r0 += 16) {
		const uint16_t *g = (const uint16_t *)w + (size_t)r0 * (size_t)cols;
		__mmask16 m = nr - r0 >= 16 ? 0xffff : (__mmask16)((1u << (nr - r0)) - 1);
		int64_t i = 0;
		for (; i + F16P_XR <= n; i += F16P_XR)
			f16p_mk(F16P_XR, g, cols, x + i * cols, cols, y + i * ldy + r0, ldy, m);
#define F16P_CASE(R) case R: f16p_mk(R, g, cols, x + i * cols, cols, y + i * ldy + r0, ldy, m); break;
		switch (n - i) {
		F16P_CASE(7) F16P_CASE(6) F16P_CASE(5) F16P_CASE(4) F16P_CASE(3) F16P_CASE(2) F16P_CASE(1)
		}
#undef F16P_CASE
	}
}

/* The 8-bit dots with VNNI: vpdpbusd sums four products of unsigned and
 * signed bytes into each 32-bit lane, where AVX2 needs maddubs, then madd.
 * Q8_0's single dot runs at 256 bits, and takes |w| and x with w's sign. */
#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define VNNI_INLINE __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c"), always_inline)) \
	static inline

VNNI_INLINE __m256 vnni_q8_block(const unsigned char *b, const int8_t *xq)
{
	__m256i w = _mm256_loadu_si256((const __m256i *)(b + 2));
	__m256i x = _mm256_loadu_si256((const __m256i *)xq);
	return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(w, w),
						      _mm256_sign_epi8(x, w)));
}

VNNI static float vnni_dotq_q8_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0;
	int64_t nb = n / QK, i = 0;
	for (; i + 2 <= nb; i += 2, b += 2 * Q8_BYTES) {
		PREFETCH(b);
		PREFETCH(b + 64);
		s0 = _mm256_fmadd_ps(vnni_q8_block(b, x->q + i * QK), _mm256_set1_ps(load_scale(b) * x->d[i]), s0);
		s1 = _mm256_fmadd_ps(vnni_q8_block(b + Q8_BYTES, x->q + (i + 1) * QK),
				     _mm256_set1_ps(load_scale(b + Q8_BYTES) * x->d[i + 1]), s1);
	}
	if (i < nb)
		s0 = _mm256_fmadd_ps(vnni_q8_block(b, x->q + i * QK), _mm256_set1_ps(load_scale(b) * x->d[i]), s0);
	return hsum(_mm256_add_ps(s0, s1));
}

/* The scale products of Q4_0 blocks i .. i + 7 (w's scale times x's d, the
 * products the single dot's tail makes one by one), in a register: the eight f16
 * scales, 18 bytes apart, gathered from two loads by one permute, then
 * converted and multiplied at once.  Each block's product is then one
 * in-register broadcast instead of an insert, a conversion, a multiply and
 * a broadcast: the single dot in L2 7 % faster on Zen 4 (best of 10
 * alternated, 31.2 -> 33.4 G multiply-adds/s one thread).  Q8_0's 34-byte
 * blocks need two permutes and a blend, and came out 8 % slower. */
VNNI_INLINE __m256 vnni_q4_scales8(const unsigned char *b, const float *d)
{
	const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					     63, 54, 45, 36, 27, 18, 9, 0);
	__m512i h = _mm512_permutex2var_epi16(_mm512_loadu_si512((const void *)b), idx,
					      _mm512_loadu_si512((const void *)(b + 64)));
	return _mm256_mul_ps(_mm256_cvtph_ps(_mm512_castsi512_si128(h)), _mm256_loadu_ps(d));
}

/* Several weight rows by several rows of x at 8 bits (sequences stepping
 * together, a prompt's positions), each pair computed as vnni_dotq_q8_0 or
 * vnni_dotq_q4_0 computes it alone: the same integer in every lane, the same
 * scale products, the same additions in the same order.  So a row of x gets
 * the bits it gets alone whatever else is in the batch, and each weight
 * block, once loaded, serves MR rows of x from registers.
 *
 * A zmm holds two blocks: its low half is the single dot's s0 (even blocks),
 * its high half s1 (odd blocks).  Q8_0: x comes unsigned, as x + 128
 * (xq->u, made once a product), so the weights need no sign trick per row of
 * x; each lane's sum starts at -128·Σw over its four weights (once per
 * weight block), which leaves in the lane exactly the single dot's Σ w·x.
 * Q4_0: the quants are unsigned already, and each lane starts at -8 times
 * its four x (xq->o8), which takes the offset of 8 off exactly.  x's scales
 * come spread as the halves need them (xq->d8). */
#define MW_Q 2 /* weight rows a step (1 x 12, 3 x 4 and 4 x 3 were slower on Zen 4) */
#define MR_Q 6 /* rows of x a step: 12 sums, 2 x 3 weight vectors, x */

VNNI_INLINE __m512 vnni_pair(float lo, float hi)
{
	return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(_mm512_set1_ps(lo)),
						   _mm256_castps_pd(_mm256_set1_ps(hi)), 1));
}

/* Weight blocks i and i + 1 (both = 0: block i alone, in the low half) as
 * 64 bytes that vpdpbusd takes: Q8_0's signed quants, Q4_0's nibbles in x's
 * element order (the lows of a block, then its highs). */
VNNI_INLINE __m512i vnni_wpair(const int Q4, const unsigned char *b, int both)
{
	if (!Q4) {
		__m256i lo = _mm256_loadu_si256((const __m256i *)(b + 2));
		return both ? _mm512_inserti64x4(_mm512_castsi256_si512(lo),
						 _mm256_loadu_si256((const __m256i *)(b + Q8_BYTES + 2)), 1)
			    : _mm512_zextsi256_si512(lo);
	}
	/* Each block's 16 bytes loaded into two lanes at once, the second
	 * shifted by 4 (one shift of 16-bit lanes by counts 0 and 4, where a
	 * shift and an insert took two operations: 13 % faster alone on Zen
	 * 4): lows 0, highs 0, lows 1, highs 1. */
	const __m512i by = _mm512_set_epi64(0x0004000400040004, 0x0004000400040004, 0, 0, 0x0004000400040004,
					    0x0004000400040004, 0, 0);
	__m256i v0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + 2)));
	__m256i v1 = both ? _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(b + Q4_BYTES + 2)))
			  : _mm256_setzero_si256();
	__m512i t = _mm512_inserti64x4(_mm512_castsi256_si512(v0), v1, 1);
	return _mm512_and_si512(_mm512_srlv_epi16(t, by), _mm512_set1_epi8(15));
}

/* Q4_0's single dot, a block pair to a zmm as the rows kernel holds it: the
 * low half is block i (s0 of a dot at 256 bits), the high half block i + 1
 * (s1), each lane started at -8 times its four x (xq->o8), so the offset is
 * exact; so it gives the bits of every row of vnni_dotq_rows_q4_0.  At 512
 * bits it does in one operation what two did at 256: on Zen 5, whose pipes
 * are 512 bits wide, 11 % faster alone in L2 (21.0-21.5 -> 23.3-23.6 GB/s of
 * weights, one thread; TinyLlama Q4_0 generation 5 % faster), where on Zen 4
 * the two widths cost the same.  (Two accumulators, pairs alternating, were
 * 25 % faster alone, but would change the order of the additions that the
 * rows kernel must follow with one accumulator per output.)  x->o8 must be
 * there: the table's xq_takes asks matmul.c for it. */
VNNI static float vnni_dotq_q4_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	const __m512i half = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
	__m512 acc = _mm512_setzero_ps();
	int64_t nb = n / QK, i = 0;
	for (; i + 8 <= nb; i += 8) {
		__m512 p = _mm512_castps256_ps512(vnni_q4_scales8(b, x->d + i));
#pragma GCC unroll 4
		for (int k = 0; k < 8; k += 2, b += 2 * Q4_BYTES) {
			PREFETCH(b);
			__m512i v = _mm512_dpbusd_epi32(_mm512_loadu_si512((const void *)(x->o8 + (i + k) * 8)),
							vnni_wpair(1, b, 1),
							_mm512_loadu_si512((const void *)(x->q + (i + k) * QK)));
			/* Lanes k and k + 1 of the scale products, in the halves. */
			__m512 d = _mm512_permutexvar_ps(_mm512_add_epi32(half, _mm512_set1_epi32(k)), p);
			acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), d, acc);
		}
	}
	for (; i + 2 <= nb; i += 2, b += 2 * Q4_BYTES) {
		__m512i v = _mm512_dpbusd_epi32(_mm512_loadu_si512((const void *)(x->o8 + i * 8)), vnni_wpair(1, b, 1),
						_mm512_loadu_si512((const void *)(x->q + i * QK)));
		acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v),
				      vnni_pair(load_scale(b) * x->d[i], load_scale(b + Q4_BYTES) * x->d[i + 1]), acc);
	}
	if (i < nb) {
		__m512i v = _mm512_dpbusd_epi32(
			_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(x->o8 + i * 8))), vnni_wpair(1, b, 0),
			_mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(x->q + i * QK))));
		acc = _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_set1_ps(load_scale(b) * x->d[i]), acc, 0x00ff);
	}
	__m256 lo = _mm512_castps512_ps256(acc);
	__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1));
	return hsum(_mm256_add_ps(lo, hi));
}

VNNI_INLINE void vnni_mk(const int Q4, const int MW, const int MR, const unsigned char *w, size_t rb,
			 const struct cl_xq *x, int64_t nb, float *y, int64_t ldy)
{
	const int bb = Q4 ? Q4_BYTES : Q8_BYTES;
	const __m512i bias = _mm512_set1_epi8((char)0x80), zero = _mm512_setzero_si512();
	__m512 acc[MW_Q][MR_Q];
#pragma GCC unroll 2
	for (int r = 0; r < MW; r++)
#pragma GCC unroll 6
		for (int j = 0; j < MR; j++)
			acc[r][j] = _mm512_setzero_ps();
	for (int64_t i = 0; i < nb; i += 2) {
		int both = i + 1 < nb; /* else the last block, odd: the single dot's s0, the low half */
		__m512i wv[MW_Q], nc[MW_Q];
		__m512 dw[MW_Q];
#pragma GCC unroll 2
		for (int r = 0; r < MW; r++) {
			const unsigned char *b = w + (size_t)r * rb + (size_t)i * bb;
			PREFETCH(b);
			if (!Q4)
				PREFETCH(b + 64);
			wv[r] = vnni_wpair(Q4, b, both);
			float d0 = load_scale(b), d1 = both ? load_scale(b + bb) : 0;
			dw[r] = both ? vnni_pair(d0, d1) : _mm512_set1_ps(d0);
			if (!Q4)
				nc[r] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, bias, wv[r]));
		}
#pragma GCC unroll 6
		for (int j = 0; j < MR; j++) {
			__m512i xv, o8 = zero;
			__m512 dx;
			if (both) {
				xv = _mm512_loadu_si512((const void *)(Q4 ? (const void *)(x[j].q + i * QK)
									  : (const void *)(x[j].u + i * QK)));
				if (Q4)
					o8 = _mm512_loadu_si512((const void *)(x[j].o8 + i * 8));
				dx = _mm512_loadu_ps(x[j].d8 + i * 8);
			} else {
				xv = _mm512_zextsi256_si512(_mm256_loadu_si256(
					(const __m256i *)(Q4 ? (const void *)(x[j].q + i * QK) : (const void *)(x[j].u + i * QK))));
				if (Q4)
					o8 = _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)(x[j].o8 + i * 8)));
				dx = _mm512_set1_ps(x[j].d[i]);
			}
#pragma GCC unroll 2
			for (int r = 0; r < MW; r++) {
				__m512 p = _mm512_cvtepi32_ps(Q4 ? _mm512_dpbusd_epi32(o8, wv[r], xv)
								 : _mm512_dpbusd_epi32(nc[r], xv, wv[r]));
				acc[r][j] = both ? _mm512_fmadd_ps(p, _mm512_mul_ps(dw[r], dx), acc[r][j])
						 : _mm512_mask3_fmadd_ps(p, _mm512_mul_ps(dw[r], dx), acc[r][j], 0x00ff);
			}
		}
	}
#pragma GCC unroll 2
	for (int r = 0; r < MW; r++)
#pragma GCC unroll 6
		for (int j = 0; j < MR; j++) {
			__m256 lo = _mm512_castps512_ps256(acc[r][j]);
			__m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[r][j]), 1));
			y[j * ldy + r] = hsum(_mm256_add_ps(lo, hi));
		}
}

/* MW weight rows by nx <= MR_Q rows of x. */
VNNI_INLINE void vnni_mw(const int Q4, const int MW, int64_t nx, const unsigned char *w, size_t rb,
			 const struct cl_xq *x, int64_t nb, float *y, int64_t ldy)
{
#define Q_CASE(R) case R: vnni_mk(Q4, MW, R, w, rb, x, nb, y, ldy); break;
	switch (nx) {
	Q_CASE(6) Q_CASE(5) Q_CASE(4) Q_CASE(3) Q_CASE(2) Q_CASE(1)
	}
#undef Q_CASE
}

VNNI_INLINE void vnni_rows(const int Q4, const void *w, size_t rb, int64_t nw, const struct cl_xq *x, int64_t n,
			   int64_t cols, float *y, int64_t ldy)
{
	const unsigned char *b = w;
	int64_t nb = cols / QK;
	for (int64_t i = 0; i < n; i += MR_Q) {
		int64_t nx = n - i < MR_Q ? n - i : MR_Q, r = 0;
		for (; r + MW_Q <= nw; r += MW_Q)
			vnni_mw(Q4, MW_Q, nx, b + (size_t)r * rb, rb, x + i, nb, y + i * ldy + r, ldy);
		for (; r < nw; r++)
			vnni_mw(Q4, 1, nx, b + (size_t)r * rb, rb, x + i, nb, y + i * ldy + r, ldy);
	}
}

VNNI static void vnni_dotq_rows_q8_0(const void *w, size_t rb, int64_t nw, const struct cl_xq *x, int64_t n,
				     int64_t cols, float *y, int64_t ldy)
{
	vnni_rows(0, w, rb, nw, x, n, cols, y, ldy);
}

VNNI static void vnni_dotq_rows_q4_0(const void *w, size_t rb, int64_t nw, const struct cl_xq *x, int64_t n,
				     int64_t cols, float *y, int64_t ldy)
{
	vnni_rows(1, w, rb, nw, x, n, cols, y, ldy);
}

/* Q8_0 and Q4_0 packed 16 rows to a group (CL_PACK_*_X16, packed.c): run c of a
 * block holds bytes 4c .. 4c + 3 of each row's quants, plus 128, so
 * vpdpbusd with x's four bytes broadcast adds four products to each row's
 * lane, and eight leave each row's whole block sum there, exact in
 * integers.  Each block then takes one conversion, one product of the
 * rows' scales by x's, and one FMA for sixteen rows, where the dots above
 * take the three for every vpdpbusd.  Each row of x gets, in every lane,
 * acc = fma((float)Σ w·x, d_w·d_x, acc) block after block, so the same
 * bits whatever the rows beside it, one row or a prompt's.  A block's sum
 * starts at xq->c (-128·Σ x), which takes off the 128 of the weights; Q4_0's
 * nibbles are w + 8, unsigned as they are, and its c is -8·Σ x. */
#define X16_XR 4 /* rows of x a pass over a group's blocks (6 and 8: no faster on Zen 5) */

VNNI_INLINE void x16_mk(const int Q4, const int XR, const unsigned char *g, int64_t nb, const struct cl_xq *x,
			float *y, int64_t ldy, __mmask16 m)
{
	__m512 a[X16_XR];
#pragma GCC unroll 4
	for (int j = 0; j < XR; j++)
		a[j] = _mm512_setzero_ps();
	for (int64_t b = 0; b < nb; b++, g += 16 * (Q4 ? Q4_BYTES : Q8_BYTES)) {
		__m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)g));
		/* W[c] pairs with x's bytes 4c .. 4c + 3 (Q4_0: the low
		 * nibbles of run c are those, its high ones 16 + 4c ..). */
		__m512i W[8];
		if (Q4) {
			const __m512i lo = _mm512_set1_epi8(15);
#pragma GCC unroll 4
			for (int c = 0; c < 4; c++) {
				__m512i v = _mm512_loadu_si512((const void *)(g + 32 + 64 * c));
				W[c] = _mm512_and_si512(v, lo);
				W[c + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), lo);
			}
		} else {
#pragma GCC unroll 8
			for (int c = 0; c < 8; c++)
				W[c] = _mm512_loadu_si512((const void *)(g + 32 + 64 * c));
		}
#pragma GCC unroll 4
		for (int j = 0; j < XR; j++) {
			const int8_t *q = x[j].q + b * QK;
			/* Two chains of four, added: integers, so exact in any order. */
			__m512i s0 = _mm512_set1_epi32(x[j].c[b]), s1 = _mm512_setzero_si512();
			/* x's four bytes broadcast from memory (through a general
			 * register they cost two operations more each). */
#pragma GCC unroll 4
			for (int c = 0; c < 8; c += 2) {
				s0 = _mm512_dpbusd_epi32(s0, W[c], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 4 * c)));
				s1 = _mm512_dpbusd_epi32(s1, W[c + 1], _mm512_broadcastd_epi32(_mm_loadu_si32(q + 4 * c + 4)));
			}
			a[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)),
					       _mm512_mul_ps(dw, _mm512_set1_ps(x[j].d[b])), a[j]);
		}
	}
#pragma GCC unroll 4
	for (int j = 0; j < XR; j++)
		_mm512_mask_storeu_ps(y + j * ldy, m, a[j]);
}

VNNI_INLINE void x16_rows(const int Q4, const void *w, int64_t nr, const struct cl_xq *x, int64_t n, int64_t cols,
			  float *y, int64_t ldy)
{
	int64_t nb = cols / QK;
	for (int64_t r0 = 0; r0 < nr; r0 += 16) {
		const unsigned char *g = (const unsigned char *)w + (size_t)r0 * nb * (Q4 ? Q4_BYTES : Q8_BYTES);
		__mmask16 m = nr - r0 >= 16 ? 0xffff : (__mmask16)((1u << (nr - r0)) - 1);
		int64_t i = 0;
		for (; i + X16_XR <= n; i += X16_XR)
			x16_mk(Q4, X16_XR, g, nb, x + i, y + i * ldy + r0, ldy, m);
		switch (n - i) {
		case 3: x16_mk(Q4, 3, g, nb, x + i, y + i * ldy + r0, ldy, m); break;
		case 2: x16_mk(Q4, 2, g, nb, x + i, y + i * ldy + r0, ldy, m); break;
		case 1: x16_mk(Q4, 1, g, nb, x + i, y + i * ldy + r0, ldy, m); break;
		}
	}
}

VNNI static void vnni_dotq_x16_q8_0(const void *w, int64_t nr, const struct cl_xq *x, int64_t n, int64_t cols,
				    float *y, int64_t ldy)
{
	x16_rows(0, w, nr, x, n, cols, y, ldy);
}

VNNI static void vnni_dotq_x16_q4_0(const void *w, int64_t nr, const struct cl_xq *x, int64_t n, int64_t cols,
				    float *y, int64_t ldy)
{
	x16_rows(1, w, nr, x, n, cols, y, ldy);
}

#define AVX512_TABLE(dq8, dq4, dqr8, dqr4, xt8, xt4, dp8, dp4)                                                      \
	{                                                                                                      \
		.name = "avx512",                                                                              \
		.dot = {avx512_dot_w_f32, avx512_dot_f16, avx512_dot_bf16, avx512_dot_q8_0, avx512_dot_q4_0},  \
		.row_f32 = {avx512_row_f32, avx512_row_f16, avx512_row_bf16, avx512_row_q8_0, avx512_row_q4_0, \
			    [CL_DTYPE_Q4_1] = cl_avx2_row_q4_1, [CL_DTYPE_Q5_0] = cl_avx2_row_q5_0,           \
			    [CL_DTYPE_Q5_1] = cl_avx2_row_q5_1, [CL_DTYPE_Q2_K] = cl_avx2_row_q2_k,           \
			    [CL_DTYPE_Q3_K] = cl_avx2_row_q3_k, [CL_DTYPE_Q4_K] = cl_avx2_row_q4_k,           \
			    [CL_DTYPE_Q6_K] = cl_avx2_row_q6_k},                                              \
		.dot_rows = {avx512_rows_f32, avx512_rows_f16, avx512_rows_bf16}, .dot_rows_max = 8,            \
		.gemm = avx512_gemm, .pack = cl_avx2_pack, .gemm_p = avx512_gemm_p, .panels = 2,                \
		.dot_f32 = avx512_dot_f32, .axpy_f32 = avx512_axpy_f32,                                         \
		.quant_x = cl_avx2_quant_x,                                                                     \
		.dotq = {[CL_DTYPE_Q8_0] = dq8, [CL_DTYPE_Q4_0] = dq4, [CL_DTYPE_Q4_1] = cl_avx2_dotq_q4_1,      \
			 [CL_DTYPE_Q5_0] = cl_avx2_dotq_q5_0, [CL_DTYPE_Q5_1] = cl_avx2_dotq_q5_1,               \
			 [CL_DTYPE_Q2_K] = cl_avx2_dotq_q2_k, [CL_DTYPE_Q3_K] = cl_avx2_dotq_q3_k,               \
			 [CL_DTYPE_Q4_K] = cl_avx2_dotq_q4_k, [CL_DTYPE_Q5_K] = cl_avx2_dotq_q5_k,               \
			 [CL_DTYPE_Q6_K] = cl_avx2_dotq_q6_k},                                                  \
		.dotq_rows = {[CL_DTYPE_Q8_0] = dqr8, [CL_DTYPE_Q4_0] = dqr4},                                  \
		.dotq_packed = {[CL_DTYPE_Q8_0] = dp8, [CL_DTYPE_Q4_0] = dp4},                                  \
		.dot_packed = {[CL_DTYPE_F16] = avx512_dot_packed_f16},                                         \
		.xq_takes = {[CL_DTYPE_Q8_0] = xt8, [CL_DTYPE_Q4_0] = xt4},                                     \
		.quant_row = {[CL_DTYPE_Q8_0] = cl_avx2_quant_q8_0, [CL_DTYPE_Q4_0] = cl_avx2_quant_q4_0},      \
	}
const struct cl_kern cl_kern_avx512 = AVX512_TABLE(cl_avx2_dotq_q8_0, cl_avx2_dotq_q4_0, NULL, NULL, 0, 0, NULL, NULL);
const struct cl_kern cl_kern_avx512_vnni = AVX512_TABLE(vnni_dotq_q8_0, vnni_dotq_q4_0, vnni_dotq_rows_q8_0,
							vnni_dotq_rows_q4_0, CL_XQ_U, CL_XQ_O8, vnni_dotq_x16_q8_0,
							vnni_dotq_x16_q4_0);

#endif
