/*
 * gpt2.c - the GPT-2 family (OpenAI GPT-2, Cerebras-GPT 111M..13B) in Hugging
 * Face's GPT2LMHeadModel layout: learned absolute positions, pre-norm
 * LayerNorm with bias, one fused QKV projection, a GELU MLP, biases on every
 * projection, usually tied embeddings.
 *
 * The projections are Conv1D modules that store their weight [in, out], the
 * transpose of what cl_matmul takes; each is transposed once at load into a
 * buffer of the same dtype owned by the model (then quantized when asked), so
 * the forward pass sees plain (out, in) rows like every other family.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

enum act {
	ACT_GELU_ERF,   /* "gelu": x/2 (1 + erf(x / sqrt 2)) */
	ACT_GELU_TANH,  /* "gelu_new", "gelu_pytorch_tanh": the tanh approximation */
};

struct layer {
	const float *ln1_w, *ln1_b;          /* (dim) */
	struct cl_mat attn;                  /* (3 dim, dim) c_attn, transposed */
	const float *attn_b;                 /* (3 dim) */
	struct cl_mat attn_proj;             /* (dim, dim) attn.c_proj, transposed */
	const float *attn_proj_b;            /* (dim) */
	const float *ln2_w, *ln2_b;          /* (dim) */
	struct cl_mat fc;                    /* (ffn, dim) mlp.c_fc, transposed */
	const float *fc_b;                   /* (ffn) */
	struct cl_mat proj;                  /* (dim, ffn) mlp.c_proj, transposed */
	const float *proj_b;                 /* (dim) */
};

struct gpt2 {
	struct layer *layers;                /* (n_layers) */
	struct cl_mat wpe;                   /* (max_pos, dim) learned positions, as stored */
	const float *lnf_w, *lnf_b;          /* (dim) */
	struct cl_mat lm_head;               /* (n_vocab, dim) wte when tied */
	float eps;
	float attn_scale;                    /* 1/sqrt(head_dim), or 1 without scale_attn_weights */
	enum act act;
	const char *prefix, *other;          /* "transformer." or "", and the other one */
	int out_in;                          /* projections stored (out, in): a GGUF file */
	/* The transposes' threads, during load only: model.c starts the
	 * model's own pool after the family's load. */
	struct cl_pool *load_pool;
	/* Activations for a batch of up to CL_BATCH positions: */
	float *x;                            /* (B, dim) the residual stream */
	float *xb;                           /* (B, dim) normed input of a block */
	float *qkv;                          /* (B, 3 dim) q, k, v; heads are head_dim chunks */
	float *att;                          /* (B, dim) attention output, heads concatenated */
	float *hb;                           /* (B, ffn) */
	float *out;                          /* (B, dim) a block's output before the residual add */
};

static int gpt2_claims(const cJSON *cfg)
{
	static const char *const types[] = {"gpt2", NULL};
	return cl_config_is(cfg, types, "GPT2LMHeadModel");
}

static void gpt2_free(struct cl_model *m)
{
	struct gpt2 *G = m->impl;
	if (!G)
		return;
	cl_pool_free(G->load_pool);
	free(G->layers);
	free(G->x);
	free(G->xb);
	free(G->qkv);
	free(G->att);
	free(G->hb);
	free(G->out);
	free(G);
	m->impl = NULL;
}

/* A tensor by its name without the "transformer." prefix, tried first with
 * the prefix the checkpoint uses for wte, then with the other. */
static enum cl_status get(struct cl_model *m, const char *name, int64_t d0, int64_t d1, struct cl_tensor *t)
{
	struct gpt2 *G = m->impl;
	char a[256], b[256];
	snprintf(a, sizeof a, "%s%s", G->prefix, name);
	snprintf(b, sizeof b, "%s%s", G->other, name);
	const char *names[] = {a, b, NULL};
	int64_t shape[2] = {d0, d1};
	enum cl_status st = cl_weights_get_any(m->w, names, d1 ? 2 : 1, shape, t);
	/* Conv1D weights are transposed element by element at load, which a
	 * block type cannot be; cl-quantize writes none for GPT-2. */
	if (!st && !G->out_in && cl_dtype_block(t->dtype) > 1)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: %s: block-quantized weights are read for "
				"Llama-family models only (use --quantize at load)",
				t->file, t->name, cl_dtype_name(t->dtype));
	return st;
}

