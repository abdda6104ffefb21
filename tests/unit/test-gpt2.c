/*
 * test-gpt2.c - the GPT-2 family's forward pass: the tiny random checkpoints
 * in ../shared/testdata/gpt2 against their float64 reference logits and
 * greedy continuations, the KV cache (one batch, token by token, rewinds,
 * runs longer than a batch), and checkpoints made by scripts/make-checkpoint
 * in every layout the loader accepts or refuses.
 *
 * Tolerance: max |Δlogit| <= 1e-5 for both tiny-f32 and tiny-f16.  The two
 * files hold the same weights (every value is f16-representable, the f32 file
 * holds them widened), so the same float64 reference applies to both; our
 * float32 arithmetic was measured by the data's README at 5.4e-7 from it,
 * while the smallest real bug it lists (gelu_new for gelu) moves logits 2.4e-4.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "cl.h"
#include "kernels.h" /* cl_kernels_name: whether F16 is packed here */
#include "t.h"

#define TOL 1e-5

static char tmpdir[256];

struct ref {
	int n;                /* prompt tokens */
	int32_t ids[256];     /* prompt */
	int n_greedy;
	int32_t greedy[64];   /* the greedy continuation */
	float *logits;        /* (n, 50257) */
	int64_t vocab;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = malloc((size_t)n + 1);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	if (p) {
		p[n] = 0;
		if (len)
			*len = (size_t)n;
	}
	return p;
}

static int ints(const cJSON *a, int32_t *out, int cap)
{
	int n = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, a) if (n < cap) out[n++] = (int32_t)e->valuedouble;
	return n;
}

/* testdata/gpt2/tiny-logits-NAME.{json,f32}; 0 on success. */
static int ref_load(const char *td, const char *name, struct ref *r)
{
	char path[1024];
	memset(r, 0, sizeof *r);
	snprintf(path, sizeof path, "%s/gpt2/tiny-logits-%s.json", td, name);
	char *s = slurp(path, NULL);
	cJSON *j = s ? cJSON_Parse(s) : NULL;
	free(s);
	if (!j)
		return -1;
	r->n = ints(cJSON_GetObjectItem(j, "prompt_ids"), r->ids, 256);
	r->n_greedy = ints(cJSON_GetObjectItem(j, "greedy_ids"), r->greedy, 64);
	int32_t shape[2] = {0, 0};
	ints(cJSON_GetObjectItem(j, "shape"), shape, 2);
	cJSON_Delete(j);
	r->vocab = shape[1];
	if (shape[0] != r->n || r->n == 0 || r->n_greedy == 0)
		return -1;
	size_t len;
	snprintf(path, sizeof path, "%s/gpt2/tiny-logits-%s.f32", td, name);
	r->logits = (float *)slurp(path, &len);
	if (!r->logits || len != (size_t)r->n * (size_t)r->vocab * sizeof(float)) {
		free(r->logits);
		return -1;
	}
	return 0;
}

