/*
 * save.c - a loaded model's weights, as converted at load, written back as a
 * checkpoint directory that later loads map directly (cl-quantize(1)).
 *
 * The file is plain safetensors, so any safetensors reader opens it: F16 and
 * BF16 results keep their own dtypes, and a block-quantized matrix (Q8_0,
 * Q4_0, Q4_K, Q6_K, or a GGUF's other block types) is a U8 tensor [rows,
 * row bytes] named in a "cl.quant.NAME" key of
 * __metadata__, beside "cl.format" (CL_WEIGHTS_FORMAT), which weights.c reads
 * back as the block type with its logical shape.  Every other tensor is
 * copied as stored, so the file holds the whole checkpoint in one piece.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "model.h"
#include "weights.h"

/* Besides the weights, what a checkpoint directory holds that cl reads or a
 * user expects to find next to them. */
static const char *const side_files[] = {
	"config.json", "generation_config.json", "tokenizer.model", "tokenizer.json",
	"tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
	"merges.txt", NULL,
};

struct out_tensor {
	const char *name;
	const char *stype;
	int ndim;
	int64_t shape[CL_TENSOR_MAX_DIMS];
	const void *data;
	uint64_t nbytes;
	enum cl_dtype quant;    /* a block type: stored as U8 with a cl.quant key */
};

struct plan {
	const struct cl_model *m;
	struct out_tensor *t;
	int64_t n, cap;
	int nomem;
};

static int is_block(enum cl_dtype d)
{
	return cl_dtype_block(d) > 1;
}

static struct out_tensor *plan_add(struct plan *p)
{
	if (p->n == p->cap) {
		int64_t nc = p->cap ? 2 * p->cap : 256;
		struct out_tensor *t = realloc(p->t, (size_t)nc * sizeof *t);
		if (!t) {
			p->nomem = 1;
			return NULL;
		}
		p->t = t;
		p->cap = nc;
	}
	struct out_tensor *o = &p->t[p->n++];
	memset(o, 0, sizeof *o);
	return o;
}

/* A matrix in memory as an output tensor. */
static void from_mat(struct out_tensor *o, const char *name, const struct cl_mat *mat)
{
	o->name = name;
	o->data = mat->data;
	o->ndim = 2;
	o->shape[0] = mat->rows;
	size_t row = cl_dtype_size(mat->dtype, mat->cols);
	o->nbytes = (uint64_t)row * (uint64_t)mat->rows;
	switch (mat->dtype) {
	case CL_DTYPE_F32: o->stype = "F32"; o->shape[1] = mat->cols; break;
	case CL_DTYPE_F16: o->stype = "F16"; o->shape[1] = mat->cols; break;
	case CL_DTYPE_BF16: o->stype = "BF16"; o->shape[1] = mat->cols; break;
	default: o->stype = "U8"; o->shape[1] = (int64_t)row; o->quant = mat->dtype; break;
	}
}

static void plan_source(void *arg, const char *name, const struct cl_tensor *t)
{
	struct plan *p = arg;
	const struct cl_model *m = p->m;
	struct out_tensor *o = plan_add(p);
	if (!o)
		return;
	for (int i = 0; i < m->n_conv; i++)
		if (strcmp(m->conv[i].name, name) == 0) {
			from_mat(o, t->name, &m->conv[i].mat);
			return;
		}
	if (is_block(t->dtype)) { /* from an earlier cl-quantize: as it came */
		struct cl_mat mat = {t->data, t->dtype, t->shape[0], t->shape[1], 0};
		from_mat(o, t->name, &mat);
		return;
	}
	o->name = t->name;
	o->stype = t->stype;
	o->ndim = t->ndim;
	memcpy(o->shape, t->shape, sizeof o->shape);
	o->data = t->data;
	o->nbytes = t->nbytes;
}

/* cl_write_all, with the file named in the message. */
static enum cl_status write_all(int fd, const char *path, const void *buf, uint64_t n)
{
	if (!cl_write_all(fd, buf, (size_t)n))
		return CL_OK;
	char why[256];
	snprintf(why, sizeof why, "%s", cl_errmsg());
	return cl_error(CL_ERR_IO, "%s: %s", path, why);
}

static enum cl_status copy_file(const char *from, const char *to)
{
	int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return cl_error(CL_ERR_IO, "%s:", from);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (out < 0) {
		close(in);
		return cl_error(CL_ERR_IO, "%s:", to);
	}
	enum cl_status st = CL_OK;
	char buf[1 << 16];
	for (;;) {
		ssize_t r = read(in, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			st = cl_error(CL_ERR_IO, "%s:", from);
			break;
		}
		if (r == 0)
			break;
		if ((st = write_all(out, to, buf, (uint64_t)r)))
			break;
	}
	close(in);
	if (close(out) < 0 && !st)
		st = cl_error(CL_ERR_IO, "%s:", to);
	return st;
}

