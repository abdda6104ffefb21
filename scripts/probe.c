/*
 * probe.c - the machine's own limits, for scripts/bench: memory read
 * bandwidth (GB/s, summing a buffer far larger than the caches) and fp32 FMA
 * rate (GFLOP/s, independent fused multiply-adds in registers, 256- or
 * 512-bit, whichever is faster), each with
 * 1..N threads; and where the CPU has AVX-512 VNNI, its 8-bit multiply-add
 * rate (vpdpbusd in registers, G multiply-adds/s: the ceiling of the q8_0
 * and q4_0 products of many rows; prints 0 elsewhere).  Built by
 * scripts/bench with -O2 -march=native.
 *
 *   probe bw THREADS     probe fma THREADS     probe vnni THREADS
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BW_BYTES (1ull << 30) /* 1 GiB: far beyond any cache */
#define ITERS 100000000L

static float *buf;
static int nthreads;
static volatile float sink;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *bw_worker(void *arg)
{
	/* Eight independent 8-wide sums: plain C that compiles to vector loads
	 * (float sums do not vectorise on their own without -ffast-math). */
	typedef float v8 __attribute__((vector_size(32)));
	size_t id = (size_t)arg, n = BW_BYTES / sizeof(v8), per = n / (size_t)nthreads;
	const v8 *p = (const v8 *)buf + id * per;
	v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
	for (size_t i = 0; i + 8 <= per; i += 8) {
		a0 += p[i]; a1 += p[i + 1]; a2 += p[i + 2]; a3 += p[i + 3];
		a4 += p[i + 4]; a5 += p[i + 5]; a6 += p[i + 6]; a7 += p[i + 7];
	}
	v8 t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
	sink += t[0] + t[7];
	return NULL;
}

static void *fma_worker(void *arg)
{
	/* 10 independent chains of 8-wide FMAs in registers: enough to keep
	 * two FMA pipes of 4-5 cycles' latency busy. */
	typedef float v8 __attribute__((vector_size(32)));
	const v8 b = {1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f};
	const v8 c = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
	v8 a0 = c, a1 = c * 2, a2 = c * 3, a3 = c * 4, a4 = c * 5, a5 = c * 6, a6 = c * 7, a7 = c * 8,
	   a8 = c * 9, a9 = c * 10;
	for (long i = 0; i < ITERS; i++) {
		a0 = a0 * b + c; a1 = a1 * b + c; a2 = a2 * b + c; a3 = a3 * b + c; a4 = a4 * b + c;
		a5 = a5 * b + c; a6 = a6 * b + c; a7 = a7 * b + c; a8 = a8 * b + c; a9 = a9 * b + c;
		__asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4));
	}
	v8 t = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9;
	sink += t[0] + t[7];
	(void)arg;
	return NULL;
}

#if defined(__x86_64__)
#include <immintrin.h>
/* The same at 512 bits where the CPU has AVX-512: CPUs with two 512-bit FMA
 * pipes (Xeons) do twice the 256-bit rate; Zen 4 does the same. */
__attribute__((target("avx512f"))) static void *fma512_worker(void *arg)
{
	__m512 b = _mm512_set1_ps(1.0001f), c = _mm512_set1_ps(1e-7f);
	/* Distinct starts, or gcc folds identical chains into one. */
	__m512 a0 = _mm512_set1_ps(1e-7f), a1 = _mm512_set1_ps(2e-7f), a2 = _mm512_set1_ps(3e-7f),
	       a3 = _mm512_set1_ps(4e-7f), a4 = _mm512_set1_ps(5e-7f), a5 = _mm512_set1_ps(6e-7f),
	       a6 = _mm512_set1_ps(7e-7f), a7 = _mm512_set1_ps(8e-7f), a8 = _mm512_set1_ps(9e-7f),
	       a9 = _mm512_set1_ps(10e-7f), a10 = _mm512_set1_ps(11e-7f), a11 = _mm512_set1_ps(12e-7f);
#define FM(r) r = _mm512_fmadd_ps(r, b, c)
	for (long i = 0; i < ITERS / 2; i++) {
		FM(a0); FM(a1); FM(a2); FM(a3); FM(a4); FM(a5); FM(a6); FM(a7); FM(a8); FM(a9); FM(a10); FM(a11);
	}
#undef FM
	__m512 t = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)),
				 _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7)));
	t = _mm512_add_ps(t, _mm512_add_ps(_mm512_add_ps(a8, a9), _mm512_add_ps(a10, a11)));
	sink += _mm512_reduce_add_ps(t);
	(void)arg;
	return NULL;
}

