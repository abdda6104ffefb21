/*
 * gguf_tok.c - a GGUF file's tokenizer (its tokenizer.ggml.* metadata) as
 * one of cl's two backends.
 *
 * "llama": the vocabulary that llama.cpp's converter copied out of a
 * SentencePiece model (pieces, scores, piece types, in id order) is written
 * back into a SentencePiece ModelProto, which libsentencepiece then loads
 * as it would tokenizer.model: the ids are SentencePiece's own by
 * construction, and the pieces, hence the stream fingerprint, those of the
 * directory the file was made from.  What the metadata does not carry is
 * Llama's: a BPE model with byte fallback and the identity normalizer,
 * which adds a dummy prefix and keeps runs of spaces; the keys
 * tokenizer.ggml.add_space_prefix and tokenizer.ggml.remove_extra_whitespaces
 * override those two where present.
 *
 * The protobuf wire format is simple enough to write here: a field is a
 * varint key (number << 3 | wire type) then a varint (type 0), 4 bytes
 * (type 5, a float) or a varint length and bytes (type 2: strings and
 * nested messages).
 */
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "tok.h"


static void varint(struct cl_bytes *b, uint64_t v)
{
	unsigned char c[10];
	int n = 0;
	do {
		c[n] = (unsigned char)(v & 127);
		v >>= 7;
		c[n] |= v ? 128 : 0;
		n++;
	} while (v);
	cl_bytes_put(b, c, (size_t)n);
}

/* An int32 field (negative ones as 64-bit two's complement, as protobuf). */
static void field_int(struct cl_bytes *b, int num, int64_t v)
{
	varint(b, (uint64_t)num << 3);
	varint(b, (uint64_t)v);
}

static void field_bytes(struct cl_bytes *b, int num, const void *s, size_t n)
{
	varint(b, (uint64_t)num << 3 | 2);
	varint(b, n);
	cl_bytes_put(b, s, n);
}

static void field_f32(struct cl_bytes *b, int num, float f)
{
	unsigned char c[4];
	uint32_t u;
	memcpy(&u, &f, 4);
	for (int i = 0; i < 4; i++)
		c[i] = (unsigned char)(u >> 8 * i);
	varint(b, (uint64_t)num << 3 | 5);
	cl_bytes_put(b, c, 4);
}

/* SentencePiece's piece types; GGUF's token_type numbers them the same. */
enum { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 };

static int is_byte_piece(struct cl_gguf_str s)
{
	return s.n == 6 && memcmp(s.p, "<0x", 3) == 0 && s.p[5] == '>';
}

