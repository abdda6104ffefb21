/*
 * weights.c - safetensors files, memory-mapped and validated; typed getters
 * for config.json.
 *
 * A safetensors file is: an 8-byte little-endian length N, N bytes of JSON
 * (an object: tensor name -> {"dtype", "shape", "data_offsets": [begin, end]},
 * plus an optional "__metadata__"), then the data section, to which the
 * offsets are relative.  Everything in the header is checked against the file
 * before a pointer into it is handed out, so a damaged or hostile file gives a
 * message naming it and the fault, never a read outside the mapping.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cJSON.h>

#include "gguf.h"
#include "weights.h"

/* Headers of real checkpoints are tens of kilobytes; 100 MB stops a length
 * field of 2^63 from becoming a huge allocation. */
#define HEADER_MAX ((uint64_t)100 << 20)
#define INDEX_MAX ((size_t)64 << 20)
/* Integers in JSON arrive as doubles: beyond 2^53 they are not exact. */
#define JSON_INT_MAX 9007199254740992.0

struct st_file {
	char *path;             /* dir/name, for messages */
	unsigned char *map;     /* the whole file, PROT_READ */
	size_t size;
	const unsigned char *data; /* the data section: map + 8 + N */
	uint64_t data_size;
};

struct entry {
	char *name;
	int file;               /* index into files */
	enum cl_dtype dtype;    /* CL_DTYPE_COUNT: not F32/F16/BF16 */
	char stype[12];         /* as written: "F32", "I8", ... */
	int ndim;
	int64_t shape[CL_TENSOR_MAX_DIMS];
	uint64_t begin, end;    /* in the data section */
};

struct cl_weights {
	char *dir;
	int indexed;            /* names come from model.safetensors.index.json */
	struct cl_gguf *gguf;   /* a GGUF file instead: its one "file" has no map of ours */
	struct st_file *files;  /* (nfiles) */
	int nfiles;
	struct entry *ents;     /* (nents), sorted by name */
	int64_t nents, cap;
	uint64_t bytes;
};

/* Element sizes of every safetensors dtype, so that a file holding, say, an
 * I64 buffer beside the weights can still be opened and size-checked. */
static const struct {
	const char *name;
	unsigned size;
	enum cl_dtype dtype;
} stypes[] = {
	{ "F32", 4, CL_DTYPE_F32 },  { "F16", 2, CL_DTYPE_F16 },  { "BF16", 2, CL_DTYPE_BF16 },
	{ "F64", 8, CL_DTYPE_COUNT }, { "I64", 8, CL_DTYPE_COUNT }, { "U64", 8, CL_DTYPE_COUNT },
	{ "I32", 4, CL_DTYPE_COUNT }, { "U32", 4, CL_DTYPE_COUNT }, { "I16", 2, CL_DTYPE_COUNT },
	{ "U16", 2, CL_DTYPE_COUNT }, { "I8", 1, CL_DTYPE_COUNT },  { "U8", 1, CL_DTYPE_COUNT },
	{ "BOOL", 1, CL_DTYPE_COUNT }, { "F8_E4M3", 1, CL_DTYPE_COUNT },
	{ "F8_E5M2", 1, CL_DTYPE_COUNT },
};

static char *path_join(const char *dir, const char *name)
{
	size_t a = strlen(dir), b = strlen(name);
	char *p = malloc(a + b + 2);
	if (!p)
		return NULL;
	memcpy(p, dir, a);
	p[a] = '/';
	memcpy(p + a + 1, name, b + 1);
	return p;
}

/* "[11008, 4096]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape)
{
	size_t n = 0;
	n += (size_t)snprintf(buf + n, cap - n, "[");
	for (int i = 0; i < ndim && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (n < cap)
		snprintf(buf + n, cap - n, "]");
	return buf;
}

/* Line and column (1-based) of byte `off` in s. */
static void line_col(const char *s, size_t off, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

/* Parse len bytes at s (s[len] must be 0) as a JSON object; `what` names it. */
static enum cl_status parse_object(const char *what, const char *s, size_t len, cJSON **out)
{
	*out = NULL;
	if (memchr(s, 0, len)) {
		size_t off = (size_t)((const char *)memchr(s, 0, len) - s);
		int line, col;
		line_col(s, off, &line, &col);
		return cl_error(CL_ERR_FORMAT, "%s: invalid JSON at line %d, column %d: a NUL byte",
				what, line, col);
	}
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts(s, len + 1, &end, 1);
	if (!j) {
		int line, col;
		size_t off = end && end >= s && end <= s + len ? (size_t)(end - s) : 0;
		line_col(s, off, &line, &col);
		if (off >= len)
			return cl_error(CL_ERR_FORMAT, "%s: invalid JSON: ends early (line %d, column %d)",
					what, line, col);
		return cl_error(CL_ERR_FORMAT, "%s: invalid JSON at line %d, column %d", what, line, col);
	}
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return cl_error(CL_ERR_FORMAT, "%s: expected a JSON object", what);
	}
	*out = j;
	return CL_OK;
}

