/*
 * fuzz-config.c - libFuzzer target for cl_json_read_file and the typed
 * getters, used the way a model loader reads config.json: every key through
 * every getter, and nested objects (rope_scaling) the same way.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Ilib -Ilib/formats -I/usr/include/cjson tests/fuzz/fuzz-config.c lib/formats/weights.c \
 *     lib/util.c -lcjson -lm -o fuzz-config
 *   ./fuzz-config tests/fuzz/corpus-config
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cJSON.h>

#include "weights.h"

static void getters(const cJSON *obj, const char *file, const char *key)
{
	int64_t i;
	double d;
	int b;
	const char *s;
	if (cl_json_int(obj, file, key, 1, 0, 1, INT32_MAX, &i) == CL_OK && (i < 1 || i > INT32_MAX))
		__builtin_trap();
	(void)cl_json_int(obj, file, key, 0, -1, INT64_MIN, INT64_MAX, &i);
	if (cl_json_num(obj, file, key, 1, 0, 0, 1e9, &d) == CL_OK && !(d >= 0 && d <= 1e9))
		__builtin_trap();
	(void)cl_json_bool(obj, file, key, 0, 1, &b);
	if (cl_json_str(obj, file, key, 1, NULL, &s) == CL_OK && !s)
		__builtin_trap();
	else if (cl_json_str(obj, file, key, 1, NULL, &s) == CL_OK)
		(void)strlen(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-config", 0);
		if (fd < 0)
			return 0;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	cJSON *j;
	if (cl_json_read_file(path, 1 << 16, &j) != CL_OK) {
		if (!strstr(cl_errmsg(), path))
			__builtin_trap();
		return 0;
	}
	static const char *const keys[] = { "hidden_size", "rms_norm_eps", "tie_word_embeddings",
					    "model_type", "rope_scaling", "absent", NULL };
	for (int k = 0; keys[k]; k++)
		getters(j, "config.json", keys[k]);
	const cJSON *v;
	cJSON_ArrayForEach(v, j) {
		if (v->string)
			getters(j, "config.json", v->string);
		if (cJSON_IsObject(v)) {
			const cJSON *u;
			cJSON_ArrayForEach(u, v)
				if (u->string)
					getters(v, "config.json", u->string);
		}
	}
	cJSON_Delete(j);
	return 0;
}
