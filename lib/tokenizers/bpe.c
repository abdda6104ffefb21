/*
 * bpe.c - GPT-2's byte-level BPE tokenizer (GPT-2, Cerebras-GPT), read from
 * vocab.json + merges.txt or from a Hugging Face tokenizer.json.
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
 * (bytes_to_unicode), which only matters when reading the files.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "gguf.h"
#include "tok.h"
#include "unicode_tab.h"

#define MAX_VOCAB (1 << 24) /* ids beyond this are a broken file, not a big vocabulary */
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

/* -------------------------------------------------- bytes_to_unicode --- */

/* GPT-2 spells byte b as U+00b when b is printable Latin-1 (other than the
 * space and soft hyphen), and the other 68 bytes, in order, as U+0100... */
static int byte_printable(int b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

static uint32_t byte_to_cp(int b)
{
	if (byte_printable(b))
		return (uint32_t)b;
	uint32_t n = 0;
	for (int i = 0; i < b; i++)
		n += !byte_printable(i);
	return 256 + n;
}

/* The byte code point cp spells, or -1 when it spells none. */
static int cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return byte_printable((int)cp) ? (int)cp : -1;
	if (cp >= 256 + 68)
		return -1;
	uint32_t n = 0;
	for (int b = 0; b < 256; b++)
		if (!byte_printable(b) && n++ == cp - 256)
			return b;
	return -1;
}

/* ------------------------------------------------------------- UTF-8 --- */

/* The code point at s[0..n), n > 0, and its length in *len; an invalid
 * sequence gives BAD_CP for its first byte alone. */
static uint32_t utf8_next(const unsigned char *s, size_t n, size_t *len)
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

static uint32_t hash_bytes(const char *s, size_t n)
{
	uint64_t h = cl_fnv1a(CL_FNV_INIT, s, n);
	return (uint32_t)(h ^ h >> 32);
}

static uint32_t hash_pair(uint64_t key)
{
	key *= 0x9e3779b97f4a7c15ULL;
	return (uint32_t)(key >> 32);
}

static uint32_t table_size(size_t n)
{
	uint32_t size = 16;
	while (size < 2 * n)
		size *= 2;
	return size;
}

static int32_t vocab_find(const struct cl_tokenizer *t, const char *s, size_t n)
{
	const struct bpe *b = t->impl;
	for (uint32_t h = hash_bytes(s, n) & b->vmask;; h = (h + 1) & b->vmask) {
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
	for (uint32_t h = hash_pair(key) & b->mmask;; h = (h + 1) & b->mmask) {
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

static int grow(void **p, size_t n, size_t size)
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
	if (grow((void **)&w->cp, n, 4) || grow((void **)&w->off, n + 1, 4) ||
	    grow((void **)&w->cls, n, 1))
		return -1;
	w->cap = n;
	return 0;
}

static int work_syms(struct work *w, size_t n)
{
	if (n <= w->wcap)
		return 0;
	if (grow((void **)&w->sym, n, 4) || grow((void **)&w->next, n, 4) ||
	    grow((void **)&w->prev, n, 4) || grow((void **)&w->heap, 3 * n, 8) ||
	    grow((void **)&w->batch, 3 * n, 8))
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
			if (grow((void **)&w->tmp, len + 1, 1))
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
		w->cp[nc] = utf8_next(s + i, len - i, &l);
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

static void impl_free(struct bpe *b)
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
	impl_free(t->impl);
	t->impl = NULL;
}

/* ------------------------------------------------------------ loading --- */

/* What the files give, before the tables are built. */
struct load {
	const char *path;       /* the file being read, for messages */
	struct cl_tokenizer *t;
	struct bpe *b;
	char *cat;              /* (catcap) scratch for merged strings */
	size_t catcap;
	int32_t merges_cap;
	const char *vocab_what; /* where the vocabulary is in the file, for messages */
};

static enum cl_status read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (!f)
		return cl_error(CL_ERR_IO, "%s:", path);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (!buf) {
		fclose(f);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return cl_error(CL_ERR_IO, "%s: read error", path);
	}
	fclose(f);
	*out = buf;
	*len = n;
	return CL_OK;
}

static enum cl_status parse_json(const char *path, cJSON **root)
{
	char *text;
	size_t len;
	enum cl_status st = read_all(path, &text, &len);
	if (st)
		return st;
	const char *end = NULL;
	*root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!*root) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		st = len == 0 ? cl_error(CL_ERR_FORMAT, "%s: empty file", path)
			      : cl_error(CL_ERR_FORMAT, "%s: not valid JSON (at byte %zu of %zu)", path,
					 at, len);
	}
	free(text);
	return st;
}

