/*
 * stream.c - the cl-stream(5) format: header, records, reader and writer.
 * man/cl-stream.5 is the specification; this file follows it.
 *
 * On the wire (all little-endian):
 *   header: magic[8] "\x89CLS\r\n\x1a\n", u32 version, u32 json_len,
 *           json_len bytes of JSON (space-padded so records start 8-aligned)
 *   record: u16 kind, u16 flags, u32 seq, u32 pos, i32 token, f32 logprob,
 *           u32 n, u32 bytes, u32 aux (0 but in tap and attention streams) = 32 bytes
 *           then `bytes` of payload
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"

#define REC_SIZE 32
#define MAX_JSON (1u << 20)
#define MAX_WIDTH (1u << 24)
#define MAX_ALTS (1u << 16)

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void wr32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static void wr16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static size_t elem_size(enum cl_dtype t)
{
	return t == CL_DTYPE_F32 ? 4 : 2;
}

void cl_stream_info_init(struct cl_stream_info *info, enum cl_stream_kind kind, const char *what,
			 const char *producer)
{
	memset(info, 0, sizeof *info);
	info->kind = kind;
	info->dtype = CL_DTYPE_F32;
	info->bos = info->eos = -1;
	info->layer = -1;
	snprintf(info->what, sizeof info->what, "%s", what);
	snprintf(info->producer, sizeof info->producer, "%s", producer);
}

void cl_stream_info_tokens(struct cl_stream_info *info, const struct cl_tokenizer *tk, const char *producer,
			   const char *model)
{
	cl_stream_info_init(info, CL_STREAM_TOKENS, "tokens", producer);
	info->vocab_size = (uint32_t)cl_tokenizer_n_vocab(tk);
	info->bos = cl_tokenizer_bos(tk);
	info->eos = cl_tokenizer_eos(tk);
	snprintf(info->tokenizer, sizeof info->tokenizer, "%s", cl_tokenizer_fingerprint(tk));
	snprintf(info->model, sizeof info->model, "%s", model);
}

enum cl_status cl_stream_check_tokenizer(const struct cl_stream_info *in, const char *fp,
					 const char *ours_name)
{
	if (!in->tokenizer[0] || !fp || !fp[0] || strcmp(in->tokenizer, fp) == 0)
		return CL_OK;
	return cl_error(CL_ERR_MISMATCH,
			"stream made for tokenizer %s (by %s%s%s), but %s has tokenizer %s",
			in->tokenizer, in->producer[0] ? in->producer : "?", in->model[0] ? " with " : "",
			in->model, ours_name, fp);
}

/* ------------------------------------------------------------- reader --- */

struct cl_reader {
	int fd;
	char name[256];
	unsigned char *buf; /* (cap) bytes; data lives in [off, len) */
	size_t cap, off, len;
	int eof;
	int have_info;
	struct cl_stream_info info;
	enum cl_dtype dtype;
	uint64_t nrec;   /* records read, for messages */
};

/* A pipe's buffer to 1 MiB where the system allows (Linux: up to
 * /proc/sys/fs/pipe-max-size, 1 MiB by default): 128 embeddings of 2048
 * floats then fit, so the writer runs a whole prompt ahead and cl-forward
 * finds it waiting as one batch, where 64 KiB held 7.  Nothing waits on
 * the larger buffer: records are still flushed one by one. */
static void grow_pipe(int fd)
{
#ifdef F_SETPIPE_SZ
	struct stat sb;
	if (fstat(fd, &sb) == 0 && S_ISFIFO(sb.st_mode))
		(void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
#else
	(void)fd;
#endif
}

struct cl_reader *cl_reader_open(int fd, const char *name)
{
	struct cl_reader *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	r->fd = fd;
	grow_pipe(fd);
	snprintf(r->name, sizeof r->name, "%s", strcmp(name, "-") == 0 ? "stdin" : name);
	r->cap = 1 << 16;
	r->buf = malloc(r->cap);
	if (!r->buf) {
		free(r);
		return NULL;
	}
	return r;
}

void cl_reader_free(struct cl_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r);
}

