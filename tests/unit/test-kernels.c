/*
 * test-kernels.c - every kernel against the plain-C reference, on every
 * instruction set this CPU runs, on awkward sizes.
 *
 * Tolerances, and why:
 *   products   |y - y_ref| <= 2e-5 · Σ_k |w_k||x_k|.  The reference sums in
 *              double; the fast paths in f32, in 8 or 16 lanes over at most
 *              1056 terms here, so each lane's sum is within ~130 roundings of
 *              2^-24 and the lanes add a few more: 2e-5 leaves room.  Block
 *              types use the same dequantized weights (q·d is exact in f32)
 *              and x in f32, so the same bound holds for them.
 *              A matvec with Q8_0 or Q4_0 weights may quantize x to 8 bits
 *              per block of 32 (d = amax/127), and so may a product of any
 *              rows where cl_kernels_xq says so: that adds up to
 *              Σ_b Σ_{k in b} |w_k| · amax_b(x)/254, half a step per element.
 *   Q8_0       round trip: |x - x'| <= 0.6 · amax/127 per block (d/2 from
 *              rounding q, plus 127·d·2^-11 from storing d as f16).
 *   Q4_0       round trip: |x - x'| <= amax · (1/8 + 2^-10) per block (d/2 =
 *              amax/16, except an element near -m that clamps to q = 7 is
 *              off by up to amax/8; plus d's f16 rounding).
 *   norms      1e-5 relative against double.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kernels_impl.h" /* the 8-bit quantizers of x, tested directly */
#include "t.h"

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static float frand(void) /* uniform in [-1, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (float)((rng >> 40) * (1.0 / 8388608.0) - 1.0);
}

static void fill(float *a, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		a[i] = frand();
}

/* A rows x cols matrix of dtype t made from random f32 (through
 * cl_mat_convert, which is under test too); *f32 gets the f32 source. */
static void *make_mat(enum cl_dtype t, int64_t rows, int64_t cols, struct cl_mat *m)
{
	float *src = malloc((size_t)(rows * cols) * 4);
	fill(src, rows * cols);
	struct cl_mat s = {.data = src, .dtype = CL_DTYPE_F32, .rows = rows, .cols = cols};
	if (t == CL_DTYPE_F32) {
		*m = s;
		return src;
	}
	void *owned;
	enum cl_status st = cl_mat_convert(&s, t, m, &owned);
	free(src);
	if (st != CL_OK) {
		printf("# convert to %s: %s\n", cl_dtype_name(t), cl_errmsg());
		exit(1);
	}
	return owned;
}

/* Σ|w||x| for each output: the scale of the products' tolerance. */
static void abs_ref(const struct cl_mat *w, const float *x, int64_t n, float *out)
{
	float *row = malloc((size_t)w->cols * 4);
	for (int64_t r = 0; r < w->rows; r++) {
		cl_mat_row(w, r, row);
		for (int64_t i = 0; i < n; i++) {
			double s = 0;
			for (int64_t k = 0; k < w->cols; k++)
				s += fabs((double)row[k] * x[i * w->cols + k]);
			out[i * w->rows + r] = (float)s;
		}
	}
	free(row);
}

/* The extra error a matvec may make by quantizing x (see the top). */
static void xq_bound(const struct cl_mat *w, const float *x, float *out)
{
	float *row = malloc((size_t)w->cols * 4);
	for (int64_t r = 0; r < w->rows; r++) {
		cl_mat_row(w, r, row);
		double s = 0;
		for (int64_t b = 0; b < w->cols / 32; b++) {
			double aw = 0, ax = 0;
			for (int j = 0; j < 32; j++) {
				aw += fabs(row[b * 32 + j]);
				ax = fmax(ax, fabs(x[b * 32 + j]));
			}
			s += aw * ax / 254 * (1 + 1e-5);
		}
		out[r] = (float)s;
	}
	free(row);
}

static const char *const sets[] = {"generic", "avx2", "avx512", "neon"};
#define NSETS 4

/* Every product of w by 1 to 67 rows of x, on every set, without a pool and
 * with each of pools[0..3]: within the tolerance of the reference, and the
 * same bits whatever the threads.  q: the matvec may quantize x to 8 bits. */
