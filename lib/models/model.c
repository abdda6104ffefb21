/*
 * model.c - loading a checkpoint directory, the family table, KV caches and
 * the batching around a family's forward pass.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "model.h"

/* The families, in the order they are asked whether config.json is theirs. */
static const struct cl_family_ops *const families[] = {
	&cl_family_llama,
	&cl_family_gpt2,
};

void cl_model_opts_init(struct cl_model_opts *o)
{
	memset(o, 0, sizeof *o);
	o->quantize = -1;
	o->layer_to = -1;
	o->pack = 1;
}

enum cl_status cl_model_own(struct cl_model *m, void *p)
{
	if (!p)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", m->dir);
	if (m->n_owned == m->cap_owned) {
		int ncap = m->cap_owned ? 2 * m->cap_owned : 64;
		void **n = realloc(m->owned, (size_t)ncap * sizeof *n);
		if (!n) {
			free(p);
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", m->dir);
		}
		m->owned = n;
		m->cap_owned = ncap;
	}
	m->owned[m->n_owned++] = p;
	return CL_OK;
}

/* A weight matrix multiplied where it is mapped is read whole by the first
 * token: its pages are mapped now, in one call, where the first product
 * would take a page fault every few pages (TinyLlama Q8_0 on the 2-core Zen
 * 5 VM: load and first logits 0.37-0.40 s against 0.41-0.46; the rest of
 * that first pass's cost is the VM's first touch of each page, which
 * cl_model_warm takes before a measurement).  Pages of the file not yet in
 * memory are read now instead of then.  Linux 5.14 and later; elsewhere,
 * and where it fails, the faults come as before. */
static void populate(const struct cl_mat *w)
{
#ifdef MADV_POPULATE_READ
	long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
	uintptr_t a = (uintptr_t)w->data & ~(uintptr_t)(page - 1);
	uintptr_t e = (uintptr_t)w->data + cl_dtype_size(w->dtype, w->cols) * (size_t)w->rows;
	(void)madvise((void *)a, e - a, MADV_POPULATE_READ);
#else
	(void)w;
#endif
}

#define PACK_SLICE 1024 /* rows: a multiple of the groups' 16 */

enum cl_status cl_model_pack(struct cl_model *m, struct cl_mat *w, int mapped)
{
	size_t bytes;
	enum cl_packing k;
	if (!m->opts.pack || (k = cl_mat_packing(w, &bytes)) == CL_PACK_NONE)
		return CL_OK;
	/* In huge pages where the system allows (transparent_hugepage
	 * "madvise"): a 1.1B model's copy then takes some 500 page faults
	 * instead of 300,000, and its products fewer TLB misses. */
	size_t huge = (size_t)2 << 20, al = bytes >= huge ? huge : 64;
	void *buf;
	if (posix_memalign(&buf, al, bytes))
		buf = NULL;
	enum cl_status st = cl_model_own(m, buf);
	if (st)
		return st;
#ifdef MADV_HUGEPAGE
	/* The whole huge pages only: a tail in one would add up to 2 MiB a
	 * matrix to the resident size (150 MiB for TinyLlama's 155). */
	if (al == huge)
		(void)madvise(buf, bytes & ~(huge - 1), MADV_HUGEPAGE);
#endif
	/* A slice of rows at a time: its pages of the file mapped in one
	 * call, copied, then dropped, so that the resident size holds one
	 * slice twice at the most (the whole matrix at once put the output
	 * projection's 131 MiB on F16's peak). */
	const struct cl_mat src = *w;
	size_t rb = cl_dtype_size(src.dtype, src.cols);
	for (int64_t r0 = 0; r0 < src.rows; r0 += PACK_SLICE) {
		struct cl_mat s = src, d;
		s.data = (const unsigned char *)src.data + (size_t)r0 * rb;
		s.rows = src.rows - r0 < PACK_SLICE ? src.rows - r0 : PACK_SLICE;
		if (mapped)
			populate(&s);
		cl_mat_pack(m->pool, &s, k, (unsigned char *)buf + (size_t)r0 * rb, &d);
#ifdef MADV_DONTNEED
		if (mapped) {
			long page = sysconf(_SC_PAGESIZE) > 0 ? sysconf(_SC_PAGESIZE) : 4096;
			uintptr_t a = ((uintptr_t)s.data + (uintptr_t)page - 1) & ~(uintptr_t)(page - 1);
			uintptr_t e = ((uintptr_t)s.data + rb * (size_t)s.rows) & ~(uintptr_t)(page - 1);
			if (e > a)
				(void)madvise((void *)a, e - a, MADV_DONTNEED);
		}
#endif
	}
	*w = src;
	w->data = buf;
	w->packed = (int)k;
	return CL_OK;
}

