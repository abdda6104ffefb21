/*
 * gguf.c - the GGUF reader: the file mapped read-only, every field checked
 * against the bytes that remain before it is used.
 *
 * The published faults of other readers (2024: heap overflows from string
 * lengths, array counts and tensor sizes that nobody compared with the file)
 * all come from trusting a count.  Here every count is compared with what is
 * left of the file before anything is read or allocated for it, sizes are
 * computed with overflow checks, and nested arrays are limited in depth.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"

#define GGUF_MAGIC "GGUF"
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_DEPTH 4          /* arrays of arrays of ... */
#define GGUF_MAX_KEY 65535        /* bytes in a key or a tensor name */

struct cl_gguf {
	char *path;
	const unsigned char *base;
	uint64_t size;
	int mapped;                /* base is our mapping (else the caller's) */
	uint32_t version;
	uint64_t alignment;
	uint64_t data_off;         /* start of the data section */
	struct cl_gguf_kv *kv;
	int64_t n_kv;
	struct cl_gguf_tensor *t;
	int64_t n_t;
	char *names;               /* keys and tensor names, NUL-terminated */
};

/* ggml's tensor types: name, block elements, block bytes (0: not computed by
 * cl, but still sized so that a file mixing them can be described), and the
 * cl type. */
static const struct ggml_type {
	const char *name;
	uint32_t blk, bytes;
	enum cl_dtype dt;
} ggml_types[] = {
	[0] = {"F32", 1, 4, CL_DTYPE_F32},        [1] = {"F16", 1, 2, CL_DTYPE_F16},
	[2] = {"Q4_0", 32, 18, CL_DTYPE_Q4_0},    [3] = {"Q4_1", 32, 20, CL_DTYPE_Q4_1},
	[6] = {"Q5_0", 32, 22, CL_DTYPE_Q5_0},    [7] = {"Q5_1", 32, 24, CL_DTYPE_Q5_1},
	[8] = {"Q8_0", 32, 34, CL_DTYPE_Q8_0},    [9] = {"Q8_1", 32, 36, CL_DTYPE_COUNT},
	[10] = {"Q2_K", 256, 84, CL_DTYPE_Q2_K},  [11] = {"Q3_K", 256, 110, CL_DTYPE_Q3_K},
	[12] = {"Q4_K", 256, 144, CL_DTYPE_Q4_K}, [13] = {"Q5_K", 256, 176, CL_DTYPE_Q5_K},
	[14] = {"Q6_K", 256, 210, CL_DTYPE_Q6_K}, [15] = {"Q8_K", 256, 292, CL_DTYPE_COUNT},
	[16] = {"IQ2_XXS", 256, 66, CL_DTYPE_COUNT}, [17] = {"IQ2_XS", 256, 74, CL_DTYPE_COUNT},
	[18] = {"IQ3_XXS", 256, 98, CL_DTYPE_COUNT}, [19] = {"IQ1_S", 256, 50, CL_DTYPE_COUNT},
	[20] = {"IQ4_NL", 32, 18, CL_DTYPE_COUNT},   [21] = {"IQ3_S", 256, 110, CL_DTYPE_COUNT},
	[22] = {"IQ2_S", 256, 82, CL_DTYPE_COUNT},   [23] = {"IQ4_XS", 256, 136, CL_DTYPE_COUNT},
	[24] = {"I8", 1, 1, CL_DTYPE_COUNT},         [25] = {"I16", 1, 2, CL_DTYPE_COUNT},
	[26] = {"I32", 1, 4, CL_DTYPE_COUNT},        [27] = {"I64", 1, 8, CL_DTYPE_COUNT},
	[28] = {"F64", 1, 8, CL_DTYPE_COUNT},        [29] = {"IQ1_M", 256, 56, CL_DTYPE_COUNT},
	[30] = {"BF16", 1, 2, CL_DTYPE_BF16},
	[34] = {"TQ1_0", 256, 54, CL_DTYPE_COUNT},   [35] = {"TQ2_0", 256, 66, CL_DTYPE_COUNT},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof ggml_types[0])

