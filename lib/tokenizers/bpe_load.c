/*
 * bpe_load.c - the readers of GPT-2's byte-level BPE tokenizer: vocab.json +
 * merges.txt, a Hugging Face tokenizer.json, or a GGUF file's
 * tokenizer.ggml.* keys, each into the pieces of struct cl_tokenizer and the
 * tables of struct bpe (bpe.h) that bpe.c encodes with.
 *
 * A reader refuses what it cannot represent rather than guess: ids must run
 * from 0 without gaps, every byte must have a token, a merge's halves and
 * its result must be in the vocabulary, and tokenizer.json options other
 * than GPT-2's are refused by name.  A failure frees all that was read; its
 * message names the file and, where there is one, the field or line.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cJSON.h>

#include "bpe.h"
#include "gguf.h"

#define MAX_VOCAB (1 << 24) /* ids beyond this are a broken file, not a big vocabulary */

/* -------------------------------------------------- bytes_to_unicode --- */

/* GPT-2 spells byte b as U+00b when b is printable Latin-1 (other than the
 * space and soft hyphen), and the other 68 bytes, in order, as U+0100... */
static int byte_printable(int b)
{
	return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

static uint32_t byte_to_cp(int b)
{
	if (byte_printable(b))
		return (uint32_t)b;
	uint32_t n = 0;
	for (int i = 0; i < b; i++)
		n += !byte_printable(i);
	return 256 + n;
}

/* The byte code point cp spells, or -1 when it spells none. */
static int cp_to_byte(uint32_t cp)
{
	if (cp < 256)
		return byte_printable((int)cp) ? (int)cp : -1;
	if (cp >= 256 + 68)
		return -1;
	uint32_t n = 0;
	for (int b = 0; b < 256; b++)
		if (!byte_printable(b) && n++ == cp - 256)
			return b;
	return -1;
}

/* ------------------------------------------------------------ loading --- */

/* What the files give, before the tables are built. */
struct load {
	const char *path;       /* the file being read, for messages */
	struct cl_tokenizer *t;
	struct bpe *b;
	char *cat;              /* (catcap) scratch for merged strings */
	size_t catcap;
	int32_t merges_cap;
	const char *vocab_what; /* where the vocabulary is in the file, for messages */
};

static enum cl_status read_all(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	*out = NULL;
	if (!f)
		return cl_error(CL_ERR_IO, "%s:", path);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n == cap) {
			char *nb = cap > SIZE_MAX / 2 ? NULL : realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		size_t k = fread(buf + n, 1, cap - n, f);
		n += k;
		if (k == 0)
			break;
	}
	if (!buf) {
		fclose(f);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", path);
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return cl_error(CL_ERR_IO, "%s: read error", path);
	}
	fclose(f);
	*out = buf;
	*len = n;
	return CL_OK;
}

static enum cl_status parse_json(const char *path, cJSON **root)
{
	char *text;
	size_t len;
	enum cl_status st = read_all(path, &text, &len);
	if (st)
		return st;
	const char *end = NULL;
	*root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!*root) {
		size_t at = end && end >= text && end <= text + len ? (size_t)(end - text) : 0;
		st = len == 0 ? cl_error(CL_ERR_FORMAT, "%s: empty file", path)
			      : cl_error(CL_ERR_FORMAT, "%s: not valid JSON (at byte %zu of %zu)", path,
					 at, len);
	}
	free(text);
	return st;
}

static enum cl_status id_of(const char *path, const char *what, const cJSON *v, int32_t *id)
{
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble >= MAX_VOCAB ||
	    v->valuedouble != (double)(int32_t)v->valuedouble)
		return cl_error(CL_ERR_FORMAT, "%s: %s: expected a token id (an integer from 0 to %d)",
				path, what, MAX_VOCAB - 1);
	*id = (int32_t)v->valuedouble;
	return CL_OK;
}

