/*
 * batch.c - completion requests decoded together, answered in their order
 * (batch.h).  A request waits in a list until its prompts are over; the
 * engine's callback keeps each prompt's text as request.c makes it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "request.h"

struct breq {
	struct cl_request rq;
	int parsed;
	char **texts;            /* (n_prompts) each prompt's completion */
	size_t *lens;
	int pending;             /* prompts still generating */
	char err[1024];          /* answered with this where set */
	char *id;                /* the request's "id" as JSON text, or NULL */
	struct bseq *seqs;       /* (n_prompts) what each engine callback is given */
	struct breq *next;
};

/* One prompt of a request, as the engine's callback sees it. */
struct bseq {
	struct cl_batch *b;
	struct breq *r;
	int i;
};

struct cl_batch {
	struct cl_engine *e;
	const struct cl_tokenizer *tk;
	int truncate;
	struct breq *head, **tail;
	size_t waiting;
	unsigned long long generated;
};

enum cl_status cl_batch_new(struct cl_engine *e, const struct cl_tokenizer *tk, int truncate, struct cl_batch **out)
{
	struct cl_batch *b = calloc(1, sizeof *b);
	if (!b)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	*b = (struct cl_batch){.e = e, .tk = tk, .truncate = truncate};
	b->tail = &b->head;
	*out = b;
	return CL_OK;
}

static void breq_free(struct breq *r)
{
	for (int i = 0; r->texts && i < r->rq.n_prompts; i++)
		free(r->texts[i]);
	if (r->parsed)
		cl_request_free(&r->rq);
	free(r->texts);
	free(r->lens);
	free(r->seqs);
	free(r->id);
	free(r);
}

void cl_batch_free(struct cl_batch *b)
{
	if (!b)
		return;
	while (b->head) {
		struct breq *r = b->head;
		b->head = r->next;
		breq_free(r);
	}
	free(b);
}

/* A token of a prompt; at its last, the prompt's answer text. */
static void on_token(void *arg, const struct cl_engine_token *t)
{
	const struct bseq *q = arg;
	struct breq *r = q->r;
	if (t->token >= 0 && t->finish != CL_FINISH_CANCEL)
		q->b->generated++;
	if (t->finish == CL_FINISH_NONE)
		return;
	r->texts[q->i] = cl_request_text(&r->rq, q->i, t->text, t->len, &r->lens[q->i]);
	if (!r->texts[q->i] && !r->err[0])
		snprintf(r->err, sizeof r->err, "out of memory");
	r->pending--;
}

/* The request's prompts into the engine, or its error. */
static enum cl_status breq_start(struct cl_batch *b, struct breq *r)
{
	const struct cl_request *rq = &r->rq;
	int n = rq->n_prompts;
	int32_t **ids = calloc((size_t)n, sizeof *ids);
	size_t *nids = calloc((size_t)n, sizeof *nids);
	enum cl_status st = CL_OK;
	if (!(r->texts = calloc((size_t)n, sizeof *r->texts)) || !(r->lens = calloc((size_t)n, sizeof *r->lens)) ||
	    !(r->seqs = calloc((size_t)n, sizeof *r->seqs)) || !ids || !nids) {
		st = cl_error(CL_ERR_NOMEM, "out of memory");
		goto out;
	}
	struct cl_engine_params p;
	if (cl_request_params(rq, 0, &p))
		snprintf(r->err, sizeof r->err, "%s", cl_errmsg());
	for (int i = 0; i < n && !r->err[0]; i++)
		if (cl_request_encode(rq, i, b->tk, cl_engine_ctx(b->e), b->truncate, p.max_new, &ids[i], &nids[i]))
			snprintf(r->err, sizeof r->err, "%s", cl_errmsg());
	for (int i = 0; i < n && !r->err[0]; i++) {
		cl_request_params(rq, i, &p);
		r->seqs[i] = (struct bseq){b, r, i};
		if (cl_engine_add(b->e, ids[i], nids[i], &p, on_token, &r->seqs[i]) < 0) {
			st = CL_ERR_RANGE; /* the caller keeps room: a fault of ours */
			break;
		}
		r->pending++;
	}
out:
	for (int i = 0; ids && i < n; i++)
		free(ids[i]);
	free(ids), free(nids);
	return st;
}

enum cl_status cl_batch_add(struct cl_batch *b, const char *line, size_t len, char *id)
{
	struct breq *r = calloc(1, sizeof *r);
	if (!r) {
		free(id);
		return cl_error(CL_ERR_NOMEM, "out of memory");
	}
	r->id = id;
	if (cl_request_parse(line, len, &r->rq))
		snprintf(r->err, sizeof r->err, "%s", cl_errmsg());
	else
		r->parsed = 1;
	enum cl_status st = r->parsed && r->rq.n_prompts > 0 ? breq_start(b, r) : CL_OK;
	/* Queued even when it failed: its sequences in the engine point at it. */
	*b->tail = r;
	b->tail = &r->next;
	b->waiting++;
	return st;
}

char *cl_batch_answer(struct cl_batch *b, int *failed, int *err)
{
	struct breq *r = b->head;
	*err = 0;
	if (!r || r->pending)
		return NULL;
	char *a = !r->parsed || r->err[0] ? cl_request_error(r->err) : cl_request_answer(&r->rq, r->texts, r->lens);
	/* A request with an id gets it back: {"id": ..., "output": ...}. */
	if (a && r->id)
		a = cl_request_with_id(r->id, a);
	if (!a) {
		*err = 1;
		cl_error(CL_ERR_NOMEM, "out of memory");
		return NULL;
	}
	*failed = !r->parsed || r->err[0];
	if (!(b->head = r->next))
		b->tail = &b->head;
	b->waiting--;
	breq_free(r);
	return a;
}

size_t cl_batch_waiting(const struct cl_batch *b)
{
	return b->waiting;
}

unsigned long long cl_batch_generated(const struct cl_batch *b)
{
	return b->generated;
}