struct par_job {
	void (*fn)(void *arg, int64_t a, int64_t b);
	void *arg;
	int64_t count;
};

static void par_task(void *arg, int ith, int nth)
{
	const struct par_job *j = arg;
	int64_t a = j->count * ith / nth, b = j->count * (ith + 1) / nth;
	if (a < b)
		j->fn(j->arg, a, b);
}

void cl_model_par(struct cl_model *m, int64_t rows, int64_t count, void (*fn)(void *arg, int64_t a, int64_t b),
		  void *arg)
{
	struct par_job j = {fn, arg, count};
	if (rows >= CL_PAR_ROWS)
		cl_pool_run(m->pool, par_task, &j);
	else if (count > 0)
		fn(arg, 0, count);
}

enum cl_status cl_model_mat(struct cl_model *m, const struct cl_tensor *t, int quantize, struct cl_mat *out)
{
	out->packed = 0;
	out->data = t->data;
	out->dtype = t->dtype;
	out->rows = t->shape[0];
	out->cols = t->ndim > 1 ? t->shape[1] : 1;
	if (!quantize)
		return CL_OK;
	enum cl_dtype to = m->opts.quantize < 0 ? t->dtype
						: cl_mix_type(m->opts.mix, t->name, m->info.n_layers,
							      (enum cl_dtype)m->opts.quantize);
	/* Block types need rows of whole blocks (32, or 256 for the k-quants);
	 * a matrix whose rows are not (stories260K's FFN of 172) keeps its
	 * stored type. */
	if (to == t->dtype || out->cols % cl_dtype_block(to) != 0) {
		size_t bytes;
		if (!m->opts.pack || cl_mat_packing(out, &bytes) == CL_PACK_NONE) {
			populate(out);
			return CL_OK;
		}
		return cl_model_pack(m, out, 1);
	}
	if (cl_dtype_block(t->dtype) > 1)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: %s is stored as %s; --quantize %s starts from "
				"f32, f16 or bf16 weights (the original checkpoint)", t->file, t->name,
				cl_dtype_name(t->dtype), cl_dtype_name(to));
	struct cl_mat src = *out;
	void *owned = NULL;
	enum cl_status st = cl_mat_convert(&src, to, out, &owned);
	if (st)
		return st;
	if ((st = cl_model_own(m, owned)) || (st = cl_model_conv_add(m, t->name, out)))
		return st;
	/* The converted rows stay for cl_model_save (the list above). */
	return cl_model_pack(m, out, 0);
}

enum cl_status cl_model_conv_add(struct cl_model *m, const char *name, const struct cl_mat *mat)
{
	if (m->n_conv == m->cap_conv) {
		int ncap = m->cap_conv ? 2 * m->cap_conv : 64;
		struct cl_model_conv *n = realloc(m->conv, (size_t)ncap * sizeof *n);
		if (!n)
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", m->dir);
		m->conv = n;
		m->cap_conv = ncap;
	}
	m->conv[m->n_conv++] = (struct cl_model_conv){name, *mat};
	return CL_OK;
}

enum cl_status cl_model_vec(struct cl_model *m, const struct cl_tensor *t, const float **out)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= t->shape[i];
	float *v = malloc((size_t)n * sizeof *v);
	enum cl_status st = cl_model_own(m, v);
	if (st)
		return st;
	cl_to_f32(t->dtype, t->data, n, v);
	*out = v;
	return CL_OK;
}

void cl_model_free(struct cl_model *m)
{
	if (!m)
		return;
	if (m->fam && m->fam->free)
		m->fam->free(m);
	for (int i = 0; i < m->n_owned; i++)
		free(m->owned[i]);
	free(m->owned);
	free(m->conv);
	free(m->tap_slot);
	cl_pool_free(m->pool);
	cl_weights_free(m->w);
	free(m);
}