enum cl_status cl_json_read_file(const char *path, size_t max_bytes, struct cJSON **out)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_error(CL_ERR_IO, "%s:", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return cl_error(CL_ERR_IO, "%s:", path);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return cl_error(CL_ERR_IO, "%s: is a directory", path);
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max_bytes) {
		close(fd);
		return cl_error(CL_ERR_FORMAT, "%s: larger than %zu bytes", path, max_bytes);
	}
	/* Read up to max_bytes + 1 so that a pipe or a growing file is bounded too. */
	size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 4096, n = 0;
	if (cap > max_bytes + 1)
		cap = max_bytes + 1;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	for (;;) {
		if (n == cap) {
			if (cap > max_bytes)
				break;
			size_t nc = cap * 2 > max_bytes + 1 ? max_bytes + 1 : cap * 2;
			char *nb = realloc(buf, nc + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
			}
			buf = nb;
			cap = nc;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			close(fd);
			return cl_error(CL_ERR_IO, "%s:", path);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max_bytes) {
		free(buf);
		return cl_error(CL_ERR_FORMAT, "%s: larger than %zu bytes", path, max_bytes);
	}
	buf[n] = 0;
	enum cl_status s = parse_object(path, buf, n, out);
	free(buf);
	return s;
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int json_uint(const cJSON *v, uint64_t *out)
{
	if (!cJSON_IsNumber(v))
		return 0;
	double d = v->valuedouble;
	if (!(d >= 0 && d <= JSON_INT_MAX) || d != floor(d))
		return 0;
	*out = (uint64_t)d;
	return 1;
}

static enum cl_status add_entry(struct cl_weights *w, struct entry *e)
{
	if (w->nents == w->cap) {
		int64_t nc = w->cap ? w->cap * 2 : 64;
		struct entry *ne = realloc(w->ents, (size_t)nc * sizeof *ne);
		if (!ne)
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", w->dir);
		w->ents = ne;
		w->cap = nc;
	}
	w->ents[w->nents++] = *e;
	return CL_OK;
}

/* One tensor's header entry; e->name is not set here. */
static enum cl_status parse_tensor(const struct st_file *f, const char *name, const cJSON *v,
				   struct entry *e)
{
	const char *path = f->path;
	if (!cJSON_IsObject(v))
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected an object", path, name);
	const cJSON *dt = cJSON_GetObjectItemCaseSensitive(v, "dtype");
	const cJSON *sh = cJSON_GetObjectItemCaseSensitive(v, "shape");
	const cJSON *off = cJSON_GetObjectItemCaseSensitive(v, "data_offsets");
	if (!cJSON_IsString(dt))
		return cl_error(CL_ERR_FORMAT, "%s: %s: dtype: expected a string", path, name);
	unsigned esize = 0;
	for (size_t i = 0; i < sizeof stypes / sizeof stypes[0]; i++)
		if (strcmp(dt->valuestring, stypes[i].name) == 0) {
			esize = stypes[i].size;
			e->dtype = stypes[i].dtype;
			snprintf(e->stype, sizeof e->stype, "%s", stypes[i].name);
		}
	if (!esize)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: unknown dtype \"%.32s\"", path, name,
				dt->valuestring);
	if (!cJSON_IsArray(sh))
		return cl_error(CL_ERR_FORMAT, "%s: %s: shape: expected an array", path, name);
	int nd = cJSON_GetArraySize(sh);
	if (nd > CL_TENSOR_MAX_DIMS)
		return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: shape: %d dimensions (at most %d)", path,
				name, nd, CL_TENSOR_MAX_DIMS);
	e->ndim = nd;
	uint64_t count = 1;
	int overflow = 0;
	const cJSON *d;
	int i = 0;
	cJSON_ArrayForEach(d, sh) {
		uint64_t u;
		if (!json_uint(d, &u))
			return cl_error(CL_ERR_FORMAT, "%s: %s: shape: expected non-negative integers",
					path, name);
		e->shape[i++] = (int64_t)u;
		if (__builtin_mul_overflow(count, u, &count))
			overflow = 1;
	}
	uint64_t bytes;
	if (overflow || __builtin_mul_overflow(count, (uint64_t)esize, &bytes))
		return cl_error(CL_ERR_FORMAT, "%s: %s: shape: too large", path, name);
	if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
	    !json_uint(cJSON_GetArrayItem(off, 0), &e->begin) ||
	    !json_uint(cJSON_GetArrayItem(off, 1), &e->end))
		return cl_error(CL_ERR_FORMAT,
				"%s: %s: data_offsets: expected [begin, end], non-negative integers",
				path, name);
	if (e->begin > e->end)
		return cl_error(CL_ERR_FORMAT, "%s: %s: data_offsets: begin %llu after end %llu", path,
				name, (unsigned long long)e->begin, (unsigned long long)e->end);
	if (e->end > f->data_size)
		return cl_error(CL_ERR_FORMAT,
				"%s: %s: data_offsets: [%llu, %llu] past the end of the data (%llu bytes)",
				path, name, (unsigned long long)e->begin, (unsigned long long)e->end,
				(unsigned long long)f->data_size);
	if (e->end - e->begin != bytes) {
		char sb[160];
		return cl_error(CL_ERR_FORMAT,
				"%s: %s: data_offsets: %llu bytes, but shape %s of %s takes %llu", path,
				name, (unsigned long long)(e->end - e->begin),
				shape_str(sb, sizeof sb, e->ndim, e->shape), e->stype,
				(unsigned long long)bytes);
	}
	return CL_OK;
}