static float maxdiff(const float *a, const float *b, size_t n)
{
	float m = 0;
	for (size_t i = 0; i < n; i++) {
		float d = fabsf(a[i] - b[i]);
		if (!(d <= m)) /* NaN counts */
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

static int32_t argmax(const float *x, int64_t n)
{
	int32_t b = 0;
	for (int64_t i = 1; i < n; i++)
		if (x[i] > x[b])
			b = (int32_t)i;
	return b;
}

/* Embeddings (n, dim) of ids. */
static float *embed(struct cl_model *m, const int32_t *ids, int n)
{
	int64_t dim = cl_model_info(m)->dim;
	float *x = malloc((size_t)n * dim * sizeof *x);
	for (int i = 0; i < n; i++)
		if (cl_model_embed(m, ids[i], x + i * dim)) {
			free(x);
			return NULL;
		}
	return x;
}

static struct cl_model *load(const char *dir, int quantize)
{
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	o.threads = 2;
	o.quantize = quantize;
	struct cl_model *m = NULL;
	if (cl_model_load(dir, &o, &m))
		return NULL;
	return m;
}

/* Logits at every position of ids fed in one call (all = 1). */
static float *run_all(struct cl_model *m, const int32_t *ids, int n)
{
	const struct cl_model_info *in = cl_model_info(m);
	struct cl_kv *kv = NULL;
	float *x = embed(m, ids, n), *lg = malloc((size_t)n * in->n_vocab * sizeof *lg);
	if (!x || !lg || cl_kv_new(m, in->max_pos, &kv) || cl_model_forward(m, kv, 0, n, x, lg, 1)) {
		free(lg);
		lg = NULL;
	}
	cl_kv_free(kv);
	free(x);
	return lg;
}

static void test_reference(const char *td, const char *model, const char *name, int quantize)
{
	char title[256], dir[1024];
	snprintf(title, sizeof title, "gpt2/%s%s gives the reference logits for '%s' at every position (max |d| <= %g)",
		 model, quantize >= 0 ? " quantized to f16 at load" : "", name, TOL);
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	struct ref r;
	snprintf(dir, sizeof dir, "%s/gpt2/%s", td, model);
	struct cl_model *m = load(dir, quantize);
	T_CHECK(m, "load %s: %s", dir, cl_errmsg());
	T_CHECK(ref_load(td, name, &r) == 0, "reading the %s reference", name);
	if (m && r.logits) {
		const struct cl_model_info *in = cl_model_info(m);
		T_CHECK(in->n_vocab == r.vocab, "n_vocab %d, reference %lld", in->n_vocab, (long long)r.vocab);
		float *lg = run_all(m, r.ids, r.n);
		T_CHECK(lg, "forward: %s", cl_errmsg());
		if (lg && in->n_vocab == r.vocab) {
			for (int t = 0; t < r.n; t++) {
				float d = maxdiff(lg + (size_t)t * r.vocab, r.logits + (size_t)t * r.vocab, (size_t)r.vocab);
				T_CHECK(d <= TOL, "position %d: max |d| %.3g", t, d);
			}
		}
		free(lg);
	}
	free(r.logits);
	cl_model_free(m);
	t_end();
}

/* The prompt in one call, then one token at a time through the cache, each
 * the argmax of the last logits: the reference's 32 greedy tokens. */
static void test_greedy(const char *td, const char *model, const char *name)
{
	char title[256], dir[1024];
	snprintf(title, sizeof title, "gpt2/%s continues '%s' greedily with the reference's tokens", model, name);
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	struct ref r;
	snprintf(dir, sizeof dir, "%s/gpt2/%s", td, model);
	struct cl_model *m = load(dir, -1);
	T_CHECK(m, "load %s: %s", dir, cl_errmsg());
	T_CHECK(ref_load(td, name, &r) == 0, "reading the %s reference", name);
	struct cl_kv *kv = NULL;
	if (m && r.logits && !cl_kv_new(m, cl_model_info(m)->max_pos, &kv)) {
		int64_t V = cl_model_info(m)->n_vocab, dim = cl_model_info(m)->dim;
		float *lg = malloc((size_t)V * sizeof *lg), *x = embed(m, r.ids, r.n);
		enum cl_status st = cl_model_forward(m, kv, 0, r.n, x, lg, 0);
		T_CHECK(!st, "prompt: %s", cl_errmsg());
		float d = maxdiff(lg, r.logits + (size_t)(r.n - 1) * V, (size_t)V);
		T_CHECK(d <= TOL, "last prompt position's logits (all = 0): max |d| %.3g", d);
		int32_t pos = r.n;
		for (int i = 0; i < r.n_greedy && !st; i++) {
			int32_t tok = argmax(lg, V);
			T_CHECK(tok == r.greedy[i], "step %d: token %d, reference %d", i, tok, r.greedy[i]);
			if (tok != r.greedy[i])
				break;
			st = cl_model_embed(m, tok, x);
			if (!st)
				st = cl_model_forward(m, kv, pos++, 1, x, lg, 0);
			T_CHECK(!st, "step %d: %s", i, cl_errmsg());
		}
		T_CHECK(cl_kv_len(kv) == r.n + r.n_greedy, "cache holds %d positions, want %d", cl_kv_len(kv),
			r.n + r.n_greedy);
		(void)dim;
		free(lg);
		free(x);
	} else if (m && r.logits) {
		T_CHECK(0, "cl_kv_new: %s", cl_errmsg());
	}
	cl_kv_free(kv);
	free(r.logits);
	cl_model_free(m);
	t_end();
}

/* One call, token by token, a rewind, and a run longer than a batch all give
 * the same logits. */
static void test_cache(const char *td)
{
	const char *title = "gpt2/tiny-f32 gives the same logits for a prompt in one call, token by token, "
			    "after a rewind and across batches (max |d| <= 1e-5)";
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/gpt2/tiny-f32", td);
	struct cl_model *m = load(dir, -1);
	struct ref a, b;
	T_CHECK(m, "load: %s", cl_errmsg());
	T_CHECK(ref_load(td, "fib", &a) == 0 && ref_load(td, "life", &b) == 0, "reading the references");
	if (m && a.logits && b.logits) {
		/* 100 positions: more than CL_BATCH (64), within n_positions (128). */
		int32_t ids[100];
		int n = 0;
		while (n < 100) {
			const struct ref *s = n % 2 ? &b : &a;
			for (int i = 0; i < s->n && n < 100; i++)
				ids[n++] = s->ids[i];
			for (int i = 0; i < s->n_greedy && n < 100; i++)
				ids[n++] = s->greedy[i];
		}
		int64_t V = cl_model_info(m)->n_vocab, dim = cl_model_info(m)->dim;
		float *one = run_all(m, ids, n);
		float *lg = malloc((size_t)V * sizeof *lg), *x = embed(m, ids, n);
		struct cl_kv *kv = NULL;
		T_CHECK(one, "one call: %s", cl_errmsg());
		T_CHECK(!cl_kv_new(m, 128, &kv), "cl_kv_new: %s", cl_errmsg());
		float worst = 0;
		for (int t = 0; one && kv && t < n; t++) {
			if (cl_model_forward(m, kv, t, 1, x + t * dim, lg, 0)) {
				T_CHECK(0, "token %d: %s", t, cl_errmsg());
				break;
			}
			float d = maxdiff(lg, one + (size_t)t * V, (size_t)V);
			worst = d > worst ? d : worst;
		}
		T_CHECK(worst <= TOL, "token by token vs one call: max |d| %.3g", worst);
		/* Rewind to 40 and go on with other tokens, then rewind to 10 and
		 * give the original ones back: the first 40 are untouched, then the
		 * logits are those of the original sequence again. */
		if (one && kv) {
			int32_t other[20];
			for (int i = 0; i < 20; i++)
				other[i] = 1000 + 37 * i;
			float *xo = embed(m, other, 20), *lgs = malloc((size_t)n * V * sizeof *lgs);
			T_CHECK(!cl_model_forward(m, kv, 40, 20, xo, lgs, 1), "rewind to 40: %s", cl_errmsg());
			T_CHECK(cl_kv_len(kv) == 60, "after the rewind to 40 the cache holds %d, want 60", cl_kv_len(kv));
			T_CHECK(!cl_model_forward(m, kv, 10, n - 10, x + 10 * dim, lgs, 1), "rewind to 10: %s",
				cl_errmsg());
			float d = maxdiff(lgs, one + (size_t)10 * V, (size_t)(n - 10) * V);
			T_CHECK(d <= TOL, "rewound to 10, positions 10..%d vs one call: max |d| %.3g", n - 1, d);
			/* Logits of the last position only (all = 0) in a run of 2 batches. */
			T_CHECK(!cl_model_forward(m, kv, 0, n, x, lg, 0), "all = 0: %s", cl_errmsg());
			d = maxdiff(lg, one + (size_t)(n - 1) * V, (size_t)V);
			T_CHECK(d <= TOL, "last position only (all = 0) vs one call: max |d| %.3g", d);
			free(xo);
			free(lgs);
		}
		cl_kv_free(kv);
		free(one);
		free(lg);
		free(x);
	}
	free(a.logits);
	free(b.logits);
	cl_model_free(m);
	t_end();
}

static void test_info(const char *td)
{
	const char *title = "gpt2/tiny-f32's info: 64 wide, 2 layers, 4 heads of 16, 256 ffn, 128 positions, "
			    "bos = eos = 50256, f32";
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/gpt2/tiny-f32", td);
	struct cl_model *m = load(dir, -1);
	T_CHECK(m, "load: %s", cl_errmsg());
	if (m) {
		const struct cl_model_info *in = cl_model_info(m);
		T_CHECK(in->family == CL_FAMILY_GPT2, "family %d", in->family);
		T_CHECK(in->dim == 64 && in->n_layers == 2 && in->n_heads == 4 && in->n_kv_heads == 4 &&
				in->head_dim == 16 && in->ffn_dim == 256 && in->n_vocab == 50257 && in->max_pos == 128,
			"geometry %d %d %d %d %d %d %d %d", in->dim, in->n_layers, in->n_heads, in->n_kv_heads,
			in->head_dim, in->ffn_dim, in->n_vocab, in->max_pos);
		T_CHECK(in->bos == 50256 && in->eos == 50256, "bos %d eos %d", in->bos, in->eos);
		T_CHECK(in->wtype == CL_DTYPE_F32, "wtype %d", in->wtype);
		/* The tensors' element count: the README's table. */
		uint64_t want = 50257ull * 64 + 128 * 64 + 2 * (4 * 64 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 +
								 256 * 64 + 64) + 2 * 64;
		T_CHECK(in->n_params == want, "n_params %llu, want %llu", (unsigned long long)in->n_params,
			(unsigned long long)want);
		uint64_t wb = 4ull * (50257 * 64 + 2 * (64 * 192 + 64 * 64 + 2 * 64 * 256));
		T_CHECK(in->weight_bytes == wb, "weight_bytes %llu, want %llu", (unsigned long long)in->weight_bytes,
			(unsigned long long)wb);
		struct cl_kv *kv = NULL;
		T_CHECK(cl_kv_new(m, 129, &kv) == CL_ERR_RANGE, "a cache beyond n_positions is refused");
		cl_kv_free(kv);
	}
	cl_model_free(m);
	t_end();
}

/* ------------------------------------------------ generated checkpoints --- */

static const char *tmp(const char *name)
{
	static char buf[512];
	snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
	return buf;
}

/* scripts/make-checkpoint -q --family gpt2 ARGS tmpdir/NAME; 0 on success. */
static int make_ckpt(const char *name, const char *args)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 scripts/make-checkpoint -q --family gpt2 %s '%s' >/dev/null 2>&1",
		 args, tmp(name));
	return system(cmd) == 0 ? 0 : -1;
}

