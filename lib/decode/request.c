/*
 * request.c - completion requests in the hosted-endpoint JSON shapes, and
 * their answers (see request.h).
 */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

static char *dupn(const char *s)
{
	char *d = strdup(s);
	if (!d)
		cl_error(CL_ERR_NOMEM, "out of memory");
	return d;
}

static void free_list(char **v)
{
	if (!v)
		return;
	for (int i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

/* A list of strings (or, where one_ok, a single string) into *out. */
static enum cl_status strings(const cJSON *v, const char *what, int one_ok, int max, char ***out, int *n)
{
	int k = 0;
	if (one_ok && cJSON_IsString(v)) {
		if (!(*out = calloc(2, sizeof **out)) || !((*out)[0] = dupn(v->valuestring)))
			return cl_error(CL_ERR_NOMEM, "out of memory");
		*n = 1;
		return CL_OK;
	}
	if (!cJSON_IsArray(v))
		return cl_error(CL_ERR_FORMAT, "%s: expected a list of strings%s", what, one_ok ? " or a string" : "");
	int len = cJSON_GetArraySize(v);
	if (len > max)
		return cl_error(CL_ERR_RANGE, "%s: %d strings, at most %d", what, len, max);
	if (!(*out = calloc((size_t)len + 1, sizeof **out)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	*n = 0;
	for (const cJSON *e = v->child; e; e = e->next, k++) {
		if (!cJSON_IsString(e))
			return cl_error(CL_ERR_FORMAT, "%s: item %d: expected a string", what, k);
		if (!((*out)[k] = dupn(e->valuestring)))
			return CL_ERR_NOMEM;
		*n = k + 1;
	}
	return CL_OK;
}

static enum cl_status number(const cJSON *v, const char *where, double lo, double hi, int integer, double *out)
{
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
	    (integer && v->valuedouble != floor(v->valuedouble))) {
		if (integer)
			return cl_error(CL_ERR_RANGE, "%s: %s: expected an integer from %.0f to %.0f", where,
					v->string, lo, hi);
		return cl_error(CL_ERR_RANGE, "%s: %s: expected a number from %g to %g", where, v->string, lo, hi);
	}
	*out = v->valuedouble;
	return CL_OK;
}

static enum cl_status boolean(const cJSON *v, const char *where, int *out)
{
	if (!cJSON_IsBool(v))
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected true or false", where, v->string);
	*out = cJSON_IsTrue(v);
	return CL_OK;
}

static enum cl_status params(const cJSON *o, const char *where, struct cl_request *rq)
{
	double d;
	int temp_given = 0, len_given = 0;
	enum cl_status st;
	char what[64];
	if (!cJSON_IsObject(o))
		return cl_error(CL_ERR_FORMAT, "%s: expected an object", where);
	for (const cJSON *v = o->child; v; v = v->next) {
		const char *k = v->string;
		st = CL_OK;
		if (cJSON_IsNull(v))
			continue; /* as absent: clients send null for "default" */
		if (!strcmp(k, "temperature")) {
			st = number(v, where, 0, 100, 0, &d);
			rq->temperature = (float)d;
			temp_given = 1;
		} else if (!strcmp(k, "top_p")) {
			st = number(v, where, 0, 1, 0, &d);
			rq->top_p = (float)d;
		} else if (!strcmp(k, "top_k")) {
			st = number(v, where, 0, 2147483647.0, 1, &d);
			rq->top_k = (int32_t)d;
		} else if (!strcmp(k, "repetition_penalty")) {
			st = number(v, where, 1e-3, 1e3, 0, &d);
			rq->repetition_penalty = (float)d;
		} else if (!strcmp(k, "max_new_tokens") || !strcmp(k, "max_gen_len")) {
			if (len_given++)
				return cl_error(CL_ERR_FORMAT, "%s: max_new_tokens and max_gen_len are one parameter; "
						"give one", where);
			st = number(v, where, 1, 1 << 24, 1, &d);
			rq->max_new_tokens = (long)d;
		} else if (!strcmp(k, "seed")) {
			/* Integers beyond 2^53 do not survive a JSON number. */
			st = number(v, where, 0, 9007199254740992.0, 1, &d);
			rq->seed = (uint64_t)d;
			rq->has_seed = 1;
		} else if (!strcmp(k, "do_sample")) {
			st = boolean(v, where, &rq->do_sample);
		} else if (!strcmp(k, "return_full_text")) {
			st = boolean(v, where, &rq->return_full_text);
		} else if (!strcmp(k, "stop")) {
			snprintf(what, sizeof what, "%s: stop", where);
			free_list(rq->stops);
			rq->stops = NULL;
			st = strings(v, what, 1, 64, &rq->stops, &rq->n_stops);
			for (int i = 0; !st && i < rq->n_stops; i++)
				if (!rq->stops[i][0])
					st = cl_error(CL_ERR_RANGE, "%s: an empty stop string", what);
		} else {
			return cl_error(CL_ERR_FORMAT, "%s: unknown parameter '%s'", where, k);
		}
		if (st)
			return st;
	}
	if (!rq->do_sample)
		rq->temperature = 0;
	else if (!temp_given)
		rq->temperature = 1;
	return CL_OK;
}

static enum cl_status parse(const cJSON *root, struct cl_request *rq)
{
	const cJSON *in = NULL, *ps = NULL;
	if (!cJSON_IsObject(root))
		return cl_error(CL_ERR_FORMAT, "request: expected a JSON object");
	for (const cJSON *v = root->child; v; v = v->next) {
		if (!strcmp(v->string, "input_data")) {
			in = v;
		} else if (!strcmp(v->string, "params")) {
			ps = v;
		} else if (!strcmp(v->string, "id")) {
			if (!cJSON_IsString(v) && !(cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
						    fabs(v->valuedouble) < 9007199254740992.0))
				return cl_error(CL_ERR_FORMAT, "id: expected a string or an integer");
			if (rq->id) /* which would the answer carry? */
				return cl_error(CL_ERR_FORMAT, "request: id given twice");
			if (!(rq->id = cJSON_PrintUnformatted(v)))
				return cl_error(CL_ERR_NOMEM, "out of memory");
		} else {
			return cl_error(CL_ERR_FORMAT, "request: unknown key '%s'", v->string);
		}
	}
	if (!in)
		return cl_error(CL_ERR_FORMAT, "request: no input_data");
	if (cJSON_IsArray(in)) {
		rq->shape = CL_REQUEST_LIST;
		enum cl_status st = strings(in, "input_data", 0, CL_REQUEST_MAX_PROMPTS, &rq->prompts, &rq->n_prompts);
		return st ? st : ps ? params(ps, "params", rq) : CL_OK;
	}
	if (!cJSON_IsObject(in))
		return cl_error(CL_ERR_FORMAT, "input_data: expected an object or a list of strings");
	if (ps)
		return cl_error(CL_ERR_FORMAT, "request: params goes with a list as input_data; "
				"with input_string, use input_data.parameters");
	rq->shape = CL_REQUEST_INPUT_STRING;
	const cJSON *is = NULL;
	for (const cJSON *v = in->child; v; v = v->next) {
		if (!strcmp(v->string, "input_string"))
			is = v;
		else if (!strcmp(v->string, "parameters"))
			ps = v;
		else
			return cl_error(CL_ERR_FORMAT, "input_data: unknown key '%s'", v->string);
	}
	if (!is)
		return cl_error(CL_ERR_FORMAT, "input_data: no input_string");
	enum cl_status st = strings(is, "input_string", 0, CL_REQUEST_MAX_PROMPTS, &rq->prompts, &rq->n_prompts);
	return st ? st : ps ? params(ps, "parameters", rq) : CL_OK;
}

enum cl_status cl_request_parse(const char *line, size_t len, struct cl_request *rq)
{
	const char *end = NULL;
	memset(rq, 0, sizeof *rq);
	rq->top_k = 50;
	rq->top_p = 1;
	rq->repetition_penalty = 1;
	rq->return_full_text = 1;
	cJSON *root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!root) {
		size_t at = end && end >= line ? (size_t)(end - line) : 0;
		return cl_error(CL_ERR_FORMAT, "request: not valid JSON (at byte %zu)", at);
	}
	while (end && end < line + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	enum cl_status st = end && end < line + len
				    ? cl_error(CL_ERR_FORMAT, "request: text after the JSON value (at byte %zu)",
					       (size_t)(end - line))
				    : parse(root, rq);
	cJSON_Delete(root);
	if (st)
		cl_request_free(rq);
	return st;
}

void cl_request_free(struct cl_request *rq)
{
	/* Lists are calloc'd one longer than filled: NULL ends them. */
	free_list(rq->prompts);
	free_list(rq->stops);
	free(rq->id);
	rq->prompts = rq->stops = NULL;
	rq->id = NULL;
	rq->n_prompts = rq->n_stops = 0;
}

static cJSON *text(const char *s, size_t n)
{
	char *z = malloc(n + 1);
	if (!z)
		return NULL;
	memcpy(z, s, n);
	z[n] = 0;
	cJSON *j = cJSON_CreateString(z);
	free(z);
	return j;
}

/* cJSON prints compactly; the endpoints we stand in for answer the way
 * Python's json.dumps writes, with ", " and ": " between items.  Spaces go
 * after the separators outside strings only. */
static char *spaced(char *compact)
{
	if (!compact)
		return NULL;
	size_t n = strlen(compact), extra = 0;
	int in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = compact[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == ',' || c == ':') {
			extra++;
		}
	}
	char *out = malloc(n + extra + 1), *o = out;
	if (!out) {
		free(compact);
		return NULL;
	}
	in_str = 0;
	for (size_t i = 0; i < n; i++) {
		char c = compact[i];
		*o++ = c;
		if (in_str) {
			if (c == '\\' && i + 1 < n)
				*o++ = compact[++i];
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == ',' || c == ':') {
			*o++ = ' ';
		}
	}
	*o = 0;
	free(compact);
	return out;
}

char *cl_request_answer(const struct cl_request *rq, char *const *texts, const size_t *lens)
{
	cJSON *root = cJSON_CreateArray(), *obj = root;
	char *out = NULL, key[16];
	if (!root)
		return NULL;
	if (rq->shape == CL_REQUEST_INPUT_STRING && !cJSON_AddItemToArray(root, obj = cJSON_CreateObject()))
		goto done;
	for (int i = 0; i < rq->n_prompts; i++) {
		cJSON *t = text(texts[i], lens[i]);
		snprintf(key, sizeof key, "%d", i);
		if (!t || !(obj == root ? cJSON_AddItemToArray(root, t) : cJSON_AddItemToObject(obj, key, t))) {
			cJSON_Delete(t);
			goto done;
		}
	}
	out = spaced(cJSON_PrintUnformatted(root));
done:
	cJSON_Delete(root);
	return out;
}

enum cl_status cl_request_encode(const struct cl_request *rq, int i, const struct cl_tokenizer *tk, int32_t ctx,
				 int truncate, long max_new, int32_t **ids, size_t *n)
{
	unsigned flags = cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0;
	*ids = NULL;
	*n = 0;
	enum cl_status st = cl_tokenizer_encode(tk, rq->prompts[i], strlen(rq->prompts[i]), flags, ids, n);
	if (st) {
		char msg[1024]; /* the message is cl_error's own buffer */
		snprintf(msg, sizeof msg, "%s", cl_errmsg());
		return cl_error(st, "input %d: %s", i, msg);
	}
	if (*n >= (size_t)ctx && !truncate) {
		size_t had = *n;
		free(*ids);
		*ids = NULL;
		*n = 0;
		return cl_error(CL_ERR_RANGE, "input %d: the prompt is %zu tokens, the context holds %d", i, had, ctx);
	}
	*n = cl_prompt_truncate(*ids, *n, ctx, max_new, cl_tokenizer_bos(tk));
	return CL_OK;
}

char *cl_request_error(const char *msg)
{
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;
	if (o && cJSON_AddStringToObject(o, "error", msg))
		out = spaced(cJSON_PrintUnformatted(o));
	cJSON_Delete(o);
	return out;
}

char *cl_request_peek_id(const char *line, size_t len)
{
	cJSON *root = cJSON_ParseWithLength(line, len);
	const cJSON *v = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "id") : NULL;
	char *id = cJSON_IsString(v) || cJSON_IsNumber(v) ? cJSON_PrintUnformatted(v) : NULL;
	cJSON_Delete(root);
	return id;
}

char *cl_request_with_id(const char *id, char *answer)
{
	if (!answer)
		return NULL;
	cJSON *a = cJSON_Parse(answer), *o = cJSON_CreateObject(), *i = cJSON_Parse(id);
	char *out = NULL;
	free(answer);
	if (a && o && i) {
		cJSON_AddItemToObject(o, "id", i);
		i = NULL;
		const cJSON *e = cJSON_IsObject(a) ? cJSON_GetObjectItemCaseSensitive(a, "error") : NULL;
		if (e) {
			cJSON_AddItemToObject(o, "error", cJSON_Duplicate(e, 1));
		} else {
			cJSON_AddItemToObject(o, "output", a);
			a = NULL;
		}
		out = spaced(cJSON_PrintUnformatted(o));
	}
	cJSON_Delete(a);
	cJSON_Delete(o);
	cJSON_Delete(i);
	return out;
}

enum cl_status cl_request_params(const struct cl_request *rq, int i, struct cl_engine_params *p)
{
	cl_engine_params_init(p);
	if (rq->temperature == 0) {
		p->sp.temperature = 0;
	} else {
		p->sp.temperature = rq->temperature;
		p->sp.top_k = rq->top_k;
		p->sp.top_p = rq->top_p;
	}
	p->sp.repetition_penalty = rq->repetition_penalty;
	if (rq->has_seed)
		p->sp.seed = rq->seed;
	if (rq->max_new_tokens)
		p->max_new = rq->max_new_tokens;
	if (rq->n_stops > CL_ENGINE_MAX_STOPS)
		return cl_error(CL_ERR_RANGE, "stop: at most %d strings", CL_ENGINE_MAX_STOPS);
	for (int k = 0; k < rq->n_stops; k++)
		p->stops[k] = rq->stops[k];
	p->n_stops = rq->n_stops;
	p->seq = (uint32_t)i;
	return CL_OK;
}

char *cl_request_text(const struct cl_request *rq, int i, const char *text, size_t len, size_t *out_len)
{
	size_t cut = len;
	for (int k = 0; k < rq->n_stops; k++) {
		size_t sl = strlen(rq->stops[k]);
		const char *at = len ? memmem(text, len, rq->stops[k], sl) : NULL;
		if (at && (size_t)(at - text) + sl < cut)
			cut = (size_t)(at - text) + sl;
	}
	size_t pl = rq->return_full_text ? strlen(rq->prompts[i]) : 0;
	char *out = malloc(pl + cut + 1);
	if (!out)
		return NULL;
	memcpy(out, rq->prompts[i], pl);
	memcpy(out + pl, text, cut);
	out[pl + cut] = 0;
	*out_len = pl + cut;
	return out;
}
