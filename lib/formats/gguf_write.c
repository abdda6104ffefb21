/*
 * gguf_write.c - a loaded Llama- or GPT-2-family model, its weights as
 * converted at load, written as a GGUF v3 file that llama.cpp loads
 * (cl-quantize --format gguf).
 *
 * What goes in, as llama.cpp's own converter and quantizer write it:
 *   - tensors under llama.cpp's names (token_embd, blk.N.attn_q, ...,
 *     output_norm, output), dimensions fastest first, data aligned to 32;
 *     attn_q and attn_k with each head's rows interleaved for llama.cpp's
 *     RoPE (the order gguf_model.c reads back; a GGUF source's are so
 *     already); 1-D norms as F32; the token
 *     embeddings in the checkpoint's own type (cl looks rows up, and keeps
 *     them so at load); output.weight written whenever cl has a matrix for it
 *     (a tied head converted at load included);
 *   - general.architecture, general.name, general.file_type (llama.cpp's
 *     numbering), general.quantization_version 2, general.alignment 32;
 *   - llama.vocab_size, context_length, embedding_length, block_count,
 *     feed_forward_length, rope.dimension_count, rope.freq_base,
 *     attention.head_count, head_count_kv, key_length, value_length,
 *     layer_norm_rms_epsilon, and rope.scaling.type / factor when linear;
 *   - the tokenizer: from a GGUF source its tokenizer.* pairs as they were;
 *     from a directory, tokenizer.model read here (pieces, scores, types and
 *     the normalizer's two flags): tokenizer.ggml.model "llama", pre
 *     "default", tokens, scores, token_type, bos/eos/unknown(/padding)
 *     _token_id, add_bos_token, add_eos_token, add_space_prefix,
 *     remove_extra_whitespaces.
 * GPT-2: token_embd, position_embd, blk.N.attn_norm, attn_qkv, attn_output,
 * ffn_norm, ffn_up, ffn_down (weights and biases), output_norm and output
 * (when the head is untied, or converted at load); gpt2.context_length,
 * embedding_length, feed_forward_length, block_count, attention.head_count,
 * attention.layer_norm_epsilon, vocab_size, and cl.activation_function when
 * it is not the tanh GELU that llama.cpp computes; tokenizer.ggml.model "gpt2",
 * pre "gpt-2", tokens, token_type, merges, bos/eos ids, add_bos_token false.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cJSON.h>

#include "gguf.h"
#include "model.h"
#include "tok.h"
#include "weights.h"

#define ALIGN 32


static void put_u32(struct cl_bytes *b, uint32_t v)
{
	unsigned char c[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
			      (unsigned char)(v >> 24)};
	cl_bytes_put(b, c, 4);
}

static void put_u64(struct cl_bytes *b, uint64_t v)
{
	put_u32(b, (uint32_t)v);
	put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(struct cl_bytes *b, const char *s, size_t n)
{
	put_u64(b, n);
	cl_bytes_put(b, s, n);
}

static void put_f32(struct cl_bytes *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_u32(b, u);
}

/* The metadata being built: its bytes and its count. */
struct meta {
	struct cl_bytes b;
	uint64_t n;
};

static void key(struct meta *m, const char *k, enum cl_gguf_type t)
{
	put_str(&m->b, k, strlen(k));
	put_u32(&m->b, t);
	m->n++;
}

static void kv_u32(struct meta *m, const char *k, uint32_t v)
{
	key(m, k, CL_GGUF_U32);
	put_u32(&m->b, v);
}

static void kv_f32(struct meta *m, const char *k, float v)
{
	key(m, k, CL_GGUF_F32);
	put_f32(&m->b, v);
}

static void kv_bool(struct meta *m, const char *k, int v)
{
	key(m, k, CL_GGUF_BOOL);
	cl_bytes_put(&m->b, v ? "\1" : "\0", 1);
}

static void kv_str(struct meta *m, const char *k, const char *s)
{
	key(m, k, CL_GGUF_STRING);
	put_str(&m->b, s, strlen(s));
}

/* A pair of a GGUF source as it was (its value's bytes are in the format
 * already). */
static void kv_copy(struct meta *m, const struct cl_gguf_kv *kv)
{
	key(m, kv->key, kv->type);
	if (kv->type == CL_GGUF_ARRAY) {
		put_u32(&m->b, kv->arr_type);
		put_u64(&m->b, kv->n);
	}
	cl_bytes_put(&m->b, kv->val, (size_t)kv->size);
}

/* ------------------------------------------ tokenizer.model, read here --- */

/* SentencePiece's ModelProto, as far as a GGUF needs it: the pieces
 * (field 1: piece 1, score 2, type 3), the trainer spec's special ids
 * (field 2: unk 40, bos 41, eos 42, pad 43) and the normalizer's flags
 * (field 3: add_dummy_prefix 3, remove_extra_whitespaces 4). */