static enum cl_status id_of(const char *path, const char *what, const cJSON *v, int32_t *id)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MAX_VOCAB ||
	    v->valuedouble != (double)(int32_t)v->valuedouble)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected a token id (an integer from 0 to %d)",
				path, what, MAX_VOCAB - 1);
	*id = (int32_t)v->valuedouble;
	return CL_OK;
}

/* Set piece `id` to s; a second, different text for one id is an error. */
static enum cl_status set_piece(struct load *L, int32_t id, const char *s)
{
	char **p = &L->t->pieces[id];
	if (*p)
		return strcmp(*p, s) == 0 ? CL_OK
					  : cl_error(CL_ERR_FORMAT, "%s: id %d is both \"%s\" and \"%s\"",
						     L->path, id, *p, s);
	if (!(*p = strdup(s)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	return CL_OK;
}

/* Size the vocabulary from `vocab` (piece -> id) and the added tokens, and
 * fill the pieces. */
static enum cl_status load_vocab(struct load *L, const cJSON *vocab, const cJSON *added)
{
	struct cl_tokenizer *t = L->t;
	int32_t max = -1, id;
	enum cl_status st;
	if (!cJSON_IsObject(vocab))
		return cl_error(CL_ERR_FORMAT, "%s: expected an object of token -> id", L->path);
	for (const cJSON *e = vocab->child; e; e = e->next) {
		char what[128];
		snprintf(what, sizeof what, "%s\"%.64s\"", L->vocab_what, e->string);
		if ((st = id_of(L->path, what, e, &id)))
			return st;
		max = id > max ? id : max;
	}
	for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
		if ((st = id_of(L->path, "added_tokens: id", cJSON_GetObjectItemCaseSensitive(e, "id"), &id)))
			return st;
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
			return cl_error(CL_ERR_FORMAT, "%s: added_tokens: content: expected a string", L->path);
		max = id > max ? id : max;
	}
	if (max < 0)
		return cl_error(CL_ERR_FORMAT, "%s: the vocabulary is empty", L->path);
	/* Ids run from 0 without gaps: a bad id must not size the tables. */
	int count = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
	if (max >= count)
		return cl_error(CL_ERR_FORMAT, "%s: ids run to %d but there are only %d tokens", L->path,
				max, count);
	t->n_vocab = max + 1;
	t->pieces = calloc((size_t)t->n_vocab, sizeof *t->pieces);
	t->control = calloc((size_t)t->n_vocab, 1);
	if (!t->pieces || !t->control)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	for (const cJSON *e = vocab->child; e; e = e->next)
		if ((st = set_piece(L, (int32_t)e->valuedouble, e->string)))
			return st;
	int n_added = cJSON_GetArraySize(added);
	if (n_added > 0 && !(L->b->special = malloc((size_t)n_added * sizeof *L->b->special)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
		const char *s = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
		id = (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
		if ((st = set_piece(L, id, s)))
			return st;
		t->control[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
		if (s[0])
			L->b->special[L->b->n_special++] = id;
	}
	for (id = 0; id < t->n_vocab; id++)
		if (!t->pieces[id])
			return cl_error(CL_ERR_FORMAT, "%s: no token has id %d (ids run to %d)", L->path,
					id, max);
	return CL_OK;
}

/* The piece -> id hash, the bytes of each token, and the token of each byte. */
static enum cl_status build_tables(struct load *L)
{
	struct cl_tokenizer *t = L->t;
	struct bpe *b = L->b;
	size_t total = 0;
	b->vmask = table_size((size_t)t->n_vocab) - 1;
	b->vhash = malloc(((size_t)b->vmask + 1) * sizeof *b->vhash);
	b->boff = malloc(((size_t)t->n_vocab + 1) * sizeof *b->boff);
	for (int32_t id = 0; id < t->n_vocab; id++)
		total += strlen(t->pieces[id]);
	b->bytes = malloc(total ? total : 1);
	if (!b->vhash || !b->boff || !b->bytes || total > UINT32_MAX)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	memset(b->vhash, 0xff, ((size_t)b->vmask + 1) * sizeof *b->vhash);
	size_t o = 0;
	for (int32_t id = 0; id < t->n_vocab; id++) {
		const char *p = t->pieces[id];
		size_t n = strlen(p);
		uint32_t h = hash_bytes(p, n) & b->vmask;
		while (b->vhash[h] >= 0 && strcmp(t->pieces[b->vhash[h]], p) != 0)
			h = (h + 1) & b->vmask;
		if (b->vhash[h] >= 0)
			return cl_error(CL_ERR_FORMAT, "%s: \"%s\" has two ids, %d and %d", L->path, p,
					b->vhash[h], id);
		b->vhash[h] = id;
		/* Byte-level spelling back to bytes; a piece that is not one (an
		 * added token such as "<|im_start|>") stands for its own text. */
		b->boff[id] = (uint32_t)o;
		size_t i, l, o0 = o;
		for (i = 0; i < n; i += l) {
			uint32_t cp = utf8_next((const unsigned char *)p + i, n - i, &l);
			int byte = cp == BAD_CP ? -1 : cp_to_byte(cp);
			if (byte < 0)
				break;
			b->bytes[o++] = (char)byte;
		}
		if (i < n) {
			memcpy(b->bytes + o0, p, n);
			o = o0 + n;
		}
	}
	b->boff[t->n_vocab] = (uint32_t)o;
	for (int c = 0; c < 256; c++) {
		char s[4];
		uint32_t cp = byte_to_cp(c);
		size_t n = cp < 0x80 ? (s[0] = (char)cp, 1)
				     : (s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), 2);
		if ((b->byte_id[c] = vocab_find(t, s, n)) < 0)
			return cl_error(CL_ERR_FORMAT, "%s: the vocabulary has no token for byte 0x%02x "
					"(\"%.*s\")", L->path, c, (int)n, s);
	}
	for (size_t k = 0; k < sizeof cl_uni_ranges / sizeof cl_uni_ranges[0]; k++) {
		uint32_t lo = cl_uni_ranges[k].lo, hi = cl_uni_ranges[k].hi_cls >> 8;
		for (uint32_t c = lo; c <= hi && c < 128; c++)
			b->ascii_cls[c] = (unsigned char)(cl_uni_ranges[k].hi_cls & 0xff);
	}
	return CL_OK;
}

static enum cl_status merges_alloc(struct load *L, size_t n)
{
	struct bpe *b = L->b;
	if (n > INT32_MAX / 4)
		return cl_error(CL_ERR_FORMAT, "%s: too many merges (%zu)", L->path, n);
	b->mmask = table_size(n) - 1;
	b->mleft = malloc((n ? n : 1) * sizeof *b->mleft);
	b->mright = malloc((n ? n : 1) * sizeof *b->mright);
	b->mout = malloc((n ? n : 1) * sizeof *b->mout);
	b->mkey = malloc(((size_t)b->mmask + 1) * sizeof *b->mkey);
	b->mrank = malloc(((size_t)b->mmask + 1) * sizeof *b->mrank);
	if (!b->mleft || !b->mright || !b->mout || !b->mkey || !b->mrank)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	memset(b->mkey, 0xff, ((size_t)b->mmask + 1) * sizeof *b->mkey);
	L->merges_cap = (int32_t)n;
	return CL_OK;
}

/* Add the merge of pieces l and r (lengths ll, rl) as the next rank; `where`
 * names the line or entry for messages. */
static enum cl_status merge_add(struct load *L, const char *l, size_t ll, const char *r, size_t rl,
				const char *where)
{
	struct cl_tokenizer *t = L->t;
	struct bpe *b = L->b;
	if (ll + rl + 1 > L->catcap) {
		if (grow((void **)&L->cat, ll + rl + 1, 1))
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
		L->catcap = ll + rl + 1;
	}
	memcpy(L->cat, l, ll);
	memcpy(L->cat + ll, r, rl);
	int32_t a = vocab_find(t, l, ll), c = vocab_find(t, r, rl), m = vocab_find(t, L->cat, ll + rl);
	if (a < 0 || c < 0 || m < 0)
		return cl_error(CL_ERR_FORMAT, "%s: %s: \"%.*s\" is not in the vocabulary", L->path, where,
				a < 0 ? (int)ll : c < 0 ? (int)rl : (int)(ll + rl),
				a < 0 ? l : c < 0 ? r : L->cat);
	if (b->n_merges >= L->merges_cap)
		return cl_error(CL_ERR_FORMAT, "%s: %s: more merges than counted", L->path, where);
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)c;
	uint32_t h = hash_pair(key) & b->mmask;
	while (b->mkey[h] != UINT64_MAX && b->mkey[h] != key)
		h = (h + 1) & b->mmask;
	if (b->mkey[h] == key)
		return CL_OK; /* a repeated merge keeps its first (lowest) rank */
	int32_t rank = b->n_merges++;
	b->mkey[h] = key;
	b->mrank[h] = rank;
	b->mleft[rank] = a;
	b->mright[rank] = c;
	b->mout[rank] = m;
	return CL_OK;
}

/* merges.txt: "#version" lines, then "A B" per line, rank by line order. */
static enum cl_status load_merges_txt(struct load *L, const char *path)
{
	char *text, where[64];
	size_t len;
	enum cl_status st = read_all(path, &text, &len);
	if (st)
		return st;
	L->path = path;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if ((st = merges_alloc(L, lines)))
		goto out;
	size_t lineno = 0;
	for (size_t i = 0; i < len;) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		i += n + 1;
		lineno++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0 || (n >= 8 && memcmp(s, "#version", 8) == 0))
			continue;
		const char *sp = memchr(s, ' ', n);
		snprintf(where, sizeof where, "line %zu", lineno);
		if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1))) {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected two tokens separated by one space",
				      path, where);
			goto out;
		}
		if (memchr(s, '\0', n)) {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: a NUL byte", path, where);
			goto out;
		}
		if ((st = merge_add(L, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), where)))
			goto out;
	}
