/*
 * test-bpe.c - the GPT-2 byte-level BPE tokenizer against the reference ids of
 * testdata/gpt2/tokenizer-extra.jsonl, in both file formats, and on bad files.
 */
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include <cJSON.h>

#include "cl.h"
#include "t.h"

static char tmpdir[256];

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return buf;
}

static int spew(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int bad = fwrite(data, 1, len, f) != len;
	return fclose(f) || bad ? -1 : 0;
}

/* A file in the scratch dir, made from `data`; returns its path (static). */
static const char *scratch(const char *sub, const char *name, const char *data, size_t len)
{
	static char path[512];
	char d[400];
	snprintf(d, sizeof d, "%s/%s", tmpdir, sub);
	mkdir(d, 0755);
	snprintf(path, sizeof path, "%s/%s", d, name);
	if (spew(path, data, len))
		printf("# cannot write %s: %s\n", path, strerror(errno));
	return path;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

struct vec {
	char *text;
	size_t len;
	int32_t *ids, *ids_special;
	size_t n, n_special;
};

static int32_t *json_ids(const cJSON *a, size_t *n)
{
	*n = (size_t)cJSON_GetArraySize(a);
	int32_t *ids = malloc((*n + 1) * sizeof *ids);
	size_t i = 0;
	for (const cJSON *e = a->child; e; e = e->next)
		ids[i++] = (int32_t)e->valuedouble;
	return ids;
}

/* The "text" string of a JSON line, decoded by hand: cJSON stops at \u0000,
 * and one vector holds a NUL. */
static char *json_text(const char *line, size_t *len)
{
	const char *p = strstr(line, "\"text\": \"");
	if (!p)
		return NULL;
	p += 9;
	char *out = malloc(strlen(p) * 2 + 1), *o = out;
	while (*p && *p != '"') {
		if (*p != '\\') {
			*o++ = *p++;
			continue;
		}
		p++;
		char c = *p++;
		const char *esc = "b\bf\fn\nr\rt\t\"\"\\\\//", *e;
		if (c == 'u') {
			unsigned long cp = strtoul((char[5]){p[0], p[1], p[2], p[3], 0}, NULL, 16);
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[0] == '\\' && p[1] == 'u') {
				unsigned long lo = strtoul((char[5]){p[2], p[3], p[4], p[5], 0}, NULL, 16);
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				p += 6;
			}
			if (cp < 0x80) {
				*o++ = (char)cp;
			} else if (cp < 0x800) {
				*o++ = (char)(0xc0 | cp >> 6);
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*o++ = (char)(0xe0 | cp >> 12);
				*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*o++ = (char)(0xf0 | cp >> 18);
				*o++ = (char)(0x80 | (cp >> 12 & 0x3f));
				*o++ = (char)(0x80 | (cp >> 6 & 0x3f));
				*o++ = (char)(0x80 | (cp & 0x3f));
			}
		} else {
			for (e = esc; *e && *e != c; e += 2)
				;
			*o++ = *e ? e[1] : c;
		}
	}
	*len = (size_t)(o - out);
	return out;
}

static struct vec *read_vectors(const char *path, size_t *nv)
{
	char *all = slurp(path, NULL);
	struct vec *v = NULL;
	*nv = 0;
	if (!all)
		return NULL;
	for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
		cJSON *j = cJSON_Parse(line);
		const cJSON *sp = cJSON_GetObjectItem(j, "ids_special");
		size_t len;
		char *text = json_text(line, &len);
		if (!text || !cJSON_IsArray(cJSON_GetObjectItem(j, "ids"))) {
			free(text);
			cJSON_Delete(j);
			continue;
		}
		v = realloc(v, (*nv + 1) * sizeof *v);
		struct vec *x = &v[(*nv)++];
		x->text = text;
		x->len = len;
		x->ids = json_ids(cJSON_GetObjectItem(j, "ids"), &x->n);
		x->ids_special = sp ? json_ids(sp, &x->n_special) : NULL;
		cJSON_Delete(j);
	}
	free(all);
	return v;
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* How many vectors encode to their reference ids (plain and, where given,
 * with special tokens); the first few misses are reported. */
