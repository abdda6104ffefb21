/*
 * kernels.c - the vector helpers and the pieces of the matrix products of
 * every model family: the plain-C reference (the tests' oracle), the plain-C
 * fast path that any CPU runs, the choice of instruction set, and weight
 * conversion and quantization.  The threaded products that use them are in
 * matmul.c.
 *
 * Block types (ggml's Q8_0 and Q4_0): blocks of 32 elements, each an f16
 * scale d then the quants; Q8_0 x = q·d with q an int8, Q4_0 x = (q - 8)·d with
 * element j of the block in the low nibble of byte j and element j+16 in the
 * high nibble.
 */
#include <math.h>
#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "kernels_impl.h"

/* ------------------------------------------------------------ reference --- */

/* Element k of a weight row, as f32. */
static float elem(const void *row, enum cl_dtype t, int64_t k)
{
	const unsigned char *b = row;
	switch (t) {
	case CL_DTYPE_F32: {
		float f;
		memcpy(&f, b + 4 * k, 4);
		return f;
	}
	case CL_DTYPE_F16: return cl_load_f16(b + 2 * k);
	case CL_DTYPE_BF16: {
		uint16_t h;
		memcpy(&h, b + 2 * k, 2);
		return cl_bf16_to_f32(h);
	}
	case CL_DTYPE_Q8_0: {
		const unsigned char *blk = b + (k / QK) * Q8_BYTES;
		return (float)(int8_t)blk[2 + k % QK] * cl_load_f16(blk);
	}
	case CL_DTYPE_Q4_0: {
		const unsigned char *blk = b + (k / QK) * Q4_BYTES;
		int j = (int)(k % QK);
		int q = j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4;
		return (float)(q - 8) * cl_load_f16(blk);
	}
	default: {
		int64_t nb = cl_dtype_block(t);
		if (nb <= 1)
			return NAN;
		float blk[256];
		cl_dequant_block(t, b + (size_t)(k / nb) * cl_dtype_size(t, nb), blk);
		return blk[k % nb];
	}
	}
}

static const unsigned char *mat_rowp(const struct cl_mat *w, int64_t r)
{
	return (const unsigned char *)w->data + (size_t)r * cl_dtype_size(w->dtype, w->cols);
}

void cl_matmul_ref(const struct cl_mat *w, const float *x, int64_t n, float *y)
{
	/* Each row as f32 once (a k-quant's element alone costs its whole
	 * super-block), without the heap for the common small row. */
	float small[1024], *row = w->cols <= 1024 ? small : malloc((size_t)w->cols * sizeof *row);
	if (!row) {
		for (int64_t k = 0; k < n * w->rows; k++)
			y[k] = NAN;
		return;
	}
	for (int64_t r = 0; r < w->rows; r++) {
		cl_mat_row(w, r, row);
		for (int64_t i = 0; i < n; i++) {
			double s = 0;
			for (int64_t k = 0; k < w->cols; k++)
				s += (double)row[k] * x[i * w->cols + k];
			y[i * w->rows + r] = (float)s;
		}
	}
	if (row != small)
		free(row);
}

void cl_mat_row(const struct cl_mat *w, int64_t r, float *out)
{
	if (w->packed) {
		cl_packed_row(w, r, out);
		return;
	}
	const unsigned char *row = mat_rowp(w, r);
	switch (w->dtype) {
	case CL_DTYPE_F32:
	case CL_DTYPE_F16:
	case CL_DTYPE_BF16: cl_to_f32(w->dtype, row, w->cols, out); break;
	case CL_DTYPE_Q8_0:
	case CL_DTYPE_Q4_0:
		for (int64_t k = 0; k < w->cols; k++)
			out[k] = elem(row, w->dtype, k);
		break;
	default: cl_dequant_c(w->dtype, row, 0, w->cols, out);
	}
}

/* ------------------------------------------------- plain-C fast path --- */
/* Eight partial sums, so the compiler may keep them in one vector register
 * and the additions are not one long dependency chain. */