static enum cl_status get_vec(struct cl_model *m, const char *name, int64_t n, const float **out)
{
	struct cl_tensor t;
	enum cl_status st = get(m, name, n, 0, &t);
	return st ? st : cl_model_vec(m, &t, out);
}

/* The conversion's message, with the model and tensor it was about. */
static enum cl_status converting(struct cl_model *m, const char *name, enum cl_status st)
{
	char why[512];
	snprintf(why, sizeof why, "%s", cl_errmsg());
	return cl_error(st, "%s: %s: %s", m->dir, name, why);
}

struct transpose_job {
	unsigned char *dst;                  /* (out, in) */
	const unsigned char *src;            /* (in, out), maybe unaligned */
	int64_t in, out;
	size_t es;                           /* bytes per element: 4 or 2 */
};

enum { TILE = 32 };

/* dst = srcᵀ for the tiles of dst rows j0..j1 (whole tiles of TILE rows), in
 * tiles so both sides stay in cache, reading the source in order.  Inlined
 * with a constant es, so each memcpy is one unaligned load and store. */
static inline void transpose_rows(const struct transpose_job *t, int64_t j0, int64_t j1, size_t es)
{
	int64_t in = t->in, out = t->out;
	for (int64_t i0 = 0; i0 < in; i0 += TILE) {
		int64_t i1 = i0 + TILE < in ? i0 + TILE : in;
		for (int64_t i = i0; i < i1; i++)
			for (int64_t j = j0; j < j1; j++)
				memcpy(t->dst + ((size_t)j * in + i) * es, t->src + ((size_t)i * out + j) * es, es);
	}
}

/* Tiles of TILE dst rows dealt round-robin: each thread writes its own rows. */
static void transpose_worker(void *arg, int ith, int nth)
{
	const struct transpose_job *t = arg;
	for (int64_t j0 = (int64_t)ith * TILE; j0 < t->out; j0 += (int64_t)nth * TILE) {
		int64_t j1 = j0 + TILE < t->out ? j0 + TILE : t->out;
		if (t->es == 4)
			transpose_rows(t, j0, j1, 4);
		else
			transpose_rows(t, j0, j1, 2);
	}
}

/* A Conv1D weight stored [in, out] as an (out, in) matrix: transposed into a
 * buffer of the stored dtype (so F16 stays as small as it was), then
 * converted to opts.quantize when asked. */
static enum cl_status get_conv(struct cl_model *m, const char *name, int64_t in, int64_t out,
			       struct cl_mat *mat)
{
	struct cl_tensor t;
	enum cl_status st;
	if (((struct gpt2 *)m->impl)->out_in) {
		/* llama.cpp's converter has transposed it already. */
		if ((st = get(m, name, out, in, &t)) || (st = cl_model_mat(m, &t, 1, mat)))
			return st;
		return CL_OK;
	}
	if ((st = get(m, name, in, out, &t)))
		return st;
	size_t es = cl_dtype_size(t.dtype, 1);
	unsigned char *dst = malloc((size_t)in * (size_t)out * es);
	if (!dst)
		return cl_error(CL_ERR_NOMEM, "%s: %s: out of memory", m->dir, name);
	struct transpose_job job = {dst, t.data, in, out, es};
	cl_pool_run(((struct gpt2 *)m->impl)->load_pool, transpose_worker, &job);
	struct cl_mat tm = {dst, t.dtype, out, in, 0};
	/* Listed as made at load, so that a GGUF writer finds it (out, in). */
	if (m->opts.quantize < 0 || (enum cl_dtype)m->opts.quantize == t.dtype) {
		size_t bytes;
		*mat = tm;
		if (m->opts.pack && cl_mat_packing(&tm, &bytes) != CL_PACK_NONE) {
			/* Packed (F16 on AVX-512) as it is from a GGUF file, so both
			 * give the same bits; the transposed copy then goes, where
			 * keeping it for a writer would double the weights (a
			 * writer loads with opts.pack 0: cl_model_save_gguf). */
			st = cl_model_pack(m, mat, 0);
			free(dst);
			m->n_unlisted++;
			return st;
		}
		st = cl_model_own(m, dst);
		return st ? st : cl_model_conv_add(m, t.name, mat);
	}
	void *owned = NULL;
	st = cl_mat_convert(&tm, (enum cl_dtype)m->opts.quantize, mat, &owned);
	free(dst);
	if (st)
		return converting(m, name, st);
	if ((st = cl_model_own(m, owned)) || (st = cl_model_conv_add(m, t.name, mat)))
		return st;
	return cl_model_pack(m, mat, 0);
}

