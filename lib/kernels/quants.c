/*
 * quants.c - ggml's other block types, as GGUF files hold them, in plain C:
 * the reference that turns a block back into its f32 elements, bit for bit
 * as ggml's own dequantization does (the same products, in the same order,
 * each product rounded to f32 as there); and, for Q4_K and Q6_K (what
 * Q4_K_M files mix), the quantizers, which choose the same scales and quants
 * as ggml's reference quantizers without an importance matrix (llama-quantize's
 * default), so that a file cl writes holds the bytes llama.cpp would.
 *
 * Blocks of 32 (element j of a block in the low nibble of byte j, element
 * j + 16 in the high one, as Q4_0):
 *   Q4_1  f16 d, f16 m, 16 bytes of nibbles          x = d·q + m
 *   Q5_0  f16 d, 32 fifth bits, 16 bytes of nibbles  x = d·(q - 16)
 *   Q5_1  f16 d, f16 m, 32 fifth bits, nibbles       x = d·q + m
 * Super-blocks of 256, in sub-blocks whose scales are quantized too:
 *   Q2_K  16 bytes of 4-bit scale | 4-bit min, 64 bytes of 2-bit quants,
 *         f16 d, f16 dmin                            x = d·sc·q - dmin·mn
 *   Q3_K  32 bytes of high bits, 64 of 2-bit quants, 12 bytes of 6-bit
 *         scales, f16 d                              x = d·(sc - 32)·(q - 4·!hi)
 *   Q4_K  f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 bytes of
 *         nibbles (8 sub-blocks of 32)               x = d·sc·q - dmin·mn
 *   Q5_K  as Q4_K with 32 bytes of fifth bits before the nibbles
 *   Q6_K  128 bytes of low nibbles, 64 of 2-bit highs, 16 int8 scales,
 *         f16 d (16 sub-blocks of 16)                x = d·sc·(q - 32)
 * In the 2-bit layouts (Q2_K, Q3_K, Q6_K's highs) a byte holds four
 * elements 32 apart, at shifts 0, 2, 4, 6, and a half of 128 elements takes
 * 32 bytes.
 */
#include <math.h>
#include <string.h>

#include "kernels_impl.h"

static float h16(const unsigned char *p)
{
	return cl_load_f16(p);
}

static void q4_1(const unsigned char *b, float *y)
{
	float d = h16(b), m = h16(b + 2);
	for (int j = 0; j < 16; j++) {
		y[j] = (float)(b[4 + j] & 15) * d + m;
		y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
	}
}

