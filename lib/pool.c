/*
 * pool.c - a fixed set of worker threads that run one function at a time.
 *
 * Why a pthreads pool and not OpenMP: a token makes a few hundred parallel
 * calls (every matmul, norm and attention head group), each lasting tens of
 * microseconds, so what matters is the cost of one hand-off.  Here it is a
 * store to an atomic generation counter that the workers spin on for a short
 * while before they sleep on a condition variable; OpenMP's spin-then-sleep
 * (GOMP_SPINCOUNT, OMP_WAIT_POLICY) is set per process by environment
 * variables we do not control from a library, and libgomp would be one more
 * run-time dependency.  scripts/bench-kernels.c measures the hand-off (the
 * figures are in its header comment).
 *
 * The protocol.  The caller publishes fn/arg, sets `pending` to the number of
 * workers and bumps `gen`; each worker that sees a new generation runs its
 * share and decrements `pending`; the caller runs share 0 and then waits for
 * `pending` to reach zero.  A worker that has spun long enough goes to sleep:
 * it counts itself in `sleepers` under the mutex and re-checks `gen` before
 * waiting, and the caller, after bumping `gen`, broadcasts only when
 * `sleepers` is non-zero.  Both sides use sequentially consistent atomics, so
 * either the caller sees the sleeper or the sleeper sees the new generation
 * (the Dekker pattern): no wake-up is lost.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"

/* How long a waiting thread spins before it sleeps.  Long enough to bridge
 * the gaps between the calls of one token (microseconds), short enough not to
 * burn a core between tokens or when the machine is oversubscribed.  Counted
 * in time, not in pauses: a pause is 3 cycles on some CPUs and 140 on others. */
#define SPIN_NS 100000
struct worker {
	struct cl_pool *pool;
	pthread_t th;
	int ith;
};

struct cl_pool {
	int n;                   /* threads, the caller included */
	struct worker *w;        /* (n - 1) */
	void (*fn)(void *, int, int);
	void *arg;
	atomic_uint gen;         /* bumped once per cl_pool_run */
	atomic_int pending;      /* workers still running the current generation */
	atomic_int sleepers;     /* workers waiting on `wake` */
	atomic_int caller_waits; /* the caller waits on `done` */
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t wake, done;
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Spin once; after SPIN_NS from the first call (*t0 == 0 then), return 1:
 * time to sleep.  The clock is read every 64 spins only. */
static int spin_done(unsigned *spins, uint64_t *t0)
{
	cpu_relax();
	if ((++*spins & 63) != 0)
		return 0;
	uint64_t t = now_ns();
	if (*t0 == 0) {
		*t0 = t;
		return 0;
	}
	return t - *t0 > SPIN_NS;
}

static void *worker_main(void *v)
{
	struct worker *w = v;
	struct cl_pool *p = w->pool;
	/* Not the current value: the first run may have begun before this
	 * thread got here, and it must not be missed. */
	unsigned seen = 0;
	for (;;) {
		unsigned g, spins = 0;
		uint64_t t0 = 0;
		while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
			if (!spin_done(&spins, &t0))
				continue;
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while ((g = atomic_load(&p->gen)) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
			break;
		}
		seen = g;
		if (atomic_load(&p->stop))
			return NULL;
		p->fn(p->arg, w->ith, p->n);
		/* The last worker wakes a caller that went to sleep (Dekker again:
		 * the caller sets caller_waits, then reads pending). */
		if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_waits)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

int cl_pool_size(const struct cl_pool *p)
{
	return p ? p->n : 1;
}

struct cl_pool *cl_pool_new(int nthreads)
{
	if (nthreads <= 0) {
		long nc = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
		cpu_set_t set;
		if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
			nc = CPU_COUNT(&set);
#endif
		nthreads = nc > 0 ? (int)nc : 1;
	}
	if (nthreads > 256)
		nthreads = 256;
	struct cl_pool *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->n = nthreads;
	atomic_init(&p->gen, 0);
	atomic_init(&p->pending, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->caller_waits, 0);
	atomic_init(&p->stop, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	if (nthreads > 1) {
		p->w = calloc((size_t)nthreads - 1, sizeof *p->w);
		if (!p->w) {
			cl_pool_free(p);
			return NULL;
		}
	}
	for (int i = 1; i < nthreads; i++) {
		struct worker *w = &p->w[i - 1];
		w->pool = p;
		w->ith = i;
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			/* Run with the threads we got: the shares follow p->n. */
			p->n = i;
			break;
		}
	}
	return p;
}

/* Bump the generation and wake any worker that went to sleep. */
static void pool_kick(struct cl_pool *p)
{
	atomic_fetch_add(&p->gen, 1);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->wake);
		pthread_mutex_unlock(&p->mu);
	}
}

void cl_pool_free(struct cl_pool *p)
{
	if (!p)
		return;
	if (p->w) {
		atomic_store(&p->stop, 1);
		pool_kick(p);
		for (int i = 1; i < p->n; i++)
			pthread_join(p->w[i - 1].th, NULL);
		free(p->w);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p);
}

void cl_pool_run(struct cl_pool *p, void (*fn)(void *arg, int ith, int nth), void *arg)
{
	if (!p || p->n == 1) {
		fn(arg, 0, 1);
		return;
	}
	p->fn = fn;
	p->arg = arg;
	atomic_store(&p->pending, p->n - 1);
	pool_kick(p);
	fn(arg, 0, p->n);
	unsigned spins = 0;
	uint64_t t0 = 0;
	while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0) {
		if (!spin_done(&spins, &t0))
			continue;
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->caller_waits, 1);
		while (atomic_load(&p->pending) > 0)
			pthread_cond_wait(&p->done, &p->mu);
		atomic_store(&p->caller_waits, 0);
		pthread_mutex_unlock(&p->mu);
		break;
	}
}