out:
	free(text);
	return st;
}

/* tokenizer.json model.merges: "A B" strings or ["A", "B"] pairs. */
static enum cl_status load_merges_json(struct load *L, const cJSON *merges)
{
	char where[64];
	enum cl_status st;
	if (merges && !cJSON_IsArray(merges))
		return cl_error(CL_ERR_FORMAT, "%s: model.merges: expected an array", L->path);
	if ((st = merges_alloc(L, (size_t)cJSON_GetArraySize(merges))))
		return st;
	size_t k = 0;
	for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next, k++) {
		snprintf(where, sizeof where, "model.merges[%zu]", k);
		const char *l, *r, *sp;
		if (cJSON_IsString(e) && (sp = strchr(e->valuestring, ' ')) && sp != e->valuestring &&
		    sp[1] && !strchr(sp + 1, ' ')) {
			l = e->valuestring;
			r = sp + 1;
			st = merge_add(L, l, (size_t)(sp - l), r, strlen(r), where);
		} else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
			   cJSON_IsString(e->child->next)) {
			l = e->child->valuestring;
			r = e->child->next->valuestring;
			st = merge_add(L, l, strlen(l), r, strlen(r), where);
		} else {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected \"A B\" or [\"A\", \"B\"]", L->path,
				      where);
		}
		if (st)
			return st;
	}
	return CL_OK;
}