enum cl_status cl_model_load(const char *dir, const struct cl_model_opts *opts, struct cl_model **out)
{
	char cfgpath[4200];
	cJSON *cfg = NULL;
	enum cl_status st;
	struct cl_model *m = calloc(1, sizeof *m);
	*out = NULL;
	if (!m)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
	if (opts)
		m->opts = *opts;
	else
		cl_model_opts_init(&m->opts);
	snprintf(m->dir, sizeof m->dir, "%s", dir);
	if ((st = cl_kernels_check())) {
		free(m);
		return st;
	}
	m->info.kernels = cl_kernels_name();
	/* A GGUF file is its own config.json: its metadata, read as one. */
	int gg = cl_gguf_locate(dir, cfgpath, sizeof cfgpath);
	if (gg < 0) {
		st = CL_ERR_FORMAT;
		goto fail;
	}
	if (gg > 0) {
		if ((st = cl_weights_open(cfgpath, &m->w)) || (st = cl_gguf_config(cl_weights_gguf(m->w), &cfg)))
			goto fail;
	} else {
		snprintf(cfgpath, sizeof cfgpath, "%s/config.json", dir);
		if ((st = cl_json_read_file(cfgpath, 1 << 20, &cfg)))
			goto fail;
	}
	for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
		if (families[i]->claims(cfg)) {
			m->fam = families[i];
			break;
		}
	if (!m->fam) {
		const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type");
		st = cl_error(CL_ERR_UNSUPPORTED, "%s: model_type '%s' is not supported (llama, gpt2)", cfgpath,
			      cJSON_IsString(mt) ? mt->valuestring : "(none)");
		goto fail;
	}
	if (!m->w && (st = cl_weights_open(dir, &m->w)))
		goto fail;
	/* The threads first: the load packs weights with them (pack()). */
	if (!(m->pool = cl_pool_new(m->opts.threads))) {
		st = cl_error(CL_ERR_NOMEM, "%s: cannot start threads", dir);
		goto fail;
	}
	m->info.threads = cl_pool_size(m->pool);
	if ((st = m->fam->load(m, cfg, cfgpath)))
		goto fail;
	m->info.family = m->fam->id;
	{
		int32_t nl = m->info.n_layers, from = m->opts.layer_from, to = m->opts.layer_to < 0 ? nl : m->opts.layer_to;
		if (from < 0 || from > to || to > nl) {
			st = cl_error(CL_ERR_RANGE, "%s: layers %d:%d: the model has %d layers (0 to %d)", dir, from, to, nl,
				      nl);
			goto fail;
		}
		m->info.layer_from = from;
		m->info.layer_to = to;
		m->info.out_dim = to == nl ? m->info.n_vocab : m->info.dim;
	}
	cJSON_Delete(cfg);
	*out = m;
	return CL_OK;
fail:
	cJSON_Delete(cfg);
	cl_model_free(m);
	return st;
}

const struct cl_model_info *cl_model_info(const struct cl_model *m)
{
	return &m->info;
}

enum cl_status cl_model_embed(const struct cl_model *m, int32_t token, float *out)
{
	if (token < 0 || token >= m->info.n_vocab)
		return cl_error(CL_ERR_RANGE, "token %d is outside the vocabulary of %d", token, m->info.n_vocab);
	cl_mat_row(&m->embed, token, out);
	return CL_OK;
}

uint64_t cl_kv_bytes(const struct cl_model *m, int32_t ctx)
{
	return 2ull * (uint64_t)(m->info.layer_to - m->info.layer_from) * (uint64_t)ctx *
	       (uint64_t)m->info.n_kv_heads * (uint64_t)m->info.head_dim * (m->opts.kv_f16 ? 2 : 4);
}

void cl_kv_store(struct cl_kv *kv, int layer, int32_t pos, const float *k, const float *v)
{
	size_t off = ((size_t)layer * (size_t)kv->ctx + (size_t)pos) * (size_t)kv->kv_dim;
	if (!kv->f16) {
		memcpy((float *)kv->k + off, k, (size_t)kv->kv_dim * sizeof(float));
		memcpy((float *)kv->v + off, v, (size_t)kv->kv_dim * sizeof(float));
		return;
	}
	uint16_t *kh = (uint16_t *)kv->k + off, *vh = (uint16_t *)kv->v + off;
	for (int32_t i = 0; i < kv->kv_dim; i++) {
		kh[i] = cl_f32_to_f16(k[i]);
		vh[i] = cl_f32_to_f16(v[i]);
	}
}

