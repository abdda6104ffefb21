/*
 * batch.h - private: a file of completion requests (request.h's shapes, one
 * JSON object a line) decoded together through an engine, for cl-complete
 * --json.  Not part of the public API in cl.h.
 *
 * Each request added starts its prompts in the engine at once (or is kept to
 * be answered with its error); the caller steps the engine, and takes the
 * answers, one line per request, in the order the requests came, each as
 * soon as it and those before it are final.  One thread drives a batch and
 * its engine.
 */
#ifndef CL_BATCH_H
#define CL_BATCH_H

#include "cl.h"
#include "engine.h"

struct cl_batch;
/* truncate: a prompt the context cannot hold keeps its end (else its
 * request is answered with an error). */
enum cl_status cl_batch_new(struct cl_engine *e, const struct cl_tokenizer *tk, int truncate, struct cl_batch **out);
void cl_batch_free(struct cl_batch *b);
/* One request of len bytes; id: its "id" as JSON text (cl_request_peek_id),
 * taken over, or NULL.  A request that is not one is answered with its
 * error.  The engine must have room for CL_REQUEST_MAX_PROMPTS more
 * sequences.  CL_ERR_NOMEM, or the engine's error, else CL_OK. */
enum cl_status cl_batch_add(struct cl_batch *b, const char *line, size_t len, char *id);
/* The first request's answer (one line of JSON without its newline,
 * malloc'd) when it is final, else NULL (or out of memory: *err set);
 * *failed says it answers with an error. */
char *cl_batch_answer(struct cl_batch *b, int *failed, int *err);
/* Requests added and not yet answered. */
size_t cl_batch_waiting(const struct cl_batch *b);
/* Tokens generated so far. */
unsigned long long cl_batch_generated(const struct cl_batch *b);

#endif
