/*
 * test-batch.c - cl_model_forward_batch: sequences decoded together give each
 * sequence what running it alone gives (logits within 1e-4, greedy tokens
 * identical), whether prompts and generated tokens share a pass or not; a
 * rewind inside a batch; rows out of order refused.  On the model that
 * ships (f32 and f16) and, where ../shared is there, the tiny GPT-2.
 */
#include <math.h>

#include "cl.h"
#include "t.h"

enum { NSEQ = 4, NGEN = 12, MAXLEN = 64 };

static const char *const prompts[NSEQ] = {
	"def fibonacci(", "import os\nimport sys\n\ndef main(argv):\n", "class Stack:\n    def push(self, x", "#",
};

struct run {
	int32_t ids[MAXLEN];
	int n_prompt, n;          /* tokens: the prompt's, then generated */
	float *logits;            /* (NGEN, vocab): the logits each token was chosen from */
};

static int32_t argmax(const float *v, int64_t n)
{
	int32_t b = 0;
	for (int64_t i = 1; i < n; i++)
		if (v[i] > v[b])
			b = (int32_t)i;
	return b;
}

static int tokenize(const char *dir, struct run *r)
{
	struct cl_tokenizer *tok;
	for (int i = 0; i < NSEQ; i++) {
		int32_t *ids;
		size_t n;
		if (cl_tokenizer_load(dir, &tok))
			return -1;
		if (cl_tokenizer_encode(tok, prompts[i], strlen(prompts[i]),
					cl_tokenizer_add_bos(tok) ? CL_ENCODE_BOS : 0, &ids, &n) ||
		    n + NGEN > MAXLEN) {
			cl_tokenizer_free(tok);
			return -1;
		}
		memcpy(r[i].ids, ids, n * sizeof *ids);
		r[i].n_prompt = r[i].n = (int)n;
		free(ids);
		cl_tokenizer_free(tok);
	}
	return 0;
}

/* Each sequence alone: its prompt in one call, then greedy tokens one at a time. */
static enum cl_status alone(struct cl_model *m, struct run *r)
{
	const struct cl_model_info *mi = cl_model_info(m);
	float *x = malloc((size_t)MAXLEN * mi->dim * sizeof *x);
	struct cl_kv *kv = NULL;
	enum cl_status st = x ? cl_kv_new(m, MAXLEN, &kv) : CL_ERR_NOMEM;
	for (int k = 0; !st && k < r->n; k++)
		st = cl_model_embed(m, r->ids[k], x + (size_t)k * mi->dim);
	if (!st)
		st = cl_model_forward(m, kv, 0, r->n, x, r->logits, 0);
	for (int g = 0; !st && g < NGEN; g++) {
		float *lg = r->logits + (size_t)g * mi->n_vocab;
		int32_t t = argmax(lg, mi->n_vocab);
		r->ids[r->n++] = t;
		if (g + 1 < NGEN && !(st = cl_model_embed(m, t, x)))
			st = cl_model_forward(m, kv, r->n - 1, 1, x, lg + mi->n_vocab, 0);
	}
	cl_kv_free(kv);
	free(x);
	return st;
}

/* All together: sequence i's prompt joins at step i (so prompts share passes
 * with other sequences' generated tokens), and every started sequence that
 * still generates adds its newest token to the same pass.  With `rewind`,
 * sequence 0 also sends its first generated token twice: once in a pass and
 * again, as a rewind, at the start of the next. */
static enum cl_status together(struct cl_model *m, struct run *r, int rewind)
{
	const struct cl_model_info *mi = cl_model_info(m);
	struct cl_kv *kv[NSEQ] = {0};
	int started[NSEQ] = {0}, gen[NSEQ] = {0};
	struct cl_batch_row rows[NSEQ * MAXLEN];
	float *x = malloc((size_t)NSEQ * MAXLEN * mi->dim * sizeof *x);
	float *lg = malloc((size_t)NSEQ * mi->n_vocab * sizeof *lg);
	int owner[NSEQ];
	enum cl_status st = x && lg ? CL_OK : CL_ERR_NOMEM;
	for (int i = 0; !st && i < NSEQ; i++)
		st = cl_kv_new(m, MAXLEN, &kv[i]);
	for (int step = 0; !st; step++) {
		int n = 0, no = 0;
		for (int i = 0; i < NSEQ && !st; i++) {
			int from, to;
			if (!started[i] && i == step) {
				started[i] = 1;
				from = 0, to = r[i].n_prompt;
			} else if (started[i] && gen[i] < NGEN) {
				from = r[i].n_prompt + gen[i] - 1, to = from + 1;
				if (rewind && i == 0 && gen[i] == 2)
					from--; /* the token at n_prompt again: a rewind of one */
			} else {
				continue;
			}
			for (int k = from; k < to && !st; k++) {
				rows[n] = (struct cl_batch_row){kv[i], k, k == to - 1};
				st = cl_model_embed(m, r[i].ids[k], x + (size_t)n * mi->dim);
				n++;
			}
			owner[no++] = i;
		}
		if (st || n == 0)
			break;
		if ((st = cl_model_forward_batch(m, rows, n, x, lg)))
			break;
		for (int o = 0; o < no; o++) {
			int i = owner[o];
			const float *l = lg + (size_t)o * mi->n_vocab;
			memcpy(r[i].logits + (size_t)gen[i] * mi->n_vocab, l, (size_t)mi->n_vocab * sizeof *l);
			r[i].ids[r[i].n_prompt + gen[i]] = argmax(l, mi->n_vocab);
			gen[i]++;
			r[i].n = r[i].n_prompt + gen[i];
		}
	}
	for (int i = 0; i < NSEQ; i++)
		cl_kv_free(kv[i]);
	free(x);
	free(lg);
	return st;
}