/* dir is new (made here) or an empty directory. */
static enum cl_status make_dir(const char *dir)
{
	if (mkdir(dir, 0755) == 0)
		return CL_OK;
	if (errno != EEXIST)
		return cl_error(CL_ERR_IO, "%s:", dir);
	DIR *d = opendir(dir);
	if (!d)
		return cl_error(CL_ERR_IO, "%s:", dir);
	struct dirent *de;
	int empty = 1;
	while (empty && (de = readdir(d)))
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty ? CL_OK : cl_error(CL_ERR_IO, "%s: exists and is not empty", dir);
}

/* The header: __metadata__ first, then the tensors in plan order with
 * consecutive offsets; padded with spaces so the data starts 64-aligned. */
static char *make_header(const struct plan *p, size_t *len)
{
	cJSON *h = cJSON_CreateObject(), *meta = cJSON_AddObjectToObject(h, "__metadata__");
	char buf[16];
	snprintf(buf, sizeof buf, "%d", CL_WEIGHTS_FORMAT);
	cJSON_AddStringToObject(meta, "format", "pt");
	cJSON_AddStringToObject(meta, "cl.format", buf);
	for (int64_t i = 0; i < p->n; i++)
		if (p->t[i].quant) {
			char key[600];
			snprintf(key, sizeof key, "cl.quant.%s", p->t[i].name);
			cJSON_AddStringToObject(meta, key, cl_dtype_name(p->t[i].quant));
		}
	uint64_t off = 0;
	for (int64_t i = 0; i < p->n; i++) {
		const struct out_tensor *t = &p->t[i];
		cJSON *e = cJSON_AddObjectToObject(h, t->name), *sh = cJSON_AddArrayToObject(e, "shape");
		cJSON_AddStringToObject(e, "dtype", t->stype);
		for (int d = 0; d < t->ndim; d++)
			cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t->shape[d]));
		cJSON *o = cJSON_AddArrayToObject(e, "data_offsets");
		cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
		cJSON_AddItemToArray(o, cJSON_CreateNumber((double)(off + t->nbytes)));
		off += t->nbytes;
	}
	char *js = cJSON_PrintUnformatted(h);
	cJSON_Delete(h);
	if (!js)
		return NULL;
	size_t n = strlen(js), padded = n + (64 - (8 + n) % 64) % 64;
	char *out = malloc(padded + 1);
	if (out) {
		memcpy(out, js, n);
		memset(out + n, ' ', padded - n);
		out[padded] = 0;
		*len = padded;
	}
	cJSON_free(js);
	return out;
}

enum cl_status cl_model_save(const struct cl_model *m, const char *dir)
{
	if (m->info.family != CL_FAMILY_LLAMA)
		return cl_error(CL_ERR_UNSUPPORTED,
				"%s: saving converted weights is done for Llama-family checkpoints only; "
				"for this one use --quantize at load", m->dir);
	enum cl_status st = make_dir(dir);
	if (st)
		return st;
	char from[8300], to[8300], tmp[8300];
	for (int i = 0; side_files[i]; i++) {
		snprintf(from, sizeof from, "%s/%s", m->dir, side_files[i]);
		snprintf(to, sizeof to, "%s/%s", dir, side_files[i]);
		if (access(from, F_OK) == 0 && (st = copy_file(from, to)))
			return st;
	}

	struct plan p = {.m = m};
	cl_weights_each(m->w, plan_source, &p);
	/* Conversions of no stored tensor: a tied lm_head (llama.c). */
	for (int i = 0; i < m->n_conv && !p.nomem; i++) {
		int found = 0;
		for (int64_t k = 0; k < p.n && !found; k++)
			found = strcmp(p.t[k].name, m->conv[i].name) == 0;
		struct out_tensor *o = found ? NULL : plan_add(&p);
		if (o)
			from_mat(o, m->conv[i].name, &m->conv[i].mat);
	}
	size_t hlen = 0;
	char *hdr = p.nomem ? NULL : make_header(&p, &hlen);
	if (!hdr) {
		free(p.t);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
	}

	snprintf(to, sizeof to, "%s/model.safetensors", dir);
	snprintf(tmp, sizeof tmp, "%s/model.safetensors.part", dir);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		st = cl_error(CL_ERR_IO, "%s:", tmp);
	} else {
		unsigned char len8[8];
		for (int i = 0; i < 8; i++)
			len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
		st = write_all(fd, tmp, len8, 8);
		if (!st)
			st = write_all(fd, tmp, hdr, hlen);
		for (int64_t i = 0; i < p.n && !st; i++) {
			st = write_all(fd, tmp, p.t[i].data, p.t[i].nbytes);
			if (m->opts.progress)
				fprintf(stderr, "\r%s: tensor %lld of %lld", to, (long long)i + 1, (long long)p.n);
		}
		if (m->opts.progress)
			fputc('\n', stderr);
		if (close(fd) < 0 && !st)
			st = cl_error(CL_ERR_IO, "%s:", tmp);
		if (!st && rename(tmp, to) < 0)
			st = cl_error(CL_ERR_IO, "%s:", to);
		if (st)
			unlink(tmp);
	}
	free(hdr);
	free(p.t);
	return st;
}
