/*
 * test-tokenizer.c - cl's SentencePiece tokenizer against SentencePiece's own
 * ids and decodings (testdata vectors), the streaming UTF-8 decoder, and bad
 * tokenizer files.
 */
#include <cJSON.h>
#include <unistd.h>

#include "cl.h"
#include "t.h"

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)len + 1);
	if (fread(s, 1, (size_t)len, f) != (size_t)len) {
		free(s);
		fclose(f);
		return NULL;
	}
	s[len] = 0;
	fclose(f);
	if (n)
		*n = (size_t)len;
	return s;
}

/* Decode ids as cl-detok does: piece by piece through the UTF-8 streamer. */
static size_t decode_stream(const struct cl_tokenizer *t, const int32_t *ids, size_t n, char *out)
{
	struct cl_utf8 u = {0};
	char buf[256];
	size_t o = 0;
	int any = 0;
	for (size_t i = 0; i < n; i++) {
		int k = cl_tokenizer_decode(t, ids[i], !any, buf, sizeof buf);
		any = !cl_tokenizer_still_first(t, ids[i], !any, k);
		o += cl_utf8_push(&u, buf, (size_t)k, out + o);
	}
	o += cl_utf8_finish(&u, out + o);
	return o;
}

static int ids_equal(const cJSON *arr, const int32_t *ids, size_t n)
{
	if (cJSON_GetArraySize(arr) != (int)n)
		return 0;
	size_t i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) if (e->valueint != ids[i++]) return 0;
	return 1;
}

/* Whether remove_extra_whitespaces could change s: a leading or trailing
 * space, two in a row, or U+2581 (SentencePiece's own space, in text). */
static int collapses(const char *s)
{
	size_t n = strlen(s);
	return n && (s[0] == ' ' || s[n - 1] == ' ' || strstr(s, "  ") || strstr(s, "\xe2\x96\x81"));
}

/* skip_ws: leave out the vectors that collapses() (a GGUF file does not say
 * whether its SentencePiece model collapsed spaces; Llama's did not). */
static void vectors_of(const char *td, const char *model, const char *jsonl, const char *label, int skip_ws)
{
	char path[1024], name[256];
	snprintf(path, sizeof path, "%s/%s", td, model);
	struct cl_tokenizer *t;
	if (cl_tokenizer_load(path, &t) != CL_OK) {
		t_begin(label);
		T_CHECK(0, "load %s: %s", path, cl_errmsg());
		t_end();
		return;
	}
	snprintf(path, sizeof path, "%s/%s", td, jsonl);
	char *all = slurp(path, NULL);
	int total = 0, enc_ok = 0, bos_ok = 0, dec_ok = 0, left = 0;
	snprintf(name, sizeof name, "%s: ids equal SentencePiece's on every vector", label);
	t_begin(name);
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *o = cJSON_Parse(line);
		const cJSON *text = cJSON_GetObjectItem(o, "text");
		const char *vn = cJSON_GetObjectItem(o, "name")->valuestring;
		size_t len = strlen(text->valuestring), n;
		int32_t *ids;
		if (skip_ws && collapses(text->valuestring)) {
			left++;
			cJSON_Delete(o);
			continue;
		}
		total++;
		T_CHECK(cl_tokenizer_encode(t, text->valuestring, len, 0, &ids, &n) == CL_OK, "%s: encode", vn);
		if (ids_equal(cJSON_GetObjectItem(o, "ids"), ids, n))
			enc_ok++;
		else
			T_CHECK(0, "%s: ids differ", vn);
		char *out = malloc(4 * len + 64);
		size_t on = decode_stream(t, ids, n, out);
		const char *dec = cJSON_GetObjectItem(o, "decoded")->valuestring;
		if (on == strlen(dec) && memcmp(out, dec, on) == 0)
			dec_ok++;
		else
			T_CHECK(0, "%s: decoded '%.*s', SentencePiece '%s'", vn, (int)on, out, dec);
		free(out);
		free(ids);
		T_CHECK(cl_tokenizer_encode(t, text->valuestring, len, CL_ENCODE_BOS, &ids, &n) == CL_OK, "bos");
		if (ids_equal(cJSON_GetObjectItem(o, "ids_bos"), ids, n))
			bos_ok++;
		else
			T_CHECK(0, "%s: ids with BOS differ", vn);
		free(ids);
		cJSON_Delete(o);
	}
	T_CHECK(total + left == 43 && total >= 20, "expected 43 vectors, read %d (%d left out)", total + left, left);
	t_end();
	printf("# %s: %d/%d ids, %d/%d with BOS, %d/%d decoded as SentencePiece decodes", label, enc_ok, total,
	       bos_ok, total, dec_ok, total);
	printf(left ? " (%d with runs of spaces left out)\n" : "\n", left);
	snprintf(name, sizeof name, "%s: streaming decode equals SentencePiece's decode on every vector", label);
	t_begin(name);
	T_CHECK(dec_ok == total, "%d of %d", dec_ok, total);
	t_end();
	free(all);
	cl_tokenizer_free(t);
}

static void vectors(const char *td, const char *model, const char *jsonl, const char *label)
{
	vectors_of(td, model, jsonl, label, 0);
}