struct spm_vocab {
	int64_t n;
	const unsigned char **piece; /* (n) into the file's bytes */
	uint64_t *len;
	float *score;
	int32_t *type;
	int64_t unk, bos, eos, pad;
	int add_prefix, collapse;
};

struct pb {
	const unsigned char *p, *end;
};

static int varint(struct pb *r, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 64 && r->p < r->end; s += 7) {
		unsigned char c = *r->p++;
		*v |= (uint64_t)(c & 127) << s;
		if (!(c & 128))
			return 0;
	}
	return -1;
}

/* The next field: its number, wire type, and value (an integer, or bytes). */
static int field(struct pb *r, int *num, int *wt, uint64_t *v, struct pb *sub)
{
	uint64_t k;
	if (varint(r, &k))
		return -1;
	*num = (int)(k >> 3);
	*wt = (int)(k & 7);
	switch (*wt) {
	case 0: return varint(r, v);
	case 1:
		if (r->end - r->p < 8)
			return -1;
		r->p += 8;
		return 0;
	case 5:
		if (r->end - r->p < 4)
			return -1;
		memcpy(v, r->p, 4);
		r->p += 4;
		return 0;
	case 2:
		if (varint(r, v) || *v > (uint64_t)(r->end - r->p))
			return -1;
		sub->p = r->p;
		sub->end = r->p + *v;
		r->p += *v;
		return 0;
	default: return -1;
	}
}

static void spm_vocab_free(struct spm_vocab *sv)
{
	free(sv->piece);
	free(sv->len);
	free(sv->score);
	free(sv->type);
}

static enum cl_status spm_vocab_read(const unsigned char *d, size_t size, const char *path, struct spm_vocab *sv)
{
	memset(sv, 0, sizeof *sv);
	sv->unk = 0, sv->bos = 1, sv->eos = 2, sv->pad = -1;
	sv->add_prefix = 1;
	sv->collapse = 1; /* the proto's defaults */
	struct pb r = {d, d + size}, s;
	int num, wt;
	uint64_t v;
	int64_t cap = 0;
	while (r.p < r.end) {
		if (field(&r, &num, &wt, &v, &s))
			goto bad;
		if (num == 1 && wt == 2) {
			if (sv->n == cap) {
				cap = cap ? 2 * cap : 1024;
				const unsigned char **np = realloc(sv->piece, (size_t)cap * sizeof *np);
				if (np)
					sv->piece = np;
				uint64_t *nl = realloc(sv->len, (size_t)cap * sizeof *nl);
				if (nl)
					sv->len = nl;
				float *ns = realloc(sv->score, (size_t)cap * sizeof *ns);
				if (ns)
					sv->score = ns;
				int32_t *nt = realloc(sv->type, (size_t)cap * sizeof *nt);
				if (nt)
					sv->type = nt;
				if (!np || !nl || !ns || !nt)
					return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
			}
			int64_t i = sv->n++;
			sv->piece[i] = (const unsigned char *)"";
			sv->len[i] = 0;
			sv->score[i] = 0;
			sv->type[i] = 1;
			struct pb q = s, t;
			while (q.p < q.end) {
				if (field(&q, &num, &wt, &v, &t))
					goto bad;
				if (num == 1 && wt == 2) {
					sv->piece[i] = t.p;
					sv->len[i] = (uint64_t)(t.end - t.p);
				} else if (num == 2 && wt == 5) {
					uint32_t u = (uint32_t)v;
					memcpy(&sv->score[i], &u, 4);
				} else if (num == 3 && wt == 0) {
					sv->type[i] = (int32_t)v;
				}
			}
		} else if ((num == 2 || num == 3) && wt == 2) {
			int spec = num;
			struct pb q = s, t;
			while (q.p < q.end) {
				if (field(&q, &num, &wt, &v, &t))
					goto bad;
				if (wt != 0)
					continue;
				if (spec == 2 && num >= 40 && num <= 43) {
					int64_t id = (int64_t)(int32_t)v;
					*(num == 40 ? &sv->unk : num == 41 ? &sv->bos : num == 42 ? &sv->eos : &sv->pad) = id;
				} else if (spec == 3 && num == 3) {
					sv->add_prefix = v != 0;
				} else if (spec == 3 && num == 4) {
					sv->collapse = v != 0;
				}
			}
		}
	}
	if (sv->n == 0)
		return cl_error(CL_ERR_FORMAT, "%s: no pieces", path);
	return CL_OK;
bad:
	return cl_error(CL_ERR_FORMAT, "%s: not a SentencePiece model (a damaged protobuf)", path);
}

/* ---------------------------------------------------------- tensors --- */

