/*
 * engine.c - sequences decoded together in one process (see engine.h).
 */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

#define MAX_ALTS 20

struct eseq {
	int used, cancel;
	struct cl_kv *kv;
	struct cl_sampler *smp;
	struct cl_engine_params p;
	char *stops[CL_ENGINE_MAX_STOPS]; /* owned copies; p.stops point here */
	size_t stop_max;
	int32_t *hist;          /* (cap) the prompt's tokens, then the generated ones */
	size_t n_hist, cap, n_prompt;
	int32_t fed;            /* positions through the model */
	char *text;             /* (tcap) the generated text, whole UTF-8 */
	size_t len, tcap;
	struct cl_utf8 u;
	int any;                /* text has begun (SentencePiece's first piece) */
	long n_gen;
	cl_engine_cb cb;
	void *arg;
};

struct cl_engine {
	struct cl_model *m;
	const struct cl_tokenizer *tk;
	int32_t ctx, dim, vocab, eos;
	struct eseq *seqs;
	int max_seqs, running, last_rows, last_seqs;
	int prefill;            /* prompt rows a step while others generate (0: no cap) */
	uint64_t steps;
	float *x, *logits;      /* (CL_BATCH_MAX, dim), (CL_BATCH_MAX, vocab) */
	struct cl_batch_row rows[CL_BATCH_MAX];
	int owner[CL_BATCH_MAX]; /* the sequence of each row */
	struct cl_alt alts[MAX_ALTS];
};

void cl_engine_params_init(struct cl_engine_params *p)
{
	memset(p, 0, sizeof *p);
	cl_sampler_params_init(&p->sp);
	p->max_new = 256;
	p->stop_token = -1;
}

enum cl_status cl_engine_new(struct cl_model *m, const struct cl_tokenizer *tk, int32_t ctx, int max_seqs,
			     struct cl_engine **out)
{
	const struct cl_model_info *mi = cl_model_info(m);
	*out = NULL;
	if (max_seqs < 1)
		return cl_error(CL_ERR_RANGE, "sequences at once: expected 1 or more, got %d", max_seqs);
	struct cl_engine *e = calloc(1, sizeof *e);
	if (!e)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	e->m = m;
	e->tk = tk;
	e->ctx = ctx > 0 ? ctx : mi->max_pos;
	e->dim = mi->dim;
	e->vocab = mi->n_vocab;
	e->eos = tk ? cl_tokenizer_eos(tk) : mi->eos;
	e->max_seqs = max_seqs;
	e->seqs = calloc((size_t)max_seqs, sizeof *e->seqs);
	e->x = malloc((size_t)CL_BATCH_MAX * e->dim * sizeof *e->x);
	e->logits = malloc((size_t)CL_BATCH_MAX * e->vocab * sizeof *e->logits);
	if (!e->seqs || !e->x || !e->logits) {
		cl_engine_free(e);
		return cl_error(CL_ERR_NOMEM, "out of memory");
	}
	*out = e;
	return CL_OK;
}

static void seq_free(struct cl_engine *e, struct eseq *s)
{
	cl_kv_free(s->kv);
	cl_sampler_free(s->smp);
	for (int i = 0; i < CL_ENGINE_MAX_STOPS; i++)
		free(s->stops[i]);
	free(s->hist);
	free(s->text);
	memset(s, 0, sizeof *s);
	e->running--;
}

void cl_engine_free(struct cl_engine *e)
{
	if (!e)
		return;
	for (int i = 0; e->seqs && i < e->max_seqs; i++)
		if (e->seqs[i].used)
			seq_free(e, &e->seqs[i]);
	free(e->seqs);
	free(e->x);
	free(e->logits);
	free(e);
}

int32_t cl_engine_ctx(const struct cl_engine *e)
{
	return e->ctx;
}

int cl_engine_running(const struct cl_engine *e)
{
	return e->running;
}

void cl_engine_set_prefill(struct cl_engine *e, int rows)
{
	e->prefill = rows > 0 ? rows : 0;
}

int cl_engine_last_rows(const struct cl_engine *e)
{
	return e->last_rows;
}

int cl_engine_last_seqs(const struct cl_engine *e)
{
	return e->last_seqs;
}

uint64_t cl_engine_steps(const struct cl_engine *e)
{
	return e->steps;
}