static void check_products(const struct cl_mat *w, int q, struct cl_pool **pools)
{
	static const int64_t ns[] = {1, 2, 3, 7, 17, 64, 67};
	int64_t rows = w->rows, cols = w->cols;
	for (size_t ni = 0; ni < sizeof ns / sizeof *ns; ni++) {
		int64_t n = ns[ni];
		float *x = malloc((size_t)(n * cols) * 4);
		float *ref = malloc((size_t)(n * rows) * 4), *tol = malloc((size_t)(n * rows) * 4);
		float *y = malloc((size_t)(n * rows) * 4), *y1 = malloc((size_t)(n * rows) * 4);
		fill(x, n * cols);
		cl_matmul_ref(w, x, n, ref);
		abs_ref(w, x, n, tol);
		for (int64_t k = 0; k < n * rows; k++)
			tol[k] *= 2e-5f;
		/* One row of x, and the few rows of a batch stepping together (up
		 * to 4, kernels.c's MV_MULTI), go through the matvec dots, which
		 * take 8- and 4-bit weights with x quantized to 8 bits; so does
		 * any number of rows where a set has dots of several rows at once
		 * (cl_kernels_xq). */
		float *xb = malloc((size_t)(n * rows) * 4), *tq = malloc((size_t)(n * rows) * 4);
		if (q)
			for (int64_t i = 0; i < n; i++)
				xq_bound(w, x + i * cols, xb + i * rows);
		for (int s = 0; s < NSETS; s++) {
			if (cl_kernels_use(sets[s]) != 0)
				continue;
			int xq = q && cl_kernels_xq(w->dtype, n, cols);
			for (int64_t k = 0; k < n * rows; k++)
				tq[k] = tol[k] + (xq ? xb[k] : 0);
			char name[160];
			snprintf(name, sizeof name, "%s matmul of %s %lld x %lld by %lld rows of x equals the reference",
				 sets[s], cl_dtype_name(w->dtype), (long long)rows, (long long)cols, (long long)n);
			t_begin(name);
			/* Without a pool, then each pool size in turn: the same bits
			 * every time (a row's sum never depends on which thread or
			 * how many computed it). */
			for (int pi = -1; pi < 4; pi++) {
				struct cl_pool *p = pi < 0 ? NULL : pools[pi];
				for (int64_t k = 0; k < n * rows; k++)
					y[k] = NAN;
				cl_matmul(p, w, x, n, y);
				if (pi < 0)
					memcpy(y1, y, (size_t)(n * rows) * 4);
				else
					T_CHECK(memcmp(y1, y, (size_t)(n * rows) * 4) == 0,
						"threads %d: not the bits of the run without a pool", cl_pool_size(p));
				for (int64_t k = 0; k < n * rows; k++) {
					float err = fabsf(y[k] - ref[k]);
					T_CHECK(err <= tq[k] + 1e-30f,
						"threads %d: y[%lld] = %.9g, reference %.9g (err %.3g, bound %.3g)",
						cl_pool_size(p), (long long)k, y[k], ref[k], err, tq[k]);
				}
			}
			t_end();
		}
		free(x);
		free(ref);
		free(tol);
		free(xb);
		free(tq);
		free(y);
		free(y1);
	}
}

static void test_matmul(void)
{
	static const enum cl_dtype types[] = {CL_DTYPE_F32, CL_DTYPE_F16, CL_DTYPE_BF16, CL_DTYPE_Q8_0,
					      CL_DTYPE_Q4_0};
	/* rows, cols: cols odd and not a multiple of 8 or 16 where the type
	 * allows; more than one tile of rows (24; packed: 64 in panels of 16)
	 * and of columns (2048; packed: 256). */
	static const int64_t fshape[][2] = {{1, 1}, {5, 7}, {31, 33}, {50, 515}, {29, 2061}, {70, 263}};
	static const int64_t qshape[][2] = {{1, 32}, {7, 96}, {50, 544}, {29, 2080}, {70, 288}};
	static const int nthreads[] = {1, 2, 3, 5};
	struct cl_pool *pools[4];
	for (int i = 0; i < 4; i++)
		pools[i] = cl_pool_new(nthreads[i]);

	for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
		enum cl_dtype t = types[ti];
		int q = t == CL_DTYPE_Q8_0 || t == CL_DTYPE_Q4_0;
		size_t nshape = q ? sizeof qshape / sizeof *qshape : sizeof fshape / sizeof *fshape;
		for (size_t si = 0; si < nshape; si++) {
			struct cl_mat w;
			void *wdata = make_mat(t, q ? qshape[si][0] : fshape[si][0], q ? qshape[si][1] : fshape[si][1], &w);
			check_products(&w, q, pools);
			free(wdata);
		}
	}
	for (int i = 0; i < 4; i++)
		cl_pool_free(pools[i]);
}

/* GGUF's other block types, which cl reads but does not make: random bytes,
 * with each f16 scale set to a modest value (random bits there could be
 * infinities).  Where a type's blocks hold its f16 fields: */
static const struct {
	enum cl_dtype t;
	int at[2]; /* byte offsets of its f16 fields, -1: none */
} gguf_f16s[] = {
	{CL_DTYPE_Q4_1, {0, 2}},    {CL_DTYPE_Q5_0, {0, -1}}, {CL_DTYPE_Q5_1, {0, 2}},
	{CL_DTYPE_Q2_K, {80, 82}},  {CL_DTYPE_Q3_K, {108, -1}}, {CL_DTYPE_Q4_K, {0, 2}},
	{CL_DTYPE_Q5_K, {0, 2}},    {CL_DTYPE_Q6_K, {208, -1}},
};

