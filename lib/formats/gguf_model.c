/*
 * gguf_model.c - a GGUF file as a model: its metadata read as the config.json
 * the families take, and its tensor names (llama.cpp's) as Hugging Face's, so
 * that lib/models/llama.c and lib/models/gpt2.c load either form with one code path.
 *
 * One difference is not a name: llama.cpp's converter reorders the rows of
 * attn_q and attn_k within each head, from Hugging Face's rotate-half layout
 * (pairs i, i + d/2) to the interleaved one (pairs 2i, 2i + 1).  The config
 * says so ("cl.rope_rows": "interleaved") and llama.c puts each head's q and
 * k back in Hugging Face's order after the product, so every later
 * operation, and its rounding, is the directory's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "weights.h"

#include <cJSON.h>

struct name_map {
	const char *gguf, *hf; /* "blk.%d." names carry the layer */
};

static const struct name_map llama_names[] = {
	{"token_embd.weight", "model.embed_tokens.weight"},
	{"output_norm.weight", "model.norm.weight"},
	{"output.weight", "lm_head.weight"},
	{"attn_norm.weight", "model.layers.%d.input_layernorm.weight"},
	{"ffn_norm.weight", "model.layers.%d.post_attention_layernorm.weight"},
	{"attn_q.weight", "model.layers.%d.self_attn.q_proj.weight"},
	{"attn_k.weight", "model.layers.%d.self_attn.k_proj.weight"},
	{"attn_v.weight", "model.layers.%d.self_attn.v_proj.weight"},
	{"attn_output.weight", "model.layers.%d.self_attn.o_proj.weight"},
	{"ffn_gate.weight", "model.layers.%d.mlp.gate_proj.weight"},
	{"ffn_up.weight", "model.layers.%d.mlp.up_proj.weight"},
	{"ffn_down.weight", "model.layers.%d.mlp.down_proj.weight"},
	{NULL, NULL},
};

/* GPT-2's Hugging Face names without the "transformer." prefix; the GGUF's
 * matrices are (out, in) already, not Conv1D's (in, out). */
static const struct name_map gpt2_names[] = {
	{"token_embd.weight", "wte.weight"},
	{"position_embd.weight", "wpe.weight"},
	{"output_norm.weight", "ln_f.weight"},
	{"output_norm.bias", "ln_f.bias"},
	{"output.weight", "lm_head.weight"},
	{"attn_norm.weight", "h.%d.ln_1.weight"},
	{"attn_norm.bias", "h.%d.ln_1.bias"},
	{"attn_qkv.weight", "h.%d.attn.c_attn.weight"},
	{"attn_qkv.bias", "h.%d.attn.c_attn.bias"},
	{"attn_output.weight", "h.%d.attn.c_proj.weight"},
	{"attn_output.bias", "h.%d.attn.c_proj.bias"},
	{"ffn_norm.weight", "h.%d.ln_2.weight"},
	{"ffn_norm.bias", "h.%d.ln_2.bias"},
	{"ffn_up.weight", "h.%d.mlp.c_fc.weight"},
	{"ffn_up.bias", "h.%d.mlp.c_fc.bias"},
	{"ffn_down.weight", "h.%d.mlp.c_proj.weight"},
	{"ffn_down.bias", "h.%d.mlp.c_proj.bias"},
	{NULL, NULL},
};

const char *cl_gguf_hf_name(const char *arch, const char *name, char *buf, size_t cap)
{
	const struct name_map *map = strcmp(arch, "gpt2") == 0 ? gpt2_names : llama_names;
	int layer = -1, used = 0;
	const char *rest = name;
	if (sscanf(name, "blk.%d.%n", &layer, &used) == 1 && used > 0 && layer >= 0)
		rest = name + used;
	for (int i = 0; map[i].gguf; i++) {
		int per_layer = strstr(map[i].hf, "%d") != NULL;
		if (per_layer != (rest != name) || strcmp(rest, map[i].gguf) != 0)
			continue;
		if (per_layer)
			snprintf(buf, cap, map[i].hf, layer);
		else
			snprintf(buf, cap, "%s", map[i].hf);
		return buf;
	}
	return name;
}

/* ------------------------------------------------------------- config --- */

const char *cl_gguf_arch(const struct cl_gguf *g, char *buf, size_t cap)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, "general.architecture");
	struct cl_gguf_str a = {"", 0};
	if (kv && kv->type == CL_GGUF_STRING)
		cl_gguf_str(g, "general.architecture", 0, &a);
	snprintf(buf, cap, "%.*s", (int)(a.n > 64 ? 64 : a.n), a.p ? a.p : "");
	return buf;
}