static void q5(const unsigned char *b, float *y, int with_min)
{
	float d = h16(b), m = with_min ? h16(b + 2) : 0;
	const unsigned char *qh = b + (with_min ? 4 : 2), *qs = qh + 4;
	uint32_t h = (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
	for (int j = 0; j < 16; j++) {
		int lo = (qs[j] & 15) | (int)((h >> j) & 1) << 4;
		int hi = (qs[j] >> 4) | (int)((h >> (j + 16)) & 1) << 4;
		if (with_min) {
			y[j] = (float)lo * d + m;
			y[j + 16] = (float)hi * d + m;
		} else {
			y[j] = (float)(lo - 16) * d;
			y[j + 16] = (float)(hi - 16) * d;
		}
	}
}

static void q2_k(const unsigned char *b, float *y)
{
	const unsigned char *sc = b, *q = b + 16;
	float d = h16(b + 80), dmin = h16(b + 82);
	int is = 0;
	for (int half = 0; half < 2; half++, q += 32)
		for (int shift = 0; shift < 8; shift += 2)
			for (int part = 0; part < 2; part++, is++) {
				float dl = d * (float)(sc[is] & 15), ml = dmin * (float)(sc[is] >> 4);
				for (int l = 0; l < 16; l++)
					*y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
			}
}

static void q3_k(const unsigned char *b, float *y)
{
	const unsigned char *hm = b, *q = b + 32, *s = b + 96;
	float d = h16(b + 108);
	/* 16 6-bit scales: low nibbles from bytes 0-7, top two bits from 8-11. */
	int sc[16];
	for (int j = 0; j < 16; j++) {
		int lo = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
		int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
		sc[j] = (lo | hi << 4) - 32;
	}
	int is = 0, m = 1;
	for (int half = 0; half < 2; half++, q += 32)
		for (int shift = 0; shift < 8; shift += 2, m <<= 1)
			for (int part = 0; part < 2; part++, is++) {
				float dl = d * (float)sc[is];
				for (int l = 0; l < 16; l++) {
					int k = 16 * part + l;
					*y++ = dl * (float)(((q[k] >> shift) & 3) - (hm[k] & m ? 0 : 4));
				}
			}
}

static void q45_k(const unsigned char *b, float *y, int five)
{
	float d = h16(b), dmin = h16(b + 2);
	const unsigned char *s = b + 4, *qh = b + 16, *q = b + (five ? 48 : 16);
	int u = 1;
	for (int j = 0; j < 8; j += 2, q += 32, u <<= 2) {
		int sc, mn;
		cl_k4_scale_min(j, s, &sc, &mn);
		float d1 = d * (float)sc, m1 = dmin * (float)mn;
		cl_k4_scale_min(j + 1, s, &sc, &mn);
		float d2 = d * (float)sc, m2 = dmin * (float)mn;
		for (int l = 0; l < 32; l++)
			*y++ = d1 * (float)((q[l] & 15) + (five && (qh[l] & u) ? 16 : 0)) - m1;
		for (int l = 0; l < 32; l++)
			*y++ = d2 * (float)((q[l] >> 4) + (five && (qh[l] & u << 1) ? 16 : 0)) - m2;
	}
}

static void q6_k(const unsigned char *b, float *y)
{
	const unsigned char *ql = b, *qh = b + 128;
	const int8_t *sc = (const int8_t *)(b + 192);
	float d = h16(b + 208);
	for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8)
		for (int l = 0; l < 32; l++) {
			int is = l / 16;
			int q1 = ((ql[l] & 15) | ((qh[l] >> 0) & 3) << 4) - 32;
			int q2 = ((ql[l + 32] & 15) | ((qh[l] >> 2) & 3) << 4) - 32;
			int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
			int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
			y[l] = d * (float)sc[is] * (float)q1;
			y[l + 32] = d * (float)sc[is + 2] * (float)q2;
			y[l + 64] = d * (float)sc[is + 4] * (float)q3;
			y[l + 96] = d * (float)sc[is + 6] * (float)q4;
		}
}

void cl_dequant_block(enum cl_dtype t, const void *blk, float *out)
{
	const unsigned char *b = blk;
	switch (t) {
	case CL_DTYPE_Q8_0:
		for (int j = 0; j < QK; j++)
			out[j] = (float)(int8_t)b[2 + j] * h16(b);
		break;
	case CL_DTYPE_Q4_0:
		for (int j = 0; j < 16; j++) {
			out[j] = (float)((b[2 + j] & 15) - 8) * h16(b);
			out[j + 16] = (float)((b[2 + j] >> 4) - 8) * h16(b);
		}
		break;
	case CL_DTYPE_Q4_1: q4_1(b, out); break;
	case CL_DTYPE_Q5_0: q5(b, out, 0); break;
	case CL_DTYPE_Q5_1: q5(b, out, 1); break;
	case CL_DTYPE_Q2_K: q2_k(b, out); break;
	case CL_DTYPE_Q3_K: q3_k(b, out); break;
	case CL_DTYPE_Q4_K: q45_k(b, out, 0); break;
	case CL_DTYPE_Q5_K: q45_k(b, out, 1); break;
	case CL_DTYPE_Q6_K: q6_k(b, out); break;
	default: break;
	}
}

void cl_dequant_c(enum cl_dtype t, const void *row, int64_t k0, int64_t kc, float *out)
{
	int64_t nb = cl_dtype_block(t);
	size_t bb = cl_dtype_size(t, nb);
	const unsigned char *b = (const unsigned char *)row + (size_t)(k0 / nb) * bb;
	for (int64_t k = 0; k < kc; k += nb, b += bb)
		cl_dequant_block(t, b, out + k);
}

/* ------------------------------------------------------------ making --- */

/* Round to nearest, ties to even, for |f| < 2^22: adding 1.5·2^23 leaves
 * the integer in the low mantissa bits (the rounding ggml's quantizers use;
 * lrintf would depend on the rounding mode). */