static void test_gguf_types(void)
{
	/* Rows of one to nine super-blocks; past one tile of columns (2048)
	 * and of rows (24, packed 64). */
	static const int64_t shape[][2] = {{1, 256}, {7, 512}, {29, 2304}, {70, 256}};
	static const int nthreads[] = {1, 2, 3, 5};
	struct cl_pool *pools[4];
	for (int i = 0; i < 4; i++)
		pools[i] = cl_pool_new(nthreads[i]);
	for (size_t ti = 0; ti < sizeof gguf_f16s / sizeof *gguf_f16s; ti++) {
		enum cl_dtype t = gguf_f16s[ti].t;
		int nb = cl_dtype_block(t);
		size_t bb = cl_dtype_size(t, nb);
		for (size_t si = 0; si < sizeof shape / sizeof *shape; si++) {
			int64_t rows = shape[si][0], cols = shape[si][1];
			size_t nblk = (size_t)(rows * cols / nb);
			unsigned char *data = malloc(nblk * bb);
			for (size_t i = 0; i < nblk * bb; i++)
				data[i] = (unsigned char)(frand() * 128 + 128);
			for (size_t b = 0; b < nblk; b++)
				for (int f = 0; f < 2; f++)
					if (gguf_f16s[ti].at[f] >= 0) {
						uint16_t h = cl_f32_to_f16(frand() * 0.05f);
						memcpy(data + b * bb + gguf_f16s[ti].at[f], &h, 2);
					}
			struct cl_mat w = {.data = data, .dtype = t, .rows = rows, .cols = cols};
			/* Every one has 8-bit dots (x quantized) where a set has them. */
			check_products(&w, 1, pools);
			free(data);
		}
		/* A set's own row conversion gives the reference's bits. */
		{
			float ref[2304], got[2304];
			unsigned char *data = malloc(cl_dtype_size(t, 2304));
			for (size_t i = 0; i < cl_dtype_size(t, 2304); i++)
				data[i] = (unsigned char)(frand() * 128 + 128);
			for (size_t b = 0; b < cl_dtype_size(t, 2304) / bb; b++)
				for (int f = 0; f < 2; f++)
					if (gguf_f16s[ti].at[f] >= 0) {
						uint16_t h = cl_f32_to_f16(frand() * 0.05f);
						memcpy(data + b * bb + gguf_f16s[ti].at[f], &h, 2);
					}
			cl_dequant_c(t, data, 256, 2048, ref);
			static const struct cl_kern *const ks[] = {
#if defined(__x86_64__)
				&cl_kern_avx2, &cl_kern_avx512,
#endif
				&cl_kern_generic};
			for (size_t s = 0; s < sizeof ks / sizeof *ks; s++) {
				if (!ks[s]->row_f32[t] || cl_kernels_use(ks[s]->name) != 0)
					continue;
				char name[96];
				snprintf(name, sizeof name, "%s row_f32 of %s gives the reference's bits", ks[s]->name,
					 cl_dtype_name(t));
				t_begin(name);
				ks[s]->row_f32[t](data, 256, 2048, got);
				T_CHECK(memcmp(ref, got, 2048 * sizeof(float)) == 0, "differs");
				t_end();
			}
			free(data);
		}
		/* cl computes most of these but does not make them. */
		if (cl_dtype_makeable(t))
			continue;
		float one[256] = {0};
		struct cl_mat src = {.data = one, .dtype = CL_DTYPE_F32, .rows = 1, .cols = 256}, dst;
		void *owned = NULL;
		char name[96];
		snprintf(name, sizeof name, "converting to %s is refused with a message", cl_dtype_name(t));
		t_begin(name);
		T_CHECK(cl_mat_convert(&src, t, &dst, &owned) == CL_ERR_UNSUPPORTED && !owned &&
				strstr(cl_errmsg(), "does not make it"),
			"%s", cl_errmsg());
		t_end();
	}
	for (int i = 0; i < 4; i++)
		cl_pool_free(pools[i]);
}

/* Weight rows that start at any even address (a mapped safetensors file
 * promises only 2-byte alignment of 16-bit tensors). */
