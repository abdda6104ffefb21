/*
 * kernels_neon.c - the inner loops for arm64 (Advanced SIMD, which every
 * arm64 CPU has, fp16 conversion included).  Only the baseline instructions
 * are used: no dot-product (SDOT) or fp16 arithmetic extensions, which would
 * need a run-time check.
 *
 * Not yet run on hardware: the development machine is x86-64.  It is
 * compiled there with clang --target=aarch64-linux-gnu -fsyntax-only, and
 * tests/unit/test-kernels.c checks it against the reference on the first
 * arm64 machine that runs the suite.
 */
#if defined(__aarch64__)
#include <arm_neon.h>

#include "kernels_impl.h"

/* As in kernels_avx2.c: matvec loops prefetch the weights 4 KiB ahead. */
#define PREFETCH(p) __builtin_prefetch((const char *)(p) + 4096)

static inline float32x4_t load_f16(const uint16_t *p)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static inline float32x4_t load_bf16(const uint16_t *p)
{
	return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

static inline float load_scale(const unsigned char *b)
{
	return cl_load_f16(b);
}

/* ----------------------------------------------------------------- dots --- */

static float neon_dot_f32(const float *a, const float *b, int64_t n)
{
	float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 16 <= n; k += 16) {
		s0 = vfmaq_f32(s0, vld1q_f32(a + k), vld1q_f32(b + k));
		s1 = vfmaq_f32(s1, vld1q_f32(a + k + 4), vld1q_f32(b + k + 4));
		s2 = vfmaq_f32(s2, vld1q_f32(a + k + 8), vld1q_f32(b + k + 8));
		s3 = vfmaq_f32(s3, vld1q_f32(a + k + 12), vld1q_f32(b + k + 12));
	}
	for (; k + 4 <= n; k += 4)
		s0 = vfmaq_f32(s0, vld1q_f32(a + k), vld1q_f32(b + k));
	float t = 0;
	for (; k < n; k++)
		t += a[k] * b[k];
	return t + vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

static void neon_axpy_f32(float *y, float a, const float *x, int64_t n)
{
	int64_t k = 0;
	for (; k + 4 <= n; k += 4)
		vst1q_f32(y + k, vfmaq_n_f32(vld1q_f32(y + k), vld1q_f32(x + k), a));
	for (; k < n; k++)
		y[k] += a * x[k];
}

/* A float row may sit at any even address in a mapped file; vld1q_f32 needs
 * only element alignment, so go through bytes. */
static float neon_dot_w_f32(const void *w, const float *x, int64_t n)
{
	if (((uintptr_t)w & 3) == 0)
		return neon_dot_f32(w, x, n);
	const unsigned char *b = w;
	float32x4_t s0 = vdupq_n_f32(0);
	int64_t k = 0;
	for (; k + 4 <= n; k += 4)
		s0 = vfmaq_f32(s0, vreinterpretq_f32_u8(vld1q_u8(b + 4 * k)), vld1q_f32(x + k));
	float t = 0;
	for (; k < n; k++) {
		float f;
		memcpy(&f, b + 4 * k, 4);
		t += f * x[k];
	}
	return t + vaddvq_f32(s0);
}

static float neon_dot_f16(const void *w, const float *x, int64_t n)
{
	const uint16_t *h = w;
	float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 16 <= n; k += 16) {
		PREFETCH(h + k);
		s0 = vfmaq_f32(s0, load_f16(h + k), vld1q_f32(x + k));
		s1 = vfmaq_f32(s1, load_f16(h + k + 4), vld1q_f32(x + k + 4));
		s2 = vfmaq_f32(s2, load_f16(h + k + 8), vld1q_f32(x + k + 8));
		s3 = vfmaq_f32(s3, load_f16(h + k + 12), vld1q_f32(x + k + 12));
	}
	for (; k + 4 <= n; k += 4)
		s0 = vfmaq_f32(s0, load_f16(h + k), vld1q_f32(x + k));
	float t = 0;
	for (; k < n; k++)
		t += cl_f16_to_f32(h[k]) * x[k];
	return t + vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

static float neon_dot_bf16(const void *w, const float *x, int64_t n)
{
	const uint16_t *h = w;
	float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
	int64_t k = 0;
	for (; k + 16 <= n; k += 16) {
		PREFETCH(h + k);
		s0 = vfmaq_f32(s0, load_bf16(h + k), vld1q_f32(x + k));
		s1 = vfmaq_f32(s1, load_bf16(h + k + 4), vld1q_f32(x + k + 4));
		s2 = vfmaq_f32(s2, load_bf16(h + k + 8), vld1q_f32(x + k + 8));
		s3 = vfmaq_f32(s3, load_bf16(h + k + 12), vld1q_f32(x + k + 12));
	}
	for (; k + 4 <= n; k += 4)
		s0 = vfmaq_f32(s0, load_bf16(h + k), vld1q_f32(x + k));
	float t = 0;
	for (; k < n; k++)
		t += cl_bf16_to_f32(h[k]) * x[k];
	return t + vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

/* The 32 quants of a block as 8 vectors of 4 f32 (not yet scaled). */
static inline void widen_s8(int8x16_t v, float32x4_t *q)
{
	int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
	q[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
	q[1] = vcvtq_f32_s32(vmovl_high_s16(lo));
	q[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
	q[3] = vcvtq_f32_s32(vmovl_high_s16(hi));
}

static inline void q8_unpack(const unsigned char *b, float32x4_t q[8])
{
	widen_s8(vld1q_s8((const int8_t *)b + 2), q);
	widen_s8(vld1q_s8((const int8_t *)b + 18), q + 4);
}

static inline void q4_nibbles(const unsigned char *b, int8x16_t *lo, int8x16_t *hi)
{
	uint8x16_t v = vld1q_u8(b + 2);
	int8x16_t e = vdupq_n_s8(8);
	*lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15))), e); /* elements 0..15 */
	*hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(v, 4)), e);            /* 16..31 */
}

