/*
 * engine.h - private: sequences decoded together in one process (continuous
 * batching), for cl-complete --json and cl-serve.  Not part of the public
 * API in cl.h.
 *
 * The engine holds one loaded model and its tokenizer, and up to max_seqs
 * sequences, each with its own KV cache, sampler and stop conditions, as
 * cl-sample has them.  Each cl_engine_step() makes one pass through the
 * layers (cl_model_forward_batch): the newest token of every sequence that is
 * generating, then prompt positions of sequences still reading theirs, up
 * to CL_BATCH_MAX rows; a sequence joins at the next step after it is added.
 * Never thread-safe: one thread drives an engine.
 */
#ifndef CL_ENGINE_H
#define CL_ENGINE_H

#include "cl.h"

#define CL_ENGINE_MAX_STOPS 8

enum cl_finish { /* append-only */
	CL_FINISH_NONE = 0,
	CL_FINISH_STOP = 1,     /* EOS, or a stop string */
	CL_FINISH_LENGTH = 2,   /* max_new tokens, or the end of the context */
	CL_FINISH_CANCEL = 3,   /* cl_engine_cancel */
};

/* How one sequence is decoded: cl-sample's options. */
struct cl_engine_params {
	struct cl_sampler_params sp;
	long max_new;           /* generated tokens at most (default 256) */
	int ignore_eos;
	int32_t stop_token;     /* a second end token (Code Llama's <EOT>); -1: none */
	const char *stops[CL_ENGINE_MAX_STOPS]; /* copied at cl_engine_add */
	int n_stops;
	int n_top;              /* alternatives per token (logprobs), at most 20 */
	uint32_t seq;           /* the sampler's sequence number: the draw depends on
				   (seed, seq, position), as in cl-sample */
};
void cl_engine_params_init(struct cl_engine_params *p);

/* A token chosen: called from cl_engine_step.  `text` is the whole UTF-8 the
 * sequence's generated tokens make so far (len bytes; a stop string, when
 * one ended it, included); `finish` is set on its last call. */
struct cl_engine_token {
	int id;                 /* the handle cl_engine_add returned */
	int32_t token;
	float logprob;
	const struct cl_alt *alts;
	int n_alts;
	uint32_t pos;
	const char *text;
	size_t len;
	enum cl_finish finish;
};
typedef void (*cl_engine_cb)(void *arg, const struct cl_engine_token *t);

struct cl_engine;
/* ctx: positions per sequence (0: max_position_embeddings). */
enum cl_status cl_engine_new(struct cl_model *m, const struct cl_tokenizer *tk, int32_t ctx, int max_seqs,
			     struct cl_engine **out);
void cl_engine_free(struct cl_engine *e);
int32_t cl_engine_ctx(const struct cl_engine *e);
/* Add a sequence: its prompt's tokens (copied).  Returns its handle (>= 0),
 * or -1 with the message in cl_errmsg(): the engine is full, or the prompt
 * leaves no room in the context ("the prompt is N tokens, the context holds
 * C"). */
int cl_engine_add(struct cl_engine *e, const int32_t *ids, size_t n, const struct cl_engine_params *p,
		  cl_engine_cb cb, void *arg);
/* End a sequence now; its callback is called once more, with
 * CL_FINISH_CANCEL, at the next step. */
void cl_engine_cancel(struct cl_engine *e, int id);
/* A prompt of n tokens that leaves no room in a context of ctx loses its
 * start (BOS, where ids[0] is bos >= 0, stays), keeping room for max_new new
 * tokens, at most half the context; returns the tokens kept (n when it fits). */
size_t cl_prompt_truncate(int32_t *ids, size_t n, int32_t ctx, long max_new, int32_t bos);
/* One pass; CL_OK with nothing to do when no sequence runs. */
enum cl_status cl_engine_step(struct cl_engine *e);
/* Sequences added and not yet finished. */
int cl_engine_running(const struct cl_engine *e);
/* Rows the last step ran, and steps so far (for statistics). */
/* Prompt positions a step takes at most while other sequences generate
 * (chunked prefill: their next token waits for fewer rows); 0, the default:
 * as many as the batch holds.  A step with no token to generate fills the
 * batch with prompts whatever this says. */
void cl_engine_set_prefill(struct cl_engine *e, int rows);
int cl_engine_last_rows(const struct cl_engine *e);
int cl_engine_last_seqs(const struct cl_engine *e); /* sequences in those rows */
uint64_t cl_engine_steps(const struct cl_engine *e);

#endif