static void test_unaligned(void)
{
	static const enum cl_dtype types[] = {CL_DTYPE_F32, CL_DTYPE_F16, CL_DTYPE_BF16, CL_DTYPE_Q8_0,
					      CL_DTYPE_Q4_0};
	int64_t rows = 9, cols = 64, n = 3;
	for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
		struct cl_mat w;
		void *wdata = make_mat(types[ti], rows, cols, &w);
		size_t bytes = cl_dtype_size(w.dtype, cols) * (size_t)rows;
		unsigned char *buf = malloc(bytes + 2);
		memcpy(buf + 2, w.data, bytes);
		struct cl_mat u = w;
		u.data = buf + 2;
		float x[3 * 64], ref[3 * 9], y[3 * 9], tol[3 * 9];
		fill(x, n * cols);
		cl_matmul_ref(&w, x, n, ref);
		abs_ref(&w, x, n, tol);
		float xb[3 * 9] = {0};
		if (w.dtype == CL_DTYPE_Q8_0 || w.dtype == CL_DTYPE_Q4_0)
			for (int64_t i = 0; i < n; i++)
				xq_bound(&w, x + i * cols, xb + i * rows);
		for (int s = 0; s < NSETS; s++) {
			if (cl_kernels_use(sets[s]) != 0)
				continue;
			char name[128];
			snprintf(name, sizeof name, "%s matmul and matvec of %s rows at an address 2 mod 4 work",
				 sets[s], cl_dtype_name(w.dtype));
			t_begin(name);
			cl_matmul(NULL, &u, x, n, y);
			for (int64_t k = 0; k < n * rows; k++)
				T_CHECK(fabsf(y[k] - ref[k]) <= 2e-5f * tol[k] + xb[k], "matmul y[%lld] %g ref %g",
					(long long)k, y[k], ref[k]);
			cl_matmul(NULL, &u, x, 1, y);
			for (int64_t k = 0; k < rows; k++)
				T_CHECK(fabsf(y[k] - ref[k]) <= 2e-5f * tol[k] + xb[k], "matvec y[%lld] %g ref %g",
					(long long)k, y[k], ref[k]);
			t_end();
		}
		free(buf);
		free(wdata);
	}
}

/* Block layout, decoded here straight from the format's definition, not
 * through the library. */
static float decode(const unsigned char *row, enum cl_dtype t, int64_t k)
{
	uint16_t h;
	if (t == CL_DTYPE_Q8_0) {
		const unsigned char *b = row + (k / 32) * 34;
		memcpy(&h, b, 2);
		return (float)(int8_t)b[2 + k % 32] * cl_f16_to_f32(h);
	}
	const unsigned char *b = row + (k / 32) * 18;
	memcpy(&h, b, 2);
	int j = (int)(k % 32);
	int q = j < 16 ? (b[2 + j] & 0x0f) : (b[2 + j - 16] >> 4);
	return (float)(q - 8) * cl_f16_to_f32(h);
}