struct out_tensor {
	char name[64];
	uint32_t type;      /* ggml's */
	int ndim;
	uint64_t ne[2];
	const unsigned char *data;
	size_t row_bytes;
	int64_t rows;
	int head_dim;       /* > 0: rows interleaved per head of this many */
	uint64_t offset;
};

static uint32_t ggml_type(enum cl_dtype t)
{
	static const uint32_t ids[CL_DTYPE_COUNT] = {
		[CL_DTYPE_F32] = 0,  [CL_DTYPE_F16] = 1,  [CL_DTYPE_BF16] = 30, [CL_DTYPE_Q8_0] = 8,
		[CL_DTYPE_Q4_0] = 2, [CL_DTYPE_Q4_1] = 3, [CL_DTYPE_Q5_0] = 6,  [CL_DTYPE_Q5_1] = 7,
		[CL_DTYPE_Q2_K] = 10, [CL_DTYPE_Q3_K] = 11, [CL_DTYPE_Q4_K] = 12, [CL_DTYPE_Q5_K] = 13,
		[CL_DTYPE_Q6_K] = 14,
	};
	return ids[t];
}

/* File row r of an interleaved q/k matrix holds Hugging Face row: */
static int64_t hf_row(int64_t r, int hd)
{
	int64_t h = r / hd, w = r % hd;
	return h * hd + (w % 2) * (hd / 2) + w / 2;
}

/* The matrix cl computes with for this name: converted at load, or as
 * stored. */
static const struct cl_mat *model_mat(const struct cl_model *m, const char *name)
{
	for (int i = 0; i < m->n_conv; i++)
		if (strcmp(m->conv[i].name, name) == 0)
			return &m->conv[i].mat;
	return NULL;
}

struct plan {
	struct out_tensor *t;
	int64_t n;
	float **vecs; /* 1-D tensors converted to f32 */
	int64_t nvecs;
	int kept;     /* matrices left in their stored type (rows not whole blocks) */
	char kept_first[128];
	int nomem;
};

static void add_mat(struct plan *p, const char *gname, const struct cl_mat *mat, int head_dim)
{
	struct out_tensor *o = &p->t[p->n++];
	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s", gname);
	o->type = ggml_type(mat->dtype);
	o->ndim = 2;
	o->ne[0] = (uint64_t)mat->cols;
	o->ne[1] = (uint64_t)mat->rows;
	o->data = mat->data;
	o->row_bytes = cl_dtype_size(mat->dtype, mat->cols);
	o->rows = mat->rows;
	o->head_dim = head_dim;
}

static void add_vec(struct plan *p, const char *gname, const struct cl_tensor *t)
{
	int64_t n = t->shape[0];
	float *v = malloc((size_t)n * sizeof *v);
	if (!v) {
		p->nomem = 1;
		return;
	}
	cl_to_f32(t->dtype, t->data, n, v);
	p->vecs[p->nvecs++] = v;
	struct out_tensor *o = &p->t[p->n++];
	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "%s", gname);
	o->type = 0;
	o->ndim = 1;
	o->ne[0] = (uint64_t)n;
	o->data = (const unsigned char *)v;
	o->row_bytes = (size_t)n * 4;
	o->rows = 1;
}

