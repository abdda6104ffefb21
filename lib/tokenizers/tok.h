/*
 * tok.h - private: what a tokenizer backend provides.  tokenizer.c picks the
 * backend from what the model directory holds and owns the common parts.
 */
#ifndef CL_TOK_H
#define CL_TOK_H

#include "cl.h"

struct cl_tokenizer {
	int32_t n_vocab;
	int32_t bos, eos;          /* -1: none */
	char **pieces;             /* (n_vocab) vocabulary strings, owned */
	unsigned char *control;    /* (n_vocab) 1 for control tokens */
	char fingerprint[17];
	int add_bos;               /* the tokenizer adds BOS by default (Llama yes, GPT-2 no) */
	int ws_runs_first;         /* whitespace-only pieces keep the "first" state
				      (SentencePiece with remove_extra_whitespaces) */
	int utf8_only;             /* text must be valid UTF-8 (SentencePiece would read a
				      bad byte as U+FFFD; byte-level BPE keeps every byte) */
	/* The backend: */
	void *impl;
	enum cl_status (*encode)(const struct cl_tokenizer *t, const char *text, size_t len,
				 unsigned flags, int32_t **ids, size_t *n);
	int (*decode)(const struct cl_tokenizer *t, int32_t id, int first, char *buf, size_t cap);
	void (*free)(struct cl_tokenizer *t);
};

struct cl_gguf;

/* Backends fill *t (pieces, control, n_vocab, bos, eos, impl and the three
 * functions); tokenizer.c computes the fingerprint. */
enum cl_status cl_spm_load(const char *file, struct cl_tokenizer *t);  /* tokenizer.model */
/* The same from a serialized ModelProto (gguf_tok.c builds one); `name`
 * for messages. */
enum cl_status cl_spm_load_proto(const void *proto, size_t n, const char *name, struct cl_tokenizer *t);
/* A GGUF file's tokenizer (tokenizer.ggml.*), by either backend. */
enum cl_status cl_gguf_tokenizer(const struct cl_gguf *g, struct cl_tokenizer *t);
/* GPT-2 byte-level BPE: `dir` holding tokenizer.json, or vocab.json + merges.txt. */
enum cl_status cl_bpe_load(const char *dir, struct cl_tokenizer *t);
enum cl_status cl_bpe_load_gguf(const struct cl_gguf *g, struct cl_tokenizer *t);
/* A BPE tokenizer's merges by rank (token ids of left and right) and its
 * added tokens, for the GGUF writer. */
int cl_tokenizer_is_bpe(const struct cl_tokenizer *t);
int32_t cl_bpe_n_merges(const struct cl_tokenizer *t);
void cl_bpe_merge(const struct cl_tokenizer *t, int32_t rank, int32_t *left, int32_t *right);
int cl_bpe_is_special(const struct cl_tokenizer *t, int32_t id);

#endif
