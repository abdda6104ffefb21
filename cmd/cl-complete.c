/*
 * cl-complete - a prompt and its completion, through the generation loop of
 * separate processes: cl-tokenize, cl-embed, cl-forward --last, cl-sample.
 * We stand where `cat - fifo | ... | tee fifo` stands in the shell recipe:
 * the prompt's stream and then every record cl-sample writes go into
 * cl-embed, and a copy into cl-detok, whose standard output is ours.
 *
 * With --json, requests come one per line on stdin.  The prompts of a
 * request are its sequences in one run of cl-embed | cl-forward | cl-sample;
 * we tokenize and detokenize in-process (a prompt may hold newlines, and the
 * answer needs each sequence's text apart).
 *
 * Everything moves through poll(2) with non-blocking writes, so we never
 * block writing to cl-embed while cl-sample is blocked writing to us.
 */
#include <poll.h>
#include <sys/mman.h>
#include <cJSON.h>

#include "cmd.h"
#include "proc.h"
#include "request.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [sampling options] [--threads N] [--ctx N] [--quantize TYPE]\n"
		"       [--raw] PROMPT...\n"
		"       %s --json [-m DIR] [--threads N] [--ctx N] [--quantize TYPE]\n"
		"Print the prompt (the arguments joined by spaces, or standard input) and its\n"
		"completion as it is generated.  With --json, answer requests read one per line.\n"
		"  -m DIR          model directory (default: $CL_MODEL or the model that ships)\n"
		"  --threads N     threads of cl-forward (default: the cores available)\n"
		"  --ctx N         positions per sequence (cl-forward --ctx)\n"
		"  --quantize TYPE convert weights at load: f16, bf16, q8_0 or q4_0\n"
		"  --raw           the tokens' bytes exactly, and no newline at the end\n"
		"  --json          requests {\"input_data\": {\"input_string\": [...], \"parameters\": {...}}}\n"
		"                  or {\"input_data\": [...], \"params\": {...}}, one per line\n"
		"Sampling options, passed to cl-sample(1): --temperature T, --greedy, --top-k K,\n"
		"--top-p P, --min-p P, --typical-p P, --repetition-penalty R, --presence-penalty R,\n"
		"--frequency-penalty R, --logit-bias ID=BIAS, --samplers LIST, --seed N,\n"
		"--max-new-tokens N, --stop STRING, --ignore-eos.\n",
		prog, prog);
	exit(code);
}

struct args {
	char **v; /* (n + 1) NULL-terminated, each string owned */
	int n;
};