/* Every tensor of the model, in llama.cpp's order. */
static enum cl_status plan_tensors(const struct cl_model *m, struct plan *p)
{
	const struct cl_model_info *in = &m->info;
	int64_t cap = 3 + 9 * (int64_t)in->n_layers;
	p->t = calloc((size_t)cap, sizeof *p->t);
	p->vecs = calloc((size_t)cap, sizeof *p->vecs);
	if (!p->t || !p->vecs)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	enum cl_dtype want = (enum cl_dtype)m->opts.quantize;
	struct cl_tensor t;
	enum cl_status st;
	char hf[128], gg[64];
	/* A matrix by its Hugging Face name: converted, or as stored. */
#define MAT(hfname, ggname, hd)                                                                      \
	do {                                                                                         \
		const struct cl_mat *cm = model_mat(m, hfname);                                      \
		struct cl_mat sm;                                                                    \
		if (!cm) {                                                                           \
			if ((st = cl_weights_get(m->w, hfname, 2, NULL, &t)))                       \
				return st;                                                           \
			sm = (struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0};               \
			cm = &sm;                                                                    \
			enum cl_dtype wt = m->opts.quantize < 0 ? t.dtype                            \
								 : cl_mix_type(m->opts.mix, hfname,    \
									       in->n_layers, want);    \
			if (wt != t.dtype && !p->kept++)                                             \
				snprintf(p->kept_first, sizeof p->kept_first, "%s", hfname);         \
		}                                                                                    \
		add_mat(p, ggname, cm, hd);                                                          \
	} while (0)
#define VEC(hfname, ggname)                                                                          \
	do {                                                                                         \
		if ((st = cl_weights_get(m->w, hfname, 1, NULL, &t)))                               \
			return st;                                                                   \
		add_vec(p, ggname, &t);                                                              \
	} while (0)
	if ((st = cl_weights_get(m->w, "model.embed_tokens.weight", 2, NULL, &t)))
		return st;
	add_mat(p, "token_embd.weight", &(struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0}, 0);
	for (int l = 0; l < in->n_layers && !p->nomem; l++) {
		static const struct {
			const char *hf, *gg;
			int kind; /* 0 vector, 1 matrix, 2 q/k matrix */
		} parts[] = {
			{"input_layernorm.weight", "attn_norm.weight", 0},
			{"self_attn.q_proj.weight", "attn_q.weight", 2},
			{"self_attn.k_proj.weight", "attn_k.weight", 2},
			{"self_attn.v_proj.weight", "attn_v.weight", 1},
			{"self_attn.o_proj.weight", "attn_output.weight", 1},
			{"post_attention_layernorm.weight", "ffn_norm.weight", 0},
			{"mlp.gate_proj.weight", "ffn_gate.weight", 1},
			{"mlp.up_proj.weight", "ffn_up.weight", 1},
			{"mlp.down_proj.weight", "ffn_down.weight", 1},
		};
		for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
			snprintf(hf, sizeof hf, "model.layers.%d.%s", l, parts[i].hf);
			snprintf(gg, sizeof gg, "blk.%d.%s", l, parts[i].gg);
			if (parts[i].kind == 0)
				VEC(hf, gg);
			else
				MAT(hf, gg, parts[i].kind == 2 && !cl_weights_gguf(m->w) ? in->head_dim : 0);
		}
	}
	VEC("model.norm.weight", "output_norm.weight");
	if (model_mat(m, "lm_head.weight") || cl_weights_has(m->w, "lm_head.weight"))
		MAT("lm_head.weight", "output.weight", 0);
#undef MAT
#undef VEC
	return p->nomem ? cl_error(CL_ERR_NOMEM, "out of memory") : CL_OK;
}

/* GPT-2's stored name of a tensor: with the "transformer." prefix or
 * without, whichever the checkpoint has. */
static const char *gpt2_name(const struct cl_model *m, const char *name, char *buf, size_t cap)
{
	snprintf(buf, cap, "transformer.%s", name);
	return cl_weights_has(m->w, buf) ? buf : name;
}

/* GPT-2's tensors in llama.cpp's names: its projections (out, in) as gpt2.c
 * made them at load (llama.cpp's converter transposes Conv1D's too). */
static enum cl_status plan_gpt2(const struct cl_model *m, const cJSON *cfg, const char *cfgpath, struct plan *p)
{
	const struct cl_model_info *in = &m->info;
	int64_t cap = 6 + 12 * (int64_t)in->n_layers;
	p->t = calloc((size_t)cap, sizeof *p->t);
	p->vecs = calloc((size_t)cap, sizeof *p->vecs);
	if (!p->t || !p->vecs)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	int tie;
	enum cl_status st;
	if ((st = cl_json_bool(cfg, cfgpath, "tie_word_embeddings", 0, 1, &tie)))
		return st;
	struct cl_tensor t;
	char nb[160], hf[128], gg[64];
	const char *wte = gpt2_name(m, "wte.weight", nb, sizeof nb);
	if ((st = cl_weights_get(m->w, wte, 2, NULL, &t)))
		return st;
	add_mat(p, "token_embd.weight", &(struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0}, 0);
	/* A tied head converted at load is listed under wte's name. */
	const struct cl_mat *head = model_mat(m, wte);
	if ((st = cl_weights_get(m->w, gpt2_name(m, "wpe.weight", nb, sizeof nb), 2, NULL, &t)))
		return st;
	add_mat(p, "position_embd.weight", &(struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0}, 0);
	static const struct {
		const char *hf, *gg;
		int mat;
	} parts[] = {
		{"ln_1.weight", "attn_norm.weight", 0},       {"ln_1.bias", "attn_norm.bias", 0},
		{"attn.c_attn.weight", "attn_qkv.weight", 1}, {"attn.c_attn.bias", "attn_qkv.bias", 0},
		{"attn.c_proj.weight", "attn_output.weight", 1}, {"attn.c_proj.bias", "attn_output.bias", 0},
		{"ln_2.weight", "ffn_norm.weight", 0},        {"ln_2.bias", "ffn_norm.bias", 0},
		{"mlp.c_fc.weight", "ffn_up.weight", 1},      {"mlp.c_fc.bias", "ffn_up.bias", 0},
		{"mlp.c_proj.weight", "ffn_down.weight", 1},  {"mlp.c_proj.bias", "ffn_down.bias", 0},
	};
	for (int l = 0; l < in->n_layers && !p->nomem; l++)
		for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
			snprintf(hf, sizeof hf, "h.%d.%s", l, parts[i].hf);
			snprintf(gg, sizeof gg, "blk.%d.%s", l, parts[i].gg);
			const char *name = gpt2_name(m, hf, nb, sizeof nb);
			if (parts[i].mat) {
				const struct cl_mat *cm = model_mat(m, name);
				struct cl_mat sm;
				if (!cm) { /* a GGUF source's, stored (out, in) already */
					if ((st = cl_weights_get(m->w, name, 2, NULL, &t)))
						return st;
					sm = (struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0};
					cm = &sm;
				}
				add_mat(p, gg, cm, 0);
			} else {
				if ((st = cl_weights_get(m->w, name, 1, NULL, &t)))
					return st;
				add_vec(p, gg, &t);
			}
		}
	static const char *const fin[][2] = {{"ln_f.weight", "output_norm.weight"}, {"ln_f.bias", "output_norm.bias"}};
	for (int i = 0; i < 2; i++) {
		if ((st = cl_weights_get(m->w, gpt2_name(m, fin[i][0], nb, sizeof nb), 1, NULL, &t)))
			return st;
		add_vec(p, fin[i][1], &t);
	}
	if (tie && head) {
		add_mat(p, "output.weight", head, 0);
	} else if (!tie) {
		const struct cl_mat *cm = model_mat(m, "lm_head.weight");
		if (!cm && (st = cl_weights_get(m->w, "lm_head.weight", 2, NULL, &t)))
			return st;
		add_mat(p, "output.weight", cm ? cm : &(struct cl_mat){t.data, t.dtype, t.shape[0], t.shape[1], 0}, 0);
	}
	return p->nomem ? cl_error(CL_ERR_NOMEM, "out of memory") : CL_OK;
}

