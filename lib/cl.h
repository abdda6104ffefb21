/*
 * cl.h - the one public header of libcl, the core of the cl toolkit.
 *
 * cl runs code language models (Llama / Code Llama, GPT-2 / Cerebras-GPT) as
 * small programs joined by pipes.  This library holds everything those
 * programs share; each program in cmd/ is glue around it.  The layers, from
 * the bottom up:
 *
 *   util        status codes and messages, write-all, half-float conversion
 *   stream      the cl-stream(5) format: header, records, reader, writer
 *   tokenizer   SentencePiece and GPT-2 byte-level BPE behind one interface
 *   model       config.json + safetensors, the forward pass, the KV cache
 *   sampler     pure functions over a vector of logits and a token history
 *
 * Ownership: every object made by a _load/_new/_open function is owned by the
 * caller and released by the matching _free/_close, which accepts NULL.
 * Pointers returned by accessors (names, vectors, mapped weights) are views
 * that live until their owner is freed.  The library never prints and never
 * exits: functions return enum cl_status, and cl_errmsg() gives the message of
 * the last failure in this thread ("model/config.json: hidden_size: expected
 * a positive integer"), which a program prefixes with its own name.
 *
 * A short example, the next token of a prompt without pipes (tests/t-install.sh
 * compiles and runs it against the installed library, between the markers):
 *
 * example begin
 *     #include <cl.h>
 *     #include <stdio.h>
 *     #include <stdlib.h>
 *
 *     int main(void)
 *     {
 *             const char *dir = cl_default_model(); // $CL_MODEL, else the model installed with cl
 *             struct cl_tokenizer *tok;
 *             struct cl_model *m;
 *             struct cl_kv *kv;
 *             int32_t *ids;
 *             size_t n;
 *             if (cl_tokenizer_load(dir, &tok) || cl_model_load(dir, NULL, &m) ||
 *                 cl_tokenizer_encode(tok, "def f(", 6, CL_ENCODE_BOS, &ids, &n) || cl_kv_new(m, 256, &kv)) {
 *                     fprintf(stderr, "%s\n", cl_errmsg());
 *                     return 1;
 *             }
 *             const struct cl_model_info *mi = cl_model_info(m);
 *             float *x = malloc(n * mi->dim * sizeof *x), *logits = malloc(mi->n_vocab * sizeof *logits);
 *             for (size_t i = 0; i < n; i++)
 *                     cl_model_embed(m, ids[i], x + i * mi->dim);
 *             cl_model_forward(m, kv, 0, (int32_t)n, x, logits, 0); // logits of the last position
 *             int32_t best = 0;
 *             for (int32_t t = 1; t < mi->n_vocab; t++)
 *                     if (logits[t] > logits[best])
 *                             best = t;
 *             for (size_t i = 0; i < n; i++)
 *                     printf("%d ", ids[i]);
 *             printf("-> %d\n", best); // the prompt's ids, then the greedy next token
 *             free(x), free(logits), free(ids);
 *             cl_kv_free(kv);
 *             cl_model_free(m);
 *             cl_tokenizer_free(tok);
 *             return 0;
 *     }
 * example end
 *
 * Token ids are int32_t; sizes and offsets are size_t or 64-bit.
 */
#ifndef CL_H
#define CL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What this header declares is libcl.so's API; the library is built with
 * -fvisibility=hidden, so nothing else it holds is exported. */
#pragma GCC visibility push(default)

#define CL_VERSION "0.1.0"

/* ---------------------------------------------------------------- util --- */

/* Append-only: a value, once given, keeps its meaning. */
enum cl_status {
	CL_OK = 0,
	CL_ERR_IO = 1,          /* a system call failed; the message has strerror */
	CL_ERR_FORMAT = 2,      /* malformed input: the message names the fault */
	CL_ERR_NOMEM = 3,
	CL_ERR_UNSUPPORTED = 4, /* valid but not handled (a dtype, a rope type) */
	CL_ERR_MISMATCH = 5,    /* input made for another model or tokenizer */
	CL_ERR_RANGE = 6,       /* an argument or value out of range */
	CL_ERR_EOF = 7,         /* clean end of input (not an error for readers) */
	CL_ERR_PIPE = 8,        /* the reader of our output went away */
};

