/*
 * fuzz-safetensors.c - libFuzzer target for the safetensors reader: the input
 * is one file given to cl_weights_open.  Whatever it holds, the reader must
 * refuse it with a message or hand out views that lie inside the file; every
 * byte of every view is touched so that ASan sees a read outside.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE \
 *     -Ilib -Ilib/formats -I/usr/include/cjson tests/fuzz/fuzz-safetensors.c lib/formats/weights.c \
 *     lib/util.c -lcjson -lm -o fuzz-safetensors
 *   ./fuzz-safetensors -dict=tests/fuzz/safetensors.dict tests/fuzz/corpus-safetensors
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "weights.h"

static unsigned char sink;

static void touch(void *arg, const char *name, const struct cl_tensor *t)
{
	const struct cl_weights *w = arg;
	const unsigned char *p = t->data;
	for (uint64_t i = 0; i < t->nbytes; i++)
		sink ^= p[i];
	struct cl_tensor u;
	/* Its own shape must pass; a wrong one must fail cleanly. */
	enum cl_status s = cl_weights_get(w, name, t->ndim, t->shape, &u);
	if (s == CL_OK && (u.data != t->data || u.nbytes != t->nbytes))
		__builtin_trap();
	int64_t other[CL_TENSOR_MAX_DIMS + 1] = { 1 };
	(void)cl_weights_get(w, name, t->ndim + 1 > CL_TENSOR_MAX_DIMS ? 1 : t->ndim + 1, other, &u);
	if (s == CL_OK && t->dtype != CL_DTYPE_F32 && t->dtype != CL_DTYPE_F16 &&
	    t->dtype != CL_DTYPE_BF16 && t->dtype != CL_DTYPE_Q8_0 && t->dtype != CL_DTYPE_Q4_0)
		__builtin_trap();
	/* A block type (cl.quant) covers exactly rows x its row bytes. */
	if (s == CL_OK && (t->dtype == CL_DTYPE_Q8_0 || t->dtype == CL_DTYPE_Q4_0) &&
	    (t->ndim != 2 || t->shape[1] % 32 != 0 ||
	     t->nbytes != (uint64_t)t->shape[0] * cl_dtype_size(t->dtype, t->shape[1])))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	if (fd < 0) {
		fd = memfd_create("fuzz-safetensors", 0);
		if (fd < 0)
			return 0;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return 0;
	struct cl_weights *w;
	if (cl_weights_open(path, &w) == CL_OK) {
		cl_weights_each(w, touch, w);
		const char *names[] = { "nope", "model.norm.weight", NULL };
		struct cl_tensor t;
		(void)cl_weights_get_any(w, names, 0, NULL, &t);
		cl_weights_free(w);
	} else if (!cl_errmsg()[0] || !strstr(cl_errmsg(), path)) {
		__builtin_trap(); /* every refusal names the file */
	}
	return 0;
}