/* Set piece `id` to s; a second, different text for one id is an error. */
static enum cl_status set_piece(struct load *L, int32_t id, const char *s)
{
	char **p = &L->t->pieces[id];
	if (*p)
		return strcmp(*p, s) == 0 ? CL_OK
					  : cl_error(CL_ERR_FORMAT, "%s: id %d is both \"%s\" and \"%s\"",
						     L->path, id, *p, s);
	if (!(*p = strdup(s)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	return CL_OK;
}

/* Size the vocabulary from `vocab` (piece -> id) and the added tokens, and
 * fill the pieces. */
static enum cl_status load_vocab(struct load *L, const cJSON *vocab, const cJSON *added)
{
	struct cl_tokenizer *t = L->t;
	int32_t max = -1, id;
	enum cl_status st;
	if (!cJSON_IsObject(vocab))
		return cl_error(CL_ERR_FORMAT, "%s: expected an object of token -> id", L->path);
	for (const cJSON *e = vocab->child; e; e = e->next) {
		char what[128];
		snprintf(what, sizeof what, "%s\"%.64s\"", L->vocab_what, e->string);
		if ((st = id_of(L->path, what, e, &id)))
			return st;
		max = id > max ? id : max;
	}
	for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
		if ((st = id_of(L->path, "added_tokens: id", cJSON_GetObjectItemCaseSensitive(e, "id"), &id)))
			return st;
		if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "content")))
			return cl_error(CL_ERR_FORMAT, "%s: added_tokens: content: expected a string", L->path);
		max = id > max ? id : max;
	}
	if (max < 0)
		return cl_error(CL_ERR_FORMAT, "%s: the vocabulary is empty", L->path);
	/* Ids run from 0 without gaps: a bad id must not size the tables. */
	int count = cJSON_GetArraySize(vocab) + cJSON_GetArraySize(added);
	if (max >= count)
		return cl_error(CL_ERR_FORMAT, "%s: ids run to %d but there are only %d tokens", L->path,
				max, count);
	t->n_vocab = max + 1;
	t->pieces = calloc((size_t)t->n_vocab, sizeof *t->pieces);
	t->control = calloc((size_t)t->n_vocab, 1);
	if (!t->pieces || !t->control)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	for (const cJSON *e = vocab->child; e; e = e->next)
		if ((st = set_piece(L, (int32_t)e->valuedouble, e->string)))
			return st;
	int n_added = cJSON_GetArraySize(added);
	if (n_added > 0 && !(L->b->special = malloc((size_t)n_added * sizeof *L->b->special)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	for (const cJSON *e = added ? added->child : NULL; e; e = e->next) {
		const char *s = cJSON_GetObjectItemCaseSensitive(e, "content")->valuestring;
		id = (int32_t)cJSON_GetObjectItemCaseSensitive(e, "id")->valuedouble;
		if ((st = set_piece(L, id, s)))
			return st;
		t->control[id] = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "special"));
		if (s[0])
			L->b->special[L->b->n_special++] = id;
	}
	for (id = 0; id < t->n_vocab; id++)
		if (!t->pieces[id])
			return cl_error(CL_ERR_FORMAT, "%s: no token has id %d (ids run to %d)", L->path,
					id, max);
	return CL_OK;
}

static uint32_t table_size(size_t n)
{
	uint32_t size = 16;
	while (size < 2 * n)
		size *= 2;
	return size;
}

