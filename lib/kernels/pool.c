/*
 * pool.c - a fixed set of worker threads that run one function at a time.
 *
 * Why a pthreads pool and not OpenMP: a token makes a few hundred parallel
 * calls (every matmul, norm and attention head group), each lasting tens of
 * microseconds, so what matters is the cost of one hand-off.  Here it is one
 * atomic store that the workers spin on for a short while before they sleep
 * on a condition variable; OpenMP's spin-then-sleep (GOMP_SPINCOUNT,
 * OMP_WAIT_POLICY) is set per process by environment variables a library does
 * not control, it has no way to let the caller take over the share of a
 * thread that the OS has not scheduled (below), and libgomp would be one more
 * run-time dependency.  scripts/bench-kernels.c measures the hand-off: 0.1 to
 * 0.3 µs with 2 threads on the 2-core Zen 1 and Zen 3 machines we develop on.
 *
 * The protocol.  A run publishes fn/arg and then one 64-bit word, `ticket`:
 * the run's generation in the high half, the next unclaimed share in the low
 * half (1: the caller runs share 0 itself).  Every thread, the caller
 * included once it has run share 0, claims shares with a compare-and-swap on
 * the ticket until none is left, and counts each it finishes in `done`; the
 * caller returns when done == nth - 1.  So a worker that the OS has not
 * scheduled yet (the machine is busy, or has fewer cores than threads) does
 * not hold the run up: the caller runs its share, and the late worker finds
 * the generation moved on and claims nothing.  The claim compares the whole
 * word, so a late worker can never take a share of a later run with the
 * earlier run's fn/arg.
 *
 * Sleeping.  A worker that has spun SPIN_NS without a new generation counts
 * itself in `sleepers` under the mutex and re-checks the ticket before
 * waiting; the caller, after storing the ticket, broadcasts only when
 * `sleepers` is non-zero.  Both sides use sequentially consistent atomics, so
 * either the caller sees the sleeper or the sleeper sees the new generation
 * (the Dekker pattern): no wake-up is lost.  The caller's own wait for `done`
 * works the same way with `caller_waits` and `done_cv`.
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
};

struct cl_pool {
	int n;                   /* threads, the caller included */
	struct worker *w;        /* (n - 1) */
	void (*fn)(void *, int, int);
	void *arg;
	uint32_t gen;            /* the caller's copy of the current generation */
	atomic_uint_fast64_t ticket; /* gen << 32 | next unclaimed share */
	atomic_int done;         /* shares 1..n-1 finished in this generation */
	atomic_int sleepers;     /* workers waiting on `wake` */
	atomic_int caller_waits; /* the caller waits on `done_cv` */
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t wake, done_cv;
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

static inline uint32_t ticket_gen(uint64_t t)
{
	return (uint32_t)(t >> 32);
}

/* Claim the next share of generation `gen`: its index, or -1 when none is
 * left or the generation has moved on. */
static int claim(struct cl_pool *p, uint32_t gen)
{
	uint64_t t = atomic_load(&p->ticket);
	for (;;) {
		if (ticket_gen(t) != gen || (uint32_t)t >= (uint32_t)p->n)
			return -1;
		if (atomic_compare_exchange_weak(&p->ticket, &t, t + 1))
			return (int)(uint32_t)t;
	}
}

/* Run every share of `gen` that is still unclaimed. */
static void run_shares(struct cl_pool *p, uint32_t gen)
{
	int s;
	while ((s = claim(p, gen)) >= 0) {
		/* fn and arg stay valid: the run cannot end before this share. */
		p->fn(p->arg, s, p->n);
		/* The last share wakes a caller that went to sleep (Dekker: the
		 * caller sets caller_waits, then reads done). */
		if (atomic_fetch_add(&p->done, 1) + 1 == p->n - 1 && atomic_load(&p->caller_waits)) {
			pthread_mutex_lock(&p->mu);
			pthread_cond_signal(&p->done_cv);
			pthread_mutex_unlock(&p->mu);
		}
	}
}

static void *worker_main(void *v)
{
	struct worker *w = v;
	struct cl_pool *p = w->pool;
	/* Generation 0 is the pool's state before its first run. */
	uint32_t seen = 0;
	for (;;) {
		uint32_t g;
		unsigned spins = 0;
		uint64_t t0 = 0;
		while ((g = ticket_gen(atomic_load(&p->ticket))) == seen) {
			if (!spin_done(&spins, &t0))
				continue;
			pthread_mutex_lock(&p->mu);
			atomic_fetch_add(&p->sleepers, 1);
			while ((g = ticket_gen(atomic_load(&p->ticket))) == seen)
				pthread_cond_wait(&p->wake, &p->mu);
			atomic_fetch_sub(&p->sleepers, 1);
			pthread_mutex_unlock(&p->mu);
			break;
		}
		seen = g;
		if (atomic_load(&p->stop))
			return NULL;
		run_shares(p, g);
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
	atomic_init(&p->ticket, 0);
	atomic_init(&p->done, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->caller_waits, 0);
	atomic_init(&p->stop, 0);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done_cv, NULL);
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
		if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
			/* Run with the threads we got: the shares follow p->n. */
			p->n = i;
			break;
		}
	}
	return p;
}

/* Start generation p->gen + 1 with its first share `first`, and wake any
 * worker that went to sleep. */
static void pool_kick(struct cl_pool *p, uint32_t first)
{
	p->gen++;
	if (p->gen == 0) /* 0 means "before the first run" to a new worker */
		p->gen = 1;
	atomic_store(&p->ticket, (uint64_t)p->gen << 32 | first);
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
		pool_kick(p, (uint32_t)p->n); /* a generation with nothing to claim */
		for (int i = 1; i < p->n; i++)
			pthread_join(p->w[i - 1].th, NULL);
		free(p->w);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done_cv);
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
	atomic_store(&p->done, 0);
	pool_kick(p, 1);
	fn(arg, 0, p->n);
	run_shares(p, p->gen);
	unsigned spins = 0;
	uint64_t t0 = 0;
	while (atomic_load_explicit(&p->done, memory_order_acquire) < p->n - 1) {
		if (!spin_done(&spins, &t0))
			continue;
		pthread_mutex_lock(&p->mu);
		atomic_store(&p->caller_waits, 1);
		while (atomic_load(&p->done) < p->n - 1)
			pthread_cond_wait(&p->done_cv, &p->mu);
		atomic_store(&p->caller_waits, 0);
		pthread_mutex_unlock(&p->mu);
		break;
	}
}
