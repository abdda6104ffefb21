/*
 * cl-score - per-token log-probabilities of texts or token streams under the
 * model, and their perplexity.
 */
#include <math.h>
#include <sys/sysinfo.h>

#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [--json] [--lines] [--bos | --no-bos] [--ctx N] [--stride N]\n"
		"       [--threads N] [--quantize TYPE] [--kv-type T] [-f FILE] [TEXT ...]\n"
		"The log-probability of every token given the ones before it, as Hugging\n"
		"Face's loss with labels= computes it.  Input: text (the arguments, FILE or\n"
		"standard input, one sequence) or a cl token stream on standard input (each\n"
		"sequence scored).  Output: a token stream whose records carry each token's\n"
		"log-probability (NaN for a sequence's first, which nothing predicts), or with\n"
		"--json one line per sequence.\n"
		"  -m DIR          model directory or .gguf file (default: $CL_MODEL or the\n"
		"                  model that ships)\n"
		"  --json          one object per sequence: tokens, logprobs, total, mean,\n"
		"                  scored, perplexity\n"
		"  --lines         text: each input line is a sequence\n"
		"  --bos           text: begin with BOS (the default where the model's own\n"
		"                  tokenizer does so: Llama yes, GPT-2 no)\n"
		"  --no-bos        text: do not begin with BOS\n"
		"  --ctx N         the window: positions the model sees at once (default:\n"
		"                  max_position_embeddings)\n"
		"  --stride N      a sequence longer than the window is scored in windows that\n"
		"                  start N tokens apart, each scoring the tokens the one before\n"
		"                  did not (default: half the window)\n"
		"  --threads N     threads (default: the cores available)\n"
		"  --quantize TYPE convert weights at load (as cl-forward)\n"
		"  --kv-type T     KV cache in f32 (default) or f16\n"
		"  -f FILE         read the text from FILE\n"
		"  -h, --help      this help\n",
		prog);
	exit(code);
}

static struct cl_model *model;
static const struct cl_model_info *mi;
static struct cl_kv *kv;
static int32_t ctx, stride;
static float *x, *logits; /* (CL_BATCH_MAX, dim), (CL_BATCH_MAX, n_vocab) */

/* log p(ids[t] | ids[..t]) into lp[t] for every t a window predicts; the
 * others (the first token) NaN.  Windows of ctx positions start stride
 * apart; each runs from an empty cache and scores only the tokens past the
 * previous window's end, as Hugging Face's guide to perplexity with a
 * sliding window does. */
static void score(const int32_t *ids, size_t n, double *lp)
{
	enum cl_status st;
	for (size_t t = 0; t < n; t++)
		lp[t] = NAN;
	size_t prev_end = 0;
	int64_t V = mi->n_vocab, dim = mi->dim;
	for (size_t b = 0; n >= 2; b += (size_t)stride) {
		size_t e = b + (size_t)ctx < n ? b + (size_t)ctx : n;
		size_t first = prev_end > b + 1 ? prev_end : b + 1; /* the first token scored */
		/* Positions b..e-2 predict tokens b+1..e-1. */
		for (size_t p = b; p + 1 < e; p += CL_BATCH_MAX) {
			int32_t k = (int32_t)(e - 1 - p < CL_BATCH_MAX ? e - 1 - p : CL_BATCH_MAX);
			for (int32_t j = 0; j < k; j++)
				if ((st = cl_model_embed(model, ids[p + (size_t)j], x + (size_t)j * dim)))
					die_status(st);
			if ((st = cl_model_forward(model, kv, (int32_t)(p - b), k, x, logits, 1)))
				die_status(st);
			for (int32_t j = 0; j < k; j++) {
				size_t t = p + (size_t)j + 1;
				if (t < first)
					continue;
				const float *z = logits + (size_t)j * V;
				double mx = z[0], sum = 0;
				for (int64_t v = 1; v < V; v++)
					mx = z[v] > mx ? z[v] : mx;
				for (int64_t v = 0; v < V; v++)
					sum += exp((double)z[v] - mx);
				lp[t] = (double)z[ids[t]] - mx - log(sum);
			}
		}
		prev_end = e;
		if (e == n)
			break;
	}
}

static struct cl_writer *w;
static int json;
static uint32_t seq_no;

static void put(uint16_t kind, uint32_t seq, uint32_t pos, int32_t token, uint16_t flags, float logprob)
{
	struct cl_record r = {.kind = kind, .flags = flags, .seq = seq, .pos = pos, .token = token,
			      .logprob = logprob};
	enum cl_status st = cl_writer_put(w, &r);
	if (st)
		die_status(st);
}