/* The piece -> id hash, the bytes of each token, and the token of each byte. */
static enum cl_status build_tables(struct load *L)
{
	struct cl_tokenizer *t = L->t;
	struct bpe *b = L->b;
	size_t total = 0;
	b->vmask = table_size((size_t)t->n_vocab) - 1;
	b->vhash = malloc(((size_t)b->vmask + 1) * sizeof *b->vhash);
	b->boff = malloc(((size_t)t->n_vocab + 1) * sizeof *b->boff);
	for (int32_t id = 0; id < t->n_vocab; id++)
		total += strlen(t->pieces[id]);
	b->bytes = malloc(total ? total : 1);
	if (!b->vhash || !b->boff || !b->bytes || total > UINT32_MAX)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	memset(b->vhash, 0xff, ((size_t)b->vmask + 1) * sizeof *b->vhash);
	size_t o = 0;
	for (int32_t id = 0; id < t->n_vocab; id++) {
		const char *p = t->pieces[id];
		size_t n = strlen(p);
		uint32_t h = cl_bpe_hash_bytes(p, n) & b->vmask;
		while (b->vhash[h] >= 0 && strcmp(t->pieces[b->vhash[h]], p) != 0)
			h = (h + 1) & b->vmask;
		if (b->vhash[h] >= 0)
			return cl_error(CL_ERR_FORMAT, "%s: \"%s\" has two ids, %d and %d", L->path, p,
					b->vhash[h], id);
		b->vhash[h] = id;
		/* Byte-level spelling back to bytes; a piece that is not one (an
		 * added token such as "<|im_start|>") stands for its own text. */
		b->boff[id] = (uint32_t)o;
		size_t i, l, o0 = o;
		for (i = 0; i < n; i += l) {
			uint32_t cp = cl_bpe_utf8_next((const unsigned char *)p + i, n - i, &l);
			int byte = cp == BAD_CP ? -1 : cp_to_byte(cp);
			if (byte < 0)
				break;
			b->bytes[o++] = (char)byte;
		}
		if (i < n) {
			memcpy(b->bytes + o0, p, n);
			o = o0 + n;
		}
	}
	b->boff[t->n_vocab] = (uint32_t)o;
	for (int c = 0; c < 256; c++) {
		char s[4];
		uint32_t cp = byte_to_cp(c);
		size_t n = cp < 0x80 ? (s[0] = (char)cp, 1)
				     : (s[0] = (char)(0xc0 | cp >> 6), s[1] = (char)(0x80 | (cp & 0x3f)), 2);
		if ((b->byte_id[c] = cl_bpe_vocab_find(t, s, n)) < 0)
			return cl_error(CL_ERR_FORMAT, "%s: the vocabulary has no token for byte 0x%02x "
					"(\"%.*s\")", L->path, c, (int)n, s);
	}
	return CL_OK;
}

static enum cl_status merges_alloc(struct load *L, size_t n)
{
	struct bpe *b = L->b;
	if (n > INT32_MAX / 4)
		return cl_error(CL_ERR_FORMAT, "%s: too many merges (%zu)", L->path, n);
	b->mmask = table_size(n) - 1;
	b->mleft = malloc((n ? n : 1) * sizeof *b->mleft);
	b->mright = malloc((n ? n : 1) * sizeof *b->mright);
	b->mout = malloc((n ? n : 1) * sizeof *b->mout);
	b->mkey = malloc(((size_t)b->mmask + 1) * sizeof *b->mkey);
	b->mrank = malloc(((size_t)b->mmask + 1) * sizeof *b->mrank);
	if (!b->mleft || !b->mright || !b->mout || !b->mkey || !b->mrank)
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	memset(b->mkey, 0xff, ((size_t)b->mmask + 1) * sizeof *b->mkey);
	L->merges_cap = (int32_t)n;
	return CL_OK;
}

/* Add the merge of pieces l and r (lengths ll, rl) as the next rank; `where`
 * names the line or entry for messages. */
static enum cl_status merge_add(struct load *L, const char *l, size_t ll, const char *r, size_t rl,
				const char *where)
{
	struct cl_tokenizer *t = L->t;
	struct bpe *b = L->b;
	if (ll + rl + 1 > L->catcap) {
		if (cl_bpe_grow((void **)&L->cat, ll + rl + 1, 1))
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
		L->catcap = ll + rl + 1;
	}
	memcpy(L->cat, l, ll);
	memcpy(L->cat + ll, r, rl);
	int32_t a = cl_bpe_vocab_find(t, l, ll), c = cl_bpe_vocab_find(t, r, rl);
	int32_t m = cl_bpe_vocab_find(t, L->cat, ll + rl);
	if (a < 0 || c < 0 || m < 0)
		return cl_error(CL_ERR_FORMAT, "%s: %s: \"%.*s\" is not in the vocabulary", L->path, where,
				a < 0 ? (int)ll : c < 0 ? (int)rl : (int)(ll + rl),
				a < 0 ? l : c < 0 ? r : L->cat);
	if (b->n_merges >= L->merges_cap)
		return cl_error(CL_ERR_FORMAT, "%s: %s: more merges than counted", L->path, where);
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)c;
	uint32_t h = cl_bpe_hash_pair(key) & b->mmask;
	while (b->mkey[h] != UINT64_MAX && b->mkey[h] != key)
		h = (h + 1) & b->mmask;
	if (b->mkey[h] == key)
		return CL_OK; /* a repeated merge keeps its first (lowest) rank */
	int32_t rank = b->n_merges++;
	b->mkey[h] = key;
	b->mrank[h] = rank;
	b->mleft[rank] = a;
	b->mright[rank] = c;
	b->mout[rank] = m;
	return CL_OK;
}

