/*
 * test-gguf.c - cl's quantizers against llama.cpp's bytes, and the GGUF
 * reader's getters on a file made here.
 *
 * ../shared/testdata/gguf/kq holds one random Llama as Hugging Face f32
 * (hf-f32/) and as llama-quantize made it in each type.  Quantizing the f32
 * rows with cl_mat_convert must give the bytes of the file's tensors of the
 * same type: Q8_0, Q4_0, Q4_K (the Q4_K_M file's) and Q6_K.  attn_q and
 * attn_k rows are reordered in the file (llama.cpp's interleaved RoPE
 * layout); a row's blocks are its own, so the rows are compared through the
 * same reordering.
 */
#include <math.h>
#include <stdint.h>
#include <unistd.h>

#include "gguf.h"
#include "kernels.h"
#include "t.h"
#include "weights.h"

/* The Hugging Face name of the file's tensor and the row of the HF tensor
 * that file row r holds (q and k interleaved per head of hd). */
static int64_t hf_row(const char *name, int64_t r, int hd)
{
	if (!strstr(name, "attn_q.") && !strstr(name, "attn_k."))
		return r;
	int64_t h = r / hd, w = r % hd, half = hd / 2;
	return h * hd + (w % 2) * half + w / 2;
}

static void same_bytes(const char *td, const char *file, enum cl_dtype want)
{
	char path[1024], name[256];
	snprintf(name, sizeof name, "cl's %s quantizer gives llama-quantize's bytes (%s)", cl_dtype_name(want), file);
	t_begin(name);
	struct cl_gguf *g = NULL;
	struct cl_weights *w = NULL;
	snprintf(path, sizeof path, "%s/gguf/kq/%s", td, file);
	T_CHECK(cl_gguf_open(path, &g) == CL_OK, "%s", cl_errmsg());
	snprintf(path, sizeof path, "%s/gguf/kq/hf-f32", td);
	T_CHECK(cl_weights_open(path, &w) == CL_OK, "%s", cl_errmsg());
	int64_t checked = 0, rows_differ = 0, rows = 0;
	for (int64_t i = 0; g && w && i < cl_gguf_n_tensors(g); i++) {
		const struct cl_gguf_tensor *gt = cl_gguf_tensor_at(g, i);
		if (gt->dtype != want || gt->ndim != 2)
			continue;
		char buf[256];
		const char *hn = cl_gguf_hf_name("llama", gt->name, buf, sizeof buf);
		struct cl_tensor t;
		if (cl_weights_get(w, hn, 0, NULL, &t) != CL_OK) {
			T_CHECK(0, "%s: %s", hn, cl_errmsg());
			continue;
		}
		struct cl_mat src = {t.data, t.dtype, t.shape[0], t.shape[1], 0}, dst;
		void *owned;
		if (cl_mat_convert(&src, want, &dst, &owned) != CL_OK) {
			T_CHECK(0, "%s: %s", hn, cl_errmsg());
			continue;
		}
		size_t rb = cl_dtype_size(want, src.cols);
		for (int64_t r = 0; r < src.rows; r++) {
			const unsigned char *a = (const unsigned char *)gt->data + (size_t)r * rb;
			const unsigned char *b = (const unsigned char *)owned + (size_t)hf_row(gt->name, r, 64) * rb;
			if (memcmp(a, b, rb) != 0 && rows_differ++ < 3)
				T_CHECK(0, "%s row %lld differs", gt->name, (long long)r);
		}
		rows += src.rows;
		checked++;
		free(owned);
	}
	T_CHECK(checked > 0, "no %s tensor in %s", cl_dtype_name(want), file);
	printf("# %s: %lld tensors, %lld rows, %lld differ\n", file, (long long)checked, (long long)rows,
	       (long long)rows_differ);
	cl_weights_free(w);
	cl_gguf_free(g);
	t_end();
}

