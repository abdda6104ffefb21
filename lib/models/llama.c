/*
 * llama.c - the Llama family (Llama 2, Code Llama, TinyLlama, ...) in Hugging
 * Face's layout: RMSNorm, rotary positions applied rotate-half style (q_proj
 * and k_proj rows are ordered for it), grouped-query attention, SwiGLU.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

struct layer {
	const float *attn_norm, *ffn_norm;   /* (dim) */
	struct cl_mat wq;                     /* (n_heads * head_dim, dim) */
	struct cl_mat wk, wv;                 /* (n_kv_heads * head_dim, dim) */
	struct cl_mat wo;                     /* (dim, n_heads * head_dim) */
	struct cl_mat gate, up;               /* (ffn, dim) */
	struct cl_mat down;                   /* (dim, ffn) */
};

struct llama {
	struct layer *layers;                 /* (n_layers) */
	const float *norm;                    /* (dim) */
	struct cl_mat lm_head;                /* (n_vocab, dim) */
	float eps;
	float *inv_freq;                      /* (head_dim / 2) rotary frequencies */
	double rope_scale;                    /* linear scaling: positions divided by it */
	int interleaved;                      /* q, k rows in pairs (2i, 2i+1): a GGUF file */
	/* Activations for a batch of up to CL_BATCH positions: */
	float *x;                             /* (B, dim) the residual stream */
	float *xb;                            /* (B, dim) normed input of a block */
	float *q;                             /* (B, n_heads * head_dim) */
	float *k, *v;                         /* (B, kv_dim) */
	float *att;                           /* (B, n_heads * head_dim) */
	float *hb, *hb2;                      /* (B, ffn) */
	float *out;                           /* (B, dim) */
	float *cos, *sin;                     /* (B, head_dim / 2) rotations of the batch */
};

static int llama_claims(const cJSON *cfg)
{
	static const char *const types[] = {"llama", "code_llama", NULL};
	return cl_config_is(cfg, types, "LlamaForCausalLM");
}

static void llama_free(struct cl_model *m)
{
	struct llama *L = m->impl;
	if (!L)
		return;
	free(L->layers);
	free(L->inv_freq);
	free(L->x);
	free(L->xb);
	free(L->q);
	free(L->k);
	free(L->v);
	free(L->att);
	free(L->hb);
	free(L->hb2);
	free(L->out);
	free(L->cos);
	free(L->sin);
	free(L);
	m->impl = NULL;
}

static enum cl_status get(struct cl_model *m, const char *name, int64_t d0, int64_t d1, struct cl_tensor *t)
{
	int64_t shape[2] = {d0, d1};
	return cl_weights_get(m->w, name, d1 ? 2 : 1, shape, t);
}

static enum cl_status get_mat(struct cl_model *m, const char *name, int64_t rows, int64_t cols, struct cl_mat *out)
{
	struct cl_tensor t;
	enum cl_status st = get(m, name, rows, cols, &t);
	return st ? st : cl_model_mat(m, &t, 1, out);
}

static enum cl_status get_vec(struct cl_model *m, const char *name, int64_t n, const float **out)
{
	struct cl_tensor t;
	enum cl_status st = get(m, name, n, 0, &t);
	return st ? st : cl_model_vec(m, &t, out);
}