/* Loads and runs 20 positions in two calls; all logits finite and not all equal. */
static int runs(const char *dir, int quantize, char *why, size_t cap)
{
	struct cl_model *m = load(dir, quantize);
	if (!m) {
		snprintf(why, cap, "load: %s", cl_errmsg());
		return 0;
	}
	const struct cl_model_info *in = cl_model_info(m);
	int ok = 1;
	int32_t ids[20];
	for (int i = 0; i < 20; i++)
		ids[i] = (int32_t)((i * 7919) % in->n_vocab);
	float *x = embed(m, ids, 20), *lg = malloc((size_t)20 * in->n_vocab * sizeof *lg);
	struct cl_kv *kv = NULL;
	if (!x || cl_kv_new(m, 64, &kv) || cl_model_forward(m, kv, 0, 12, x, lg, 1) ||
	    cl_model_forward(m, kv, 12, 8, x + 12 * in->dim, lg + (size_t)12 * in->n_vocab, 1)) {
		snprintf(why, cap, "forward: %s", cl_errmsg());
		ok = 0;
	}
	float lo = INFINITY, hi = -INFINITY;
	for (size_t i = 0; ok && i < (size_t)20 * in->n_vocab; i++) {
		if (!isfinite(lg[i])) {
			snprintf(why, cap, "logit %zu is %g", i, lg[i]);
			ok = 0;
		}
		lo = fminf(lo, lg[i]);
		hi = fmaxf(hi, lg[i]);
	}
	if (ok && !(hi - lo > 1e-3f)) {
		snprintf(why, cap, "logits all about equal (%g .. %g)", lo, hi);
		ok = 0;
	}
	cl_kv_free(kv);
	free(x);
	free(lg);
	cl_model_free(m);
	return ok;
}