static void free_vectors(struct vec *v, size_t nv)
{
	for (size_t k = 0; k < nv; k++) {
		free(v[k].text);
		free(v[k].ids);
		free(v[k].ids_special);
	}
	free(v);
}

static void check_vectors(struct cl_tokenizer *tok, const struct vec *v, size_t nv, int *plain,
			  int *special, int *nspecial)
{
	*plain = *special = *nspecial = 0;
	for (size_t k = 0; k < nv; k++) {
		int32_t *ids;
		size_t n;
		enum cl_status st = cl_tokenizer_encode(tok, v[k].text, v[k].len, 0, &ids, &n);
		T_CHECK(st == CL_OK, "encode: %s", cl_errmsg());
		if (st)
			continue;
		int good = same_ids(ids, n, v[k].ids, v[k].n);
		*plain += good;
		T_CHECK(good, "vector %zu (%.40s): %zu ids, expected %zu", k, v[k].text, n, v[k].n);
		free(ids);
		if (!v[k].ids_special)
			continue;
		(*nspecial)++;
		st = cl_tokenizer_encode(tok, v[k].text, v[k].len, CL_ENCODE_SPECIAL, &ids, &n);
		T_CHECK(st == CL_OK, "encode: %s", cl_errmsg());
		if (st)
			continue;
		good = same_ids(ids, n, v[k].ids_special, v[k].n_special);
		*special += good;
		T_CHECK(good, "vector %zu with special tokens (%.40s): %zu ids, expected %zu", k,
			v[k].text, n, v[k].n_special);
		free(ids);
	}
}

/* Concatenated decode of ids. */
static char *decode_all(struct cl_tokenizer *tok, const int32_t *ids, size_t n, size_t *len)
{
	char *out = malloc(n * 256 + 1);
	*len = 0;
	for (size_t i = 0; i < n; i++) {
		int k = cl_tokenizer_decode(tok, ids[i], i == 0, out + *len, 256);
		if (k < 0) {
			free(out);
			return NULL;
		}
		*len += (size_t)k;
	}
	return out;
}

/* tokenizer.json from vocab.json + merges.txt, merges as "A B" strings or
 * as ["A", "B"] pairs (the two spellings Hugging Face writes). */
static char *make_tokenizer_json(const char *gpt2, int pairs, int prefix)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/vocab.json", gpt2);
	char *vtext = slurp(path, NULL);
	snprintf(path, sizeof path, "%s/merges.txt", gpt2);
	char *mtext = slurp(path, NULL);
	if (!vtext || !mtext) {
		free(vtext);
		free(mtext);
		return NULL;
	}
	cJSON *root = cJSON_CreateObject(), *model = cJSON_CreateObject(), *merges = cJSON_CreateArray();
	cJSON *added = cJSON_CreateArray(), *eot = cJSON_CreateObject(), *pre = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "version", "1.0");
	cJSON_AddNumberToObject(eot, "id", 50256);
	cJSON_AddStringToObject(eot, "content", "<|endoftext|>");
	cJSON_AddBoolToObject(eot, "special", 1);
	cJSON_AddItemToArray(added, eot);
	cJSON_AddItemToObject(root, "added_tokens", added);
	cJSON_AddNullToObject(root, "normalizer");
	cJSON_AddStringToObject(pre, "type", "ByteLevel");
	cJSON_AddBoolToObject(pre, "add_prefix_space", prefix);
	cJSON_AddBoolToObject(pre, "trim_offsets", 1);
	cJSON_AddBoolToObject(pre, "use_regex", 1);
	cJSON_AddItemToObject(root, "pre_tokenizer", pre);
	cJSON_AddStringToObject(model, "type", "BPE");
	cJSON_AddNullToObject(model, "dropout");
	cJSON_AddItemToObject(model, "vocab", cJSON_Parse(vtext));
	for (char *line = strtok(mtext, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp = strchr(line, ' ');
		if (!strncmp(line, "#version", 8) || !sp)
			continue;
		if (pairs) {
			*sp = '\0';
			const char *two[2] = {line, sp + 1};
			cJSON_AddItemToArray(merges, cJSON_CreateStringArray(two, 2));
		} else {
			cJSON_AddItemToArray(merges, cJSON_CreateString(line));
		}
	}
	cJSON_AddItemToObject(model, "merges", merges);
	cJSON_AddItemToObject(root, "model", model);
	char *out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	free(vtext);
	free(mtext);
	return out;
}