static enum cl_status read_config(struct cl_model_info *in, struct gpt2 *G, const cJSON *cfg, const char *path)
{
	int64_t v;
	double d;
	const char *s;
	int flag;
	enum cl_status st;
#define INT(key, req, dflt, lo, hi, dst)                                                    \
	do {                                                                                \
		if ((st = cl_json_int(cfg, path, key, req, dflt, lo, hi, &v)))              \
			return st;                                                          \
		dst = (int32_t)v;                                                           \
	} while (0)
	INT("n_embd", 1, 0, 1, 1 << 20, in->dim);
	INT("n_layer", 1, 0, 1, 1 << 12, in->n_layers);
	INT("n_head", 1, 0, 1, 1 << 12, in->n_heads);
	INT("n_inner", 0, 4 * (int64_t)in->dim, 1, 1 << 22, in->ffn_dim);
	INT("vocab_size", 0, 50257, 1, 1 << 24, in->n_vocab);
	INT("n_ctx", 0, 1024, 1, 1 << 24, in->max_pos);
	INT("n_positions", 0, in->max_pos, 1, 1 << 24, in->max_pos);
	/* GPT2Config's defaults: Cerebras-GPT's config.json names neither. */
	INT("bos_token_id", 0, 50256, -1, in->n_vocab - 1, in->bos);
	INT("eos_token_id", 0, 50256, -1, in->n_vocab - 1, in->eos);
#undef INT
	/* A default of 50256 means nothing in a smaller vocabulary. */
	if (in->bos >= in->n_vocab)
		in->bos = -1;
	if (in->eos >= in->n_vocab)
		in->eos = -1;
	if (in->dim % in->n_heads)
		return cl_error(CL_ERR_FORMAT, "%s: n_head: %d does not divide n_embd %d", path, in->n_heads,
				in->dim);
	in->n_kv_heads = in->n_heads;
	in->head_dim = in->dim / in->n_heads;
	if ((st = cl_json_num(cfg, path, "layer_norm_epsilon", 0, 1e-5, 0, 1, &d)))
		return st;
	G->eps = (float)d;
	if ((st = cl_json_str(cfg, path, "activation_function", 0, "gelu_new", &s)))
		return st;
	if (strcmp(s, "gelu") == 0)
		G->act = ACT_GELU_ERF;
	else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0)
		G->act = ACT_GELU_TANH;
	else
		return cl_error(CL_ERR_UNSUPPORTED,
				"%s: activation_function: '%s' is not supported (gelu, gelu_new, gelu_pytorch_tanh)",
				path, s);
	if ((st = cl_json_bool(cfg, path, "scale_attn_weights", 0, 1, &flag)))
		return st;
	G->attn_scale = flag ? 1.0f / sqrtf((float)in->head_dim) : 1.0f;
	/* Both are off in every GPT-2 and Cerebras-GPT checkpoint; refused rather
	 * than silently ignored until a checkpoint that needs them is at hand. */
	static const char *const refused[] = {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"};
	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		if ((st = cl_json_bool(cfg, path, refused[i], 0, 0, &flag)))
			return st;
		if (flag)
			return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: true is not supported", path, refused[i]);
	}
	return CL_OK;
}

/* Every tensor's presence, dtype and shape, before the slow part of loading
 * (the transposes) begins: a 13B checkpoint with a bad last tensor fails at
 * once. */
