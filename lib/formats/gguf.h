/*
 * gguf.h - private: a GGUF file (llama.cpp's format), memory-mapped and
 * checked.  Not for cmd/.
 *
 * A GGUF file is a header (magic "GGUF", version, counts), metadata (typed
 * key/value pairs, values possibly arrays, arrays possibly of arrays), tensor
 * infos (name, dimensions, ggml type, offset) and, aligned to
 * general.alignment, the tensors' data.  Versions 2 and 3, little-endian.
 *
 * cl_gguf_open checks every length, count, offset and type against the
 * bytes that remain before it is used, so the getters below only ever read
 * inside the mapping; a fault gets one line naming the file, the field and
 * the fault.
 *
 * Ownership: struct cl_gguf owns the mapping; every pointer it gives (keys,
 * values, tensor data) lives until cl_gguf_free.  Strings in the mapping are
 * not NUL-terminated: they come as struct cl_gguf_str.  Keys and tensor
 * names are NUL-terminated copies.
 */
#ifndef CL_GGUF_H
#define CL_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "cl.h"

/* Metadata value types, as the format numbers them. */
enum cl_gguf_type {
	CL_GGUF_U8 = 0,
	CL_GGUF_I8 = 1,
	CL_GGUF_U16 = 2,
	CL_GGUF_I16 = 3,
	CL_GGUF_U32 = 4,
	CL_GGUF_I32 = 5,
	CL_GGUF_F32 = 6,
	CL_GGUF_BOOL = 7,
	CL_GGUF_STRING = 8,
	CL_GGUF_ARRAY = 9,
	CL_GGUF_U64 = 10,
	CL_GGUF_I64 = 11,
	CL_GGUF_F64 = 12,
	CL_GGUF_TYPE_COUNT
};

struct cl_gguf_str {
	const char *p; /* in the mapping, not NUL-terminated */
	uint64_t n;
};

struct cl_gguf_kv {
	const char *key;           /* NUL-terminated copy */
	enum cl_gguf_type type;
	/* type ARRAY: the elements' type and count; val is the first element
	 * (for arrays of strings or arrays, elements have varying sizes: use
	 * cl_gguf_arr_str or walk them with cl_gguf_value_size). */
	enum cl_gguf_type arr_type;
	uint64_t n;
	const unsigned char *val;  /* the value in the mapping (may be unaligned) */
	uint64_t size;             /* its bytes */
};

#define CL_GGUF_MAX_DIMS 4

struct cl_gguf_tensor {
	const char *name;          /* NUL-terminated copy */
	uint32_t ggml_type;        /* as stored (GGML_TYPE_*) */
	enum cl_dtype dtype;       /* CL_DTYPE_COUNT: a type cl does not compute */
	int ndim;
	uint64_t ne[CL_GGUF_MAX_DIMS]; /* ne[0] varies fastest: [cols, rows] */
	uint64_t offset;           /* from the start of the data section */
	const void *data;          /* in the mapping */
	uint64_t nbytes;
};

struct cl_gguf;

/* Open and check path.  Errors name it: "m.gguf: tensor 'blk.0.attn_q.weight':
 * data ends at byte 9231905, past the end of the file (9231872 bytes)". */
enum cl_status cl_gguf_open(const char *path, struct cl_gguf **out);
/* The same over bytes the caller keeps alive until cl_gguf_free (the fuzz
 * target); `name` is used in messages. */
enum cl_status cl_gguf_open_mem(const void *buf, size_t n, const char *name, struct cl_gguf **out);
void cl_gguf_free(struct cl_gguf *g);

const char *cl_gguf_path(const struct cl_gguf *g);
uint32_t cl_gguf_version(const struct cl_gguf *g);
uint64_t cl_gguf_file_size(const struct cl_gguf *g);

int64_t cl_gguf_n_kv(const struct cl_gguf *g);
const struct cl_gguf_kv *cl_gguf_kv_at(const struct cl_gguf *g, int64_t i);
/* The pair with this key, or NULL. */
const struct cl_gguf_kv *cl_gguf_find(const struct cl_gguf *g, const char *key);

/* Typed getters.  A key that is absent is an error when `required`, else
 * gives dflt.  Integers of any integer type are accepted when in [lo, hi];
 * floats of either float type; errors such as "m.gguf: llama.block_count:
 * expected an integer in [1, 4096], found -3" or "... expected a string,
 * found an array of u32". */