static int nonempty_string(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0];
}

/* Refuse what this backend would get silently wrong. */
static enum cl_status check_json_options(struct load *L, const cJSON *root, const cJSON *model)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
	if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "BPE") == 0))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model.type: only \"BPE\" is supported", L->path);
	if (nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
	    nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model: subword prefixes and suffixes are not "
				"supported", L->path);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model.ignore_merges: not supported", L->path);
	const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
	if (norm && !cJSON_IsNull(norm))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: normalizer: not supported (GPT-2 has none)",
				L->path);
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pre, "type");
	if (!cJSON_IsString(ptype) || strcmp(ptype->valuestring, "ByteLevel") != 0 ||
	    cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "use_regex")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: pre_tokenizer: only GPT-2's ByteLevel "
				"pre-tokenizer is supported", L->path);
	L->b->add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space"));
	return CL_OK;
}

static enum cl_status load_tokenizer_json(struct load *L, const char *path)
{
	cJSON *root;
	enum cl_status st;
	L->path = path;
	L->vocab_what = "model.vocab: ";
	if ((st = parse_json(path, &root)))
		return st;
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
	const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	if (!cJSON_IsObject(model)) {
		st = cl_error(CL_ERR_FORMAT, "%s: model: expected an object", path);
		goto out;
	}
	if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
		st = cl_error(CL_ERR_FORMAT, "%s: added_tokens: expected an array", path);
		goto out;
	}
	if ((st = check_json_options(L, root, model)))
		goto out;
	if (!cJSON_IsObject(vocab)) {
		st = cl_error(CL_ERR_FORMAT, "%s: model.vocab: expected an object", path);
		goto out;
	}
	if (!(st = load_vocab(L, vocab, cJSON_IsArray(added) ? added : NULL)) && !(st = build_tables(L)))
		st = load_merges_json(L, cJSON_GetObjectItemCaseSensitive(model, "merges"));