static void test_quantize(void)
{
	int64_t rows = 3, cols = 32 * 40;
	float *src = malloc((size_t)(rows * cols) * 4), *back = malloc((size_t)cols * 4);
	for (int64_t b = 0; b < rows * cols / 32; b++) {
		/* Each block its own magnitude, 10^-2 .. 10^3 (below ~10^-2, d
		 * falls into f16's subnormals and loses precision, in ggml too),
		 * and one block of zeros. */
		float mag = b == 5 ? 0 : powf(10, -2 + 5 * (frand() + 1) / 2);
		for (int j = 0; j < 32; j++)
			src[b * 32 + j] = frand() * mag;
	}
	struct cl_mat s = {.data = src, .dtype = CL_DTYPE_F32, .rows = rows, .cols = cols};
	static const enum cl_dtype qt[] = {CL_DTYPE_Q8_0, CL_DTYPE_Q4_0};
	for (int qi = 0; qi < 2; qi++) {
		enum cl_dtype t = qt[qi];
		char name[128];
		snprintf(name, sizeof name, "%s round trip stays within its error bound per block, zero blocks exact",
			 cl_dtype_name(t));
		t_begin(name);
		struct cl_mat m;
		void *owned;
		enum cl_status st = cl_mat_convert(&s, t, &m, &owned);
		T_CHECK(st == CL_OK && m.dtype == t && m.rows == rows && m.cols == cols, "convert: %s",
			cl_errmsg());
		if (st == CL_OK) {
			for (int64_t r = 0; r < rows; r++) {
				cl_mat_row(&m, r, back);
				const unsigned char *row =
					(const unsigned char *)m.data + (size_t)r * cl_dtype_size(t, cols);
				for (int64_t b = 0; b < cols / 32; b++) {
					const float *x = src + r * cols + b * 32;
					float amax = 0;
					for (int j = 0; j < 32; j++)
						amax = fmaxf(amax, fabsf(x[j]));
					float bound = t == CL_DTYPE_Q8_0 ? 0.6f * amax / 127 : amax * (1.0f / 8 + 1.0f / 1024);
					for (int j = 0; j < 32; j++) {
						int64_t k = b * 32 + j;
						T_CHECK(fabsf(back[k] - x[j]) <= bound,
							"row %lld elem %lld: %g -> %g, err %g > bound %g (amax %g)",
							(long long)r, (long long)k, x[j], back[k],
							fabsf(back[k] - x[j]), bound, amax);
						T_CHECK(back[k] == decode(row, t, k),
							"cl_mat_row %g differs from the format's decoding %g", back[k],
							decode(row, t, k));
					}
				}
			}
		}
		free(owned);
		t_end();
	}

	/* Every path quantizes bit for bit as the plain C does.  Blocks with a
	 * tie for the largest magnitude in both signs, of zeros, of -0, and
	 * of values at exact half steps. */
	for (int64_t k = 0; k < 32; k++) {
		src[k] = k == 3 ? -2.0f : k == 9 ? 2.0f : frand();       /* tie, first negative */
		src[32 + k] = 0;
		src[64 + k] = -0.0f;
		src[96 + k] = (float)(k - 16) * 0.5f;                   /* half steps */
		src[128 + k] = k == 0 ? 1.0f : k == 1 ? -1.0f : 0.25f;   /* tie, first positive */
	}
	const char *orig = cl_kernels_name();
	for (int qi = 0; qi < 2; qi++) {
		struct cl_mat ref, m;
		void *ref_owned, *owned;
		cl_kernels_use("generic");
		if (cl_mat_convert(&s, qt[qi], &ref, &ref_owned) != CL_OK)
			continue;
		for (int si = 1; si < NSETS; si++) {
			if (cl_kernels_use(sets[si]) != 0)
				continue;
			char name[128];
			snprintf(name, sizeof name, "%s quantizes to %s bit for bit as the plain C does", sets[si],
				 cl_dtype_name(qt[qi]));
			t_begin(name);
			if (cl_mat_convert(&s, qt[qi], &m, &owned) == CL_OK) {
				size_t nb = cl_dtype_size(qt[qi], cols) * (size_t)rows;
				size_t first = nb;
				for (size_t i = 0; i < nb && first == nb; i++)
					if (((unsigned char *)owned)[i] != ((unsigned char *)ref_owned)[i])
						first = i;
				T_CHECK(first == nb, "first difference at byte %zu of %zu", first, nb);
				free(owned);
			}
			t_end();
		}
		free(ref_owned);
	}
	cl_kernels_use(orig);

	t_begin("converting to f16 and bf16 rounds each element to nearest");
	static const enum cl_dtype ht[] = {CL_DTYPE_F16, CL_DTYPE_BF16};
	for (int hi = 0; hi < 2; hi++) {
		struct cl_mat m;
		void *owned;
		struct cl_mat s1 = {.data = src, .dtype = CL_DTYPE_F32, .rows = 1, .cols = cols};
		enum cl_status st = cl_mat_convert(&s1, ht[hi], &m, &owned);
		T_CHECK(st == CL_OK, "convert: %s", cl_errmsg());
		if (st == CL_OK) {
			cl_mat_row(&m, 0, back);
			float rel = ht[hi] == CL_DTYPE_F16 ? 1.0f / 2048 : 1.0f / 256;
			for (int64_t k = 0; k < cols; k++)
				T_CHECK(fabsf(back[k] - src[k]) <= rel * fabsf(src[k]) + 6e-8f,
					"%s elem %lld: %g -> %g", cl_dtype_name(ht[hi]), (long long)k, src[k], back[k]);
		}
		free(owned);
	}
	t_end();

	t_begin("quantizing a row length that is not a multiple of 32 is refused with a message");
	struct cl_mat bad = {.data = src, .dtype = CL_DTYPE_F32, .rows = 2, .cols = 33}, m;
	void *owned = (void *)1;
	enum cl_status st = cl_mat_convert(&bad, CL_DTYPE_Q8_0, &m, &owned);
	T_CHECK(st == CL_ERR_UNSUPPORTED, "status %d", st);
	T_CHECK(owned == NULL, "owned not NULL on failure");
	T_CHECK(strstr(cl_errmsg(), "32") != NULL, "message '%s' does not name the block size", cl_errmsg());
	st = cl_mat_convert(&bad, CL_DTYPE_Q4_0, &m, &owned);
	T_CHECK(st == CL_ERR_UNSUPPORTED, "q4_0: status %d", st);
	t_end();
	free(src);
	free(back);
}