static float gen_dot_f32(const float *a, const float *b, int64_t n)
{
	float s[8] = {0};
	int64_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			s[j] += a[k + j] * b[k + j];
	float t = 0;
	for (; k < n; k++)
		t += a[k] * b[k];
	return t + ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static void gen_axpy_f32(float *y, float a, const float *x, int64_t n)
{
	for (int64_t k = 0; k < n; k++)
		y[k] += a * x[k];
}

static float gen_dot_w_f32(const void *w, const float *x, int64_t n)
{
	if (((uintptr_t)w & 3) == 0)
		return gen_dot_f32(w, x, n);
	float s = 0;
	for (int64_t k = 0; k < n; k++)
		s += elem(w, CL_DTYPE_F32, k) * x[k];
	return s;
}

/* f16 -> f32 by table (256 KiB, filled once by kern_init): the bit-exact
 * conversion in util.c branches on every element, ten times slower. */
static float f16_tab[65536];

static void f16_tab_init(void)
{
	for (uint32_t h = 0; h < 65536; h++)
		f16_tab[h] = cl_f16_to_f32((uint16_t)h);
}

static inline float gen_f16(const unsigned char *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	return f16_tab[h];
}

static inline float gen_bf16(const unsigned char *p)
{
	uint16_t h;
	memcpy(&h, p, 2);
	uint32_t u = (uint32_t)h << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

#define SUM8(s) (((s)[0] + (s)[4]) + ((s)[1] + (s)[5])) + (((s)[2] + (s)[6]) + ((s)[3] + (s)[7]))

static float gen_dot_f16(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float s[8] = {0};
	int64_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			s[j] += gen_f16(b + 2 * (k + j)) * x[k + j];
	float t = 0;
	for (; k < n; k++)
		t += gen_f16(b + 2 * k) * x[k];
	return t + SUM8(s);
}

static float gen_dot_bf16(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float s[8] = {0};
	int64_t k = 0;
	for (; k + 8 <= n; k += 8)
		for (int j = 0; j < 8; j++)
			s[j] += gen_bf16(b + 2 * (k + j)) * x[k + j];
	float t = 0;
	for (; k < n; k++)
		t += gen_bf16(b + 2 * k) * x[k];
	return t + SUM8(s);
}

static float gen_dot_q8_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float s = 0;
	for (int64_t k = 0; k < n; k += QK, b += Q8_BYTES) {
		float t[8] = {0};
		for (int j = 0; j < QK; j += 8)
			for (int i = 0; i < 8; i++)
				t[i] += (float)(int8_t)b[2 + j + i] * x[k + j + i];
		s += (SUM8(t)) * gen_f16(b);
	}
	return s;
}

static float gen_dot_q4_0(const void *w, const float *x, int64_t n)
{
	const unsigned char *b = w;
	float s = 0;
	for (int64_t k = 0; k < n; k += QK, b += Q4_BYTES) {
		float t[8] = {0};
		for (int j = 0; j < 16; j += 8)
			for (int i = 0; i < 8; i++)
				t[i] += (float)((b[2 + j + i] & 15) - 8) * x[k + j + i] +
					(float)((b[2 + j + i] >> 4) - 8) * x[k + j + i + 16];
		s += (SUM8(t)) * gen_f16(b);
	}
	return s;
}

static void gen_row_f32(const void *w, int64_t k0, int64_t kc, float *out)
{
	memcpy(out, (const float *)w + k0, (size_t)kc * 4);
}

static void gen_row_f16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + 2 * k0;
	for (int64_t k = 0; k < kc; k++)
		out[k] = gen_f16(b + 2 * k);
}

static void gen_row_bf16(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + 2 * k0;
	for (int64_t k = 0; k < kc; k++)
		out[k] = gen_bf16(b + 2 * k);
}

static void gen_row_q8_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q8_BYTES;
	for (int64_t k = 0; k < kc; k += QK, b += Q8_BYTES) {
		float d = cl_load_f16(b);
		for (int j = 0; j < QK; j++)
			out[k + j] = (float)(int8_t)b[2 + j] * d;
	}
}