static int nearest(float f)
{
	float v = f + 12582912.0f;
	int32_t i;
	memcpy(&i, &v, 4);
	return (i & 0x007fffff) - 0x00400000;
}

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* One sub-block of n as x ~ scale·L - min, L in 0..nmax, min >= 0: start
 * from the range, then try nstep + 1 other inverse scales around nmax/range,
 * each refined by weighted least squares, keeping the one of least weighted
 * squared error.  Returns scale; *the_min gets min. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *the_min,
			   float rmin, float rdelta, int nstep)
{
	float lo = x[0], hi = x[0], sum_w = w[0], sum_x = w[0] * x[0];
	for (int i = 1; i < n; i++) {
		lo = x[i] < lo ? x[i] : lo;
		hi = x[i] > hi ? x[i] : hi;
		sum_w += w[i];
		sum_x += w[i] * x[i];
	}
	if (lo > 0)
		lo = 0;
	if (hi == lo) {
		memset(L, 0, (size_t)n);
		*the_min = -lo;
		return 0;
	}
	float iscale = (float)nmax / (hi - lo), scale = 1 / iscale, best = 0;
	for (int i = 0; i < n; i++) {
		L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
		float diff = scale * L[i] + lo - x[i];
		best += w[i] * (diff * diff);
	}
	uint8_t aux[32];
	for (int is = 0; is <= nstep; is++) {
		iscale = (rmin + rdelta * (float)is + (float)nmax) / (hi - lo);
		float sum_l = 0, sum_l2 = 0, sum_xl = 0;
		for (int i = 0; i < n; i++) {
			int l = clampi(nearest(iscale * (x[i] - lo)), 0, nmax);
			aux[i] = (uint8_t)l;
			sum_l += w[i] * (float)l;
			sum_l2 += w[i] * (float)l * (float)l;
			sum_xl += w[i] * (float)l * x[i];
		}
		float D = sum_w * sum_l2 - sum_l * sum_l;
		if (D > 0) {
			float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
			float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
			if (this_min > 0) {
				this_min = 0;
				this_scale = sum_xl / sum_l2;
			}
			float err = 0;
			for (int i = 0; i < n; i++) {
				float diff = this_scale * aux[i] + this_min - x[i];
				err += w[i] * (diff * diff);
			}
			if (err < best) {
				memcpy(L, aux, (size_t)n);
				best = err;
				scale = this_scale;
				lo = this_min;
			}
		}
	}
	*the_min = -lo;
	return scale;
}

/* Q4_K: each sub-block of 32 fitted with weights |x| + rms(x), its scale and
 * min then quantized to 6 bits against the super-block's largest, and the
 * quants chosen again with the stored scales. */
void cl_quant_q4_k_c(const float *x, int64_t n, unsigned char *out)
{
	for (int64_t k = 0; k < n; k += 256, x += 256, out += 144) {
		uint8_t L[256];
		float scales[8], mins[8], w[32], max_scale = 0, max_min = 0;
		for (int j = 0; j < 8; j++) {
			const float *xb = x + 32 * j;
			float sum_x2 = 0;
			for (int l = 0; l < 32; l++)
				sum_x2 += xb[l] * xb[l];
			float av = sqrtf(sum_x2 / 32);
			for (int l = 0; l < 32; l++)
				w[l] = av + fabsf(xb[l]);
			scales[j] = fit_scale_min(32, 15, xb, w, L + 32 * j, &mins[j], -1.0f, 0.1f, 20);
			max_scale = scales[j] > max_scale ? scales[j] : max_scale;
			max_min = mins[j] > max_min ? mins[j] : max_min;
		}
		float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0, inv_min = max_min > 0 ? 63.0f / max_min : 0;
		unsigned char *sc = out + 4;
		memset(sc, 0, 12);
		for (int j = 0; j < 8; j++) {
			uint8_t ls = (uint8_t)nearest(inv_scale * scales[j]), lm = (uint8_t)nearest(inv_min * mins[j]);
			ls = ls < 63 ? ls : 63;
			lm = lm < 63 ? lm : 63;
			if (j < 4) {
				sc[j] = ls;
				sc[j + 4] = lm;
			} else {
				sc[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
				sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
				sc[j] |= (uint8_t)((lm >> 4) << 6);
			}
		}
		uint16_t hd = cl_f32_to_f16(max_scale / 63.0f), hm = cl_f32_to_f16(max_min / 63.0f);
		memcpy(out, &hd, 2);
		memcpy(out + 2, &hm, 2);
		float d = cl_f16_to_f32(hd), dmin = cl_f16_to_f32(hm);
		for (int j = 0; j < 8; j++) {
			int s, m;
			cl_k4_scale_min(j, sc, &s, &m);
			float dj = d * (float)s;
			if (dj == 0)
				continue;
			float dm = dmin * (float)m;
			for (int l = 0; l < 32; l++)
				L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + dm) / dj), 0, 15);
		}
		unsigned char *q = out + 16;
		for (int j = 0; j < 256; j += 64, q += 32)
			for (int l = 0; l < 32; l++)
				q[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
	}
}