int cl_engine_add(struct cl_engine *e, const int32_t *ids, size_t n, const struct cl_engine_params *p,
		  cl_engine_cb cb, void *arg)
{
	if (n == 0) {
		cl_error(CL_ERR_RANGE, "an empty prompt (a sequence needs at least one token, BOS)");
		return -1;
	}
	if (n >= (size_t)e->ctx) {
		cl_error(CL_ERR_RANGE, "the prompt is %zu tokens, the context holds %d", n, e->ctx);
		return -1;
	}
	if (p->n_stops > CL_ENGINE_MAX_STOPS || p->n_top > MAX_ALTS) {
		cl_error(CL_ERR_RANGE, "at most %d stop strings and %d alternatives", CL_ENGINE_MAX_STOPS, MAX_ALTS);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (ids[i] < 0 || ids[i] >= e->vocab) {
			cl_error(CL_ERR_RANGE, "token %d is outside the vocabulary of %d", ids[i], e->vocab);
			return -1;
		}
	int id = -1;
	for (int i = 0; i < e->max_seqs && id < 0; i++)
		if (!e->seqs[i].used)
			id = i;
	if (id < 0) {
		cl_error(CL_ERR_RANGE, "%d sequences run already", e->max_seqs);
		return -1;
	}
	struct eseq *s = &e->seqs[id];
	memset(s, 0, sizeof *s);
	s->used = 1;
	e->running++;
	s->p = *p;
	s->cb = cb;
	s->arg = arg;
	s->cap = n + 64;
	enum cl_status st = CL_OK;
	if (!(s->hist = malloc(s->cap * sizeof *s->hist)))
		st = cl_error(CL_ERR_NOMEM, "out of memory");
	for (int i = 0; !st && i < p->n_stops; i++) {
		if (!(s->stops[i] = strdup(p->stops[i])))
			st = cl_error(CL_ERR_NOMEM, "out of memory");
		else if (strlen(s->stops[i]) > s->stop_max)
			s->stop_max = strlen(s->stops[i]);
		s->p.stops[i] = s->stops[i];
	}
	if (!st)
		st = cl_kv_new(e->m, e->ctx, &s->kv);
	if (!st)
		st = cl_sampler_new(&p->sp, e->vocab, &s->smp);
	if (st) {
		seq_free(e, s);
		return -1;
	}
	memcpy(s->hist, ids, n * sizeof *ids);
	s->n_hist = s->n_prompt = n;
	return id;
}

size_t cl_prompt_truncate(int32_t *ids, size_t n, int32_t ctx, long max_new, int32_t bos)
{
	if (ctx < 2 || n < (size_t)ctx)
		return n;
	size_t keep_bos = n && bos >= 0 && ids[0] == bos, half = (size_t)ctx / 2;
	size_t room = max_new > 0 && (size_t)max_new < half ? (size_t)max_new : half;
	size_t keep = (size_t)ctx - room - keep_bos;
	memmove(ids + keep_bos, ids + n - keep, keep * sizeof *ids);
	return keep_bos + keep;
}

void cl_engine_cancel(struct cl_engine *e, int id)
{
	if (id >= 0 && id < e->max_seqs && e->seqs[id].used)
		e->seqs[id].cancel = 1;
}

static void finish(struct cl_engine *e, struct eseq *s, int id, int32_t token, float lp, int na, uint32_t pos,
		   enum cl_finish why)
{
	struct cl_engine_token t = {id, token, lp, e->alts, na, pos, s->text, s->len, why};
	if (s->cb)
		s->cb(s->arg, &t);
	if (why != CL_FINISH_NONE)
		seq_free(e, s);
}

static enum cl_status text_add(struct eseq *s, const char *p, size_t n)
{
	if (s->len + n + 1 > s->tcap) {
		size_t c = s->tcap ? s->tcap : 256;
		while (c < s->len + n + 1)
			c *= 2;
		char *t = realloc(s->text, c);
		if (!t)
			return cl_error(CL_ERR_NOMEM, "out of memory");
		s->text = t;
		s->tcap = c;
	}
	memcpy(s->text + s->len, p, n);
	s->len += n;
	s->text[s->len] = 0;
	return CL_OK;
}

/* The token chosen at position q from the sequence's logits. */
static enum cl_status choose(struct cl_engine *e, int id, const float *lg, uint32_t q)
{
	struct eseq *s = &e->seqs[id];
	float lp;
	int na = 0;
	int32_t t = cl_sampler_sample(s->smp, lg, s->hist, s->n_hist, s->p.seq, q, &lp, e->alts, s->p.n_top, &na);
	if (s->n_hist == s->cap) {
		int32_t *h = realloc(s->hist, 2 * s->cap * sizeof *h);
		if (!h)
			return cl_error(CL_ERR_NOMEM, "out of memory");
		s->hist = h;
		s->cap *= 2;
	}
	s->hist[s->n_hist++] = t;
	s->n_gen++;
	enum cl_status st = CL_OK;
	char piece[1024], text[1024 + 16];
	size_t old = s->len;
	int end_token = (t == e->eos && !s->p.ignore_eos) || (t == s->p.stop_token && t >= 0);
	if (e->tk && !end_token) {
		/* As cl-detok: a generated token begins the text only after a
		 * prompt of BOS alone. */
		int first = !s->any && q <= 1;
		int n = cl_tokenizer_decode(e->tk, t, first, piece, sizeof piece);
		if (n > 0) {
			s->any = 1;
			st = text_add(s, text, cl_utf8_push(&s->u, piece, (size_t)n, text));
		}
	}
	enum cl_finish why = end_token ? CL_FINISH_STOP : CL_FINISH_NONE;
	for (int i = 0; !why && i < s->p.n_stops; i++) {
		size_t from = old + 1 > s->stop_max ? old + 1 - s->stop_max : 0;
		if (memmem(s->text + from, s->len - from, s->stops[i], strlen(s->stops[i])))
			why = CL_FINISH_STOP;
	}
	if (!why && (s->n_gen >= s->p.max_new || (int64_t)q + 1 >= e->ctx))
		why = CL_FINISH_LENGTH;
	if (why && !st)
		st = text_add(s, text, cl_utf8_finish(&s->u, text));
	if (st)
		return st;
	finish(e, s, id, t, lp, na, q, why);
	return CL_OK;
}

enum cl_status cl_engine_step(struct cl_engine *e)
{
	for (int i = 0; i < e->max_seqs; i++)
		if (e->seqs[i].used && e->seqs[i].cancel)
			finish(e, &e->seqs[i], i, -1, 0, 0, (uint32_t)e->seqs[i].fed, CL_FINISH_CANCEL);
	int n = 0;
	enum cl_status st = CL_OK;
	/* Generated tokens first, one row each; then prompts, as far as the
	 * batch holds, or e->prefill rows of them where tokens were generated
	 * (chunked prefill: a long prompt does not hold up the others' next
	 * token for a whole batch's time). */
	int cap = CL_BATCH_MAX;
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1 && n > 0 && e->prefill > 0 && n + e->prefill < cap)
			cap = n + e->prefill;
		for (int i = 0; i < e->max_seqs && n < cap; i++) {
			struct eseq *s = &e->seqs[i];
			int prefill = (size_t)s->fed < s->n_prompt;
			if (!s->used || prefill != pass)
				continue;
			for (int32_t pos = s->fed; (size_t)pos < s->n_hist && n < cap; pos++, n++) {
				e->rows[n] = (struct cl_batch_row){s->kv, pos, (size_t)pos + 1 == s->n_hist};
				e->owner[n] = i;
				if ((st = cl_model_embed(e->m, s->hist[pos], e->x + (size_t)n * e->dim)))
					return st;
			}
		}
	}
	e->last_rows = n;
	e->last_seqs = 0;
	for (int k = 0; k < n; k++)
		e->last_seqs += k == 0 || e->owner[k] != e->owner[k - 1];
	if (n == 0)
		return CL_OK;
	if ((st = cl_model_forward_batch(e->m, e->rows, n, e->x, e->logits)))
		return st;
	e->steps++;
	const float *lg = e->logits;
	for (int k = 0; k < n && !st; k++) {
		struct eseq *s = &e->seqs[e->owner[k]];
		s->fed = e->rows[k].pos + 1;
		if (!e->rows[k].logits)
			continue;
		st = choose(e, e->owner[k], lg, (uint32_t)e->rows[k].pos + 1);
		lg += e->vocab;
	}
	return st;
}