static void put_num(double v)
{
	if (isnan(v))
		fputs("null", stdout);
	else
		printf("%.9g", v);
}

/* Score one sequence and write what it gives. */
static void emit(uint32_t seq, const int32_t *ids, size_t n)
{
	for (size_t t = 0; t < n; t++)
		if (ids[t] < 0 || ids[t] >= mi->n_vocab)
			die(EXIT_DATA, "seq %u: token %d at position %zu is outside the vocabulary of %d", seq, ids[t],
			    t, mi->n_vocab);
	double *lp = malloc((n ? n : 1) * sizeof *lp);
	if (!lp)
		die(EXIT_DATA, "out of memory");
	score(ids, n, lp);
	double total = 0;
	size_t scored = 0;
	for (size_t t = 0; t < n; t++)
		if (!isnan(lp[t]))
			total += lp[t], scored++;
	if (json) {
		printf("{\"seq\":%u,\"tokens\":[", seq);
		for (size_t t = 0; t < n; t++)
			printf("%s%d", t ? "," : "", ids[t]);
		fputs("],\"logprobs\":[", stdout);
		for (size_t t = 0; t < n; t++) {
			if (t)
				putchar(',');
			put_num(lp[t]);
		}
		printf("],\"scored\":%zu,\"total\":", scored);
		put_num(scored ? total : NAN);
		fputs(",\"mean\":", stdout);
		put_num(scored ? total / (double)scored : NAN);
		fputs(",\"perplexity\":", stdout);
		put_num(scored ? exp(-total / (double)scored) : NAN);
		fputs("}\n", stdout);
		fflush(stdout);
		if (ferror(stdout))
			die(EXIT_DATA, "stdout:");
	} else {
		put(CL_REC_SEQ_BEGIN, seq, 0, -1, 0, NAN);
		for (size_t t = 0; t < n; t++)
			put(CL_REC_TOKEN, seq, (uint32_t)t, ids[t], CL_FLAG_PROMPT, (float)lp[t]);
		put(CL_REC_SEQ_END, seq, (uint32_t)n, -1, 0, NAN);
	}
	free(lp);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *file = NULL;
	int lines = 0, bos = -1, i;
	long ctx_opt = 0, stride_opt = 0;
	struct cl_model_opts opts;
	cl_model_opts_init(&opts);
	cmd_init("cl-score");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		else if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if ((v = opt_arg(argc, argv, &i, "-m")))
			dir = v;
		else if ((v = opt_arg(argc, argv, &i, "-f")))
			file = v;
		else if (strcmp(a, "--json") == 0)
			json = 1;
		else if (strcmp(a, "--lines") == 0)
			lines = 1;
		else if (strcmp(a, "--bos") == 0)
			bos = 1;
		else if (strcmp(a, "--no-bos") == 0)
			bos = 0;
		else if ((v = opt_arg(argc, argv, &i, "--ctx")))
			ctx_opt = opt_long("--ctx", v, 2, 1 << 24);
		else if ((v = opt_arg(argc, argv, &i, "--stride")))
			stride_opt = opt_long("--stride", v, 1, 1 << 24);
		else if (model_opt(argc, argv, &i, &opts))
			;
		else if (a[0] == '-' && a[1])
			bad_arg(a);
		else
			break;
	}
	if (!dir)
		dir = cl_default_model();
	if (!json)
		no_stream_to_tty("use --json, or pipe it into cl-dump to read it");

	enum cl_status st;
	if ((st = cl_model_load(dir, &opts, &model)))
		die_status(st);
	mi = cl_model_info(model);
	if (mi->layer_to < mi->n_layers)
		die(EXIT_USAGE, "the model must end at its logits");
	ctx = mi->max_pos;
	if (ctx_opt) {
		if (ctx_opt > mi->max_pos)
			die(EXIT_USAGE, "--ctx: %ld is beyond max_position_embeddings %d of %s", ctx_opt, mi->max_pos, dir);
		ctx = (int32_t)ctx_opt;
	} else {
		struct sysinfo si;
		uint64_t budget = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit / 4 : (1ull << 32);
		if ((uint64_t)ctx * cl_kv_bytes(model, 1) > budget)
			die(EXIT_USAGE, "a window of %d positions takes more than a quarter of memory: set --ctx", ctx);
	}
	stride = stride_opt ? (int32_t)stride_opt : (ctx / 2 > 0 ? ctx / 2 : 1);
	if (stride > ctx)
		die(EXIT_USAGE, "--stride: %d is longer than the window of %d (--ctx)", stride, ctx);
	if ((st = cl_kv_new(model, ctx, &kv)))
		die_status(st);
	x = malloc((size_t)CL_BATCH_MAX * mi->dim * sizeof *x);
	logits = malloc((size_t)CL_BATCH_MAX * mi->n_vocab * sizeof *logits);
	if (!x || !logits)
		die(EXIT_DATA, "out of memory");
	struct cl_tokenizer *tok = NULL;
	if (cl_tokenizer_load(dir, &tok) != CL_OK)
		tok = NULL;

	/* The input: text from the arguments or FILE; standard input is text, or
	 * a token stream where it begins with the stream's magic bytes. */
	size_t len = 0;
	char *text = read_text(argc, argv, i, file, &len);
	int stream_in = len >= 8 && memcmp(text, CL_STREAM_MAGIC, 8) == 0;
	if (!stream_in && !tok)
		die(EXIT_DATA, "%s: no tokenizer to read text with", dir);
	if (!json) {
		struct cl_stream_info info;
		if (tok)
			cl_stream_info_tokens(&info, tok, "cl-score", dir);
		else
			cl_stream_info_init(&info, CL_STREAM_TOKENS, "tokens", "cl-score");
		snprintf(info.what, sizeof info.what, "tokens");
		if (!(w = cl_writer_open(STDOUT_FILENO, "stdout", &info, &st)))
			die_status(st);
	}

	if (stream_in) {
		/* The stream, from memory: a reader wants a file descriptor. */
		FILE *tf = tmpfile();
		if (!tf || fwrite(text, 1, len, tf) != len || fflush(tf) || fseek(tf, 0, SEEK_SET))
			die(EXIT_DATA, "stdin: cannot keep the stream in a temporary file:");
		free(text);
		text = NULL;
		struct cl_reader *r = cl_reader_open(fileno(tf), "stdin");
		const struct cl_stream_info *in = r ? cl_reader_info(r, &st) : NULL;
		if (!in)
			die_status(r ? st : CL_ERR_NOMEM);
		if (in->kind != CL_STREAM_TOKENS)
			die(EXIT_DATA, "stdin: expected text or a token stream, got a stream of %s", in->what);
		if (tok && (st = cl_stream_check_tokenizer(in, cl_tokenizer_fingerprint(tok), dir)))
			die(EXIT_DATA, "stdin: %s", cl_errmsg());
		/* Each sequence's tokens in order of position, scored at its end
		 * (SEQ_END, END, or the end of the input). */
		struct cl_record rec;
		int32_t *ids = NULL;
		size_t n = 0, cap = 0;
		int open_seq = 0;
		uint32_t cur = 0;
		while ((st = cl_reader_next(r, &rec)) == CL_OK) {
			if (open_seq && (rec.seq != cur || rec.kind == CL_REC_SEQ_BEGIN || rec.kind == CL_REC_SEQ_END ||
					 rec.kind == CL_REC_END)) {
				emit(cur, ids, n);
				open_seq = 0;
			}
			if (rec.kind != CL_REC_TOKEN)
				continue;
			if (!open_seq) {
				open_seq = 1;
				cur = rec.seq;
				n = 0;
			}
			if (rec.pos != n)
				die(EXIT_DATA, "stdin: seq %u: token at position %u after %zu tokens (a rewind is not "
				    "scored)", rec.seq, rec.pos, n);
			if (n == cap && !(ids = realloc(ids, (cap = cap ? 2 * cap : 256) * sizeof *ids)))
				die(EXIT_DATA, "out of memory");
			ids[n++] = rec.token;
		}
		if (st != CL_ERR_EOF)
			die_status(st);
		if (open_seq)
			emit(cur, ids, n);
		free(ids);
		cl_reader_free(r);
		fclose(tf);
	} else {
		unsigned flags = (bos < 0 ? cl_tokenizer_add_bos(tok) : bos) ? CL_ENCODE_BOS : 0;
		char *p = text, *end = text + len;
		do {
			char *nl = lines ? memchr(p, '\n', (size_t)(end - p)) : NULL;
			size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (!lines || l || nl) {
				int32_t *ids;
				size_t n;
				if ((st = cl_tokenizer_encode(tok, p, l, flags, &ids, &n)))
					die(EXIT_DATA, "%s: %s", file ? file : i < argc ? "the text" : "stdin", cl_errmsg());
				if (!lines || l)
					emit(seq_no++, ids, n);
				free(ids);
			}
			p = nl ? nl + 1 : end;
		} while (p < end);
		free(text);
	}
	if (w) {
		put(CL_REC_END, 0, 0, -1, 0, NAN);
		if ((st = cl_writer_close(w)))
			die_status(st);
	}
	free(x);
	free(logits);
	cl_kv_free(kv);
	cl_tokenizer_free(tok);
	cl_model_free(model);
	return EXIT_OK;
}
