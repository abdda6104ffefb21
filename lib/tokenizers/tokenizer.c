/*
 * tokenizer.c - one interface over the tokenizer backends (SentencePiece,
 * GPT-2 byte-level BPE), chosen by what the model directory holds; and the
 * UTF-8 streaming that cl-detok needs.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf.h"
#include "tok.h"

static int is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

void cl_tokenizer_free(struct cl_tokenizer *t)
{
	if (!t)
		return;
	if (t->free)
		t->free(t);
	if (t->pieces)
		for (int32_t i = 0; i < t->n_vocab; i++)
			free(t->pieces[i]);
	free(t->pieces);
	free(t->control);
	free(t);
}

enum cl_status cl_tokenizer_load(const char *path, struct cl_tokenizer **out)
{
	char buf[4096];
	enum cl_status st;
	struct cl_tokenizer *t = calloc(1, sizeof *t);
	*out = NULL;
	if (!t)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	t->bos = t->eos = -1;
	int gg = cl_gguf_locate(path, buf, sizeof buf);
	if (gg < 0) {
		st = CL_ERR_FORMAT;
	} else if (gg > 0) {
		struct cl_gguf *g = NULL;
		if (!(st = cl_gguf_open(buf, &g)))
			st = cl_gguf_tokenizer(g, t);
		cl_gguf_free(g);
	} else if (is_dir(path)) {
		snprintf(buf, sizeof buf, "%s/tokenizer.model", path);
		if (is_file(buf)) {
			st = cl_spm_load(buf, t);
		} else {
			char a[4096], b[4096];
			snprintf(a, sizeof a, "%s/tokenizer.json", path);
			snprintf(b, sizeof b, "%s/vocab.json", path);
			if (is_file(a) || is_file(b))
				st = cl_bpe_load(path, t);
			else
				st = cl_error(CL_ERR_IO, "%s: no tokenizer here (tokenizer.model, tokenizer.json, "
					      "or vocab.json with merges.txt)", path);
		}
	} else if (!is_file(path)) {
		st = cl_error(CL_ERR_IO, "%s: no such file or directory", path);
	} else if (ends_with(path, ".json")) {
		st = cl_bpe_load(path, t);
	} else {
		st = cl_spm_load(path, t);
	}
	if (st) {
		cl_tokenizer_free(t);
		return st;
	}
	uint64_t h = CL_FNV_INIT;
	for (int32_t i = 0; i < t->n_vocab; i++)
		h = cl_fnv1a(h, t->pieces[i], strlen(t->pieces[i]) + 1);
	snprintf(t->fingerprint, sizeof t->fingerprint, "%016llx", (unsigned long long)h);
	*out = t;
	return CL_OK;
}

int32_t cl_tokenizer_n_vocab(const struct cl_tokenizer *t) { return t->n_vocab; }
int32_t cl_tokenizer_bos(const struct cl_tokenizer *t) { return t->bos; }
int32_t cl_tokenizer_eos(const struct cl_tokenizer *t) { return t->eos; }
int cl_tokenizer_add_bos(const struct cl_tokenizer *t) { return t->add_bos && t->bos >= 0; }
const char *cl_tokenizer_fingerprint(const struct cl_tokenizer *t) { return t->fingerprint; }

const char *cl_tokenizer_piece(const struct cl_tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab ? t->pieces[id] : NULL;
}

int cl_tokenizer_still_first(const struct cl_tokenizer *t, int32_t id, int first, int n)
{
	return first && (cl_tokenizer_is_control(t, id) || (t->ws_runs_first && n == 0));
}

int cl_tokenizer_is_control(const struct cl_tokenizer *t, int32_t id)
{
	return id >= 0 && id < t->n_vocab && t->control[id];
}

static int seq_len(unsigned char c);
static int cont_ok(unsigned char c, int k, unsigned char b);

/* Text that is not UTF-8 is refused where the tokenizer would change it:
 * SentencePiece reads each bad byte as U+FFFD.  Byte-level BPE keeps every
 * byte, so there it round-trips. */
enum cl_status cl_tokenizer_encode(const struct cl_tokenizer *t, const char *text, size_t len,
				   unsigned flags, int32_t **ids, size_t *n)
{
	size_t bad = t->utf8_only ? cl_utf8_check(text, len) : len;
	if (bad < len)
		return cl_error(CL_ERR_FORMAT, "invalid UTF-8 at byte %zu of the text (byte 0x%02x)", bad,
				(unsigned char)text[bad]);
	return t->encode(t, text, len, flags, ids, n);
}

int cl_tokenizer_decode(const struct cl_tokenizer *t, int32_t id, int first, char *buf, size_t cap)
{
	return t->decode(t, id, first, buf, cap);
}

/* ------------------------------------------------------------- UTF-8 --- */

/* Length of the UTF-8 sequence that lead byte c starts; 0 for a byte that
 * cannot start one. */
static int seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return 2;
	if (c >= 0xe0 && c <= 0xef)
		return 3;
	if (c >= 0xf0 && c <= 0xf4)
		return 4;
	return 0;
}

/* Whether b is a valid k-th (k >= 1) byte after lead byte c. */
static int cont_ok(unsigned char c, int k, unsigned char b)
{
	if ((b & 0xc0) != 0x80)
		return 0;
	if (k == 1) {
		if (c == 0xe0 && b < 0xa0) return 0; /* overlong */
		if (c == 0xed && b > 0x9f) return 0; /* surrogates */
		if (c == 0xf0 && b < 0x90) return 0; /* overlong */
		if (c == 0xf4 && b > 0x8f) return 0; /* beyond U+10FFFF */
	}
	return 1;
}

size_t cl_utf8_check(const char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		int l = seq_len(c);
		if (l == 0 || i + (size_t)l > n)
			return i;
		for (int k = 1; k < l; k++)
			if (!cont_ok(c, k, (unsigned char)s[i + (size_t)k]))
				return i;
		i += (size_t)l;
	}
	return n;
}

static const char replacement[3] = {'\xef', '\xbf', '\xbd'};

size_t cl_utf8_push(struct cl_utf8 *u, const char *in, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char b = (unsigned char)in[i];
		if (u->npend > 0) {
			if (cont_ok(u->pend[0], u->npend, b)) {
				u->pend[u->npend++] = b;
				if (u->npend == seq_len(u->pend[0])) {
					memcpy(out + o, u->pend, (size_t)u->npend);
					o += (size_t)u->npend;
					u->npend = 0;
				}
				continue;
			}
			/* The pending sequence is broken: one U+FFFD for it, then b afresh. */
			memcpy(out + o, replacement, 3);
			o += 3;
			u->npend = 0;
		}
		int l = seq_len(b);
		if (l == 1) {
			out[o++] = (char)b;
		} else if (l == 0) {
			memcpy(out + o, replacement, 3);
			o += 3;
		} else {
			u->pend[0] = b;
			u->npend = 1;
		}
	}
	return o;
}

size_t cl_utf8_finish(struct cl_utf8 *u, char *out)
{
	if (u->npend == 0)
		return 0;
	u->npend = 0;
	memcpy(out, replacement, 3);
	return 3;
}
