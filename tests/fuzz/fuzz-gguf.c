/*
 * fuzz-gguf.c - libFuzzer target for the GGUF reader: the input is one file
 * given to cl_gguf_open_mem.  Whatever it holds, the reader must refuse it
 * with a message or hand out values and tensors that lie inside it; every
 * value, every string of every array and every byte of every tensor is
 * touched so that ASan sees a read outside, and the metadata is read as a
 * model's config (lib/formats/gguf_model.c) and its names mapped.
 *
 *   scripts/fuzz SECONDS    (builds it with the line there and runs it)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "gguf.h"

static unsigned char sink;

static void touch(const void *p, uint64_t n)
{
	const unsigned char *b = p;
	for (uint64_t i = 0; i < n; i++)
		sink ^= b[i];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cl_gguf *g = NULL;
	/* A copy of exactly `size` bytes, so a read past the end is ASan's. */
	unsigned char *buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (cl_gguf_open_mem(buf, size, "fuzz.gguf", &g) != CL_OK) {
		if (g)
			__builtin_trap(); /* a failed open hands out nothing */
		free(buf);
		return 0;
	}
	for (int64_t i = 0; i < cl_gguf_n_kv(g); i++) {
		const struct cl_gguf_kv *kv = cl_gguf_kv_at(g, i);
		touch(kv->key, strlen(kv->key));
		touch(kv->val, kv->size);
		if (kv->type == CL_GGUF_ARRAY && kv->arr_type == CL_GGUF_STRING) {
			struct cl_gguf_str *s;
			if (cl_gguf_arr_str(g, kv, &s) == CL_OK) {
				for (uint64_t k = 0; k < kv->n; k++)
					touch(s[k].p, s[k].n);
				free(s);
			}
		}
		if (cl_gguf_find(g, kv->key) == NULL)
			__builtin_trap();
	}
	char arch[64], name[256];
	cl_gguf_arch(g, arch, sizeof arch);
	for (int64_t i = 0; i < cl_gguf_n_tensors(g); i++) {
		const struct cl_gguf_tensor *t = cl_gguf_tensor_at(g, i);
		touch(t->data, t->nbytes);
		if ((const unsigned char *)t->data != cl_gguf_data(g) + t->offset)
			__builtin_trap();
		touch(cl_gguf_hf_name(arch, t->name, name, sizeof name), 1);
	}
	cJSON *cfg = NULL;
	if (cl_gguf_config(g, &cfg) == CL_OK) {
		char *s = cJSON_PrintUnformatted(cfg);
		free(s);
		cJSON_Delete(cfg);
	}
	int64_t v;
	struct cl_gguf_str s;
	const struct cl_gguf_kv *a;
	(void)cl_gguf_int(g, "llama.block_count", 0, 0, 0, 100, &v);
	(void)cl_gguf_str(g, "tokenizer.ggml.model", 0, &s);
	if (cl_gguf_arr(g, "tokenizer.ggml.scores", 0, CL_GGUF_F32, -1, &a) == CL_OK && a)
		for (uint64_t k = 0; k < a->n; k++) {
			float f = cl_gguf_arr_f32(a, k);
			touch(&f, sizeof f);
		}
	if (cl_gguf_arr(g, "tokenizer.ggml.token_type", 0, CL_GGUF_I32, -1, &a) == CL_OK && a)
		for (uint64_t k = 0; k < a->n; k++)
			sink ^= (unsigned char)cl_gguf_arr_int(a, k);
	cl_gguf_free(g);
	free(buf);
	return 0;
}