static void gen_row_q4_0(const void *w, int64_t k0, int64_t kc, float *out)
{
	const unsigned char *b = (const unsigned char *)w + (k0 / QK) * Q4_BYTES;
	for (int64_t k = 0; k < kc; k += QK, b += Q4_BYTES) {
		float d = cl_load_f16(b);
		for (int j = 0; j < 16; j++) {
			out[k + j] = (float)((b[2 + j] & 15) - 8) * d;
			out[k + j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
		}
	}
}

/* The GGUF-only types, by way of quants.c's reference. */
#define GEN_BLOCKS(T)                                                                    \
	static void gen_row_##T(const void *w, int64_t k0, int64_t kc, float *out)         \
	{                                                                                \
		cl_dequant_c(CL_DTYPE_##T, w, k0, kc, out);                                \
	}                                                                                \
	static float gen_dot_##T(const void *w, const float *x, int64_t n)                 \
	{                                                                                \
		return cl_dot_blocks(CL_DTYPE_##T, w, x, n);                               \
	}
GEN_BLOCKS(Q4_1)
GEN_BLOCKS(Q5_0)
GEN_BLOCKS(Q5_1)
GEN_BLOCKS(Q2_K)
GEN_BLOCKS(Q3_K)
GEN_BLOCKS(Q4_K)
GEN_BLOCKS(Q5_K)
GEN_BLOCKS(Q6_K)
#undef GEN_BLOCKS

void cl_quant_x_c(const float *x, int64_t n, int8_t *q, float *d, float *s)
{
	for (int64_t b = 0; b < n / QK; b++) {
		const float *p = x + b * QK;
		float amax = 0;
		for (int j = 0; j < QK; j++)
			amax = fmaxf(amax, fabsf(p[j]));
		float dd = amax / 127, id = dd > 0 ? 1 / dd : 0;
		int sum = 0;
		for (int j = 0; j < QK; j++) {
			float v = roundf(p[j] * id);
			int qi = v > 127 ? 127 : v < -127 ? -127 : (int)v;
			q[b * QK + j] = (int8_t)qi;
			sum += qi;
		}
		d[b] = dd;
		s[b] = dd * (float)sum;
	}
}

static void gen_gemm(int64_t ni, int64_t nr, int64_t kc, const float *x, int64_t ldx,
		     const float *w, int64_t ldw, float *y, int64_t ldy)
{
	for (int64_t r = 0; r < nr; r++)
		for (int64_t i = 0; i < ni; i++)
			y[i * ldy + r] += gen_dot_f32(x + i * ldx, w + r * ldw, kc);
}

const struct cl_kern cl_kern_generic = {
	.name = "generic",
	.dot = {gen_dot_w_f32, gen_dot_f16, gen_dot_bf16, gen_dot_q8_0, gen_dot_q4_0, gen_dot_Q4_1,
		gen_dot_Q5_0, gen_dot_Q5_1, gen_dot_Q2_K, gen_dot_Q3_K, gen_dot_Q4_K, gen_dot_Q5_K,
		gen_dot_Q6_K},
	.row_f32 = {gen_row_f32, gen_row_f16, gen_row_bf16, gen_row_q8_0, gen_row_q4_0, gen_row_Q4_1,
		    gen_row_Q5_0, gen_row_Q5_1, gen_row_Q2_K, gen_row_Q3_K, gen_row_Q4_K, gen_row_Q5_K,
		    gen_row_Q6_K},
	.gemm = gen_gemm,
	.dot_f32 = gen_dot_f32,
	.axpy_f32 = gen_axpy_f32,
	.quant_row = {[CL_DTYPE_Q8_0] = cl_quant_q8_0_c, [CL_DTYPE_Q4_0] = cl_quant_q4_0_c,
		      [CL_DTYPE_Q4_K] = cl_quant_q4_k_c, [CL_DTYPE_Q6_K] = cl_quant_q6_k_c},
};

/* ------------------------------------------------------------- dispatch --- */

/* The running set: a copy of one of the tables below, its missing dots and
 * row conversions (types it has no kernel of its own for) taken from the
 * plain-C set's. */
static struct cl_kern kern_live;
static const struct cl_kern *kern_cur;
static pthread_once_t kern_once = PTHREAD_ONCE_INIT;

static void kern_set(const struct cl_kern *k)
{
	kern_live = *k;
	for (int t = 0; t < CL_DTYPE_COUNT; t++) {
		if (!kern_live.dot[t])
			kern_live.dot[t] = cl_kern_generic.dot[t];
		if (!kern_live.row_f32[t])
			kern_live.row_f32[t] = cl_kern_generic.row_f32[t];
		if (!kern_live.quant_row[t])
			kern_live.quant_row[t] = cl_kern_generic.quant_row[t];
	}
	kern_cur = &kern_live;
}

float cl_dot_blocks(enum cl_dtype t, const void *w, const float *x, int64_t cols)
{
	const struct cl_kern *k = kern_cur;
	_Alignas(64) float buf[256];
	float s = 0;
	for (int64_t k0 = 0; k0 < cols; k0 += 256) {
		int64_t kc = cols - k0 < 256 ? cols - k0 : 256;
		k->row_f32[t](w, k0, kc, buf);
		s += k->dot_f32(buf, x + k0, kc);
	}
	return s;
}

#if defined(__x86_64__)
/* CPUID leaf 1, ECX bit 29.  Not __builtin_cpu_supports("f16c"): clang
 * before 15 does not know that name. */
static int has_f16c(void)
{
	unsigned a, b, c, d;
	return __get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1);
}
#endif

/* Whether this CPU (and its OS, which must save the wider registers) can run
 * the set; __builtin_cpu_supports checks both for AVX. */
static int kern_usable(const struct cl_kern *k)
{
	if (k == &cl_kern_generic)
		return 1;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (k == &cl_kern_avx2)
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
	if (k == &cl_kern_avx512 || k == &cl_kern_avx512_vnni)
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
		       (k == &cl_kern_avx512 || __builtin_cpu_supports("avx512vnni"));
#endif
#if defined(__aarch64__)
	if (k == &cl_kern_neon)
		return 1; /* Advanced SIMD, with fp16 conversion, is in every arm64 */
#endif
	return 0;
}

static const struct cl_kern *const kern_all[] = {
#if defined(__x86_64__)
	&cl_kern_avx512_vnni, /* named "avx512" too: the best of the two this CPU runs */
	&cl_kern_avx512,
	&cl_kern_avx2,
#endif
#if defined(__aarch64__)
	&cl_kern_neon,
#endif
	&cl_kern_generic,
};
#define NKERN (sizeof kern_all / sizeof kern_all[0])

static void kern_init(void)
{
	f16_tab_init();
	/* CL_KERNELS=generic (or avx2, ...) forces a set: for comparing paths
	 * and for working around a suspected fault in one. */
	const char *want = getenv("CL_KERNELS");
	for (size_t i = 0; i < NKERN; i++)
		if (want && *want && strcmp(want, kern_all[i]->name) == 0 && kern_usable(kern_all[i])) {
			kern_set(kern_all[i]);
			return;
		}
	for (size_t i = 0; i < NKERN; i++)
		if (kern_usable(kern_all[i])) {
			kern_set(kern_all[i]);
			return;
		}
}

const struct cl_kern *cl_kern(void)
{
	pthread_once(&kern_once, kern_init);
	return kern_cur;
}

const char *cl_kernels_name(void)
{
	return cl_kern()->name;
}

enum cl_status cl_kernels_check(void)
{
	const char *want = getenv("CL_KERNELS");
	char runs[128] = "";
	if (!want || !*want)
		return CL_OK;
	cl_kern();
	for (size_t i = 0; i < NKERN; i++)
		if (kern_usable(kern_all[i]) && (i == 0 || strcmp(kern_all[i]->name, kern_all[i - 1]->name) != 0))
			snprintf(runs + strlen(runs), sizeof runs - strlen(runs), "%s%s", runs[0] ? ", " : "",
				 kern_all[i]->name);
	static const char *const known[] = {"avx512", "avx2", "neon", "generic"};
	int is_known = 0;
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		is_known |= strcmp(want, known[i]) == 0;
	if (!is_known)
		return cl_error(CL_ERR_UNSUPPORTED, "CL_KERNELS=%s: no such kernel set (avx512, avx2, neon, generic; "
				"this CPU runs %s)", want, runs);
	if (strcmp(cl_kern()->name, want) != 0)
		return cl_error(CL_ERR_UNSUPPORTED, "CL_KERNELS=%s: this CPU or build cannot run it (it runs %s)",
				want, runs);
	return CL_OK;
}

int cl_kernels_use(const char *name)
{
	cl_kern();
	for (size_t i = 0; i < NKERN; i++)
		if (strcmp(name, kern_all[i]->name) == 0) {
			if (!kern_usable(kern_all[i]))
				return -1;
			kern_set(kern_all[i]);
			return 0;
		}
	return -1;
}

/* ------------------------------------------------ conversion, quantizing --- */

/* Q8_0: d = amax/127, q = round(x/d).  q is computed with the exact d, then d
 * is stored as f16; the round trip errs by at most d/2 + 127·|d - f16(d)|,
 * under amax/127 · 0.57. */
void cl_quant_q8_0_c(const float *x, int64_t n, unsigned char *out)
{
	for (int64_t k = 0; k < n; k += QK, out += Q8_BYTES) {
		float amax = 0;
		for (int j = 0; j < QK; j++)
			amax = fmaxf(amax, fabsf(x[k + j]));
		float d = amax / 127, id = d > 0 ? 1 / d : 0;
		uint16_t h = cl_f32_to_f16(d);
		memcpy(out, &h, 2);
		for (int j = 0; j < QK; j++) {
			/* Half away from zero, as roundf, without the call. */
			float v = x[k + j] * id;
			int q = (int)(v + (v >= 0 ? 0.5f : -0.5f));
			out[2 + j] = (unsigned char)(int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
		}
	}
}

/* Q4_0 as ggml makes it: d = m/-8 where m is the element of largest
 * magnitude (with its sign), so m itself maps to q = 0 and the range -8..7 is
 * used in full; an element of the other sign near -m clamps to 7, which makes
 * the round-trip error at most amax/8 (else d/2 = amax/16). */
void cl_quant_q4_0_c(const float *x, int64_t n, unsigned char *out)
{
	for (int64_t k = 0; k < n; k += QK, out += Q4_BYTES) {
		float amax = 0, m = 0;
		for (int j = 0; j < QK; j++)
			if (fabsf(x[k + j]) > amax) {
				amax = fabsf(x[k + j]);
				m = x[k + j];
			}
		float d = m / -8, id = d != 0 ? 1 / d : 0;
		uint16_t h = cl_f32_to_f16(d);
		memcpy(out, &h, 2);
		for (int j = 0; j < 16; j++) {
			/* Two statements: a compiler that contracts within an
			 * expression (clang) must not turn these into an FMA,
			 * or the AVX2 path would not match bit for bit. */
			float a = x[k + j] * id, b = x[k + j + 16] * id;
			a += 8.5f;
			b += 8.5f;
			int qa = a < 0 ? 0 : a > 15 ? 15 : (int)a;
			int qb = b < 0 ? 0 : b > 15 ? 15 : (int)b;
			out[2 + j] = (unsigned char)(qa | qb << 4);
		}
	}
}

enum cl_status cl_mat_convert(const struct cl_mat *src, enum cl_dtype to, struct cl_mat *dst,
			      void **owned)
{
	*owned = NULL;
	if (src->dtype != CL_DTYPE_F32 && src->dtype != CL_DTYPE_F16 && src->dtype != CL_DTYPE_BF16)
		return cl_error(CL_ERR_UNSUPPORTED, "convert: from %s: expected f32, f16 or bf16",
				cl_dtype_name(src->dtype));
	if ((unsigned)to >= CL_DTYPE_COUNT)
		return cl_error(CL_ERR_UNSUPPORTED, "convert: unknown target type %d", (int)to);
	if (cl_dtype_block(to) > 1 && !cl_kern_generic.quant_row[to])
		return cl_error(CL_ERR_UNSUPPORTED, "convert: %s: cl computes this type as GGUF files hold it but "
				"does not make it (f32, f16, bf16, q8_0, q4_0, q4_k, q6_k)", cl_dtype_name(to));
	if (src->cols % cl_dtype_block(to) != 0)
		return cl_error(CL_ERR_UNSUPPORTED,
				"convert: %s needs a multiple of %d columns, the matrix has %lld",
				cl_dtype_name(to), cl_dtype_block(to), (long long)src->cols);
	if (src->rows < 0 || src->cols <= 0)
		return cl_error(CL_ERR_RANGE, "convert: bad shape %lld x %lld", (long long)src->rows,
				(long long)src->cols);
	size_t in_row = cl_dtype_size(src->dtype, src->cols);
	size_t out_row = cl_dtype_size(to, src->cols);
	unsigned char *out = malloc(out_row * (size_t)(src->rows ? src->rows : 1));
	float *tmp = malloc((size_t)src->cols * 4); /* (cols) */
	if (!out || !tmp) {
		free(out);
		free(tmp);
		return cl_error(CL_ERR_NOMEM, "convert: %lld x %lld to %s: out of memory",
				(long long)src->rows, (long long)src->cols, cl_dtype_name(to));
	}
	const struct cl_kern *kk = cl_kern();
	for (int64_t r = 0; r < src->rows; r++) {
		kk->row_f32[src->dtype]((const unsigned char *)src->data + (size_t)r * in_row, 0, src->cols, tmp);
		unsigned char *o = out + (size_t)r * out_row;
		switch (to) {
		case CL_DTYPE_F32: memcpy(o, tmp, out_row); break;
		case CL_DTYPE_F16:
		case CL_DTYPE_BF16:
			for (int64_t k = 0; k < src->cols; k++) {
				uint16_t h = to == CL_DTYPE_F16 ? cl_f32_to_f16(tmp[k]) : cl_f32_to_bf16(tmp[k]);
				memcpy(o + 2 * k, &h, 2);
			}
			break;
		default: kk->quant_row[to](tmp, src->cols, o); break;
		}
	}
	free(tmp);
	*dst = (struct cl_mat){.data = out, .dtype = to, .rows = src->rows, .cols = src->cols};
	*owned = out;
	return CL_OK;
}

float cl_dot_f16(const uint16_t *k, const float *q, int64_t n)
{
	return cl_kern()->dot[CL_DTYPE_F16](k, q, n);
}

void cl_axpy_f16(float *y, float a, const uint16_t *x, int64_t n)
{
	for (int64_t i = 0; i < n; i++)
		y[i] += a * cl_f16_to_f32(x[i]);
}

/* -------------------------------------------------------- vector helpers --- */
/* Sums in double: these run once per position over a few thousand elements,
 * so the cost is nothing and the result does not depend on the SIMD path. */

void cl_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps)
{
	double ss = 0;
	for (int64_t i = 0; i < n; i++)
		ss += (double)x[i] * x[i];
	float s = (float)(1.0 / sqrt(ss / (double)n + eps));
	for (int64_t i = 0; i < n; i++)
		out[i] = x[i] * s * (w ? w[i] : 1.0f);
}

void cl_layernorm(float *out, const float *x, const float *w, const float *b, int64_t n, float eps)
{
	double sum = 0, sq = 0;
	for (int64_t i = 0; i < n; i++)
		sum += x[i];
	double mean = sum / (double)n;
	for (int64_t i = 0; i < n; i++)
		sq += ((double)x[i] - mean) * ((double)x[i] - mean);
	float s = (float)(1.0 / sqrt(sq / (double)n + eps)), m = (float)mean;
	for (int64_t i = 0; i < n; i++)
		out[i] = (x[i] - m) * s * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f);
}

void cl_softmax(float *x, int64_t n)
{
	if (n <= 0)
		return;
	float mx = x[0];
	for (int64_t i = 1; i < n; i++)
		mx = fmaxf(mx, x[i]);
	double sum = 0;
	for (int64_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - mx);
		sum += x[i];
	}
	float inv = (float)(1.0 / sum);
	for (int64_t i = 0; i < n; i++)
		x[i] *= inv;
}

float cl_dot_f32(const float *a, const float *b, int64_t n)
{
	return cl_kern()->dot_f32(a, b, n);
}

void cl_axpy_f32(float *y, float a, const float *x, int64_t n)
{
	cl_kern()->axpy_f32(y, a, x, n);
}
