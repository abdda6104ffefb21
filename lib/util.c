/*
 * util.c - status messages, write-all, half floats, hashing, the default model.
 */
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cl.h"

static _Thread_local char errbuf[1024];

const char *cl_errmsg(void)
{
	return errbuf[0] ? errbuf : "unknown error";
}

enum cl_status cl_error(enum cl_status st, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(errbuf, sizeof errbuf, fmt, ap);
	va_end(ap);
	size_t n = strlen(errbuf);
	if (n > 0 && errbuf[n - 1] == ':')
		snprintf(errbuf + n, sizeof errbuf - n, " %s", strerror(saved));
	errno = saved;
	return st;
}

static const char *const dtype_names[CL_DTYPE_COUNT] = {
	[CL_DTYPE_F32] = "f32", [CL_DTYPE_F16] = "f16", [CL_DTYPE_BF16] = "bf16",
	[CL_DTYPE_Q8_0] = "q8_0", [CL_DTYPE_Q4_0] = "q4_0", [CL_DTYPE_Q4_1] = "q4_1",
	[CL_DTYPE_Q5_0] = "q5_0", [CL_DTYPE_Q5_1] = "q5_1", [CL_DTYPE_Q2_K] = "q2_k",
	[CL_DTYPE_Q3_K] = "q3_k", [CL_DTYPE_Q4_K] = "q4_k", [CL_DTYPE_Q5_K] = "q5_k",
	[CL_DTYPE_Q6_K] = "q6_k",
};

/* Bytes of one block, and its elements. */
static const struct { int bytes, n; } dtype_blocks[CL_DTYPE_COUNT] = {
	[CL_DTYPE_F32] = {4, 1},    [CL_DTYPE_F16] = {2, 1},    [CL_DTYPE_BF16] = {2, 1},
	[CL_DTYPE_Q8_0] = {34, 32}, [CL_DTYPE_Q4_0] = {18, 32}, [CL_DTYPE_Q4_1] = {20, 32},
	[CL_DTYPE_Q5_0] = {22, 32}, [CL_DTYPE_Q5_1] = {24, 32}, [CL_DTYPE_Q2_K] = {84, 256},
	[CL_DTYPE_Q3_K] = {110, 256}, [CL_DTYPE_Q4_K] = {144, 256}, [CL_DTYPE_Q5_K] = {176, 256},
	[CL_DTYPE_Q6_K] = {210, 256},
};

const char *cl_dtype_name(enum cl_dtype t)
{
	return (unsigned)t < CL_DTYPE_COUNT ? dtype_names[t] : "?";
}

int cl_dtype_parse(const char *s, enum cl_dtype *out)
{
	for (int i = 0; i < CL_DTYPE_COUNT; i++)
		if (strcasecmp(s, dtype_names[i]) == 0) {
			*out = (enum cl_dtype)i;
			return 0;
		}
	return -1;
}

size_t cl_dtype_size(enum cl_dtype t, int64_t n)
{
	if ((unsigned)t >= CL_DTYPE_COUNT)
		return 0;
	return (size_t)(n / dtype_blocks[t].n) * (size_t)dtype_blocks[t].bytes;
}

int cl_dtype_makeable(enum cl_dtype t)
{
	return t <= CL_DTYPE_Q4_0 || t == CL_DTYPE_Q4_K || t == CL_DTYPE_Q6_K;
}

