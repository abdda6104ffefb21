/*
 * infill.h - private: Code Llama's fill-in-the-middle prompts, for
 * cl-complete --suffix and cl-serve's suffix and /infill.  Not part of the
 * public API in cl.h.
 *
 * Where the tokenizer has the pieces "▁<PRE>", "▁<SUF>", "▁<MID>" and
 * "▁<EOT>" (ids 32007-32010 in Code Llama 7B/13B), a prefix and a suffix
 * make the prompt as Code Llama's reference code does,
 *
 *     BOS <PRE> encode(prefix) <SUF> encode_infilling(suffix) <MID>
 *
 * where encode_infilling encodes without SentencePiece's leading space; the
 * model then writes the middle and ends it with <EOT>.
 */
#ifndef CL_INFILL_H
#define CL_INFILL_H

#include "cl.h"

struct cl_fim {
	int32_t pre, suf, mid, eot;
};

/* The tokenizer's fill-in-the-middle ids; CL_ERR_FORMAT with a message when
 * it has none. */
enum cl_status cl_fim_find(const struct cl_tokenizer *tk, struct cl_fim *out);
/* The prompt for prefix and suffix (NUL-terminated UTF-8); *ids malloc'd. */
enum cl_status cl_fim_prompt(const struct cl_tokenizer *tk, const struct cl_fim *f, const char *prefix,
			     const char *suffix, int32_t **ids, size_t *n);

#endif