static void push(struct args *a, const char *s)
{
	char **v = realloc(a->v, (size_t)(a->n + 2) * sizeof *v);
	if (!v || !(v[a->n] = strdup(s)))
		die(EXIT_DATA, "out of memory");
	a->v = v;
	a->v[++a->n] = NULL;
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* One sequence's answer in --json mode. */
struct gen {
	struct cl_bytes text;
	struct cl_utf8 u;
	int any;  /* generated text has gone out */
	int done; /* SEQ_END seen */
};

/* --json: one request's run. */
struct job {
	struct cl_loop L;
	const struct cl_tokenizer *tk;
	struct cl_reader *rd;   /* cl-sample's output */
	int have_hdr;           /* rd has read the header */
	struct cl_writer *wr;   /* the stream into cl-embed, through mfd */
	int mfd;
	struct gen *gens;       /* (ngens) one per prompt */
	int ngens;
	char bad[512];          /* a fault in cl-sample's output */
};

static const char *dir;

static void add(struct cl_bytes *q, const void *p, size_t n)
{
	if (cl_bytes_add(q, p, n))
		die(EXIT_DATA, "%s", cl_errmsg());
}

/* --json: what the writer put in its memfd goes to cl-embed.  A hack: the
 * writer writes only to an fd; a writer into memory would remove it. */
static void feed(struct job *R)
{
	char buf[65536];
	ssize_t n;
	off_t at = 0;
	if (cl_writer_flush(R->wr))
		die(EXIT_DATA, "%s", cl_errmsg());
	while ((n = pread(R->mfd, buf, sizeof buf, at)) > 0) {
		add(&R->L.q_emb, buf, (size_t)n);
		at += n;
	}
	if (n < 0 || ftruncate(R->mfd, 0) < 0 || lseek(R->mfd, 0, SEEK_SET) < 0)
		die(EXIT_DATA, "memfd:");
}

static void put(struct job *R, uint16_t kind, uint16_t flags, uint32_t seq, uint32_t pos, int32_t token)
{
	struct cl_record r = {.kind = kind, .flags = flags, .seq = seq, .pos = pos, .token = token,
			      .logprob = NAN};
	if (cl_writer_put(R->wr, &r))
		die(EXIT_DATA, "%s", cl_errmsg());
}

/* --json: records cl-sample has written; they go round again, and tokens
 * become text. */
static enum cl_status take(struct cl_loop *L, void *arg)
{
	struct job *R = arg;
	struct cl_record rec;
	char piece[1024], text[1024 + 16];
	enum cl_status st;
	/* Poll said there is input: a whole record, as cl-sample writes each
	 * in one write(2) of less than PIPE_BUF, or the header alone at first,
	 * when we must not wait for a record. */
	int fresh = R->have_hdr;
	if (!R->have_hdr) {
		if (!cl_reader_info(R->rd, &st)) {
			snprintf(R->bad, sizeof R->bad, "%s", cl_errmsg());
			cl_fd_close(&L->smp);
			return CL_OK;
		}
		R->have_hdr = 1;
	}
	while (fresh || cl_reader_ready(R->rd)) {
		fresh = 0;
		st = cl_reader_next(R->rd, &rec);
		if (st) {
			if (st != CL_ERR_EOF)
				snprintf(R->bad, sizeof R->bad, "%s", cl_errmsg());
			cl_fd_close(&L->smp);
			break;
		}
		if (rec.kind != CL_REC_TOKEN && rec.kind != CL_REC_SEQ_END && rec.kind != CL_REC_END)
			continue;
		put(R, rec.kind, rec.flags, rec.seq, rec.pos, rec.token);
		if (rec.kind == CL_REC_END || rec.seq >= (uint32_t)R->ngens)
			continue;
		struct gen *g = &R->gens[rec.seq];
		if (rec.kind == CL_REC_SEQ_END) {
			add(&g->text, text, cl_utf8_finish(&g->u, text));
			g->done = 1;
			continue;
		}
		/* As cl-detok: a generated token begins the text only after
		 * a prompt of BOS alone. */
		int n = cl_tokenizer_decode(R->tk, rec.token, !g->any && rec.pos <= 1, piece, sizeof piece);
		if (n > 0) {
			g->any = 1;
			add(&g->text, text, cl_utf8_push(&g->u, piece, (size_t)n, text));
		}
	}
	feed(R);
	return CL_OK;
}

/* A child has exited: its stderr goes on to ours, but of a failure only the
 * first child's (the others' are its consequences); *failed is that child. */
static void report(struct cl_loop *L, int i, int *failed)
{
	struct cl_proc *p = &L->ps[i];
	size_t n = cl_bytes_count(&p->err);
	if (*failed < 0 && cl_proc_failed(p)) {
		*failed = i;
		cl_loop_stop(L);
		if (n == 0) {
			char how[64];
			/* Our own line, naming the child that left none. */
			fprintf(stderr, "%s: %s: %s\n", prog, p->name, cl_proc_describe(p, how, sizeof how));
			return;
		}
	} else if (*failed >= 0) {
		return;
	}
	if (n)
		fwrite(p->err.p + p->err.off, 1, n, stderr);
}

/* Run the loop until every child is reaped; the child that failed first, or -1. */
static int run(struct cl_loop *L)
{
	enum cl_status st;
	unsigned ex;
	int failed = -1;
	while ((st = cl_loop_step(L, &ex)) == CL_OK) {
		for (int i = 0; i < L->np; i++)
			if (ex & 1u << i)
				report(L, i, &failed);
		/* cl-detok gone before the end (our reader went away):
		 * nothing more is worth computing. */
		if (ex & 1u << CL_LOOP_DETOK && L->smp >= 0)
			cl_loop_stop(L);
	}
	if (st != CL_ERR_EOF) {
		cl_loop_free(L);
		die(EXIT_DATA, "%s", cl_errmsg());
	}
	return failed;
}

static int exit_code(const struct cl_loop *L, int failed)
{
	if (failed < 0)
		return EXIT_OK;
	const struct cl_proc *p = &L->ps[failed];
	return WIFEXITED(p->status) && WEXITSTATUS(p->status) == EXIT_USAGE ? EXIT_USAGE : EXIT_DATA;
}

static void start(struct cl_loop *L, char **emb, char **fwd, char **smp, char **tok, char **det)
{
	if (cl_loop_start(L, emb, fwd, smp, tok, det)) {
		cl_loop_free(L);
		die(EXIT_DATA, "%s", cl_errmsg());
	}
}

/* --json: the first line a failed child wrote, or how it ended. */
static void failure(struct cl_loop *L, int failed, char *msg, size_t cap)
{
	struct cl_proc *p = &L->ps[failed];
	size_t n = cl_bytes_count(&p->err);
	const char *e = (const char *)p->err.p + p->err.off, *nl = n ? memchr(e, '\n', n) : NULL;
	char how[64];
	if (n)
		snprintf(msg, cap, "%.*s", (int)(nl ? (size_t)(nl - e) : n), e);
	else
		snprintf(msg, cap, "%s: %s", p->name, cl_proc_describe(p, how, sizeof how));
}

static void pushf(struct args *a, const char *opt, const char *fmt, double v)
{
	char buf[64];
	snprintf(buf, sizeof buf, fmt, v);
	push(a, opt);
	push(a, buf);
}

/* One request through a run of cl-embed | cl-forward | cl-sample: the
 * answer, or an error object; *ok is cleared on an error. */
static char *answer(const struct cl_request *rq, const struct args *fwd, const struct cl_tokenizer *tk, int *ok)
{
	struct args emb = {0}, f = {0}, s = {0};
	struct job R = {.mfd = -1, .tk = tk};
	int32_t **ids = calloc((size_t)rq->n_prompts, sizeof *ids);
	size_t *nids = calloc((size_t)rq->n_prompts, sizeof *nids);
	char msg[1024] = "", **texts = calloc((size_t)rq->n_prompts, sizeof *texts);
	size_t *lens = calloc((size_t)rq->n_prompts, sizeof *lens);
	char *out = NULL;
	enum cl_status st;
	if (!ids || !nids || !texts || !lens || !(R.gens = calloc((size_t)rq->n_prompts, sizeof *R.gens)))
		die(EXIT_DATA, "out of memory");
	/* Tokenize first, as cl-tokenize does (BOS where the model's own
	 * tokenizer adds it): a prompt that fails costs no processes. */
	unsigned flags = cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0;
	for (int i = 0; i < rq->n_prompts; i++)
		if ((st = cl_tokenizer_encode(tk, rq->prompts[i], strlen(rq->prompts[i]), flags, &ids[i], &nids[i]))) {
			snprintf(msg, sizeof msg, "input %d: %s", i, cl_errmsg());
			goto done;
		}

	push(&emb, "cl-embed"), push(&emb, "-m"), push(&emb, dir);
	push(&f, "cl-forward"), push(&f, "-m"), push(&f, dir), push(&f, "--last");
	for (int k = 0; k < fwd->n; k++)
		push(&f, fwd->v[k]);
	push(&s, "cl-sample"), push(&s, "-m"), push(&s, dir);
	if (rq->temperature == 0) {
		push(&s, "--greedy");
	} else {
		pushf(&s, "--temperature", "%.9g", rq->temperature);
		pushf(&s, "--top-k", "%.0f", rq->top_k);
		pushf(&s, "--top-p", "%.9g", rq->top_p);
	}
	pushf(&s, "--repetition-penalty", "%.9g", rq->repetition_penalty);
	if (rq->max_new_tokens)
		pushf(&s, "--max-new-tokens", "%.0f", (double)rq->max_new_tokens);
	if (rq->has_seed)
		pushf(&s, "--seed", "%.0f", (double)rq->seed);
	for (int k = 0; k < rq->n_stops; k++)
		push(&s, "--stop"), push(&s, rq->stops[k]);

	struct cl_stream_info info;
	cl_stream_info_init(&info, CL_STREAM_TOKENS, "tokens", "cl-complete");
	info.vocab_size = (uint32_t)cl_tokenizer_n_vocab(tk);
	info.bos = cl_tokenizer_bos(tk);
	info.eos = cl_tokenizer_eos(tk);
	snprintf(info.tokenizer, sizeof info.tokenizer, "%s", cl_tokenizer_fingerprint(tk));
	snprintf(info.model, sizeof info.model, "%s", dir);
	if ((R.mfd = memfd_create("cl-complete", MFD_CLOEXEC)) < 0)
		die(EXIT_DATA, "memfd_create:");
	if (!(R.wr = cl_writer_open(R.mfd, "memfd", &info, &st)))
		die(EXIT_DATA, "%s", cl_errmsg());
	for (int i = 0; i < rq->n_prompts; i++) {
		put(&R, CL_REC_SEQ_BEGIN, 0, (uint32_t)i, 0, -1);
		for (size_t k = 0; k < nids[i]; k++)
			put(&R, CL_REC_TOKEN, CL_FLAG_PROMPT, (uint32_t)i, (uint32_t)k, ids[i][k]);
		put(&R, CL_REC_PROMPT_END, 0, (uint32_t)i, (uint32_t)nids[i], -1);
	}
	put(&R, CL_REC_END, 0, 0, 0, -1);
	feed(&R);
	R.ngens = rq->n_prompts;

	start(&R.L, emb.v, f.v, s.v, NULL, NULL);
	if (!(R.rd = cl_reader_open(R.L.smp, "cl-sample")))
		die(EXIT_DATA, "out of memory");
	R.L.take = take;
	R.L.arg = &R;
	int failed = run(&R.L);
	if (failed >= 0)
		failure(&R.L, failed, msg, sizeof msg);
	else if (R.bad[0])
		snprintf(msg, sizeof msg, "%s", R.bad);
	for (int i = 0; !msg[0] && i < rq->n_prompts; i++) {
		struct gen *g = &R.gens[i];
		if (!g->done) {
			snprintf(msg, sizeof msg, "cl-sample ended before sequence %d was over", i);
			break;
		}
		/* The completion ends with the first stop string it holds. */
		size_t len = cl_bytes_count(&g->text), cut = len;
		const char *t = (const char *)g->text.p + g->text.off;
		for (int k = 0; k < rq->n_stops; k++) {
			const char *at = len ? memmem(t, len, rq->stops[k], strlen(rq->stops[k])) : NULL;
			if (at && (size_t)(at - t) + strlen(rq->stops[k]) < cut)
				cut = (size_t)(at - t) + strlen(rq->stops[k]);
		}
		size_t pl = rq->return_full_text ? strlen(rq->prompts[i]) : 0;
		if (!(texts[i] = malloc(pl + cut + 1)))
			die(EXIT_DATA, "out of memory");
		memcpy(texts[i], rq->prompts[i], pl);
		memcpy(texts[i] + pl, t, cut);
		lens[i] = pl + cut;
	}
	if (!msg[0])
		out = cl_request_answer(rq, texts, lens);
done:
	if (msg[0]) {
		out = cl_request_error(msg);
		*ok = 0;
	}
	if (!out)
		die(EXIT_DATA, "out of memory");
	cl_writer_close(R.wr);
	cl_reader_free(R.rd);
	cl_fd_close(&R.mfd);
	cl_loop_free(&R.L);
	for (int i = 0; i < rq->n_prompts; i++) {
		free(ids[i]);
		free(texts[i]);
		cl_bytes_free(&R.gens[i].text);
	}
	free(ids), free(nids), free(texts), free(lens), free(R.gens);
	args_free(&emb), args_free(&f), args_free(&s);
	return out;
}

/* --json: requests one per line; exit 1 when any was answered with an error. */
static int json_main(const struct args *fwd)
{
	struct cl_tokenizer *tk;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ok = 1;
	/* The tokenizer before stdin: a bad -m fails at once. */
	if (cl_tokenizer_load(dir, &tk))
		die(EXIT_DATA, "%s", cl_errmsg());
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		struct cl_request rq;
		char *out;
		if (strspn(line, " \t\r\n") == (size_t)len)
			continue; /* blank lines are not requests */
		if (cl_request_parse(line, (size_t)len, &rq)) {
			out = cl_request_error(cl_errmsg());
			ok = 0;
		} else if (rq.n_prompts == 0) {
			out = cl_request_answer(&rq, NULL, NULL);
			cl_request_free(&rq);
		} else {
			out = answer(&rq, fwd, tk, &ok);
			cl_request_free(&rq);
		}
		if (!out)
			die(EXIT_DATA, "out of memory");
		if (puts(out) == EOF || fflush(stdout) == EOF) {
			if (errno == EPIPE)
				exit(EXIT_OK);
			die(EXIT_DATA, "stdout:");
		}
		free(out);
	}
	if (ferror(stdin))
		die(EXIT_DATA, "stdin:");
	free(line);
	cl_tokenizer_free(tk);
	finish_stdout();
	return ok ? EXIT_OK : EXIT_DATA;
}