int cl_quant_parse(const char *s, int *quantize, int *mix)
{
	enum cl_dtype t;
	if (strcmp(s, "q4_k_m") == 0) {
		*quantize = CL_DTYPE_Q4_K;
		*mix = CL_MIX_Q4_K_M;
		return 0;
	}
	if (cl_dtype_parse(s, &t) || t == CL_DTYPE_F32 || !cl_dtype_makeable(t))
		return -1;
	*quantize = (int)t;
	*mix = CL_MIX_NONE;
	return 0;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and
 * every third one between. */
static int more_bits(int32_t i, int32_t n)
{
	return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

enum cl_dtype cl_mix_type(int mix, const char *name, int32_t n_layers, enum cl_dtype base)
{
	if (mix != CL_MIX_Q4_K_M)
		return base;
	if (strcmp(name, "lm_head.weight") == 0)
		return CL_DTYPE_Q6_K;
	int layer, used = 0;
	if (sscanf(name, "model.layers.%d.%n", &layer, &used) != 1 || !used)
		return base;
	const char *rest = name + used;
	if ((strcmp(rest, "self_attn.v_proj.weight") == 0 || strcmp(rest, "mlp.down_proj.weight") == 0) &&
	    more_bits(layer, n_layers))
		return CL_DTYPE_Q6_K;
	return base;
}

int cl_dtype_block(enum cl_dtype t)
{
	return (unsigned)t < CL_DTYPE_COUNT ? dtype_blocks[t].n : 0;
}

static inline float bits_f32(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

float cl_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
	if (exp == 0) {
		/* zero or subnormal: man * 2^-24 */
		float f = (float)man * 5.9604644775390625e-8f;
		return sign ? -f : f;
	}
	if (exp == 31)
		return bits_f32(sign | 0x7f800000u | (man << 13));
	return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t cl_f32_to_f16(float f)
{
	/* Round to nearest even, with subnormals, infinities and NaN. */
	uint32_t u = f32_bits(f);
	uint32_t sign = (u >> 16) & 0x8000;
	uint32_t a = u & 0x7fffffff;
	if (a >= 0x7f800000u)
		return (uint16_t)(sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0));
	if (a >= 0x477ff000u) /* rounds to >= 65520: infinity */
		return (uint16_t)(sign | 0x7c00);
	if (a < 0x38800000u) { /* below 2^-14: subnormal or zero */
		float m = bits_f32(a) * 16777216.0f; /* scale by 2^24 */
		uint32_t r = (uint32_t)lrintf(m);     /* current mode: nearest even */
		return (uint16_t)(sign | r);
	}
	uint32_t r = a + 0xfff + ((a >> 13) & 1);
	return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

float cl_bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

uint16_t cl_f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	if ((u & 0x7fffffff) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fff + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

void cl_to_f32(enum cl_dtype t, const void *src, int64_t n, float *dst)
{
	const uint16_t *h = src;
	switch (t) {
	case CL_DTYPE_F32: memcpy(dst, src, (size_t)n * 4); break;
	case CL_DTYPE_F16:
		for (int64_t i = 0; i < n; i++) {
			uint16_t v;
			memcpy(&v, h + i, 2);
			dst[i] = cl_f16_to_f32(v);
		}
		break;
	case CL_DTYPE_BF16:
		for (int64_t i = 0; i < n; i++) {
			uint16_t v;
			memcpy(&v, h + i, 2);
			dst[i] = cl_bf16_to_f32(v);
		}
		break;
	default:
		for (int64_t i = 0; i < n; i++)
			dst[i] = NAN;
	}
}

uint64_t cl_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

enum cl_status cl_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EPIPE)
				return cl_error(CL_ERR_PIPE, "write:");
			return cl_error(CL_ERR_IO, "write:");
		}
		p += w;
		n -= (size_t)w;
	}
	return CL_OK;
}

/* buf = a + b when it fits and names a model directory (one with config.json). */
static int model_at(char *buf, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	struct stat st;
	if (la + lb + sizeof "/config.json" > cap)
		return 0;
	memcpy(buf, a, la);
	memcpy(buf + la, b, lb);
	memcpy(buf + la + lb, "/config.json", sizeof "/config.json");
	int found = stat(buf, &st) == 0;
	buf[la + lb] = 0;
	return found;
}

const char *cl_default_model(void)
{
	static _Thread_local char buf[4096];
	const char *env = getenv("CL_MODEL");
	if (env && *env)
		return env;
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			/* A build tree (bin/), an install (PREFIX/bin), the sanitized build. */
			if (model_at(buf, sizeof buf, exe, "/../models/cl-python-small") ||
			    model_at(buf, sizeof buf, exe, "/../share/cl/models/cl-python-small") ||
			    model_at(buf, sizeof buf, exe, "/../../../models/cl-python-small"))
				return buf;
		}
	}
	/* libcl.so installed: the model beside it (PREFIX/lib/../share), found
	 * from the library's own path wherever it was installed. */
	Dl_info di;
	if (dladdr((void *)cl_default_model, &di) && di.dli_fname && strlen(di.dli_fname) < sizeof exe) {
		snprintf(exe, sizeof exe, "%s", di.dli_fname);
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			if (model_at(buf, sizeof buf, exe, "/../share/cl/models/cl-python-small"))
				return buf;
		}
	}
#ifdef CL_PREFIX
	if (model_at(buf, sizeof buf, CL_PREFIX, "/share/cl/models/cl-python-small"))
		return buf;
#endif
	return "models/cl-python-small";
}
