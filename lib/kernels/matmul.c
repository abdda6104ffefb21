/*
 * matmul.c - the threaded matrix products (cl_matmul): which kernels a
 * product takes, how its rows are shared among the threads, and x at 8 bits
 * for the integer dots.
 *
 * Two shapes of product.  Generating a token multiplies each weight matrix by
 * one vector: every weight byte is read once, so the speed is the memory's
 * and the loop only has to keep up (each thread takes its own share of the
 * rows in small chunks, then helps with the others', so a core slowed by
 * another process does fewer).  A prompt multiplies by n vectors at once: a
 * tile of weight rows is converted to f32 once into a buffer on the
 * thread's stack and used for all n rows of x, so the cost of converting
 * F16 or unpacking Q4_0 is shared by the batch and the loop runs near the
 * FMA rate (AVX2 and AVX-512 pack the tile k-major in panels of 16 rows,
 * matmul_p_task; the plain-C and NEON sets take it as rows, matmul_task).
 *
 * Batched products of Q8_0 and Q4_0 weights (kernels.c) use the dequantized
 * weights against x in f32, so they compute the reference's sum up to the
 * order of f32 additions.  A matvec with these types on AVX2 / AVX-512 first quantizes x to 8 bits per
 * block of 32 (d = amax/127, as llama.cpp does), so that a block's dot is a
 * few integer multiply-adds and the loop keeps up with the memory; that adds
 * an error of at most Σ_b Σ_{k in b} |w_k| · amax_b(x)/254 (half a step of
 * x's quantization), which tests/unit/test-kernels.c checks.  Where the
 * running set has dots of several rows at once for the type (dotq_rows:
 * AVX-512 VNNI for Q8_0 and Q4_0), every product of those weights takes x
 * at 8 bits, whatever its rows, and each row is computed exactly as it is
 * alone: a row of x gets the same bits in any batch (a prompt's positions,
 * sequences stepping together), and each weight block is loaded once for
 * six rows of x.  (dot_rows, AVX-512's for f32, f16 and bf16, do the same
 * for the 2 to 8 rows of sequences stepping together.)
 *
 * Weights packed in a set's own layout at load (packed.c: Q8_0 and Q4_0 on
 * AVX-512 VNNI, F16 on AVX-512, 16 rows interleaved) take that set's
 * dotq_packed (x at 8 bits) or dot_packed (x in f32) for any number of rows
 * of x, 16 rows a chunk, each row of x its bits alone; without the kernel
 * (a set chosen after the packing) or memory for x at 8 bits, a slow path
 * reads them row by row as f32.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

/* The tile of a batched product: TILE_R rows x TILE_K columns of f32, 192
 * KiB, on the stack of each thread (no allocation per call), in L2 while it
 * is used by a block of TILE_I rows of x (TILE_I x TILE_K floats, 256 KiB).
 * TILE_K is a multiple of 32, so a tile never splits a quantized block.
 * Measured on Zen 1 (512 KiB L2), 128 x 2048 x 2048 in f16, one thread:
 * TILE_K 256: 29, 512: 32, 1024: 33.5, 2048 (TILE_I 32): 34.5 GFLOP/s.
 * Each weight is converted once per call, so the conversion costs little
 * only when a call carries many rows of x: with the 64-position batches of
 * a prompt it was under a tenth of the time (the same product over
 * TinyLlama's f16 matrices: 33 GFLOP/s, one thread, Zen 1). */
#define TILE_R 24
#define TILE_K 2048
#define TILE_I 32
#define MATVEC_CHUNK 16

struct mm_job {
	const struct cl_kern *k;
	const struct cl_mat *w;
	const float *x;      /* (n, cols) */
	float *y;            /* (n, rows) */
	int64_t n;
	size_t row_bytes;
	/* The tiles' next unclaimed row, alone in its cache line: every claim writes it,
	 * and a line shared with the fields above would send each thread's
	 * next read of them to the other core. */
	_Alignas(64) atomic_llong next; /* (the struct's size rounds up to 64) */
};