enum cl_status cl_kv_new(const struct cl_model *m, int32_t ctx, struct cl_kv **out)
{
	*out = NULL;
	if (ctx < 1 || (m->info.max_pos > 0 && ctx > m->info.max_pos))
		return cl_error(CL_ERR_RANGE, "context %d: expected 1 to %d (max_position_embeddings)", ctx,
				m->info.max_pos);
	struct cl_kv *kv = calloc(1, sizeof *kv);
	if (!kv)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	kv->ctx = ctx;
	kv->n_layers = m->info.layer_to - m->info.layer_from; /* a stage's own */
	kv->kv_dim = m->info.n_kv_heads * m->info.head_dim;
	kv->threads = cl_pool_size(m->pool);
	size_t n = (size_t)kv->n_layers * (size_t)ctx * (size_t)kv->kv_dim;
	kv->f16 = m->opts.kv_f16;
	kv->k = malloc(n ? n * (kv->f16 ? 2 : 4) : 1);
	kv->v = malloc(n ? n * (kv->f16 ? 2 : 4) : 1);
	kv->scores = malloc((size_t)kv->threads * (size_t)ctx * sizeof(float));
	if (!kv->k || !kv->v || !kv->scores) {
		cl_kv_free(kv);
		return cl_error(CL_ERR_NOMEM, "KV cache of %d positions (%.1f MiB): out of memory", ctx,
				(double)cl_kv_bytes(m, ctx) / (1 << 20));
	}
	*out = kv;
	return CL_OK;
}

void cl_kv_free(struct cl_kv *kv)
{
	if (!kv)
		return;
	free(kv->k);
	free(kv->v);
	free(kv->scores);
	free(kv);
}

int32_t cl_kv_len(const struct cl_kv *kv) { return kv->len; }
int32_t cl_kv_ctx(const struct cl_kv *kv) { return kv->ctx; }

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Check a batch and rewind each sequence to its first row; the rows' kv->len
 * is set as they are computed. */
static enum cl_status check_batch(const struct cl_batch_row *rows, int32_t n)
{
	for (int32_t t = 0; t < n; t++) {
		struct cl_kv *kv = rows[t].kv;
		int32_t pos = rows[t].pos, prev = -1;
		for (int32_t u = t; u-- > 0;)
			if (rows[u].kv == kv) {
				prev = rows[u].pos;
				break;
			}
		if (prev < 0 && (pos < 0 || pos > kv->len))
			return cl_error(CL_ERR_RANGE, "position %d: the cache holds %d positions, so it can go on at "
					"%d or rewind to an earlier one", pos, kv->len, kv->len);
		if (prev >= 0 && pos != prev + 1)
			return cl_error(CL_ERR_RANGE, "position %d of a sequence follows its position %d in the batch: "
					"a sequence's rows come one position after another", pos, prev);
		if (pos >= kv->ctx)
			return cl_error(CL_ERR_RANGE, "position %d is beyond the context of %d positions", pos,
					kv->ctx);
	}
	for (int32_t t = 0; t < n; t++) {
		int first = 1;
		for (int32_t u = 0; u < t && first; u++)
			first = rows[u].kv != rows[t].kv;
		if (first)
			rows[t].kv->len = rows[t].pos; /* rewind */
	}
	return CL_OK;
}

enum cl_status cl_model_forward_batch(struct cl_model *m, const struct cl_batch_row *rows, int32_t n,
				      const float *x, float *logits)
{
	if (n < 1)
		return CL_OK;
	enum cl_status st = check_batch(rows, n);
	if (st)
		return st;
	for (int32_t t = 0; m->attn_buf && t < n; t++)
		if (rows[t].pos >= m->attn_ctx)
			return cl_error(CL_ERR_RANGE, "position %d: attention rows hold %d keys", rows[t].pos,
					m->attn_ctx);
	double t0 = now();
	int64_t dim = m->info.dim, V = m->info.out_dim;
	struct cl_row r[CL_BATCH];
	int32_t out[CL_BATCH];
	for (int32_t i = 0; i < n && !st; i += CL_BATCH) {
		int32_t b = n - i < CL_BATCH ? n - i : CL_BATCH, n_out = 0;
		for (int32_t t = 0; t < b; t++) {
			r[t] = (struct cl_row){rows[i + t].kv, rows[i + t].pos};
			if (rows[i + t].logits)
				out[n_out++] = t;
		}
		m->row0 = i;
		st = m->fam->forward(m, r, b, x + (size_t)i * dim, n_out ? logits : NULL, out, n_out);
		if (!st) {
			for (int32_t t = 0; t < b; t++)
				r[t].kv->len = r[t].pos + 1;
			logits = n_out ? logits + (size_t)n_out * V : logits;
		}
	}
	m->seconds += now() - t0;
	return st;
}