static enum cl_status check_tensors(struct cl_model *m, int tie)
{
	const struct cl_model_info *in = &m->info;
	int64_t D = in->dim, F = in->ffn_dim;
	const struct {
		const char *suffix;
		int64_t d0, d1;
	} lt[] = {
		{"ln_1.weight", D, 0}, {"ln_1.bias", D, 0},
		{"attn.c_attn.weight", D, 3 * D}, {"attn.c_attn.bias", 3 * D, 0},
		{"attn.c_proj.weight", D, D}, {"attn.c_proj.bias", D, 0},
		{"ln_2.weight", D, 0}, {"ln_2.bias", D, 0},
		{"mlp.c_fc.weight", D, F}, {"mlp.c_fc.bias", F, 0},
		{"mlp.c_proj.weight", F, D}, {"mlp.c_proj.bias", D, 0},
	};
	struct cl_tensor t;
	enum cl_status st;
	char name[128];
	for (int l = 0; l < in->n_layers; l++)
		for (size_t i = 0; i < sizeof lt / sizeof lt[0]; i++) {
			snprintf(name, sizeof name, "h.%d.%s", l, lt[i].suffix);
			int swap = ((struct gpt2 *)m->impl)->out_in && lt[i].d1;
			if ((st = get(m, name, swap ? lt[i].d1 : lt[i].d0, swap ? lt[i].d0 : lt[i].d1, &t)))
				return st;
		}
	if ((st = get(m, "ln_f.weight", D, 0, &t)) || (st = get(m, "ln_f.bias", D, 0, &t)))
		return st;
	int64_t shape[2] = {in->n_vocab, D};
	return tie ? CL_OK : cl_weights_get(m->w, "lm_head.weight", 2, shape, &t);
}