static inline void q4_unpack(const unsigned char *b, float32x4_t q[8])
{
	int8x16_t lo, hi;
	q4_nibbles(b, &lo, &hi);
	widen_s8(lo, q);
	widen_s8(hi, q + 4);
}

/* Block dots through 8-bit x (struct cl_xq): vmull_s8 gives 16-bit
 * products, vpadalq adds pairs of them into 32-bit lanes. */
static inline int32_t dot_s8x32(int8x16_t w0, int8x16_t w1, const int8_t *x)
{
	int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
	int32x4_t s = vdupq_n_s32(0);
	s = vpadalq_s16(s, vmull_s8(vget_low_s8(w0), vget_low_s8(x0)));
	s = vpadalq_s16(s, vmull_high_s8(w0, x0));
	s = vpadalq_s16(s, vmull_s8(vget_low_s8(w1), vget_low_s8(x1)));
	s = vpadalq_s16(s, vmull_high_s8(w1, x1));
	return vaddvq_s32(s);
}

static float neon_dotq_q8_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	float s = 0;
	for (int64_t i = 0; i < n / QK; i++, b += Q8_BYTES) {
		PREFETCH(b);
		int32_t d = dot_s8x32(vld1q_s8((const int8_t *)b + 2), vld1q_s8((const int8_t *)b + 18),
				      x->q + i * QK);
		s += (float)d * load_scale(b) * x->d[i];
	}
	return s;
}

static float neon_dotq_q4_0(const void *w, const struct cl_xq *x, int64_t n)
{
	const unsigned char *b = w;
	float s = 0;
	for (int64_t i = 0; i < n / QK; i++, b += Q4_BYTES) {
		int8x16_t lo, hi;
		PREFETCH(b);
		q4_nibbles(b, &lo, &hi);
		s += (float)dot_s8x32(lo, hi, x->q + i * QK) * load_scale(b) * x->d[i];
	}
	return s;
}

/* The f32 paths, for rows too long for the 8-bit x buffer. */
static float neon_dot_q8_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float32x4_t acc = vdupq_n_f32(0), q[8];
	for (int64_t k = 0; k < n; k += QK, b += Q8_BYTES) {
		q8_unpack(b, q);
		float32x4_t t = vmulq_f32(q[0], vld1q_f32(x + k));
		for (int j = 1; j < 8; j++)
			t = vfmaq_f32(t, q[j], vld1q_f32(x + k + 4 * j));
		acc = vfmaq_n_f32(acc, t, load_scale(b));
	}
	return vaddvq_f32(acc);
}

static float neon_dot_q4_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float32x4_t acc = vdupq_n_f32(0), q[8];
	for (int64_t k = 0; k < n; k += QK, b += Q4_BYTES) {
		q4_unpack(b, q);
		float32x4_t t = vmulq_f32(q[0], vld1q_f32(x + k));
		for (int j = 1; j < 8; j++)
			t = vfmaq_f32(t, q[j], vld1q_f32(x + k + 4 * j));
		acc = vfmaq_n_f32(acc, t, load_scale(b));
	}
	return vaddvq_f32(acc);
}

/* ------------------------------------------------------- rows as f32 --- */

static void neon_row_f32(const void *w, int64_t k0, int64_t kc, float *out)
{
	memcpy(out, (const float *)w + k0, (size_t)kc * 4);
}

