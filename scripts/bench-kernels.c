/*
 * bench-kernels.c - how close the kernels come to the machine's own limits:
 * matvec GB/s against a read-bandwidth probe, matmul GFLOP/s against an FMA
 * probe, and the thread pool's hand-off time.  A benchmark, not a test:
 * nothing in `make check` runs it.  x86-64 only (the probes use AVX2).
 *
 *   make && cc -O2 -std=c11 -D_GNU_SOURCE -pthread -Ilib -Ilib/kernels scripts/bench-kernels.c \
 *       lib/libcl.a -lm -o /tmp/bench-kernels && /tmp/bench-kernels [threads...]
 *
 * Measured 2026-12-01 on the development machine: a 2-core KVM guest on AMD
 * EPYC (Zen 1: AVX2+FMA+F16C, 256-bit ops split in two), shared with other
 * jobs (load average 5-8), kernels "avx2", one thread, commit 6f0f214:
 *
 *   read 8.5 GB/s, fp32 FMA 26.7 GFLOP/s (probes; ±30 % run to run here)
 *   | type | matvec GB/s | of bw | in L2 GB/s | matmul 128 GFLOP/s | of FMA |
 *   | f32  | 8.4         | 98 %  | 33.3       | 22.7               | 85 %   |
 *   | f16  | 7.6         | 89 %  | 12.8       | 22.1               | 83 %   |
 *   | bf16 | 7.6         | 89 %  | 12.7       | 21.1               | 79 %   |
 *   | q8_0 | 6.3         | 73 %  | 9.1        | 21.8               | 82 %   |
 *   | q4_0 | 3.6         | 42 %  | 4.7        | 22.7               | 85 %   |
 *
 * The "in L2" column is the kernel's own rate when memory is no limit: on
 * Zen 1, f16 is held by vcvtph2ps and q8_0/q4_0 by 256-bit integer
 * multiply-adds (one pipe), at about 5 cycles per block of 32, so q4_0 is
 * compute-bound there.  With 2 threads the second core was taken by other
 * jobs during these runs (the 2-thread rows came out as the 1-thread ones:
 * the pool's caller runs the shares of a worker that is not scheduled); the
 * best 2-thread figures seen were read 9.7 GB/s and matmul 32-34 GFLOP/s.
 * Pool hand-off: 0.1-0.3 µs.
 */
#include <immintrin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- probes --- */

struct bw_job {
	const float *a;
	size_t n;
	float sink[64];
};

__attribute__((target("avx2"))) static void bw_task(void *arg, int ith, int nth)
{
	struct bw_job *j = arg;
	size_t per = j->n / (size_t)nth / 64 * 64, i0 = per * (size_t)ith;
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	for (size_t i = i0; i < i0 + per; i += 32) {
		s0 = _mm256_add_ps(s0, _mm256_loadu_ps(j->a + i));
		s1 = _mm256_add_ps(s1, _mm256_loadu_ps(j->a + i + 8));
		s2 = _mm256_add_ps(s2, _mm256_loadu_ps(j->a + i + 16));
		s3 = _mm256_add_ps(s3, _mm256_loadu_ps(j->a + i + 24));
	}
	__m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
	j->sink[ith] = s[0] + s[7];
}

/* Read bandwidth, GB/s: the best of a few passes over 512 MiB. */
static double probe_bw(struct cl_pool *p)
{
	size_t n = (size_t)128 << 20;
	float *a = malloc(n * 4);
	for (size_t i = 0; i < n; i++)
		a[i] = (float)(i & 255);
	struct bw_job j = {.a = a, .n = n};
	double best = 0;
	for (int rep = 0; rep < 4; rep++) {
		double t = now();
		cl_pool_run(p, bw_task, &j);
		t = now() - t;
		if (n * 4 / t > best)
			best = (double)n * 4 / t;
	}
	free(a);
	return best / 1e9;
}

struct fma_job {
	long iters;
	float sink[64];
};

__attribute__((target("avx2,fma"))) static void fma_task(void *arg, int ith, int nth)
{
	struct fma_job *j = arg;
	__m256 a[10], m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
#pragma GCC unroll 10
	for (int k = 0; k < 10; k++)
		a[k] = _mm256_set1_ps((float)k);
	for (long i = 0; i < j->iters; i++)
#pragma GCC unroll 10
		for (int k = 0; k < 10; k++)
			a[k] = _mm256_fmadd_ps(a[k], m, c);
	__m256 s = a[0];
	for (int k = 1; k < 10; k++)
		s = _mm256_add_ps(s, a[k]);
	j->sink[ith] = s[0];
}

/* fp32 FMA rate, GFLOP/s: 10 independent chains of 8-wide FMAs per thread. */
static double probe_fma(struct cl_pool *p)
{
	struct fma_job j = {.iters = 20000000};
	double best = 0;
	for (int rep = 0; rep < 3; rep++) {
		double t = now();
		cl_pool_run(p, fma_task, &j);
		t = now() - t;
		double f = (double)j.iters * 10 * 8 * 2 * cl_pool_size(p) / t;
		if (f > best)
			best = f;
	}
	return best / 1e9;
}