/* Make `need` bytes available at buf+off, reading as little as it may:
 * read(2) returns what a pipe holds, so we never wait for more than a record.
 * Returns 1 when they are there, 0 at end of input, -1 on error. */
static int fill(struct cl_reader *r, size_t need)
{
	if (r->len - r->off >= need)
		return 1;
	if (r->off > 0) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	while (r->len < need) {
		if (r->eof)
			return 0;
		/* Grow with the bytes that arrive, not with what a header claims:
		 * a corrupt length must not make us allocate a gigabyte. */
		if (r->len == r->cap) {
			size_t ncap = r->cap * 2 < need ? r->cap * 2 : need;
			unsigned char *nb = realloc(r->buf, ncap);
			if (!nb) {
				cl_error(CL_ERR_NOMEM, "%s: out of memory", r->name);
				return -1;
			}
			r->buf = nb;
			r->cap = ncap;
		}
		ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			cl_error(CL_ERR_IO, "%s:", r->name);
			return -1;
		}
		if (n == 0) {
			r->eof = 1;
			return 0;
		}
		r->len += (size_t)n;
	}
	return 1;
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jnum(const cJSON *o, const char *k, double lo, double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
	    v->valuedouble != floor(v->valuedouble))
		return -1;
	*out = v->valuedouble;
	return 1;
}

static enum cl_status parse_info(const char *name, const char *json, size_t n, struct cl_stream_info *info)
{
	cJSON *o = cJSON_ParseWithLength(json, n);
	if (!o || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return cl_error(CL_ERR_FORMAT, "%s: stream header: metadata is not a JSON object", name);
	}
	enum cl_status st = CL_OK;
	const char *kind = jstr(o, "kind"), *s;
	double d;
	memset(info, 0, sizeof *info);
	info->bos = info->eos = -1;
	info->layer = -1;
	if (kind && strcmp(kind, "tokens") == 0)
		info->kind = CL_STREAM_TOKENS;
	else if (kind && strcmp(kind, "vectors") == 0)
		info->kind = CL_STREAM_VECTORS;
	else {
		st = cl_error(CL_ERR_FORMAT, "%s: stream header: kind: expected \"tokens\" or \"vectors\"", name);
		goto out;
	}
	if ((s = jstr(o, "what")))
		snprintf(info->what, sizeof info->what, "%s", s);
	if ((s = jstr(o, "producer")))
		snprintf(info->producer, sizeof info->producer, "%s", s);
	if ((s = jstr(o, "model")))
		snprintf(info->model, sizeof info->model, "%s", s);
	if ((s = jstr(o, "tokenizer")))
		snprintf(info->tokenizer, sizeof info->tokenizer, "%s", s);
	if (jnum(o, "vocab_size", 0, 1u << 30, &d) < 0) {
		st = cl_error(CL_ERR_FORMAT, "%s: stream header: vocab_size: expected a non-negative integer", name);
		goto out;
	} else if (jnum(o, "vocab_size", 0, 1u << 30, &d) > 0)
		info->vocab_size = (uint32_t)d;
	if (jnum(o, "bos", -1, 1u << 30, &d) > 0)
		info->bos = (int32_t)d;
	if (jnum(o, "eos", -1, 1u << 30, &d) > 0)
		info->eos = (int32_t)d;
	if (jnum(o, "layer", 0, 1 << 16, &d) < 0) {
		st = cl_error(CL_ERR_FORMAT, "%s: stream header: layer: expected a non-negative integer", name);
		goto out;
	} else if (jnum(o, "layer", 0, 1 << 16, &d) > 0)
		info->layer = (int32_t)d;
	if (jnum(o, "context", 0, 1u << 30, &d) < 0) {
		st = cl_error(CL_ERR_FORMAT, "%s: stream header: context: expected a non-negative integer", name);
		goto out;
	} else if (jnum(o, "context", 0, 1u << 30, &d) > 0)
		info->context = (uint32_t)d;
	if (jnum(o, "heads", 0, 1 << 16, &d) < 0) {
		st = cl_error(CL_ERR_FORMAT, "%s: stream header: heads: expected a non-negative integer", name);
		goto out;
	} else if (jnum(o, "heads", 0, 1 << 16, &d) > 0)
		info->heads = (int32_t)d;
	info->dtype = CL_DTYPE_F32;
	if (info->kind == CL_STREAM_VECTORS) {
		if (jnum(o, "width", 1, MAX_WIDTH, &d) <= 0) {
			st = cl_error(CL_ERR_FORMAT, "%s: stream header: width: expected an integer from 1 to %u",
				      name, MAX_WIDTH);
			goto out;
		}
		info->width = (uint32_t)d;
		s = jstr(o, "dtype");
		enum cl_dtype t;
		if (s && (cl_dtype_parse(s, &t) != 0 || (t != CL_DTYPE_F32 && t != CL_DTYPE_F16 && t != CL_DTYPE_BF16))) {
			st = cl_error(CL_ERR_FORMAT, "%s: stream header: dtype: expected f32, f16 or bf16, got \"%s\"", name, s);
			goto out;
		}
		if (s)
			info->dtype = t;
	}
out:
	cJSON_Delete(o);
	return st;
}

