/*
 * packed.c - weights in a kernel set's own layout (enum cl_packing): which
 * matrices a set takes packed, the packing, done once at load, and a packed
 * row back as f32 (the reference and the slow paths read them so).
 *
 * Why: a product of several rows of x by Q8_0 weights in rows spends, on
 * AVX-512 VNNI, three float operations on every vpdpbusd (a lane holds four
 * products of one row, so each pair of rows needs its own conversion, scale
 * product and FMA).  With 16 rows' blocks interleaved four bytes at a time,
 * eight vpdpbusd leave sixteen rows' whole block sums in one register, and
 * the three serve sixteen rows.  Transposing the rows on the fly instead
 * cost more than the products for one row of x (16 streams to read, and
 * the scales to gather): packing once at load pays that once.  Q4_0 is
 * packed the same way, its nibbles as they are stored.  F16 is packed a
 * column of 16 rows at a time: each of its products by several rows of x
 * converted each row's tile of weights to f32 again, which took 40 % of a
 * step of 16 sequences.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

#define X16 16 /* rows a group */

enum cl_packing cl_mat_packing(const struct cl_mat *w, size_t *bytes)
{
	const struct cl_kern *k = cl_kern();
	if (w->packed || w->rows < 1)
		return CL_PACK_NONE;
	*bytes = (size_t)((w->rows + X16 - 1) / X16) * X16 * cl_dtype_size(w->dtype, w->cols);
	if (w->dtype == CL_DTYPE_F16 && k->dot_packed[CL_DTYPE_F16])
		return CL_PACK_F16_K16;
	if ((w->dtype != CL_DTYPE_Q8_0 && w->dtype != CL_DTYPE_Q4_0) || !k->dotq_packed[w->dtype] || w->cols % QK ||
	    w->cols > XQ_MAX)
		return CL_PACK_NONE;
	return w->dtype == CL_DTYPE_Q8_0 ? CL_PACK_Q8_0_X16 : CL_PACK_Q4_0_X16;
}

struct pack_job {
	const struct cl_mat *w;
	unsigned char *out;
	atomic_llong next; /* next group */
};

static void pack_task(void *arg, int ith, int nth)
{
	(void)ith, (void)nth;
	struct pack_job *j = arg;
	int64_t rows = j->w->rows, nb = j->w->cols / QK, ng = (rows + X16 - 1) / X16, g;
	if (j->w->dtype == CL_DTYPE_F16) {
		int64_t cols = j->w->cols;
		while ((g = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < ng) {
			uint16_t *o = (uint16_t *)(void *)(j->out + (size_t)g * X16 * (size_t)cols * 2);
			for (int i = 0; i < X16; i++) {
				int64_t r = g * X16 + i < rows ? g * X16 + i : rows - 1;
				const unsigned char *src = (const unsigned char *)j->w->data + (size_t)r * (size_t)cols * 2;
				for (int64_t k = 0; k < cols; k++)
					memcpy(&o[k * X16 + i], src + 2 * k, 2);
			}
		}
		return;
	}
	size_t rb = cl_dtype_size(j->w->dtype, j->w->cols);
	int q8 = j->w->dtype == CL_DTYPE_Q8_0, bb = q8 ? Q8_BYTES : Q4_BYTES, nq = bb - 2;
	uint32_t flip = q8 ? 0x80808080u : 0; /* Q8_0's quants unsigned */
	while ((g = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < ng) {
		const unsigned char *row[X16];
		for (int i = 0; i < X16; i++) {
			int64_t r = g * X16 + i < rows ? g * X16 + i : rows - 1;
			row[i] = (const unsigned char *)j->w->data + (size_t)r * rb;
		}
		/* Row after row, each read straight through (sixteen rows
		 * read side by side were sixteen streams, and slower than the
		 * memory); the group's copy stays in L2 meanwhile. */
		unsigned char *o = j->out + (size_t)g * X16 * rb;
		for (int i = 0; i < X16; i++) {
			const unsigned char *src = row[i];
			for (int64_t b = 0; b < nb; b++, src += bb) {
				unsigned char *ob = o + (size_t)b * X16 * bb;
				uint32_t q[QK / 4];
				memcpy(ob + 2 * i, src, 2);
				memcpy(q, src + 2, (size_t)nq);
				for (int c = 0; c < nq / 4; c++) {
					uint32_t v = q[c] ^ flip;
					memcpy(ob + 2 * X16 + (size_t)(4 * X16 * c + 4 * i), &v, 4);
				}
			}
		}
	}
}

void cl_mat_pack(struct cl_pool *p, const struct cl_mat *w, enum cl_packing k, void *out, struct cl_mat *dst)
{
	struct pack_job j = {.w = w, .out = out};
	atomic_init(&j.next, 0);
	cl_pool_run(p, pack_task, &j);
	*dst = *w;
	dst->data = out;
	dst->packed = (int)k;
}

void cl_packed_row(const struct cl_mat *w, int64_t r, float *out)
{
	size_t rb = cl_dtype_size(w->dtype, w->cols);
	const unsigned char *g = (const unsigned char *)w->data + (size_t)(r / X16) * X16 * rb;
	int i = (int)(r % X16), q8 = w->dtype == CL_DTYPE_Q8_0;
	if (w->dtype == CL_DTYPE_F16) {
		for (int64_t k = 0; k < w->cols; k++)
			out[k] = cl_load_f16(g + 2 * (k * X16 + i));
		return;
	}
	for (int64_t b = 0; b < w->cols / QK; b++, g += X16 * (q8 ? Q8_BYTES : Q4_BYTES)) {
		float d = cl_load_f16(g + 2 * i);
		for (int k = 0; k < QK; k++) {
			int j = q8 ? k : k % 16; /* the byte, as stored */
			unsigned char v = g[2 * X16 + (j / 4) * 4 * X16 + 4 * i + j % 4];
			int q = q8 ? (int8_t)(v ^ 0x80) : (k < 16 ? v & 15 : v >> 4) - 8;
			out[b * QK + k] = (float)q * d;
		}
	}
}