static void test_generated(const char *name, const char *args, int quantize)
{
	char title[512], why[1024] = "";
	snprintf(title, sizeof title, "a generated GPT-2 checkpoint (%s%s) loads and gives finite logits", args,
		 quantize >= 0 ? ", quantized to q8_0 at load" : "");
	t_begin(title);
	T_CHECK(make_ckpt(name, args) == 0, "scripts/make-checkpoint %s failed", args);
	T_CHECK(runs(tmp(name), quantize, why, sizeof why), "%s", why);
	t_end();
}

/* Rewrites tmpdir/NAME/config.json with key set to the JSON `value`, or
 * removed when value is NULL. */
static void set_config(const char *name, const char *key, const char *value)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/config.json", tmp(name));
	char *s = slurp(path, NULL);
	cJSON *j = s ? cJSON_Parse(s) : NULL;
	free(s);
	if (!j)
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(j, key);
	if (value)
		cJSON_AddItemToObject(j, key, cJSON_Parse(value));
	char *out = cJSON_Print(j);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(out, f);
		fclose(f);
	}
	free(out);
	cJSON_Delete(j);
}

/* Model NAME with config key = value is refused with st and a message holding `what`. */
static void refused(const char *name, const char *key, const char *value, enum cl_status st, const char *what)
{
	char title[512];
	snprintf(title, sizeof title, "a GPT-2 config.json with %s: %s is refused, naming it", key,
		 value ? value : "(absent)");
	t_begin(title);
	T_CHECK(make_ckpt(name, "") == 0, "scripts/make-checkpoint failed");
	set_config(name, key, value);
	struct cl_model *m = NULL;
	enum cl_status s = cl_model_load(tmp(name), NULL, &m);
	T_CHECK(s == st, "status %d, want %d: %s", s, st, cl_errmsg());
	T_CHECK(strstr(cl_errmsg(), what) && strstr(cl_errmsg(), "config.json"), "message lacks '%s': %s", what,
		cl_errmsg());
	T_CHECK(!m, "out not cleared");
	cl_model_free(m);
	t_end();
}