/* Reads a header at the current offset (magic already seen to start there). */
static enum cl_status read_header(struct cl_reader *r)
{
	int f = fill(r, 16);
	if (f < 0)
		return CL_ERR_IO;
	if (f == 0) {
		if (r->len - r->off == 0 && !r->have_info)
			return cl_error(CL_ERR_FORMAT, "%s: empty input, expected a cl stream", r->name);
		return cl_error(CL_ERR_FORMAT, "%s: truncated stream header", r->name);
	}
	const unsigned char *p = r->buf + r->off;
	if (memcmp(p, CL_STREAM_MAGIC, 8) != 0)
		return cl_error(CL_ERR_FORMAT, "%s: not a cl stream (bad magic bytes)", r->name);
	uint32_t version = rd32(p + 8), jlen = rd32(p + 12);
	if (version != CL_STREAM_VERSION)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: stream version %u, but this cl reads version %d",
				r->name, version, CL_STREAM_VERSION);
	if (jlen > MAX_JSON)
		return cl_error(CL_ERR_FORMAT, "%s: stream header: metadata length %u exceeds %u", r->name,
				jlen, MAX_JSON);
	f = fill(r, 16 + (size_t)jlen);
	if (f < 0)
		return CL_ERR_IO;
	if (f == 0)
		return cl_error(CL_ERR_FORMAT, "%s: truncated stream header", r->name);
	struct cl_stream_info info;
	enum cl_status st = parse_info(r->name, (const char *)r->buf + r->off + 16, jlen, &info);
	if (st)
		return st;
	r->off += 16 + (size_t)jlen;
	if (!r->have_info) {
		r->info = info;
		r->have_info = 1;
		return CL_OK;
	}
	/* A second header, as `cat a b` makes: fine when it describes the same data. */
	if (info.kind != r->info.kind || info.width != r->info.width || info.dtype != r->info.dtype)
		return cl_error(CL_ERR_MISMATCH, "%s: concatenated stream of another kind (%s, width %u) after %s, width %u",
				r->name, info.what, info.width, r->info.what, r->info.width);
	if (info.tokenizer[0] && r->info.tokenizer[0] && strcmp(info.tokenizer, r->info.tokenizer) != 0)
		return cl_error(CL_ERR_MISMATCH, "%s: concatenated stream for tokenizer %s after one for tokenizer %s",
				r->name, info.tokenizer, r->info.tokenizer);
	return CL_OK;
}

const struct cl_stream_info *cl_reader_info(struct cl_reader *r, enum cl_status *stp)
{
	enum cl_status st = CL_OK;
	if (!r->have_info)
		st = read_header(r);
	if (stp)
		*stp = st;
	return st ? NULL : &r->info;
}

static int at_magic(struct cl_reader *r)
{
	return r->len - r->off >= 1 && r->buf[r->off] == 0x89;
}