static void check_quant_x(const char *name, void (*qx)(const float *, int64_t, int8_t *, float *, float *))
{
	t_begin(name);
	enum { N = 32 * 7 };
	float x[N], d[N / 32], s[N / 32];
	int8_t q[N];
	for (int k = 0; k < N; k++)
		x[k] = frand() * (float)(1 + k / 32 * 10) * (k / 32 == 3 ? 0 : 1); /* block 3: zeros */
	qx(x, N, q, d, s);
	for (int b = 0; b < N / 32; b++) {
		float amax = 0;
		int sum = 0;
		for (int j = 0; j < 32; j++)
			amax = fmaxf(amax, fabsf(x[b * 32 + j]));
		for (int j = 0; j < 32; j++) {
			int k = b * 32 + j;
			sum += q[k];
			T_CHECK(q[k] >= -127 && q[k] <= 127, "q[%d] = %d", k, q[k]);
			T_CHECK(fabsf(q[k] * d[b] - x[k]) <= amax / 254 * 1.0001f, "x[%d] %g -> %d * %g", k, x[k],
				q[k], d[b]);
		}
		T_CHECK(fabsf(s[b] - d[b] * (float)sum) <= 1e-6f * fabsf(s[b]), "block %d: s %g, d·Σq %g", b, s[b],
			d[b] * (float)sum);
	}
	t_end();
}

static void test_vectors(void)
{
	static const int64_t ns[] = {1, 2, 7, 8, 9, 31, 33, 100, 1001};
	float a[1002], b[1002], w[1002], bias[1002], out[1002];
	for (int s = 0; s < NSETS; s++) {
		if (cl_kernels_use(sets[s]) != 0)
			continue;
		char name[128];
		snprintf(name, sizeof name, "%s cl_dot_f32 equals a double sum on odd lengths", sets[s]);
		t_begin(name);
		T_CHECK(cl_dot_f32(a, b, 0) == 0, "empty dot not 0");
		for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
			int64_t n = ns[i];
			fill(a, n);
			fill(b, n);
			double ref = 0, scale = 0;
			for (int64_t k = 0; k < n; k++) {
				ref += (double)a[k] * b[k];
				scale += fabs((double)a[k] * b[k]);
			}
			float d = cl_dot_f32(a, b, n);
			T_CHECK(fabs(d - ref) <= 2e-5 * scale, "n %lld: %.9g vs %.9g", (long long)n, d, ref);
		}
		t_end();

		snprintf(name, sizeof name, "%s cl_axpy_f32 adds a·x to y on odd lengths, touching nothing past n",
			 sets[s]);
		t_begin(name);
		for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
			int64_t n = ns[i];
			fill(a, n + 1);
			fill(b, n + 1);
			memcpy(out, b, (size_t)(n + 1) * 4);
			cl_axpy_f32(out, 0.37f, a, n);
			for (int64_t k = 0; k < n; k++)
				T_CHECK(fabsf(out[k] - (b[k] + 0.37f * a[k])) <= 1e-6f, "n %lld k %lld: %g vs %g",
					(long long)n, (long long)k, out[k], b[k] + 0.37f * a[k]);
			T_CHECK(out[n] == b[n], "n %lld: y[n] changed", (long long)n);
		}
		t_end();
	}

	t_begin("cl_rmsnorm is x / sqrt(mean(x^2) + eps) * w, in place too");
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
		int64_t n = ns[i];
		fill(a, n);
		fill(w, n);
		double ss = 0;
		for (int64_t k = 0; k < n; k++)
			ss += (double)a[k] * a[k];
		double inv = 1 / sqrt(ss / n + 1e-5);
		cl_rmsnorm(out, a, w, n, 1e-5f);
		for (int64_t k = 0; k < n; k++)
			T_CHECK(fabs(out[k] - a[k] * inv * w[k]) <= 1e-5 * fabs(a[k] * inv * w[k]) + 1e-7,
				"n %lld k %lld: %g vs %g", (long long)n, (long long)k, out[k], a[k] * inv * w[k]);
		memcpy(b, a, (size_t)n * 4);
		cl_rmsnorm(b, b, w, n, 1e-5f);
		T_CHECK(memcmp(b, out, (size_t)n * 4) == 0, "in place differs (n %lld)", (long long)n);
	}
	t_end();

	t_begin("cl_layernorm uses the biased variance: (x - mean) / sqrt(var + eps) * w + b");
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
		int64_t n = ns[i];
		fill(a, n);
		fill(w, n);
		fill(bias, n);
		for (int64_t k = 0; k < n; k++)
			a[k] = a[k] * 3 + 5; /* a mean far from 0 */
		double m = 0, v = 0;
		for (int64_t k = 0; k < n; k++)
			m += a[k];
		m /= n;
		for (int64_t k = 0; k < n; k++)
			v += (a[k] - m) * (a[k] - m);
		v /= n;
		cl_layernorm(out, a, w, bias, n, 1e-5f);
		for (int64_t k = 0; k < n; k++) {
			double want = (a[k] - m) / sqrt(v + 1e-5) * w[k] + bias[k];
			T_CHECK(fabs(out[k] - want) <= 1e-5 * (fabs(want) + 1), "n %lld k %lld: %g vs %g",
				(long long)n, (long long)k, out[k], want);
		}
	}
	t_end();

	t_begin("cl_softmax sums to 1, matches exp/sum, and survives large inputs");
	for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
		int64_t n = ns[i];
		fill(a, n);
		for (int64_t k = 0; k < n; k++)
			a[k] = a[k] * 20 + (k == 0 ? 1000 : 0);
		double mx = a[0], sum = 0;
		for (int64_t k = 0; k < n; k++)
			mx = fmax(mx, a[k]);
		for (int64_t k = 0; k < n; k++)
			sum += exp(a[k] - mx);
		memcpy(out, a, (size_t)n * 4);
		cl_softmax(out, n);
		double tot = 0;
		for (int64_t k = 0; k < n; k++) {
			double want = exp(a[k] - mx) / sum;
			T_CHECK(isfinite(out[k]) && fabs(out[k] - want) <= 1e-6 * want + 1e-30,
				"n %lld k %lld: %g vs %g", (long long)n, (long long)k, out[k], want);
			tot += out[k];
		}
		T_CHECK(fabs(tot - 1) < 1e-5, "n %lld: sum %g", (long long)n, tot);
	}
	t_end();
}

