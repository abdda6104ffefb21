/*
 * openai.c - OpenAI's completion request, parsed and tokenized (openai.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "openai.h"

static const char *const keys[] = {
	"model", "prompt", "max_tokens", "temperature", "top_p", "n", "stop", "seed", "logprobs", "echo",
	"presence_penalty", "frequency_penalty", "logit_bias", "suffix", "stream", "stream_options", "user",
	"best_of", NULL,
};

/* Key k of o as a number in [lo, hi] (integral): 0 absent or null, 1 read
 * into *out, -1 with the message set. */
static int num(const cJSON *o, const char *k, double lo, double hi, int integral, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
	    (integral && v->valuedouble != floor(v->valuedouble))) {
		cl_error(CL_ERR_RANGE, "%s: expected %s from %g to %g", k, integral ? "an integer" : "a number", lo, hi);
		return -1;
	}
	*out = v->valuedouble;
	return 1;
}

void cl_openai_free(struct cl_openai_req *r)
{
	for (int c = 0; c < r->n_choices; c++) {
		if (r->ids)
			free(r->ids[c]);
		if (r->prompt_text)
			free(r->prompt_text[c]);
	}
	for (int k = 0; k < r->n_stops; k++)
		free(r->stops[k]);
	free(r->ids), free(r->nids), free(r->prompt_text), free(r->params);
	memset(r, 0, sizeof *r);
}

/* The text of a token prompt (echo): its pieces as the detokenizer writes
 * them, the leading space of the first word dropped as SentencePiece does. */
static char *ids_text(const struct cl_tokenizer *tk, const int32_t *ids, size_t n)
{
	char *t = NULL, piece[1024];
	size_t tl = 0;
	FILE *f = open_memstream(&t, &tl);
	if (!f)
		return NULL;
	for (size_t q = 0; q < n; q++) {
		int l = cl_tokenizer_decode(tk, ids[q], q == 0 || (q == 1 && ids[0] == cl_tokenizer_bos(tk)), piece,
					    sizeof piece);
		if (l > 0)
			fwrite(piece, 1, (size_t)l, f);
	}
	fclose(f);
	return t;
}

