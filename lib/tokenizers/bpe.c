/*
 * bpe.c - GPT-2's byte-level BPE tokenizer (GPT-2, Cerebras-GPT) itself: its
 * tables, the pre-tokenizer, the merge loop, encode and decode.  Reading
 * vocab.json + merges.txt, a Hugging Face tokenizer.json or a GGUF file's
 * vocabulary into those tables is bpe_load.c's; bpe.h is what the two share.
 *
 * Encoding: text is cut at special tokens (only with CL_ENCODE_SPECIAL), each
 * stretch is split by GPT-2's pre-tokenization pattern
 *
 *     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *
 * written out by hand over the classes of unicode_tab.h, and the bytes of each
 * piece are merged pair by pair, lowest merge rank first, every occurrence of
 * that pair left to right, until no pair has a rank (OpenAI's encoder.py).
 * Tokens are byte strings; the vocabulary spells each byte as one character
 * (bytes_to_unicode), which only matters when reading the files (bpe_load.c).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "unicode_tab.h"

/* ------------------------------------------------------------- UTF-8 --- */

/* The code point at s[0..n), n > 0, and its length in *len; an invalid
 * sequence gives BAD_CP for its first byte alone. */
uint32_t cl_bpe_utf8_next(const unsigned char *s, size_t n, size_t *len)
{
	unsigned c = s[0];
	*len = 1;
	if (c < 0x80)
		return c;
	size_t k;
	uint32_t cp, min;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2, cp = c & 0x1f, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, cp = c & 0x0f, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, cp = c & 0x07, min = 0x10000;
	else
		return BAD_CP;
	if (k > n)
		return BAD_CP;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return BAD_CP;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return BAD_CP;
	*len = k;
	return cp;
}

static int uni_class(const struct bpe *b, uint32_t cp)
{
	if (cp < 128)
		return b->ascii_cls[cp];
	size_t lo = 0, hi = sizeof cl_uni_ranges / sizeof cl_uni_ranges[0];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cp < cl_uni_ranges[mid].lo)
			hi = mid;
		else if (cp > cl_uni_ranges[mid].hi_cls >> 8)
			lo = mid + 1;
		else
			return (int)(cl_uni_ranges[mid].hi_cls & 0xff);
	}
	return CL_UNI_OTHER;
}

/* ------------------------------------------------------------ hashing --- */

uint32_t cl_bpe_hash_bytes(const char *s, size_t n)
{
	uint64_t h = cl_fnv1a(CL_FNV_INIT, s, n);
	return (uint32_t)(h ^ h >> 32);
}

uint32_t cl_bpe_hash_pair(uint64_t key)
{
	key *= 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(key >> 32);
}

int32_t cl_bpe_vocab_find(const struct cl_tokenizer *t, const char *s, size_t n)
{
	const struct bpe *b = t->impl;
	for (uint32_t h = cl_bpe_hash_bytes(s, n) & b->vmask;; h = (h + 1) & b->vmask) {
		int32_t id = b->vhash[h];
		if (id < 0)
			return -1;
		if (strncmp(t->pieces[id], s, n) == 0 && t->pieces[id][n] == '\0')
			return id;
	}
}

/* The rank of merging tokens a and b, or -1. */
static int32_t pair_rank(const struct bpe *b, int32_t l, int32_t r)
{
	uint64_t key = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
	for (uint32_t h = cl_bpe_hash_pair(key) & b->mmask;; h = (h + 1) & b->mmask) {
		if (b->mkey[h] == key)
			return b->mrank[h];
		if (b->mkey[h] == UINT64_MAX)
			return -1;
	}
}

/* ----------------------------------------------------------- encoding --- */

/* Per-call scratch, grown as needed (encode is not in the per-token path). */
struct work {
	uint32_t *cp;           /* (cap) code points of the stretch */
	uint32_t *off;          /* (cap + 1) their byte offsets */
	unsigned char *cls;     /* (cap) their classes */
	size_t cap;
	int32_t *sym;           /* (wcap) symbol token ids, -1 once merged away */
	int32_t *next, *prev;   /* (wcap) neighbours, -1 at the ends */
	uint64_t *heap;         /* (3 * wcap) rank << 32 | position */
	uint64_t *batch;        /* (3 * wcap) */
	size_t wcap;
	char *tmp;              /* (tcap) a stretch with a space prepended */
	size_t tcap;
};