out:
	cJSON_Delete(root);
	return st;
}

static enum cl_status load_vocab_merges(struct load *L, const char *vocab_path, const char *merges_path)
{
	cJSON *root;
	enum cl_status st;
	L->path = vocab_path;
	if ((st = parse_json(vocab_path, &root)))
		return st;
	st = load_vocab(L, root, NULL);
	cJSON_Delete(root);
	if (st || (st = build_tables(L)))
		return st;
	/* Hugging Face's GPT2Tokenizer: <|endoftext|> is the one special token. */
	int32_t eot = vocab_find(L->t, "<|endoftext|>", 13);
	if (eot >= 0) {
		if (!(L->b->special = malloc(sizeof *L->b->special)))
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", vocab_path);
		L->b->special[L->b->n_special++] = eot;
		L->t->control[eot] = 1;
	}
	return load_merges_txt(L, merges_path);
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* The end of loading either way: on failure undo it all, else the tables
 * that encoding needs and the backend's functions. */
static enum cl_status finish(struct load *L, enum cl_status st)
{
	struct cl_tokenizer *t = L->t;
	free(L->cat);
	if (st) {
		if (t->pieces)
			for (int32_t i = 0; i < t->n_vocab; i++)
				free(t->pieces[i]);
		free(t->pieces);
		free(t->control);
		impl_free(L->b);
		t->pieces = NULL;
		t->control = NULL;
		t->impl = NULL;
		t->n_vocab = 0;
		return st;
	}
	for (int32_t k = 0; k < L->b->n_special; k++) {
		unsigned char c = (unsigned char)t->pieces[L->b->special[k]][0];
		L->b->special_first[c >> 3] |= (unsigned char)(1u << (c & 7));
	}
	t->bos = t->eos = vocab_find(t, "<|endoftext|>", 13);
	t->encode = bpe_encode;
	t->decode = bpe_decode;
	t->free = bpe_free;
	return CL_OK;
}

enum cl_status cl_bpe_load(const char *dir, struct cl_tokenizer *t)
{
	char a[4096], m[4096];
	enum cl_status st;
	struct load L = {.path = dir, .t = t, .vocab_what = ""};
	if (!(L.b = calloc(1, sizeof *L.b)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
	t->impl = L.b;
	t->pieces = NULL;
	t->control = NULL;
	t->n_vocab = 0;
	if (is_dir(dir)) {
		snprintf(a, sizeof a, "%s/tokenizer.json", dir);
		if (file_exists(a)) {
			st = load_tokenizer_json(&L, a);
		} else {
			snprintf(a, sizeof a, "%s/vocab.json", dir);
			snprintf(m, sizeof m, "%s/merges.txt", dir);
			st = load_vocab_merges(&L, a, m);
		}
	} else {
		/* A file: vocab.json (merges.txt beside it) or a tokenizer.json. */
		size_t n = strlen(dir);
		if (n >= 10 && strcmp(dir + n - 10, "vocab.json") == 0) {
			const char *slash = strrchr(dir, '/');
			int dl = slash ? (int)(slash - dir + 1) : 0;
			snprintf(m, sizeof m, "%.*smerges.txt", dl, dir);
			st = load_vocab_merges(&L, dir, m);
		} else {
			st = load_tokenizer_json(&L, dir);
		}
	}
	return finish(&L, st);
}

/* A GGUF file's tokenizer.ggml.tokens, token_type and merges ("A B" strings,
 * by rank), as llama.cpp's converter writes GPT-2's vocab.json and
 * merges.txt; CONTROL (3) and USER_DEFINED (4) tokens are the added ones. */
static enum cl_status load_gguf(struct load *L, const struct cl_gguf *g)
{
	struct cl_tokenizer *t = L->t;
	const struct cl_gguf_kv *tokens, *types, *merges;
	struct cl_gguf_str *s = NULL;
	enum cl_status st;
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.tokens", 1, CL_GGUF_STRING, -1, &tokens)))
		return st;
	if (tokens->n < 1 || tokens->n > MAX_VOCAB)
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.tokens: %llu tokens (1 to %d)", L->path,
				(unsigned long long)tokens->n, MAX_VOCAB);
	int32_t n = (int32_t)tokens->n;
	types = cl_gguf_find(g, "tokenizer.ggml.token_type");
	if (types && (types->type != CL_GGUF_ARRAY || types->n != (uint64_t)n ||
		      (types->arr_type != CL_GGUF_I32 && types->arr_type != CL_GGUF_U32)))
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.token_type: expected %d integers (one per token)",
				L->path, n);
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.merges", 1, CL_GGUF_STRING, -1, &merges)) ||
	    (st = cl_gguf_arr_str(g, tokens, &s)))
		return st;
	t->n_vocab = n;
	t->pieces = calloc((size_t)n, sizeof *t->pieces);
	t->control = calloc((size_t)n, 1);
	L->b->special = malloc((size_t)n * sizeof *L->b->special);
	if (!t->pieces || !t->control || !L->b->special) {
		free(s);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	}
	for (int32_t i = 0; i < n; i++) {
		if (memchr(s[i].p, 0, (size_t)s[i].n) || !(t->pieces[i] = strndup(s[i].p, (size_t)s[i].n))) {
			free(s);
			return t->pieces[i] ? cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path)
					    : cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%d]: a NUL byte", L->path, i);
		}
		int64_t type = types ? cl_gguf_arr_int(types, (uint64_t)i) : 1;
		if ((type == 3 || type == 4) && s[i].n) {
			t->control[i] = type == 3;
			L->b->special[L->b->n_special++] = i;
		}
	}
	free(s);
	s = NULL;
	if ((st = build_tables(L)) || (st = cl_gguf_arr_str(g, merges, &s)))
		return st;
	if ((st = merges_alloc(L, (size_t)merges->n))) {
		free(s);
		return st;
	}
	char where[64];
	for (uint64_t k = 0; k < merges->n && !st; k++) {
		const char *a = s[k].p, *sp = memchr(a, ' ', (size_t)s[k].n);
		size_t len = (size_t)s[k].n;
		snprintf(where, sizeof where, "tokenizer.ggml.merges[%llu]", (unsigned long long)k);
		if (!sp || sp == a || sp + 1 == a + len || memchr(sp + 1, ' ', (size_t)(a + len - sp - 1)) ||
		    memchr(a, 0, len))
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected two tokens separated by one space", L->path,
				      where);
		else
			st = merge_add(L, a, (size_t)(sp - a), sp + 1, (size_t)(a + len - sp - 1), where);
	}
	free(s);
	return st;
}

enum cl_status cl_bpe_load_gguf(const struct cl_gguf *g, struct cl_tokenizer *t)
{
	struct load L = {.path = cl_gguf_path(g), .t = t, .vocab_what = "tokenizer.ggml.tokens: "};
	if (!(L.b = calloc(1, sizeof *L.b)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L.path);
	t->impl = L.b;
	t->pieces = NULL;
	t->control = NULL;
	t->n_vocab = 0;
	return finish(&L, load_gguf(&L, g));
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