enum cl_status cl_reader_next(struct cl_reader *r, struct cl_record *rec)
{
	enum cl_status st;
	if (!r->have_info && (st = read_header(r)))
		return st;
	for (;;) {
		int f = fill(r, 1);
		if (f < 0)
			return CL_ERR_IO;
		if (f == 0)
			return CL_ERR_EOF;
		if (at_magic(r)) {
			if ((st = read_header(r)))
				return st;
			continue;
		}
		f = fill(r, REC_SIZE);
		if (f < 0)
			return CL_ERR_IO;
		if (f == 0)
			return cl_error(CL_ERR_FORMAT, "%s: truncated record after %llu records", r->name,
					(unsigned long long)r->nrec);
		const unsigned char *p = r->buf + r->off;
		rec->kind = rd16(p);
		rec->flags = rd16(p + 2);
		rec->seq = rd32(p + 4);
		rec->pos = rd32(p + 8);
		rec->token = (int32_t)rd32(p + 12);
		uint32_t lp = rd32(p + 16);
		memcpy(&rec->logprob, &lp, 4);
		rec->n = rd32(p + 20);
		uint32_t bytes = rd32(p + 24);
		rec->aux = rd32(p + 28);
		if (rec->kind >= 0x80)
			return cl_error(CL_ERR_FORMAT, "%s: record %llu: bad record kind %u", r->name,
					(unsigned long long)r->nrec, rec->kind);
		uint64_t want;
		switch (rec->kind) {
		case CL_REC_VECTOR:
			if (r->info.kind != CL_STREAM_VECTORS)
				return cl_error(CL_ERR_FORMAT, "%s: record %llu: a vector in a token stream", r->name,
						(unsigned long long)r->nrec);
			if (rec->n != r->info.width)
				return cl_error(CL_ERR_FORMAT, "%s: record %llu: vector of %u elements in a stream of width %u",
						r->name, (unsigned long long)r->nrec, rec->n, r->info.width);
			want = (uint64_t)rec->n * elem_size(r->info.dtype);
			break;
		case CL_REC_TOKEN:
			if (rec->n > MAX_ALTS)
				return cl_error(CL_ERR_FORMAT, "%s: record %llu: %u alternatives (at most %u)", r->name,
						(unsigned long long)r->nrec, rec->n, MAX_ALTS);
			want = (uint64_t)rec->n * 8;
			break;
		case CL_REC_SEQ_BEGIN:
		case CL_REC_PROMPT_END:
		case CL_REC_SEQ_END:
		case CL_REC_END:
			want = 0;
			break;
		default:
			/* A kind from a later version: skip it, its length says how far. */
			want = bytes;
			if (bytes > (1u << 30))
				return cl_error(CL_ERR_FORMAT, "%s: record %llu: payload of %u bytes", r->name,
						(unsigned long long)r->nrec, bytes);
			break;
		}
		if (bytes != want)
			return cl_error(CL_ERR_FORMAT, "%s: record %llu: payload of %u bytes, expected %llu", r->name,
					(unsigned long long)r->nrec, bytes, (unsigned long long)want);
		f = fill(r, REC_SIZE + (size_t)bytes);
		if (f < 0)
			return CL_ERR_IO;
		if (f == 0)
			return cl_error(CL_ERR_FORMAT, "%s: truncated record after %llu records", r->name,
					(unsigned long long)r->nrec);
		rec->data = r->buf + r->off + REC_SIZE;
		r->off += REC_SIZE + (size_t)bytes;
		r->nrec++;
		if (rec->kind > CL_REC_END)
			continue;
		return CL_OK;
	}
}

int cl_reader_ready(struct cl_reader *r)
{
	size_t avail = r->len - r->off;
	if (!r->have_info || avail < REC_SIZE || r->buf[r->off] == 0x89)
		return 0;
	return avail >= REC_SIZE + (size_t)rd32(r->buf + r->off + 24);
}

