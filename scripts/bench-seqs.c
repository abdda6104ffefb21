/*
 * bench-seqs - sequences decoded together: aggregate generated tokens/s of
 * N sequences stepping together through cl_model_forward_batch (one pass over
 * the weights per step for all of them), for each N given, in one run.
 *
 *   cc -O2 -Ilib scripts/bench-seqs.c lib/libcl.a $(libs) -o bench-seqs
 *   bench-seqs DIR [--threads N] [--quantize TYPE] [--steps S] [--prompt P] [N ...]
 *
 * Each sequence gets a prompt of P random tokens (all prompts in one batch),
 * then S greedy steps; only the steps are timed.  Prints one line per N:
 * "seqs=N steps=S seconds=T tok_s=R x_one=R/R1".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cl.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int32_t argmax(const float *v, int64_t n)
{
	int32_t b = 0;
	for (int64_t i = 1; i < n; i++)
		if (v[i] > v[b])
			b = (int32_t)i;
	return b;
}

static void die(const char *what)
{
	fprintf(stderr, "bench-seqs: %s: %s\n", what, cl_errmsg());
	exit(1);
}

int main(int argc, char **argv)
{
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	const char *dir = NULL;
	int steps = 32, prompt = 8, ns[16], nn = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			o.threads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
			steps = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--prompt") && i + 1 < argc)
			prompt = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--quantize") && i + 1 < argc) {
			enum cl_dtype t;
			if (cl_dtype_parse(argv[++i], &t))
				die("--quantize");
			o.quantize = (int)t;
		} else if (!dir)
			dir = argv[i];
		else if (nn < 16)
			ns[nn++] = atoi(argv[i]);
	}
	if (!dir || steps < 1 || prompt < 1) {
		fprintf(stderr, "usage: bench-seqs DIR [--threads N] [--quantize TYPE] [--steps S] [--prompt P] [N ...]\n");
		return 2;
	}
	if (!nn)
		ns[nn++] = 1, ns[nn++] = 4, ns[nn++] = 16;
	struct cl_model *m;
	if (cl_model_load(dir, &o, &m))
		die(dir);
	const struct cl_model_info *mi = cl_model_info(m);
	double one = 0;
	for (int c = 0; c < nn; c++) {
		int N = ns[c];
		if (N < 1 || N * prompt > 4096)
			continue;
		struct cl_kv **kv = calloc((size_t)N, sizeof *kv);
		struct cl_batch_row *rows = calloc((size_t)N * prompt, sizeof *rows);
		float *x = malloc((size_t)N * prompt * mi->dim * sizeof *x);
		float *lg = malloc((size_t)N * mi->n_vocab * sizeof *lg);
		int32_t *tok = malloc((size_t)N * sizeof *tok);
		if (!kv || !rows || !x || !lg || !tok)
			die("out of memory");
		srand(1);
		int n = 0;
		for (int s = 0; s < N; s++) {
			if (cl_kv_new(m, prompt + steps + 1, &kv[s]))
				die("cache");
			for (int p = 0; p < prompt; p++, n++) {
				rows[n] = (struct cl_batch_row){kv[s], p, p == prompt - 1};
				if (cl_model_embed(m, 3 + rand() % (mi->n_vocab - 3), x + (size_t)n * mi->dim))
					die("embed");
			}
		}
		if (cl_model_forward_batch(m, rows, n, x, lg))
			die("prompts");
		double t0 = now();
		for (int step = 0; step < steps; step++) {
			for (int s = 0; s < N; s++) {
				tok[s] = argmax(lg + (size_t)s * mi->n_vocab, mi->n_vocab);
				rows[s] = (struct cl_batch_row){kv[s], prompt + step, 1};
				if (cl_model_embed(m, tok[s], x + (size_t)s * mi->dim))
					die("embed");
			}
			if (cl_model_forward_batch(m, rows, N, x, lg))
				die("step");
		}
		double sec = now() - t0, rate = (double)N * steps / sec;
		if (N == 1)
			one = rate;
		printf("seqs=%d steps=%d seconds=%.3f tok_s=%.2f x_one=%.2f\n", N, steps, sec, rate,
		       one > 0 ? rate / one : 0.0);
		fflush(stdout);
		for (int s = 0; s < N; s++)
			cl_kv_free(kv[s]);
		free(kv), free(rows), free(x), free(lg), free(tok);
	}
	cl_model_free(m);
	return 0;
}
