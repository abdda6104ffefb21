/*
 * cl-dump - any cl stream to JSON Lines, and back with -r; --npy for NumPy.
 */
#include <cJSON.h>

#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [--npy FILE] [FILE]\n"
		"       %s -r [FILE]\n"
		"A cl stream (FILE or standard input) to JSON Lines on standard output: the\n"
		"header first, then one record per line with kind, seq, pos, token, flags,\n"
		"logprob and alts (tokens) or data (vectors).\n"
		"  -r          the reverse: JSON Lines to a cl stream\n"
		"  --npy FILE  write the stream's vectors to FILE as a float32 NumPy array\n"
		"              of shape (records, width) instead of JSON Lines\n"
		"  -h, --help  this help\n",
		prog, prog);
	exit(code);
}

static const char *kind_names[] = {
	[CL_REC_TOKEN] = "token", [CL_REC_VECTOR] = "vector", [CL_REC_SEQ_BEGIN] = "seq_begin",
	[CL_REC_PROMPT_END] = "prompt_end", [CL_REC_SEQ_END] = "seq_end", [CL_REC_END] = "end",
};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

/* JSON has no infinities or NaN: ±1e999 reads back as ±inf in cJSON, Python
 * and most readers; NaN is written as null. */
static void put_float(FILE *f, float v)
{
	if (v != v)
		fputs("null", f);
	else if (isinf(v))
		fputs(v > 0 ? "1e999" : "-1e999", f);
	else
		fprintf(f, "%.9g", v);
}

static void put_header(const struct cl_stream_info *in)
{
	printf("{\"kind\":\"header\",\"stream\":\"%s\",\"what\":\"%s\"",
	       in->kind == CL_STREAM_TOKENS ? "tokens" : "vectors", in->what);
	if (in->kind == CL_STREAM_VECTORS)
		printf(",\"width\":%u,\"dtype\":\"%s\"", in->width, cl_dtype_name(in->dtype));
	printf(",\"vocab_size\":%u,\"tokenizer\":\"%s\",\"bos\":%d,\"eos\":%d", in->vocab_size, in->tokenizer,
	       in->bos, in->eos);
	if (in->layer >= 0)
		printf(",\"layer\":%d", in->layer);
	if (in->context)
		printf(",\"context\":%u", in->context);
	if (in->heads)
		printf(",\"heads\":%d", in->heads);
	printf(",\"producer\":\"%s\",\"model\":", in->producer);
	cJSON *js = cJSON_CreateString(in->model);
	char *m = js ? cJSON_PrintUnformatted(js) : NULL;
	fputs(m ? m : "\"\"", stdout);
	printf("}\n");
	free(m);
	cJSON_Delete(js);
}

static void write_npy_header(FILE *f, uint64_t rows, uint32_t width)
{
	char h[128];
	int n = snprintf(h, sizeof h, "{'descr': '<f4', 'fortran_order': False, 'shape': (%llu, %u), }",
			 (unsigned long long)rows, width);
	memset(h + n, ' ', sizeof h - 10 - (size_t)n);
	h[sizeof h - 10 - 1] = '\n';
	fwrite("\x93NUMPY\x01\x00\x76\x00", 1, 10, f); /* version 1.0, header length 118 */
	fwrite(h, 1, sizeof h - 10, f);
}

/* --npy writes FILE.tmp-PID and renames it at the end, so that a failure
 * (a truncated stream) leaves no array that looks whole. */
static char npy_tmp[4096];

static void npy_unlink(void)
{
	if (npy_tmp[0])
		unlink(npy_tmp);
}

