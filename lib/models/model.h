/*
 * model.h - private: what a model family provides, and the parts of a model
 * every family shares.  Adding a family is one file and one line in
 * model.c's table; nothing in cmd/ changes.
 */
#ifndef CL_MODEL_H
#define CL_MODEL_H

#include <cJSON.h>

#include "kernels.h"
#include "weights.h"

struct cl_model;
struct cl_kv;

/* One row of a batch: where it goes. */
struct cl_row {
	struct cl_kv *kv;
	int32_t pos;
};

struct cl_family_ops {
	const char *name;                  /* "llama" */
	enum cl_family id;
	/* Whether config.json describes this family (model_type, architectures). */
	int (*claims)(const cJSON *cfg);
	/* Read config.json into m->info and family state, then find and check
	 * every tensor (presence, dtype, shape) before anything runs. */
	enum cl_status (*load)(struct cl_model *m, const cJSON *cfg, const char *cfgpath);
	/* n rows (n <= CL_BATCH), each a position of a sequence (rows[t]); a
	 * sequence's rows come in order of position, and its cache holds the
	 * positions before its first.  Logits of the rows out[0..n_out) go to
	 * logits, (n_out, n_vocab), in that order. */
	enum cl_status (*forward)(struct cl_model *m, const struct cl_row *rows, int32_t n, const float *x,
				  float *logits, const int32_t *out, int32_t n_out);
	void (*free)(struct cl_model *m);
};

/* The largest batch a family's forward takes at once; cl_model_forward cuts
 * longer runs into batches of this size. */
#define CL_BATCH CL_BATCH_MAX /* lib/cl.h */

/* A weight converted at load (--quantize), under the name it is saved as. */
struct cl_model_conv {
	const char *name;          /* in the checkpoint's header, or a static string */
	struct cl_mat mat;
};

struct cl_model {
	struct cl_model_info info;
	const struct cl_family_ops *fam;
	struct cl_model_opts opts;
	char dir[4096];
	struct cl_weights *w;
	struct cl_pool *pool;
	struct cl_mat embed;       /* (n_vocab, dim) token embeddings */
	void **owned;              /* buffers made at load (converted weights) */
	int n_owned, cap_owned;
	struct cl_model_conv *conv; /* the weights converted at load, for cl_model_save */
	int n_conv, cap_conv;
	/* Matrices made at load and packed without being listed above (GPT-2's
	 * transposed F16 Conv1D weights): a GGUF writer cannot find them. */
	int n_unlisted;
	void *impl;                /* the family's state */
	double seconds;            /* compute time in forward */
	/* Taps and attention (cl_model_set_taps, cl_model_set_attn): buffers of
	 * the caller's, indexed by the row of the cl_model_forward_batch call
	 * (row0: the first row of the chunk the family computes now). */
	int32_t *tap_slot;         /* (n_layers + 1): boundary L's slot in a row, or -1 */
	int n_taps;
	float *tap_buf;            /* (rows, n_taps, dim) */
	float *attn_buf;           /* (rows, stage layers, n_heads, attn_ctx) */
	int32_t attn_ctx;
	int32_t row0;
};

struct cl_kv {
	int32_t ctx, len;
	int32_t n_layers, kv_dim;
	int f16;                   /* k and v hold f16, not f32 */
	void *k, *v;               /* (n_layers, ctx, kv_dim) each, f32 or f16 */
	float *scores;             /* (threads, ctx) attention scratch */
	int threads;
};

/* Take a weight as a matrix, converted to opts.quantize when asked (the
 * converted copy is owned by the model, and listed in m->conv under t->name
 * for cl_model_save).  `quantize` 0 keeps the stored type whatever opts say
 * (norms, embeddings used as rows). */
enum cl_status cl_model_mat(struct cl_model *m, const struct cl_tensor *t, int quantize, struct cl_mat *out);
/* w in the running kernel set's own layout (kernels.h, cl_mat_packing),
 * where it has one and opts.pack allows: a copy owned by the model, made
 * with its threads; cl_model_mat does it for the matrices it gives.
 * mapped: w lies in the file's mapping, whose pages the process then drops
 * (they stay in the page cache; the resident size counts the weights once).
 * A matrix listed as converted at load (cl_model_conv_add) is listed as it
 * was, for cl_model_save. */
enum cl_status cl_model_pack(struct cl_model *m, struct cl_mat *w, int mapped);
/* fn(arg, a, b) over [0, count), split among the model's threads where the
 * batch has CL_PAR_ROWS rows or more (there it pays the hand-off), else in
 * one call on the caller's: for a batch's elementwise and per-row work
 * (norms, activations), each element computed as alone, so the same bits
 * however it is split.  At 16 sequences a step, SwiGLU's 2 million expf
 * alone were a tenth of the step, with the other core waiting. */
#define CL_PAR_ROWS 4
void cl_model_par(struct cl_model *m, int64_t rows, int64_t count, void (*fn)(void *arg, int64_t a, int64_t b),
		  void *arg);
/* List a matrix made at load (converted or transposed) under the stored
 * tensor's name, for the writers (save.c, gguf_write.c); name lives with
 * m->w. */
enum cl_status cl_model_conv_add(struct cl_model *m, const char *name, const struct cl_mat *mat);
/* A 1-D weight (a norm's scale or a bias) as f32, owned by the model. */
enum cl_status cl_model_vec(struct cl_model *m, const struct cl_tensor *t, const float **out);
/* Keep `p` until the model is freed. */
enum cl_status cl_model_own(struct cl_model *m, void *p);

/* Whether config.json names this family: model_type is one of `types` (a
 * NULL-terminated list), or, without model_type, architectures holds `arch`. */
int cl_config_is(const cJSON *cfg, const char *const *types, const char *arch);

/* Store one position's keys and values (kv_dim each) in layer `layer`. */
void cl_kv_store(struct cl_kv *kv, int layer, int32_t pos, const float *k, const float *v);

/* Causal attention for the n rows of a batch, each against layer `layer` of
 * its own sequence's cache (which already holds the keys and values of every
 * row): row t attends to positions 0..rows[t].pos.  q is (n, ldq) with query
 * head h at h * head_dim; out is (n, n_heads * head_dim).  Query head h reads
 * KV head h / (n_heads / n_kv_heads), straight from the cache (no copies for
 * grouped-query attention).  Split over the model's threads by (row, head). */
void cl_model_attend(struct cl_model *m, const struct cl_row *rows, int layer, int32_t n, const float *q,
		     int64_t ldq, float scale, float *out);

/* Families call this at every layer boundary L of their stage (the input of
 * layer L; layer_to after the last) with the residual stream x (n, dim) of
 * the chunk's rows: it copies the rows to the taps' buffer where L is
 * tapped. */
void cl_model_tap(struct cl_model *m, int32_t layer, const float *x, int32_t n);

extern const struct cl_family_ops cl_family_llama;
extern const struct cl_family_ops cl_family_gpt2;

#endif
