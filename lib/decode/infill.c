/*
 * infill.c - Code Llama's fill-in-the-middle prompts (see infill.h).
 */
#include <stdlib.h>
#include <string.h>

#include "infill.h"

static int32_t find(const struct cl_tokenizer *tk, const char *piece)
{
	for (int32_t i = cl_tokenizer_n_vocab(tk); i-- > 0;) {
		const char *p = cl_tokenizer_piece(tk, i);
		if (p && strcmp(p, piece) == 0)
			return i;
	}
	return -1;
}

enum cl_status cl_fim_find(const struct cl_tokenizer *tk, struct cl_fim *out)
{
	out->pre = find(tk, "\xe2\x96\x81<PRE>");
	out->suf = find(tk, "\xe2\x96\x81<SUF>");
	out->mid = find(tk, "\xe2\x96\x81<MID>");
	out->eot = find(tk, "\xe2\x96\x81<EOT>");
	if (out->pre < 0 || out->suf < 0 || out->mid < 0 || out->eot < 0)
		return cl_error(CL_ERR_FORMAT, "this model's tokenizer has no fill-in-the-middle tokens "
				"(\xe2\x96\x81<PRE>, \xe2\x96\x81<SUF>, \xe2\x96\x81<MID>, \xe2\x96\x81<EOT>, as Code Llama's)");
	return CL_OK;
}

/* Append src[from..n) to *dst. */
static enum cl_status append(int32_t **dst, size_t *dn, size_t *cap, const int32_t *src, size_t from, size_t n)
{
	if (from > n)
		from = n;
	if (*dn + (n - from) + 1 > *cap) {
		size_t c = (*dn + (n - from) + 1) * 2;
		int32_t *d = realloc(*dst, c * sizeof *d);
		if (!d)
			return cl_error(CL_ERR_NOMEM, "out of memory");
		*dst = d;
		*cap = c;
	}
	memcpy(*dst + *dn, src + from, (n - from) * sizeof *src);
	*dn += n - from;
	return CL_OK;
}

enum cl_status cl_fim_prompt(const struct cl_tokenizer *tk, const struct cl_fim *f, const char *prefix,
			     const char *suffix, int32_t **ids, size_t *n)
{
	int32_t *p = NULL, *s = NULL, *mark = NULL, *out = NULL;
	size_t np = 0, ns = 0, nm = 0, no = 0, cap = 0;
	/* The suffix without the leading space: encoded after a sentinel
	 * whose own tokens are then dropped, as Code Llama's
	 * encode_infilling does with "☺". */
	const char *sentinel = "\xe2\x98\xba";
	size_t sl = strlen(suffix);
	char *ss = malloc(sl + 4);
	enum cl_status st = ss ? CL_OK : cl_error(CL_ERR_NOMEM, "out of memory");
	if (!st) {
		memcpy(ss, sentinel, 3);
		memcpy(ss + 3, suffix, sl + 1);
	}
	int32_t head[2] = {cl_tokenizer_bos(tk), f->pre}, sep[1] = {f->suf}, tail[1] = {f->mid};
	if (!st)
		st = cl_tokenizer_encode(tk, prefix, strlen(prefix), 0, &p, &np);
	if (!st)
		st = cl_tokenizer_encode(tk, sentinel, 3, 0, &mark, &nm);
	if (!st)
		st = cl_tokenizer_encode(tk, ss, sl + 3, 0, &s, &ns);
	if (!st)
		st = append(&out, &no, &cap, head, head[0] < 0 ? 1 : 0, 2);
	if (!st)
		st = append(&out, &no, &cap, p, 0, np);
	if (!st)
		st = append(&out, &no, &cap, sep, 0, 1);
	if (!st)
		st = append(&out, &no, &cap, s, nm, ns);
	if (!st)
		st = append(&out, &no, &cap, tail, 0, 1);
	free(p), free(s), free(mark), free(ss);
	if (st) {
		free(out);
		return st;
	}
	*ids = out;
	*n = no;
	return CL_OK;
}
