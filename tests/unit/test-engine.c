/*
 * test-engine.c - the engine's chunked prefill (cl_engine_set_prefill): while
 * a sequence generates, a long prompt that joins is fed a few positions a
 * step, so no step holds more than the generated rows plus the cap; every
 * sequence still generates what it generates without the cap.  On the model
 * that ships.
 */
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "batch.h"
#include "engine.h"
#include "request.h"
#include "t.h"

enum { NGEN = 24, CAP = 4 };

struct seen {
	int32_t tok[64];
	int n, done;
};

static void on_token(void *arg, const struct cl_engine_token *t)
{
	struct seen *s = arg;
	if (t->token >= 0 && s->n < 64)
		s->tok[s->n++] = t->token;
	if (t->finish)
		s->done = 1;
}

/* A generates from a short prompt; after its first token, B joins with a
 * long prompt.  cap 0: B's prompt in one step.  *max_rows: the most rows of
 * a step after B joined; *steps_b: steps until B's first token. */
static int run(struct cl_model *m, const struct cl_tokenizer *tk, int cap, struct seen *a, struct seen *b,
	       int *max_rows, int *steps_b)
{
	static const char *const long_prompt =
		"import os\nimport sys\n\ndef main(argv):\n    for name in argv[1:]:\n        with open(name) as f:\n"
		"            for line in f:\n                print(line.rstrip())\n";
	struct cl_engine *e;
	int32_t *ia, *ib;
	size_t na, nb;
	if (cl_engine_new(m, tk, 0, 2, &e) ||
	    cl_tokenizer_encode(tk, "def fibonacci(", 14, CL_ENCODE_BOS, &ia, &na))
		return -1;
	if (cl_tokenizer_encode(tk, long_prompt, strlen(long_prompt), CL_ENCODE_BOS, &ib, &nb)) {
		free(ia);
		cl_engine_free(e);
		return -1;
	}
	cl_engine_set_prefill(e, cap);
	struct cl_engine_params p;
	cl_engine_params_init(&p);
	p.sp.temperature = 0;
	p.max_new = NGEN;
	p.ignore_eos = 1;
	memset(a, 0, sizeof *a);
	memset(b, 0, sizeof *b);
	*max_rows = 0;
	*steps_b = 0;
	int rc = cl_engine_add(e, ia, na, &p, on_token, a) < 0 ? -1 : 0;
	while (!rc && a->n == 0)
		rc = cl_engine_step(e) ? -1 : 0;
	if (!rc && cl_engine_add(e, ib, nb, &p, on_token, b) < 0)
		rc = -1;
	while (!rc && cl_engine_running(e)) {
		if (cl_engine_step(e)) {
			rc = -1;
			break;
		}
		if (cl_engine_last_rows(e) > *max_rows)
			*max_rows = cl_engine_last_rows(e);
		if (b->n == 0)
			++*steps_b;
	}
	if (!rc && (int)nb < 40)
		rc = -1; /* the test needs a prompt longer than several caps */
	free(ia);
	free(ib);
	cl_engine_free(e);
	return rc;
}

/* The answers to n request lines, decoded together; NULL where the batch
 * failed.  failed[i]: answered with an error. */
static char **answers(struct cl_model *m, const struct cl_tokenizer *tk, const char *const *lines, int n,
		      int *failed)
{
	struct cl_engine *e;
	struct cl_batch *b;
	char **out = calloc((size_t)n, sizeof *out);
	if (!out || cl_engine_new(m, tk, 0, 4 + CL_REQUEST_MAX_PROMPTS, &e))
		return free(out), NULL;
	if (cl_batch_new(e, tk, 0, &b)) {
		cl_engine_free(e);
		return free(out), NULL;
	}
	int got = 0, err = 0, bad = 0;
	for (int i = 0; i < n && !bad; i++)
		bad = cl_batch_add(b, lines[i], strlen(lines[i]), cl_request_peek_id(lines[i], strlen(lines[i]))) != 0;
	while (!bad) {
		char *a;
		while (got < n && (a = cl_batch_answer(b, &failed[got], &err)))
			out[got++] = a;
		if (err || !cl_batch_waiting(b))
			break;
		bad = cl_engine_step(e) != 0;
	}
	cl_batch_free(b);
	cl_engine_free(e);
	if (bad || err || got < n) {
		for (int i = 0; i < got; i++)
			free(out[i]);
		free(out);
		return NULL;
	}
	return out;
}