int cl_reader_waiting(struct cl_reader *r)
{
	if (cl_reader_ready(r))
		return 1;
	size_t avail = r->len - r->off;
	if (!r->have_info || r->eof || (avail > 0 && r->buf[r->off] == 0x89))
		return 0;
	/* Part of a record is here: its writer wrote it whole, so the rest is
	 * on its way (or the pipe was full and our read frees it). */
	if (avail > 0)
		return 1;
	struct pollfd p = {.fd = r->fd, .events = POLLIN};
	int k;
	do
		k = poll(&p, 1, 0);
	while (k < 0 && errno == EINTR);
	return k > 0 && (p.revents & POLLIN);
}

void cl_record_vector(const struct cl_reader *r, const struct cl_record *rec, float *out)
{
	cl_to_f32(r->info.dtype, rec->data, rec->n, out);
}

/* ------------------------------------------------------------- writer --- */

struct cl_writer {
	int fd;
	char name[256];
	int flush_each;       /* a pipe, FIFO, socket or terminal */
	struct cl_stream_info info;
	unsigned char *buf;   /* (cap) pending output */
	size_t cap, len;
	enum cl_status err;
};

static enum cl_status wflush(struct cl_writer *w)
{
	if (w->err)
		return w->err;
	if (w->len == 0)
		return CL_OK;
	enum cl_status st = cl_write_all(w->fd, w->buf, w->len);
	w->len = 0;
	if (st) {
		w->err = st;
		if (st != CL_ERR_PIPE)
			cl_error(st, "%s:", w->name);
	}
	return st;
}

static enum cl_status wreserve(struct cl_writer *w, size_t n)
{
	if (w->len + n <= w->cap)
		return CL_OK;
	enum cl_status st = wflush(w);
	if (st)
		return st;
	if (n > w->cap) {
		unsigned char *nb = realloc(w->buf, n);
		if (!nb)
			return w->err = cl_error(CL_ERR_NOMEM, "%s: out of memory", w->name);
		w->buf = nb;
		w->cap = n;
	}
	return CL_OK;
}

static char *info_json(const struct cl_stream_info *info)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "kind", info->kind == CL_STREAM_TOKENS ? "tokens" : "vectors");
	cJSON_AddStringToObject(o, "what", info->what);
	if (info->kind == CL_STREAM_VECTORS) {
		cJSON_AddNumberToObject(o, "width", info->width);
		cJSON_AddStringToObject(o, "dtype", cl_dtype_name(info->dtype));
	}
	cJSON_AddNumberToObject(o, "vocab_size", info->vocab_size);
	cJSON_AddStringToObject(o, "tokenizer", info->tokenizer);
	cJSON_AddNumberToObject(o, "bos", info->bos);
	cJSON_AddNumberToObject(o, "eos", info->eos);
	if (info->layer >= 0)
		cJSON_AddNumberToObject(o, "layer", info->layer);
	if (info->context)
		cJSON_AddNumberToObject(o, "context", info->context);
	if (info->heads)
		cJSON_AddNumberToObject(o, "heads", info->heads);
	cJSON_AddStringToObject(o, "producer", info->producer);
	cJSON_AddStringToObject(o, "model", info->model);
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