static int cmp_begin(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
	if (x->begin != y->begin)
		return x->begin < y->begin ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* No two tensors of file `fi` (entries from `first` on) share a byte. */
static enum cl_status check_overlap(struct cl_weights *w, int64_t first)
{
	int64_t n = w->nents - first;
	if (n < 2)
		return CL_OK;
	struct entry **v = malloc((size_t)n * sizeof *v);
	if (!v)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", w->dir);
	for (int64_t i = 0; i < n; i++)
		v[i] = &w->ents[first + i];
	qsort(v, (size_t)n, sizeof *v, cmp_begin);
	enum cl_status s = CL_OK;
	const struct entry *last = NULL; /* the non-empty range reaching furthest so far */
	for (int64_t i = 0; i < n; i++) {
		if (v[i]->begin == v[i]->end)
			continue;
		if (last && v[i]->begin < last->end) {
			s = cl_error(CL_ERR_FORMAT, "%s: %s and %s: data ranges overlap",
				     w->files[v[i]->file].path, last->name, v[i]->name);
			break;
		}
		if (!last || v[i]->end > last->end)
			last = v[i];
	}
	free(v);
	return s;
}

/* cl's own keys in __metadata__ (cl-quantize(1), FILE FORMAT): "cl.format",
 * the version, and "cl.quant.NAME": "q8_0" or "q4_0" for each tensor NAME
 * stored as U8 [rows, row bytes] in blocks of 32; that entry then reads as
 * the block type with its logical shape [rows, cols].  Other keys are
 * ignored, as safetensors readers do. */
static enum cl_status read_cl_meta(struct cl_weights *w, const struct st_file *f, const cJSON *meta,
				   int64_t first)
{
	const char *path = f->path;
	if (!meta)
		return CL_OK;
	const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(meta, "cl.format");
	int nquant = 0;
	const cJSON *v;
	cJSON_ArrayForEach(v, meta) {
		if (!cJSON_IsString(v))
			return cl_error(CL_ERR_FORMAT, "%s: __metadata__: %s: expected a string", path,
					v->string);
		nquant += strncmp(v->string, "cl.quant.", 9) == 0;
	}
	if (fmt) {
		char want[16];
		snprintf(want, sizeof want, "%d", CL_WEIGHTS_FORMAT);
		if (strcmp(fmt->valuestring, want) != 0)
			return cl_error(CL_ERR_UNSUPPORTED,
					"%s: cl.format \"%.32s\": this cl reads version %s", path,
					fmt->valuestring, want);
	} else if (nquant) {
		return cl_error(CL_ERR_FORMAT, "%s: cl.quant keys without cl.format", path);
	}
	cJSON_ArrayForEach(v, meta) {
		if (strncmp(v->string, "cl.quant.", 9) != 0)
			continue;
		const char *name = v->string + 9;
		enum cl_dtype dt;
		if (cl_dtype_parse(v->valuestring, &dt) || cl_dtype_block(dt) < 2)
			return cl_error(CL_ERR_UNSUPPORTED, "%s: %s: cl.quant \"%.32s\": expected a block type "
					"(q8_0, q4_0, q4_1, q5_0, q5_1, q2_k to q6_k)", path, name, v->valuestring);
		struct entry *e = NULL;
		for (int64_t i = first; i < w->nents && !e; i++)
			if (strcmp(w->ents[i].name, name) == 0)
				e = &w->ents[i];
		if (!e)
			return cl_error(CL_ERR_FORMAT, "%s: cl.quant.%s: no such tensor in this file", path, name);
		if (e->dtype != CL_DTYPE_COUNT || strcmp(e->stype, "U8") != 0 || e->ndim != 2)
			return cl_error(CL_ERR_FORMAT, "%s: %s: cl.quant %s wants a 2-D U8 tensor, found %d-D %s",
					path, name, v->valuestring, e->ndim, e->stype);
		int64_t nb = cl_dtype_block(dt), bb = (int64_t)cl_dtype_size(dt, nb);
		if (e->shape[1] % bb != 0 || e->shape[1] == 0)
			return cl_error(CL_ERR_FORMAT,
					"%s: %s: %lld bytes a row is not a whole number of %s blocks (%lld bytes)",
					path, name, (long long)e->shape[1], v->valuestring, (long long)bb);
		e->dtype = dt;
		e->shape[1] = e->shape[1] / bb * nb;
		for (size_t c = 0; c + 1 < sizeof e->stype && v->valuestring[c]; c++)
			e->stype[c] = (char)toupper((unsigned char)v->valuestring[c]);
		e->stype[strlen(v->valuestring) < sizeof e->stype ? strlen(v->valuestring) : sizeof e->stype - 1] = 0;
	}
	return CL_OK;
}

/* Map the file and read its header into w's entries. */
static enum cl_status open_file(struct cl_weights *w, const char *path)
{
	struct st_file *nf = realloc(w->files, (size_t)(w->nfiles + 1) * sizeof *nf);
	if (!nf)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	w->files = nf;
	int fi = w->nfiles;
	struct st_file *f = &w->files[fi];
	memset(f, 0, sizeof *f);
	if (!(f->path = strdup(path)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	w->nfiles++;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cl_error(CL_ERR_IO, "%s:", path);
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return cl_error(CL_ERR_IO, "%s:", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return cl_error(CL_ERR_FORMAT, "%s: not a regular file", path);
	}
	if (st.st_size < 8) {
		close(fd);
		return cl_error(CL_ERR_FORMAT, "%s: %lld bytes: too short for a safetensors header",
				path, (long long)st.st_size);
	}
	f->size = (size_t)st.st_size;
	void *m = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return cl_error(CL_ERR_IO, "%s: mmap:", path);
	f->map = m;

	uint64_t hn = 0;
	for (int i = 7; i >= 0; i--)
		hn = hn << 8 | f->map[i];
	if (hn > f->size - 8)
		return cl_error(CL_ERR_FORMAT,
				"%s: header length %llu runs past the end of the file (%zu bytes)", path,
				(unsigned long long)hn, f->size);
	if (hn > HEADER_MAX)
		return cl_error(CL_ERR_FORMAT, "%s: header length %llu is over the limit of %llu",
				path, (unsigned long long)hn, (unsigned long long)HEADER_MAX);
	f->data = f->map + 8 + hn;
	f->data_size = f->size - 8 - hn;

	/* cJSON wants a terminating NUL; the mapping has none, so parse a copy. */
	char *hdr = malloc((size_t)hn + 1);
	if (!hdr)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	memcpy(hdr, f->map + 8, (size_t)hn);
	hdr[hn] = 0;
	char what[4200];
	snprintf(what, sizeof what, "%s: header", path);
	cJSON *j;
	enum cl_status s = parse_object(what, hdr, (size_t)hn, &j);
	free(hdr);
	if (s)
		return s;

	int64_t first = w->nents;
	const cJSON *v;
	cJSON_ArrayForEach(v, j) {
		const char *name = v->string;
		if (strcmp(name, "__metadata__") == 0) {
			if (!cJSON_IsObject(v)) {
				s = cl_error(CL_ERR_FORMAT, "%s: __metadata__: expected an object", path);
				break;
			}
			continue;
		}
		struct entry e;
		memset(&e, 0, sizeof e);
		e.file = fi;
		if ((s = parse_tensor(f, name, v, &e)))
			break;
		if (!(e.name = strdup(name))) {
			s = cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
			break;
		}
		if ((s = add_entry(w, &e))) {
			free(e.name);
			break;
		}
		w->bytes += e.end - e.begin;
	}
	if (!s)
		s = read_cl_meta(w, f, cJSON_GetObjectItemCaseSensitive(j, "__metadata__"), first);
	cJSON_Delete(j);
	if (s)
		return s;
	return check_overlap(w, first);
}

static int64_t find(const struct cl_weights *w, const char *name)
{
	int64_t lo = 0, hi = w->nents;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		int c = strcmp(w->ents[mid].name, name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static enum cl_status sort_entries(struct cl_weights *w)
{
	if (w->nents > 1) /* qsort's base may not be NULL, even for 0 elements */
		qsort(w->ents, (size_t)w->nents, sizeof *w->ents, cmp_name);
	for (int64_t i = 1; i < w->nents; i++) {
		const struct entry *a = &w->ents[i - 1], *b = &w->ents[i];
		if (strcmp(a->name, b->name) != 0)
			continue;
		if (a->file == b->file)
			return cl_error(CL_ERR_FORMAT, "%s: %s: appears twice", w->files[b->file].path,
					b->name);
		return cl_error(CL_ERR_FORMAT, "%s: %s: appears twice (also in %s)",
				w->files[b->file].path, b->name, w->files[a->file].path);
	}
	return CL_OK;
}

/* A shard name from the index: a plain file name in dir, never a path. */
static int plain_name(const char *s)
{
	return *s && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static enum cl_status open_index(struct cl_weights *w, const char *ipath)
{
	cJSON *j;
	enum cl_status s = cl_json_read_file(ipath, INDEX_MAX, &j);
	if (s)
		return s;
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map"), *v;
	if (!cJSON_IsObject(map)) {
		cJSON_Delete(j);
		return cl_error(CL_ERR_FORMAT, "%s: weight_map: expected an object", ipath);
	}
	/* Each distinct shard once, in order of first mention. */
	cJSON_ArrayForEach(v, map) {
		if (!cJSON_IsString(v) || !plain_name(v->valuestring)) {
			s = cl_error(CL_ERR_FORMAT, "%s: weight_map: %s: expected a file name", ipath,
				     v->string);
			break;
		}
		int seen = 0;
		for (int i = 0; i < w->nfiles && !seen; i++) {
			const char *base = strrchr(w->files[i].path, '/');
			seen = strcmp(base ? base + 1 : w->files[i].path, v->valuestring) == 0;
		}
		if (seen)
			continue;
		char *p = path_join(w->dir, v->valuestring);
		if (!p) {
			s = cl_error(CL_ERR_NOMEM, "%s: out of memory", ipath);
			break;
		}
		s = open_file(w, p);
		free(p);
		if (s)
			break;
	}
	if (!s)
		s = sort_entries(w);
	/* Every name the index promises is in the shard it names. */
	if (!s)
		cJSON_ArrayForEach(v, map) {
			int64_t k = find(w, v->string);
			const char *fp = k >= 0 ? w->files[w->ents[k].file].path : NULL;
			const char *base = fp ? strrchr(fp, '/') : NULL;
			if (!fp || strcmp(base ? base + 1 : fp, v->valuestring) != 0) {
				char *p = path_join(w->dir, v->valuestring);
				s = cl_error(CL_ERR_FORMAT, "%s: %s: mapped to %s, which lacks it", ipath,
					     v->string, p ? p : v->valuestring);
				free(p);
				break;
			}
		}
	cJSON_Delete(j);
	return s;
}

static int has_suffix(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && strcmp(s + a - b, suf) == 0;
}

/* No index and no model.safetensors: the one *.safetensors file in dir. */
static enum cl_status open_lone(struct cl_weights *w)
{
	DIR *d = opendir(w->dir);
	if (!d)
		return cl_error(CL_ERR_IO, "%s:", w->dir);
	char *found = NULL;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !has_suffix(de->d_name, ".safetensors"))
			continue;
		if (n++ == 0)
			found = strdup(de->d_name);
	}
	closedir(d);
	enum cl_status s;
	if (n == 0)
		s = cl_error(CL_ERR_IO, "%s: no model.safetensors, model.safetensors.index.json "
				       "or other *.safetensors file", w->dir);
	else if (n > 1)
		s = cl_error(CL_ERR_FORMAT, "%s: %d *.safetensors files but no "
					   "model.safetensors.index.json to say which is which",
			     w->dir, n);
	else if (!found)
		s = cl_error(CL_ERR_NOMEM, "%s: out of memory", w->dir);
	else {
		char *p = path_join(w->dir, found);
		s = p ? open_file(w, p) : cl_error(CL_ERR_NOMEM, "%s: out of memory", w->dir);
		free(p);
	}
	free(found);
	return s;
}

/* A GGUF file: its tensors under their Hugging Face names, shapes [rows,
 * cols] (GGUF lists ne[0], the fastest-varying, first), data in the
 * mapping cl_gguf owns. */
static enum cl_status open_gguf(struct cl_weights *w, const char *path)
{
	enum cl_status s = cl_gguf_open(path, &w->gguf);
	if (s)
		return s;
	if (!(w->files = calloc(1, sizeof *w->files)) || !(w->files[0].path = strdup(path)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	w->nfiles = 1;
	w->files[0].data = cl_gguf_data(w->gguf);
	w->files[0].size = cl_gguf_file_size(w->gguf);
	char arch[64];
	cl_gguf_arch(w->gguf, arch, sizeof arch);
	for (int64_t i = 0; i < cl_gguf_n_tensors(w->gguf); i++) {
		const struct cl_gguf_tensor *t = cl_gguf_tensor_at(w->gguf, i);
		struct entry e;
		memset(&e, 0, sizeof e);
		char buf[256];
		if (!(e.name = strdup(cl_gguf_hf_name(arch, t->name, buf, sizeof buf))))
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
		e.dtype = t->dtype;
		cl_gguf_ggml_type_name(t->ggml_type, e.stype, sizeof e.stype);
		e.ndim = t->ndim;
		for (int d = 0; d < t->ndim; d++)
			e.shape[d] = (int64_t)t->ne[t->ndim - 1 - d];
		e.begin = t->offset;
		e.end = t->offset + t->nbytes;
		if ((s = add_entry(w, &e))) {
			free(e.name);
			return s;
		}
		w->bytes += t->nbytes;
	}
	return CL_OK;
}

static int exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

enum cl_status cl_weights_open(const char *dir, struct cl_weights **out)
{
	*out = NULL;
	struct cl_weights *w = calloc(1, sizeof *w);
	if (!w || !(w->dir = strdup(dir))) {
		free(w);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
	}
	struct stat st;
	enum cl_status s;
	char gpath[4200];
	int gg = cl_gguf_locate(dir, gpath, sizeof gpath);
	if (gg < 0) {
		s = CL_ERR_FORMAT;
	} else if (gg > 0) {
		s = open_gguf(w, gpath);
	} else if (stat(dir, &st) < 0) {
		s = cl_error(CL_ERR_IO, "%s:", dir);
	} else if (!S_ISDIR(st.st_mode)) {
		s = open_file(w, dir);
	} else {
		char *ipath = path_join(dir, "model.safetensors.index.json");
		char *mpath = path_join(dir, "model.safetensors");
		if (!ipath || !mpath)
			s = cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
		else if (exists(ipath)) {
			w->indexed = 1;
			s = open_index(w, ipath);
		} else if (exists(mpath))
			s = open_file(w, mpath);
		else
			s = open_lone(w);
		free(ipath);
		free(mpath);
	}
	if (!s && !w->indexed)
		s = sort_entries(w);
	if (s) {
		cl_weights_free(w);
		return s;
	}
	*out = w;
	return CL_OK;
}

void cl_weights_free(struct cl_weights *w)
{
	if (!w)
		return;
	for (int i = 0; i < w->nfiles; i++) {
		if (w->files[i].map)
			munmap(w->files[i].map, w->files[i].size);
		free(w->files[i].path);
	}
	for (int64_t i = 0; i < w->nents; i++)
		free(w->ents[i].name);
	free(w->files);
	free(w->ents);
	free(w->dir);
	cl_gguf_free(w->gguf);
	free(w);
}

const struct cl_gguf *cl_weights_gguf(const struct cl_weights *w)
{
	return w->gguf;
}

int cl_weights_has(const struct cl_weights *w, const char *name)
{
	return find(w, name) >= 0;
}

int64_t cl_weights_count(const struct cl_weights *w)
{
	return w->nents;
}

uint64_t cl_weights_bytes(const struct cl_weights *w)
{
	return w->bytes;
}

static void view(const struct cl_weights *w, const struct entry *e, struct cl_tensor *t)
{
	const struct st_file *f = &w->files[e->file];
	memset(t, 0, sizeof *t);
	t->name = e->name;
	t->data = f->data + e->begin;
	t->dtype = e->dtype;
	t->ndim = e->ndim;
	memcpy(t->shape, e->shape, sizeof t->shape);
	t->file = f->path;
	t->stype = e->stype;
	t->nbytes = e->end - e->begin;
}

static enum cl_status missing(const struct cl_weights *w, const char *name)
{
	if (w->indexed)
		return cl_error(CL_ERR_FORMAT, "%s: %s: missing (not in model.safetensors.index.json)",
				w->dir, name);
	return cl_error(CL_ERR_FORMAT, "%s: %s: missing", w->nfiles ? w->files[0].path : w->dir,
			name);
}

/* The checks of cl_weights_get on entry e. */
static enum cl_status check(const struct cl_weights *w, const struct entry *e, int ndim,
			    const int64_t *shape, struct cl_tensor *out)
{
	const char *path = w->files[e->file].path;
	if (e->dtype == CL_DTYPE_COUNT)
		return cl_error(CL_ERR_UNSUPPORTED,
				"%s: %s: dtype %s is not supported (F32, F16, BF16, cl-quantize's Q8_0 and Q4_0, "
				"and GGUF's Q4_1, Q5_0, Q5_1 and Q2_K to Q6_K)",
				path, e->name, e->stype);
	if (shape) {
		int same = ndim == e->ndim;
		for (int i = 0; same && i < ndim; i++)
			same = shape[i] == e->shape[i];
		if (!same) {
			char a[160], b[160];
			return cl_error(CL_ERR_FORMAT, "%s: %s: expected shape %s, found %s", path,
					e->name, shape_str(a, sizeof a, ndim, shape),
					shape_str(b, sizeof b, e->ndim, e->shape));
		}
	}
	view(w, e, out);
	return CL_OK;
}

enum cl_status cl_weights_get(const struct cl_weights *w, const char *name, int ndim,
			      const int64_t *shape, struct cl_tensor *out)
{
	int64_t k = find(w, name);
	if (k < 0)
		return missing(w, name);
	return check(w, &w->ents[k], ndim, shape, out);
}

enum cl_status cl_weights_get_any(const struct cl_weights *w, const char *const *names, int ndim,
				  const int64_t *shape, struct cl_tensor *out)
{
	for (int i = 0; names[i]; i++) {
		int64_t k = find(w, names[i]);
		if (k >= 0)
			return check(w, &w->ents[k], ndim, shape, out);
	}
	if (!names[0])
		return cl_error(CL_ERR_RANGE, "%s: no tensor name given", w->dir);
	enum cl_status s = missing(w, names[0]);
	if (names[1]) {
		char buf[1024];
		size_t n = (size_t)snprintf(buf, sizeof buf, "%s (also tried", cl_errmsg());
		for (int i = 1; names[i] && n < sizeof buf; i++)
			n += (size_t)snprintf(buf + n, sizeof buf - n, "%s %s", i > 1 ? "," : "",
					      names[i]);
		if (n < sizeof buf)
			snprintf(buf + n, sizeof buf - n, ")");
		cl_error(s, "%s", buf);
	}
	return s;
}

void cl_weights_each(const struct cl_weights *w,
		     void (*fn)(void *arg, const char *name, const struct cl_tensor *t), void *arg)
{
	for (int64_t i = 0; i < w->nents; i++) {
		struct cl_tensor t;
		view(w, &w->ents[i], &t);
		fn(arg, w->ents[i].name, &t);
	}
}

/* ------------------------------------------------------------- config.json --- */

/* The value as JSON, shortened, for "found ..." in messages. */
static const char *found_str(const cJSON *v, char *buf, size_t cap)
{
	char *p = cJSON_PrintUnformatted(v);
	if (!p) {
		snprintf(buf, cap, "?");
		return buf;
	}
	if (strlen(p) > 40)
		snprintf(buf, cap, "%.37s...", p);
	else
		snprintf(buf, cap, "%s", p);
	cJSON_free(p);
	return buf;
}

/* The item, or NULL when absent or JSON null.  obj may be NULL (all absent). */
static const cJSON *item(const cJSON *obj, const char *key)
{
	const cJSON *v = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
	return v && !cJSON_IsNull(v) ? v : NULL;
}

static enum cl_status absent(const char *file, const char *key)
{
	return cl_error(CL_ERR_FORMAT, "%s: %s: missing", file, key);
}

enum cl_status cl_json_int(const struct cJSON *obj, const char *file, const char *key, int required,
			   int64_t dflt, int64_t lo, int64_t hi, int64_t *out)
{
	const cJSON *v = item(obj, key);
	if (!v) {
		if (required)
			return absent(file, key);
		*out = dflt;
		return CL_OK;
	}
	double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
	if (d == floor(d) && d >= -JSON_INT_MAX && d <= JSON_INT_MAX && d >= (double)lo &&
	    d <= (double)hi && (int64_t)d >= lo && (int64_t)d <= hi) {
		*out = (int64_t)d;
		return CL_OK;
	}
	char f[48];
	found_str(v, f, sizeof f);
	if (lo == 1 && hi >= INT32_MAX)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected a positive integer, found %s", file,
				key, f);
	if (lo == 0 && hi >= INT32_MAX)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected a non-negative integer, found %s",
				file, key, f);
	return cl_error(CL_ERR_FORMAT, "%s: %s: expected an integer from %lld to %lld, found %s",
			file, key, (long long)lo, (long long)hi, f);
}

enum cl_status cl_json_num(const struct cJSON *obj, const char *file, const char *key, int required,
			   double dflt, double lo, double hi, double *out)
{
	const cJSON *v = item(obj, key);
	if (!v) {
		if (required)
			return absent(file, key);
		*out = dflt;
		return CL_OK;
	}
	if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= lo &&
	    v->valuedouble <= hi) {
		*out = v->valuedouble;
		return CL_OK;
	}
	char f[48];
	found_str(v, f, sizeof f);
	return cl_error(CL_ERR_FORMAT, "%s: %s: expected a number from %g to %g, found %s", file, key,
			lo, hi, f);
}

enum cl_status cl_json_bool(const struct cJSON *obj, const char *file, const char *key, int required,
			    int dflt, int *out)
{
	const cJSON *v = item(obj, key);
	if (!v) {
		if (required)
			return absent(file, key);
		*out = dflt;
		return CL_OK;
	}
	if (cJSON_IsBool(v)) {
		*out = cJSON_IsTrue(v);
		return CL_OK;
	}
	char f[48];
	found_str(v, f, sizeof f);
	return cl_error(CL_ERR_FORMAT, "%s: %s: expected true or false, found %s", file, key, f);
}

enum cl_status cl_json_str(const struct cJSON *obj, const char *file, const char *key, int required,
			   const char *dflt, const char **out)
{
	const cJSON *v = item(obj, key);
	if (!v) {
		if (required)
			return absent(file, key);
		*out = dflt;
		return CL_OK;
	}
	if (cJSON_IsString(v)) {
		*out = v->valuestring;
		return CL_OK;
	}
	char f[48];
	found_str(v, f, sizeof f);
	return cl_error(CL_ERR_FORMAT, "%s: %s: expected a string, found %s", file, key, f);
}