static const char *const type_names[CL_GGUF_TYPE_COUNT] = {
	"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64",
};
static const uint8_t type_sizes[CL_GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

const char *cl_gguf_type_name(enum cl_gguf_type t)
{
	return (unsigned)t < CL_GGUF_TYPE_COUNT ? type_names[t] : "?";
}

const char *cl_gguf_ggml_type_name(uint32_t t, char *buf, size_t cap)
{
	if (t < N_GGML_TYPES && ggml_types[t].name)
		return ggml_types[t].name;
	snprintf(buf, cap, "type %u", t);
	return buf;
}

/* ------------------------------------------------------------- cursor --- */

struct cur {
	const struct cl_gguf *g;
	uint64_t off;
};

static uint64_t left(const struct cur *c)
{
	return c->g->size - c->off;
}

static enum cl_status short_read(const struct cur *c, const char *what, uint64_t need)
{
	return cl_error(CL_ERR_FORMAT, "%s: %s: needs %llu bytes at byte %llu, the file has %llu left",
			c->g->path, what, (unsigned long long)need, (unsigned long long)c->off,
			(unsigned long long)left(c));
}

static enum cl_status take(struct cur *c, const char *what, uint64_t n, const unsigned char **p)
{
	if (n > left(c))
		return short_read(c, what, n);
	*p = c->g->base + c->off;
	c->off += n;
	return CL_OK;
}

static enum cl_status u32(struct cur *c, const char *what, uint32_t *v)
{
	const unsigned char *p = NULL;
	enum cl_status st = take(c, what, 4, &p);
	if (!st)
		memcpy(v, p, 4);
	return st;
}

static enum cl_status u64(struct cur *c, const char *what, uint64_t *v)
{
	const unsigned char *p = NULL;
	enum cl_status st = take(c, what, 8, &p);
	if (!st)
		memcpy(v, p, 8);
	return st;
}

static enum cl_status str(struct cur *c, const char *what, struct cl_gguf_str *s)
{
	uint64_t n;
	const unsigned char *p;
	enum cl_status st = u64(c, what, &n);
	if (st)
		return st;
	if (n > left(c))
		return cl_error(CL_ERR_FORMAT, "%s: %s: a string of %llu bytes at byte %llu, the file has %llu left",
				c->g->path, what, (unsigned long long)n, (unsigned long long)(c->off - 8),
				(unsigned long long)left(c));
	if ((st = take(c, what, n, &p)))
		return st;
	s->p = (const char *)p;
	s->n = n;
	return CL_OK;
}

/* Skip one value of type t (checking every length inside it); its bytes
 * are the cursor's advance. */
static enum cl_status skip_value(struct cur *c, const char *what, uint32_t t, int depth, uint32_t *arr_type,
				 uint64_t *count)
{
	enum cl_status st;
	if (t >= CL_GGUF_TYPE_COUNT)
		return cl_error(CL_ERR_FORMAT, "%s: %s: unknown value type %u", c->g->path, what, t);
	if (t == CL_GGUF_STRING) {
		struct cl_gguf_str s;
		return str(c, what, &s);
	}
	if (t != CL_GGUF_ARRAY) {
		const unsigned char *p;
		if ((st = take(c, what, type_sizes[t], &p)))
			return st;
		if (t == CL_GGUF_BOOL && *p > 1)
			return cl_error(CL_ERR_FORMAT, "%s: %s: a bool of value %u (0 or 1)", c->g->path, what, *p);
		return CL_OK;
	}
	if (depth >= GGUF_MAX_DEPTH)
		return cl_error(CL_ERR_FORMAT, "%s: %s: arrays nested deeper than %d", c->g->path, what,
				GGUF_MAX_DEPTH);
	uint32_t et;
	uint64_t n;
	if ((st = u32(c, what, &et)) || (st = u64(c, what, &n)))
		return st;
	if (et >= CL_GGUF_TYPE_COUNT)
		return cl_error(CL_ERR_FORMAT, "%s: %s: array of unknown type %u", c->g->path, what, et);
	if (arr_type)
		*arr_type = et;
	if (count)
		*count = n;
	if (et != CL_GGUF_STRING && et != CL_GGUF_ARRAY) {
		/* Fixed-size elements: the whole array is checked at once. */
		if (n > left(c) / type_sizes[et])
			return cl_error(CL_ERR_FORMAT,
					"%s: %s: an array of %llu %s at byte %llu, the file has %llu bytes left",
					c->g->path, what, (unsigned long long)n, type_names[et],
					(unsigned long long)c->off, (unsigned long long)left(c));
		const unsigned char *p;
		if ((st = take(c, what, n * type_sizes[et], &p)))
			return st;
		if (et == CL_GGUF_BOOL)
			for (uint64_t i = 0; i < n; i++)
				if (p[i] > 1)
					return cl_error(CL_ERR_FORMAT, "%s: %s: element %llu: a bool of value %u",
							c->g->path, what, (unsigned long long)i, p[i]);
		return CL_OK;
	}
	/* Strings take at least 8 bytes and arrays 12: a count the file cannot
	 * hold is refused before the loop, which would otherwise run long. */
	if (n > left(c) / (et == CL_GGUF_STRING ? 8 : 12))
		return cl_error(CL_ERR_FORMAT, "%s: %s: an array of %llu %ss at byte %llu, the file has %llu bytes left",
				c->g->path, what, (unsigned long long)n, type_names[et], (unsigned long long)c->off,
				(unsigned long long)left(c));
	for (uint64_t i = 0; i < n; i++)
		if ((st = skip_value(c, what, et, depth + 1, NULL, NULL)))
			return st;
	return CL_OK;
}

/* ------------------------------------------------------------- parsing --- */

static char *copy_name(struct cl_gguf *g, size_t *used, const struct cl_gguf_str *s)
{
	char *p = g->names + *used;
	memcpy(p, s->p, s->n);
	p[s->n] = 0;
	*used += s->n + 1;
	return p;
}

static int has_nul(const struct cl_gguf_str *s)
{
	return memchr(s->p, 0, s->n) != NULL;
}

static int cmp_ext(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

static enum cl_status parse(struct cl_gguf *g)
{
	struct cur c = {g, 0};
	enum cl_status st;
	uint64_t n_t, n_kv;
	if (g->size < 4 || memcmp(g->base, GGUF_MAGIC, 4) != 0) {
		if (g->size >= 4 && memcmp(g->base, "FUGG", 4) == 0)
			return cl_error(CL_ERR_UNSUPPORTED, "%s: a big-endian GGUF file (cl reads little-endian ones)",
					g->path);
		return cl_error(CL_ERR_FORMAT, "%s: not a GGUF file (no \"GGUF\" magic)", g->path);
	}
	c.off = 4;
	if ((st = u32(&c, "version", &g->version)))
		return st;
	if (g->version == 1)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF version 1 is not supported (2 and 3 are)", g->path);
	if (g->version != 2 && g->version != 3) {
		uint32_t sw = __builtin_bswap32(g->version);
		if (sw == 2 || sw == 3)
			return cl_error(CL_ERR_UNSUPPORTED,
					"%s: a big-endian GGUF file (cl reads little-endian ones)", g->path);
		return cl_error(CL_ERR_UNSUPPORTED, "%s: GGUF version %u is not supported (2 and 3 are)", g->path,
				g->version);
	}
	if ((st = u64(&c, "tensor count", &n_t)) || (st = u64(&c, "metadata count", &n_kv)))
		return st;
	/* A pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 4 + 8. */
	if (n_kv > left(&c) / 13)
		return cl_error(CL_ERR_FORMAT, "%s: metadata count: %llu pairs cannot fit in the %llu bytes left",
				g->path, (unsigned long long)n_kv, (unsigned long long)left(&c));
	if (n_t > left(&c) / 24)
		return cl_error(CL_ERR_FORMAT, "%s: tensor count: %llu tensors cannot fit in the %llu bytes left",
				g->path, (unsigned long long)n_t, (unsigned long long)left(&c));
	/* Names never take more bytes than the file; one buffer holds all. */
	g->names = malloc((size_t)g->size + 1);
	g->kv = calloc(n_kv ? (size_t)n_kv : 1, sizeof *g->kv);
	g->t = calloc(n_t ? (size_t)n_t : 1, sizeof *g->t);
	if (!g->names || !g->kv || !g->t)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", g->path);
	size_t used = 0;
	char what[128];
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	for (uint64_t i = 0; i < n_kv; i++) {
		struct cl_gguf_kv *kv = &g->kv[i];
		struct cl_gguf_str key;
		uint32_t t;
		snprintf(what, sizeof what, "metadata pair %llu", (unsigned long long)i);
		if ((st = str(&c, what, &key)))
			return st;
		if (key.n == 0 || key.n > GGUF_MAX_KEY || has_nul(&key))
			return cl_error(CL_ERR_FORMAT, "%s: %s: a key of %llu bytes%s", g->path, what,
					(unsigned long long)key.n, key.n && key.n <= GGUF_MAX_KEY ? " holding a NUL" : "");
		kv->key = copy_name(g, &used, &key);
		for (uint64_t j = 0; j < i; j++)
			if (strcmp(g->kv[j].key, kv->key) == 0)
				return cl_error(CL_ERR_FORMAT, "%s: %s: key '%s' appears twice", g->path, what, kv->key);
		snprintf(what, sizeof what, "%.100s", kv->key);
		if ((st = u32(&c, what, &t)))
			return st;
		uint64_t at = c.off;
		uint32_t et = 0;
		uint64_t cnt = 0;
		if ((st = skip_value(&c, what, t, 0, &et, &cnt)))
			return st;
		kv->type = (enum cl_gguf_type)t;
		kv->val = g->base + at;
		kv->size = c.off - at;
		if (t == CL_GGUF_ARRAY) {
			kv->arr_type = (enum cl_gguf_type)et;
			kv->n = cnt;
			kv->val += 12;
			kv->size -= 12;
		}
		g->n_kv = (int64_t)i + 1;
	}
	const struct cl_gguf_kv *al = cl_gguf_find(g, "general.alignment");
	if (al) {
		uint32_t a = 0;
		if (al->type != CL_GGUF_U32)
			return cl_error(CL_ERR_FORMAT, "%s: general.alignment: expected a u32, found %s", g->path,
					cl_gguf_type_name(al->type));
		memcpy(&a, al->val, 4);
		if (a == 0 || (a & (a - 1)) || a > (1u << 20))
			return cl_error(CL_ERR_FORMAT, "%s: general.alignment: %u is not a power of two up to 2^20",
					g->path, a);
		g->alignment = a;
	}
	for (uint64_t i = 0; i < n_t; i++) {
		struct cl_gguf_tensor *t = &g->t[i];
		struct cl_gguf_str name;
		uint32_t nd, ty;
		snprintf(what, sizeof what, "tensor info %llu", (unsigned long long)i);
		if ((st = str(&c, what, &name)))
			return st;
		if (name.n == 0 || name.n > GGUF_MAX_KEY || has_nul(&name))
			return cl_error(CL_ERR_FORMAT, "%s: %s: a name of %llu bytes%s", g->path, what,
					(unsigned long long)name.n,
					name.n && name.n <= GGUF_MAX_KEY ? " holding a NUL" : "");
		t->name = copy_name(g, &used, &name);
		snprintf(what, sizeof what, "tensor '%.100s'", t->name);
		if ((st = u32(&c, what, &nd)))
			return st;
		if (nd < 1 || nd > CL_GGUF_MAX_DIMS)
			return cl_error(CL_ERR_FORMAT, "%s: %s: %u dimensions (1 to %d)", g->path, what, nd,
					CL_GGUF_MAX_DIMS);
		t->ndim = (int)nd;
		uint64_t ne = 1;
		for (uint32_t d = 0; d < nd; d++) {
			if ((st = u64(&c, what, &t->ne[d])))
				return st;
			if (t->ne[d] == 0 || t->ne[d] > (1ull << 40) || ne > UINT64_MAX / t->ne[d])
				return cl_error(CL_ERR_FORMAT, "%s: %s: dimension %u is %llu", g->path, what, d,
						(unsigned long long)t->ne[d]);
			ne *= t->ne[d];
		}
		if (ne > (1ull << 42))
			return cl_error(CL_ERR_FORMAT, "%s: %s: %llu elements is too many", g->path, what,
					(unsigned long long)ne);
		for (uint32_t d = nd; d < CL_GGUF_MAX_DIMS; d++)
			t->ne[d] = 1;
		if ((st = u32(&c, what, &ty)) || (st = u64(&c, what, &t->offset)))
			return st;
		char tb[32];
		if (ty >= N_GGML_TYPES || !ggml_types[ty].name)
			return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: unknown tensor type %u", g->path, what, ty);
		const struct ggml_type *gt = &ggml_types[ty];
		if (t->ne[0] % gt->blk)
			return cl_error(CL_ERR_FORMAT, "%s: %s: a row of %llu elements is not whole %s blocks of %u",
					g->path, what, (unsigned long long)t->ne[0],
					cl_gguf_ggml_type_name(ty, tb, sizeof tb), gt->blk);
		t->ggml_type = ty;
		t->dtype = gt->dt;
		t->nbytes = ne / gt->blk * gt->bytes;
		if (t->offset % g->alignment)
			return cl_error(CL_ERR_FORMAT, "%s: %s: offset %llu is not a multiple of the alignment %llu",
					g->path, what, (unsigned long long)t->offset, (unsigned long long)g->alignment);
		for (uint64_t j = 0; j < i; j++)
			if (strcmp(g->t[j].name, t->name) == 0)
				return cl_error(CL_ERR_FORMAT, "%s: %s appears twice", g->path, what);
		g->n_t = (int64_t)i + 1;
	}
	uint64_t pad = (g->alignment - c.off % g->alignment) % g->alignment;
	g->data_off = c.off + pad;
	if (g->n_t > 0 && g->data_off > g->size)
		return cl_error(CL_ERR_FORMAT, "%s: the data section would start at byte %llu, past the end (%llu bytes)",
				g->path, (unsigned long long)g->data_off, (unsigned long long)g->size);
	uint64_t room = g->size >= g->data_off ? g->size - g->data_off : 0;
	for (int64_t i = 0; i < g->n_t; i++) {
		struct cl_gguf_tensor *t = &g->t[i];
		if (t->offset > room || t->nbytes > room - t->offset)
			return cl_error(CL_ERR_FORMAT,
					"%s: tensor '%.100s': data ends at byte %llu, past the end of the file (%llu bytes)",
					g->path, t->name, (unsigned long long)(g->data_off + t->offset + t->nbytes),
					(unsigned long long)g->size);
		t->data = g->base + g->data_off + t->offset;
	}
	/* No two tensors may share bytes (a file that overlaps them is built to
	 * confuse): sort a copy of the extents by offset. */
	if (g->n_t > 1) {
		uint64_t(*ext)[2] = malloc((size_t)g->n_t * sizeof *ext);
		if (!ext)
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", g->path);
		for (int64_t i = 0; i < g->n_t; i++) {
			ext[i][0] = g->t[i].offset;
			ext[i][1] = (uint64_t)i;
		}
		qsort(ext, (size_t)g->n_t, sizeof *ext, cmp_ext);
		for (int64_t i = 1; i < g->n_t; i++) {
			const struct cl_gguf_tensor *a = &g->t[ext[i - 1][1]], *b = &g->t[ext[i][1]];
			if (a->offset + a->nbytes > b->offset) {
				st = cl_error(CL_ERR_FORMAT, "%s: tensors '%.100s' and '%.100s' overlap", g->path,
					      a->name, b->name);
				free(ext);
				return st;
			}
		}
		free(ext);
	}
	return CL_OK;
}

static enum cl_status finish(struct cl_gguf *g, struct cl_gguf **out)
{
	enum cl_status st = parse(g);
	if (st) {
		cl_gguf_free(g);
		return st;
	}
	*out = g;
	return CL_OK;
}

enum cl_status cl_gguf_open_mem(const void *buf, size_t n, const char *name, struct cl_gguf **out)
{
	*out = NULL;
	struct cl_gguf *g = calloc(1, sizeof *g);
	if (!g || !(g->path = strdup(name))) {
		free(g);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", name);
	}
	g->base = buf;
	g->size = n;
	return finish(g, out);
}

enum cl_status cl_gguf_open(const char *path, struct cl_gguf **out)
{
	struct stat sb;
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_error(CL_ERR_IO, "%s:", path);
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		int e = errno;
		close(fd);
		errno = e;
		return S_ISDIR(sb.st_mode) ? cl_error(CL_ERR_IO, "%s: a directory, not a GGUF file", path)
					   : cl_error(CL_ERR_IO, "%s: not a regular file", path);
	}
	struct cl_gguf *g = calloc(1, sizeof *g);
	if (!g || !(g->path = strdup(path))) {
		free(g);
		close(fd);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	g->size = (uint64_t)sb.st_size;
	if (g->size > 0) {
		void *p = mmap(NULL, (size_t)g->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			close(fd);
			cl_gguf_free(g);
			return cl_error(CL_ERR_IO, "%s: mmap:", path);
		}
		g->base = p;
		g->mapped = 1;
	} else {
		g->base = (const unsigned char *)"";
	}
	close(fd);
	return finish(g, out);
}

void cl_gguf_free(struct cl_gguf *g)
{
	if (!g)
		return;
	if (g->mapped)
		munmap((void *)g->base, (size_t)g->size);
	free(g->names);
	free(g->kv);
	free(g->t);
	free(g->path);
	free(g);
}

const char *cl_gguf_path(const struct cl_gguf *g) { return g->path; }
uint32_t cl_gguf_version(const struct cl_gguf *g) { return g->version; }
uint64_t cl_gguf_file_size(const struct cl_gguf *g) { return g->size; }
int64_t cl_gguf_n_kv(const struct cl_gguf *g) { return g->n_kv; }
int64_t cl_gguf_n_tensors(const struct cl_gguf *g) { return g->n_t; }

const struct cl_gguf_kv *cl_gguf_kv_at(const struct cl_gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_kv ? &g->kv[i] : NULL;
}

const struct cl_gguf_tensor *cl_gguf_tensor_at(const struct cl_gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_t ? &g->t[i] : NULL;
}

const struct cl_gguf_kv *cl_gguf_find(const struct cl_gguf *g, const char *key)
{
	for (int64_t i = 0; i < g->n_kv; i++)
		if (strcmp(g->kv[i].key, key) == 0)
			return &g->kv[i];
	return NULL;
}

const struct cl_gguf_tensor *cl_gguf_tensor(const struct cl_gguf *g, const char *name)
{
	for (int64_t i = 0; i < g->n_t; i++)
		if (strcmp(g->t[i].name, name) == 0)
			return &g->t[i];
	return NULL;
}

/* ------------------------------------------------------------- getters --- */

static const char *found(const struct cl_gguf_kv *kv, char *buf, size_t cap)
{
	if (kv->type == CL_GGUF_ARRAY)
		snprintf(buf, cap, "an array of %s", cl_gguf_type_name(kv->arr_type));
	else
		snprintf(buf, cap, "a %s", cl_gguf_type_name(kv->type));
	return buf;
}

static int is_int(enum cl_gguf_type t)
{
	return t == CL_GGUF_U8 || t == CL_GGUF_I8 || t == CL_GGUF_U16 || t == CL_GGUF_I16 || t == CL_GGUF_U32 ||
	       t == CL_GGUF_I32 || t == CL_GGUF_U64 || t == CL_GGUF_I64;
}

/* An integer of type t at p; *big set for a u64 above INT64_MAX. */
static int64_t read_int(enum cl_gguf_type t, const unsigned char *p, int *big)
{
	*big = 0;
	switch (t) {
	case CL_GGUF_U8: return p[0];
	case CL_GGUF_I8: return (int8_t)p[0];
	case CL_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
	case CL_GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
	case CL_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
	case CL_GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
	case CL_GGUF_U64: {
		uint64_t v;
		memcpy(&v, p, 8);
		*big = v > INT64_MAX;
		return (int64_t)(v > INT64_MAX ? INT64_MAX : v);
	}
	case CL_GGUF_I64: { int64_t v; memcpy(&v, p, 8); return v; }
	default: return 0;
	}
}

static enum cl_status absent(const struct cl_gguf *g, const char *key)
{
	return cl_error(CL_ERR_FORMAT, "%s: %s: missing", g->path, key);
}

/* A key of another type than the getter's: "expected WHAT, found ...". */
static enum cl_status wrong_type(const struct cl_gguf *g, const char *key, const char *what,
				 const struct cl_gguf_kv *kv)
{
	char b[64];
	return cl_error(CL_ERR_FORMAT, "%s: %s: expected %s, found %s", g->path, key, what, found(kv, b, sizeof b));
}

enum cl_status cl_gguf_int(const struct cl_gguf *g, const char *key, int required, int64_t dflt, int64_t lo,
			   int64_t hi, int64_t *out)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, key);
	if (!kv) {
		if (required)
			return absent(g, key);
		*out = dflt;
		return CL_OK;
	}
	if (!is_int(kv->type))
		return wrong_type(g, key, "an integer", kv);
	int big;
	int64_t v = read_int(kv->type, kv->val, &big);
	if (big || v < lo || v > hi)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected an integer in [%lld, %lld], found %s%lld", g->path,
				key, (long long)lo, (long long)hi, big ? "more than " : "", (long long)v);
	*out = v;
	return CL_OK;
}