static void work_free(struct work *w)
{
	free(w->cp);
	free(w->off);
	free(w->cls);
	free(w->sym);
	free(w->next);
	free(w->prev);
	free(w->heap);
	free(w->batch);
	free(w->tmp);
}

int cl_bpe_grow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, n > 0 ? n * size : 1);
	if (!q)
		return -1;
	*p = q;
	return 0;
}

static int work_chars(struct work *w, size_t n)
{
	if (n <= w->cap)
		return 0;
	if (cl_bpe_grow((void **)&w->cp, n, 4) || cl_bpe_grow((void **)&w->off, n + 1, 4) ||
	    cl_bpe_grow((void **)&w->cls, n, 1))
		return -1;
	w->cap = n;
	return 0;
}

static int work_syms(struct work *w, size_t n)
{
	if (n <= w->wcap)
		return 0;
	if (cl_bpe_grow((void **)&w->sym, n, 4) || cl_bpe_grow((void **)&w->next, n, 4) ||
	    cl_bpe_grow((void **)&w->prev, n, 4) || cl_bpe_grow((void **)&w->heap, 3 * n, 8) ||
	    cl_bpe_grow((void **)&w->batch, 3 * n, 8))
		return -1;
	w->wcap = n;
	return 0;
}

static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
	size_t i = (*n)++;
	while (i > 0 && h[(i - 1) / 2] > v) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
	uint64_t top = h[0], v = h[--*n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1] < h[c])
			c++;
		if (h[c] >= v)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n > 0)
		h[i] = v;
	return top;
}

static void push_pair(const struct bpe *b, struct work *w, size_t *nh, int32_t pos)
{
	int32_t nx = w->next[pos];
	if (nx < 0)
		return;
	int32_t r = pair_rank(b, w->sym[pos], w->sym[nx]);
	if (r >= 0)
		heap_push(w->heap, nh, (uint64_t)r << 32 | (uint32_t)pos);
}

/* Merge the m bytes s[0..m) into tokens appended to out[*n...].  All
 * occurrences of the lowest-ranked pair are merged before any other pair, as
 * OpenAI's loop does: a pair made by a merge can rank lower than the pair
 * being merged, and must wait its turn. */
static void bpe_word(const struct bpe *b, struct work *w, const unsigned char *s, size_t m,
		     int32_t *out, size_t *n)
{
	for (size_t i = 0; i < m; i++) {
		w->sym[i] = b->byte_id[s[i]];
		w->prev[i] = (int32_t)i - 1;
		w->next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
	}
	size_t nh = 0;
	for (size_t i = 0; i + 1 < m; i++)
		push_pair(b, w, &nh, (int32_t)i);
	while (nh > 0) {
		uint32_t rank = (uint32_t)(w->heap[0] >> 32);
		size_t nb = 0;
		while (nh > 0 && (uint32_t)(w->heap[0] >> 32) == rank)
			w->batch[nb++] = heap_pop(w->heap, &nh);
		int32_t l = b->mleft[rank], r = b->mright[rank];
		for (size_t k = 0; k < nb; k++) {
			int32_t pos = (int32_t)(uint32_t)w->batch[k], nx;
			/* Stale entries: the symbol was merged away or changed. */
			if (w->sym[pos] != l || (nx = w->next[pos]) < 0 || w->sym[nx] != r)
				continue;
			w->sym[pos] = b->mout[rank];
			w->sym[nx] = -1;
			w->next[pos] = w->next[nx];
			if (w->next[nx] >= 0)
				w->prev[w->next[nx]] = pos;
			/* The new pairs never have this rank: the merged token is
			 * longer than either half, so they are pushed for later. */
			if (w->prev[pos] >= 0)
				push_pair(b, w, &nh, w->prev[pos]);
			push_pair(b, w, &nh, pos);
		}
	}
	for (int32_t i = 0; i >= 0; i = w->next[i])
		out[(*n)++] = w->sym[i];
}