/* One row of x (generating a token) or a few (2 to MV_MULTI: sequences of a
 * batch stepping together): each weight row is read from memory once and
 * dotted with every x while it is in L1, by the same dot as one x alone, so
 * each sequence gets the bits it gets alone.  With 8- or 4-bit weights, x
 * goes to 8 bits once per call, then integer dots (see struct cl_xq).  The
 * job's fields are copied to locals first: the dot is called through a
 * pointer, so the compiler would read them again after every row.  Beside the tiles below this saves converting each weight
 * per call, which a product of few rows cannot pay back.  Measured on Zen 4
 * (2 threads, TinyLlama shapes, aggregate tokens/s against one sequence):
 * f16 2 rows 1.54x (tiles 0.90x), 4 rows 1.80x (1.58x), 8 rows 1.91x
 * (2.46x); q8_0 4 rows 1.30x (1.19x), 16 rows 1.54x (2.44x): past 4 rows
 * the dots' arithmetic, not the weights' reading, is the cost, and the
 * tiles' FMAs do it faster.  A set whose dot_rows do better says up to how
 * many rows (dot_rows_max): AVX-512's f16 dots of several rows against its
 * packed product on Zen 5, TinyLlama F16, 2 threads: 6 sequences 37.6-41.3
 * tokens/s against 24.6-27.0, 8 sequences 41.1-42.6 against 30.4-32.4, 12
 * the same within noise (40.4-44.1 against 39.2-42.3). */
#define MV_MULTI 4

/* Rows of x up to which products of type t go through the dots. */
static int64_t dots_max(const struct cl_kern *k, enum cl_dtype t)
{
	return k->dot_rows[t] && k->dot_rows_max > MV_MULTI ? k->dot_rows_max : MV_MULTI;
}

/* The rows of a product by few rows of x are handed out in shares, one per
 * thread: a contiguous run of rows with its own counter in its own cache
 * line.  Each thread claims chunks of its own share first, then of the
 * others' (so a core slowed by another process does fewer rows, and the
 * rest are taken by the others).  One counter for all, claimed every chunk,
 * moved its cache line between the cores at every claim: on a 2-core Zen 5
 * VM, where a line takes 250 ns from one core to the other, that made
 * TinyLlama's Q4_0 generation on 2 threads no faster than on 1 (30 ms a
 * token; 17 ms with shares).  More threads than MV_SHARES share the shares. */
#define MV_SHARES 64

struct mv_share {
	_Alignas(64) atomic_llong next; /* next unclaimed row */
	int64_t end;
};

struct mv_multi {
	struct mm_job *j;
	const struct cl_xq *xq; /* (n) x quantized, or NULL */
	int rows;               /* through the set's dotq_rows (xq) or dot_rows */
	int packed;             /* through the set's dotq_packed (xq) or dot_packed, 16 rows a chunk */
	int64_t chunk;          /* rows claimed at a time */
	int nshares;
	struct mv_share share[MV_SHARES];
};

static void matvec_multi_task(void *arg, int ith, int nth)
{
	struct mv_multi *mv = arg;
	struct mm_job *j = mv->j;
	float (*dot)(const void *, const float *, int64_t) = j->k->dot[j->w->dtype];
	float (*dotq)(const void *, const struct cl_xq *, int64_t) = j->k->dotq[j->w->dtype];
	void (*dotq_rows)(const void *, size_t, int64_t, const struct cl_xq *, int64_t, int64_t, float *,
			  int64_t) = j->k->dotq_rows[j->w->dtype];
	void (*dot_rows)(const void *, size_t, int64_t, const float *, int64_t, int64_t, float *, int64_t) =
		j->k->dot_rows[j->w->dtype];
	void (*dotq_packed)(const void *, int64_t, const struct cl_xq *, int64_t, int64_t, float *, int64_t) =
		j->k->dotq_packed[j->w->dtype];
	void (*dot_packed)(const void *, int64_t, const float *, int64_t, int64_t, float *, int64_t) =
		j->k->dot_packed[j->w->dtype];
	const unsigned char *base = j->w->data;
	const float *x = j->x;
	const struct cl_xq *xq = mv->xq;
	float *y = j->y;
	int64_t rows = j->w->rows, cols = j->w->cols, chunk = mv->chunk, n = j->n;
	size_t rb = j->row_bytes;
	for (int s = 0; s < mv->nshares; s++) {
		struct mv_share *sh = &mv->share[(ith + s) % mv->nshares];
		int64_t r0, end = sh->end;
		while ((r0 = atomic_fetch_add_explicit(&sh->next, chunk, memory_order_relaxed)) < end) {
			int64_t r1 = r0 + chunk < end ? r0 + chunk : end;
			if (mv->packed) { /* r0 a multiple of 16: a group's start */
				if (xq)
					dotq_packed(base + (size_t)r0 * rb, r1 - r0, xq, n, cols, y + r0, rows);
				else
					dot_packed(base + (size_t)r0 * rb, r1 - r0, x, n, cols, y + r0, rows);
				continue;
			}
			if (mv->rows) {
				if (xq)
					dotq_rows(base + (size_t)r0 * rb, rb, r1 - r0, xq, n, cols, y + r0, rows);
				else
					dot_rows(base + (size_t)r0 * rb, rb, r1 - r0, x, n, cols, y + r0, rows);
				continue;
			}
			for (int64_t r = r0; r < r1; r++) {
				const void *w = base + (size_t)r * rb;
				if (xq)
					for (int64_t i = 0; i < n; i++)
						y[i * rows + r] = dotq(w, &xq[i], cols);
				else
					for (int64_t i = 0; i < n; i++)
						y[i * rows + r] = dot(w, x + i * cols, cols);
			}
		}
	}
}