static void compare(const char *dir, const char *what, int quantize, int rewind)
{
	char name[256];
	snprintf(name, sizeof name,
		 "%s%s: %d sequences decoded together%s give each the logits (1e-4) and greedy tokens of running it alone",
		 what, quantize ? " f16" : "", NSEQ, rewind ? ", one rewinding inside a batch," : "");
	t_begin(name);
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	o.threads = 2;
	if (quantize)
		o.quantize = CL_DTYPE_F16;
	struct cl_model *m;
	struct run a[NSEQ], b[NSEQ];
	enum cl_status st = cl_model_load(dir, &o, &m);
	T_CHECK(!st, "load %s: %s", dir, cl_errmsg());
	if (st) {
		t_end();
		return;
	}
	const struct cl_model_info *mi = cl_model_info(m);
	T_CHECK(tokenize(dir, a) == 0, "tokenize: %s", cl_errmsg());
	memcpy(b, a, sizeof a);
	for (int i = 0; i < NSEQ; i++) {
		a[i].logits = calloc((size_t)NGEN * mi->n_vocab, sizeof(float));
		b[i].logits = calloc((size_t)NGEN * mi->n_vocab, sizeof(float));
	}
	for (int i = 0; i < NSEQ; i++)
		T_CHECK(!(st = alone(m, &a[i])), "alone %d: %s", i, cl_errmsg());
	T_CHECK(!(st = together(m, b, rewind)), "together: %s", cl_errmsg());
	double worst = 0;
	for (int i = 0; i < NSEQ; i++) {
		T_CHECK(a[i].n == b[i].n && !memcmp(a[i].ids, b[i].ids, (size_t)a[i].n * sizeof *a[i].ids),
			"sequence %d: other tokens", i);
		for (size_t k = 0; k < (size_t)NGEN * mi->n_vocab; k++)
			worst = fmax(worst, fabs((double)a[i].logits[k] - b[i].logits[k]));
	}
	T_CHECK(worst < 1e-4, "max |logit difference| %g", worst);
	for (int i = 0; i < NSEQ; i++)
		free(a[i].logits), free(b[i].logits);
	cl_model_free(m);
	t_end();
}

static void refusals(const char *dir)
{
	t_begin("a batch whose rows of a sequence skip a position, or start past its cache, is refused");
	struct cl_model *m;
	struct cl_kv *kv = NULL;
	enum cl_status st = cl_model_load(dir, NULL, &m);
	T_CHECK(!st, "load: %s", cl_errmsg());
	if (!st) {
		const struct cl_model_info *mi = cl_model_info(m);
		float *x = calloc((size_t)3 * mi->dim, sizeof *x), *lg = malloc((size_t)3 * mi->n_vocab * sizeof *lg);
		T_CHECK(!cl_kv_new(m, 2, &kv), "kv");
		struct cl_batch_row gap[2] = {{kv, 0, 1}, {kv, 2, 1}}, late[1] = {{kv, 1, 1}},
				    past[3] = {{kv, 0, 0}, {kv, 1, 0}, {kv, 2, 1}};
		T_CHECK(cl_model_forward_batch(m, gap, 2, x, lg) == CL_ERR_RANGE &&
				strstr(cl_errmsg(), "one position after another"),
			"a gap: %s", cl_errmsg());
		T_CHECK(cl_model_forward_batch(m, late, 1, x, lg) == CL_ERR_RANGE, "past the cache's end");
		T_CHECK(cl_model_forward_batch(m, past, 3, x, lg) == CL_ERR_RANGE && strstr(cl_errmsg(), "context"),
			"past the context: %s", cl_errmsg());
		T_CHECK(cl_kv_len(kv) == 0, "a refused batch left the cache at %d", cl_kv_len(kv));
		cl_kv_free(kv);
		free(x), free(lg);
		cl_model_free(m);
	}
	t_end();
}

int main(void)
{
	const char *dir = getenv("CL_MODEL") && *getenv("CL_MODEL") ? getenv("CL_MODEL") : "models/cl-python-small";
	compare(dir, "the shipped model", 0, 0);
	compare(dir, "the shipped model", 0, 1);
	compare(dir, "the shipped model", 1, 0);
	refusals(dir);
	const char *td = t_testdata();
	char gpt2[4096];
	if (td) {
		snprintf(gpt2, sizeof gpt2, "%s/gpt2/tiny-f32", td);
		compare(gpt2, "tiny GPT-2", 0, 0);
	} else {
		t_skip("tiny GPT-2: sequences decoded together", "../shared/testdata is absent");
	}
	return t_exit();
}