static void test_defaults(const char *td)
{
	const char *title = "a Cerebras-style config.json (no architectures, bos/eos, attention flags) "
			    "defaults bos = eos = 50256 and gives the same logits";
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	char src[1024];
	mkdir(tmp("cerebras"), 0755);
	snprintf(src, sizeof src, "%s/gpt2/tiny-f32/model.safetensors", td);
	char dst[1024];
	snprintf(dst, sizeof dst, "%s/model.safetensors", tmp("cerebras"));
	T_CHECK(symlink(src, dst) == 0 || errno == EEXIST, "symlink: %s", strerror(errno));
	FILE *f = fopen(strcat(strcpy(dst, tmp("cerebras")), "/config.json"), "w");
	if (f) {
		fputs("{\n    \"model_type\": \"gpt2\",\n    \"attn_pdrop\": 0.0,\n    \"scale_attn_weights\": true,\n"
		      "    \"resid_pdrop\": 0.0,\n    \"n_inner\": 256,\n    \"n_embd\": 64,\n"
		      "    \"layer_norm_epsilon\": 1e-05,\n    \"n_positions\": 128,\n"
		      "    \"activation_function\": \"gelu\",\n    \"n_head\": 4,\n    \"n_layer\": 2,\n"
		      "    \"tie_word_embeddings\": true,\n    \"vocab_size\": 50257,\n    \"embd_pdrop\": 0.0\n}\n",
		      f);
		fclose(f);
	}
	struct cl_model *m = load(tmp("cerebras"), -1);
	struct ref r;
	T_CHECK(m, "load: %s", cl_errmsg());
	T_CHECK(ref_load(td, "life", &r) == 0, "reading the reference");
	if (m && r.logits) {
		const struct cl_model_info *in = cl_model_info(m);
		T_CHECK(in->bos == 50256 && in->eos == 50256, "bos %d eos %d", in->bos, in->eos);
		float *lg = run_all(m, r.ids, r.n);
		T_CHECK(lg, "forward: %s", cl_errmsg());
		if (lg) {
			float d = maxdiff(lg, r.logits, (size_t)r.n * r.vocab);
			T_CHECK(d <= TOL, "max |d| %.3g", d);
		}
		free(lg);
	}
	free(r.logits);
	cl_model_free(m);
	t_end();
}