static enum cl_status gpt2_load(struct cl_model *m, const cJSON *cfg, const char *path)
{
	struct cl_model_info *in = &m->info;
	struct gpt2 *G = calloc(1, sizeof *G);
	enum cl_status st;
	char name[128];
	if (!G)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	m->impl = G;
	if ((st = read_config(in, G, cfg, path)))
		return st;
	int tie;
	if ((st = cl_json_bool(cfg, path, "tie_word_embeddings", 0, 1, &tie)))
		return st;
	int prefixed = cl_weights_has(m->w, "transformer.wte.weight");
	G->prefix = prefixed ? "transformer." : "";
	G->other = prefixed ? "" : "transformer.";
	G->out_in = cl_weights_gguf(m->w) != NULL;
	int64_t D = in->dim, F = in->ffn_dim, V = in->n_vocab, NP = in->max_pos;
	struct cl_tensor wte, t;
	if ((st = get(m, "wte.weight", V, D, &wte)) || (st = cl_model_mat(m, &wte, 0, &m->embed)))
		return st;
	if ((st = get(m, "wpe.weight", NP, D, &t)) || (st = cl_model_mat(m, &t, 0, &G->wpe)))
		return st;
	if ((st = check_tensors(m, tie)))
		return st;
	if (!(G->layers = calloc((size_t)in->n_layers, sizeof *G->layers)) ||
	    !(G->load_pool = cl_pool_new(m->opts.threads)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	for (int l = 0; l < in->n_layers; l++) {
		struct layer *y = &G->layers[l];
#define P(suffix) (snprintf(name, sizeof name, "h.%d." suffix, l), name)
		if ((st = get_vec(m, P("ln_1.weight"), D, &y->ln1_w)) ||
		    (st = get_vec(m, P("ln_1.bias"), D, &y->ln1_b)) ||
		    (st = get_conv(m, P("attn.c_attn.weight"), D, 3 * D, &y->attn)) ||
		    (st = get_vec(m, P("attn.c_attn.bias"), 3 * D, &y->attn_b)) ||
		    (st = get_conv(m, P("attn.c_proj.weight"), D, D, &y->attn_proj)) ||
		    (st = get_vec(m, P("attn.c_proj.bias"), D, &y->attn_proj_b)) ||
		    (st = get_vec(m, P("ln_2.weight"), D, &y->ln2_w)) ||
		    (st = get_vec(m, P("ln_2.bias"), D, &y->ln2_b)) ||
		    (st = get_conv(m, P("mlp.c_fc.weight"), D, F, &y->fc)) ||
		    (st = get_vec(m, P("mlp.c_fc.bias"), F, &y->fc_b)) ||
		    (st = get_conv(m, P("mlp.c_proj.weight"), F, D, &y->proj)) ||
		    (st = get_vec(m, P("mlp.c_proj.bias"), D, &y->proj_b))) {
			if (m->opts.progress && l > 0)
				fputc('\n', stderr); /* the progress line ends before the message */
			return st;
		}
#undef P
		if (m->opts.progress)
			fprintf(stderr, "\r%s: layer %d of %d", m->dir, l + 1, in->n_layers);
	}
	cl_pool_free(G->load_pool);
	G->load_pool = NULL;
	if (m->opts.progress)
		fputc('\n', stderr);
	if ((st = get_vec(m, "ln_f.weight", D, &G->lnf_w)) || (st = get_vec(m, "ln_f.bias", D, &G->lnf_b)))
		return st;
	if (tie) {
		/* Hugging Face ties lm_head to wte whatever a stray lm_head.weight holds. */
		if ((st = cl_model_mat(m, &wte, 1, &G->lm_head)))
			return converting(m, "wte.weight", st);
	} else {
		int64_t shape[2] = {V, D};
		if ((st = cl_weights_get(m->w, "lm_head.weight", 2, shape, &t)))
			return st;
		if ((st = cl_model_mat(m, &t, 1, &G->lm_head)))
			return converting(m, "lm_head.weight", st);
	}
	in->wtype = wte.dtype;
	in->layer_params = (uint64_t)in->n_layers * (4 * D + 3 * D * D + 3 * D + D * D + D + 2 * D * F + F + D);
	in->n_params = (uint64_t)V * D * (tie ? 1 : 2) + (uint64_t)NP * D + 2 * D + in->layer_params;
	uint64_t wb = cl_dtype_size(G->lm_head.dtype, D) * (uint64_t)V;
	for (int l = 0; l < in->n_layers; l++) {
		struct layer *y = &G->layers[l];
		const struct cl_mat *ms[] = {&y->attn, &y->attn_proj, &y->fc, &y->proj};
		for (size_t k = 0; k < 4; k++)
			wb += cl_dtype_size(ms[k]->dtype, ms[k]->cols) * (uint64_t)ms[k]->rows;
	}
	in->weight_bytes = wb;
	size_t B = CL_BATCH;
	G->x = malloc(B * D * sizeof(float));
	G->xb = malloc(B * D * sizeof(float));
	G->qkv = malloc(B * 3 * D * sizeof(float));
	G->att = malloc(B * D * sizeof(float));
	G->hb = malloc(B * F * sizeof(float));
	G->out = malloc(B * D * sizeof(float));
	if (!G->x || !G->xb || !G->qkv || !G->att || !G->hb || !G->out)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	return CL_OK;
}


/* Causal attention for (position, head) pairs split over the threads; keys
 * and values come from the cache, which already holds this batch's. */
static void add_bias(float *y, const float *b, int64_t n, int64_t cols)
{
	for (int64_t t = 0; t < n; t++)
		for (int64_t i = 0; i < cols; i++)
			y[t * cols + i] += b[i];
}

/* A batch's LayerNorms and GELU, through cl_model_par. */
struct rows_job {
	float *out;              /* (n, w) */
	const float *in;         /* (n, w) */
	const float *nw, *nb;    /* (w) */
	int64_t w;
	float eps;
	int erf;                 /* GELU: the exact form, else tanh's */
};

static void norm_range(void *arg, int64_t a, int64_t b)
{
	const struct rows_job *j = arg;
	for (int64_t t = a; t < b; t++)
		cl_layernorm(j->out + t * j->w, j->in + t * j->w, j->nw, j->nb, j->w, j->eps);
}

static void gelu_range(void *arg, int64_t a, int64_t b)
{
	const struct rows_job *j = arg;
	const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
	for (int64_t i = a; i < b; i++) {
		float v = j->out[i];
		j->out[i] = j->erf ? 0.5f * v * (1.0f + erff(v * (float)M_SQRT1_2))
				   : 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
	}
}

static void norm_rows(struct cl_model *m, float *out, const float *x, const float *w, const float *bias, int64_t n,
		      int64_t dim, float eps)
{
	struct rows_job j = {.out = out, .in = x, .nw = w, .nb = bias, .w = dim, .eps = eps};
	cl_model_par(m, n, n, norm_range, &j);
}

static enum cl_status gpt2_forward(struct cl_model *m, const struct cl_row *rows, int32_t n, const float *xin,
				   float *logits, const int32_t *out, int32_t n_out)
{
	struct gpt2 *G = m->impl;
	const struct cl_model_info *in = &m->info;
	int64_t D = in->dim, F = in->ffn_dim;
	for (int t = 0; t < n; t++)
		if (rows[t].pos >= in->max_pos)
			return cl_error(CL_ERR_RANGE, "position %d is beyond n_positions %d", rows[t].pos,
					in->max_pos);
	/* The learned positions join the embeddings as layer 0 begins: boundary
	 * 0 (a stage's input or output, a tap) is the token embeddings alone,
	 * so that --layers 0:0 | --layers 0: adds them once. */
	int add_pos = in->layer_from == 0 && in->layer_to > 0;
	if (in->layer_from == 0)
		cl_model_tap(m, 0, xin, n);
	for (int t = 0; t < n; t++) {
		if (add_pos) {
			cl_mat_row(&G->wpe, rows[t].pos, G->xb + t * D);
			for (int64_t i = 0; i < D; i++)
				G->x[t * D + i] = xin[t * D + i] + G->xb[t * D + i];
		} else {
			memcpy(G->x + t * D, xin + t * D, (size_t)D * sizeof(float));
		}
	}
	for (int l = in->layer_from; l < in->layer_to; l++) {
		const struct layer *y = &G->layers[l];
		int lk = l - in->layer_from;
		if (l > 0)
			cl_model_tap(m, l, G->x, n);
		norm_rows(m, G->xb, G->x, y->ln1_w, y->ln1_b, n, D, G->eps);
		cl_matmul(m->pool, &y->attn, G->xb, n, G->qkv);
		add_bias(G->qkv, y->attn_b, n, 3 * D);
		for (int t = 0; t < n; t++) {
			cl_kv_store(rows[t].kv, lk, rows[t].pos, G->qkv + t * 3 * D + D, G->qkv + t * 3 * D + 2 * D);
		}
		cl_model_attend(m, rows, lk, n, G->qkv, 3 * D, G->attn_scale, G->att);
		cl_matmul(m->pool, &y->attn_proj, G->att, n, G->out);
		add_bias(G->out, y->attn_proj_b, n, D);
		for (int64_t i = 0; i < n * D; i++)
			G->x[i] += G->out[i];
		norm_rows(m, G->xb, G->x, y->ln2_w, y->ln2_b, n, D, G->eps);
		cl_matmul(m->pool, &y->fc, G->xb, n, G->hb);
		add_bias(G->hb, y->fc_b, n, F);
		struct rows_job ge = {.out = G->hb, .erf = G->act == ACT_GELU_ERF};
		cl_model_par(m, n, n * F, gelu_range, &ge);
		cl_matmul(m->pool, &y->proj, G->hb, n, G->out);
		add_bias(G->out, y->proj_b, n, D);
		for (int64_t i = 0; i < n * D; i++)
			G->x[i] += G->out[i];
	}
	if (in->layer_to > 0)
		cl_model_tap(m, in->layer_to, G->x, n);
	if (!logits || !n_out)
		return CL_OK;
	if (in->layer_to < in->n_layers) {
		for (int k = 0; k < n_out; k++)
			memcpy(logits + (size_t)k * D, G->x + (size_t)out[k] * D, (size_t)D * sizeof(float));
		return CL_OK;
	}
	for (int k = 0; k < n_out; k++)
		cl_layernorm(G->xb + k * D, G->x + out[k] * D, G->lnf_w, G->lnf_b, D, G->eps);
	cl_matmul(m->pool, &G->lm_head, G->xb, n_out, logits);
	return CL_OK;
}

const struct cl_family_ops cl_family_gpt2 = {
	.name = "gpt2",
	.id = CL_FAMILY_GPT2,
	.claims = gpt2_claims,
	.load = gpt2_load,
	.forward = gpt2_forward,
	.free = gpt2_free,
};