/* merges.txt: "#version" lines, then "A B" per line, rank by line order. */
static enum cl_status load_merges_txt(struct load *L, const char *path)
{
	char *text, where[64];
	size_t len;
	enum cl_status st = read_all(path, &text, &len);
	if (st)
		return st;
	L->path = path;
	size_t lines = 1;
	for (size_t i = 0; i < len; i++)
		lines += text[i] == '\n';
	if ((st = merges_alloc(L, lines)))
		goto out;
	size_t lineno = 0;
	for (size_t i = 0; i < len;) {
		const char *s = text + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		i += n + 1;
		lineno++;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		if (n == 0 || (n >= 8 && memcmp(s, "#version", 8) == 0))
			continue;
		const char *sp = memchr(s, ' ', n);
		snprintf(where, sizeof where, "line %zu", lineno);
		if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1))) {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected two tokens separated by one space",
				      path, where);
			goto out;
		}
		if (memchr(s, '\0', n)) {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: a NUL byte", path, where);
			goto out;
		}
		if ((st = merge_add(L, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), where)))
			goto out;
	}
out:
	free(text);
	return st;
}

/* tokenizer.json model.merges: "A B" strings or ["A", "B"] pairs. */
static enum cl_status load_merges_json(struct load *L, const cJSON *merges)
{
	char where[64];
	enum cl_status st;
	if (merges && !cJSON_IsArray(merges))
		return cl_error(CL_ERR_FORMAT, "%s: model.merges: expected an array", L->path);
	if ((st = merges_alloc(L, (size_t)cJSON_GetArraySize(merges))))
		return st;
	size_t k = 0;
	for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next, k++) {
		snprintf(where, sizeof where, "model.merges[%zu]", k);
		const char *l, *r, *sp;
		if (cJSON_IsString(e) && (sp = strchr(e->valuestring, ' ')) && sp != e->valuestring &&
		    sp[1] && !strchr(sp + 1, ' ')) {
			l = e->valuestring;
			r = sp + 1;
			st = merge_add(L, l, (size_t)(sp - l), r, strlen(r), where);
		} else if (cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
			   cJSON_IsString(e->child->next)) {
			l = e->child->valuestring;
			r = e->child->next->valuestring;
			st = merge_add(L, l, strlen(l), r, strlen(r), where);
		} else {
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected \"A B\" or [\"A\", \"B\"]", L->path,
				      where);
		}
		if (st)
			return st;
	}
	return CL_OK;
}

static int nonempty_string(const cJSON *v)
{
	return cJSON_IsString(v) && v->valuestring[0];
}

/* Refuse what this backend would get silently wrong. */
static enum cl_status check_json_options(struct load *L, const cJSON *root, const cJSON *model)
{
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
	if (type && !(cJSON_IsString(type) && strcmp(type->valuestring, "BPE") == 0))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model.type: only \"BPE\" is supported", L->path);
	if (nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
	    nonempty_string(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model: subword prefixes and suffixes are not "
				"supported", L->path);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: model.ignore_merges: not supported", L->path);
	const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
	if (norm && !cJSON_IsNull(norm))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: normalizer: not supported (GPT-2 has none)",
				L->path);
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
	const cJSON *ptype = cJSON_GetObjectItemCaseSensitive(pre, "type");
	if (!cJSON_IsString(ptype) || strcmp(ptype->valuestring, "ByteLevel") != 0 ||
	    cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(pre, "use_regex")))
		return cl_error(CL_ERR_UNSUPPORTED, "%s: pre_tokenizer: only GPT-2's ByteLevel "
				"pre-tokenizer is supported", L->path);
	L->b->add_prefix_space = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space"));
	return CL_OK;
}