/* A GPT-2 directory whose F16 Conv1D weights were packed at load keeps no
 * transposed copy, so GGUF output refuses it with one line; loaded with
 * opts.pack 0 it writes.  Where this CPU packs no F16 (no AVX-512) both
 * write. */
static void test_gguf_packed(const char *td)
{
	const char *title = "GGUF output of a GPT-2 F16 directory is refused where its weights were packed at load, "
			    "and written with opts.pack 0";
	if (!td) {
		t_skip(title, "CL_TESTDATA is unset");
		return;
	}
	t_begin(title);
	char dir[1024], out[1100], note[256];
	snprintf(dir, sizeof dir, "%s/gpt2/tiny-f16", td);
	snprintf(out, sizeof out, "%s/p.gguf", tmpdir);
	for (int pack = 1; pack >= 0; pack--) {
		struct cl_model_opts o;
		cl_model_opts_init(&o);
		o.pack = pack;
		struct cl_model *m;
		T_CHECK(cl_model_load(dir, &o, &m) == CL_OK, "load: %s", cl_errmsg());
		if (!m)
			continue;
		enum cl_status st = cl_model_save_gguf(m, out, note, sizeof note);
		int packs = pack && !strcmp(cl_kernels_name(), "avx512");
		if (packs)
			T_CHECK(st == CL_ERR_UNSUPPORTED && strstr(cl_errmsg(), "opts.pack 0"), "packed: status %d, %s",
				(int)st, cl_errmsg());
		else
			T_CHECK(st == CL_OK, "pack %d: %s", pack, cl_errmsg());
		cl_model_free(m);
	}
	t_end();
}

static void test_missing(void)
{
	t_begin("a GPT-2 checkpoint whose tensors don't match config.json is refused, naming the tensor");
	T_CHECK(make_ckpt("shape", "--hidden 64 --ffn 256") == 0, "scripts/make-checkpoint failed");
	set_config("shape", "n_inner", "128");
	struct cl_model *m = NULL;
	enum cl_status s = cl_model_load(tmp("shape"), NULL, &m);
	T_CHECK(s == CL_ERR_FORMAT || s == CL_ERR_MISMATCH, "status %d: %s", s, cl_errmsg());
	T_CHECK(strstr(cl_errmsg(), "h.0.mlp.c_fc.weight") && strstr(cl_errmsg(), "[64, 128]"),
		"message: %s", cl_errmsg());
	cl_model_free(m);
	m = NULL;
	T_CHECK(make_ckpt("layers", "--layers 2") == 0, "scripts/make-checkpoint failed");
	set_config("layers", "n_layer", "3");
	s = cl_model_load(tmp("layers"), NULL, &m);
	T_CHECK(s != CL_OK && strstr(cl_errmsg(), "h.2.ln_1.weight") && strstr(cl_errmsg(), "missing"),
		"a third layer: status %d: %s", s, cl_errmsg());
	cl_model_free(m);
	m = NULL;
	T_CHECK(make_ckpt("tied", "--tie") == 0, "scripts/make-checkpoint failed");
	set_config("tied", "tie_word_embeddings", "false");
	s = cl_model_load(tmp("tied"), NULL, &m);
	T_CHECK(s != CL_OK && strstr(cl_errmsg(), "lm_head.weight") && strstr(cl_errmsg(), "missing"),
		"untied without lm_head.weight: status %d: %s", s, cl_errmsg());
	cl_model_free(m);
	t_end();
}