/* The n rows of x at 8 bits, each as it would be alone, in a buffer of the
 * calling thread's kept between calls; NULL where memory is short.  takes:
 * what else the dots of the weights' type take (CL_XQ_*); rows: through
 * dotq_rows, which take the spread scales d8 too. */
static const struct cl_xq *xq_prepare(const struct cl_kern *k, const float *x, int64_t n, int64_t cols,
				      unsigned takes, int rows)
{
	int o8s = takes & CL_XQ_O8, us = rows && (takes & CL_XQ_U), cs = takes & (CL_XQ_C | CL_XQ_C8);
	int32_t cm = takes & CL_XQ_C ? -128 : -8;
	static _Thread_local unsigned char *buf;
	static _Thread_local size_t cap;
	int64_t nb = cols / QK;
	size_t row = (size_t)cols + 2 * (size_t)nb * sizeof(float) + 128;
	row += (o8s ? (size_t)cols + 64 : 0) + (us ? (size_t)cols + 64 : 0) + (cs ? (size_t)nb * 4 + 64 : 0) +
	       (rows ? (size_t)nb * 8 * sizeof(float) + 64 : 0);
	size_t need = (size_t)n * (row + sizeof(struct cl_xq)) + 64;
	if (need > cap) {
		unsigned char *b = realloc(buf, need);
		if (!b)
			return NULL;
		buf = b;
		cap = need;
	}
	struct cl_xq *xq = (struct cl_xq *)buf; /* malloc's alignment suits it */
	unsigned char *at = buf + (size_t)n * sizeof *xq;
#define ALIGN64(p) (unsigned char *)(((uintptr_t)(p) + 63) & ~(uintptr_t)63)
	for (int64_t i = 0; i < n; i++) {
		int8_t *q = (int8_t *)ALIGN64(at);
		float *d = (float *)ALIGN64(q + cols);
		float *s = d + nb;
		k->quant_x(x + i * cols, cols, q, d, s);
		xq[i] = (struct cl_xq){q, d, s, NULL, NULL, NULL, NULL};
		at = (unsigned char *)(s + nb);
		if (cs) {
			int32_t *c = (int32_t *)ALIGN64(at);
			for (int64_t b = 0; b < nb; b++) {
				int32_t sum = 0;
				for (int e = 0; e < QK; e++)
					sum += q[b * QK + e];
				c[b] = cm * sum;
			}
			xq[i].c = c;
			at = (unsigned char *)(c + nb);
		}
		if (o8s) {
			int32_t *o8 = (int32_t *)ALIGN64(at);
			for (int64_t g = 0; g < cols / 4; g++)
				o8[g] = -8 * (q[4 * g] + q[4 * g + 1] + q[4 * g + 2] + q[4 * g + 3]);
			xq[i].o8 = o8;
			at = (unsigned char *)(o8 + cols / 4);
		}
		if (us) {
			uint8_t *u = ALIGN64(at);
			for (int64_t c = 0; c < cols; c++)
				u[c] = (uint8_t)(q[c] ^ 0x80);
			xq[i].u = u;
			at = u + cols;
		}
		if (rows) {
			float *d8 = (float *)ALIGN64(at);
			for (int64_t b = 0; b < nb; b++)
				for (int l = 0; l < 8; l++)
					d8[b * 8 + l] = d[b];
			xq[i].d8 = d8;
			at = (unsigned char *)(d8 + nb * 8);
		}
	}
#undef ALIGN64
	return xq;
}

/* Whether a product of n rows by weights of type t takes x at 8 bits (the
 * matvec dots, and any n where the set has dotq_rows). */
static int takes_xq(const struct cl_kern *k, enum cl_dtype t, int64_t n, int64_t cols)
{
	return k->dotq[t] && cols <= XQ_MAX && (n <= MV_MULTI || k->dotq_rows[t]);
}

/* Whether it goes through the dots (each row its bits alone) rather than
 * the tiles. */
static int takes_dots(const struct cl_kern *k, enum cl_dtype t, int64_t n, int64_t cols)
{
	return n <= dots_max(k, t) || takes_xq(k, t, n, cols);
}