enum cl_status cl_gguf_num(const struct cl_gguf *g, const char *key, int required, double dflt, double *out)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, key);
	if (!kv) {
		if (required)
			return absent(g, key);
		*out = dflt;
		return CL_OK;
	}
	if (kv->type == CL_GGUF_F32) {
		float f;
		memcpy(&f, kv->val, 4);
		*out = f;
	} else if (kv->type == CL_GGUF_F64) {
		memcpy(out, kv->val, 8);
	} else if (is_int(kv->type)) {
		int big;
		*out = (double)read_int(kv->type, kv->val, &big);
	} else {
		return wrong_type(g, key, "a number", kv);
	}
	if (*out != *out || *out - *out != 0)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected a finite number", g->path, key);
	return CL_OK;
}

enum cl_status cl_gguf_bool(const struct cl_gguf *g, const char *key, int required, int dflt, int *out)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, key);
	if (!kv) {
		if (required)
			return absent(g, key);
		*out = dflt;
		return CL_OK;
	}
	if (kv->type != CL_GGUF_BOOL)
		return wrong_type(g, key, "a bool", kv);
	*out = kv->val[0];
	return CL_OK;
}

enum cl_status cl_gguf_str(const struct cl_gguf *g, const char *key, int required, struct cl_gguf_str *out)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, key);
	out->p = NULL;
	out->n = 0;
	if (!kv)
		return required ? absent(g, key) : CL_OK;
	if (kv->type != CL_GGUF_STRING)
		return wrong_type(g, key, "a string", kv);
	memcpy(&out->n, kv->val, 8);
	out->p = (const char *)kv->val + 8;
	return CL_OK;
}