struct cl_writer *cl_writer_open(int fd, const char *name, const struct cl_stream_info *info,
				 enum cl_status *stp)
{
	enum cl_status st = CL_OK;
	struct cl_writer *w = calloc(1, sizeof *w);
	char *json = NULL;
	if (!w || !(w->buf = malloc(w->cap = 1 << 16))) {
		st = cl_error(CL_ERR_NOMEM, "%s: out of memory", name);
		goto fail;
	}
	w->fd = fd;
	snprintf(w->name, sizeof w->name, "%s", strcmp(name, "-") == 0 ? "stdout" : name);
	w->info = *info;
	if (info->kind == CL_STREAM_VECTORS &&
	    (info->width == 0 || info->width > MAX_WIDTH ||
	     (info->dtype != CL_DTYPE_F32 && info->dtype != CL_DTYPE_F16 && info->dtype != CL_DTYPE_BF16))) {
		st = cl_error(CL_ERR_RANGE, "%s: bad vector width %u or dtype %s", w->name, info->width,
			      cl_dtype_name(info->dtype));
		goto fail;
	}
	struct stat sb;
	w->flush_each = fstat(fd, &sb) == 0 &&
			(S_ISFIFO(sb.st_mode) || S_ISSOCK(sb.st_mode) || S_ISCHR(sb.st_mode));
	grow_pipe(fd);
	if (!(json = info_json(info))) {
		st = cl_error(CL_ERR_NOMEM, "%s: out of memory", w->name);
		goto fail;
	}
	size_t jlen = strlen(json), padded = (16 + jlen + 7) / 8 * 8 - 16;
	if ((st = wreserve(w, 16 + padded)))
		goto fail;
	unsigned char *p = w->buf + w->len;
	memcpy(p, CL_STREAM_MAGIC, 8);
	wr32(p + 8, CL_STREAM_VERSION);
	wr32(p + 12, (uint32_t)padded);
	memcpy(p + 16, json, jlen);
	memset(p + 16 + jlen, ' ', padded - jlen);
	w->len += 16 + padded;
	free(json);
	json = NULL;
	if (w->flush_each && (st = wflush(w)))
		goto fail;
	if (stp)
		*stp = CL_OK;
	return w;
fail:
	free(json);
	if (w)
		free(w->buf);
	free(w);
	if (stp)
		*stp = st;
	return NULL;
}

enum cl_status cl_writer_put(struct cl_writer *w, const struct cl_record *rec)
{
	if (w->err)
		return w->err;
	size_t bytes = 0;
	if (rec->kind == CL_REC_VECTOR) {
		if (w->info.kind != CL_STREAM_VECTORS || rec->n != w->info.width)
			return cl_error(CL_ERR_RANGE, "%s: vector of %u elements for a stream of width %u",
					w->name, rec->n, w->info.width);
		bytes = (size_t)rec->n * elem_size(w->info.dtype);
	} else if (rec->kind == CL_REC_TOKEN) {
		bytes = (size_t)rec->n * 8;
	} else if (rec->n != 0) {
		return cl_error(CL_ERR_RANGE, "%s: control record with a payload", w->name);
	}
	enum cl_status st = wreserve(w, REC_SIZE + bytes);
	if (st)
		return st;
	unsigned char *p = w->buf + w->len;
	uint32_t lp;
	float logprob = rec->logprob;
	memcpy(&lp, &logprob, 4);
	wr16(p, rec->kind);
	wr16(p + 2, rec->flags);
	wr32(p + 4, rec->seq);
	wr32(p + 8, rec->pos);
	wr32(p + 12, (uint32_t)rec->token);
	wr32(p + 16, lp);
	wr32(p + 20, rec->n);
	wr32(p + 24, (uint32_t)bytes);
	wr32(p + 28, rec->aux);
	p += REC_SIZE;
	if (rec->kind == CL_REC_VECTOR) {
		const float *x = rec->data;
		if (w->info.dtype == CL_DTYPE_F32) {
			memcpy(p, x, bytes);
		} else {
			for (uint32_t i = 0; i < rec->n; i++) {
				uint16_t h = w->info.dtype == CL_DTYPE_F16 ? cl_f32_to_f16(x[i]) : cl_f32_to_bf16(x[i]);
				memcpy(p + 2 * i, &h, 2);
			}
		}
	} else if (bytes) {
		const struct cl_alt *a = rec->data;
		for (uint32_t i = 0; i < rec->n; i++) {
			uint32_t v;
			memcpy(&v, &a[i].logprob, 4);
			wr32(p + 8 * i, (uint32_t)a[i].token);
			wr32(p + 8 * i + 4, v);
		}
	}
	w->len += REC_SIZE + bytes;
	return w->flush_each ? wflush(w) : CL_OK;
}

enum cl_status cl_writer_flush(struct cl_writer *w)
{
	return wflush(w);
}

enum cl_status cl_writer_close(struct cl_writer *w)
{
	if (!w)
		return CL_OK;
	enum cl_status st = wflush(w);
	free(w->buf);
	free(w);
	return st;
}
