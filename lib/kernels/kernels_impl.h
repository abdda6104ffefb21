/*
 * kernels_impl.h - private to lib/kernels*.c: the table of inner loops that
 * each instruction set fills in, and the block formats they share.
 *
 * kernels.c holds the drivers (threading, tiling, dispatch), the plain-C
 * reference and the plain-C fast path; kernels_avx2.c, kernels_avx512.c and
 * kernels_neon.c each fill one table, compiled with per-function target
 * attributes so the default build runs on any CPU of its architecture.
 */
#ifndef CL_KERNELS_IMPL_H
#define CL_KERNELS_IMPL_H

#include <string.h>

#include "kernels.h"

#define QK 32          /* elements per Q8_0 / Q4_0 block */
#define Q8_BYTES 34    /* f16 scale, 32 x int8 */
#define Q4_BYTES 18    /* f16 scale, 16 bytes: element j low nibble of byte j, j+16 high */
#define PANEL 16       /* weight rows in a packed panel (struct cl_kern's pack) */

/* x quantized to 8 bits in blocks of 32 (as llama.cpp does for its Q8_0 and
 * Q4_0 products): x[k] ~ q[k]·d[k/32], |q| <= 127, and s[b] = d[b]·Σ q over
 * block b (for Q4_0's offset of 8).  Lets a block's dot product run on 8-bit
 * integer multiply-adds, 32 per instruction. */
enum { CL_XQ_O8 = 1, CL_XQ_U = 2, CL_XQ_C = 4, CL_XQ_C8 = 8 }; /* struct cl_kern's xq_takes */

struct cl_xq {
	const int8_t *q; /* (cols) */
	const float *d;  /* (cols / 32) */
	const float *s;  /* (cols / 32) */
	/* Made only where the set's dots of the weights' type take them (struct
	 * cl_kern's xq_takes; else NULL): -8 times the sum of each 4 q (the
	 * lanes of vpdpbusd: Q4_0's offset of 8, exact in integers); and for a
	 * product of several rows through dotq_rows, q + 128 as unsigned bytes
	 * (Q8_0's) and each d[b] repeated 8 times (a vector's half per block). */
	const uint8_t *u;  /* (cols) */
	const float *d8;   /* (cols / 32 · 8) */
	const int32_t *o8; /* (cols / 4) */
	/* For the packed dots: each block's Σ q times -128 (CL_XQ_C, Q8_0's)
	 * or -8 (CL_XQ_C8, Q4_0's), which takes off exactly the 128 or 8 that
	 * the packed weights carry. */
	const int32_t *c; /* (cols / 32) */
};

/* Longest row whose x is quantized to 8 bits (the widest layer of a 70B
 * Llama is 28672); longer rows take the f32 path, and are not packed. */
#define XQ_MAX 32768

/* The inner loops of one instruction set.  Unaligned data throughout: rows
 * of a mapped safetensors file are only 2-byte aligned, and a Q8_0 block is
 * 34 bytes. */