/* The end (in chars) of the piece GPT-2's pattern matches at char i. */
static size_t pretok_end(const uint32_t *cp, const unsigned char *cls, size_t n, size_t i)
{
	if (cp[i] == '\'' && i + 1 < n) {
		uint32_t c1 = cp[i + 1], c2 = i + 2 < n ? cp[i + 2] : 0;
		if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd')
			return i + 2;
		if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l'))
			return i + 3;
	}
	/* ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': the optional space goes
	 * with a following run of any class but whitespace. */
	size_t j = i + (cp[i] == ' ' && i + 1 < n && cls[i + 1] != CL_UNI_S);
	if (cls[j] != CL_UNI_S) {
		unsigned char k = cls[j];
		while (j < n && cls[j] == k)
			j++;
		return j;
	}
	/* '\s+(?!\S)': the whole run at the end of the text; else the run but
	 * its last character, which then starts the next piece (" x" is one),
	 * unless that leaves nothing, where '\s+' takes the one character. */
	while (j < n && cls[j] == CL_UNI_S)
		j++;
	if (j == n || j - i == 1)
		return j;
	return j - 1;
}

/* Encode a stretch without special tokens. */
static enum cl_status encode_plain(const struct cl_tokenizer *t, struct work *w, const char *text,
				   size_t len, int32_t *out, size_t *n)
{
	const struct bpe *b = t->impl;
	if (len == 0)
		return CL_OK;
	if (b->add_prefix_space && text[0] != ' ') {
		if (len + 1 > w->tcap) {
			if (cl_bpe_grow((void **)&w->tmp, len + 1, 1))
				return cl_error(CL_ERR_NOMEM, "bpe: out of memory");
			w->tcap = len + 1;
		}
		w->tmp[0] = ' ';
		memcpy(w->tmp + 1, text, len);
		text = w->tmp;
		len++;
	}
	if (work_chars(w, len))
		return cl_error(CL_ERR_NOMEM, "bpe: out of memory");
	const unsigned char *s = (const unsigned char *)text;
	size_t nc = 0, maxword = 1;
	for (size_t i = 0, l; i < len; i += l, nc++) {
		w->cp[nc] = cl_bpe_utf8_next(s + i, len - i, &l);
		w->off[nc] = (uint32_t)i;
		w->cls[nc] = w->cp[nc] == BAD_CP ? CL_UNI_OTHER : (unsigned char)uni_class(b, w->cp[nc]);
	}
	w->off[nc] = (uint32_t)len;
	for (size_t i = 0, j; i < nc; i = j) {
		j = pretok_end(w->cp, w->cls, nc, i);
		if (w->off[j] - w->off[i] > maxword)
			maxword = w->off[j] - w->off[i];
	}
	if (work_syms(w, maxword))
		return cl_error(CL_ERR_NOMEM, "bpe: out of memory");
	for (size_t i = 0, j; i < nc; i = j) {
		j = pretok_end(w->cp, w->cls, nc, i);
		bpe_word(b, w, s + w->off[i], w->off[j] - w->off[i], out, n);
	}
	return CL_OK;
}

/* The leftmost, then longest, special token in text[0..len): its id and
 * offset, or -1. */
static int32_t find_special(const struct cl_tokenizer *t, const char *text, size_t len, size_t *at)
{
	const struct bpe *b = t->impl;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (!(b->special_first[c >> 3] & 1u << (c & 7)))
			continue;
		int32_t best = -1;
		size_t bestlen = 0;
		for (int32_t k = 0; k < b->n_special; k++) {
			const char *p = t->pieces[b->special[k]];
			size_t pl = strlen(p);
			if (pl > bestlen && pl <= len - i && memcmp(text + i, p, pl) == 0)
				best = b->special[k], bestlen = pl;
		}
		if (best >= 0) {
			*at = i;
			return best;
		}
	}
	return -1;
}