/* A small file with a value of every type, written here. */
static void getters(void)
{
	t_begin("the GGUF getters read every value type and refuse the wrong one by name");
	unsigned char b[1024];
	size_t n = 0;
#define PUT(p, k)                          \
	do {                               \
		memcpy(b + n, (p), (k));   \
		n += (k);                  \
	} while (0)
#define U32(v) do { uint32_t u_ = (v); PUT(&u_, 4); } while (0)
#define U64(v) do { uint64_t u_ = (v); PUT(&u_, 8); } while (0)
#define STR(s) do { U64(strlen(s)); PUT((s), strlen(s)); } while (0)
	PUT("GGUF", 4);
	U32(3);
	U64(0);
	U64(5);
	STR("a.int");
	U32(CL_GGUF_I16);
	int16_t i16 = -7;
	PUT(&i16, 2);
	STR("a.f64");
	U32(CL_GGUF_F64);
	double f64 = 0.25;
	PUT(&f64, 8);
	STR("a.str");
	U32(CL_GGUF_STRING);
	STR("llama");
	STR("a.arr");
	U32(CL_GGUF_ARRAY);
	U32(CL_GGUF_STRING);
	U64(2);
	STR("x");
	STR("yz");
	STR("a.bool");
	U32(CL_GGUF_BOOL);
	PUT("\1", 1);
	struct cl_gguf *g = NULL;
	T_CHECK(cl_gguf_open_mem(b, n, "mem.gguf", &g) == CL_OK, "%s", cl_errmsg());
	int64_t v = 0;
	double d = 0;
	int flag = 0;
	struct cl_gguf_str s = {0};
	const struct cl_gguf_kv *a = NULL;
	struct cl_gguf_str *strs = NULL;
	T_CHECK(g && cl_gguf_int(g, "a.int", 1, 0, -10, 10, &v) == CL_OK && v == -7, "int: %lld", (long long)v);
	T_CHECK(g && cl_gguf_int(g, "a.int", 1, 0, 0, 10, &v) != CL_OK && strstr(cl_errmsg(), "a.int"),
		"range: %s", cl_errmsg());
	T_CHECK(g && cl_gguf_num(g, "a.f64", 1, 0, &d) == CL_OK && d == 0.25, "f64: %g", d);
	T_CHECK(g && cl_gguf_str(g, "a.str", 1, &s) == CL_OK && s.n == 5 && !memcmp(s.p, "llama", 5), "str");
	T_CHECK(g && cl_gguf_str(g, "a.int", 1, &s) != CL_OK && strstr(cl_errmsg(), "expected a string"),
		"str of an int: %s", cl_errmsg());
	T_CHECK(g && cl_gguf_bool(g, "a.bool", 1, 0, &flag) == CL_OK && flag == 1, "bool");
	T_CHECK(g && cl_gguf_arr(g, "a.arr", 1, CL_GGUF_STRING, 2, &a) == CL_OK && a &&
			cl_gguf_arr_str(g, a, &strs) == CL_OK && strs[1].n == 2 && !memcmp(strs[1].p, "yz", 2),
		"array of strings: %s", cl_errmsg());
	free(strs);
	T_CHECK(g && cl_gguf_arr(g, "a.arr", 1, CL_GGUF_STRING, 3, &a) != CL_OK && strstr(cl_errmsg(), "expected 3"),
		"count: %s", cl_errmsg());
	T_CHECK(g && cl_gguf_int(g, "a.missing", 1, 0, 0, 1, &v) != CL_OK && strstr(cl_errmsg(), "a.missing"),
		"missing: %s", cl_errmsg());
	T_CHECK(g && cl_gguf_int(g, "a.missing", 0, 3, 0, 9, &v) == CL_OK && v == 3, "default");
	cl_gguf_free(g);
	/* Every prefix of it is refused, never read past. */
	int refused = 0;
	for (size_t k = 0; k < n; k++) {
		unsigned char *c = malloc(k ? k : 1);
		memcpy(c, b, k);
		g = NULL;
		refused += cl_gguf_open_mem(c, k, "mem.gguf", &g) != CL_OK && !g;
		cl_gguf_free(g);
		free(c);
	}
	T_CHECK(refused == (int)n, "%d of %zu truncations refused", refused, n);
	t_end();
}

int main(void)
{
	getters();
	const char *td = t_testdata();
	if (!td) {
		t_skip("quantizers against llama-quantize's bytes", "../shared/testdata is absent");
		return t_exit();
	}
	same_bytes(td, "kq-tiny-Q8_0.gguf", CL_DTYPE_Q8_0);
	same_bytes(td, "kq-tiny-Q4_0.gguf", CL_DTYPE_Q4_0);
	same_bytes(td, "kq-tiny-Q4_K_M.gguf", CL_DTYPE_Q4_K);
	same_bytes(td, "kq-tiny-Q6_K.gguf", CL_DTYPE_Q6_K);
	return t_exit();
}