static enum cl_status put_int(cJSON *cfg, const struct cl_gguf *g, const char *key, const char *as, int required,
			      int64_t lo, int64_t hi)
{
	int64_t v;
	enum cl_status st;
	if (!required && !cl_gguf_find(g, key))
		return CL_OK;
	if ((st = cl_gguf_int(g, key, required, 0, lo, hi, &v)))
		return st;
	return cJSON_AddNumberToObject(cfg, as, (double)v) ? CL_OK : cl_error(CL_ERR_NOMEM, "out of memory");
}

static enum cl_status put_num(cJSON *cfg, const struct cl_gguf *g, const char *key, const char *as)
{
	double v;
	enum cl_status st;
	if (!cl_gguf_find(g, key))
		return CL_OK;
	if ((st = cl_gguf_num(g, key, 1, 0, &v)))
		return st;
	return cJSON_AddNumberToObject(cfg, as, v) ? CL_OK : cl_error(CL_ERR_NOMEM, "out of memory");
}

/* "llama.block_count" for arch "llama" */
static const char *k(char *buf, size_t cap, const char *arch, const char *key)
{
	snprintf(buf, cap, "%s.%s", arch, key);
	return buf;
}

/* The vocabulary's size: {arch}.vocab_size, else the count of tokens. */
static enum cl_status vocab_size(const struct cl_gguf *g, const char *arch, int64_t *n)
{
	char b[128];
	const struct cl_gguf_kv *toks = cl_gguf_find(g, "tokenizer.ggml.tokens");
	if (cl_gguf_find(g, k(b, sizeof b, arch, "vocab_size")))
		return cl_gguf_int(g, b, 1, 0, 1, 1 << 24, n);
	if (toks && toks->type == CL_GGUF_ARRAY) {
		*n = (int64_t)toks->n;
		return CL_OK;
	}
	const struct cl_gguf_tensor *t = cl_gguf_tensor(g, "token_embd.weight");
	if (t && t->ndim == 2) {
		*n = (int64_t)t->ne[1];
		return CL_OK;
	}
	return cl_error(CL_ERR_FORMAT, "%s: %s: missing, and no tokenizer.ggml.tokens to count", cl_gguf_path(g), b);
}