int cl_kernels_xq(enum cl_dtype t, int64_t n, int64_t cols)
{
	return takes_xq(cl_kern(), t, n, cols);
}

int cl_kernels_alone(enum cl_dtype t, int64_t n, int64_t cols)
{
	return takes_dots(cl_kern(), t, n, cols);
}

/* Returns 0, or -1 where x could not be quantized for lack of memory (the
 * caller takes the f32 path then). */
static int matvec_multi(struct cl_pool *p, struct mm_job *j)
{
	/* One row: the single dot (its rate is the memory's); more: the set's
	 * dots of several rows, if it has them for the type, else a dot per
	 * pair.  Without memory for x at 8 bits, a few rows take the f32 dots. */
	struct mv_multi mv;
	mv.j = j;
	mv.xq = NULL;
	mv.rows = 0;
	mv.packed = 0;
	/* The shares' ends on multiples of 16 rows, so no two threads write
	 * one cache line of y; chunks small enough that every thread gets
	 * several (balance at the end). */
	int64_t nrows = j->w->rows;
	int nth = cl_pool_size(p), ns = nth < MV_SHARES ? nth : MV_SHARES;
	int64_t per = nrows / (8 * nth);
	mv.chunk = per < 1 ? 1 : per > MATVEC_CHUNK ? MATVEC_CHUNK : per;
	mv.nshares = ns;
	for (int s = 0; s < ns; s++) {
		atomic_init(&mv.share[s].next, nrows * s / ns & ~(int64_t)15);
		mv.share[s].end = s + 1 < ns ? nrows * (s + 1) / ns & ~(int64_t)15 : nrows;
	}
	enum cl_dtype t = j->w->dtype;
	if (j->w->packed) {
		/* Each chunk a group of 16 rows (the shares' ends are too). */
		unsigned takes = t == CL_DTYPE_Q4_0 ? CL_XQ_C8 : CL_XQ_C;
		if (j->k->dot_packed[t])
			; /* x as it is */
		else if (!j->k->dotq_packed[t] || !(mv.xq = xq_prepare(j->k, j->x, j->n, j->w->cols, takes, 0)))
			return -1;
		mv.chunk = 16;
		mv.packed = 1;
		cl_pool_run(p, matvec_multi_task, &mv);
		return 0;
	}
	if (takes_xq(j->k, t, j->n, j->w->cols)) {
		int rows = j->n > 1 && j->k->dotq_rows[t];
		mv.xq = xq_prepare(j->k, j->x, j->n, j->w->cols, j->k->xq_takes[t], rows);
		if (!mv.xq && j->n > MV_MULTI)
			return -1;
		mv.rows = mv.xq && rows;
	}
	if (!mv.xq)
		mv.rows = j->n > 1 && j->k->dot_rows[t];
	cl_pool_run(p, matvec_multi_task, &mv);
	return 0;
}

/* A batched product's next `tile` rows (fewer at the end): their first row,
 * or -1 when none is left; *nr rows, whose outputs start at 0. */
static int64_t claim_rows(struct mm_job *j, int64_t tile, int64_t *nr)
{
	int64_t rows = j->w->rows, r0 = atomic_fetch_add_explicit(&j->next, tile, memory_order_relaxed);
	if (r0 >= rows)
		return -1;
	*nr = rows - r0 < tile ? rows - r0 : tile;
	for (int64_t i = 0; i < j->n; i++)
		memset(j->y + i * rows + r0, 0, (size_t)*nr * 4);
	return r0;
}

static void matmul_task(void *arg, int ith, int nth)
{
	struct mm_job *j = arg;
	const struct cl_kern *k = j->k;
	enum cl_dtype dt = j->w->dtype;
	const unsigned char *base = j->w->data;
	int64_t rows = j->w->rows, cols = j->w->cols, n = j->n;
	_Alignas(64) float tile[TILE_R * TILE_K]; /* (TILE_R, TILE_K) */
	int64_t r0, nr;
	while ((r0 = claim_rows(j, TILE_R, &nr)) >= 0) {
		for (int64_t k0 = 0; k0 < cols; k0 += TILE_K) {
			int64_t kc = cols - k0 < TILE_K ? cols - k0 : TILE_K;
			const float *wt;
			int64_t ldw;
			if (dt == CL_DTYPE_F32 && ((uintptr_t)base & 3) == 0) {
				wt = (const float *)(base + (size_t)r0 * j->row_bytes) + k0;
				ldw = cols;
			} else {
				for (int64_t r = 0; r < nr; r++)
					k->row_f32[dt](base + (size_t)(r0 + r) * j->row_bytes, k0, kc,
						       tile + r * TILE_K);
				wt = tile;
				ldw = TILE_K;
			}
			for (int64_t i0 = 0; i0 < n; i0 += TILE_I) {
				int64_t ni = n - i0 < TILE_I ? n - i0 : TILE_I;
				k->gemm(ni, nr, kc, j->x + i0 * cols + k0, cols, wt, ldw,
					j->y + i0 * rows + r0, rows);
			}
		}
	}
}

