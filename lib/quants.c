/*
 * quants.c - ggml's other block types, as GGUF files hold them, in plain C:
 * the reference that turns a block back into its f32 elements, bit for bit
 * as ggml's own dequantization does (the same products, in the same order,
 * each product rounded to f32 as there).  cl reads these types and computes with
 * them directly; it does not make them.
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