struct cl_kern {
	const char *name;
	/* Σ_k w[k]·x[k] over one weight row of `cols` elements (matvec). */
	float (*dot[CL_DTYPE_COUNT])(const void *w, const float *x, int64_t cols);
	/* Optional (NULL: dot row by row, or the tiles): nw weight rows
	 * (row_bytes apart) by n rows of x (cols apart), y[i·ldy + r] =
	 * dot(w_r, x_i, cols) bit for bit, each weight loaded once for
	 * several x (sequences stepping together). */
	void (*dot_rows[CL_DTYPE_COUNT])(const void *w, size_t row_bytes, int64_t nw, const float *x, int64_t n,
					 int64_t cols, float *y, int64_t ldy);
	/* Rows of x up to which dot_rows run instead of the tiles (0: as many
	 * as the plain dots, matmul.c's MV_MULTI). */
	int dot_rows_max;
	/* Elements k0..k0+kc-1 of one weight row as f32 (k0 a multiple of 32). */
	void (*row_f32[CL_DTYPE_COUNT])(const void *w, int64_t k0, int64_t kc, float *out);
	/* y[i·ldy + r] += Σ_{k<kc} x[i·ldx + k]·w[r·ldw + k], i < ni, r < nr:
	 * a block of the batched product, weights already in f32. */
	void (*gemm)(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
		     const float *w, int64_t ldw, float *y, int64_t ldy);
	/* Optional (NULL: gemm above): the batched product on weights packed
	 * k-major, PANEL rows at a time, which lets the inner loop broadcast x
	 * and keep whole rows of y in registers.  pack: rows t[r·ldt + k]
	 * (r < PANEL, k < kc) to p[k·PANEL + r].  gemm_p: y[i·ldy + r] +=
	 * Σ_{k<kc} x[i·ldx + k]·P_{r/PANEL}[k·PANEL + r % PANEL], i < ni,
	 * r < nr <= panels·PANEL, where panel q is P_q = p + q·ldp. */
	void (*pack)(const float *t, int64_t ldt, int64_t kc, float *p);
	void (*gemm_p)(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx, const float *p,
		       int64_t ldp, float *y, int64_t ldy);
	int panels; /* panels a gemm_p call takes */
	float (*dot_f32)(const float *a, const float *b, int64_t n);
	void (*axpy_f32)(float *y, float a, const float *x, int64_t n);
	/* Optional (NULL: the f32 path): x quantized as struct cl_xq, and the
	 * dot of a Q8_0 or Q4_0 row with it. */
	void (*quant_x)(const float *x, int64_t n, int8_t *q, float *d, float *s);
	float (*dotq[CL_DTYPE_COUNT])(const void *w, const struct cl_xq *x, int64_t cols);
	/* Optional (NULL: dotq row by row, or the tiles): nw weight rows
	 * (row_bytes apart) by n rows of x, y[i·ldy + r] = dotq(w_r, &x[i],
	 * cols) bit for bit, each weight block loaded once for several x. */
	void (*dotq_rows[CL_DTYPE_COUNT])(const void *w, size_t row_bytes, int64_t nw, const struct cl_xq *x,
					  int64_t n, int64_t cols, float *y, int64_t ldy);
	/* Optional (NULL: the set packs no weights of the type): weights in
	 * the set's layout (enum cl_packing, packed.c) by n rows of x, from
	 * a group's start: y[i·ldy + r] for the nr rows r there, each row of
	 * x computed alone in the same way whatever n.  x takes c. */
	void (*dotq_packed[CL_DTYPE_COUNT])(const void *w, int64_t nr, const struct cl_xq *x, int64_t n,
					    int64_t cols, float *y, int64_t ldy);
	/* The same for weights whose products take x in f32 (F16). */
	void (*dot_packed[CL_DTYPE_COUNT])(const void *w, int64_t nr, const float *x, int64_t n, int64_t cols,
					   float *y, int64_t ldy);
	/* What besides q, d and s the dots of a type take (CL_XQ_*): made
	 * only then, o8 for every product, u (with d8) for several rows. */
	unsigned char xq_takes[CL_DTYPE_COUNT];
	/* n f32 (a multiple of 32) into Q8_0 or Q4_0 blocks, bit for bit as
	 * the plain-C cl_quant_q8_0_c / cl_quant_q4_0_c do, so a quantized model
	 * is the same whichever CPU made it. */
	void (*quant_row[CL_DTYPE_COUNT])(const float *x, int64_t n, unsigned char *out);
};

extern const struct cl_kern cl_kern_generic;
/* quants.c: one block of type t (32 or 256 elements) as f32, as ggml
 * dequantizes it; and elements k0..k0+kc-1 of a row (k0, kc whole blocks). */
void cl_dequant_block(enum cl_dtype t, const void *blk, float *out);
void cl_dequant_c(enum cl_dtype t, const void *row, int64_t k0, int64_t kc, float *out);
/* The dot of a row of a block type by converting 256 elements at a time with
 * the running set's row_f32 and summing with its dot_f32: the dot of every
 * type a set has no dot of its own for (kernels.c). */