/* The message of the last failure in this thread. */
const char *cl_errmsg(void);
/* Set the message (printf-style) and return `st`; a format ending in ':' gets
 * ": strerror(errno)" appended. */
enum cl_status cl_error(enum cl_status st, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Element types of weights and stream vectors.  Append-only. */
enum cl_dtype {
	CL_DTYPE_F32 = 0,
	CL_DTYPE_F16 = 1,
	CL_DTYPE_BF16 = 2,
	CL_DTYPE_Q8_0 = 3, /* blocks of 32: f16 scale, 32 x int8         (34 bytes) */
	CL_DTYPE_Q4_0 = 4, /* blocks of 32: f16 scale, 16 bytes of nibbles (18 bytes) */
	/* ggml's other block types, as GGUF files hold them (read, not made): */
	CL_DTYPE_Q4_1 = 5, /* blocks of 32: f16 scale, f16 min, 16 bytes of nibbles (20) */
	CL_DTYPE_Q5_0 = 6, /* blocks of 32: f16 scale, 4 bytes of 5th bits, 16 of nibbles (22) */
	CL_DTYPE_Q5_1 = 7, /* blocks of 32: f16 scale, f16 min, 5th bits, nibbles (24) */
	CL_DTYPE_Q2_K = 8, /* super-blocks of 256 (84 bytes) */
	CL_DTYPE_Q3_K = 9, /* super-blocks of 256 (110 bytes) */
	CL_DTYPE_Q4_K = 10, /* super-blocks of 256 (144 bytes) */
	CL_DTYPE_Q5_K = 11, /* super-blocks of 256 (176 bytes) */
	CL_DTYPE_Q6_K = 12, /* super-blocks of 256 (210 bytes) */
	CL_DTYPE_COUNT
};
const char *cl_dtype_name(enum cl_dtype t);              /* "f32", "q8_0", ... */
int cl_dtype_parse(const char *s, enum cl_dtype *out);   /* 0 on success */
/* Whether cl converts weights to t (--quantize, cl-quantize --type): f32,
 * f16, bf16, q8_0, q4_0, q4_k, q6_k; the other GGUF types it reads only. */
int cl_dtype_makeable(enum cl_dtype t);
#define CL_DTYPE_MAKEABLE "f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m"
/* llama.cpp's mixes of types: one type for most matrices, more bits for
 * those that matter most.  CL_MIX_Q4_K_M: Q4_K, and Q6_K for the output
 * projection and for attn_v and ffn_down in the first and last eighth of the
 * layers and every third between (llama.cpp's use_more_bits). */
enum cl_mix { CL_MIX_NONE = 0, CL_MIX_Q4_K_M = 1 };
/* A --quantize / --type argument: a type cl makes other than f32, or a mix
 * ("q4_k_m").  0 on success. */
int cl_quant_parse(const char *s, int *quantize, int *mix);
/* The type a mix gives the matrix of this Hugging Face name in a model of
 * n_layers; `base` for a name it does not pick out. */
enum cl_dtype cl_mix_type(int mix, const char *name, int32_t n_layers, enum cl_dtype base);
/* Bytes taken by `n` elements (n a multiple of the block for block types:
 * cl_dtype_block). */
size_t cl_dtype_size(enum cl_dtype t, int64_t n);
/* Elements per block: 1 for f32/f16/bf16, 32, or 256 for the k-quants. */
int cl_dtype_block(enum cl_dtype t);

float cl_f16_to_f32(uint16_t h);
uint16_t cl_f32_to_f16(float f);
float cl_bf16_to_f32(uint16_t h);
uint16_t cl_f32_to_bf16(float f); /* round to nearest even, as torch does */
/* Convert `n` elements of type `t` (not a block type) to f32. */
void cl_to_f32(enum cl_dtype t, const void *src, int64_t n, float *dst);

/* 64-bit FNV-1a, continuing from `h` (start with CL_FNV_INIT). */
#define CL_FNV_INIT 0xcbf29ce484222325ULL
uint64_t cl_fnv1a(uint64_t h, const void *p, size_t n);

/* Write all of buf to fd, retrying short writes and EINTR; CL_ERR_PIPE on EPIPE. */
enum cl_status cl_write_all(int fd, const void *buf, size_t n);

/* The default model directory: $CL_MODEL, else the one installed with cl,
 * else models/cl-python-small beside the running program's bin/. */
const char *cl_default_model(void);

/* -------------------------------------------------------------- stream --- */
/* The cl-stream(5) format; that page is the specification. */

#define CL_STREAM_VERSION 1
#define CL_STREAM_MAGIC "\x89" "CLS\r\n\x1a\n" /* 8 bytes */

enum cl_stream_kind { /* append-only */
	CL_STREAM_TOKENS = 1,
	CL_STREAM_VECTORS = 2,
};

enum cl_rec_kind { /* append-only; values stay below 0x80 (see cl-stream.5) */
	CL_REC_TOKEN = 1,      /* a token; payload: n alternatives (struct cl_alt) */
	CL_REC_VECTOR = 2,     /* a vector of the stream's width and dtype */
	CL_REC_SEQ_BEGIN = 3,  /* a sequence starts */
	CL_REC_PROMPT_END = 4, /* the prompt of seq is complete: a sampler acts */
	CL_REC_SEQ_END = 5,    /* seq is over; its state may be freed */
	CL_REC_END = 6,        /* no sequence will begin after this one */
};

enum cl_rec_flag { /* append-only bits */
	CL_FLAG_SAMPLE = 1u << 0,    /* a sampler must choose the next token from this record */
	CL_FLAG_GENERATED = 1u << 1, /* the token was chosen by a sampler, not given */
	CL_FLAG_PROMPT = 1u << 2,    /* the token belongs to the prompt */
};

struct cl_stream_info {
	enum cl_stream_kind kind;
	char what[16];          /* "tokens", "embeddings", "logits", "hidden", "attention" */
	uint32_t width;         /* vectors: elements per vector */
	enum cl_dtype dtype;    /* vectors: element type (f32, f16, bf16) */
	uint32_t vocab_size;    /* 0: unknown */
	char tokenizer[17];     /* fingerprint, 16 hex digits; "" unknown */
	char producer[32];      /* "cl-embed" */
	char model[256];        /* model directory or name; "" unknown */
	int32_t bos, eos;       /* the tokenizer's BOS / EOS ids; -1: none or unknown */
	int32_t layer;          /* hidden states ("hidden"): the residual stream at the input
				   of layer L (0: the embeddings); -1: not hidden states */
	uint32_t context;       /* logits: positions each sequence's cache holds (its
				   positions are 0 to context - 1); 0: unknown */
	int32_t heads;          /* attention: query heads per layer; 0 otherwise */
};

struct cl_alt {
	int32_t token;
	float logprob;
};

struct cl_record {
	uint16_t kind;     /* enum cl_rec_kind */
	uint16_t flags;    /* enum cl_rec_flag bits */
	uint32_t seq;      /* sequence id */
	uint32_t pos;      /* position in the sequence, 0-based */
	int32_t token;     /* the token at pos; -1 where none */
	float logprob;     /* tokens from a sampler: log-probability; else NaN */
	uint32_t n;        /* payload elements: vector width, or alternatives */
	uint32_t aux;      /* the record header's last word: 0, except in a tap
			      stream ("hidden" of several layers: the layer) and
			      an "attention" stream (layer * 65536 + head) */
	const void *data;  /* payload; the reader's view lives until the next read */
};
/* A record's layer and head in an attention stream, and the aux word of them. */
#define CL_AUX_ATTN(layer, head) ((uint32_t)(layer) << 16 | (uint32_t)(head))
#define CL_AUX_LAYER(aux) ((int32_t)((aux) >> 16))
#define CL_AUX_HEAD(aux) ((int32_t)((aux) & 0xffff))

struct cl_reader;
/* Read a stream from fd; `name` is used in messages ("-" for stdin).
 * The header is read by the first cl_reader_next or by cl_reader_info. */
struct cl_reader *cl_reader_open(int fd, const char *name);
void cl_reader_free(struct cl_reader *r);
/* The header of the stream; NULL (with cl_errmsg) when it could not be read. */
const struct cl_stream_info *cl_reader_info(struct cl_reader *r, enum cl_status *st);
/* Next record.  CL_ERR_EOF at a clean end.  A second header mid-stream (as
 * `cat a b` makes) is accepted when it agrees with the first in kind, width,
 * dtype and tokenizer, and refused otherwise. */
enum cl_status cl_reader_next(struct cl_reader *r, struct cl_record *rec);
/* Whether a whole record is already buffered (the next call won't block). */
int cl_reader_ready(struct cl_reader *r);
/* Whether the next record is buffered or input is waiting: a regular file
 * always, a pipe once its writer has written.  The next call then waits at
 * most for the rest of a record its writer is writing, never for a record
 * that is yet to be made (cl-forward batches a prompt this way). */
int cl_reader_waiting(struct cl_reader *r);
/* Vector payload as f32 (converts f16/bf16); `out` has rec->n floats. */
void cl_record_vector(const struct cl_reader *r, const struct cl_record *rec, float *out);

struct cl_writer;
/* Write a stream to fd, starting with the header.  Each record is flushed at
 * once when fd is a pipe, FIFO, socket or terminal. */
struct cl_writer *cl_writer_open(int fd, const char *name, const struct cl_stream_info *info,
				 enum cl_status *st);
/* Vector records: rec->data holds rec->n floats (f32) and rec->n must equal
 * the width; they are written in the stream's dtype. */
enum cl_status cl_writer_put(struct cl_writer *w, const struct cl_record *rec);
enum cl_status cl_writer_flush(struct cl_writer *w);
/* Flushes and frees; returns the first error seen. */
enum cl_status cl_writer_close(struct cl_writer *w);

/* Fill an info for a stream whose first header is `src`, as `producer`. */
void cl_stream_info_init(struct cl_stream_info *info, enum cl_stream_kind kind, const char *what,
			 const char *producer);
/* A token stream's header for a tokenizer: vocab_size, BOS, EOS and
 * fingerprint from it, model as given. */
struct cl_tokenizer;
void cl_stream_info_tokens(struct cl_stream_info *info, const struct cl_tokenizer *tk, const char *producer,
			   const char *model);
/* Check that a stream's tokenizer fingerprint and vocabulary match ours;
 * CL_ERR_MISMATCH with a message naming both otherwise.  Unknown ("") passes. */
enum cl_status cl_stream_check_tokenizer(const struct cl_stream_info *in, const char *fingerprint,
					 const char *ours_name);

/* ----------------------------------------------------------- tokenizer --- */

struct cl_tokenizer;

enum cl_encode_flag {
	CL_ENCODE_BOS = 1u << 0,
	CL_ENCODE_EOS = 1u << 1,
	CL_ENCODE_SPECIAL = 1u << 2, /* parse special-token text (<s>, <|endoftext|>) */
};

/* `path`: a model directory (tokenizer.model, tokenizer.json, or vocab.json +
 * merges.txt) or a tokenizer file. */
enum cl_status cl_tokenizer_load(const char *path, struct cl_tokenizer **out);
void cl_tokenizer_free(struct cl_tokenizer *t);
int32_t cl_tokenizer_n_vocab(const struct cl_tokenizer *t);
int32_t cl_tokenizer_bos(const struct cl_tokenizer *t); /* -1: none */
int32_t cl_tokenizer_eos(const struct cl_tokenizer *t); /* -1: none */
/* Whether the model's own tokenizer begins a text with BOS by default, as
 * Hugging Face's does: SentencePiece (Llama) yes, GPT-2's BPE no. */
int cl_tokenizer_add_bos(const struct cl_tokenizer *t);
/* 16 hex digits over the vocabulary (pieces in id order), so the same
 * vocabulary in another file format has the same fingerprint. */
const char *cl_tokenizer_fingerprint(const struct cl_tokenizer *t);
/* The vocabulary entry, as stored ("▁def", "<0x0A>", "Ġworld"). */
const char *cl_tokenizer_piece(const struct cl_tokenizer *t, int32_t id);
/* Encode len bytes of text; *ids is malloc'd and owned by the caller.  Text that
 * is not valid UTF-8 is refused (CL_ERR_FORMAT, naming the byte) by
 * SentencePiece tokenizers, which would read it as U+FFFD; GPT-2's byte-level
 * BPE encodes every byte as it is. */
enum cl_status cl_tokenizer_encode(const struct cl_tokenizer *t, const char *text, size_t len,
				   unsigned flags, int32_t **ids, size_t *n);
/* The bytes token `id` stands for in decoded text, written to buf (at most
 * cap); returns their count, or -1 for an id out of range.  `first`: the token
 * is the first of its sequence's text, where SentencePiece drops the space of
 * its dummy prefix.  Control tokens decode to nothing.  A byte-fallback token
 * gives one byte, which may be part of a UTF-8 character. */
int cl_tokenizer_decode(const struct cl_tokenizer *t, int32_t id, int first, char *buf, size_t cap);
/* After decoding token `id` (giving n bytes) in state `first`: whether the
 * next token is still the first of the text.  Control tokens keep it; so do
 * empty pieces where the model strips extra whitespace. */
int cl_tokenizer_still_first(const struct cl_tokenizer *t, int32_t id, int first, int n);
/* Whether id is a control token (BOS, EOS, <|endoftext|>, ...). */
int cl_tokenizer_is_control(const struct cl_tokenizer *t, int32_t id);

/* Streams decoded bytes as whole UTF-8 characters: bytes of an incomplete
 * character are held back until it completes; an invalid sequence comes out
 * as U+FFFD, as SentencePiece's decoder does. */
struct cl_utf8 {
	unsigned char pend[4];
	int npend;
};
/* Appends the complete text of (pending + in) to out (capacity >= n + 8);
 * returns the number of bytes written. */
size_t cl_utf8_push(struct cl_utf8 *u, const char *in, size_t n, char *out);
/* At the end of a sequence: what is still pending, as U+FFFD per bad byte run. */
size_t cl_utf8_finish(struct cl_utf8 *u, char *out);
/* The offset of the first byte of s that is not part of valid UTF-8, or n
 * when all of it is. */
size_t cl_utf8_check(const char *s, size_t n);

/* --------------------------------------------------------------- model --- */

enum cl_family { /* append-only */
	CL_FAMILY_LLAMA = 1,
	CL_FAMILY_GPT2 = 2,
};

struct cl_model_opts {
	int threads;            /* 0: the cores available */
	int quantize;           /* -1: none; else enum cl_dtype (Q8_0, Q4_0, F16, ...) */
	int mix;                /* enum cl_mix: quantize's type with more bits for some matrices */
	int progress;           /* print loading progress to stderr */
	int kv_f16;             /* KV caches in f16 (half the memory), not f32 */
	/* 1 (the default): the weights that the running kernel set reads
	 * faster in a layout of its own (Q8_0 and Q4_0 on AVX-512 VNNI, F16 on
	 * AVX-512) are copied into it at load; 0: used as stored (a program
	 * that runs no products, or only saves them). */
	int pack;
	/* A stage of the model: layers [layer_from, layer_to) (layer_to -1: to
	 * the last).  Its input is the residual stream at layer_from (the
	 * embeddings at 0), its output the stream at layer_to, or the logits
	 * where layer_to is the last (the final norm and the output projection);
	 * from = to = n_layers is the head alone (the logit lens).  Its caches
	 * hold its own layers. */
	int32_t layer_from, layer_to;
};
void cl_model_opts_init(struct cl_model_opts *o);

struct cl_model_info {
	enum cl_family family;
	int32_t dim;            /* hidden size: the width of an embedding */
	int32_t n_layers;
	int32_t n_heads;
	int32_t n_kv_heads;
	int32_t head_dim;
	int32_t ffn_dim;
	int32_t n_vocab;        /* the width of a logit vector */
	int32_t max_pos;        /* max_position_embeddings / n_positions */
	int32_t bos, eos;       /* -1: none */
	enum cl_dtype wtype;    /* the type most weights are stored in */
	uint64_t n_params;
	uint64_t layer_params;  /* those of the layers: what every position multiplies */
	uint64_t weight_bytes;  /* bytes read per token (weights as used) */
	int32_t threads;        /* threads the forward pass runs on */
	const char *kernels;    /* the kernels' instruction set: "avx512", "avx2", "neon",
				   "generic" (the best the CPU runs, or $CL_KERNELS) */
	int32_t layer_from, layer_to; /* the stage (opts.layer_from, layer_to resolved) */
	int32_t out_dim;        /* a forward output's width: n_vocab (logits) where the
				   stage ends at the head, else dim (hidden states) */
};

struct cl_model;
enum cl_status cl_model_load(const char *dir, const struct cl_model_opts *opts, struct cl_model **out);
void cl_model_free(struct cl_model *m);
const struct cl_model_info *cl_model_info(const struct cl_model *m);
/* out: (dim) — the input embedding of `token` (no position: GPT-2 adds its
 * learned positions inside the forward pass, as Hugging Face's inputs_embeds). */
enum cl_status cl_model_embed(const struct cl_model *m, int32_t token, float *out);

/* One sequence's KV cache, for at most `ctx` positions. */
struct cl_kv;
enum cl_status cl_kv_new(const struct cl_model *m, int32_t ctx, struct cl_kv **out);
void cl_kv_free(struct cl_kv *kv);
int32_t cl_kv_len(const struct cl_kv *kv); /* positions held */
int32_t cl_kv_ctx(const struct cl_kv *kv);
/* Bytes a cache of ctx positions takes (f32, or f16 with opts.kv_f16). */
uint64_t cl_kv_bytes(const struct cl_model *m, int32_t ctx);

/* The most positions cl_model_forward runs through the layers at once;
 * longer runs are cut into batches of this size.  A batch reads each weight
 * once, so a prompt of up to this many positions costs one pass over them. */
#define CL_BATCH_MAX 128

/* Run n positions pos..pos+n-1 whose input embeddings are x (n, dim).
 * pos may be at most cl_kv_len(kv): a smaller pos rewinds the cache to it.
 * logits: (n, n_vocab) when all is non-zero, else (n_vocab) for the last
 * position only.  pos + n beyond the cache's ctx is CL_ERR_RANGE. */
enum cl_status cl_model_forward(struct cl_model *m, struct cl_kv *kv, int32_t pos, int32_t n,
				const float *x, float *logits, int all);

/* A batch that mixes sequences: one row per position, each with its
 * sequence's cache.  Prompts of some sequences and single generated tokens
 * of others share one pass, which reads each weight once (per CL_BATCH_MAX
 * rows), so N sequences that step together cost little more than one.  A
 * sequence's rows come in order, one position after another (other
 * sequences' rows may come between); its first may be at most cl_kv_len(kv),
 * and rewinds the cache to it.  Rows with `logits` set get theirs, in row
 * order, in logits (rows with logits, n_vocab).  Each sequence's logits equal
 * running it alone, up to the rounding of products whose batch differs. */
struct cl_batch_row {
	struct cl_kv *kv;
	int32_t pos;
	int logits;
};
enum cl_status cl_model_forward_batch(struct cl_model *m, const struct cl_batch_row *rows, int32_t n,
				      const float *x, float *logits);
/* Taps, the analogue of run_with_cache: while set, every forward pass also
 * copies each row's residual stream at the boundaries layers[0..n) into buf,
 * (rows, n, dim), in the list's order.  Boundary L is the input of layer L
 * (0: the embeddings; n_layers: the output of the last layer, before the
 * final norm), and must lie within the stage (layer_from..layer_to).  Rows
 * are those of one cl_model_forward_batch call (at most CL_BATCH_MAX, or n
 * of cl_model_forward's batch).  buf NULL turns taps off. */
enum cl_status cl_model_set_taps(struct cl_model *m, const int32_t *layers, int n, float *buf);
/* Attention probabilities: while set, every forward pass also writes each
 * row's softmax over key positions 0..pos, for each layer of the stage and
 * each query head, into buf, (rows, stage layers, n_heads, ctx): row t,
 * stage layer l, head h at ((t * layers + l) * n_heads + h) * ctx.  Entries
 * past pos are left as they were; ctx is at least each row's pos + 1.  buf
 * NULL turns it off. */
enum cl_status cl_model_set_attn(struct cl_model *m, float *buf, int32_t ctx);
/* One pass through the layers for a position of zeros, in a cache of its
 * own, not counted in cl_model_seconds: the first pass reads every weight
 * for the first time (page faults, and on some virtual machines a costlier
 * first touch of each page: 0.3-0.4 s for TinyLlama Q8_0 on a Zen 5 VM,
 * against 27 ms for each pass after), so a server or a benchmark takes it
 * before the first request or measurement. */
enum cl_status cl_model_warm(struct cl_model *m);
/* Compute seconds spent in cl_model_forward so far (for --stats). */
double cl_model_seconds(const struct cl_model *m);
/* Write the model's weights as converted at load (opts.quantize) into dir, a
 * new or empty directory, as a checkpoint that loads without converting:
 * config.json and the tokenizer files copied, and one model.safetensors with
 * every tensor (block types as U8 named in "cl.quant.NAME" metadata; see
 * cl-quantize(1), FILE FORMAT).  Llama family only. */
enum cl_status cl_model_save(const struct cl_model *m, const char *dir);
/* The same as one GGUF v3 file that llama.cpp loads (Llama family; keys and
 * layout in cl-quantize(1)).  note gets a line for the user when some
 * matrices kept their type (rows not whole blocks), else "".  A GPT-2
 * model from a directory whose F16 weights were packed at load (opts.pack
 * on an AVX-512 CPU) is refused: load it with opts.pack = 0. */
enum cl_status cl_model_save_gguf(const struct cl_model *m, const char *path, char *note, size_t note_cap);

/* ------------------------------------------------------------- sampler --- */
/* Pure functions over a vector of logits and a sequence's history. */

enum cl_sampler_stage { /* append-only; the chain's order is configurable */
	CL_SAMPLER_PENALTIES = 1, /* repetition / presence / frequency, logit bias */
	CL_SAMPLER_TOP_K = 2,
	CL_SAMPLER_TYPICAL_P = 3,
	CL_SAMPLER_TOP_P = 4,
	CL_SAMPLER_MIN_P = 5,
	CL_SAMPLER_TEMPERATURE = 6,
};

#define CL_SAMPLER_MAX_STAGES 16
#define CL_SAMPLER_MAX_BIAS 64

struct cl_sampler_params {
	float temperature;        /* 0: greedy (argmax) */
	int32_t top_k;            /* 0: off */
	float top_p;              /* 1: off */
	float min_p;              /* 0: off */
	float typical_p;          /* 1: off */
	float repetition_penalty; /* 1: off (Hugging Face semantics) */
	float presence_penalty;   /* 0: off (OpenAI semantics) */
	float frequency_penalty;  /* 0: off */
	int32_t n_bias;
	int32_t bias_token[CL_SAMPLER_MAX_BIAS];
	float bias_value[CL_SAMPLER_MAX_BIAS];
	int32_t n_stages;         /* the chain, applied in this order */
	enum cl_sampler_stage stages[CL_SAMPLER_MAX_STAGES];
	uint64_t seed;
};
/* Defaults: temperature 1, every filter off, seed 0, the chain
 * penalties,temperature,top_k,top_p,min_p,typical_p (Hugging Face's order of
 * logits processors and warpers). */
void cl_sampler_params_init(struct cl_sampler_params *p);
/* Parse a chain such as "penalties,top_k,top_p,temperature"; 0 on success. */
int cl_sampler_parse_chain(const char *s, struct cl_sampler_params *p);

struct cl_sampler;
/* A sampler for vocabularies of n_vocab: owns its scratch (no allocation per token). */
enum cl_status cl_sampler_new(const struct cl_sampler_params *p, int32_t n_vocab, struct cl_sampler **out);
void cl_sampler_free(struct cl_sampler *s);
/* Choose a token from logits (n_vocab) given the sequence's tokens so far.
 * The random draw depends only on (seed, seq, pos).  *logprob gets the chosen
 * token's log-probability under the model's distribution (log-softmax of the
 * logits after penalties and bias, before temperature and truncation, as
 * OpenAI's logprobs); alts, when not NULL, gets the n_alts most probable
 * tokens of that same distribution, best first, and *n_alts_out their count. */
int32_t cl_sampler_sample(struct cl_sampler *s, const float *logits, const int32_t *history,
			  size_t n_history, uint32_t seq, uint32_t pos, float *logprob,
			  struct cl_alt *alts, int n_alts, int *n_alts_out);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif /* CL_H */
