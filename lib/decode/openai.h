/*
 * openai.h - private: OpenAI's completion request (POST /v1/completions), as
 * cl-serve takes it, parsed and tokenized into the sequences the engine
 * decodes; and its answer, whole or in streamed chunks.  Not part of the
 * public API in cl.h.
 *
 *   {"prompt": "def f(" | ["a", "b"] | [1, 2, 3] | [[1, 2], [3]],
 *    "max_tokens": 16, "temperature": 1, "top_p": 1, "n": 1, "stop": "\n",
 *    "seed": 7, "logprobs": 5, "echo": false, "presence_penalty": 0,
 *    "frequency_penalty": 0, "logit_bias": {"50256": -100}, "suffix": "...",
 *    "stream": false, "stream_options": {"include_usage": true}}
 *
 * OpenAI's defaults (max_tokens 16, temperature 1); "model" and "user" are
 * taken and ignored, "best_of" only equal to n; any other key is refused, as
 * OpenAI refuses it.  Each prompt gives n choices, prompt-major (choice c is
 * prompt c / n), each numbered c for the sampler, so a seed gives every
 * choice its own draw and the same draw each time.
 */
#ifndef CL_OPENAI_H
#define CL_OPENAI_H

#include <cJSON.h>

#include "cl.h"
#include "engine.h"
#include "infill.h"

#define CL_OPENAI_MAX_N 16        /* n, per prompt */
#define CL_OPENAI_MAX_CHOICES 256 /* prompts times n */
#define CL_OPENAI_MAX_TOP 20      /* logprobs */

struct cl_openai_req {
	int n_choices;
	int32_t **ids;                   /* (n_choices) each choice's prompt tokens, owned */
	size_t *nids;                    /* (n_choices) */
	char **prompt_text;              /* (n_choices) the prompt as text (echo), owned */
	struct cl_engine_params *params; /* (n_choices); stops point into stops[] */
	char *stops[CL_ENGINE_MAX_STOPS]; /* owned */
	int n_stops;
	int n_top;                       /* logprobs: alternatives per token, 0: none */
	int echo, stream, usage;         /* usage: stream_options.include_usage */
};

/* Where the request is checked against: the tokenizer, the vocabulary, the
 * context (prompt plus max_tokens must fit), and Code Llama's infilling
 * tokens (NULL: the model has none, and "suffix" is refused). */
struct cl_openai_env {
	const struct cl_tokenizer *tk;
	int32_t n_vocab, ctx;
	const struct cl_fim *fim;
	uint64_t seed;                   /* the draw's seed where the request gives none */
};

/* Parse body (len bytes).  A fault is CL_ERR_FORMAT or CL_ERR_RANGE with a
 * message in cl_errmsg() in OpenAI's words where it has them ("Unrecognized
 * request argument supplied: foo", "n: expected an integer from 1 to 16");
 * then *r holds nothing to free. */
enum cl_status cl_openai_parse(const char *body, size_t len, const struct cl_openai_env *env,
			       struct cl_openai_req *r);
void cl_openai_free(struct cl_openai_req *r);

/* One choice of a completion as it stands. */
struct cl_openai_choice {
	int index;
	const char *echo;          /* the prompt's text, put before the completion; NULL: none */
	const char *text;          /* the completion, len bytes, a stop string already cut off */
	size_t len;
	const int32_t *toks;       /* (ntok) its tokens, their logprobs, n_top alternatives each */
	const float *lps;
	const struct cl_alt *alts; /* (ntok · n_top); a token < 0: none */
	size_t ntok;
	size_t prompt_tokens;
	enum cl_finish finish;     /* CL_FINISH_NONE while it runs */
};

/* What every answer and chunk carries. */
struct cl_openai_head {
	const char *id, *model;
	long created;
};

/* The answer: {"id", "object": "text_completion", "created", "model",
 * "choices": [{"text", "index", "logprobs", "finish_reason"}], "usage"}.
 * logprobs where n_top > 0, in OpenAI's layout (tokens, token_logprobs,
 * top_logprobs, text_offset; a token that is not whole UTF-8 spelled
 * "bytes:\xNN..."), else null; finish_reason "stop", "length" or
 * "cancelled", null while the choice runs.  NULL when out of memory. */
cJSON *cl_openai_answer(const struct cl_openai_head *h, const struct cl_openai_choice *ch, int n, int n_top,
			const struct cl_tokenizer *tk);
/* A streamed chunk: the head and no choices yet; cl_openai_delta adds one
 * choice's new text (logprobs and finish_reason null). */
cJSON *cl_openai_chunk(const struct cl_openai_head *h);
void cl_openai_delta(cJSON *chunk, int index, const char *text);

#endif