/* The rows of a small batch (the sequences of a batch stepping together,
 * 2 to 4 rows, or to a set's dot_rows_max) get the bits each gets alone, on
 * every set and type: a sequence decoded beside others generates what it
 * generates alone.  Where
 * a set has dots of several rows at once for any number of rows, so does
 * every row of a larger batch (cl_kernels_alone: q8_0 with AVX-512 VNNI, a
 * prompt's rows included), checked up to 19 rows (three steps of six and
 * one), on rows of 11 blocks (Q4_0's single dot: a group of eight, a pair,
 * and an odd last block). */
static void test_small_batch(void)
{
	static const enum cl_dtype types[] = {CL_DTYPE_F32, CL_DTYPE_F16, CL_DTYPE_BF16, CL_DTYPE_Q8_0,
					      CL_DTYPE_Q4_0};
	enum { NMAX = 19, COLS = 352, ROWS = 37 };
	struct cl_pool *pool = cl_pool_new(2);
	for (size_t ti = 0; ti < sizeof types / sizeof *types; ti++) {
		int64_t rows = ROWS, cols = COLS;
		struct cl_mat w;
		void *wdata = make_mat(types[ti], rows, cols, &w);
		static float x[NMAX * COLS], y[NMAX * ROWS], y1[ROWS];
		fill(x, NMAX * cols);
		for (int s = 0; s < NSETS; s++) {
			if (cl_kernels_use(sets[s]) != 0)
				continue;
			int64_t nmax = 4;
			while (nmax < NMAX && cl_kernels_alone(types[ti], nmax + 1, cols))
				nmax++;
			char name[160];
			snprintf(name, sizeof name, "%s: each of 2 to %lld rows of x by %s weights gets the bits it gets alone",
				 sets[s], (long long)nmax, cl_dtype_name(types[ti]));
			t_begin(name);
			for (int64_t n = 2; n <= nmax; n++) {
				cl_matmul(pool, &w, x, n, y);
				for (int64_t i = 0; i < n; i++) {
					cl_matmul(pool, &w, x + i * cols, 1, y1);
					T_CHECK(memcmp(y1, y + i * rows, sizeof y1) == 0, "%lld rows: row %lld differs",
						(long long)n, (long long)i);
				}
			}
			t_end();
		}
		free(wdata);
	}
	cl_pool_free(pool);
}

/* Weights in a set's own layout (packed.c): on each set that packs Q8_0, Q4_0 and F16,
 * matrices of awkward sizes (rows not a multiple of 16, one block, a single
 * row) read back row for row as stored; their products by 1 to 19 rows of x
 * are within the reference's tolerance plus x's quantization, and each row
 * of x gets the bits it gets alone, on 1 and 2 threads.  Then the same
 * packed matrix under a set without the kernel (one chosen after packing)
 * takes the slow path, right within the f32 tolerance. */