/* One sub-block of 16 as x ~ scale·(L - 32), L in 0..63: 19 inverse scales
 * around -32/max (max: the element of largest magnitude, with its sign),
 * keeping the one whose x²-weighted least-squares fit explains most. */
static float fit_scale_6(const float *x, int8_t *L)
{
	float amax = 0, max = 0;
	for (int i = 0; i < 16; i++)
		if (fabsf(x[i]) > amax) {
			amax = fabsf(x[i]);
			max = x[i];
		}
	if (amax < 1e-15f) {
		memset(L, 0, 16);
		return 0;
	}
	float iscale = -32.0f / max, sumlx = 0, suml2 = 0;
	for (int i = 0; i < 16; i++) {
		int l = clampi(nearest(iscale * x[i]), -32, 31);
		L[i] = (int8_t)(l + 32);
		float w = x[i] * x[i];
		sumlx += w * x[i] * (float)l;
		suml2 += w * (float)l * (float)l;
	}
	float scale = suml2 != 0 ? sumlx / suml2 : 0, best = scale * sumlx;
	for (int is = -9; is <= 9; is++) {
		if (is == 0)
			continue;
		iscale = -(32.0f + 0.1f * (float)is) / max;
		sumlx = suml2 = 0;
		for (int i = 0; i < 16; i++) {
			int l = clampi(nearest(iscale * x[i]), -32, 31);
			float w = x[i] * x[i];
			sumlx += w * x[i] * (float)l;
			suml2 += w * (float)l * (float)l;
		}
		if (suml2 > 0 && sumlx * sumlx > best * suml2) {
			for (int i = 0; i < 16; i++)
				L[i] = (int8_t)(32 + clampi(nearest(iscale * x[i]), -32, 31));
			scale = sumlx / suml2;
			best = scale * sumlx;
		}
	}
	return scale;
}

/* Q6_K: sixteen sub-blocks of 16 fitted, their scales to int8 against the
 * largest, the quants chosen again with the stored scales. */
void cl_quant_q6_k_c(const float *x, int64_t n, unsigned char *out)
{
	for (int64_t k = 0; k < n; k += 256, x += 256, out += 210) {
		int8_t L[256];
		float scales[16], max_scale = 0, max_abs = 0;
		for (int ib = 0; ib < 16; ib++) {
			scales[ib] = fit_scale_6(x + 16 * ib, L + 16 * ib);
			if (fabsf(scales[ib]) > max_abs) {
				max_abs = fabsf(scales[ib]);
				max_scale = scales[ib];
			}
		}
		if (max_abs < 1e-15f) {
			memset(out, 0, 210);
			continue;
		}
		float iscale = -128.0f / max_scale;
		uint16_t hd = cl_f32_to_f16(1 / iscale);
		memcpy(out + 208, &hd, 2);
		int8_t *sc = (int8_t *)(out + 192);
		for (int ib = 0; ib < 16; ib++) {
			int v = nearest(iscale * scales[ib]);
			sc[ib] = (int8_t)(v < 127 ? v : 127);
		}
		float d = cl_f16_to_f32(hd);
		for (int j = 0; j < 16; j++) {
			float dj = d * (float)sc[j];
			if (dj == 0)
				continue;
			for (int l = 0; l < 16; l++)
				L[16 * j + l] = (int8_t)(clampi(nearest(x[16 * j + l] / dj), -32, 31) + 32);
		}
		unsigned char *ql = out, *qh = out + 128;
		for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
			for (int l = 0; l < 32; l++) {
				int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
				ql[l] = (uint8_t)((q1 & 15) | (q3 & 15) << 4);
				ql[l + 32] = (uint8_t)((q2 & 15) | (q4 & 15) << 4);
				qh[l] = (uint8_t)(q1 >> 4 | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6);
			}
	}
}