/* The same product where the kernels pack (AVX2, AVX-512; the others run
 * the tiles above): a claim is PTILE_R rows; for each block of PTILE_K
 * columns its rows are converted to f32 (t) and packed k-major, PANEL rows to a panel
 * (64 KiB in all, on the stack), then every row of x runs against each
 * panel while the panel sits in L1.  The inner loop broadcasts one x into
 * 16 weights held in two registers (AVX-512: 32 in two, from two panels a
 * call), so 16 outputs of each of 6 rows of x accumulate in registers.
 * Each weight is still converted once per call.  In L1, one thread, on Zen 3: 80 % of the FMA probe, the tiles 72 %; a
 * whole prompt on this shared machine moves by more than that from run to
 * run (kernels_avx2.c, avx2_mp). */
#define PTILE_R (4 * PANEL)
#define PTILE_K 256

static void matmul_p_task(void *arg, int ith, int nth)
{
	struct mm_job *j = arg;
	const struct cl_kern *k = j->k;
	enum cl_dtype dt = j->w->dtype;
	const unsigned char *base = j->w->data;
	int64_t rows = j->w->rows, cols = j->w->cols, n = j->n;
	_Alignas(64) float t[PANEL * PTILE_K];    /* (PANEL, PTILE_K) */
	_Alignas(64) float pk[PTILE_R * PTILE_K]; /* (PTILE_R / PANEL, PTILE_K, PANEL) */
	int64_t r0, nr;
	while ((r0 = claim_rows(j, PTILE_R, &nr)) >= 0) {
		for (int64_t k0 = 0; k0 < cols; k0 += PTILE_K) {
			int64_t kc = cols - k0 < PTILE_K ? cols - k0 : PTILE_K;
			for (int64_t q = 0; q < nr; q += PANEL) {
				int64_t np = nr - q < PANEL ? nr - q : PANEL;
				for (int64_t r = 0; r < PANEL; r++) {
					if (r < np)
						k->row_f32[dt](base + (size_t)(r0 + q + r) * j->row_bytes, k0, kc,
							       t + r * PTILE_K);
					else
						memset(t + r * PTILE_K, 0, (size_t)kc * 4);
				}
				k->pack(t, PTILE_K, kc, pk + q * PTILE_K);
			}
			for (int64_t q = 0, step = k->panels * PANEL; q < nr; q += step)
				k->gemm_p(n, nr - q < step ? nr - q : step, kc, j->x + k0, cols, pk + q * PTILE_K,
					  PANEL * PTILE_K, j->y + r0 + q, rows);
		}
	}
}

/* Packed weights without the set's kernel for them (a set chosen after
 * they were packed) or without memory for x at 8 bits: row by row as f32,
 * slowly, but right. */
static void packed_slow_task(void *arg, int ith, int nth)
{
	struct mm_job *j = arg;
	int64_t rows = j->w->rows, cols = j->w->cols, r;
	float *row = malloc((size_t)cols * sizeof *row);
	(void)ith, (void)nth;
	while ((r = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed)) < rows) {
		if (row)
			cl_mat_row(j->w, r, row);
		for (int64_t i = 0; i < j->n; i++)
			j->y[i * rows + r] = row ? j->k->dot_f32(row, j->x + i * cols, cols) : NAN;
	}
	free(row);
}

void cl_matmul(struct cl_pool *p, const struct cl_mat *w, const float *x, int64_t n, float *y)
{
	if (n <= 0 || w->rows <= 0)
		return;
	struct mm_job j = {
		.k = cl_kern(), .w = w, .x = x, .y = y, .n = n,
		.row_bytes = cl_dtype_size(w->dtype, w->cols),
	};
	atomic_init(&j.next, 0);
	if (w->packed) {
		if (matvec_multi(p, &j) != 0)
			cl_pool_run(p, packed_slow_task, &j);
		return;
	}
	if (takes_dots(j.k, w->dtype, n, w->cols) && matvec_multi(p, &j) == 0)
		return;
	cl_pool_run(p, j.k->gemm_p ? matmul_p_task : matmul_task, &j);
}