/* 16 independent chains of 512-bit vpdpbusd (64 multiply-adds each). */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static void *vnni_worker(void *arg)
{
	/* Sixteen independent chains in named registers (an array of them, or
	 * an asm that writes some, made gcc keep chains on the stack and hid
	 * half of the rate behind store-to-load latency). */
	__m512i u = _mm512_set1_epi8(3), v = _mm512_set1_epi8(-2);
	__m512i a0 = _mm512_set1_epi32(0), a1 = _mm512_set1_epi32(1), a2 = _mm512_set1_epi32(2),
		a3 = _mm512_set1_epi32(3), a4 = _mm512_set1_epi32(4), a5 = _mm512_set1_epi32(5),
		a6 = _mm512_set1_epi32(6), a7 = _mm512_set1_epi32(7), a8 = _mm512_set1_epi32(8),
		a9 = _mm512_set1_epi32(9), a10 = _mm512_set1_epi32(10), a11 = _mm512_set1_epi32(11),
		a12 = _mm512_set1_epi32(12), a13 = _mm512_set1_epi32(13), a14 = _mm512_set1_epi32(14),
		a15 = _mm512_set1_epi32(15);
#define DP(r) r = _mm512_dpbusd_epi32(r, u, v)
	for (long i = 0; i < ITERS / 4; i++) {
		DP(a0); DP(a1); DP(a2); DP(a3); DP(a4); DP(a5); DP(a6); DP(a7);
		DP(a8); DP(a9); DP(a10); DP(a11); DP(a12); DP(a13); DP(a14); DP(a15);
	}
#undef DP
	__m512i t = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
				     _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)));
	t = _mm512_add_epi32(t, _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11)),
						 _mm512_add_epi32(_mm512_add_epi32(a12, a13), _mm512_add_epi32(a14, a15))));
	sink += (float)_mm512_reduce_add_epi32(t);
	(void)arg;
	return NULL;
}
#endif

static double run(void *(*fn)(void *))
{
	pthread_t th[256];
	double t0 = now();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, fn, (void *)(size_t)i);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	return now() - t0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (nthreads = atoi(argv[2])) < 1 || nthreads > 256) {
		fprintf(stderr, "usage: probe bw|fma|vnni THREADS\n");
		return 2;
	}
	double best = 1e30;
	if (strcmp(argv[1], "bw") == 0) {
		buf = aligned_alloc(64, BW_BYTES);
		if (!buf)
			return 1;
		memset(buf, 1, BW_BYTES); /* fault every page in before timing */
		for (int r = 0; r < 5; r++) {
			double t = run(bw_worker);
			if (t < best)
				best = t;
		}
		printf("%.2f\n", (double)BW_BYTES / best / 1e9);
	} else if (strcmp(argv[1], "vnni") == 0) {
#if defined(__x86_64__)
		__builtin_cpu_init();
		if (!__builtin_cpu_supports("avx512vnni")) {
			printf("0\n");
			return 0;
		}
		for (int r = 0; r < 3; r++) {
			double t = run(vnni_worker);
			if (t < best)
				best = t;
		}
		/* iterations x 16 chains x 64 multiply-adds, per thread */
		printf("%.1f\n", (double)(ITERS / 4) * 16 * 64 * nthreads / best / 1e9);
#else
		printf("0\n");
#endif
	} else {
		for (int r = 0; r < 3; r++) {
			double t = run(fma_worker);
			if (t < best)
				best = t;
		}
		/* iterations x 10 chains x 8 lanes x 2 flops, per thread */
		double rate = (double)ITERS * 10 * 8 * 2 * nthreads / best / 1e9;
#if defined(__x86_64__)
		__builtin_cpu_init();
		if (__builtin_cpu_supports("avx512f")) {
			best = 1e30;
			for (int r = 0; r < 3; r++) {
				double t = run(fma512_worker);
				if (t < best)
					best = t;
			}
			/* iterations x 12 chains x 16 lanes x 2 flops */
			double r512 = (double)(ITERS / 2) * 12 * 16 * 2 * nthreads / best / 1e9;
			if (r512 > rate)
				rate = r512;
		}
#endif
		printf("%.1f\n", rate);
	}
	return 0;
}