enum cl_status cl_gguf_int(const struct cl_gguf *g, const char *key, int required, int64_t dflt, int64_t lo,
			   int64_t hi, int64_t *out);
enum cl_status cl_gguf_num(const struct cl_gguf *g, const char *key, int required, double dflt, double *out);
enum cl_status cl_gguf_bool(const struct cl_gguf *g, const char *key, int required, int dflt, int *out);
/* A string value; out->p NULL when absent and not required. */
enum cl_status cl_gguf_str(const struct cl_gguf *g, const char *key, int required, struct cl_gguf_str *out);
/* An array whose elements have type `elem`; with want_n >= 0 its count must
 * equal want_n ("m.gguf: tokenizer.ggml.scores: 511 elements, expected 512
 * (one per token)").  *out NULL when absent and not required. */
enum cl_status cl_gguf_arr(const struct cl_gguf *g, const char *key, int required, enum cl_gguf_type elem,
			   int64_t want_n, const struct cl_gguf_kv **out);

/* Elements of a checked array of fixed-size numbers (no bounds check: i <
 * kv->n, and kv->arr_type as asked of cl_gguf_arr). */
float cl_gguf_arr_f32(const struct cl_gguf_kv *kv, uint64_t i);
int64_t cl_gguf_arr_int(const struct cl_gguf_kv *kv, uint64_t i); /* any integer type */
/* The strings of an array of strings, as a malloc'd array of kv->n views
 * the caller frees (the views point into the mapping). */
enum cl_status cl_gguf_arr_str(const struct cl_gguf *g, const struct cl_gguf_kv *kv, struct cl_gguf_str **out);

int64_t cl_gguf_n_tensors(const struct cl_gguf *g);
const struct cl_gguf_tensor *cl_gguf_tensor_at(const struct cl_gguf *g, int64_t i);
const struct cl_gguf_tensor *cl_gguf_tensor(const struct cl_gguf *g, const char *name);

/* Name of a value type ("u32", "string", "array") and of a ggml tensor
 * type ("Q4_K", "IQ2_XS", or "type 99"). */
const char *cl_gguf_type_name(enum cl_gguf_type t);
const char *cl_gguf_ggml_type_name(uint32_t t, char *buf, size_t cap);

/* Whether `path` names a GGUF model: a file ending ".gguf", or a directory
 * without config.json that holds exactly one .gguf file.  1: yes, the file's
 * path in file; 0: no; -1: an error is set (a directory holding several).  */
int cl_gguf_locate(const char *path, char *file, size_t cap);

/* The data section: tensor data lies at cl_gguf_data(g) + tensor offset. */
const unsigned char *cl_gguf_data(const struct cl_gguf *g);

/* ----------------------------------------- gguf_model.c: the file as a model --- */

/* The Hugging Face name of a tensor of architecture `arch` ("llama", "gpt2"):
 * "blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight" (GPT-2's
 * without the "transformer." prefix).  A name it does not know is returned
 * as it is; buf holds the result otherwise. */
const char *cl_gguf_hf_name(const char *arch, const char *name, char *buf, size_t cap);
/* The file's metadata as the config.json of a Hugging Face checkpoint
 * (model_type, hidden_size, ...; and "cl.rope_rows": "interleaved" for llama,
 * whose attn_q / attn_k rows llama.cpp's converter reorders).  Architectures
 * other than llama and gpt2 are refused by name.  The caller frees *out with
 * cJSON_Delete. */
struct cJSON;
enum cl_status cl_gguf_config(const struct cl_gguf *g, struct cJSON **out);
/* The architecture ("llama", "gpt2", or as written), NUL-terminated in buf. */
const char *cl_gguf_arch(const struct cl_gguf *g, char *buf, size_t cap);

/* A growing byte buffer, for the GGUF writer and the tokenizer's model
 * built from a file: put appends, and where an allocation fails it sets oom
 * and appends nothing more, so that a writer checks once at the end. */
struct cl_bytes {
	unsigned char *p;
	size_t n, cap;
	int oom;
};
void cl_bytes_put(struct cl_bytes *b, const void *s, size_t n);

#endif