static void neon_row_f16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 4 <= kc; k += 4)
		vst1q_f32(out + k, load_f16(h + k));
	for (; k < kc; k++)
		out[k] = cl_f16_to_f32(h[k]);
}

static void neon_row_bf16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const uint16_t *h = (const uint16_t *)w + k0;
	int64_t k = 0;
	for (; k + 4 <= kc; k += 4)
		vst1q_f32(out + k, load_bf16(h + k));
	for (; k < kc; k++)
		out[k] = cl_bf16_to_f32(h[k]);
}

static void neon_row_q8_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q8_BYTES;
	float32x4_t q[8];
	for (int64_t k = 0; k < kc; k += QK, b += Q8_BYTES) {
		float d = load_scale(b);
		q8_unpack(b, q);
		for (int j = 0; j < 8; j++)
			vst1q_f32(out + k + 4 * j, vmulq_n_f32(q[j], d));
	}
}

static void neon_row_q4_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q4_BYTES;
	float32x4_t q[8];
	for (int64_t k = 0; k < kc; k += QK, b += Q4_BYTES) {
		float d = load_scale(b);
		q4_unpack(b, q);
		for (int j = 0; j < 8; j++)
			vst1q_f32(out + k + 4 * j, vmulq_n_f32(q[j], d));
	}
}

/* ----------------------------------------------------------------- gemm --- */

/* As avx2_mk, 4 x 4 of 4-wide accumulators: 16 + 4 + 1 of the 32 vector
 * registers.  The tail (kc % 4) is added in scalar. */
static inline __attribute__((always_inline)) void neon_mk(const int MI, const int MR, int64_t kc,
							  const float *x, int64_t ldx, const float *w,
							  int64_t ldw, float *y, int64_t ldy)
{
	float32x4_t acc[4][4];
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			acc[i][r] = vdupq_n_f32(0);
	int64_t k = 0;
	for (; k + 4 <= kc; k += 4) {
		float32x4_t wv[4];
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++)
			wv[r] = vld1q_f32(w + r * ldw + k);
#pragma GCC unroll 4
		for (int i = 0; i < MI; i++) {
			float32x4_t xv = vld1q_f32(x + i * ldx + k);
#pragma GCC unroll 4
			for (int r = 0; r < MR; r++)
				acc[i][r] = vfmaq_f32(acc[i][r], xv, wv[r]);
		}
	}
#pragma GCC unroll 4
	for (int i = 0; i < MI; i++)
#pragma GCC unroll 4
		for (int r = 0; r < MR; r++) {
			float t = vaddvq_f32(acc[i][r]);
			for (int64_t kk = k; kk < kc; kk++)
				t += x[i * ldx + kk] * w[r * ldw + kk];
			y[i * ldy + r] += t;
		}
}

static inline __attribute__((always_inline)) void neon_mk_rows(const int MR, int64_t ni, int64_t kc,
							       const float *x, int64_t ldx, const float *w,
							       int64_t ldw, float *y, int64_t ldy)
{
	int64_t i = 0;
	for (; i + 4 <= ni; i += 4)
		neon_mk(4, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy);
	switch (ni - i) {
	case 3: neon_mk(3, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 2: neon_mk(2, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	case 1: neon_mk(1, MR, kc, x + i * ldx, ldx, w, ldw, y + i * ldy, ldy); break;
	}
}

static void neon_gemm(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx, const float *w,
		      int64_t ldw, float *y, int64_t ldy)
{
	/* The tile driver passes f32 weights in place only when 4-aligned. */
	int64_t r = 0;
	for (; r + 4 <= nr; r += 4)
		neon_mk_rows(4, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy);
	switch (nr - r) {
	case 3: neon_mk_rows(3, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	case 2: neon_mk_rows(2, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	case 1: neon_mk_rows(1, ni, kc, x, ldx, w + r * ldw, ldw, y + r, ldy); break;
	}
}

const struct cl_kern cl_kern_neon = {
	.name = "neon",
	.dot = {neon_dot_w_f32, neon_dot_f16, neon_dot_bf16, neon_dot_q8_0, neon_dot_q4_0},
	.row_f32 = {neon_row_f32, neon_row_f16, neon_row_bf16, neon_row_q8_0, neon_row_q4_0},
	.gemm = neon_gemm,
	.dot_f32 = neon_dot_f32,
	.axpy_f32 = neon_axpy_f32,
	.quant_x = cl_quant_x_c,
	.dotq = {[CL_DTYPE_Q8_0] = neon_dotq_q8_0, [CL_DTYPE_Q4_0] = neon_dotq_q4_0},
	.quant_row = {[CL_DTYPE_Q8_0] = cl_quant_q8_0_c, [CL_DTYPE_Q4_0] = cl_quant_q4_0_c},
};
#endif