enum cl_status cl_gguf_arr(const struct cl_gguf *g, const char *key, int required, enum cl_gguf_type elem,
			   int64_t want_n, const struct cl_gguf_kv **out)
{
	const struct cl_gguf_kv *kv = cl_gguf_find(g, key);
	*out = NULL;
	if (!kv)
		return required ? absent(g, key) : CL_OK;
	int ok = kv->type == CL_GGUF_ARRAY &&
		 (kv->arr_type == elem || (is_int(elem) && is_int(kv->arr_type)) ||
		  (elem == CL_GGUF_F32 && kv->arr_type == CL_GGUF_F32));
	if (!ok) {
		char what[64];
		snprintf(what, sizeof what, "an array of %s", cl_gguf_type_name(elem));
		return wrong_type(g, key, what, kv);
	}
	if (want_n >= 0 && kv->n != (uint64_t)want_n)
		return cl_error(CL_ERR_FORMAT, "%s: %s: %llu elements, expected %lld", g->path, key,
				(unsigned long long)kv->n, (long long)want_n);
	*out = kv;
	return CL_OK;
}

float cl_gguf_arr_f32(const struct cl_gguf_kv *kv, uint64_t i)
{
	float f;
	memcpy(&f, kv->val + 4 * i, 4);
	return f;
}

