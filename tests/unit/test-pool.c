/*
 * test-pool.c - the thread pool: every share runs exactly once per call, with
 * any number of threads, over many calls (a lost wake-up would hang here).
 */
#include <stdatomic.h>
#include <unistd.h>

#include "kernels.h"
#include "t.h"

struct count {
	atomic_int hits[8];
	atomic_int bad_nth;
	int want_nth;
};

static void count_fn(void *arg, int ith, int nth)
{
	struct count *c = arg;
	if (nth != c->want_nth || ith < 0 || ith >= nth)
		atomic_fetch_add(&c->bad_nth, 1);
	else
		atomic_fetch_add(&c->hits[ith], 1);
}

/* Share 0 waits until another share has started: only a worker can start
 * one while the caller is held in share 0, so this shows that the workers
 * run shares (the caller could otherwise run them all itself). */
struct hold {
	atomic_int started;
	atomic_int timed_out;
};

static void hold_fn(void *arg, int ith, int nth)
{
	struct hold *h = arg;
	if (ith != 0) {
		atomic_fetch_add(&h->started, 1);
		return;
	}
	for (int i = 0; i < 100000 && atomic_load(&h->started) == 0; i++)
		usleep(10);
	if (atomic_load(&h->started) == 0)
		atomic_store(&h->timed_out, 1);
}

int main(void)
{
	t_begin("a NULL pool runs the function once as share 0 of 1");
	struct count c = {.want_nth = 1};
	cl_pool_run(NULL, count_fn, &c);
	T_CHECK(c.hits[0] == 1 && c.bad_nth == 0, "hits %d bad %d", c.hits[0], c.bad_nth);
	T_CHECK(cl_pool_size(NULL) == 1, "size of NULL pool %d", cl_pool_size(NULL));
	t_end();

	static const int sizes[] = {1, 2, 3, 5};
	for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
		int nt = sizes[s];
		char name[128];
		snprintf(name, sizeof name, "a pool of %d threads runs each share exactly once per call", nt);
		t_begin(name);
		struct cl_pool *p = cl_pool_new(nt);
		T_CHECK(p != NULL, "cl_pool_new(%d) failed", nt);
		if (p) {
			T_CHECK(cl_pool_size(p) == nt, "size %d, want %d", cl_pool_size(p), nt);
			struct count k = {.want_nth = nt};
			int calls = 400;
			for (int i = 0; i < calls; i++) {
				cl_pool_run(p, count_fn, &k);
				/* Now and then let the workers fall asleep, so the
				 * condition-variable wake-up is exercised too. */
				if (i % 100 == 99)
					usleep(2000);
			}
			for (int i = 0; i < nt; i++)
				T_CHECK(k.hits[i] == calls, "share %d ran %d times, want %d", i, k.hits[i], calls);
			T_CHECK(k.bad_nth == 0, "%d calls with a wrong ith/nth", k.bad_nth);
		}
		cl_pool_free(p);
		t_end();
	}

	t_begin("the workers run shares while the caller is busy with its own");
	struct cl_pool *hp = cl_pool_new(2);
	for (int i = 0; i < 20 && hp; i++) {
		struct hold h = {0};
		cl_pool_run(hp, hold_fn, &h);
		T_CHECK(!h.timed_out && h.started == 1, "call %d: no worker ran share 1 within a second", i);
		if (i % 5 == 4)
			usleep(2000); /* let the worker fall asleep: the wake-up path */
	}
	cl_pool_free(hp);
	t_end();

	t_begin("cl_pool_free accepts NULL");
	cl_pool_free(NULL);
	t_end();

	t_begin("cl_pool_new(0) uses the cores available");
	struct cl_pool *p = cl_pool_new(0);
	T_CHECK(p && cl_pool_size(p) >= 1, "size %d", cl_pool_size(p));
	cl_pool_free(p);
	t_end();
	return t_exit();
}