/* One prompt's tokens and text; CL_OK or an error with its message. */
static enum cl_status prompt_ids(const cJSON *p, int pi, const cJSON *sfx, const struct cl_openai_env *env,
				 int32_t **ids, size_t *nids, char **text)
{
	const struct cl_tokenizer *tk = env->tk;
	*ids = NULL, *nids = 0, *text = NULL;
	if (cJSON_IsString(p)) {
		enum cl_status st = cJSON_IsString(sfx)
					    ? cl_fim_prompt(tk, env->fim, p->valuestring, sfx->valuestring, ids, nids)
					    : cl_tokenizer_encode(tk, p->valuestring, strlen(p->valuestring),
								  cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0, ids,
								  nids);
		if (st)
			return cl_error(st, "prompt %d: %s", pi, cl_errmsg());
		if (!(*text = strdup(p->valuestring)))
			return cl_error(CL_ERR_NOMEM, "out of memory");
		return CL_OK;
	}
	int m = cJSON_GetArraySize(p), k = 0;
	if (!(*ids = malloc(((size_t)m + 1) * sizeof **ids)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	const cJSON *it;
	cJSON_ArrayForEach(it, p) {
		if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble >= env->n_vocab ||
		    it->valuedouble != floor(it->valuedouble))
			return cl_error(CL_ERR_RANGE, "prompt %d: expected token ids of the vocabulary", pi);
		(*ids)[k++] = (int32_t)it->valuedouble;
	}
	*nids = (size_t)k;
	if (!(*text = ids_text(tk, *ids, *nids)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	return CL_OK;
}

/* The sampling options every choice shares; CL_OK or an error. */
static enum cl_status base_params(const cJSON *o, const struct cl_openai_env *env, struct cl_openai_req *r,
				  struct cl_engine_params *base)
{
	double v;
	int rc;
	cl_engine_params_init(base);
	base->max_new = 16; /* OpenAI's default */
	base->sp.temperature = 1;
	if ((rc = num(o, "max_tokens", 1, 1 << 24, 1, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		base->max_new = (long)v;
	if ((rc = num(o, "temperature", 0, 2, 0, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		base->sp.temperature = (float)v;
	if ((rc = num(o, "top_p", 0, 1, 0, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		base->sp.top_p = (float)v;
	if ((rc = num(o, "presence_penalty", -2, 2, 0, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		base->sp.presence_penalty = (float)v;
	if ((rc = num(o, "frequency_penalty", -2, 2, 0, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		base->sp.frequency_penalty = (float)v;
	if ((rc = num(o, "seed", 0, 9007199254740992.0, 1, &v)) < 0)
		return CL_ERR_RANGE;
	base->sp.seed = rc ? (uint64_t)v : env->seed;
	if ((rc = num(o, "logprobs", 0, CL_OPENAI_MAX_TOP, 1, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc && v > 0)
		r->n_top = base->n_top = (int)v;
	const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "logit_bias"), *it;
	if (b && !cJSON_IsNull(b)) {
		if (!cJSON_IsObject(b))
			return cl_error(CL_ERR_FORMAT, "logit_bias: expected an object of token ids to biases");
		cJSON_ArrayForEach(it, b) {
			char *end;
			long id = strtol(it->string, &end, 10);
			if (*end || end == it->string || id < 0 || id >= env->n_vocab || !cJSON_IsNumber(it) ||
			    it->valuedouble < -100 || it->valuedouble > 100 || base->sp.n_bias == CL_SAMPLER_MAX_BIAS)
				return cl_error(CL_ERR_RANGE,
						"logit_bias: '%s': expected a token id of the vocabulary and a bias "
						"from -100 to 100 (at most %d)", it->string, CL_SAMPLER_MAX_BIAS);
			base->sp.bias_token[base->sp.n_bias] = (int32_t)id;
			base->sp.bias_value[base->sp.n_bias++] = (float)it->valuedouble;
		}
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(o, "stop");
	if (cJSON_IsString(st)) {
		if (!(r->stops[r->n_stops++] = strdup(st->valuestring)))
			return cl_error(CL_ERR_NOMEM, "out of memory");
	} else if (cJSON_IsArray(st)) {
		cJSON_ArrayForEach(it, st) {
			if (!cJSON_IsString(it) || !*it->valuestring || r->n_stops == 4)
				return cl_error(CL_ERR_FORMAT, "stop: expected a string or up to 4 non-empty strings");
			if (!(r->stops[r->n_stops++] = strdup(it->valuestring)))
				return cl_error(CL_ERR_NOMEM, "out of memory");
		}
	} else if (st && !cJSON_IsNull(st)) {
		return cl_error(CL_ERR_FORMAT, "stop: expected a string or up to 4 non-empty strings");
	}
	for (int k = 0; k < r->n_stops; k++)
		base->stops[k] = r->stops[k];
	base->n_stops = r->n_stops;
	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "suffix")))
		base->stop_token = env->fim->eot;
	r->echo = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "echo"));
	r->stream = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream"));
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(o, "stream_options");
	r->usage = so && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(so, "include_usage"));
	return CL_OK;
}

/* The request's shape: the prompts into list (*np of them), n, suffix. */
static enum cl_status shape(const cJSON *o, const struct cl_openai_env *env, const cJSON **list, int *np, int *n)
{
	const cJSON *it, *p = cJSON_GetObjectItemCaseSensitive(o, "prompt");
	double v;
	int rc;
	*np = 0;
	cJSON_ArrayForEach(it, o) {
		int known = 0;
		for (int i = 0; keys[i] && !known; i++)
			known = !strcmp(it->string, keys[i]);
		if (!known)
			return cl_error(CL_ERR_FORMAT, "Unrecognized request argument supplied: %s", it->string);
	}
	if (cJSON_IsString(p) || (cJSON_IsArray(p) && cJSON_IsNumber(cJSON_GetArrayItem(p, 0)))) {
		list[(*np)++] = p;
	} else if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
		cJSON_ArrayForEach(it, p) {
			if (*np == CL_OPENAI_MAX_CHOICES || !(cJSON_IsString(it) || cJSON_IsArray(it)))
				return cl_error(CL_ERR_FORMAT, "prompt: expected a string, strings, a token array or "
							       "token arrays (at most %d)", CL_OPENAI_MAX_CHOICES);
			list[(*np)++] = it;
		}
	} else {
		return cl_error(CL_ERR_FORMAT, "prompt: expected a string, strings, a token array or token arrays");
	}
	*n = 1;
	if ((rc = num(o, "n", 1, CL_OPENAI_MAX_N, 1, &v)) < 0)
		return CL_ERR_RANGE;
	if (rc)
		*n = (int)v;
	if (*np * *n > CL_OPENAI_MAX_CHOICES)
		return cl_error(CL_ERR_RANGE, "n: prompts times n at most %d", CL_OPENAI_MAX_CHOICES);
	if ((rc = num(o, "best_of", 1, CL_OPENAI_MAX_N, 1, &v)) < 0 || (rc > 0 && (int)v != *n))
		return cl_error(CL_ERR_RANGE, "best_of: only best_of equal to n is served");
	const cJSON *sfx = cJSON_GetObjectItemCaseSensitive(o, "suffix");
	if (sfx && !cJSON_IsNull(sfx)) {
		if (!cJSON_IsString(sfx))
			return cl_error(CL_ERR_FORMAT, "suffix: expected a string");
		if (!env->fim) {
			struct cl_fim f;
			cl_fim_find(env->tk, &f); /* its message says what the model lacks */
			return cl_error(CL_ERR_UNSUPPORTED, "suffix: %s", cl_errmsg());
		}
		for (int i = 0; i < *np; i++)
			if (!cJSON_IsString(list[i]))
				return cl_error(CL_ERR_FORMAT, "suffix: the prompts must be text, not tokens");
	}
	return CL_OK;
}

enum cl_status cl_openai_parse(const char *body, size_t len, const struct cl_openai_env *env,
			       struct cl_openai_req *r)
{
	memset(r, 0, sizeof *r);
	cJSON *o = cJSON_ParseWithLength(body, len);
	const cJSON *list[CL_OPENAI_MAX_CHOICES];
	struct cl_engine_params base;
	int np = 0, n = 1;
	enum cl_status st;
	if (!cJSON_IsObject(o)) {
		st = cl_error(CL_ERR_FORMAT, "the body is not a JSON object");
		goto fail;
	}
	if ((st = shape(o, env, list, &np, &n)) || (st = base_params(o, env, r, &base)))
		goto fail;
	int nc = np * n;
	if (!(r->ids = calloc((size_t)nc, sizeof *r->ids)) || !(r->nids = calloc((size_t)nc, sizeof *r->nids)) ||
	    !(r->prompt_text = calloc((size_t)nc, sizeof *r->prompt_text)) ||
	    !(r->params = calloc((size_t)nc, sizeof *r->params))) {
		st = cl_error(CL_ERR_NOMEM, "out of memory");
		goto fail;
	}
	r->n_choices = nc;
	const cJSON *sfx = cJSON_GetObjectItemCaseSensitive(o, "suffix");
	for (int pi = 0; pi < np; pi++) {
		int c0 = pi * n;
		size_t nids;
		if ((st = prompt_ids(list[pi], pi, sfx, env, &r->ids[c0], &nids, &r->prompt_text[c0])))
			goto fail;
		if (nids == 0) {
			st = cl_error(CL_ERR_RANGE, "prompt %d: empty (no tokens)", pi);
			goto fail;
		}
		if (nids + (size_t)base.max_new > (size_t)env->ctx) {
			st = cl_error(CL_ERR_RANGE, "prompt %d: %zu tokens and max_tokens %ld are more than the "
						    "context of %d", pi, nids, base.max_new, env->ctx);
			goto fail;
		}
		for (int k = 0; k < n; k++) {
			int c = c0 + k;
			if (k) {
				r->ids[c] = malloc(nids * sizeof *r->ids[c]);
				r->prompt_text[c] = strdup(r->prompt_text[c0]);
				if (!r->ids[c] || !r->prompt_text[c]) {
					st = cl_error(CL_ERR_NOMEM, "out of memory");
					goto fail;
				}
				memcpy(r->ids[c], r->ids[c0], nids * sizeof *r->ids[c]);
			}
			r->nids[c] = nids;
			r->params[c] = base;
			r->params[c].seq = (uint32_t)c;
		}
	}
	cJSON_Delete(o);
	return CL_OK;
fail:
	cJSON_Delete(o);
	cl_openai_free(r);
	return st;
}

/* ------------------------------------------------------------ answers --- */

static const char *finish_name(enum cl_finish f)
{
	return f == CL_FINISH_LENGTH ? "length" : f == CL_FINISH_STOP ? "stop" : f ? "cancelled" : NULL;
}

/* A token's text for logprobs, as valid UTF-8 ("bytes:\xNN" where it is
 * not); *n: its bytes as decoded. */
static void token_text(const struct cl_tokenizer *tk, int32_t id, char *out, size_t cap, size_t *n)
{
	char piece[256];
	int l = cl_tokenizer_decode(tk, id, 0, piece, sizeof piece - 1);
	if (l < 0)
		l = 0;
	if (n)
		*n = (size_t)l;
	if (cl_utf8_check(piece, (size_t)l) == (size_t)l) {
		snprintf(out, cap, "%.*s", l, piece);
		return;
	}
	size_t o = (size_t)snprintf(out, cap, "bytes:");
	for (int i = 0; i < l && o + 5 < cap; i++)
		o += (size_t)snprintf(out + o, cap - o, "\\x%02x", (unsigned char)piece[i]);
}

static cJSON *logprobs(const struct cl_openai_choice *c, int n_top, const struct cl_tokenizer *tk)
{
	cJSON *lp = cJSON_CreateObject();
	cJSON *tks = cJSON_AddArrayToObject(lp, "tokens"), *tl = cJSON_AddArrayToObject(lp, "token_logprobs"),
	      *top = cJSON_AddArrayToObject(lp, "top_logprobs"), *off = cJSON_AddArrayToObject(lp, "text_offset");
	char t[512];
	size_t at = c->echo ? strlen(c->echo) : 0, n;
	for (size_t i = 0; i < c->ntok; i++) {
		cJSON *m = cJSON_CreateObject();
		for (int k = 0; k < n_top; k++) {
			const struct cl_alt *a = &c->alts[i * (size_t)n_top + (size_t)k];
			if (a->token < 0)
				continue;
			token_text(tk, a->token, t, sizeof t, NULL);
			if (!cJSON_GetObjectItemCaseSensitive(m, t))
				cJSON_AddNumberToObject(m, t, a->logprob);
		}
		token_text(tk, c->toks[i], t, sizeof t, &n);
		cJSON_AddItemToArray(tks, cJSON_CreateString(t));
		cJSON_AddItemToArray(tl, cJSON_CreateNumber(c->lps[i]));
		cJSON_AddItemToArray(top, m);
		cJSON_AddItemToArray(off, cJSON_CreateNumber((double)at));
		at += n;
	}
	return lp;
}

static cJSON *head_json(const struct cl_openai_head *h)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", h->id);
	cJSON_AddStringToObject(o, "object", "text_completion");
	cJSON_AddNumberToObject(o, "created", (double)h->created);
	cJSON_AddStringToObject(o, "model", h->model);
	cJSON_AddArrayToObject(o, "choices");
	return o;
}

cJSON *cl_openai_answer(const struct cl_openai_head *h, const struct cl_openai_choice *ch, int n, int n_top,
			const struct cl_tokenizer *tk)
{
	cJSON *o = head_json(h), *chs = cJSON_GetObjectItemCaseSensitive(o, "choices");
	size_t pt = 0, gt = 0;
	for (int i = 0; i < n; i++) {
		const struct cl_openai_choice *c = &ch[i];
		size_t el = c->echo ? strlen(c->echo) : 0;
		char *t = malloc(el + c->len + 1);
		if (!t) {
			cJSON_Delete(o);
			return NULL;
		}
		memcpy(t, c->echo ? c->echo : "", el);
		memcpy(t + el, c->len ? c->text : "", c->len);
		t[el + c->len] = 0;
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "text", t);
		free(t);
		cJSON_AddNumberToObject(x, "index", c->index);
		if (n_top)
			cJSON_AddItemToObject(x, "logprobs", logprobs(c, n_top, tk));
		else
			cJSON_AddNullToObject(x, "logprobs");
		const char *fr = finish_name(c->finish);
		if (fr)
			cJSON_AddStringToObject(x, "finish_reason", fr);
		else
			cJSON_AddNullToObject(x, "finish_reason");
		cJSON_AddItemToArray(chs, x);
		pt += c->prompt_tokens;
		gt += c->ntok;
	}
	cJSON *u = cJSON_AddObjectToObject(o, "usage");
	cJSON_AddNumberToObject(u, "prompt_tokens", (double)pt);
	cJSON_AddNumberToObject(u, "completion_tokens", (double)gt);
	cJSON_AddNumberToObject(u, "total_tokens", (double)(pt + gt));
	return o;
}

cJSON *cl_openai_chunk(const struct cl_openai_head *h)
{
	return head_json(h);
}

void cl_openai_delta(cJSON *chunk, int index, const char *text)
{
	cJSON *x = cJSON_CreateObject();
	cJSON_AddStringToObject(x, "text", text);
	cJSON_AddNumberToObject(x, "index", index);
	cJSON_AddNullToObject(x, "logprobs");
	cJSON_AddNullToObject(x, "finish_reason");
	cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(chunk, "choices"), x);
}
