/*
 * fuzz-bpe.c - libFuzzer target for the GPT-2 byte-level BPE tokenizer.
 *
 * The first byte picks what the rest is:
 *   even: text, encoded with a small made-up vocabulary; decoding the ids must
 *         give back the text byte for byte (byte-level BPE loses nothing);
 *   odd:  a tokenizer.json, which must load or fail with a message, and when
 *         it loads must encode a fixed text.
 * Links lib/tokenizers/bpe.c and bpe_load.c, lib/formats/gguf.c (bpe_load.c
 * reads GGUF vocabularies too) and lib/util.c only (cl_bpe_load, not the
 * dispatcher).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tok.h"

static struct cl_tokenizer tok;
static char dir[64];

/* GPT-2's spelling of byte c, as UTF-8 in out; returns its length. */
static int spell(int c, char *out)
{
	int ok = (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || c >= 0xae;
	unsigned cp = (unsigned)c;
	if (!ok) {
		cp = 256;
		for (int i = 0; i < c; i++)
			cp += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || i >= 0xae);
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

/* A JSON string of a byte-level spelling: only '"' and '\\' need escapes. */
static void put_json(FILE *f, const char *s, int n)
{
	fputc('"', f);
	for (int i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

static void cleanup(void)
{
	char path[128];
	static const char *names[] = {"vocab.json", "merges.txt", "tokenizer.json"};
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		unlink(path);
	}
	rmdir(dir);
}

/* The 256 bytes, every pair of a few characters, their pairs of pairs, and
 * <|endoftext|>: enough merges that rank order and stale pairs matter. */
static void make_vocab(void)
{
	static const char chars[] = " ae1!'s\n\xc3\xa9";
	char path[128], s[8], t[8];
	int nc = (int)strlen(chars), id = 256;
	snprintf(dir, sizeof dir, "/tmp/cl-fuzz-bpe.%d", (int)getpid());
	mkdir(dir, 0755);
	atexit(cleanup);
	snprintf(path, sizeof path, "%s/vocab.json", dir);
	FILE *v = fopen(path, "w");
	snprintf(path, sizeof path, "%s/merges.txt", dir);
	FILE *m = fopen(path, "w");
	if (!v || !m)
		abort();
	fputc('{', v);
	for (int c = 0; c < 256; c++) {
		put_json(v, s, spell(c, s));
		fprintf(v, ": %d, ", c);
	}
	fprintf(m, "#version: 0.2\n");
	for (int i = nc - 1; i >= 0; i--)
		for (int j = 0; j < nc; j++) {
			int a = spell((unsigned char)chars[i], s), b = spell((unsigned char)chars[j], s + a);
			fprintf(m, "%.*s %.*s\n", a, s, b, s + a);
			put_json(v, s, a + b);
			fprintf(v, ": %d, ", id++);
			if ((i + j) % 3 == 0) { /* a longer token from this pair and the next char */
				int k = spell((unsigned char)chars[(i + j) % nc], t);
				fprintf(m, "%.*s %.*s\n", a + b, s, k, t);
				memcpy(s + a + b, t, (size_t)k);
				put_json(v, s, a + b + k);
				fprintf(v, ": %d, ", id++);
			}
		}
	fprintf(v, "\"<|endoftext|>\": %d}", id);
	if (fclose(v) || fclose(m))
		abort();
	tok.bos = tok.eos = -1;
	if (cl_bpe_load(dir, &tok)) {
		fprintf(stderr, "fuzz-bpe: %s\n", cl_errmsg());
		abort();
	}
}

static void free_tok(struct cl_tokenizer *t)
{
	t->free(t);
	for (int32_t i = 0; i < t->n_vocab; i++)
		free(t->pieces[i]);
	free(t->pieces);
	free(t->control);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!tok.encode)
		make_vocab();
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] % 2 == 0) {
		int32_t *ids;
		size_t n;
		if (tok.encode(&tok, text, len, data[0] & 2 ? CL_ENCODE_SPECIAL : 0, &ids, &n))
			abort();
		char *out = malloc(n * 64 + 1);
		size_t o = 0;
		for (size_t i = 0; i < n; i++) {
			int k = tok.decode(&tok, ids[i], i == 0, out + o, 64);
			if (k < 0)
				abort();
			o += (size_t)k;
		}
		/* Control tokens decode to nothing, so only plain text round trips. */
		if (!(data[0] & 2) && (o != len || memcmp(out, text, len) != 0))
			abort();
		free(out);
		free(ids);
		return 0;
	}
	char path[128];
	snprintf(path, sizeof path, "%s/tokenizer.json", dir);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(text, 1, len, f) != len || fclose(f))
		abort();
	struct cl_tokenizer t = {.bos = -1, .eos = -1};
	if (cl_bpe_load(path, &t) == CL_OK) {
		int32_t *ids;
		size_t n;
		if (t.encode(&t, "Hello world 's <|endoftext|> \xff", 30, CL_ENCODE_SPECIAL, &ids, &n) == CL_OK)
			free(ids);
		free_tok(&t);
	} else if (t.pieces || t.impl) {
		abort(); /* a failed load leaves nothing behind */
	}
	return 0;
}