static enum cl_status read_config(struct cl_model_info *in, struct llama *L, const cJSON *cfg, const char *path)
{
	int64_t v;
	double d;
	const char *s;
	enum cl_status st;
#define INT(key, req, dflt, lo, hi, dst)                                                    \
	do {                                                                                \
		if ((st = cl_json_int(cfg, path, key, req, dflt, lo, hi, &v)))              \
			return st;                                                          \
		dst = (int32_t)v;                                                           \
	} while (0)
	INT("hidden_size", 1, 0, 1, 1 << 20, in->dim);
	INT("intermediate_size", 1, 0, 1, 1 << 22, in->ffn_dim);
	INT("num_hidden_layers", 1, 0, 1, 1 << 12, in->n_layers);
	INT("num_attention_heads", 1, 0, 1, 1 << 12, in->n_heads);
	INT("num_key_value_heads", 0, in->n_heads, 1, in->n_heads, in->n_kv_heads);
	INT("head_dim", 0, in->dim / in->n_heads, 2, 1 << 14, in->head_dim);
	INT("vocab_size", 1, 0, 1, 1 << 24, in->n_vocab);
	INT("max_position_embeddings", 0, 2048, 1, 1 << 24, in->max_pos);
	INT("bos_token_id", 0, 1, -1, in->n_vocab - 1, in->bos);
	INT("eos_token_id", 0, 2, -1, in->n_vocab - 1, in->eos);
#undef INT
	if (in->n_heads % in->n_kv_heads)
		return cl_error(CL_ERR_FORMAT, "%s: num_key_value_heads: %d does not divide num_attention_heads %d",
				path, in->n_kv_heads, in->n_heads);
	if (in->head_dim % 2)
		return cl_error(CL_ERR_FORMAT, "%s: head_dim: %d is odd; rotary positions need pairs", path,
				in->head_dim);
	if (!cJSON_GetObjectItemCaseSensitive(cfg, "head_dim") && in->dim % in->n_heads)
		return cl_error(CL_ERR_FORMAT, "%s: num_attention_heads: %d does not divide hidden_size %d", path,
				in->n_heads, in->dim);
	if ((st = cl_json_num(cfg, path, "rms_norm_eps", 0, 1e-6, 0, 1, &d)))
		return st;
	L->eps = (float)d;
	double theta;
	if ((st = cl_json_num(cfg, path, "rope_theta", 0, 10000.0, 1e-3, 1e12, &theta)))
		return st;
	if ((st = cl_json_str(cfg, path, "hidden_act", 0, "silu", &s)))
		return st;
	if (strcmp(s, "silu") != 0)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: hidden_act: '%s' is not supported (silu)", path, s);
	if ((st = cl_json_str(cfg, path, "cl.rope_rows", 0, "rotate_half", &s)))
		return st;
	if (strcmp(s, "interleaved") != 0 && strcmp(s, "rotate_half") != 0)
		return cl_error(CL_ERR_FORMAT, "%s: cl.rope_rows: '%s' (interleaved or rotate_half)", path, s);
	L->interleaved = strcmp(s, "interleaved") == 0;
	L->rope_scale = 1.0;
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
	if (rs && !cJSON_IsNull(rs)) {
		const char *type = NULL;
		if (!cJSON_IsObject(rs))
			return cl_error(CL_ERR_FORMAT, "%s: rope_scaling: expected an object or null", path);
		if ((st = cl_json_str(rs, path, "type", 0, NULL, &type)))
			return st;
		if (!type && (st = cl_json_str(rs, path, "rope_type", 0, NULL, &type)))
			return st;
		if (!type || strcmp(type, "linear") != 0)
			return cl_error(CL_ERR_UNSUPPORTED, "%s: rope_scaling: type '%s' is not supported (linear)",
					path, type ? type : "(none)");
		if ((st = cl_json_num(rs, path, "factor", 1, 1, 1e-3, 1e6, &L->rope_scale)))
			return st;
	}
	int half = in->head_dim / 2;
	if (!(L->inv_freq = malloc((size_t)half * sizeof(float))))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	for (int i = 0; i < half; i++)
		L->inv_freq[i] = (float)(1.0 / pow(theta, (2.0 * i) / in->head_dim));
	return CL_OK;
}