/* ------------------------------------------------------------ metadata --- */

/* llama.cpp's general.file_type for what was asked. */
static uint32_t file_type(const struct cl_model *m)
{
	if (m->opts.mix == CL_MIX_Q4_K_M)
		return 15;
	switch (m->opts.quantize < 0 ? m->info.wtype : (enum cl_dtype)m->opts.quantize) {
	case CL_DTYPE_F32: return 0;
	case CL_DTYPE_F16: return 1;
	case CL_DTYPE_Q4_0: return 2;
	case CL_DTYPE_Q8_0: return 7;
	case CL_DTYPE_Q4_K: return 14; /* Q4_K_S */
	case CL_DTYPE_Q6_K: return 18;
	case CL_DTYPE_BF16: return 32;
	default: return 0;
	}
}

static enum cl_status model_meta(const struct cl_model *m, const cJSON *cfg, const char *cfgpath, struct meta *mt)
{
	const struct cl_model_info *in = &m->info;
	double eps, theta, factor = 0;
	enum cl_status st;
	if ((st = cl_json_num(cfg, cfgpath, "rms_norm_eps", 0, 1e-6, 0, 1, &eps)) ||
	    (st = cl_json_num(cfg, cfgpath, "rope_theta", 0, 10000.0, 1e-3, 1e12, &theta)))
		return st;
	const cJSON *rs = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
	if (cJSON_IsObject(rs) && (st = cl_json_num(rs, cfgpath, "factor", 0, 0, 0, 1e6, &factor)))
		return st;
	const char *slash = strrchr(m->dir, '/');
	char name[256];
	snprintf(name, sizeof name, "%.200s", slash && slash[1] ? slash + 1 : m->dir);
	kv_str(mt, "general.architecture", "llama");
	kv_str(mt, "general.name", name);
	kv_u32(mt, "general.file_type", file_type(m));
	kv_u32(mt, "general.quantization_version", 2);
	kv_u32(mt, "general.alignment", ALIGN);
	kv_u32(mt, "llama.vocab_size", (uint32_t)in->n_vocab);
	kv_u32(mt, "llama.context_length", (uint32_t)in->max_pos);
	kv_u32(mt, "llama.embedding_length", (uint32_t)in->dim);
	kv_u32(mt, "llama.block_count", (uint32_t)in->n_layers);
	kv_u32(mt, "llama.feed_forward_length", (uint32_t)in->ffn_dim);
	kv_u32(mt, "llama.rope.dimension_count", (uint32_t)in->head_dim);
	kv_f32(mt, "llama.rope.freq_base", (float)theta);
	kv_u32(mt, "llama.attention.head_count", (uint32_t)in->n_heads);
	kv_u32(mt, "llama.attention.head_count_kv", (uint32_t)in->n_kv_heads);
	kv_u32(mt, "llama.attention.key_length", (uint32_t)in->head_dim);
	kv_u32(mt, "llama.attention.value_length", (uint32_t)in->head_dim);
	kv_f32(mt, "llama.attention.layer_norm_rms_epsilon", (float)eps);
	if (factor > 0) {
		kv_str(mt, "llama.rope.scaling.type", "linear");
		kv_f32(mt, "llama.rope.scaling.factor", (float)factor);
	}
	return CL_OK;
}