/* GPT-2's spelling of byte c as UTF-8 (bytes_to_unicode); returns its length. */
static int byte_spelling(int c, char *out)
{
	int printable = (c >= 0x21 && c <= 0x7e) || (c >= 0xa1 && c <= 0xac) || (c >= 0xae);
	unsigned cp = (unsigned)c;
	if (!printable) {
		cp = 256;
		for (int i = 0; i < c; i++)
			cp += !((i >= 0x21 && i <= 0x7e) || (i >= 0xa1 && i <= 0xac) || (i >= 0xae));
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

/* A made-up vocabulary: the 256 bytes (id = byte), then every pair of the
 * characters below merged (ids 256...).  A two-character text is then one
 * token when the pre-tokenizer keeps it in one piece, else two. */
static const char synth_chars[] = " a1!'s\n\t";

static int synth_make(const char *dir)
{
	cJSON *vocab = cJSON_CreateObject();
	char s[8], m[32], path[1024], *merges = malloc(4096);
	size_t mlen = (size_t)sprintf(merges, "#version: 0.2\n");
	for (int c = 0; c < 256; c++) {
		s[byte_spelling(c, s)] = '\0';
		cJSON_AddNumberToObject(vocab, s, c);
	}
	int id = 256, nc = (int)strlen(synth_chars);
	for (int i = 0; i < nc; i++)
		for (int j = 0; j < nc; j++) {
			int a = byte_spelling(synth_chars[i], m);
			m[a] = ' ';
			int b = byte_spelling(synth_chars[j], m + a + 1);
			memcpy(merges + mlen, m, (size_t)(a + 1 + b));
			mlen += (size_t)(a + 1 + b);
			merges[mlen++] = '\n';
			memmove(m + a, m + a + 1, (size_t)b);
			m[a + b] = '\0';
			cJSON_AddNumberToObject(vocab, m, id++);
		}
	char *vtext = cJSON_PrintUnformatted(vocab);
	snprintf(path, sizeof path, "%s/vocab.json", dir);
	int bad = spew(path, vtext, strlen(vtext));
	snprintf(path, sizeof path, "%s/merges.txt", dir);
	bad |= spew(path, merges, mlen);
	free(vtext);
	free(merges);
	cJSON_Delete(vocab);
	return bad;
}

static void test_synthetic(void)
{
	/* text, the ids it gives: byte values, or 256 + i * 8 + j for the
	 * merge of synth_chars[i] and [j] */
	static const struct {
		const char *text;
		int n, ids[4];
	} cases[] = {
		{" a", 1, {256 + 0 * 8 + 1}},              /* ' ?\p{L}+' */
		{"a ", 2, {'a', ' '}},                     /* the space goes with what follows */
		{" 1", 1, {256 + 0 * 8 + 2}},              /* ' ?\p{N}+' */
		{"a1", 2, {'a', '1'}},                     /* letters and numbers apart */
		{" !", 1, {256 + 0 * 8 + 3}},              /* ' ?[^\s\p{L}\p{N}]+' */
		{"!!", 1, {256 + 3 * 8 + 3}},
		{"'s", 1, {256 + 4 * 8 + 5}},              /* a contraction */
		{"!'", 1, {256 + 3 * 8 + 4}},              /* ' inside a run of others */
		{"  ", 1, {256 + 0 * 8 + 0}},              /* '\s+' at the end */
		{"\n\n", 1, {256 + 6 * 8 + 6}},
		{" \n", 1, {256 + 0 * 8 + 6}},
		{"\t ", 1, {256 + 7 * 8 + 0}},
		{"\n!", 2, {'\n', '!'}},                   /* one space char before a non-space */
		{"  a", 2, {' ', 256 + 0 * 8 + 1}},        /* '\s+(?!\S)' leaves one space */
		{"\t a", 2, {'\t', 256 + 0 * 8 + 1}},
		{"\t\ta", 3, {'\t', '\t', 'a'}},          /* the run less one, then the one */
		{"\t\t", 1, {256 + 7 * 8 + 7}},
		{"\n\t a", 2, {256 + 6 * 8 + 7, 256 + 0 * 8 + 1}},
		{"a's", 2, {'a', 256 + 4 * 8 + 5}},
	};
	char dir[512];
	snprintf(dir, sizeof dir, "%s/synth", tmpdir);
	mkdir(dir, 0755);
	t_begin("the pre-tokenizer splits letters, numbers, contractions and whitespace runs as GPT-2's pattern");
	struct cl_tokenizer *tok = NULL;
	enum cl_status st = synth_make(dir) ? CL_ERR_IO : cl_tokenizer_load(dir, &tok);
	T_CHECK(st == CL_OK, "load: %s", cl_errmsg());
	for (size_t k = 0; tok && k < sizeof cases / sizeof cases[0]; k++) {
		int32_t *ids;
		size_t n;
		int want = cases[k].n;
		st = cl_tokenizer_encode(tok, cases[k].text, strlen(cases[k].text), 0, &ids, &n);
		int good = st == CL_OK && (int)n == want;
		for (int i = 0; good && i < want; i++)
			good = ids[i] == cases[k].ids[i];
		T_CHECK(good, "case %zu: %zu ids: %d %d %d", k, st ? 0 : n, n > 0 ? ids[0] : -1,
			n > 1 ? ids[1] : -1, n > 2 ? ids[2] : -1);
		if (!st)
			free(ids);
	}
	T_CHECK(!tok || (cl_tokenizer_bos(tok) == -1 && cl_tokenizer_n_vocab(tok) == 256 + 64),
		"no <|endoftext|>: bos %d, n_vocab %d", cl_tokenizer_bos(tok), cl_tokenizer_n_vocab(tok));
	cl_tokenizer_free(tok);
	t_end();
}

/* Loading `path` fails with status `want` and a message naming `name`. */
static void check_load_fails(const char *what, const char *path, enum cl_status want, const char *name)
{
	struct cl_tokenizer *tok = (struct cl_tokenizer *)1;
	enum cl_status st = cl_tokenizer_load(path, &tok);
	T_CHECK(st == want, "%s: status %d, expected %d (%s)", what, st, want, st ? cl_errmsg() : "ok");
	T_CHECK(st == CL_OK || tok == NULL, "%s: *out not NULL on failure", what);
	T_CHECK(st == CL_OK || strstr(cl_errmsg(), name), "%s: message \"%s\" does not name %s", what,
		cl_errmsg(), name);
	if (st == CL_OK)
		cl_tokenizer_free(tok);
}

static void test_bad_files(const char *gpt2)
{
	char path[1024], *vtext, *mtext;
	size_t vlen, mlen;
	snprintf(path, sizeof path, "%s/vocab.json", gpt2);
	vtext = slurp(path, &vlen);
	snprintf(path, sizeof path, "%s/merges.txt", gpt2);
	mtext = slurp(path, &mlen);
	t_begin("bad tokenizer files fail with a message naming the file and the fault, not a crash");
	T_CHECK(vtext && mtext, "cannot read %s", gpt2);
	if (!vtext || !mtext) {
		t_end();
		free(vtext);
		free(mtext);
		return;
	}
	char d[512];
	snprintf(d, sizeof d, "%s/missing", tmpdir);
	check_load_fails("missing directory", d, CL_ERR_IO, "missing");

	/* vocab.json without merges.txt */
	scratch("nomerges", "vocab.json", vtext, vlen);
	snprintf(d, sizeof d, "%s/nomerges", tmpdir);
	check_load_fails("no merges.txt", d, CL_ERR_IO, "merges.txt");

	/* truncated vocab.json, at several places */
	size_t cuts[] = {0, 1, 1000, vlen / 2, vlen - 1};
	for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
		scratch("trunc", "vocab.json", vtext, cuts[k]);
		scratch("trunc", "merges.txt", mtext, mlen);
		snprintf(d, sizeof d, "%s/trunc", tmpdir);
		check_load_fails("truncated vocab.json", d, CL_ERR_FORMAT, "vocab.json");
	}

	/* a merge of tokens that are not in the vocabulary */
	scratch("unknown", "vocab.json", vtext, vlen);
	const char bad_merge[] = "#version: 0.2\n\xc4\xa0 t\nzzzqqq xyzzy\n";
	scratch("unknown", "merges.txt", bad_merge, sizeof bad_merge - 1);
	snprintf(d, sizeof d, "%s/unknown", tmpdir);
	check_load_fails("unknown merge", d, CL_ERR_FORMAT, "merges.txt: line 3");

	/* a merge line that is not "A B" */
	const char *lines[] = {"#version: 0.2\nab\n", "#version: 0.2\na b c\n", "a  b\n", " b\n"};
	for (size_t k = 0; k < sizeof lines / sizeof lines[0]; k++) {
		scratch("unknown", "merges.txt", lines[k], strlen(lines[k]));
		check_load_fails("malformed merge line", d, CL_ERR_FORMAT, "merges.txt");
	}

	/* vocab.json with wrong ids: not integers, a gap, out of range, not an object */
	const char *vocabs[] = {"{\"a\": \"x\"}", "{\"a\": 0, \"b\": 2}", "{\"a\": 1.5}",
				"{\"a\": -1}", "{\"a\": 1e30}", "[1, 2]", "{}", "{\"a\": 0, \"b\": 0}"};
	for (size_t k = 0; k < sizeof vocabs / sizeof vocabs[0]; k++) {
		scratch("ids", "vocab.json", vocabs[k], strlen(vocabs[k]));
		scratch("ids", "merges.txt", "", 0);
		snprintf(d, sizeof d, "%s/ids", tmpdir);
		check_load_fails(vocabs[k], d, CL_ERR_FORMAT, "vocab.json");
	}
	/* a vocabulary without a token for every byte */
	const char small[] = "{\"a\": 0, \"b\": 1, \"ab\": 2}";
	scratch("ids", "vocab.json", small, sizeof small - 1);
	check_load_fails("vocab without byte tokens", d, CL_ERR_FORMAT, "byte");

	/* tokenizer.json that is not GPT-2's kind, or broken */
	const char *tjs[] = {
		"{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}, \"pre_tokenizer\": "
		"{\"type\": \"Metaspace\"}}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
		"\"normalizer\": {\"type\": \"NFC\"}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
	};
	for (size_t k = 0; k < sizeof tjs / sizeof tjs[0]; k++) {
		const char *p = scratch("tj", "tokenizer.json", tjs[k], strlen(tjs[k]));
		check_load_fails("unsupported tokenizer.json", p, CL_ERR_UNSUPPORTED, "tokenizer.json");
	}
	const char *broken[] = {
		"{\"model\": 3}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": "
		"\"ByteLevel\"}, \"added_tokens\": [{\"id\": \"x\", \"content\": \"a\"}]}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [7]}, "
		"\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]}, "
		"\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		"{\"model\": {\"type\": \"BPE\", \"vocab\": 5}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
		"{\"model\": {\"type\": \"BPE\"",
		"",
	};
	for (size_t k = 0; k < sizeof broken / sizeof broken[0]; k++) {
		const char *p = scratch("tj", "tokenizer.json", broken[k], strlen(broken[k]));
		check_load_fails(broken[k], p, CL_ERR_FORMAT, "tokenizer.json");
	}
	t_end();
	free(vtext);
	free(mtext);
}

/* test-bpe --vectors MODEL: tokenizer-extra.jsonl through MODEL's tokenizer
 * (a GGUF file, say: tests/t-gguf.sh). */
static int vectors_of(const char *td, const char *model)
{
	char path[600];
	snprintf(path, sizeof path, "%s/gpt2/tokenizer-extra.jsonl", td ? td : "");
	size_t nv;
	struct vec *v = td ? read_vectors(path, &nv) : NULL;
	if (!v) {
		t_skip("tokenizer-extra.jsonl", "testdata/gpt2/tokenizer-extra.jsonl is absent");
		return t_exit();
	}
	struct cl_tokenizer *tok = NULL;
	int plain = 0, special = 0, nspecial = 0;
	char name[700];
	snprintf(name, sizeof name, "%s encodes tokenizer-extra.jsonl to GPT-2's ids", model);
	t_begin(name);
	T_CHECK(cl_tokenizer_load(model, &tok) == CL_OK, "load %s: %s", model, cl_errmsg());
	if (tok) {
		check_vectors(tok, v, nv, &plain, &special, &nspecial);
		printf("# %s: %d/%zu plain, %d/%d with special tokens\n", model, plain, nv, special, nspecial);
		T_CHECK(nspecial > 0, "no vector has ids_special");
	}
	t_end();
	cl_tokenizer_free(tok);
	free_vectors(v, nv);
	return t_exit();
}

int main(int argc, char **argv)
{
	const char *td = t_testdata();
	if (argc == 3 && strcmp(argv[1], "--vectors") == 0)
		return vectors_of(td, argv[2]);
	const char *name = "GPT-2 BPE encodes tokenizer-extra.jsonl to its reference ids";
	snprintf(tmpdir, sizeof tmpdir, "%s/cl-test-bpe.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("# mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_synthetic();
	if (!td) {
		t_skip(name, "CL_TESTDATA is not set");
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return t_exit();
	}
	char gpt2[512], path[600];
	snprintf(gpt2, sizeof gpt2, "%s/gpt2", td);
	snprintf(path, sizeof path, "%s/tokenizer-extra.jsonl", gpt2);
	size_t nv;
	struct vec *v = read_vectors(path, &nv);
	if (!v) {
		t_skip(name, "testdata/gpt2/tokenizer-extra.jsonl is absent");
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		return t_exit();
	}

	struct cl_tokenizer *tok = NULL;
	enum cl_status st = cl_tokenizer_load(gpt2, &tok);
	int plain, special, nspecial;

	t_begin(name);
	T_CHECK(st == CL_OK, "load %s: %s", gpt2, cl_errmsg());
	if (st == CL_OK) {
		check_vectors(tok, v, nv, &plain, &special, &nspecial);
		printf("# vocab.json + merges.txt: %d/%zu plain, %d/%d with special tokens\n", plain, nv,
		       special, nspecial);
		T_CHECK(nspecial > 0, "no vector has ids_special");
	}
	t_end();

	t_begin("decoding the ids of every tokenizer-extra.jsonl text gives back its bytes");
	for (size_t k = 0; tok && k < nv; k++) {
		size_t len;
		char *out = decode_all(tok, v[k].ids, v[k].n, &len);
		T_CHECK(out && len == v[k].len && memcmp(out, v[k].text, len) == 0,
			"vector %zu (%.40s) does not round trip", k, v[k].text);
		free(out);
	}
	t_end();

	t_begin("<|endoftext|> is BOS, EOS and a control token that decodes to nothing");
	if (tok) {
		char buf[64];
		int32_t *ids;
		size_t n;
		T_CHECK(cl_tokenizer_n_vocab(tok) == 50257, "n_vocab %d", cl_tokenizer_n_vocab(tok));
		T_CHECK(cl_tokenizer_bos(tok) == 50256 && cl_tokenizer_eos(tok) == 50256, "bos %d eos %d",
			cl_tokenizer_bos(tok), cl_tokenizer_eos(tok));
		T_CHECK(cl_tokenizer_is_control(tok, 50256) && !cl_tokenizer_is_control(tok, 198),
			"control flags");
		T_CHECK(cl_tokenizer_decode(tok, 50256, 0, buf, sizeof buf) == 0, "decode(50256) not empty");
		T_CHECK(cl_tokenizer_decode(tok, 50257, 0, buf, sizeof buf) == -1, "decode(50257) not -1");
		T_CHECK(cl_tokenizer_decode(tok, 995, 1, buf, sizeof buf) == 6 && !memcmp(buf, " world", 6),
			"decode(995) is not \" world\" (first is ignored)");
		T_CHECK(strcmp(cl_tokenizer_piece(tok, 995), "\xc4\xa0world") == 0, "piece(995) %s",
			cl_tokenizer_piece(tok, 995));
		st = cl_tokenizer_encode(tok, "Hello", 5, CL_ENCODE_BOS | CL_ENCODE_EOS, &ids, &n);
		T_CHECK(st == CL_OK && n == 3 && ids[0] == 50256 && ids[1] == 15496 && ids[2] == 50256,
			"BOS Hello EOS");
		if (!st)
			free(ids);
		st = cl_tokenizer_encode(tok, "", 0, 0, &ids, &n);
		T_CHECK(st == CL_OK && n == 0 && ids, "empty text");
		if (!st)
			free(ids);
	}
	t_end();

	t_begin("text that is not valid UTF-8 round trips byte for byte");
	if (tok) {
		const char bad[] = "\xff\xfe x\xc3 \xe2\x82 \xed\xa0\x80 \xf4\x90\x80\x80 'S\xc0\xaf\x80";
		int32_t *ids;
		size_t n, len;
		st = cl_tokenizer_encode(tok, bad, sizeof bad - 1, 0, &ids, &n);
		T_CHECK(st == CL_OK, "encode: %s", cl_errmsg());
		if (!st) {
			char *out = decode_all(tok, ids, n, &len);
			T_CHECK(out && len == sizeof bad - 1 && !memcmp(out, bad, len), "round trip");
			free(out);
			free(ids);
		}
	}
	t_end();

	for (int pairs = 0; pairs < 2; pairs++) {
		t_begin(pairs ? "a tokenizer.json with merges as [A, B] pairs gives the same ids"
			      : "a tokenizer.json with merges as \"A B\" strings gives the same ids");
		char *json = make_tokenizer_json(gpt2, pairs, 0);
		T_CHECK(json, "cannot make tokenizer.json");
		if (json) {
			const char *p = scratch(pairs ? "tjp" : "tjs", "tokenizer.json", json, strlen(json));
			char d[512];
			snprintf(d, sizeof d, "%s/%s", tmpdir, pairs ? "tjp" : "tjs");
			struct cl_tokenizer *tj = NULL;
			/* The pairs one by file name, the other by directory. */
			st = cl_tokenizer_load(pairs ? p : d, &tj);
			T_CHECK(st == CL_OK, "load: %s", cl_errmsg());
			if (!st) {
				check_vectors(tj, v, nv, &plain, &special, &nspecial);
				T_CHECK(!tok || strcmp(cl_tokenizer_fingerprint(tj), cl_tokenizer_fingerprint(tok)) == 0,
					"fingerprints differ: %s, %s", cl_tokenizer_fingerprint(tj),
					tok ? cl_tokenizer_fingerprint(tok) : "");
				T_CHECK(cl_tokenizer_bos(tj) == 50256 && cl_tokenizer_is_control(tj, 50256),
					"<|endoftext|>");
				cl_tokenizer_free(tj);
			}
			free(json);
		}
		t_end();
	}

	t_begin("ByteLevel add_prefix_space puts a space before text that has none");
	char *json = make_tokenizer_json(gpt2, 0, 1);
	T_CHECK(json, "cannot make tokenizer.json");
	if (json) {
		const char *p = scratch("prefix", "tokenizer.json", json, strlen(json));
		struct cl_tokenizer *tp = NULL;
		int32_t *ids;
		size_t n;
		st = cl_tokenizer_load(p, &tp);
		T_CHECK(st == CL_OK, "load: %s", cl_errmsg());
		if (!st) {
			st = cl_tokenizer_encode(tp, "Hello world", 11, 0, &ids, &n);
			T_CHECK(!st && n == 2 && ids[0] == 18435 && ids[1] == 995, "\"Hello world\"");
			if (!st)
				free(ids);
			st = cl_tokenizer_encode(tp, " Hello", 6, 0, &ids, &n);
			T_CHECK(!st && n == 1 && ids[0] == 18435, "\" Hello\"");
			if (!st)
				free(ids);
			cl_tokenizer_free(tp);
		}
		free(json);
	}
	t_end();

	test_bad_files(gpt2);

	cl_tokenizer_free(tok);
	free_vectors(v, nv);
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return t_exit();
}