static enum cl_status llama_load(struct cl_model *m, const cJSON *cfg, const char *path)
{
	struct cl_model_info *in = &m->info;
	struct llama *L = calloc(1, sizeof *L);
	enum cl_status st;
	char name[256];
	if (!L)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	m->impl = L;
	if ((st = read_config(in, L, cfg, path)))
		return st;
	int tie;
	if ((st = cl_json_bool(cfg, path, "tie_word_embeddings", 0, 0, &tie)))
		return st;
	int64_t dim = in->dim, qd = (int64_t)in->n_heads * in->head_dim,
		kvd = (int64_t)in->n_kv_heads * in->head_dim, ffn = in->ffn_dim, V = in->n_vocab;
	struct cl_tensor t;
	if ((st = get(m, "model.embed_tokens.weight", V, dim, &t)))
		return st;
	if ((st = cl_model_mat(m, &t, 0, &m->embed)))
		return st;
	if (!(L->layers = calloc((size_t)in->n_layers, sizeof *L->layers)))
		return cl_error(CL_ERR_NOMEM, "out of memory");
	for (int l = 0; l < in->n_layers; l++) {
		struct layer *y = &L->layers[l];
#define P(suffix) (snprintf(name, sizeof name, "model.layers.%d." suffix, l), name)
		if ((st = get_vec(m, P("input_layernorm.weight"), dim, &y->attn_norm)) ||
		    (st = get_vec(m, P("post_attention_layernorm.weight"), dim, &y->ffn_norm)) ||
		    (st = get_mat(m, P("self_attn.q_proj.weight"), qd, dim, &y->wq)) ||
		    (st = get_mat(m, P("self_attn.k_proj.weight"), kvd, dim, &y->wk)) ||
		    (st = get_mat(m, P("self_attn.v_proj.weight"), kvd, dim, &y->wv)) ||
		    (st = get_mat(m, P("self_attn.o_proj.weight"), dim, qd, &y->wo)) ||
		    (st = get_mat(m, P("mlp.gate_proj.weight"), ffn, dim, &y->gate)) ||
		    (st = get_mat(m, P("mlp.up_proj.weight"), ffn, dim, &y->up)) ||
		    (st = get_mat(m, P("mlp.down_proj.weight"), dim, ffn, &y->down))) {
			if (m->opts.progress && l > 0)
				fputc('\n', stderr); /* the progress line ends before the message */
			return st;
		}
#undef P
		if (m->opts.progress)
			fprintf(stderr, "\r%s: layer %d of %d", m->dir, l + 1, in->n_layers);
	}
	if (m->opts.progress)
		fputc('\n', stderr);
	if ((st = get_vec(m, "model.norm.weight", dim, &L->norm)))
		return st;
	if (tie && !cl_weights_has(m->w, "lm_head.weight")) {
		/* A converted copy is saved (cl_model_save) as lm_head.weight,
		 * which this loader then takes, tied or not. */
		struct cl_tensor th = t;
		th.name = "lm_head.weight";
		if ((st = cl_model_mat(m, &th, 1, &L->lm_head)))
			return st;
	} else if ((st = get_mat(m, "lm_head.weight", V, dim, &L->lm_head))) {
		return st;
	}
	in->wtype = t.dtype;
	in->layer_params = (uint64_t)in->n_layers * (2 * dim + dim * qd * 2 + dim * kvd * 2 + 3 * dim * ffn);
	in->n_params = (uint64_t)V * dim * (tie ? 1 : 2) + dim + in->layer_params;
	uint64_t wb = cl_dtype_size(L->lm_head.dtype, dim) * (uint64_t)V;
	for (int l = 0; l < in->n_layers; l++) {
		struct layer *y = &L->layers[l];
		const struct cl_mat *ms[] = {&y->wq, &y->wk, &y->wv, &y->wo, &y->gate, &y->up, &y->down};
		for (size_t k = 0; k < 7; k++)
			wb += cl_dtype_size(ms[k]->dtype, ms[k]->cols) * (uint64_t)ms[k]->rows;
	}
	in->weight_bytes = wb;
	size_t B = CL_BATCH;
	L->x = malloc(B * dim * sizeof(float));
	L->xb = malloc(B * dim * sizeof(float));
	L->out = malloc(B * dim * sizeof(float));
	L->q = malloc(B * qd * sizeof(float));
	L->att = malloc(B * qd * sizeof(float));
	L->k = malloc(B * kvd * sizeof(float));
	L->v = malloc(B * kvd * sizeof(float));
	L->hb = malloc(B * ffn * sizeof(float));
	L->hb2 = malloc(B * ffn * sizeof(float));
	L->cos = malloc(B * (size_t)(in->head_dim / 2) * sizeof(float));
	L->sin = malloc(B * (size_t)(in->head_dim / 2) * sizeof(float));
	if (!L->x || !L->xb || !L->out || !L->q || !L->att || !L->k || !L->v || !L->hb || !L->hb2 || !L->cos ||
	    !L->sin)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	return CL_OK;
}

/* llama.cpp's converter stores each head's q and k rows interleaved (row
 * 2i + j holds Hugging Face's row j·hd/2 + i); put n heads of a product back
 * in Hugging Face's order, so that all that follows is the directory's.
 * tmp: (hd). */
static void deinterleave(float *v, int n, int hd, float *tmp)
{
	int half = hd / 2;
	for (int h = 0; h < n; h++, v += hd) {
		memcpy(tmp, v, (size_t)hd * sizeof *v);
		for (int i = 0; i < half; i++) {
			v[i] = tmp[2 * i];
			v[half + i] = tmp[2 * i + 1];
		}
	}
}

/* Rotate-half RoPE on one head vector of head_dim: the pairs are
 * (i, i + head_dim/2), as Hugging Face's rotate_half. */
static void rope(float *v, int hd, const float *c, const float *s)
{
	int half = hd / 2;
	for (int i = 0; i < half; i++) {
		float x0 = v[i], x1 = v[i + half];
		v[i] = x0 * c[i] - x1 * s[i];
		v[i + half] = x1 * c[i] + x0 * s[i];
	}
}

/* A batch's norms and SwiGLU, through cl_model_par. */
struct rows_job {
	float *out;             /* (n, w) */
	const float *in, *in2;  /* (n, w) */
	const float *norm;      /* (w) */
	int64_t w;
	float eps;
};

static void norm_range(void *arg, int64_t a, int64_t b)
{
	const struct rows_job *j = arg;
	for (int64_t t = a; t < b; t++)
		cl_rmsnorm(j->out + t * j->w, j->in + t * j->w, j->norm, j->w, j->eps);
}

