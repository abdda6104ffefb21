/*
 * request.h - private: completion requests in the JSON shapes hosted
 * endpoints take, and their answers (cl-complete --json; a server could use
 * the same).  Not part of the public API in cl.h.
 *
 *   {"input_data": {"input_string": ["p0", ...], "parameters": {...}}}
 *       answered [{"0": "text0", "1": "text1", ...}]
 *   {"input_data": ["p0", ...], "params": {...}}
 *       answered ["text0", ...]
 *
 * Parameters, with Hugging Face's meanings and defaults: do_sample (false:
 * greedy), temperature (1), top_k (50), top_p (1), repetition_penalty (1),
 * max_new_tokens or max_gen_len, seed, return_full_text (true), stop (a
 * string or a list of strings).  A request may also carry an "id" (a string
 * or an integer), which its answer carries back.  A fault gives CL_ERR_FORMAT or CL_ERR_RANGE
 * with a message naming it ("parameters: unknown parameter 'foo'").
 */
#ifndef CL_REQUEST_H
#define CL_REQUEST_H

#include "cl.h"
#include "engine.h"

#define CL_REQUEST_MAX_PROMPTS 256

enum cl_request_shape { /* append-only */
	CL_REQUEST_INPUT_STRING = 1, /* input_data.input_string, parameters */
	CL_REQUEST_LIST = 2,         /* input_data as a list, params */
};

struct cl_request {
	enum cl_request_shape shape;
	char **prompts;          /* (n_prompts) owned, NUL-terminated UTF-8 */
	int n_prompts;
	int do_sample;
	float temperature;       /* 0 when !do_sample */
	int32_t top_k;           /* 0: off */
	float top_p;
	float repetition_penalty;
	long max_new_tokens;     /* 0: not given */
	int has_seed;
	uint64_t seed;
	int return_full_text;
	char **stops;            /* (n_stops) owned */
	int n_stops;
	char *id;                /* "id" (a string or an integer) as JSON text, owned; NULL: none */
};

/* Parse one request of len bytes.  On failure *rq holds nothing to free. */
enum cl_status cl_request_parse(const char *line, size_t len, struct cl_request *rq);
void cl_request_free(struct cl_request *rq);
/* The answer as one line of JSON (no newline), malloc'd; texts[i] (lens[i]
 * bytes of UTF-8) answers prompt i.  NULL when out of memory. */
char *cl_request_answer(const struct cl_request *rq, char *const *texts, const size_t *lens);
/* How the request's prompt i is decoded (the sampler's sequence number is i,
 * as in one run of cl-sample per request).  CL_ERR_RANGE when it has more
 * stop strings than the engine takes. */
enum cl_status cl_request_params(const struct cl_request *rq, int i, struct cl_engine_params *p);
/* Prompt i's answer text from its generated text: the prompt first where
 * return_full_text, the completion cut after the first stop string it holds.
 * malloc'd (*out_len bytes, NUL-terminated); NULL when out of memory. */
char *cl_request_text(const struct cl_request *rq, int i, const char *text, size_t len, size_t *out_len);

/* Prompt i as tokens (*ids malloc'd, *n of them; BOS where the tokenizer
 * adds it, as cl-tokenize), held to a context of ctx positions: one that
 * leaves no room is CL_ERR_RANGE ("input I: the prompt is N tokens, the
 * context holds C"), unless truncate: then it keeps its end, leaving room for
 * max_new new tokens (cl_prompt_truncate).  Errors name the input. */
enum cl_status cl_request_encode(const struct cl_request *rq, int i, const struct cl_tokenizer *tk, int32_t ctx,
				 int truncate, long max_new, int32_t **ids, size_t *n);

/* {"error": msg}, malloc'd; NULL when out of memory. */
char *cl_request_error(const char *msg);
/* The "id" of a request line as JSON text (malloc'd), or NULL: none, or the
 * line is not a JSON object (for answering a request that fails to parse). */
char *cl_request_peek_id(const char *line, size_t len);
/* An answer or error line for a request that has an id:
 * {"id": ID, "output": ANSWER} or {"id": ID, "error": "..."}; takes answer
 * (freed).  NULL when out of memory. */
char *cl_request_with_id(const char *id, char *answer);

#endif