/* Sampling options with a value, passed to cl-sample as they are. */
static const char *const smp_valued[] = {
	"--temperature", "--top-k", "--top-p", "--min-p", "--typical-p", "--repetition-penalty",
	"--presence-penalty", "--frequency-penalty", "--logit-bias", "--samplers", "--seed",
	"--max-new-tokens", "--stop", NULL,
};

int main(int argc, char **argv)
{
	struct args smp = {0}, fwd = {0};
	int raw = 0, json = 0, i;
	cmd_init("cl-complete");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int k;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (a[0] != '-' || a[1] == 0)
			break;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		if ((v = opt_arg(argc, argv, &i, "-m"))) {
			dir = v;
			continue;
		}
		if (strcmp(a, "--raw") == 0 || strcmp(a, "--json") == 0) {
			*(a[2] == 'r' ? &raw : &json) = 1;
			continue;
		}
		if (strcmp(a, "--greedy") == 0 || strcmp(a, "--ignore-eos") == 0) {
			push(&smp, a);
			continue;
		}
		if ((v = opt_arg(argc, argv, &i, "--threads"))) {
			push(&fwd, "--threads");
			opt_long("--threads", v, 1, 1024);
		} else if ((v = opt_arg(argc, argv, &i, "--ctx"))) {
			push(&fwd, "--ctx");
			opt_long("--ctx", v, 1, 1 << 24);
		} else if ((v = opt_arg(argc, argv, &i, "--quantize"))) {
			push(&fwd, "--quantize");
		}
		if (v) {
			push(&fwd, v);
			continue;
		}
		for (k = 0; smp_valued[k] && !(v = opt_arg(argc, argv, &i, smp_valued[k])); k++)
			;
		if (!v)
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		push(&smp, smp_valued[k]);
		push(&smp, v);
	}
	if (!dir)
		dir = cl_default_model();
	if (json) {
		if (smp.n || raw || i < argc)
			die(EXIT_USAGE, "--json takes the prompts and sampling parameters from the requests");
		int rc = json_main(&fwd);
		args_free(&fwd);
		return rc;
	}

	struct args emb = {0}, f = {0}, s = {0}, tok = {0}, det = {0};
	push(&emb, "cl-embed"), push(&emb, "-m"), push(&emb, dir);
	push(&f, "cl-forward"), push(&f, "-m"), push(&f, dir), push(&f, "--last");
	for (int k = 0; k < fwd.n; k++)
		push(&f, fwd.v[k]);
	push(&s, "cl-sample"), push(&s, "-m"), push(&s, dir);
	for (int k = 0; k < smp.n; k++)
		push(&s, smp.v[k]);
	push(&tok, "cl-tokenize"), push(&tok, "-m"), push(&tok, dir);
	if (i < argc)
		push(&tok, "--");
	for (; i < argc; i++)
		push(&tok, argv[i]);
	push(&det, "cl-detok"), push(&det, "-m"), push(&det, dir);
	if (raw)
		push(&det, "--raw");

	struct cl_loop L = {0};
	start(&L, emb.v, f.v, s.v, tok.v, det.v);
	int rc = exit_code(&L, run(&L));
	/* The newline after the text is ours: cl-detok --lines would put one
	 * after the prompt too, at the END of cl-tokenize's stream. */
	if (!rc && !raw && !L.ps[CL_LOOP_DETOK].killed)
		putchar('\n');
	cl_loop_free(&L);
	args_free(&emb), args_free(&f), args_free(&s), args_free(&tok), args_free(&det);
	args_free(&smp), args_free(&fwd);
	return rc ? rc : finish_stdout();
}