static enum cl_status spm_from_gguf(const struct cl_gguf *g, struct cl_tokenizer *t)
{
	const char *path = cl_gguf_path(g);
	const struct cl_gguf_kv *tokens, *scores, *types;
	enum cl_status st;
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.tokens", 1, CL_GGUF_STRING, -1, &tokens)))
		return st;
	int64_t n = (int64_t)tokens->n;
	if (n < 1 || n > (1 << 24))
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.tokens: %lld tokens (1 to 16777216)", path,
				(long long)n);
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.scores", 0, CL_GGUF_F32, n, &scores)))
		return st;
	types = cl_gguf_find(g, "tokenizer.ggml.token_type");
	if (types && (types->type != CL_GGUF_ARRAY || types->n != (uint64_t)n ||
		      (types->arr_type != CL_GGUF_I32 && types->arr_type != CL_GGUF_U32 &&
		       types->arr_type != CL_GGUF_I8 && types->arr_type != CL_GGUF_U8)))
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.token_type: expected %lld integers (one per token)",
				path, (long long)n);
	int64_t unk, bos, eos, pad;
	int space, collapse;
	if ((st = cl_gguf_int(g, "tokenizer.ggml.unknown_token_id", 0, -1, -1, n - 1, &unk)) ||
	    (st = cl_gguf_int(g, "tokenizer.ggml.bos_token_id", 0, -1, -1, UINT32_MAX, &bos)) ||
	    (st = cl_gguf_int(g, "tokenizer.ggml.eos_token_id", 0, -1, -1, UINT32_MAX, &eos)) ||
	    (st = cl_gguf_int(g, "tokenizer.ggml.padding_token_id", 0, -1, -1, UINT32_MAX, &pad)) ||
	    (st = cl_gguf_bool(g, "tokenizer.ggml.add_space_prefix", 0, 1, &space)) ||
	    (st = cl_gguf_bool(g, "tokenizer.ggml.remove_extra_whitespaces", 0, 0, &collapse)))
		return st;
	struct cl_gguf_str *s;
	if ((st = cl_gguf_arr_str(g, tokens, &s)))
		return st;
	/* Ids outside the vocabulary (llama.cpp writes pad 0 or -1 at will) mean none. */
	bos = bos < n ? bos : -1;
	eos = eos < n ? eos : -1;
	pad = pad < n ? pad : -1;
	int bytes = 0;
	struct cl_bytes b = {0}, piece = {0}, spec = {0};
	for (int64_t i = 0; i < n && !b.oom && !piece.oom; i++) {
		int type = NORMAL;
		if (types)
			type = (int)cl_gguf_arr_int(types, (uint64_t)i);
		else if (i == (unk >= 0 ? unk : 0))
			type = UNKNOWN;
		else if (i == bos || i == eos)
			type = CONTROL;
		else if (is_byte_piece(s[i]))
			type = BYTE;
		if (type < NORMAL || type > BYTE) {
			free(s);
			free(b.p);
			free(piece.p);
			return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.token_type[%lld]: %d is not a token type (1 to 6)",
					path, (long long)i, type);
		}
		if (unk < 0 && type == UNKNOWN)
			unk = i;
		bytes |= type == BYTE;
		piece.n = 0;
		field_bytes(&piece, 1, s[i].p, (size_t)s[i].n);
		field_f32(&piece, 2, scores ? cl_gguf_arr_f32(scores, (uint64_t)i) : 0.0f);
		if (type != NORMAL)
			field_int(&piece, 3, type);
		field_bytes(&b, 1, piece.p, piece.n);
	}
	/* TrainerSpec: a BPE model, its special ids and their pieces. */
	field_int(&spec, 3, 2);
	field_int(&spec, 4, n);
	if (bytes)
		field_int(&spec, 35, 1);
	field_int(&spec, 40, unk);
	field_int(&spec, 41, bos);
	field_int(&spec, 42, eos);
	field_int(&spec, 43, pad);
	static const int piece_fields[] = {45, 46, 47, 48};
	const int64_t ids[] = {unk, bos, eos, pad};
	for (int k = 0; k < 4; k++)
		if (ids[k] >= 0)
			field_bytes(&spec, piece_fields[k], s[ids[k]].p, (size_t)s[ids[k]].n);
	field_bytes(&b, 2, spec.p, spec.n);
	/* NormalizerSpec: identity, dummy prefix, spaces kept (Llama's). */
	spec.n = 0;
	field_bytes(&spec, 1, "identity", 8);
	field_int(&spec, 3, space);
	field_int(&spec, 4, collapse);
	field_int(&spec, 5, 1);
	field_bytes(&b, 3, spec.p, spec.n);
	free(s);
	free(piece.p);
	if (b.oom || spec.oom || piece.oom) {
		free(b.p);
		free(spec.p);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	free(spec.p);
	if (unk < 0) {
		free(b.p);
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.token_type: no token is UNKNOWN (2), which "
				"SentencePiece needs", path);
	}
	char name[4200];
	snprintf(name, sizeof name, "%s: tokenizer.ggml", path);
	st = cl_spm_load_proto(b.p, b.n, name, t);
	free(b.p);
	return st;
}

enum cl_status cl_gguf_tokenizer(const struct cl_gguf *g, struct cl_tokenizer *t)
{
	const char *path = cl_gguf_path(g);
	struct cl_gguf_str model;
	enum cl_status st;
	if ((st = cl_gguf_str(g, "tokenizer.ggml.model", 1, &model)))
		return st;
	if (model.n == 5 && memcmp(model.p, "llama", 5) == 0) {
		if ((st = spm_from_gguf(g, t)))
			return st;
	} else if (model.n == 4 && memcmp(model.p, "gpt2", 4) == 0) {
		if ((st = cl_bpe_load_gguf(g, t)))
			return st;
	} else {
		return cl_error(CL_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model '%.*s' is not supported (llama, gpt2)",
				path, (int)(model.n < 64 ? model.n : 64), model.p);
	}
	int add_bos;
	if ((st = cl_gguf_bool(g, "tokenizer.ggml.add_bos_token", 0, t->add_bos, &add_bos)))
		return st;
	t->add_bos = add_bos;
	return CL_OK;
}
