/*
 * test-weights.c - safetensors reading (real checkpoints from ../shared, and
 * malformed files made here) and the config.json getters.
 *
 * `test-weights --open PATH` opens a checkpoint directory (or one file), lists
 * its tensors ("name dtype [shape]") and exits 0, or prints the error and
 * exits 1: tests/t-checkpoint.sh uses it on generated checkpoints.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "t.h"
#include "weights.h"

static char tmpdir[256];

/* tmpdir/name, in a static buffer (one at a time). */
static const char *tmp(const char *name)
{
	static char buf[512];
	snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
	return buf;
}

static void write_bytes(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		printf("not ok - writing %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

/* A safetensors file: length field hlen (the header's own length when
 * hlen == UINT64_MAX), header text, then ndata bytes of data (1, 2, 3, ...). */
static void write_st_raw(const char *path, uint64_t hlen, const char *hdr, size_t ndata)
{
	size_t hn = strlen(hdr);
	unsigned char *buf = malloc(8 + hn + ndata + 1);
	uint64_t n = hlen == UINT64_MAX ? hn : hlen;
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)(n >> (8 * i));
	memcpy(buf + 8, hdr, hn);
	for (size_t i = 0; i < ndata; i++)
		buf[8 + hn + i] = (unsigned char)(i + 1);
	write_bytes(path, buf, 8 + hn + ndata);
	free(buf);
}

static void write_st(const char *path, const char *hdr, size_t ndata)
{
	write_st_raw(path, UINT64_MAX, hdr, ndata);
}

static int has(const char *s, const char *sub)
{
	return strstr(s, sub) != NULL;
}

/* Open a file that must be refused with status st and a message naming the
 * file and containing `what`. */
static void refused(const char *name, enum cl_status st, const char *what)
{
	char path[512];
	snprintf(path, sizeof path, "%s", tmp(name));
	struct cl_weights *w = (struct cl_weights *)1;
	enum cl_status s = cl_weights_open(path, &w);
	const char *m = cl_errmsg();
	T_CHECK(s == st, "%s: status %d, want %d (%s)", name, s, st, m);
	T_CHECK(w == NULL, "%s: out not cleared", name);
	T_CHECK(has(m, path), "%s: message does not name the file: %s", name, m);
	T_CHECK(has(m, what), "%s: message lacks \"%s\": %s", name, what, m);
	if (!s)
		cl_weights_free(w);
}

static float f32_at(const void *p, int64_t i)
{
	float f;
	memcpy(&f, (const char *)p + 4 * i, 4);
	return f;
}

static uint16_t u16_at(const void *p, int64_t i)
{
	uint16_t h;
	memcpy(&h, (const char *)p + 2 * i, 2);
	return h;
}

static void test_stories(const char *td)
{
	char dir[1024];
	struct cl_weights *w;
	struct cl_tensor t;

	t_begin("stories260K (f32, one file) opens with its tensors, shapes and values");
	snprintf(dir, sizeof dir, "%s/stories260K-hf-f32", td);
	enum cl_status s = cl_weights_open(dir, &w);
	T_CHECK(s == CL_OK, "open: %s", cl_errmsg());
	if (!s) {
		T_CHECK(cl_weights_count(w) == 2 + 5 * 9, "count %lld", (long long)cl_weights_count(w));
		const int64_t emb[] = { 512, 64 }, norm[] = { 64 }, gate[] = { 172, 64 };
		s = cl_weights_get(w, "model.embed_tokens.weight", 2, emb, &t);
		T_CHECK(s == CL_OK, "embed: %s", cl_errmsg());
		if (!s) {
			T_CHECK(t.dtype == CL_DTYPE_F32 && !strcmp(t.stype, "F32"), "dtype %d", t.dtype);
			T_CHECK(t.nbytes == 512 * 64 * 4, "nbytes %llu", (unsigned long long)t.nbytes);
			T_CHECK(fabsf(f32_at(t.data, 0) - -0.29474878f) < 1e-7f &&
					fabsf(f32_at(t.data, 1) - 0.5618956f) < 1e-7f,
				"embed[0,0:2] = %g %g", f32_at(t.data, 0), f32_at(t.data, 1));
			T_CHECK(has(t.file, "stories260K-hf-f32/model.safetensors"), "file %s", t.file);
		}
		s = cl_weights_get(w, "model.norm.weight", 1, norm, &t);
		T_CHECK(s == CL_OK && fabsf(f32_at(t.data, 0) - 2.458309f) < 1e-6f, "norm: %s",
			s ? cl_errmsg() : "wrong value");
		s = cl_weights_get(w, "model.layers.4.mlp.gate_proj.weight", 2, gate, &t);
		T_CHECK(s == CL_OK && t.ndim == 2, "gate: %s", cl_errmsg());
		T_CHECK(cl_weights_has(w, "model.layers.0.self_attn.q_proj.weight"), "has q_proj");
		T_CHECK(!cl_weights_has(w, "lm_head.weight"), "tied: no lm_head");
		cl_weights_free(w);
	}
	t_end();

	t_begin("a tensor of the wrong shape is refused naming file, tensor, expected and found");
	s = cl_weights_open(dir, &w);
	if (!s) {
		const int64_t bad[] = { 64, 512 };
		s = cl_weights_get(w, "model.embed_tokens.weight", 2, bad, &t);
		T_CHECK(s != CL_OK, "wrong shape accepted");
		T_CHECK(has(cl_errmsg(), "stories260K-hf-f32/model.safetensors: model.embed_tokens.weight: "
					 "expected shape [64, 512], found [512, 64]"),
			"message: %s", cl_errmsg());
		const int64_t two[] = { 64, 1 };
		s = cl_weights_get(w, "model.norm.weight", 2, two, &t);
		T_CHECK(s && has(cl_errmsg(), "model.norm.weight: expected shape [64, 1], found [64]"),
			"ndim: %s", cl_errmsg());
		s = cl_weights_get(w, "lm_head.weight", 0, NULL, &t);
		T_CHECK(s && has(cl_errmsg(), "model.safetensors: lm_head.weight: missing"), "missing: %s",
			cl_errmsg());
		const char *names[] = { "transformer.wte.weight", "model.embed_tokens.weight", NULL };
		s = cl_weights_get_any(w, names, 2, (const int64_t[]){ 512, 64 }, &t);
		T_CHECK(s == CL_OK && t.shape[0] == 512, "get_any: %s", cl_errmsg());
		const char *none[] = { "a.weight", "b.weight", NULL };
		s = cl_weights_get_any(w, none, 0, NULL, &t);
		T_CHECK(s && has(cl_errmsg(), "a.weight: missing (also tried b.weight)"), "get_any: %s",
			cl_errmsg());
		cl_weights_free(w);
	} else {
		T_CHECK(0, "open: %s", cl_errmsg());
	}
	t_end();

	t_begin("stories260K in bf16 and f16 opens with 16-bit tensors near the f32 values");
	const char *kinds[] = { "bf16", "f16" };
	for (int k = 0; k < 2; k++) {
		snprintf(dir, sizeof dir, "%s/stories260K-hf-%s", td, kinds[k]);
		s = cl_weights_open(dir, &w);
		T_CHECK(s == CL_OK, "open: %s", cl_errmsg());
		if (s)
			continue;
		const int64_t emb[] = { 512, 64 };
		s = cl_weights_get(w, "model.embed_tokens.weight", 2, emb, &t);
		T_CHECK(s == CL_OK, "embed: %s", cl_errmsg());
		if (!s) {
			enum cl_dtype want = k ? CL_DTYPE_F16 : CL_DTYPE_BF16;
			T_CHECK(t.dtype == want, "%s: dtype %d", kinds[k], t.dtype);
			float v = k ? cl_f16_to_f32(u16_at(t.data, 1)) : cl_bf16_to_f32(u16_at(t.data, 1));
			T_CHECK(fabsf(v - 0.5618956f) < 4e-3f, "%s: embed[0,1] = %g", kinds[k], v);
		}
		cl_weights_free(w);
	}
	t_end();
}

static void count_cb(void *arg, const char *name, const struct cl_tensor *t)
{
	int *n = arg;
	(*n)++;
	(void)name;
	(void)t;
}

static void test_synthetic(const char *td)
{
	char dir[1024];
	struct cl_weights *w;
	struct cl_tensor t;

	t_begin("the synthetic checkpoint opens from its 3 shards through the index");
	snprintf(dir, sizeof dir, "%s/synthetic-codellama-like-bf16", td);
	enum cl_status s = cl_weights_open(dir, &w);
	T_CHECK(s == CL_OK, "open: %s", cl_errmsg());
	if (!s) {
		T_CHECK(cl_weights_count(w) == 21, "count %lld", (long long)cl_weights_count(w));
		T_CHECK(cl_weights_bytes(w) == 8505984, "bytes %llu (total_size 8505984)",
			(unsigned long long)cl_weights_bytes(w));
		int n = 0;
		cl_weights_each(w, count_cb, &n);
		T_CHECK(n == 21, "each: %d", n);
		s = cl_weights_get(w, "lm_head.weight", 2, (const int64_t[]){ 32000, 64 }, &t);
		T_CHECK(s == CL_OK && t.dtype == CL_DTYPE_BF16 &&
				has(t.file, "model-00003-of-00003.safetensors"),
			"lm_head: %s", s ? cl_errmsg() : t.file);
		s = cl_weights_get(w, "model.layers.1.self_attn.k_proj.weight", 2,
				   (const int64_t[]){ 32, 64 }, &t);
		T_CHECK(s == CL_OK && has(t.file, "model-00002-of-00003.safetensors"), "k_proj: %s",
			s ? cl_errmsg() : t.file);
		s = cl_weights_get(w, "model.layers.1.mlp.up_proj.weight", 2,
				   (const int64_t[]){ 64, 344 }, &t);
		T_CHECK(s && has(cl_errmsg(), "model-00002-of-00003.safetensors: "
					      "model.layers.1.mlp.up_proj.weight: expected shape "
					      "[64, 344], found [344, 64]"),
			"up_proj: %s", cl_errmsg());
		s = cl_weights_get(w, "model.layers.2.mlp.up_proj.weight", 0, NULL, &t);
		T_CHECK(s && has(cl_errmsg(), "synthetic-codellama-like-bf16: model.layers.2.mlp.up_proj"
					      ".weight: missing (not in model.safetensors.index.json)"),
			"missing: %s", cl_errmsg());
		cl_weights_free(w);
	}
	t_end();

	t_begin("an index naming a shard that lacks the tensor is refused naming both");
	char sub[600];
	snprintf(sub, sizeof sub, "%s/shards", tmpdir);
	mkdir(sub, 0755);
	for (int i = 1; i <= 3; i++) {
		char from[1100], to[700];
		snprintf(from, sizeof from, "%s/model-0000%d-of-00003.safetensors", dir, i);
		snprintf(to, sizeof to, "%s/model-0000%d-of-00003.safetensors", sub, i);
		if (symlink(from, to) != 0)
			T_CHECK(0, "symlink: %s", strerror(errno));
	}
	char ipath[700];
	snprintf(ipath, sizeof ipath, "%s/model.safetensors.index.json", sub);
	const char *idx = "{\"weight_map\": {\"lm_head.weight\": \"model-00003-of-00003.safetensors\","
			  " \"model.norm.weight\": \"model-00001-of-00003.safetensors\"}}";
	write_bytes(ipath, idx, strlen(idx));
	s = cl_weights_open(sub, &w);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "model.safetensors.index.json: model.norm.weight: "
						       "mapped to ") &&
			has(cl_errmsg(), "model-00001-of-00003.safetensors, which lacks it"),
		"status %d: %s", s, cl_errmsg());
	idx = "{\"weight_map\": {\"lm_head.weight\": \"../model-00003-of-00003.safetensors\"}}";
	write_bytes(ipath, idx, strlen(idx));
	s = cl_weights_open(sub, &w);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "lm_head.weight: expected a file name"),
		"path in index: %s", cl_errmsg());
	idx = "{\"weight_map\": {\"lm_head.weight\": \"model-00009-of-00009.safetensors\"}}";
	write_bytes(ipath, idx, strlen(idx));
	s = cl_weights_open(sub, &w);
	T_CHECK(s == CL_ERR_IO && has(cl_errmsg(), "model-00009-of-00009.safetensors: No such file"),
		"absent shard: %s", cl_errmsg());
	idx = "{\"weight_map\": [1]}";
	write_bytes(ipath, idx, strlen(idx));
	s = cl_weights_open(sub, &w);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "weight_map: expected an object"), "%s",
		cl_errmsg());
	for (int i = 1; i <= 3; i++) {
		char to[700];
		snprintf(to, sizeof to, "%s/model-0000%d-of-00003.safetensors", sub, i);
		unlink(to);
	}
	unlink(ipath);
	rmdir(sub);
	t_end();
}