float cl_dot_blocks(enum cl_dtype t, const void *w, const float *x, int64_t cols);
/* The kernel set in use (chosen at the first call: cpuid, CL_KERNELS). */
const struct cl_kern *cl_kern(void);
/* packed.c: row r of a packed matrix as f32. */
void cl_packed_row(const struct cl_mat *w, int64_t r, float *out);
/* struct cl_xq from x in plain C (n a multiple of 32); q rounds half away
 * from zero. */
void cl_quant_x_c(const float *x, int64_t n, int8_t *q, float *d, float *s);
void cl_quant_q8_0_c(const float *x, int64_t n, unsigned char *out);
void cl_quant_q4_0_c(const float *x, int64_t n, unsigned char *out);
/* quants.c: Q4_K and Q6_K as ggml's reference quantizers make them (n a
 * multiple of 256). */
void cl_quant_q4_k_c(const float *x, int64_t n, unsigned char *out);
void cl_quant_q6_k_c(const float *x, int64_t n, unsigned char *out);
#if defined(__x86_64__)
extern const struct cl_kern cl_kern_avx2;
extern const struct cl_kern cl_kern_avx512;
extern const struct cl_kern cl_kern_avx512_vnni; /* the same with VNNI's 8-bit dots */
/* The 8-bit dots of kernels_avx2.c, shared with the AVX-512 table: without
 * VNNI, AVX-512 has no better 8-bit dot, and every AVX-512 CPU runs these. */
void cl_avx2_quant_x(const float *x, int64_t n, int8_t *q, float *d, float *s);
float cl_avx2_dotq_q8_0(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q4_0(const void *w, const struct cl_xq *x, int64_t cols);
void cl_avx2_quant_q8_0(const float *x, int64_t n, unsigned char *out);
void cl_avx2_quant_q4_0(const float *x, int64_t n, unsigned char *out);
/* The packing of panels for gemm_p (a transpose, the same layout whatever
 * the width of the kernel that reads it). */
void cl_avx2_pack(const float *t, int64_t ldt, int64_t kc, float *p);
/* kernels_avx2_gguf.c: the GGUF-only types' dots with x at 8 bits (every
 * sub-block of 32 or 16 lies in one block of x) and their rows as f32; the
 * AVX-512 tables take them too. */
float cl_avx2_dotq_q4_1(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q5_0(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q5_1(const void *w, const struct cl_xq *x, int64_t cols);
void cl_avx2_row_q4_1(const void *w, int64_t k0, int64_t kc, float *out);
void cl_avx2_row_q2_k(const void *w, int64_t k0, int64_t kc, float *out);
void cl_avx2_row_q3_k(const void *w, int64_t k0, int64_t kc, float *out);
void cl_avx2_row_q5_0(const void *w, int64_t k0, int64_t kc, float *out);
void cl_avx2_row_q5_1(const void *w, int64_t k0, int64_t kc, float *out);
float cl_avx2_dotq_q2_k(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q3_k(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q4_k(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q5_k(const void *w, const struct cl_xq *x, int64_t cols);
float cl_avx2_dotq_q6_k(const void *w, const struct cl_xq *x, int64_t cols);
/* Their rows as f32, bit for bit as cl_dequant_c. */
void cl_avx2_row_q4_k(const void *w, int64_t k0, int64_t kc, float *out);
void cl_avx2_row_q6_k(const void *w, int64_t k0, int64_t kc, float *out);
#endif
#if defined(__aarch64__)
extern const struct cl_kern cl_kern_neon;
#endif

/* Sub-block j's (0-7) 6-bit scale and min of a Q4_K / Q5_K super-block's
 * 12 scale bytes q: the first four in the low 6 bits of bytes 0-3 (scales)
 * and 4-7 (mins), the last four from the nibbles of bytes 8-11 and the top
 * two bits of bytes 0-7. */
static inline void cl_k4_scale_min(int j, const unsigned char *q, int *sc, int *mn)
{
	if (j < 4) {
		*sc = q[j] & 63;
		*mn = q[j + 4] & 63;
	} else {
		*sc = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4;
		*mn = (q[j + 4] >> 4) | (q[j] >> 6) << 4;
	}
}

static inline float cl_load_f16(const void *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return cl_f16_to_f32(h);
}

#endif