static enum cl_status gpt2_meta(const struct cl_model *m, const cJSON *cfg, const char *cfgpath, struct meta *mt)
{
	const struct cl_model_info *in = &m->info;
	double eps;
	enum cl_status st;
	if ((st = cl_json_num(cfg, cfgpath, "layer_norm_epsilon", 0, 1e-5, 0, 1, &eps)))
		return st;
	const char *slash = strrchr(m->dir, '/');
	char name[256];
	snprintf(name, sizeof name, "%.200s", slash && slash[1] ? slash + 1 : m->dir);
	kv_str(mt, "general.architecture", "gpt2");
	kv_str(mt, "general.name", name);
	kv_u32(mt, "general.file_type", file_type(m));
	kv_u32(mt, "general.quantization_version", 2);
	kv_u32(mt, "general.alignment", ALIGN);
	kv_u32(mt, "gpt2.vocab_size", (uint32_t)in->n_vocab);
	kv_u32(mt, "gpt2.context_length", (uint32_t)in->max_pos);
	kv_u32(mt, "gpt2.embedding_length", (uint32_t)in->dim);
	kv_u32(mt, "gpt2.feed_forward_length", (uint32_t)in->ffn_dim);
	kv_u32(mt, "gpt2.block_count", (uint32_t)in->n_layers);
	kv_u32(mt, "gpt2.attention.head_count", (uint32_t)in->n_heads);
	kv_f32(mt, "gpt2.attention.layer_norm_epsilon", (float)eps);
	/* llama.cpp computes GPT-2 with the tanh GELU (gelu_new); another is
	 * recorded for cl, which reads it back (gguf_model.c). */
	const char *act;
	if ((st = cl_json_str(cfg, cfgpath, "activation_function", 0, "gelu_new", &act)))
		return st;
	if (strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
		kv_str(mt, "cl.activation_function", act);
	return CL_OK;
}

/* A byte-level BPE vocabulary (cl's own loader read it) as llama.cpp's
 * converter writes GPT-2's: tokens, their types, "A B" merges by rank. */
static enum cl_status bpe_meta(const struct cl_tokenizer *t, struct meta *mt)
{
	int32_t n = cl_tokenizer_n_vocab(t);
	kv_str(mt, "tokenizer.ggml.model", "gpt2");
	kv_str(mt, "tokenizer.ggml.pre", "gpt-2");
	key(mt, "tokenizer.ggml.tokens", CL_GGUF_ARRAY);
	put_u32(&mt->b, CL_GGUF_STRING);
	put_u64(&mt->b, (uint64_t)n);
	for (int32_t i = 0; i < n; i++) {
		const char *pc = cl_tokenizer_piece(t, i);
		put_str(&mt->b, pc, strlen(pc));
	}
	key(mt, "tokenizer.ggml.token_type", CL_GGUF_ARRAY);
	put_u32(&mt->b, CL_GGUF_I32);
	put_u64(&mt->b, (uint64_t)n);
	for (int32_t i = 0; i < n; i++)
		put_u32(&mt->b, cl_tokenizer_is_control(t, i) ? 3 : cl_bpe_is_special(t, i) ? 4 : 1);
	int32_t nm = cl_bpe_n_merges(t);
	key(mt, "tokenizer.ggml.merges", CL_GGUF_ARRAY);
	put_u32(&mt->b, CL_GGUF_STRING);
	put_u64(&mt->b, (uint64_t)nm);
	for (int32_t r = 0; r < nm; r++) {
		int32_t a, b;
		cl_bpe_merge(t, r, &a, &b);
		const char *pa = cl_tokenizer_piece(t, a), *pb = cl_tokenizer_piece(t, b);
		size_t la = strlen(pa), lb = strlen(pb);
		put_u64(&mt->b, la + 1 + lb);
		cl_bytes_put(&mt->b, pa, la);
		cl_bytes_put(&mt->b, " ", 1);
		cl_bytes_put(&mt->b, pb, lb);
	}
	if (cl_tokenizer_bos(t) >= 0)
		kv_u32(mt, "tokenizer.ggml.bos_token_id", (uint32_t)cl_tokenizer_bos(t));
	if (cl_tokenizer_eos(t) >= 0)
		kv_u32(mt, "tokenizer.ggml.eos_token_id", (uint32_t)cl_tokenizer_eos(t));
	kv_bool(mt, "tokenizer.ggml.add_bos_token", 0);
	return CL_OK;
}

static enum cl_status tokenizer_meta(const struct cl_model *m, struct meta *mt)
{
	const struct cl_gguf *src = cl_weights_gguf(m->w);
	if (src) {
		for (int64_t i = 0; i < cl_gguf_n_kv(src); i++) {
			const struct cl_gguf_kv *kv = cl_gguf_kv_at(src, i);
			if (strncmp(kv->key, "tokenizer.", 10) == 0)
				kv_copy(mt, kv);
		}
		return CL_OK;
	}
	if (m->info.family == CL_FAMILY_GPT2) {
		struct cl_tokenizer *t;
		enum cl_status st = cl_tokenizer_load(m->dir, &t);
		if (st)
			return st;
		if (!cl_tokenizer_is_bpe(t))
			st = cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF output of GPT-2 wants its byte-level BPE tokenizer", m->dir);
		else if (cl_tokenizer_n_vocab(t) != m->info.n_vocab)
			st = cl_error(CL_ERR_FORMAT, "%s: a tokenizer of %d tokens, the model has a vocabulary of %d", m->dir,
				      cl_tokenizer_n_vocab(t), m->info.n_vocab);
		else
			st = bpe_meta(t, mt);
		cl_tokenizer_free(t);
		return st;
	}
	char path[4200];
	snprintf(path, sizeof path, "%s/tokenizer.model", m->dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		return cl_error(CL_ERR_IO, "%s: GGUF output needs the SentencePiece tokenizer.model:", path);
	struct cl_bytes file = {0};
	char chunk[1 << 16];
	size_t r;
	while ((r = fread(chunk, 1, sizeof chunk, f)) > 0)
		cl_bytes_put(&file, chunk, r);
	int err = ferror(f);
	fclose(f);
	if (err || file.oom) {
		free(file.p);
		return err ? cl_error(CL_ERR_IO, "%s:", path) : cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	struct spm_vocab sv;
	enum cl_status st = spm_vocab_read(file.p, file.n, path, &sv);
	if (!st && sv.n != m->info.n_vocab)
		st = cl_error(CL_ERR_FORMAT, "%s: %lld pieces, the model has a vocabulary of %d", path, (long long)sv.n,
			      m->info.n_vocab);
	if (!st) {
		kv_str(mt, "tokenizer.ggml.model", "llama");
		kv_str(mt, "tokenizer.ggml.pre", "default");
		key(mt, "tokenizer.ggml.tokens", CL_GGUF_ARRAY);
		put_u32(&mt->b, CL_GGUF_STRING);
		put_u64(&mt->b, (uint64_t)sv.n);
		for (int64_t i = 0; i < sv.n; i++)
			put_str(&mt->b, (const char *)sv.piece[i], (size_t)sv.len[i]);
		key(mt, "tokenizer.ggml.scores", CL_GGUF_ARRAY);
		put_u32(&mt->b, CL_GGUF_F32);
		put_u64(&mt->b, (uint64_t)sv.n);
		for (int64_t i = 0; i < sv.n; i++)
			put_f32(&mt->b, sv.score[i]);
		key(mt, "tokenizer.ggml.token_type", CL_GGUF_ARRAY);
		put_u32(&mt->b, CL_GGUF_I32);
		put_u64(&mt->b, (uint64_t)sv.n);
		for (int64_t i = 0; i < sv.n; i++)
			put_u32(&mt->b, (uint32_t)sv.type[i]);
		if (sv.bos >= 0 && sv.bos < sv.n)
			kv_u32(mt, "tokenizer.ggml.bos_token_id", (uint32_t)sv.bos);
		if (sv.eos >= 0 && sv.eos < sv.n)
			kv_u32(mt, "tokenizer.ggml.eos_token_id", (uint32_t)sv.eos);
		if (sv.unk >= 0 && sv.unk < sv.n)
			kv_u32(mt, "tokenizer.ggml.unknown_token_id", (uint32_t)sv.unk);
		if (sv.pad >= 0 && sv.pad < sv.n)
			kv_u32(mt, "tokenizer.ggml.padding_token_id", (uint32_t)sv.pad);
		kv_bool(mt, "tokenizer.ggml.add_bos_token", 1);
		kv_bool(mt, "tokenizer.ggml.add_eos_token", 0);
		kv_bool(mt, "tokenizer.ggml.add_space_prefix", sv.add_prefix);
		kv_bool(mt, "tokenizer.ggml.remove_extra_whitespaces", sv.collapse);
	}
	spm_vocab_free(&sv);
	free(file.p);
	return st;
}

/* ------------------------------------------------------------ writing --- */

static enum cl_status write_file(const char *path, const struct meta *mt, struct plan *p, int progress)
{
	struct cl_bytes h = {0};
	cl_bytes_put(&h, "GGUF", 4);
	put_u32(&h, 3);
	put_u64(&h, (uint64_t)p->n);
	put_u64(&h, mt->n);
	cl_bytes_put(&h, mt->b.p, mt->b.n);
	uint64_t off = 0;
	for (int64_t i = 0; i < p->n; i++) {
		struct out_tensor *t = &p->t[i];
		put_str(&h, t->name, strlen(t->name));
		put_u32(&h, (uint32_t)t->ndim);
		for (int d = 0; d < t->ndim; d++)
			put_u64(&h, t->ne[d]);
		put_u32(&h, t->type);
		t->offset = off;
		put_u64(&h, off);
		off += ((uint64_t)t->row_bytes * (uint64_t)t->rows + ALIGN - 1) / ALIGN * ALIGN;
	}
	static const unsigned char zeros[ALIGN];
	cl_bytes_put(&h, zeros, (ALIGN - h.n % ALIGN) % ALIGN);
	if (h.oom) {
		free(h.p);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	char tmp[4200];
	snprintf(tmp, sizeof tmp, "%s.part", path);
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		free(h.p);
		return cl_error(CL_ERR_IO, "%s:", tmp);
	}
	setvbuf(f, NULL, _IOFBF, 1 << 20);
	int ok = fwrite(h.p, 1, h.n, f) == h.n;
	free(h.p);
	for (int64_t i = 0; i < p->n && ok; i++) {
		const struct out_tensor *t = &p->t[i];
		for (int64_t r = 0; r < t->rows && ok; r++) {
			int64_t src = t->head_dim > 0 ? hf_row(r, t->head_dim) : r;
			ok = fwrite(t->data + (size_t)src * t->row_bytes, 1, t->row_bytes, f) == t->row_bytes;
		}
		uint64_t n = (uint64_t)t->row_bytes * (uint64_t)t->rows;
		if (ok)
			ok = fwrite(zeros, 1, (size_t)((ALIGN - n % ALIGN) % ALIGN), f) == (ALIGN - n % ALIGN) % ALIGN;
		if (progress)
			fprintf(stderr, "\r%s: tensor %lld of %lld", path, (long long)i + 1, (long long)p->n);
	}
	if (progress)
		fputc('\n', stderr);
	enum cl_status st = CL_OK;
	if (!ok)
		st = cl_error(CL_ERR_IO, "%s: write:", tmp);
	if (fclose(f) != 0 && !st)
		st = cl_error(CL_ERR_IO, "%s:", tmp);
	if (!st && rename(tmp, path) != 0)
		st = cl_error(CL_ERR_IO, "%s:", path);
	if (st)
		unlink(tmp);
	return st;
}

enum cl_status cl_model_save_gguf(const struct cl_model *m, const char *path, char *note, size_t note_cap)
{
	if (note_cap)
		note[0] = 0;
	int gpt2 = m->info.family == CL_FAMILY_GPT2;
	if (m->info.family != CL_FAMILY_LLAMA && !gpt2)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF output is written for the Llama and GPT-2 families", m->dir);
	if (m->info.layer_from != 0 || m->info.layer_to != m->info.n_layers)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF output is the whole model, not a stage", m->dir);
	if (m->n_unlisted)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF output of GPT-2 needs the model loaded with opts.pack 0 "
				"(its transposed weights are kept only then)", m->dir);
	const struct cl_gguf *src = cl_weights_gguf(m->w);
	char cfgpath[4200];
	cJSON *cfg = NULL;
	enum cl_status st;
	if (src) {
		snprintf(cfgpath, sizeof cfgpath, "%s", cl_gguf_path(src));
		st = cl_gguf_config(src, &cfg);
	} else {
		snprintf(cfgpath, sizeof cfgpath, "%s/config.json", m->dir);
		st = cl_json_read_file(cfgpath, 1 << 20, &cfg);
	}
	if (st)
		return st;
	struct meta mt = {0};
	struct plan p = {0};
	if (!(st = gpt2 ? gpt2_meta(m, cfg, cfgpath, &mt) : model_meta(m, cfg, cfgpath, &mt)) &&
	    !(st = tokenizer_meta(m, &mt)) && !(st = gpt2 ? plan_gpt2(m, cfg, cfgpath, &p) : plan_tensors(m, &p))) {
		if (mt.b.oom)
			st = cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
		else
			st = write_file(path, &mt, &p, m->opts.progress);
	}
	if (!st && p.kept && note_cap)
		snprintf(note, note_cap, "%d matri%s whose rows are not whole %s blocks kept in the checkpoint's type (%s%s)",
			 p.kept, p.kept == 1 ? "x" : "ces", cl_dtype_name((enum cl_dtype)m->opts.quantize), p.kept_first,
			 p.kept > 1 ? ", ..." : "");
	cJSON_Delete(cfg);
	free(mt.b.p);
	for (int64_t i = 0; i < p.nvecs; i++)
		free(p.vecs[i]);
	free(p.vecs);
	free(p.t);
	return st;
}