int64_t cl_gguf_arr_int(const struct cl_gguf_kv *kv, uint64_t i)
{
	int big;
	return read_int(kv->arr_type, kv->val + type_sizes[kv->arr_type] * i, &big);
}

enum cl_status cl_gguf_arr_str(const struct cl_gguf *g, const struct cl_gguf_kv *kv, struct cl_gguf_str **out)
{
	*out = NULL;
	if (kv->type != CL_GGUF_ARRAY || kv->arr_type != CL_GGUF_STRING)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected an array of strings", g->path, kv->key);
	struct cl_gguf_str *s = malloc((kv->n ? (size_t)kv->n : 1) * sizeof *s);
	if (!s)
		return cl_error(CL_ERR_NOMEM, "%s: %s: out of memory", g->path, kv->key);
	/* The lengths were checked at open; walk them again. */
	const unsigned char *p = kv->val;
	for (uint64_t i = 0; i < kv->n; i++) {
		memcpy(&s[i].n, p, 8);
		s[i].p = (const char *)p + 8;
		p += 8 + s[i].n;
	}
	*out = s;
	return CL_OK;
}

/* ------------------------------------------------------------- locating --- */

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

int cl_gguf_locate(const char *path, char *file, size_t cap)
{
	struct stat sb;
	if (stat(path, &sb) != 0)
		return 0;
	if (S_ISREG(sb.st_mode)) {
		if (!ends_with(path, ".gguf"))
			return 0;
		snprintf(file, cap, "%s", path);
		return 1;
	}
	if (!S_ISDIR(sb.st_mode))
		return 0;
	char buf[4200];
	snprintf(buf, sizeof buf, "%s/config.json", path);
	if (stat(buf, &sb) == 0)
		return 0;
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	int n = 0;
	char first[256] = "", second[256] = "";
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !ends_with(e->d_name, ".gguf"))
			continue;
		if (n == 0)
			snprintf(first, sizeof first, "%s", e->d_name);
		else if (n == 1)
			snprintf(second, sizeof second, "%s", e->d_name);
		n++;
	}
	closedir(d);
	if (n == 0)
		return 0;
	if (n > 1) {
		cl_error(CL_ERR_FORMAT, "%s: holds %d GGUF files (%s, %s%s): name one with -m", path, n, first, second,
			 n > 2 ? ", ..." : "");
		return -1;
	}
	snprintf(file, cap, "%s/%s", path, first);
	return 1;
}

const unsigned char *cl_gguf_data(const struct cl_gguf *g)
{
	return g->base + g->data_off;
}

void cl_bytes_put(struct cl_bytes *b, const void *s, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n)
			cap *= 2;
		unsigned char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}