static enum cl_status load_tokenizer_json(struct load *L, const char *path)
{
	cJSON *root;
	enum cl_status st;
	L->path = path;
	L->vocab_what = "model.vocab: ";
	if ((st = parse_json(path, &root)))
		return st;
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
	const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
	const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
	if (!cJSON_IsObject(model)) {
		st = cl_error(CL_ERR_FORMAT, "%s: model: expected an object", path);
		goto out;
	}
	if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) {
		st = cl_error(CL_ERR_FORMAT, "%s: added_tokens: expected an array", path);
		goto out;
	}
	if ((st = check_json_options(L, root, model)))
		goto out;
	if (!cJSON_IsObject(vocab)) {
		st = cl_error(CL_ERR_FORMAT, "%s: model.vocab: expected an object", path);
		goto out;
	}
	if (!(st = load_vocab(L, vocab, cJSON_IsArray(added) ? added : NULL)) && !(st = build_tables(L)))
		st = load_merges_json(L, cJSON_GetObjectItemCaseSensitive(model, "merges"));
out:
	cJSON_Delete(root);
	return st;
}

static enum cl_status load_vocab_merges(struct load *L, const char *vocab_path, const char *merges_path)
{
	cJSON *root;
	enum cl_status st;
	L->path = vocab_path;
	if ((st = parse_json(vocab_path, &root)))
		return st;
	st = load_vocab(L, root, NULL);
	cJSON_Delete(root);
	if (st || (st = build_tables(L)))
		return st;
	/* Hugging Face's GPT2Tokenizer: <|endoftext|> is the one special token. */
	int32_t eot = cl_bpe_vocab_find(L->t, "<|endoftext|>", 13);
	if (eot >= 0) {
		if (!(L->b->special = malloc(sizeof *L->b->special)))
			return cl_error(CL_ERR_NOMEM, "%s: out of memory", vocab_path);
		L->b->special[L->b->n_special++] = eot;
		L->t->control[eot] = 1;
	}
	return load_merges_txt(L, merges_path);
}

static int is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* The end of loading either way: on failure undo it all, else the tables
 * that encoding needs and the backend's functions. */
static enum cl_status finish(struct load *L, enum cl_status st)
{
	struct cl_tokenizer *t = L->t;
	free(L->cat);
	if (st) {
		if (t->pieces)
			for (int32_t i = 0; i < t->n_vocab; i++)
				free(t->pieces[i]);
		free(t->pieces);
		free(t->control);
		cl_bpe_impl_free(L->b);
		t->pieces = NULL;
		t->control = NULL;
		t->impl = NULL;
		t->n_vocab = 0;
		return st;
	}
	t->bos = t->eos = cl_bpe_vocab_find(t, "<|endoftext|>", 13);
	cl_bpe_setup(t);
	return CL_OK;
}