static void test_malformed(void)
{
	t_begin("malformed safetensors files are refused naming the file and the fault");
	write_st(tmp("past.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4);
	refused("past.st", CL_ERR_FORMAT, "a: data_offsets: [0, 8] past the end of the data (4 bytes)");
	write_st(tmp("overlap.st"),
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]},"
		 "\"c\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[4,12]}}",
		 20);
	refused("overlap.st", CL_ERR_FORMAT, "a and c: data ranges overlap");
	write_st(tmp("inside.st"),
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		 "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
		 16);
	refused("inside.st", CL_ERR_FORMAT, "data ranges overlap");
	write_st(tmp("size.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8);
	refused("size.st", CL_ERR_FORMAT, "a: data_offsets: 8 bytes, but shape [3] of F32 takes 12");
	write_st_raw(tmp("hlen.st"), 1000, "{}", 10);
	refused("hlen.st", CL_ERR_FORMAT, "header length 1000 runs past the end of the file (20 bytes)");
	write_st_raw(tmp("huge.st"), UINT64_C(1) << 63, "{}", 10);
	refused("huge.st", CL_ERR_FORMAT, "header length 9223372036854775808 runs past the end");
	write_st(tmp("trunc.st"), "{\"a\":{\"dtype\":\"F32\"", 0);
	refused("trunc.st", CL_ERR_FORMAT, "header: invalid JSON");
	write_st(tmp("garbage.st"), "{\"a\":\n {\"dtype\": F32}}", 0);
	refused("garbage.st", CL_ERR_FORMAT, "header: invalid JSON at line 2, column 12");
	write_st(tmp("dtype.st"), "{\"a\":{\"dtype\":\"Q9\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
	refused("dtype.st", CL_ERR_UNSUPPORTED, "a: unknown dtype \"Q9\"");
	write_st(tmp("neg.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0);
	refused("neg.st", CL_ERR_FORMAT, "a: shape: expected non-negative integers");
	write_st(tmp("frac.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,6]}}", 6);
	refused("frac.st", CL_ERR_FORMAT, "a: shape: expected non-negative integers");
	write_st(tmp("array.st"), "[1, 2]", 0);
	refused("array.st", CL_ERR_FORMAT, "header: expected a JSON object");
	write_st(tmp("short.st"), "", 0);
	write_bytes(tmp("short.st"), "\x02\0\0", 3);
	refused("short.st", CL_ERR_FORMAT, "3 bytes: too short");
	write_st(tmp("order.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8);
	refused("order.st", CL_ERR_FORMAT, "a: data_offsets: begin 8 after end 4");
	write_st(tmp("offs.st"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8);
	refused("offs.st", CL_ERR_FORMAT, "a: data_offsets: expected [begin, end]");
	write_st(tmp("nodtype.st"), "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4);
	refused("nodtype.st", CL_ERR_FORMAT, "a: dtype: expected a string");
	write_st(tmp("entry.st"), "{\"a\":7}", 0);
	refused("entry.st", CL_ERR_FORMAT, "a: expected an object");
	write_st(tmp("ovf.st"),
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
		 "\"data_offsets\":[0,4]}}",
		 4);
	refused("ovf.st", CL_ERR_FORMAT, "a: shape: too large");
	write_st(tmp("ovf2.st"),
		 "{\"a\":{\"dtype\":\"F64\",\"shape\":[2147483648,2147483648],\"data_offsets\":[0,4]}}", 4);
	refused("ovf2.st", CL_ERR_FORMAT, "a: shape: too large");
	write_st(tmp("dims.st"),
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
	refused("dims.st", CL_ERR_UNSUPPORTED, "a: shape: 9 dimensions");
	write_st(tmp("dup.st"),
		 "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		 "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
		 8);
	refused("dup.st", CL_ERR_FORMAT, "a: appears twice");
	write_st(tmp("nul.st"), "{\"a\":1}", 0);
	{
		/* A NUL inside the header's JSON must not end it early. */
		const char raw[] = "\x08\0\0\0\0\0\0\0{}\0xxxxx";
		write_bytes(tmp("nul.st"), raw, sizeof raw - 1);
	}
	refused("nul.st", CL_ERR_FORMAT, "header: invalid JSON at line 1, column 3: a NUL byte");
	t_end();

	t_begin("a header 200 MB long is refused without reading it");
	{
		int fd = open(tmp("big.st"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
		uint64_t n = (uint64_t)200 << 20;
		unsigned char len[8];
		for (int i = 0; i < 8; i++)
			len[i] = (unsigned char)(n >> (8 * i));
		/* Sparse: no disk is spent on the zeros. */
		int okw = fd >= 0 && write(fd, len, 8) == 8 && ftruncate(fd, (off_t)n + 16) == 0;
		if (fd >= 0)
			close(fd);
		T_CHECK(okw, "making big.st: %s", strerror(errno));
		refused("big.st", CL_ERR_FORMAT, "header length 209715200 is over the limit");
		unlink(tmp("big.st"));
	}
	t_end();

	t_begin("well-formed edge cases open: metadata, padding, empty and unaligned tensors");
	{
		/* "a" (F32) starts 2 bytes into the data section: unaligned in memory. */
		write_st(tmp("good.st"),
			 "{\"__metadata__\":{\"format\":\"pt\"},"
			 "\"e\":{\"dtype\":\"F32\",\"shape\":[0, 7],\"data_offsets\":[0,0]},"
			 "\"s\":{\"dtype\":\"F16\",\"shape\":[],\"data_offsets\":[0,2]},"
			 "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]},"
			 "\"i\":{\"dtype\":\"I8\",\"shape\":[2,1],\"data_offsets\":[10,12]}}     ",
			 12);
		struct cl_weights *w;
		struct cl_tensor t;
		enum cl_status s = cl_weights_open(tmp("good.st"), &w);
		T_CHECK(s == CL_OK, "open: %s", cl_errmsg());
		if (!s) {
			T_CHECK(cl_weights_count(w) == 4, "count %lld", (long long)cl_weights_count(w));
			T_CHECK(cl_weights_bytes(w) == 12, "bytes %llu", (unsigned long long)cl_weights_bytes(w));
			s = cl_weights_get(w, "a", 1, (const int64_t[]){ 2 }, &t);
			T_CHECK(s == CL_OK, "a: %s", cl_errmsg());
			if (!s) {
				/* Data bytes are 1, 2, 3, ...: "a" is bytes 3..10. */
				const unsigned char want[4] = { 3, 4, 5, 6 };
				float f;
				memcpy(&f, want, 4);
				T_CHECK(f32_at(t.data, 0) == f, "a[0] read wrong");
			}
			s = cl_weights_get(w, "s", 0, (const int64_t[]){ 0 }, &t);
			T_CHECK(s == CL_OK && t.ndim == 0 && t.nbytes == 2, "scalar: %s", cl_errmsg());
			s = cl_weights_get(w, "e", 2, (const int64_t[]){ 0, 7 }, &t);
			T_CHECK(s == CL_OK && t.nbytes == 0, "empty: %s", cl_errmsg());
			s = cl_weights_get(w, "i", 2, (const int64_t[]){ 2, 1 }, &t);
			T_CHECK(s == CL_ERR_UNSUPPORTED && has(cl_errmsg(), "good.st: i: dtype I8 is not supported"),
				"I8: %s", cl_errmsg());
			T_CHECK(!cl_weights_has(w, "__metadata__"), "__metadata__ is not a tensor");
			cl_weights_free(w);
		}
		unlink(tmp("good.st"));
	}
	t_end();

	t_begin("a header with no tensors opens as an empty checkpoint");
	{
		write_st(tmp("empty.st"), "{\"__metadata__\":{}}", 0);
		struct cl_weights *w;
		enum cl_status s = cl_weights_open(tmp("empty.st"), &w);
		T_CHECK(s == CL_OK, "open: %s", cl_errmsg());
		if (!s) {
			struct cl_tensor t;
			T_CHECK(cl_weights_count(w) == 0 && cl_weights_bytes(w) == 0, "not empty");
			s = cl_weights_get(w, "x", 0, NULL, &t);
			T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "empty.st: x: missing"), "%s", cl_errmsg());
			cl_weights_free(w);
		}
		write_st(tmp("empty.st"), "{}", 0);
		s = cl_weights_open(tmp("empty.st"), &w);
		T_CHECK(s == CL_OK, "{}: %s", cl_errmsg());
		if (!s)
			cl_weights_free(w);
		unlink(tmp("empty.st"));
	}
	t_end();

	t_begin("a directory is opened by model.safetensors or its one *.safetensors file");
	{
		char d[600];
		snprintf(d, sizeof d, "%s/dir", tmpdir);
		mkdir(d, 0755);
		struct cl_weights *w;
		enum cl_status s = cl_weights_open(d, &w);
		T_CHECK(s == CL_ERR_IO && has(cl_errmsg(), "no model.safetensors"), "empty dir: %s",
			cl_errmsg());
		const char *hdr = "{\"x\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}}";
		write_st(tmp("dir/weights.safetensors"), hdr, 6);
		s = cl_weights_open(d, &w);
		T_CHECK(s == CL_OK && cl_weights_has(w, "x"), "lone file: %s", cl_errmsg());
		if (!s)
			cl_weights_free(w);
		write_st(tmp("dir/other.safetensors"), hdr, 6);
		s = cl_weights_open(d, &w);
		T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "2 *.safetensors files"), "two files: %s",
			cl_errmsg());
		write_st(tmp("dir/model.safetensors"), hdr, 6);
		s = cl_weights_open(d, &w);
		T_CHECK(s == CL_OK, "model.safetensors wins: %s", cl_errmsg());
		if (!s) {
			struct cl_tensor t;
			s = cl_weights_get(w, "x", 1, (const int64_t[]){ 3 }, &t);
			T_CHECK(s == CL_OK && has(t.file, "dir/model.safetensors"), "file %s",
				s ? cl_errmsg() : t.file);
			cl_weights_free(w);
		}
		unlink(tmp("dir/weights.safetensors"));
		unlink(tmp("dir/other.safetensors"));
		unlink(tmp("dir/model.safetensors"));
		rmdir(d);
		s = cl_weights_open(d, &w);
		T_CHECK(s == CL_ERR_IO && has(cl_errmsg(), "No such file"), "absent: %s", cl_errmsg());
	}
	t_end();
}

static void test_json(void)
{
	cJSON *j;
	enum cl_status s;

	t_begin("config.json read errors name the file and where the JSON breaks");
	s = cl_json_read_file(tmp("absent.json"), 1 << 20, &j);
	T_CHECK(s == CL_ERR_IO && has(cl_errmsg(), "absent.json: No such file"), "%s", cl_errmsg());
	write_bytes(tmp("bad.json"), "{\n  \"a\": 1,\n  x\n}\n", 18);
	s = cl_json_read_file(tmp("bad.json"), 1 << 20, &j);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "bad.json: invalid JSON at line 3, column "),
		"%s", cl_errmsg());
	write_bytes(tmp("bad.json"), "{\"a\": [1, 2", 11);
	s = cl_json_read_file(tmp("bad.json"), 1 << 20, &j);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "bad.json: invalid JSON: ends early"), "%s",
		cl_errmsg());
	write_bytes(tmp("bad.json"), "{} {}", 5);
	s = cl_json_read_file(tmp("bad.json"), 1 << 20, &j);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "invalid JSON at line 1, column 4"), "trailing: %s",
		cl_errmsg());
	write_bytes(tmp("bad.json"), "\"str\"", 5);
	s = cl_json_read_file(tmp("bad.json"), 1 << 20, &j);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "bad.json: expected a JSON object"), "%s",
		cl_errmsg());
	write_bytes(tmp("bad.json"), "{\"a\": 1}         ", 17);
	s = cl_json_read_file(tmp("bad.json"), 10, &j);
	T_CHECK(s == CL_ERR_FORMAT && has(cl_errmsg(), "bad.json: larger than 10 bytes"), "%s",
		cl_errmsg());
	s = cl_json_read_file(tmpdir, 100, &j);
	T_CHECK(s == CL_ERR_IO && has(cl_errmsg(), "is a directory"), "dir: %s", cl_errmsg());
	s = cl_json_read_file(tmp("bad.json"), 17, &j);
	T_CHECK(s == CL_OK, "exactly max_bytes: %s", cl_errmsg());
	if (!s)
		cJSON_Delete(j);
	unlink(tmp("bad.json"));
	t_end();

	t_begin("config.json getters give values, defaults and errors naming file and key");
	const char *cfg = "{\"hidden_size\": 4096, \"neg\": -3, \"half\": 2.5, \"big\": 1e300,"
			  " \"eps\": 1e-5, \"tie\": true, \"act\": \"silu\", \"nul\": null,"
			  " \"float_int\": 32.0, \"s\": \"x\"}";
	write_bytes(tmp("config.json"), cfg, strlen(cfg));
	s = cl_json_read_file(tmp("config.json"), 1 << 20, &j);
	T_CHECK(s == CL_OK, "read: %s", cl_errmsg());
	if (!s) {
		const char *f = "m/config.json";
		int64_t i = 0;
		double d = 0;
		int b = 0;
		const char *str = NULL;
		T_CHECK(!cl_json_int(j, f, "hidden_size", 1, 0, 1, INT32_MAX, &i) && i == 4096, "int");
		T_CHECK(!cl_json_int(j, f, "float_int", 1, 0, 1, INT32_MAX, &i) && i == 32, "32.0");
		T_CHECK(!cl_json_int(j, f, "absent", 0, 7, 1, INT32_MAX, &i) && i == 7, "default");
		T_CHECK(!cl_json_int(j, f, "nul", 0, 8, 1, INT32_MAX, &i) && i == 8, "null: default");
		s = cl_json_int(j, f, "neg", 1, 0, 1, INT32_MAX, &i);
		T_CHECK(s && !strcmp(cl_errmsg(), "m/config.json: neg: expected a positive integer, found -3"),
			"%s", cl_errmsg());
		s = cl_json_int(j, f, "half", 1, 0, 0, INT32_MAX, &i);
		T_CHECK(s && has(cl_errmsg(), "half: expected a non-negative integer, found 2.5"), "%s",
			cl_errmsg());
		s = cl_json_int(j, f, "big", 1, 0, 0, INT64_MAX, &i);
		T_CHECK(s && has(cl_errmsg(), "big: expected a non-negative integer"), "%s", cl_errmsg());
		s = cl_json_int(j, f, "hidden_size", 1, 0, 1, 100, &i);
		T_CHECK(s && has(cl_errmsg(), "hidden_size: expected an integer from 1 to 100, found 4096"),
			"%s", cl_errmsg());
		s = cl_json_int(j, f, "act", 1, 0, 1, 100, &i);
		T_CHECK(s && has(cl_errmsg(), "act: expected an integer from 1 to 100, found \"silu\""),
			"%s", cl_errmsg());
		s = cl_json_int(j, f, "absent", 1, 0, 1, 100, &i);
		T_CHECK(s && !strcmp(cl_errmsg(), "m/config.json: absent: missing"), "%s", cl_errmsg());
		s = cl_json_int(j, f, "nul", 1, 0, 1, 100, &i);
		T_CHECK(s && has(cl_errmsg(), "nul: missing"), "%s", cl_errmsg());
		T_CHECK(!cl_json_num(j, f, "eps", 1, 0, 0, 1, &d) && d == 1e-5, "num");
		T_CHECK(!cl_json_num(j, f, "hidden_size", 1, 0, 0, 1e9, &d) && d == 4096, "num from int");
		T_CHECK(!cl_json_num(j, f, "absent", 0, 1e4, 0, 1e9, &d) && d == 1e4, "num default");
		s = cl_json_num(j, f, "big", 1, 0, 0, 1e30, &d);
		T_CHECK(s && has(cl_errmsg(), "big: expected a number from 0 to 1e+30, found 1e+300"), "%s",
			cl_errmsg());
		s = cl_json_num(j, f, "tie", 1, 0, 0, 1, &d);
		T_CHECK(s && has(cl_errmsg(), "tie: expected a number from 0 to 1, found true"), "%s",
			cl_errmsg());
		T_CHECK(!cl_json_bool(j, f, "tie", 1, 0, &b) && b == 1, "bool");
		T_CHECK(!cl_json_bool(j, f, "absent", 0, 1, &b) && b == 1, "bool default");
		s = cl_json_bool(j, f, "hidden_size", 1, 0, &b);
		T_CHECK(s && has(cl_errmsg(), "hidden_size: expected true or false, found 4096"), "%s",
			cl_errmsg());
		T_CHECK(!cl_json_str(j, f, "act", 1, NULL, &str) && !strcmp(str, "silu"), "str");
		T_CHECK(!cl_json_str(j, f, "absent", 0, "gelu", &str) && !strcmp(str, "gelu"), "str default");
		s = cl_json_str(j, f, "eps", 1, NULL, &str);
		T_CHECK(s && has(cl_errmsg(), "eps: expected a string, found 1e-05"), "%s", cl_errmsg());
		T_CHECK(!cl_json_int(NULL, f, "x", 0, 5, 0, 9, &i) && i == 5, "NULL object: all absent");
		cJSON_Delete(j);
	}
	unlink(tmp("config.json"));
	t_end();
}

static void list_cb(void *arg, const char *name, const struct cl_tensor *t)
{
	char sb[200];
	size_t n = 0;
	sb[0] = 0;
	for (int i = 0; i < t->ndim && n < sizeof sb; i++)
		n += (size_t)snprintf(sb + n, sizeof sb - n, "%s%lld", i ? ", " : "",
				      (long long)t->shape[i]);
	printf("%s %s [%s]\n", name, t->stype, sb);
	(void)arg;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--open")) {
		struct cl_weights *w;
		if (cl_weights_open(argv[2], &w)) {
			fprintf(stderr, "test-weights: %s\n", cl_errmsg());
			return 1;
		}
		cl_weights_each(w, list_cb, NULL);
		cl_weights_free(w);
		return fflush(stdout) || ferror(stdout) ? 1 : 0;
	}
	snprintf(tmpdir, sizeof tmpdir, "%s/cl-test-weights.XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("not ok - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	const char *td = t_testdata();
	if (td) {
		test_stories(td);
		test_synthetic(td);
	} else {
		t_skip("checkpoints from ../shared/testdata", "CL_TESTDATA is unset");
	}
	test_malformed();
	test_json();
	/* Whatever a failed case left behind. */
	const char *left[] = { "past.st", "overlap.st", "inside.st", "size.st", "hlen.st", "huge.st",
			       "trunc.st", "garbage.st", "dtype.st", "neg.st", "frac.st", "array.st",
			       "short.st", "order.st", "offs.st", "nodtype.st", "entry.st", "ovf.st",
			       "ovf2.st", "dims.st", "dup.st", "nul.st", NULL };
	for (int i = 0; left[i]; i++)
		unlink(tmp(left[i]));
	if (rmdir(tmpdir) != 0)
		printf("not ok - %s left behind: %s\n", tmpdir, strerror(errno)), t_nfail++;
	return t_exit();
}