static void test_packed(void)
{
	static const int64_t shapes[][2] = {{37, 352}, {16, 32}, {1, 64}, {17, 96}, {48, 2048}, {5, 33}};
	enum { NMAX = 19 };
	struct cl_pool *pool = cl_pool_new(2);
	int packs = 0;
	for (int s = 0; s < NSETS; s++) {
		if (cl_kernels_use(sets[s]) != 0)
			continue;
		for (size_t si = 0; si < 3 * sizeof shapes / sizeof *shapes; si++) {
			static const enum cl_dtype pt[] = {CL_DTYPE_Q8_0, CL_DTYPE_Q4_0, CL_DTYPE_F16};
			enum cl_dtype t = pt[si % 3];
			int64_t rows = shapes[si / 3][0], cols = shapes[si / 3][1];
			if (t != CL_DTYPE_F16 && cols % 32)
				continue; /* F16's odd width: its last column alone */
			struct cl_mat w, pw;
			void *wdata = make_mat(t, rows, cols, &w);
			size_t bytes;
			enum cl_packing k = cl_mat_packing(&w, &bytes);
			if (k == CL_PACK_NONE) {
				free(wdata);
				continue;
			}
			packs++;
			char name[192];
			snprintf(name, sizeof name,
				 "%s: %s %lld x %lld packed reads back as stored; its products by 1 to %d rows "
				 "of x are right, each row the bits it gets alone",
				 sets[s], cl_dtype_name(t), (long long)rows, (long long)cols, NMAX);
			t_begin(name);
			void *buf = malloc(bytes);
			cl_mat_pack(pool, &w, k, buf, &pw);
			T_CHECK(pw.packed == (int)k && pw.rows == rows && pw.cols == cols, "packed matrix's fields");
			float *r0 = malloc((size_t)cols * 4), *r1 = malloc((size_t)cols * 4);
			for (int64_t r = 0; r < rows; r++) {
				cl_mat_row(&w, r, r0);
				cl_mat_row(&pw, r, r1);
				T_CHECK(memcmp(r0, r1, (size_t)cols * 4) == 0, "row %lld differs", (long long)r);
			}
			float *x = malloc((size_t)(NMAX * cols) * 4), *ref = malloc((size_t)(NMAX * rows) * 4);
			float *tol = malloc((size_t)(NMAX * rows) * 4), *xb = malloc((size_t)rows * 4);
			float *y = malloc((size_t)(NMAX * rows) * 4), *y1 = malloc((size_t)rows * 4);
			fill(x, NMAX * cols);
			cl_matmul_ref(&w, x, NMAX, ref);
			abs_ref(&w, x, NMAX, tol);
			for (int64_t n = 1; n <= NMAX; n++)
				for (int pi = 0; pi < 2; pi++) {
					cl_matmul(pi ? pool : NULL, &pw, x, n, y);
					for (int64_t i = 0; i < n; i++) {
						if (t == CL_DTYPE_F16) /* x as it is */
							memset(xb, 0, (size_t)rows * 4);
						else
							xq_bound(&w, x + i * cols, xb);
						cl_matmul(NULL, &pw, x + i * cols, 1, y1);
						T_CHECK(memcmp(y1, y + i * rows, (size_t)rows * 4) == 0,
							"%lld rows, threads %d: row %lld not its bits alone", (long long)n,
							pi + 1, (long long)i);
						for (int64_t r = 0; r < rows; r++) {
							float err = fabsf(y[i * rows + r] - ref[i * rows + r]);
							T_CHECK(err <= 2e-5f * tol[i * rows + r] + xb[r] + 1e-30f,
								"%lld rows: y[%lld][%lld] = %.9g, reference %.9g", (long long)n,
								(long long)i, (long long)r, y[i * rows + r], ref[i * rows + r]);
						}
					}
				}
			t_end();
			snprintf(name, sizeof name,
				 "%s: %s %lld x %lld packed, under the generic set (no kernel for the layout), is right",
				 sets[s], cl_dtype_name(t), (long long)rows, (long long)cols);
			t_begin(name);
			cl_kernels_use("generic");
			cl_matmul(pool, &pw, x, 3, y);
			for (int64_t k2 = 0; k2 < 3 * rows; k2++)
				T_CHECK(fabsf(y[k2] - ref[k2]) <= 2e-5f * tol[k2] + 1e-30f, "y[%lld] = %.9g, reference %.9g",
					(long long)k2, y[k2], ref[k2]);
			cl_kernels_use(sets[s]);
			t_end();
			free(buf);
			free(r0);
			free(r1);
			free(x);
			free(ref);
			free(tol);
			free(xb);
			free(y);
			free(y1);
			free(wdata);
		}
	}
	if (!packs)
		t_skip("q8_0 and q4_0 weights packed in a kernel set's own layout are right",
		       "no kernel set this CPU runs packs weights (AVX-512 VNNI does)");
	cl_pool_free(pool);
}

int main(void)
{
	const char *orig = cl_kernels_name();
	printf("# kernels: %s\n", orig);
	for (int s = 0; s < NSETS; s++) {
		if (cl_kernels_use(sets[s]) == 0)
			continue;
		char name[64];
		snprintf(name, sizeof name, "%s kernels equal the reference", sets[s]);
		t_skip(name, "this CPU or build lacks them; not checked here");
	}
	test_matmul();
	test_gguf_types();
	test_small_batch();
	test_packed();
	test_unaligned();
	test_quantize();
	check_quant_x("x quantized to 8 bits in plain C is within half a step per element", cl_quant_x_c);
#if defined(__x86_64__)
	if (cl_kernels_use("avx2") == 0)
		check_quant_x("x quantized to 8 bits with AVX2 is within half a step per element", cl_avx2_quant_x);
#endif
	test_vectors();
	cl_kernels_use(orig);
	return t_exit();
}