static int dump(const char *name, int fd, const char *npy)
{
	struct cl_reader *r = cl_reader_open(fd, name);
	struct cl_record rec;
	enum cl_status st;
	if (!r)
		die(EXIT_DATA, "out of memory");
	const struct cl_stream_info *info = cl_reader_info(r, &st);
	if (!info)
		die_status(st);
	float *v = info->kind == CL_STREAM_VECTORS ? malloc((size_t)info->width * sizeof *v) : NULL;
	FILE *f = NULL;
	uint64_t rows = 0;
	if (npy) {
		if (info->kind != CL_STREAM_VECTORS)
			die(EXIT_DATA, "%s: --npy needs a stream of vectors, got %s", name, info->what);
		snprintf(npy_tmp, sizeof npy_tmp, "%s.tmp-%ld", npy, (long)getpid());
		atexit(npy_unlink);
		if (!(f = fopen(npy_tmp, "wb"))) {
			npy_tmp[0] = 0;
			die(EXIT_DATA, "%s:", npy);
		}
		write_npy_header(f, 0, info->width);
	} else {
		put_header(info);
	}
	while ((st = cl_reader_next(r, &rec)) == CL_OK) {
		if (npy) {
			if (rec.kind == CL_REC_VECTOR) {
				cl_record_vector(r, &rec, v);
				fwrite(v, 4, rec.n, f);
				rows++;
			}
			continue;
		}
		printf("{\"kind\":\"%s\",\"seq\":%u,\"pos\":%u,\"token\":%d,\"flags\":%u",
		       rec.kind < N_KINDS && kind_names[rec.kind] ? kind_names[rec.kind] : "?", rec.seq, rec.pos,
		       rec.token, rec.flags);
		/* The aux word, named as the stream's kind defines it. */
		if (rec.kind != CL_REC_VECTOR)
			;
		else if (strcmp(info->what, "attention") == 0)
			printf(",\"layer\":%d,\"head\":%d", CL_AUX_LAYER(rec.aux), CL_AUX_HEAD(rec.aux));
		else if ((strcmp(info->what, "hidden") == 0 && (info->layer < 0 || rec.aux)) ||
			 (strcmp(info->what, "logits") == 0 && rec.aux))
			printf(",\"layer\":%u", rec.aux); /* taps, and the lens on them */
		else if (rec.aux)
			printf(",\"aux\":%u", rec.aux);
		if (rec.logprob == rec.logprob) {
			fputs(",\"logprob\":", stdout);
			put_float(stdout, rec.logprob);
		}
		if (rec.kind == CL_REC_TOKEN && rec.n) {
			const unsigned char *p = rec.data;
			fputs(",\"alts\":[", stdout);
			for (uint32_t k = 0; k < rec.n; k++) {
				int32_t id;
				float lp;
				memcpy(&id, p + 8 * k, 4);
				memcpy(&lp, p + 8 * k + 4, 4);
				printf("%s[%d,", k ? "," : "", id);
				put_float(stdout, lp);
				putchar(']');
			}
			putchar(']');
		}
		if (rec.kind == CL_REC_VECTOR) {
			cl_record_vector(r, &rec, v);
			fputs(",\"data\":[", stdout);
			for (uint32_t k = 0; k < rec.n; k++) {
				if (k)
					putchar(',');
				put_float(stdout, v[k]);
			}
			putchar(']');
		}
		fputs("}\n", stdout);
		if (ferror(stdout))
			break;
	}
	if (st != CL_ERR_EOF && st != CL_OK)
		die_status(st);
	if (f) {
		if (fseek(f, 0, SEEK_SET) != 0)
			die(EXIT_DATA, "%s: --npy needs a file it can seek in:", npy);
		write_npy_header(f, rows, info->width);
		if (ferror(f) | (fclose(f) != 0))
			die(EXIT_DATA, "%s:", npy);
		if (rename(npy_tmp, npy) != 0)
			die(EXIT_DATA, "%s:", npy);
		npy_tmp[0] = 0;
	}
	free(v);
	cl_reader_free(r);
	return 0;
}

/* ------------------------------------------------------------- -r ----- */

/* An integer field: a number with a fraction is refused, not cut. */
static double num(const cJSON *o, const char *k, double dflt, unsigned long line, double lo, double hi)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (!v)
		return dflt;
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) ||
	    v->valuedouble != floor(v->valuedouble))
		die(EXIT_DATA, "line %lu: %s: expected an integer from %.0f to %.0f", line, k, lo, hi);
	return v->valuedouble;
}

static float fval(const cJSON *v, unsigned long line, const char *what)
{
	if (cJSON_IsNull(v))
		return NAN;
	if (!cJSON_IsNumber(v))
		die(EXIT_DATA, "line %lu: %s: expected numbers", line, what);
	return (float)v->valuedouble;
}