static void check_batch(struct cl_model *m, const struct cl_tokenizer *tk)
{
	static const char *const lines[] = {
		"{\"id\": \"a\", \"input_data\": {\"input_string\": [\"def fibonacci(\"], "
		"\"parameters\": {\"max_new_tokens\": 12}}}",
		"{\"input_data\": 42}",
		"{\"input_data\": {\"input_string\": [\"import os\", \"class A\"], "
		"\"parameters\": {\"max_new_tokens\": 3}}}",
	};
	int failed[3] = {0}, failed1[1] = {0}, failed2[1] = {0};
	t_begin("a batch of requests: answers in the order they came (a short one after a long one), a bad request "
		"answered with its error in its place, the id carried back, each answer what the request gets alone");
	char **all = answers(m, tk, lines, 3, failed);
	char **one = answers(m, tk, lines, 1, failed1), **three = answers(m, tk, lines + 2, 1, failed2);
	T_CHECK(all && one && three, "a batch failed: %s", cl_errmsg());
	if (all && one && three) {
		T_CHECK(!failed[0] && failed[1] && !failed[2], "failed flags %d %d %d", failed[0], failed[1],
			failed[2]);
		T_CHECK(strncmp(all[0], "{\"id\": \"a\", \"output\": [{\"0\": \"def fibonacci(", 35) == 0,
			"answer 0: %s", all[0]);
		T_CHECK(strstr(all[1], "\"error\"") != NULL, "answer 1: %s", all[1]);
		T_CHECK(strncmp(all[2], "[{\"0\": \"import os", 17) == 0, "answer 2: %s", all[2]);
		T_CHECK(strcmp(all[0], one[0]) == 0, "request 0 alone: %s, together: %s", one[0], all[0]);
		T_CHECK(strcmp(all[2], three[0]) == 0, "request 2 alone: %s, together: %s", three[0], all[2]);
	}
	for (int i = 0; i < 3; i++)
		free(all ? all[i] : NULL);
	free(all);
	free(one ? one[0] : NULL), free(one);
	free(three ? three[0] : NULL), free(three);
	t_end();
}

int main(void)
{
	const char *dir = getenv("CL_MODEL");
	struct cl_model *m;
	struct cl_tokenizer *tk;
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	o.threads = 2;
	if (!dir || cl_model_load(dir, &o, &m) || cl_tokenizer_load(dir, &tk)) {
		printf("not ok - load the model that ships ($CL_MODEL): %s\n", cl_errmsg());
		return 1;
	}
	struct seen a0, b0, a1, b1;
	int rows0, rows1, steps0, steps1;
	t_begin("with cl_engine_set_prefill(e, 4), a long prompt joining a generating sequence takes at most 4 positions a step, and "
		"both sequences generate what they generate without the cap");
	int r0 = run(m, tk, 0, &a0, &b0, &rows0, &steps0), r1 = run(m, tk, CAP, &a1, &b1, &rows1, &steps1);
	T_CHECK(r0 == 0 && r1 == 0, "the runs failed: %s", cl_errmsg());
	if (r0 == 0 && r1 == 0) {
		T_CHECK(rows0 > 1 + CAP, "without the cap, B's prompt should share one step with A's token (%d rows)",
			rows0);
		T_CHECK(rows1 <= 1 + CAP, "with the cap, a step held %d rows (at most %d)", rows1, 1 + CAP);
		T_CHECK(steps1 > steps0, "with the cap, B's prompt should take more steps (%d, without %d)", steps1,
			steps0);
		T_CHECK(a0.n == NGEN && a1.n == NGEN && b0.n == NGEN && b1.n == NGEN, "token counts %d %d %d %d",
			a0.n, a1.n, b0.n, b1.n);
		T_CHECK(memcmp(a0.tok, a1.tok, sizeof a0.tok) == 0, "A's tokens differ with the cap");
		T_CHECK(memcmp(b0.tok, b1.tok, sizeof b0.tok) == 0, "B's tokens differ with the cap");
	}
	t_end();
	check_batch(m, tk);
	cl_tokenizer_free(tk);
	cl_model_free(m);
	return t_exit();
}