static void nop(void *arg, int ith, int nth)
{
}

static double probe_handoff(struct cl_pool *p)
{
	int n = 20000;
	double t = now();
	for (int i = 0; i < n; i++)
		cl_pool_run(p, nop, NULL);
	return (now() - t) / n * 1e6;
}

/* ------------------------------------------------------------ kernels --- */

static struct cl_mat make(enum cl_dtype t, int64_t rows, int64_t cols, void **owned)
{
	float *f = malloc((size_t)(rows * cols) * 4);
	for (int64_t i = 0; i < rows * cols; i++)
		f[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
	struct cl_mat s = {.data = f, .dtype = CL_DTYPE_F32, .rows = rows, .cols = cols}, m;
	if (t == CL_DTYPE_F32) {
		*owned = f;
		return s;
	}
	if (cl_mat_convert(&s, t, &m, owned) != CL_OK) {
		fprintf(stderr, "bench-kernels: %s\n", cl_errmsg());
		exit(1);
	}
	free(f);
	return m;
}

int main(int argc, char **argv)
{
	int threads[8] = {1, 2}, nthreads = 2;
	if (argc > 1) {
		nthreads = 0;
		for (int i = 1; i < argc && nthreads < 8; i++)
			threads[nthreads++] = atoi(argv[i]);
	}
	static const enum cl_dtype types[] = {CL_DTYPE_F32, CL_DTYPE_F16, CL_DTYPE_BF16, CL_DTYPE_Q8_0,
					      CL_DTYPE_Q4_0};
	printf("kernels: %s\n", cl_kernels_name());
	for (int ti = 0; ti < nthreads; ti++) {
		struct cl_pool *p = cl_pool_new(threads[ti]);
		int nt = cl_pool_size(p);
		double bw = probe_bw(p), fma = probe_fma(p), ho = probe_handoff(p);
		printf("\n## %d thread%s: read %.1f GB/s, fp32 FMA %.1f GFLOP/s, pool hand-off %.2f us\n", nt,
		       nt > 1 ? "s" : "", bw, fma, ho);
		printf("| type | matvec 5632x2048 GB/s | of bw | same in L2 (compute) GB/s | matmul 128 x 2048x2048 GFLOP/s | of FMA |\n");
		printf("|---|---|---|---|---|---|\n");
		for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
			/* matvec: 8 matrices of 5632 x 2048 (TinyLlama's ffn), far
			 * beyond the caches, each read once per pass. */
			int64_t rows = 5632, cols = 2048, nm = 8;
			void *own[8];
			struct cl_mat m[8];
			for (int i = 0; i < nm; i++)
				m[i] = make(types[k], rows, cols, &own[i]);
			float *x = malloc((size_t)(128 * cols) * 4), *y = malloc((size_t)(128 * rows) * 4);
			for (int64_t i = 0; i < 128 * cols; i++)
				x[i] = (float)(i % 17) / 17.0f;
			double best = 1e9;
			for (int rep = 0; rep < 5; rep++) {
				double t = now();
				for (int i = 0; i < nm; i++)
					cl_matmul(p, &m[i], x, 1, y);
				t = now() - t;
				best = t < best ? t : best;
			}
			double gbs = (double)nm * (double)cl_dtype_size(types[k], cols) * (double)rows / best / 1e9;
			/* The same loop on 64 rows that stay in L2: what the
			 * kernel can do when memory is not the limit. */
			struct cl_mat small = m[0];
			small.rows = 64;
			double bc = 1e9;
			for (int rep = 0; rep < 10; rep++) {
				double t = now();
				for (int i = 0; i < 50; i++)
					cl_matmul(p, &small, x, 1, y);
				t = now() - t;
				bc = t < bc ? t : bc;
			}
			double cgbs = 50.0 * (double)cl_dtype_size(types[k], cols) * 64 / bc / 1e9;
			/* matmul: a 128-token prompt through a 2048 x 2048 matrix. */
			struct cl_mat sq = m[0];
			sq.rows = 2048;
			double bm = 1e9;
			for (int rep = 0; rep < 3; rep++) {
				double t = now();
				cl_matmul(p, &sq, x, 128, y);
				t = now() - t;
				bm = t < bm ? t : bm;
			}
			double gf = 2.0 * 128 * 2048 * 2048 / bm / 1e9;
			printf("| %s | %.1f | %.0f %% | %.1f | %.1f | %.0f %% |\n", cl_dtype_name(types[k]), gbs,
			       100 * gbs / bw, cgbs, gf, 100 * gf / fma);
			fflush(stdout);
			for (int i = 0; i < nm; i++)
				free(own[i]);
			free(x);
			free(y);
		}
		cl_pool_free(p);
	}
	return 0;
}