enum cl_status cl_model_forward(struct cl_model *m, struct cl_kv *kv, int32_t pos, int32_t n,
				const float *x, float *logits, int all)
{
	if (pos < 0 || pos > kv->len)
		return cl_error(CL_ERR_RANGE, "position %d: the cache holds %d positions, so it can go on at %d "
				"or rewind to an earlier one", pos, kv->len, kv->len);
	if (n < 1)
		return CL_OK;
	if ((int64_t)pos + n > kv->ctx)
		return cl_error(CL_ERR_RANGE, "position %lld is beyond the context of %d positions (see --ctx)",
				(long long)pos + n - 1, kv->ctx);
	struct cl_batch_row rows[CL_BATCH];
	enum cl_status st = CL_OK;
	int64_t V = m->info.out_dim, dim = m->info.dim;
	for (int32_t i = 0; i < n && !st; i += CL_BATCH) {
		int32_t b = n - i < CL_BATCH ? n - i : CL_BATCH;
		for (int32_t t = 0; t < b; t++)
			rows[t] = (struct cl_batch_row){kv, pos + i + t, logits && (all || i + t == n - 1)};
		st = cl_model_forward_batch(m, rows, b, x + (size_t)i * dim,
					    logits ? (all ? logits + (size_t)i * V : logits) : NULL);
	}
	return st;
}

int cl_config_is(const cJSON *cfg, const char *const *types, const char *arch)
{
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(cfg, "model_type"), *e;
	if (cJSON_IsString(mt)) {
		for (; *types; types++)
			if (strcmp(mt->valuestring, *types) == 0)
				return 1;
		return 0;
	}
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
	cJSON_ArrayForEach(e, a) if (cJSON_IsString(e) && strcmp(e->valuestring, arch) == 0) return 1;
	return 0;
}

struct attend_job {
	const struct cl_model *m;
	const struct cl_row *rows;
	int layer;
	int32_t n;
	const float *q;
	int64_t ldq;
	float scale;
	float *out;
};

static void attend_worker(void *arg, int ith, int nth)
{
	const struct attend_job *j = arg;
	const struct cl_model_info *in = &j->m->info;
	int hd = in->head_dim, nh = in->n_heads, rep = in->n_heads / in->n_kv_heads;
	int64_t od = (int64_t)nh * hd;
	int64_t total = (int64_t)j->n * nh;
	for (int64_t w = ith; w < total; w += nth) {
		int t = (int)(w / nh), h = (int)(w % nh);
		const struct cl_kv *kv = j->rows[t].kv;
		int64_t kvd = kv->kv_dim;
		float *scores = kv->scores + (size_t)ith * kv->ctx;                 /* (ctx) */
		size_t base = (size_t)j->layer * kv->ctx * kvd;                    /* (ctx, kv_dim) */
		int32_t p = j->rows[t].pos;
		const float *q = j->q + (size_t)t * j->ldq + (size_t)h * hd;
		int64_t koff = (int64_t)(h / rep) * hd;
		float *o = j->out + (size_t)t * od + (size_t)h * hd;
		float *keep = NULL; /* cl_model_set_attn's row for (t, layer, h) */
		if (j->m->attn_buf)
			keep = j->m->attn_buf + (((size_t)(j->m->row0 + t) * (size_t)kv->n_layers + (size_t)j->layer) * (size_t)nh +
						 (size_t)h) * (size_t)j->m->attn_ctx;
		if (!kv->f16) {
			const float *kc = (const float *)kv->k + base, *vc = (const float *)kv->v + base;
			for (int32_t s = 0; s <= p; s++)
				scores[s] = cl_dot_f32(q, kc + (size_t)s * kvd + koff, hd) * j->scale;
			cl_softmax(scores, p + 1);
			if (keep)
				memcpy(keep, scores, (size_t)(p + 1) * sizeof *scores);
			memset(o, 0, (size_t)hd * sizeof *o);
			for (int32_t s = 0; s <= p; s++)
				cl_axpy_f32(o, scores[s], vc + (size_t)s * kvd + koff, hd);
		} else {
			const uint16_t *kc = (const uint16_t *)kv->k + base, *vc = (const uint16_t *)kv->v + base;
			for (int32_t s = 0; s <= p; s++)
				scores[s] = cl_dot_f16(kc + (size_t)s * kvd + koff, q, hd) * j->scale;
			cl_softmax(scores, p + 1);
			if (keep)
				memcpy(keep, scores, (size_t)(p + 1) * sizeof *scores);
			memset(o, 0, (size_t)hd * sizeof *o);
			for (int32_t s = 0; s <= p; s++)
				cl_axpy_f16(o, scores[s], vc + (size_t)s * kvd + koff, hd);
		}
	}
}