enum cl_status cl_gguf_config(const struct cl_gguf *g, cJSON **out)
{
	struct cl_gguf_str a;
	enum cl_status st;
	char arch[32], b[128];
	*out = NULL;
	if ((st = cl_gguf_str(g, "general.architecture", 1, &a)))
		return st;
	if (!((a.n == 5 && memcmp(a.p, "llama", 5) == 0) || (a.n == 4 && memcmp(a.p, "gpt2", 4) == 0)))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: general.architecture '%.*s' is not supported (llama, gpt2)",
				cl_gguf_path(g), (int)(a.n > 40 ? 40 : a.n), a.p);
	snprintf(arch, sizeof arch, "%.*s", (int)a.n, a.p);
	cJSON *cfg = cJSON_CreateObject();
	if (!cfg)
		return cl_error(CL_ERR_NOMEM, "out of memory");
	int64_t nv, v;
	if ((st = vocab_size(g, arch, &nv)))
		goto fail;
	cJSON_AddNumberToObject(cfg, "vocab_size", (double)nv);
	cJSON_AddBoolToObject(cfg, "tie_word_embeddings", !cl_gguf_tensor(g, "output.weight"));
	if (strcmp(arch, "llama") == 0) {
		cJSON_AddStringToObject(cfg, "model_type", "llama");
		cJSON_AddStringToObject(cfg, "cl.rope_rows", "interleaved");
		if ((st = put_int(cfg, g, k(b, sizeof b, arch, "embedding_length"), "hidden_size", 1, 1, 1 << 20)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "feed_forward_length"), "intermediate_size", 1, 1,
				  1 << 22)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "block_count"), "num_hidden_layers", 1, 1, 1 << 12)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "attention.head_count"), "num_attention_heads", 1, 1,
				  1 << 12)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "attention.head_count_kv"), "num_key_value_heads", 0,
				  1, 1 << 12)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "attention.key_length"), "head_dim", 0, 2, 1 << 14)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "context_length"), "max_position_embeddings", 0, 1,
				  1 << 24)) ||
		    (st = put_num(cfg, g, k(b, sizeof b, arch, "attention.layer_norm_rms_epsilon"), "rms_norm_eps")) ||
		    (st = put_num(cfg, g, k(b, sizeof b, arch, "rope.freq_base"), "rope_theta")))
			goto fail;
		/* Rotary positions over part of a head, and value heads of another
		 * width, are not what llama.c computes: refused by name. */
		int64_t hd = 0, nh = 0, dim = 0, rd, vl;
		cl_gguf_int(g, k(b, sizeof b, arch, "embedding_length"), 1, 0, 1, 1 << 20, &dim);
		cl_gguf_int(g, k(b, sizeof b, arch, "attention.head_count"), 1, 0, 1, 1 << 12, &nh);
		if ((st = cl_gguf_int(g, k(b, sizeof b, arch, "attention.key_length"), 0, dim / nh, 2, 1 << 14, &hd)) ||
		    (st = cl_gguf_int(g, k(b, sizeof b, arch, "rope.dimension_count"), 0, hd, 0, 1 << 14, &rd)) ||
		    (st = cl_gguf_int(g, k(b, sizeof b, arch, "attention.value_length"), 0, hd, 0, 1 << 14, &vl)))
			goto fail;
		if (rd != hd) {
			st = cl_error(CL_ERR_UNSUPPORTED, "%s: %s: %lld of a head of %lld is not supported (rotary "
				      "positions over the whole head)", cl_gguf_path(g), k(b, sizeof b, arch,
				      "rope.dimension_count"), (long long)rd, (long long)hd);
			goto fail;
		}
		if (vl != hd) {
			st = cl_error(CL_ERR_UNSUPPORTED, "%s: %s: %lld differs from the key length %lld",
				      cl_gguf_path(g), k(b, sizeof b, arch, "attention.value_length"), (long long)vl,
				      (long long)hd);
			goto fail;
		}
		struct cl_gguf_str rs;
		if ((st = cl_gguf_str(g, k(b, sizeof b, arch, "rope.scaling.type"), 0, &rs)))
			goto fail;
		if (rs.p && !(rs.n == 4 && memcmp(rs.p, "none", 4) == 0)) {
			double f;
			if (!(rs.n == 6 && memcmp(rs.p, "linear", 6) == 0)) {
				st = cl_error(CL_ERR_UNSUPPORTED, "%s: %s: '%.*s' is not supported (none, linear)",
					      cl_gguf_path(g), b, (int)(rs.n > 40 ? 40 : rs.n), rs.p);
				goto fail;
			}
			if ((st = cl_gguf_num(g, k(b, sizeof b, arch, "rope.scaling.factor"), 1, 1, &f)))
				goto fail;
			cJSON *o = cJSON_AddObjectToObject(cfg, "rope_scaling");
			cJSON_AddStringToObject(o, "type", "linear");
			cJSON_AddNumberToObject(o, "factor", f);
		}
	} else {
		cJSON_AddStringToObject(cfg, "model_type", "gpt2");
		if ((st = put_int(cfg, g, k(b, sizeof b, arch, "embedding_length"), "n_embd", 1, 1, 1 << 20)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "feed_forward_length"), "n_inner", 0, 1, 1 << 22)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "block_count"), "n_layer", 1, 1, 1 << 12)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "attention.head_count"), "n_head", 1, 1, 1 << 12)) ||
		    (st = put_int(cfg, g, k(b, sizeof b, arch, "context_length"), "n_positions", 1, 1, 1 << 24)) ||
		    (st = put_num(cfg, g, k(b, sizeof b, arch, "attention.layer_norm_epsilon"), "layer_norm_epsilon")))
			goto fail;
		/* cl's own key (gguf_write.c): GPT-2's activation where it is not
		 * the tanh GELU, the one llama.cpp computes and the default here. */
		struct cl_gguf_str act;
		if ((st = cl_gguf_str(g, "cl.activation_function", 0, &act)))
			goto fail;
		if (act.p) {
			char a[64];
			snprintf(a, sizeof a, "%.*s", (int)(act.n < 63 ? act.n : 63), act.p);
			cJSON_AddStringToObject(cfg, "activation_function", a);
		}
	}
	/* Ids outside the vocabulary mean none, as in config.json. */
	if ((st = cl_gguf_int(g, "tokenizer.ggml.bos_token_id", 0, -1, -1, UINT32_MAX, &v)))
		goto fail;
	if (v >= 0 && v < nv)
		cJSON_AddNumberToObject(cfg, "bos_token_id", (double)v);
	if ((st = cl_gguf_int(g, "tokenizer.ggml.eos_token_id", 0, -1, -1, UINT32_MAX, &v)))
		goto fail;
	if (v >= 0 && v < nv)
		cJSON_AddNumberToObject(cfg, "eos_token_id", (double)v);
	*out = cfg;
	return CL_OK;
fail:
	cJSON_Delete(cfg);
	return st;
}