static void test_unquantizable(void)
{
	t_begin("quantizing a GPT-2 of width 48 to q8_0 is refused, naming the first matrix");
	T_CHECK(make_ckpt("w48", "--hidden 48 --heads 4") == 0, "scripts/make-checkpoint failed");
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	o.quantize = CL_DTYPE_Q8_0;
	struct cl_model *m = NULL;
	enum cl_status s = cl_model_load(tmp("w48"), &o, &m);
	T_CHECK(s != CL_OK, "loaded");
	T_CHECK(strstr(cl_errmsg(), "h.0.attn.c_attn.weight") && strstr(cl_errmsg(), "32"), "message: %s",
		cl_errmsg());
	cl_model_free(m);
	t_end();
}

int main(void)
{
	const char *td = t_testdata();
	snprintf(tmpdir, sizeof tmpdir, "%s/cl-test-gpt2.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("not ok - mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_info(td);
	test_reference(td, "tiny-f32", "fib", -1);
	test_reference(td, "tiny-f32", "life", -1);
	test_reference(td, "tiny-f16", "fib", -1);
	test_reference(td, "tiny-f16", "life", -1);
	/* Every weight is f16-representable, so converting at load is exact. */
	test_reference(td, "tiny-f32", "fib", CL_DTYPE_F16);
	test_greedy(td, "tiny-f32", "fib");
	test_greedy(td, "tiny-f32", "life");
	test_greedy(td, "tiny-f16", "fib");
	test_greedy(td, "tiny-f16", "life");
	test_cache(td);
	test_defaults(td);
	test_gguf_packed(td);

	if (access("scripts/make-checkpoint", R_OK) != 0) {
		t_skip("generated GPT-2 checkpoints", "scripts/make-checkpoint is not here (run from the top folder)");
	} else {
		test_generated("plain", "--no-prefix-transformer", -1);
		test_generated("prefixed", "--prefix-transformer", -1);
		test_generated("buffers", "--prefix-transformer --with-attn-bias-buffers", -1);
		test_generated("buffers2", "--no-prefix-transformer --with-attn-bias-buffers", -1);
		test_generated("untied", "--no-tie --activation gelu --dtype f16", -1);
		test_generated("bf16", "--dtype bf16 --hidden 96 --heads 3 --ffn 160 --shards 2", -1);
		test_generated("q8", "--prefix-transformer --hidden 64 --ffn 256", CL_DTYPE_Q8_0);
		refused("act", "activation_function", "\"relu\"", CL_ERR_UNSUPPORTED, "activation_function");
		refused("inv", "scale_attn_by_inverse_layer_idx", "true", CL_ERR_UNSUPPORTED,
			"scale_attn_by_inverse_layer_idx");
		refused("upcast", "reorder_and_upcast_attn", "true", CL_ERR_UNSUPPORTED, "reorder_and_upcast_attn");
		refused("heads", "n_head", "5", CL_ERR_FORMAT, "n_head");
		refused("embd", "n_embd", NULL, CL_ERR_FORMAT, "n_embd");
		test_missing();
		test_unquantizable();
	}
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		printf("# could not remove %s\n", tmpdir);
	return t_exit();
}