void cl_model_attend(struct cl_model *m, const struct cl_row *rows, int layer, int32_t n, const float *q,
		     int64_t ldq, float scale, float *out)
{
	struct attend_job job = {m, rows, layer, n, q, ldq, scale, out};
	cl_pool_run(m->pool, attend_worker, &job);
}

enum cl_status cl_model_set_taps(struct cl_model *m, const int32_t *layers, int n, float *buf)
{
	free(m->tap_slot);
	m->tap_slot = NULL;
	m->tap_buf = NULL;
	m->n_taps = 0;
	if (!buf || n < 1)
		return CL_OK;
	int32_t nl = m->info.n_layers;
	if (!(m->tap_slot = malloc(((size_t)nl + 1) * sizeof *m->tap_slot)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	for (int32_t l = 0; l <= nl; l++)
		m->tap_slot[l] = -1;
	for (int k = 0; k < n; k++) {
		int32_t l = layers[k];
		if (l < m->info.layer_from || l > m->info.layer_to) {
			free(m->tap_slot);
			m->tap_slot = NULL;
			return cl_error(CL_ERR_RANGE, "tap at layer %d: the stage runs layers %d to %d, so its boundaries "
					"are %d to %d", l, m->info.layer_from, m->info.layer_to - 1, m->info.layer_from,
					m->info.layer_to);
		}
		if (m->tap_slot[l] >= 0) {
			free(m->tap_slot);
			m->tap_slot = NULL;
			return cl_error(CL_ERR_RANGE, "tap at layer %d: listed twice", l);
		}
		m->tap_slot[l] = k;
	}
	m->n_taps = n;
	m->tap_buf = buf;
	return CL_OK;
}

void cl_model_tap(struct cl_model *m, int32_t layer, const float *x, int32_t n)
{
	if (!m->tap_buf || m->tap_slot[layer] < 0)
		return;
	int64_t dim = m->info.dim;
	for (int32_t t = 0; t < n; t++)
		memcpy(m->tap_buf + ((size_t)(m->row0 + t) * (size_t)m->n_taps + (size_t)m->tap_slot[layer]) * (size_t)dim,
		       x + (size_t)t * dim, (size_t)dim * sizeof *x);
}

enum cl_status cl_model_set_attn(struct cl_model *m, float *buf, int32_t ctx)
{
	if (buf && ctx < 1)
		return cl_error(CL_ERR_RANGE, "attention rows of %d keys", ctx);
	m->attn_buf = buf;
	m->attn_ctx = buf ? ctx : 0;
	return CL_OK;
}

enum cl_status cl_model_warm(struct cl_model *m)
{
	struct cl_kv *kv;
	enum cl_status st = cl_kv_new(m, 1, &kv);
	if (st)
		return st;
	float *x = calloc((size_t)m->info.dim, sizeof *x), *lg = malloc((size_t)m->info.out_dim * sizeof *lg);
	if (!x || !lg) {
		st = cl_error(CL_ERR_NOMEM, "%s: out of memory", m->dir);
	} else {
		float *taps = m->tap_buf, *attn = m->attn_buf;
		double seconds = m->seconds;
		m->tap_buf = m->attn_buf = NULL;
		st = cl_model_forward(m, kv, 0, 1, x, lg, 0);
		m->tap_buf = taps, m->attn_buf = attn;
		m->seconds = seconds;
	}
	free(x);
	free(lg);
	cl_kv_free(kv);
	return st;
}

double cl_model_seconds(const struct cl_model *m)
{
	return m->seconds;
}