static enum cl_status bpe_encode(const struct cl_tokenizer *t, const char *text, size_t len,
				 unsigned flags, int32_t **ids, size_t *n)
{
	const struct bpe *b = t->impl;
	struct work w = {0};
	enum cl_status st = CL_OK;
	/* At most one token per byte, one per stretch for a prefix space (no
	 * more stretches than bytes + 1), and BOS and EOS. */
	size_t cap = len + 3 + (b->add_prefix_space ? len + 1 : 0);
	int32_t *out;
	*ids = NULL;
	*n = 0;
	if (len > INT32_MAX / 2) /* positions are int32_t, offsets uint32_t */
		return cl_error(CL_ERR_RANGE, "bpe: text of %zu bytes is too long to encode at once", len);
	if (!(out = malloc(cap * sizeof *out)))
		return cl_error(CL_ERR_NOMEM, "bpe: out of memory");
	size_t no = 0;
	if ((flags & CL_ENCODE_BOS) && t->bos >= 0)
		out[no++] = t->bos;
	size_t pos = 0;
	while (pos < len && !st) {
		size_t at = len;
		int32_t sp = -1;
		if ((flags & CL_ENCODE_SPECIAL) && b->n_special > 0)
			sp = find_special(t, text + pos, len - pos, &at);
		if (sp < 0)
			at = len - pos;
		st = encode_plain(t, &w, text + pos, at, out, &no);
		pos += at;
		if (sp >= 0) {
			out[no++] = sp;
			pos += strlen(t->pieces[sp]);
		}
	}
	if ((flags & CL_ENCODE_EOS) && t->eos >= 0)
		out[no++] = t->eos;
	work_free(&w);
	if (st) {
		free(out);
		return st;
	}
	*ids = out;
	*n = no;
	return CL_OK;
}

static int bpe_decode(const struct cl_tokenizer *t, int32_t id, int first, char *buf, size_t cap)
{
	const struct bpe *b = t->impl;
	if (id < 0 || id >= t->n_vocab)
		return -1;
	if (t->control[id])
		return 0;
	size_t n = b->boff[id + 1] - b->boff[id];
	if (n > cap)
		n = cap;
	memcpy(buf, b->bytes + b->boff[id], n);
	return (int)n;
}

void cl_bpe_impl_free(struct bpe *b)
{
	if (!b)
		return;
	free(b->vhash);
	free(b->bytes);
	free(b->boff);
	free(b->mleft);
	free(b->mright);
	free(b->mout);
	free(b->mkey);
	free(b->mrank);
	free(b->special);
	free(b);
}

static void bpe_free(struct cl_tokenizer *t)
{
	cl_bpe_impl_free(t->impl);
	t->impl = NULL;
}

/* -------------------------------------------------------- the backend --- */

void cl_bpe_setup(struct cl_tokenizer *t)
{
	struct bpe *b = t->impl;
	for (int32_t k = 0; k < b->n_special; k++) {
		unsigned char c = (unsigned char)t->pieces[b->special[k]][0];
		b->special_first[c >> 3] |= (unsigned char)(1u << (c & 7));
	}
	/* ASCII's classes by index, so that uni_class searches the ranges only
	 * for the rest; filled here, as only this file includes the table. */
	for (size_t k = 0; k < sizeof cl_uni_ranges / sizeof cl_uni_ranges[0]; k++) {
		uint32_t lo = cl_uni_ranges[k].lo, hi = cl_uni_ranges[k].hi_cls >> 8;
		for (uint32_t c = lo; c <= hi && c < 128; c++)
			b->ascii_cls[c] = (unsigned char)(cl_uni_ranges[k].hi_cls & 0xff);
	}
	t->encode = bpe_encode;
	t->decode = bpe_decode;
	t->free = bpe_free;
}

int cl_tokenizer_is_bpe(const struct cl_tokenizer *t)
{
	return t->encode == bpe_encode;
}

int32_t cl_bpe_n_merges(const struct cl_tokenizer *t)
{
	return ((const struct bpe *)t->impl)->n_merges;
}

void cl_bpe_merge(const struct cl_tokenizer *t, int32_t rank, int32_t *left, int32_t *right)
{
	const struct bpe *b = t->impl;
	*left = b->mleft[rank];
	*right = b->mright[rank];
}

int cl_bpe_is_special(const struct cl_tokenizer *t, int32_t id)
{
	const struct bpe *b = t->impl;
	for (int32_t k = 0; k < b->n_special; k++)
		if (b->special[k] == id)
			return 1;
	return 0;
}