static void specials(const char *td)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/llama2-tokenizer/tokenizer.model", td);
	struct cl_tokenizer *t;
	int32_t *ids;
	size_t n;
	t_begin("special-token text is plain text unless asked, then the control token");
	T_CHECK(cl_tokenizer_load(path, &t) == CL_OK, "%s", cl_errmsg());
	T_CHECK(cl_tokenizer_encode(t, "a</s>b", 6, 0, &ids, &n) == CL_OK, "encode");
	int has2 = 0;
	for (size_t i = 0; i < n; i++)
		has2 |= ids[i] == 2;
	T_CHECK(!has2, "plain text gave EOS");
	free(ids);
	T_CHECK(cl_tokenizer_encode(t, "a</s>b", 6, CL_ENCODE_SPECIAL, &ids, &n) == CL_OK, "encode");
	has2 = 0;
	for (size_t i = 0; i < n; i++)
		has2 |= ids[i] == 2;
	T_CHECK(has2, "--special did not give EOS");
	free(ids);
	T_CHECK(cl_tokenizer_encode(t, "x", 1, CL_ENCODE_BOS | CL_ENCODE_EOS, &ids, &n) == CL_OK, "encode");
	T_CHECK(n >= 3 && ids[0] == 1 && ids[n - 1] == 2, "BOS/EOS not added");
	free(ids);
	T_CHECK(strlen(cl_tokenizer_fingerprint(t)) == 16, "fingerprint");
	T_CHECK(cl_tokenizer_n_vocab(t) == 32000, "vocab %d", cl_tokenizer_n_vocab(t));
	cl_tokenizer_free(t);
	t_end();
}

static void utf8(void)
{
	struct cl_utf8 u = {0};
	char out[64];
	size_t n;
	t_begin("a character split over byte tokens is held back until complete");
	const char llama[] = "\xf0\x9f\xa6\x99"; /* U+1F999 */
	n = cl_utf8_push(&u, llama, 1, out);
	T_CHECK(n == 0, "emitted %zu bytes of an incomplete character", n);
	n = cl_utf8_push(&u, llama + 1, 2, out);
	T_CHECK(n == 0, "emitted %zu bytes of an incomplete character", n);
	n = cl_utf8_push(&u, llama + 3, 1, out);
	T_CHECK(n == 4 && memcmp(out, llama, 4) == 0, "got %zu bytes", n);
	t_end();
	t_begin("invalid UTF-8 comes out as U+FFFD and never stalls");
	memset(&u, 0, sizeof u);
	n = cl_utf8_push(&u, "\xff" "a\xe4\xb8" "b", 5, out);
	T_CHECK(n == 3 + 1 + 3 + 1 && memcmp(out, "\xef\xbf\xbd" "a" "\xef\xbf\xbd" "b", 8) == 0, "got %zu", n);
	n = cl_utf8_push(&u, "\xe4", 1, out);
	n = cl_utf8_finish(&u, out);
	T_CHECK(n == 3, "a dangling lead byte at the end gave %zu bytes", n);
	t_end();
}

static void bad_files(void)
{
	char dir[] = "/tmp/cl-tok-XXXXXX", path[256];
	struct cl_tokenizer *t = NULL;
	T_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	t_begin("a missing tokenizer is an error naming the path");
	T_CHECK(cl_tokenizer_load("/nonexistent/dir", &t) != CL_OK && t == NULL, "loaded");
	T_CHECK(strstr(cl_errmsg(), "/nonexistent/dir") != NULL, "message: %s", cl_errmsg());
	T_CHECK(cl_tokenizer_load(dir, &t) != CL_OK, "an empty directory loaded");
	T_CHECK(strstr(cl_errmsg(), "no tokenizer") != NULL, "message: %s", cl_errmsg());
	t_end();
	t_begin("a corrupt tokenizer.model is an error, not a crash");
	snprintf(path, sizeof path, "%s/tokenizer.model", dir);
	FILE *f = fopen(path, "wb");
	fputs("this is not a protobuf \x01\x02\x03\xff\xfe", f);
	fclose(f);
	T_CHECK(cl_tokenizer_load(dir, &t) != CL_OK, "a corrupt model loaded");
	T_CHECK(strstr(cl_errmsg(), "tokenizer.model") != NULL, "message: %s", cl_errmsg());
	unlink(path);
	f = fopen(path, "wb");
	fclose(f);
	T_CHECK(cl_tokenizer_load(dir, &t) != CL_OK, "an empty model loaded");
	unlink(path);
	rmdir(dir);
	t_end();
}

int main(void)
{
	const char *td = t_testdata();
	utf8();
	bad_files();
	if (!td) {
		t_skip("tokenizer vectors", "../shared/testdata is absent");
		return t_exit();
	}
	vectors(td, "llama2-tokenizer/tokenizer.model", "llama2-tokenizer/llama2_tokenizer_vectors.jsonl",
		"Llama 2 tokenizer");
	vectors(td, "stories260K/tok512.model", "stories260K/tok512_tokenizer_vectors.jsonl", "tok512");
	/* The same vocabularies as llama.cpp's converter copied them into GGUF
	 * metadata, rebuilt as SentencePiece models (lib/tokenizers/gguf_tok.c). */
	vectors(td, "gguf/synthetic-codellama-like-f16.gguf", "llama2-tokenizer/llama2_tokenizer_vectors.jsonl",
		"Llama 2 tokenizer from GGUF metadata");
	/* tok512.model collapses runs of spaces (remove_extra_whitespaces),
	 * which its GGUF does not record. */
	vectors_of(td, "gguf/kq/kq-tiny-Q4_K_M.gguf", "stories260K/tok512_tokenizer_vectors.jsonl",
		   "tok512 from GGUF metadata", 1);
	specials(td);
	return t_exit();
}
