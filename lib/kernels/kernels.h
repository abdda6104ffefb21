/*
 * kernels.h - private: the thread pool and the numeric kernels the model
 * families share.  Not for cmd/.
 *
 * Every kernel has a plain-C reference (suffix _ref) that the tests and the
 * slow path use as the oracle; the fast versions pick AVX-512, AVX2 or NEON
 * at run time (an older CPU never runs an instruction it lacks).
 */
#ifndef CL_KERNELS_H
#define CL_KERNELS_H

#include "cl.h"

/* A fixed set of worker threads, made once; no thread is created per token. */
struct cl_pool;
struct cl_pool *cl_pool_new(int nthreads); /* nthreads <= 0: the cores available */
void cl_pool_free(struct cl_pool *p);
int cl_pool_size(const struct cl_pool *p);
/* Run fn(arg, ith, nth) once for each ith = 0..nth-1 on the pool's threads
 * and wait for all.  The caller runs share 0, then any share no worker has
 * started yet (a worker the OS has not scheduled does not hold a call up), so
 * a share is not tied to one thread; per-share scratch indexed by ith is
 * safe.  p may be NULL: runs fn(arg, 0, 1).  One caller at a time, and not
 * from inside fn. */
void cl_pool_run(struct cl_pool *p, void (*fn)(void *arg, int ith, int nth), void *arg);

/* A weight matrix of rows x cols, row-major (rows = output features), each
 * row cl_dtype_size(dtype, cols) bytes.  data is a view (often mmap'ed).
 * packed: not rows but a kernel set's own layout of them (cl_mat_pack). */
struct cl_mat {
	const void *data;
	enum cl_dtype dtype;
	int64_t rows, cols;
	int packed; /* 0, or enum cl_packing */
};

/* Layouts that a kernel set reads faster than rows (packed.c):
 * CL_PACK_Q8_0_X16: Q8_0 in groups of 16 rows (the last group's missing rows
 * repeat its last row), block-major within a group: for each block of 32
 * columns, the 16 rows' f16 scales, then 8 runs of 64 bytes, run c holding
 * bytes 4c .. 4c + 3 of each row's 32 quants in turn, each plus 128 (as
 * unsigned bytes).  AVX-512 VNNI's vpdpbusd takes a run as it is, one row a
 * lane: see kernels_avx512.c.  CL_PACK_Q4_0_X16: Q4_0 the same way, 4 runs
 * of the rows' 16 bytes of nibbles as stored (their low nibbles elements
 * 4c .. 4c + 3, their high ones 16 + 4c ..).  CL_PACK_F16_K16: F16 in
 * groups of 16 rows, column-major within a group (column k: the 16 rows'
 * elements k), so one load and one conversion give 16 rows' weights for a
 * column of x. */
enum cl_packing { CL_PACK_NONE, CL_PACK_Q8_0_X16, CL_PACK_Q4_0_X16, CL_PACK_F16_K16 };
/* The layout the running set would take w in, and its size in bytes; 0
 * where it takes w as rows. */
enum cl_packing cl_mat_packing(const struct cl_mat *w, size_t *bytes);
/* w in layout k into out (that many bytes); *dst the packed matrix (data
 * out).  threads: the pool to share the work with, or NULL. */
void cl_mat_pack(struct cl_pool *p, const struct cl_mat *w, enum cl_packing k, void *out, struct cl_mat *dst);

/* y (n, rows) = x (n, cols) · Wᵀ.  n == 1 is a matrix-vector product. */
void cl_matmul(struct cl_pool *p, const struct cl_mat *w, const float *x, int64_t n, float *y);
void cl_matmul_ref(const struct cl_mat *w, const float *x, int64_t n, float *y);

/* Whether the running set computes a product of n rows of x (cols wide)
 * by weights of type t with x at 8 bits per block of 32 (struct cl_xq in
 * kernels_impl.h): each row then gets the bits it gets alone. */
int cl_kernels_xq(enum cl_dtype t, int64_t n, int64_t cols);
/* Whether each row of such a product gets the bits it gets alone (n = 1):
 * it goes through the dots, not the tiles. */
int cl_kernels_alone(enum cl_dtype t, int64_t n, int64_t cols);

/* Quantize (or convert) src into dtype `to` (F16, BF16, Q8_0, Q4_0; cols a
 * multiple of 32 for block types).  dst->data is malloc'd: *owned = it. */
enum cl_status cl_mat_convert(const struct cl_mat *src, enum cl_dtype to, struct cl_mat *dst,
			      void **owned);
/* Row r of w as f32 (embedding lookup), any dtype. */
void cl_mat_row(const struct cl_mat *w, int64_t r, float *out);

/* Small vector helpers. */
void cl_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
void cl_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n, float eps);
void cl_softmax(float *x, int64_t n);
float cl_dot_f32(const float *a, const float *b, int64_t n);
/* y += a·x (attention's weighted sum of values). */
void cl_axpy_f32(float *y, float a, const float *x, int64_t n);
/* The same with f16 keys and values (--kv-type f16): Σ f16(k)·q through the
 * kernels' f16 dot, and y += a·f16(x). */
float cl_dot_f16(const uint16_t *k, const float *q, int64_t n);
void cl_axpy_f16(float *y, float a, const uint16_t *x, int64_t n);

/* The instruction set the kernels use ("avx512", "avx2", "neon", "generic"):
 * the best this CPU runs, or the one named by $CL_KERNELS.  cl_kernels_use
 * switches to another (tests, benchmarks) and returns -1 where this CPU or
 * build lacks it; call it while no kernel is running. */
const char *cl_kernels_name(void);
int cl_kernels_use(const char *name);
/* CL_ERR_UNSUPPORTED with a message naming it when $CL_KERNELS names a set
 * that is unknown or that this CPU or build cannot run (never a silent
 * fallback), else CL_OK. */
enum cl_status cl_kernels_check(void);

#endif
