/*
 * weights.h - private: a checkpoint's safetensors files, memory-mapped and
 * validated, and typed getters for config.json.  Not for cmd/.
 *
 * Ownership: cl_weights_open makes a struct cl_weights that the caller frees
 * with cl_weights_free.  A struct cl_tensor is a view into its mapping (data,
 * file) and lives until then.  cl_json_read_file gives a cJSON tree the
 * caller frees with cJSON_Delete; strings from cl_json_str live in that tree.
 *
 * Tensor data may be unaligned: safetensors does not promise alignment, so a
 * 2- or 4-byte element can sit at any address.  Read it with memcpy or
 * unaligned loads (cl_to_f32 and the kernels do).
 */
#ifndef CL_WEIGHTS_H
#define CL_WEIGHTS_H

#include "cl.h"

#define CL_TENSOR_MAX_DIMS 8

struct cl_tensor {
	const char *name;       /* as in the header */
	const void *data;       /* (shape...) row-major, in the mapping; may be unaligned */
	enum cl_dtype dtype;    /* CL_DTYPE_COUNT when stype is not F32/F16/BF16, or a
				 * U8 that cl.quant names a block type (cl-quantize(1)),
				 * or a GGUF block type */
	int ndim;
	int64_t shape[CL_TENSOR_MAX_DIMS]; /* logical: [rows, cols] for block types */
	const char *file;       /* the file it is in, for messages */
	const char *stype;      /* the safetensors dtype as written: "F32", "I8", ... */
	uint64_t nbytes;
};

struct cl_weights; /* the checkpoint's safetensors files, memory-mapped read-only */

/* The version of cl's own safetensors metadata ("cl.format") this reads and
 * writes: block-quantized tensors stored as U8 [rows, row bytes] and named in
 * "cl.quant.NAME" keys (man cl-quantize(1), FILE FORMAT). */
#define CL_WEIGHTS_FORMAT 1

/* dir holds model.safetensors, or model.safetensors.index.json naming shards
 * ("weight_map"), or a single *.safetensors file of another name; dir may also
 * be a .safetensors file itself.  Every header is checked (dtypes, shapes,
 * offsets within the file, no overlaps) before this returns; errors name the
 * file. */
enum cl_status cl_weights_open(const char *dir, struct cl_weights **out);
void cl_weights_free(struct cl_weights *w);
/* dir may instead be a .gguf file, or a directory without config.json
 * holding one (gguf.h): its tensors then go by their Hugging Face names
 * ("blk.0.attn_q.weight" as "model.layers.0.self_attn.q_proj.weight") with
 * shapes [rows, cols], and this gives the file (NULL for safetensors). */
struct cl_gguf;
const struct cl_gguf *cl_weights_gguf(const struct cl_weights *w);
int cl_weights_has(const struct cl_weights *w, const char *name);
/* Number of tensors, and the total bytes of their data. */
int64_t cl_weights_count(const struct cl_weights *w);
uint64_t cl_weights_bytes(const struct cl_weights *w);
/* Look a tensor up and check that its dtype is F32/F16/BF16 (or a block type,
 * from cl-quantize) and its shape
 * equals `shape` (ndim entries); otherwise an error such as
 * "DIR/model-00002-of-00003.safetensors: model.layers.3.mlp.up_proj.weight:
 * expected shape [11008, 4096], found [4096, 11008]" or
 * "DIR: model.norm.weight: missing (not in model.safetensors.index.json)".
 * shape NULL: any shape (the dtype is still checked). */
enum cl_status cl_weights_get(const struct cl_weights *w, const char *name, int ndim,
			      const int64_t *shape, struct cl_tensor *out);
/* The first of several names that exists (e.g. with and without a
 * "transformer." prefix); `names` ends with NULL. */
enum cl_status cl_weights_get_any(const struct cl_weights *w, const char *const *names, int ndim,
				  const int64_t *shape, struct cl_tensor *out);
/* Call fn for each tensor, in name order (to find unknown or extra tensors). */
void cl_weights_each(const struct cl_weights *w,
		     void (*fn)(void *arg, const char *name, const struct cl_tensor *t), void *arg);

/* ------------------------------------------------------------- config.json --- */

struct cJSON;
/* Read and parse a JSON file of at most max_bytes whose top level is an
 * object.  Errors: "path: invalid JSON at line 3, column 7", "path: expected a
 * JSON object", "path: larger than N bytes", "path: No such file ...". */
enum cl_status cl_json_read_file(const char *path, size_t max_bytes, struct cJSON **out);
/* Typed getters; `file` names the file in errors, such as
 * "model/config.json: hidden_size: expected a positive integer, found -3".
 * A key that is absent or null is `required` (an error) or gets dflt. */
enum cl_status cl_json_int(const struct cJSON *obj, const char *file, const char *key, int required,
			   int64_t dflt, int64_t lo, int64_t hi, int64_t *out);
enum cl_status cl_json_num(const struct cJSON *obj, const char *file, const char *key, int required,
			   double dflt, double lo, double hi, double *out);
enum cl_status cl_json_bool(const struct cJSON *obj, const char *file, const char *key, int required,
			    int dflt, int *out);
enum cl_status cl_json_str(const struct cJSON *obj, const char *file, const char *key, int required,
			   const char *dflt, const char **out);

#endif