static int reverse(const char *name, FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned long lineno = 0;
	struct cl_writer *w = NULL;
	struct cl_stream_info info;
	float *v = NULL;
	struct cl_alt *alts = NULL;
	enum cl_status st;
	while (getline(&line, &cap, in) >= 0) {
		lineno++;
		if (strspn(line, " \t\r\n") == strlen(line))
			continue;
		cJSON *o = cJSON_Parse(line);
		if (!o || !cJSON_IsObject(o))
			die(EXIT_DATA, "%s: line %lu: not a JSON object", name, lineno);
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "kind");
		if (!cJSON_IsString(k))
			die(EXIT_DATA, "%s: line %lu: kind: expected a string", name, lineno);
		if (strcmp(k->valuestring, "header") == 0) {
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "stream");
			const cJSON *what = cJSON_GetObjectItemCaseSensitive(o, "what");
			int vec = cJSON_IsString(s) && strcmp(s->valuestring, "vectors") == 0;
			if (!cJSON_IsString(s) || (!vec && strcmp(s->valuestring, "tokens") != 0))
				die(EXIT_DATA, "%s: line %lu: stream: expected \"tokens\" or \"vectors\"", name, lineno);
			struct cl_stream_info ni;
			cl_stream_info_init(&ni, vec ? CL_STREAM_VECTORS : CL_STREAM_TOKENS,
					    cJSON_IsString(what) ? what->valuestring : (vec ? "vectors" : "tokens"), "");
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(o, "producer");
			snprintf(ni.producer, sizeof ni.producer, "%s", cJSON_IsString(p) ? p->valuestring : "cl-dump");
			if (vec) {
				ni.width = (uint32_t)num(o, "width", 0, lineno, 1, 1 << 24);
				const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dtype");
				if (cJSON_IsString(d) && cl_dtype_parse(d->valuestring, &ni.dtype) != 0)
					die(EXIT_DATA, "%s: line %lu: dtype: unknown '%s'", name, lineno, d->valuestring);
				if (!ni.width)
					die(EXIT_DATA, "%s: line %lu: width: missing", name, lineno);
			}
			ni.vocab_size = (uint32_t)num(o, "vocab_size", 0, lineno, 0, 1 << 30);
			ni.bos = (int32_t)num(o, "bos", -1, lineno, -1, 1 << 30);
			ni.eos = (int32_t)num(o, "eos", -1, lineno, -1, 1 << 30);
			ni.context = (uint32_t)num(o, "context", 0, lineno, 0, 1 << 30);
			ni.layer = (int32_t)num(o, "layer", -1, lineno, 0, 1 << 16);
			ni.heads = (int32_t)num(o, "heads", 0, lineno, 0, 1 << 16);
			const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tokenizer");
			if (cJSON_IsString(t))
				snprintf(ni.tokenizer, sizeof ni.tokenizer, "%s", t->valuestring);
			const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, "model");
			if (cJSON_IsString(m))
				snprintf(ni.model, sizeof ni.model, "%s", m->valuestring);
			if (!w) {
				info = ni;
				if (!(w = cl_writer_open(STDOUT_FILENO, "stdout", &info, &st)))
					die_status(st);
				if (vec && !(v = malloc((size_t)info.width * sizeof *v)))
					die(EXIT_DATA, "out of memory");
			} else if (ni.kind != info.kind || ni.width != info.width) {
				die(EXIT_DATA, "%s: line %lu: a header of another kind or width", name, lineno);
			}
			cJSON_Delete(o);
			continue;
		}
		if (!w)
			die(EXIT_DATA, "%s: line %lu: a record before the header", name, lineno);
		struct cl_record rec = {0};
		int kind = 0;
		for (int j = 1; j < N_KINDS; j++)
			if (kind_names[j] && strcmp(kind_names[j], k->valuestring) == 0)
				kind = j;
		if (!kind)
			die(EXIT_DATA, "%s: line %lu: kind: unknown '%s'", name, lineno, k->valuestring);
		rec.kind = (uint16_t)kind;
		rec.seq = (uint32_t)num(o, "seq", 0, lineno, 0, 4294967295.0);
		rec.pos = (uint32_t)num(o, "pos", 0, lineno, 0, 4294967295.0);
		rec.token = (int32_t)num(o, "token", -1, lineno, -1, 2147483647.0);
		rec.flags = (uint16_t)num(o, "flags", 0, lineno, 0, 65535);
		if (strcmp(info.what, "attention") == 0)
			rec.aux = CL_AUX_ATTN(num(o, "layer", 0, lineno, 0, 65535), num(o, "head", 0, lineno, 0, 65535));
		else
			rec.aux = (uint32_t)num(o, strcmp(info.what, "hidden") == 0 ? "layer" : "aux", 0, lineno, 0,
						4294967295.0);
		const cJSON *lp = cJSON_GetObjectItemCaseSensitive(o, "logprob");
		rec.logprob = lp ? fval(lp, lineno, "logprob") : NAN;
		if (kind == CL_REC_VECTOR) {
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "data");
			if (info.kind != CL_STREAM_VECTORS)
				die(EXIT_DATA, "%s: line %lu: a vector in a token stream", name, lineno);
			if (!cJSON_IsArray(d) || cJSON_GetArraySize(d) != (int)info.width)
				die(EXIT_DATA, "%s: line %lu: data: expected %u numbers", name, lineno, info.width);
			uint32_t j = 0;
			const cJSON *e;
			cJSON_ArrayForEach(e, d) v[j++] = fval(e, lineno, "data");
			rec.n = info.width;
			rec.data = v;
		} else if (kind == CL_REC_TOKEN) {
			const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "alts"), *e;
			if (a) {
				int na = cJSON_GetArraySize(a);
				if (!cJSON_IsArray(a) || na > 65536)
					die(EXIT_DATA, "%s: line %lu: alts: expected [[id, logprob], ...]", name, lineno);
				free(alts);
				alts = malloc(((size_t)na + 1) * sizeof *alts);
				int j = 0;
				cJSON_ArrayForEach(e, a) {
					const cJSON *id = cJSON_GetArrayItem(e, 0);
					if (!cJSON_IsArray(e) || cJSON_GetArraySize(e) != 2 || !cJSON_IsNumber(id) ||
					    id->valuedouble != floor(id->valuedouble) || id->valuedouble < 0 ||
					    id->valuedouble > 2147483647.0)
						die(EXIT_DATA, "%s: line %lu: alts: expected [[id, logprob], ...]", name, lineno);
					alts[j].token = (int32_t)cJSON_GetArrayItem(e, 0)->valuedouble;
					alts[j].logprob = fval(cJSON_GetArrayItem(e, 1), lineno, "alts");
					j++;
				}
				rec.n = (uint32_t)na;
				rec.data = alts;
			}
		}
		if ((st = cl_writer_put(w, &rec)))
			die_status(st);
		cJSON_Delete(o);
	}
	if (ferror(in))
		die(EXIT_DATA, "%s:", name);
	if (!w)
		die(EXIT_DATA, "%s: no header line", name);
	if ((st = cl_writer_close(w)))
		die_status(st);
	free(line);
	free(v);
	free(alts);
	return 0;
}

int main(int argc, char **argv)
{
	int rev = 0, i;
	const char *npy = NULL;
	cmd_init("cl-dump");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (a[0] != '-' || a[1] == 0) {
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(EXIT_OK);
		} else if (strcmp(a, "-r") == 0) {
			rev = 1;
		} else if ((v = opt_arg(argc, argv, &i, "--npy"))) {
			npy = v;
		} else {
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		}
	}
	if (argc - i > 1)
		die(EXIT_USAGE, "one FILE at most (see --help)");
	if (rev && npy)
		die(EXIT_USAGE, "-r and --npy do not go together");
	if (rev)
		no_stream_to_tty("pipe it on, or into a file");
	const char *name = i < argc ? argv[i] : "stdin";
	if (rev) {
		FILE *in = i < argc ? fopen(name, "r") : stdin;
		if (!in)
			die(EXIT_DATA, "%s:", name);
		reverse(name, in);
		if (in != stdin)
			fclose(in);
	} else {
		int fd = i < argc ? open(name, O_RDONLY) : STDIN_FILENO;
		if (fd < 0)
			die(EXIT_DATA, "%s:", name);
		dump(name, fd, npy);
		if (fd != STDIN_FILENO)
			close(fd);
	}
	return finish_stdout();
}