static void swiglu_range(void *arg, int64_t a, int64_t b)
{
	const struct rows_job *j = arg;
	for (int64_t i = a; i < b; i++) {
		float g = j->in[i];
		j->out[i] = g / (1.0f + expf(-g)) * j->in2[i];
	}
}

/* out[t] = rmsnorm(x[t]) · w for the n rows. */
static void norm_rows(struct cl_model *m, float *out, const float *x, const float *w, int64_t n, int64_t dim, float eps)
{
	struct rows_job j = {.out = out, .in = x, .norm = w, .w = dim, .eps = eps};
	cl_model_par(m, n, n, norm_range, &j);
}

static enum cl_status llama_forward(struct cl_model *m, const struct cl_row *rows, int32_t n, const float *xin,
				    float *logits, const int32_t *out, int32_t n_out)
{
	struct llama *L = m->impl;
	const struct cl_model_info *in = &m->info;
	int64_t dim = in->dim, hd = in->head_dim, qd = (int64_t)in->n_heads * hd,
		kvd = (int64_t)in->n_kv_heads * hd, ffn = in->ffn_dim;
	int half = (int)hd / 2;
	memcpy(L->x, xin, (size_t)n * dim * sizeof(float));
	for (int t = 0; t < n; t++) {
		double p = (double)rows[t].pos / L->rope_scale;
		for (int i = 0; i < half; i++) {
			double a = p * L->inv_freq[i];
			L->cos[t * half + i] = (float)cos(a);
			L->sin[t * half + i] = (float)sin(a);
		}
	}
	/* The stage's layers; a cache holds those alone, from index 0. */
	for (int l = in->layer_from; l < in->layer_to; l++) {
		const struct layer *y = &L->layers[l];
		int lk = l - in->layer_from;
		cl_model_tap(m, l, L->x, n);
		norm_rows(m, L->xb, L->x, y->attn_norm, n, dim, L->eps);
		cl_matmul(m->pool, &y->wq, L->xb, n, L->q);
		cl_matmul(m->pool, &y->wk, L->xb, n, L->k);
		cl_matmul(m->pool, &y->wv, L->xb, n, L->v);
		for (int t = 0; t < n; t++) {
			const float *c = L->cos + t * half, *sn = L->sin + t * half;
			if (L->interleaved) {
				/* L->att is free until attention writes it. */
				deinterleave(L->q + t * qd, in->n_heads, (int)hd, L->att);
				deinterleave(L->k + t * kvd, in->n_kv_heads, (int)hd, L->att);
			}
			for (int h = 0; h < in->n_heads; h++)
				rope(L->q + t * qd + h * hd, (int)hd, c, sn);
			for (int h = 0; h < in->n_kv_heads; h++)
				rope(L->k + t * kvd + h * hd, (int)hd, c, sn);
			cl_kv_store(rows[t].kv, lk, rows[t].pos, L->k + t * kvd, L->v + t * kvd);
		}
		cl_model_attend(m, rows, lk, n, L->q, qd, 1.0f / sqrtf((float)hd), L->att);
		cl_matmul(m->pool, &y->wo, L->att, n, L->out);
		for (int64_t i = 0; i < n * dim; i++)
			L->x[i] += L->out[i];
		norm_rows(m, L->xb, L->x, y->ffn_norm, n, dim, L->eps);
		cl_matmul(m->pool, &y->gate, L->xb, n, L->hb);
		cl_matmul(m->pool, &y->up, L->xb, n, L->hb2);
		struct rows_job sw = {.out = L->hb, .in = L->hb, .in2 = L->hb2};
		cl_model_par(m, n, n * ffn, swiglu_range, &sw);
		cl_matmul(m->pool, &y->down, L->hb, n, L->out);
		for (int64_t i = 0; i < n * dim; i++)
			L->x[i] += L->out[i];
	}
	cl_model_tap(m, in->layer_to, L->x, n);
	if (!logits || !n_out)
		return CL_OK;
	if (in->layer_to < in->n_layers) {
		/* A stage before the last: the residual stream is its output. */
		for (int k = 0; k < n_out; k++)
			memcpy(logits + (size_t)k * dim, L->x + (size_t)out[k] * dim, (size_t)dim * sizeof(float));
		return CL_OK;
	}
	for (int k = 0; k < n_out; k++)
		cl_rmsnorm(L->xb + k * dim, L->x + out[k] * dim, L->norm, dim, L->eps);
	cl_matmul(m->pool, &L->lm_head, L->xb, n_out, logits);
	return CL_OK;
}

const struct cl_family_ops cl_family_llama = {
	.name = "llama",
	.id = CL_FAMILY_LLAMA,
	.claims = llama_claims,
	.load = llama_load,
	.forward = llama_forward,
	.free = llama_free,
};