enum cl_status cl_bpe_load(const char *dir, struct cl_tokenizer *t)
{
	char a[4096], m[4096];
	enum cl_status st;
	struct load L = {.path = dir, .t = t, .vocab_what = ""};
	if (!(L.b = calloc(1, sizeof *L.b)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", dir);
	t->impl = L.b;
	t->pieces = NULL;
	t->control = NULL;
	t->n_vocab = 0;
	if (is_dir(dir)) {
		snprintf(a, sizeof a, "%s/tokenizer.json", dir);
		if (file_exists(a)) {
			st = load_tokenizer_json(&L, a);
		} else {
			snprintf(a, sizeof a, "%s/vocab.json", dir);
			snprintf(m, sizeof m, "%s/merges.txt", dir);
			st = load_vocab_merges(&L, a, m);
		}
	} else {
		/* A file: vocab.json (merges.txt beside it) or a tokenizer.json. */
		size_t n = strlen(dir);
		if (n >= 10 && strcmp(dir + n - 10, "vocab.json") == 0) {
			const char *slash = strrchr(dir, '/');
			int dl = slash ? (int)(slash - dir + 1) : 0;
			snprintf(m, sizeof m, "%.*smerges.txt", dl, dir);
			st = load_vocab_merges(&L, dir, m);
		} else {
			st = load_tokenizer_json(&L, dir);
		}
	}
	return finish(&L, st);
}

/* A GGUF file's tokenizer.ggml.tokens, token_type and merges ("A B" strings,
 * by rank), as llama.cpp's converter writes GPT-2's vocab.json and
 * merges.txt; CONTROL (3) and USER_DEFINED (4) tokens are the added ones. */
static enum cl_status load_gguf(struct load *L, const struct cl_gguf *g)
{
	struct cl_tokenizer *t = L->t;
	const struct cl_gguf_kv *tokens, *types, *merges;
	struct cl_gguf_str *s = NULL;
	enum cl_status st;
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.tokens", 1, CL_GGUF_STRING, -1, &tokens)))
		return st;
	if (tokens->n < 1 || tokens->n > MAX_VOCAB)
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.tokens: %llu tokens (1 to %d)", L->path,
				(unsigned long long)tokens->n, MAX_VOCAB);
	int32_t n = (int32_t)tokens->n;
	types = cl_gguf_find(g, "tokenizer.ggml.token_type");
	if (types && (types->type != CL_GGUF_ARRAY || types->n != (uint64_t)n ||
		      (types->arr_type != CL_GGUF_I32 && types->arr_type != CL_GGUF_U32)))
		return cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.token_type: expected %d integers (one per token)",
				L->path, n);
	if ((st = cl_gguf_arr(g, "tokenizer.ggml.merges", 1, CL_GGUF_STRING, -1, &merges)) ||
	    (st = cl_gguf_arr_str(g, tokens, &s)))
		return st;
	t->n_vocab = n;
	t->pieces = calloc((size_t)n, sizeof *t->pieces);
	t->control = calloc((size_t)n, 1);
	L->b->special = malloc((size_t)n * sizeof *L->b->special);
	if (!t->pieces || !t->control || !L->b->special) {
		free(s);
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path);
	}
	for (int32_t i = 0; i < n; i++) {
		if (memchr(s[i].p, 0, (size_t)s[i].n) || !(t->pieces[i] = strndup(s[i].p, (size_t)s[i].n))) {
			free(s);
			return t->pieces[i] ? cl_error(CL_ERR_NOMEM, "%s: out of memory", L->path)
					    : cl_error(CL_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%d]: a NUL byte", L->path, i);
		}
		int64_t type = types ? cl_gguf_arr_int(types, (uint64_t)i) : 1;
		if ((type == 3 || type == 4) && s[i].n) {
			t->control[i] = type == 3;
			L->b->special[L->b->n_special++] = i;
		}
	}
	free(s);
	s = NULL;
	if ((st = build_tables(L)) || (st = cl_gguf_arr_str(g, merges, &s)))
		return st;
	if ((st = merges_alloc(L, (size_t)merges->n))) {
		free(s);
		return st;
	}
	char where[64];
	for (uint64_t k = 0; k < merges->n && !st; k++) {
		const char *a = s[k].p, *sp = memchr(a, ' ', (size_t)s[k].n);
		size_t len = (size_t)s[k].n;
		snprintf(where, sizeof where, "tokenizer.ggml.merges[%llu]", (unsigned long long)k);
		if (!sp || sp == a || sp + 1 == a + len || memchr(sp + 1, ' ', (size_t)(a + len - sp - 1)) ||
		    memchr(a, 0, len))
			st = cl_error(CL_ERR_FORMAT, "%s: %s: expected two tokens separated by one space", L->path,
				      where);
		else
			st = merge_add(L, a, (size_t)(sp - a), sp + 1, (size_t)(a + len - sp - 1), where);
	}
	free(s);
	return st;
}

enum cl_status cl_bpe_load_gguf(const struct cl_gguf *g, struct cl_tokenizer *t)
{
	struct load L = {.path = cl_gguf_path(g), .t = t, .vocab_what = "tokenizer.ggml.tokens: "};
	if (!(L.b = calloc(1, sizeof *L.b)))
		return cl_error(CL_ERR_NOMEM, "%s: out of memory", L.path);
	t->impl = L.b;
	t->pieces = NULL;
	t->control = NULL;
	t->n_vocab = 0;
	return finish(&L, load_gguf(&L, g));
}
