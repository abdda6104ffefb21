/*
 * bpe.h - private to bpe.c and bpe_load.c: GPT-2's byte-level BPE tokenizer
 * as the readers (bpe_load.c) fill it in for the tokenizer (bpe.c), and the
 * helpers of bpe.c that the readers use.  Not for cmd/: the rest of cl sees
 * a BPE tokenizer through tok.h.
 *
 * Ownership: struct bpe owns every array it points to; cl_bpe_impl_free
 * frees them and the struct.  A loaded tokenizer's impl is its struct bpe,
 * freed by t->free.
 */
#ifndef CL_BPE_H
#define CL_BPE_H

#include "tok.h"

#define BAD_CP 0xffffffffu  /* a byte that is not part of valid UTF-8: class "other" */

struct bpe {
	/* The vocabulary: piece -> id, open addressing over t->pieces. */
	int32_t *vhash;         /* (vmask + 1) ids, -1 empty */
	uint32_t vmask;
	/* The bytes each token stands for. */
	char *bytes;            /* (boff[n_vocab]) */
	uint32_t *boff;         /* (n_vocab + 1) offsets into bytes */
	int32_t byte_id[256];   /* the token of each single byte */
	/* Merges by rank, and (left, right) -> rank. */
	int32_t n_merges;
	int32_t *mleft, *mright, *mout; /* (n_merges) */
	uint64_t *mkey;         /* (mmask + 1) left << 32 | right; UINT64_MAX empty */
	int32_t *mrank;         /* (mmask + 1) */
	uint32_t mmask;
	/* Added tokens, matched in the text only with CL_ENCODE_SPECIAL. */
	int32_t n_special;
	int32_t *special;       /* (n_special) ids; their text is t->pieces[id] */
	unsigned char special_first[32]; /* bit set of their first bytes */
	int add_prefix_space;   /* tokenizer.json ByteLevel option */
	unsigned char ascii_cls[128];
};

/* The code point at s[0..n), n > 0, and its length in *len; an invalid
 * sequence gives BAD_CP for its first byte alone. */
uint32_t cl_bpe_utf8_next(const unsigned char *s, size_t n, size_t *len);

/* The tables' hashes: of a piece, and of a merge's left << 32 | right. */
uint32_t cl_bpe_hash_bytes(const char *s, size_t n);
uint32_t cl_bpe_hash_pair(uint64_t key);
/* The id of piece s[0..n), or -1. */
int32_t cl_bpe_vocab_find(const struct cl_tokenizer *t, const char *s, size_t n);

/* realloc *p to n elements of `size` bytes; -1, *p untouched, when out of
 * memory. */
int cl_bpe_grow(void **p, size_t n, size_t size);

/* Once the readers have filled *t and its struct bpe: what encoding derives
 * from them (the first bytes of special tokens, the classes of ASCII), and
 * t's functions set to this backend's. */
void cl_bpe_setup(struct cl_tokenizer *t);
/* Free b and all it owns; NULL is harmless. */
void cl_bpe_impl_free(struct bpe *b);

#endif
