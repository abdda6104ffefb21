/*
 * cl-complete - a prompt and its completion, through the generation loop of
 * separate processes: cl-embed | cl-forward --last | cl-sample, whose output
 * goes round again into cl-embed, as `cat - fifo | ... | tee fifo` does in
 * the shell recipe.  We tokenize and detokenize in-process, so that the
 * prompt is checked against the context before anything is written, and the
 * text that has come out stays ours when a child fails.
 *
 * With --json, requests come one per line on stdin.  The prompts of a
 * request are its sequences in one run of the loop.
 *
 * Everything moves through poll(2) with non-blocking writes, so we never
 * block writing to cl-embed while cl-sample is blocked writing to us.  What
 * the children write on stderr is ours to pass on: their messages go out as
 * ours ("cl-complete: ..."), of a failure only the first child's, and the
 * loading progress of cl-forward as it comes.
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
		"       [--truncate] [--stop-at-dedent] [--raw] [--progress] [--] PROMPT...\n"
		"       %s --json [-m DIR] [--threads N] [--ctx N] [--quantize TYPE] [--truncate]\n"
		"       [--progress]\n"
		"Print the prompt (the arguments joined by spaces, or standard input) and its\n"
		"completion as it is generated.  With --json, answer requests read one per line.\n"
		"  -m DIR           model directory (default: $CL_MODEL or the model that ships)\n"
		"  --threads N      threads of cl-forward (default: the cores available)\n"
		"  --ctx N          positions per sequence (cl-forward --ctx)\n"
		"  --quantize TYPE  convert weights at load: f16, bf16, q8_0 or q4_0\n"
		"  --truncate       a prompt longer than the context loses its start (keeping\n"
		"                   BOS) instead of being refused\n"
		"  --stop-at-dedent end the completion before a generated line that starts at\n"
		"                   column 0 (the end of a function or class)\n"
		"  --raw            the tokens' bytes exactly, and no newline at the end\n"
		"  --progress       show loading progress (default: when stderr is a terminal,\n"
		"                   without --json)\n"
		"  --json           requests {\"input_data\": {\"input_string\": [...], \"parameters\": {...}}}\n"
		"                   or {\"input_data\": [...], \"params\": {...}}, one per line\n"
		"  -h, --help       this help\n"
		"Sampling options, passed to cl-sample(1): --temperature T, --greedy, --top-k K,\n"
		"--top-p P, --min-p P, --typical-p P, --repetition-penalty R, --presence-penalty R,\n"
		"--frequency-penalty R, --logit-bias ID=BIAS, --samplers LIST, --seed N,\n"
		"--max-new-tokens N, --stop STRING, --ignore-eos.  Generation ends at the end of\n"
		"the context whatever --max-new-tokens says.\n",
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

static void pushf(struct args *a, const char *opt, const char *fmt, double v)
{
	char buf[64];
	snprintf(buf, sizeof buf, fmt, v);
	push(a, opt);
	push(a, buf);
}

static void args_free(struct args *a)
{
	for (int i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

static void add(struct cl_bytes *q, const void *p, size_t n)
{
	if (cl_bytes_add(q, p, n))
		die(EXIT_DATA, "%s", cl_errmsg());
}

/* ------------------------------------------------------------ output --- */

static int out_tty, out_flush;   /* stdout is a terminal; not a regular file */
static size_t out_n;              /* bytes of text written */
static char out_last = '\n';
static int progress_open;         /* a progress line on stderr has no newline yet */

/* Our text to stdout; 0, or -1 when its reader went away. */
static int out(const char *p, size_t n)
{
	if (!n)
		return 0;
	if (fwrite(p, 1, n, stdout) != n || (out_flush && fflush(stdout) == EOF)) {
		if (errno == EPIPE)
			return -1;
		die(EXIT_DATA, "stdout:");
	}
	out_n += n;
	out_last = p[n - 1];
	return 0;
}

/* Before a message: it starts on a fresh line of the terminal. */
static void fresh_line(void)
{
	if (progress_open) {
		fputc('\n', stderr);
		progress_open = 0;
	}
	if (out_tty && isatty(STDERR_FILENO) && out_n && out_last != '\n') {
		fputc('\n', stdout);
		fflush(stdout);
		out_last = '\n';
	}
}

/* What a child wrote on stderr, as ours: a line's "cl-NAME: " becomes
 * "cl-complete: ". */
static void say(const char *p, size_t n)
{
	fresh_line();
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t l = nl ? (size_t)(nl - p) + 1 : n;
		const char *colon = l > 3 && strncmp(p, "cl-", 3) == 0 ? memchr(p, ':', l) : NULL;
		if (colon && colon - p < 32 && !memchr(p, ' ', (size_t)(colon - p))) {
			fputs(prog, stderr);
			fwrite(colon, 1, l - (size_t)(colon - p), stderr);
		} else {
			fwrite(p, 1, l, stderr);
		}
		if (!nl)
			fputc('\n', stderr);
		p += l;
		n -= l;
	}
}

/* cl-forward's loading progress ("\rDIR: layer 3 of 32"), passed on as it
 * comes; the rest of what it writes waits for its exit. */
static void relay_progress(struct cl_proc *p)
{
	struct cl_bytes *e = &p->err;
	while (cl_bytes_count(e) && e->p[e->off] == '\r') {
		const unsigned char *s = e->p + e->off;
		size_t n = cl_bytes_count(e), k = 1;
		while (k < n && s[k] != '\r' && s[k] != '\n')
			k++;
		if (k == n)
			break; /* the rest of it is yet to come */
		if (s[k] == '\n')
			k++;
		fwrite(s, 1, k, stderr);
		progress_open = s[k - 1] != '\n';
		e->off += k;
	}
}

/* -------------------------------------------------------------- a run --- */

/* One sequence: its prompt and what was generated. */
struct gen {
	int32_t *ids;           /* the prompt's tokens */
	size_t nids;
	struct cl_bytes text;   /* --json: the completion */
	struct cl_utf8 u;
	int any;                /* text has begun (SentencePiece's first piece) */
	int line_start;         /* --stop-at-dedent: the last byte was a newline */
	int done;               /* SEQ_END seen, or cut by --stop-at-dedent */
};

/* One run of cl-embed | cl-forward | cl-sample for the prompts of a request
 * (one in plain mode). */
struct run {
	struct cl_loop L;
	const struct cl_tokenizer *tk;
	struct cl_reader *rd;   /* cl-sample's output */
	int have_hdr;           /* rd has read the header; prompts are sent */
	struct cl_writer *wr;   /* the stream into cl-embed, through mfd */
	int mfd;
	struct gen *gens;       /* (ngens) one per prompt */
	int ngens, ndone, ncut;
	int stream;             /* plain mode: text to stdout as it comes */
	int raw, dedent, truncate;
	long max_new;           /* --truncate leaves this much room, at most half */
	int gone;               /* our stdout's reader went away */
	int progress;
	char bad[512];          /* a fault found here: a prompt too long, a token
				   outside the vocabulary */
	char broken[512];       /* cl-sample's output unreadable: said only when
				   no child failed (its message says why) */
};

/* What the writer put in its memfd goes to cl-embed.  A hack: the writer
 * writes only to an fd; a writer into memory would remove it. */
static void feed(struct run *R)
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

static void put(struct run *R, uint16_t kind, uint16_t flags, uint32_t seq, uint32_t pos, int32_t token)
{
	struct cl_record r = {.kind = kind, .flags = flags, .seq = seq, .pos = pos, .token = token,
			      .logprob = NAN};
	if (cl_writer_put(R->wr, &r))
		die(EXIT_DATA, "%s", cl_errmsg());
}

/* The sequence's text is over. */
static void gen_end(struct run *R, struct gen *g)
{
	char text[16];
	if (g->done)
		return;
	size_t n = R->raw ? 0 : cl_utf8_finish(&g->u, text);
	if (R->stream) {
		if (out(text, n))
			R->gone = 1;
	} else {
		add(&g->text, text, n);
	}
	g->done = 1;
	R->ndone++;
}

/* The text of a token of g, as cl-detok makes it: UTF-8 whole (unless
 * --raw), cut before a line at column 0 with --stop-at-dedent. */
static void gen_text(struct run *R, struct gen *g, int32_t token, int first, int prompt)
{
	char piece[1024], text[1024 + 16];
	int n = cl_tokenizer_decode(R->tk, token, first, piece, sizeof piece);
	if (n < 0) {
		snprintf(R->bad, sizeof R->bad, "cl-sample wrote token %d, outside the vocabulary of %d", token,
			 cl_tokenizer_n_vocab(R->tk));
		return;
	}
	g->any = !cl_tokenizer_still_first(R->tk, token, first, n);
	size_t k = R->raw ? (memcpy(text, piece, (size_t)n), (size_t)n) : cl_utf8_push(&g->u, piece, (size_t)n, text);
	size_t cut = k;
	for (size_t i = 0; R->dedent && i < k; i++) {
		char c = text[i];
		if (g->line_start && !prompt && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			cut = i;
			break;
		}
		g->line_start = c == '\n';
	}
	if (R->stream) {
		if (out(text, cut))
			R->gone = 1;
	} else {
		add(&g->text, text, cut);
	}
	if (cut < k) {
		gen_end(R, g);
		R->ncut++;
	}
}

/* Room for new tokens that --truncate keeps. */
static size_t room(const struct run *R, uint32_t ctx)
{
	size_t half = ctx / 2 ? ctx / 2 : 1;
	return R->max_new > 0 && (size_t)R->max_new < half ? (size_t)R->max_new : half;
}

/* cl-sample's header has come: the pipeline is loaded and we know its
 * context.  Each prompt is checked against it, then sent. */
static int send_prompts(struct run *R, const struct cl_stream_info *in)
{
	uint32_t ctx = in->context;
	int32_t bos = cl_tokenizer_bos(R->tk);
	for (int i = 0; i < R->ngens; i++) {
		struct gen *g = &R->gens[i];
		/* The prompt and at least one new token fit. */
		if (!ctx || g->nids < ctx)
			continue;
		if (!R->truncate) {
			char where[32] = "";
			if (!R->stream)
				snprintf(where, sizeof where, "input %d: ", i);
			snprintf(R->bad, sizeof R->bad, "%sthe prompt is %zu tokens, the context holds %u "
				 "(--truncate keeps its end)", where, g->nids, ctx);
			return -1;
		}
		size_t keep_bos = g->nids && g->ids[0] == bos && bos >= 0;
		size_t keep = ctx - room(R, ctx) - keep_bos;
		memmove(g->ids + keep_bos, g->ids + g->nids - keep, keep * sizeof *g->ids);
		g->nids = keep_bos + keep;
	}
	for (int i = 0; i < R->ngens; i++) {
		struct gen *g = &R->gens[i];
		put(R, CL_REC_SEQ_BEGIN, 0, (uint32_t)i, 0, -1);
		for (size_t k = 0; k < g->nids; k++) {
			put(R, CL_REC_TOKEN, CL_FLAG_PROMPT, (uint32_t)i, (uint32_t)k, g->ids[k]);
			if (R->stream)
				gen_text(R, g, g->ids[k], !g->any, 1);
		}
		put(R, CL_REC_PROMPT_END, 0, (uint32_t)i, (uint32_t)g->nids, -1);
	}
	put(R, CL_REC_END, 0, 0, 0, -1);
	feed(R);
	return 0;
}

/* Records cl-sample has written: they go round again, and tokens become
 * text. */
static enum cl_status take(struct cl_loop *L, void *arg)
{
	struct run *R = arg;
	struct cl_record rec;
	enum cl_status st;
	/* Poll said there is input: a whole record, as cl-sample writes each
	 * in one write(2) of less than PIPE_BUF, or the header alone at first,
	 * when we must not wait for a record. */
	int fresh = R->have_hdr;
	if (!R->have_hdr) {
		const struct cl_stream_info *in = cl_reader_info(R->rd, &st);
		if (!in) {
			snprintf(R->broken, sizeof R->broken, "%s", cl_errmsg());
			cl_fd_close(&L->smp);
			return CL_OK;
		}
		R->have_hdr = 1;
		if (send_prompts(R, in)) {
			cl_loop_stop(L);
			return CL_OK;
		}
	}
	while (fresh || cl_reader_ready(R->rd)) {
		fresh = 0;
		st = cl_reader_next(R->rd, &rec);
		if (st) {
			if (st != CL_ERR_EOF)
				snprintf(R->broken, sizeof R->broken, "%s", cl_errmsg());
			cl_fd_close(&L->smp);
			break;
		}
		if (rec.kind != CL_REC_TOKEN && rec.kind != CL_REC_SEQ_END && rec.kind != CL_REC_END)
			continue;
		put(R, rec.kind, rec.flags, rec.seq, rec.pos, rec.token);
		if (rec.kind == CL_REC_END || rec.seq >= (uint32_t)R->ngens)
			continue;
		struct gen *g = &R->gens[rec.seq];
		if (rec.kind == CL_REC_SEQ_END)
			gen_end(R, g);
		else if (!g->done)
			/* As cl-detok: a generated token begins the text only
			 * after a prompt of BOS alone. */
			gen_text(R, g, rec.token, !g->any && rec.pos <= 1, 0);
		if (R->bad[0])
			break;
	}
	feed(R);
	/* Nothing more is wanted: the reader of our text has gone, a fault of
	 * ours, or every sequence over, some cut short by us. */
	if (R->gone || R->bad[0] || (R->ncut && R->ndone == R->ngens))
		cl_loop_stop(L);
	return CL_OK;
}

/* Run the loop until every child is reaped; the child that failed first, or
 * -1.  Of a failure only the first child's stderr is shown (the others'
 * are its consequences); with `quiet_fail` not even that (--json puts it in
 * the answer). */
static int loop(struct run *R, int quiet_fail)
{
	struct cl_loop *L = &R->L;
	enum cl_status st;
	unsigned ex;
	int failed = -1;
	while ((st = cl_loop_step(L, &ex)) == CL_OK) {
		if (R->progress)
			relay_progress(&L->ps[CL_LOOP_FORWARD]);
		for (int i = 0; i < L->np; i++) {
			if (!(ex & 1u << i))
				continue;
			struct cl_proc *p = &L->ps[i];
			size_t n = cl_bytes_count(&p->err);
			if (failed < 0 && cl_proc_failed(p)) {
				failed = i;
				cl_loop_stop(L);
				if (quiet_fail)
					continue;
			} else if (failed >= 0) {
				continue;
			}
			if (n)
				say((const char *)p->err.p + p->err.off, n);
			else if (failed == i) {
				char how[64];
				fresh_line();
				fprintf(stderr, "%s: %s: %s\n", prog, p->name, cl_proc_describe(p, how, sizeof how));
			}
		}
	}
	if (st != CL_ERR_EOF) {
		cl_loop_free(L);
		die(EXIT_DATA, "%s", cl_errmsg());
	}
	return failed;
}

/* The first line a failed child wrote, as ours, or how it ended. */
static void failure(struct cl_loop *L, int failed, char *msg, size_t cap)
{
	struct cl_proc *p = &L->ps[failed];
	size_t n = cl_bytes_count(&p->err);
	const char *e = (const char *)p->err.p + p->err.off, *nl = n ? memchr(e, '\n', n) : NULL;
	size_t l = nl ? (size_t)(nl - e) : n;
	const char *colon = l > 3 && strncmp(e, "cl-", 3) == 0 ? memchr(e, ':', l) : NULL;
	char how[64];
	if (colon && colon + 2 <= e + l && colon[1] == ' ')
		snprintf(msg, cap, "%.*s", (int)(l - (size_t)(colon + 2 - e)), colon + 2);
	else if (n)
		snprintf(msg, cap, "%.*s", (int)l, e);
	else
		snprintf(msg, cap, "%s: %s", p->name, cl_proc_describe(p, how, sizeof how));
}

static const char *dir;
static struct args fwd; /* options for cl-forward */
static int progress_opt, truncate_opt;

/* Start a run of the prompts ids[0..n) with cl-sample's options smp. */
static void run_start(struct run *R, const struct cl_tokenizer *tk, const struct args *smp)
{
	struct args emb = {0}, f = {0}, s = {0};
	enum cl_status st;
	R->mfd = -1;
	R->tk = tk;
	push(&emb, "cl-embed"), push(&emb, "-m"), push(&emb, dir);
	push(&f, "cl-forward"), push(&f, "-m"), push(&f, dir), push(&f, "--last");
	if (R->progress)
		push(&f, "--progress");
	for (int k = 0; k < fwd.n; k++)
		push(&f, fwd.v[k]);
	push(&s, "cl-sample"), push(&s, "-m"), push(&s, dir);
	for (int k = 0; k < smp->n; k++)
		push(&s, smp->v[k]);

	struct cl_stream_info info;
	cl_stream_info_init(&info, CL_STREAM_TOKENS, "tokens", "cl-complete");
	info.vocab_size = (uint32_t)cl_tokenizer_n_vocab(tk);
	info.bos = cl_tokenizer_bos(tk);
	info.eos = cl_tokenizer_eos(tk);
	snprintf(info.tokenizer, sizeof info.tokenizer, "%s", cl_tokenizer_fingerprint(tk));
	snprintf(info.model, sizeof info.model, "%s", dir);
	if ((R->mfd = memfd_create("cl-complete", MFD_CLOEXEC)) < 0)
		die(EXIT_DATA, "memfd_create:");
	/* The header alone: the prompts follow once cl-sample's header says
	 * the context. */
	if (!(R->wr = cl_writer_open(R->mfd, "memfd", &info, &st)))
		die(EXIT_DATA, "%s", cl_errmsg());
	feed(R);
	if (cl_loop_start(&R->L, emb.v, f.v, s.v, NULL, NULL)) {
		cl_loop_free(&R->L);
		die(EXIT_DATA, "%s", cl_errmsg());
	}
	if (!(R->rd = cl_reader_open(R->L.smp, "cl-sample")))
		die(EXIT_DATA, "out of memory");
	R->L.take = take;
	R->L.arg = R;
	args_free(&emb), args_free(&f), args_free(&s);
}

static void run_free(struct run *R)
{
	cl_writer_close(R->wr);
	cl_reader_free(R->rd);
	cl_fd_close(&R->mfd);
	cl_loop_free(&R->L);
	for (int i = 0; i < R->ngens; i++) {
		free(R->gens[i].ids);
		cl_bytes_free(&R->gens[i].text);
	}
	free(R->gens);
}

static struct cl_tokenizer *load_tokenizer(void)
{
	struct cl_tokenizer *tk;
	if (cl_tokenizer_load(dir, &tk))
		die(EXIT_DATA, "%s", cl_errmsg());
	return tk;
}

/* ------------------------------------------------------------- --json --- */

/* One request through a run: the answer, or an error object; *ok is cleared
 * on an error. */
static char *answer(const struct cl_request *rq, const struct cl_tokenizer *tk, int *ok)
{
	struct args s = {0};
	struct run R = {.truncate = truncate_opt, .progress = progress_opt};
	char msg[1024] = "", **texts = calloc((size_t)rq->n_prompts, sizeof *texts);
	size_t *lens = calloc((size_t)rq->n_prompts, sizeof *lens);
	char *out = NULL;
	enum cl_status st;
	if (!texts || !lens || !(R.gens = calloc((size_t)rq->n_prompts, sizeof *R.gens)))
		die(EXIT_DATA, "out of memory");
	R.ngens = rq->n_prompts;
	R.max_new = rq->max_new_tokens ? (long)rq->max_new_tokens : 256;
	/* Tokenize first, as cl-tokenize does (BOS where the model's own
	 * tokenizer adds it): a prompt that fails costs no processes. */
	unsigned flags = cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0;
	for (int i = 0; i < rq->n_prompts; i++)
		if ((st = cl_tokenizer_encode(tk, rq->prompts[i], strlen(rq->prompts[i]), flags, &R.gens[i].ids,
					      &R.gens[i].nids))) {
			snprintf(msg, sizeof msg, "input %d: %s", i, cl_errmsg());
			goto done;
		}

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

	run_start(&R, tk, &s);
	int failed = loop(&R, 1);
	if (R.bad[0])
		snprintf(msg, sizeof msg, "%s", R.bad);
	else if (failed >= 0)
		failure(&R.L, failed, msg, sizeof msg);
	else if (R.broken[0])
		snprintf(msg, sizeof msg, "%s", R.broken);
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
	run_free(&R);
	for (int i = 0; i < rq->n_prompts; i++)
		free(texts[i]);
	free(texts), free(lens);
	args_free(&s);
	return out;
}

/* Requests one per line; exit 1 when any was answered with an error. */
static int json_main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ok = 1;
	/* The tokenizer before stdin: a bad -m fails at once. */
	struct cl_tokenizer *tk = load_tokenizer();
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
			out = answer(&rq, tk, &ok);
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

/* ------------------------------------------------------------- a prompt --- */

/* The prompt: the arguments joined by single spaces, or all of stdin. */
static char *read_prompt(int argc, char **argv, int i, size_t *len)
{
	char *all = NULL;
	FILE *m = open_memstream(&all, len);
	if (!m)
		die(EXIT_DATA, "out of memory");
	if (i < argc) {
		for (int k = i; k < argc; k++)
			fprintf(m, "%s%s", k > i ? " " : "", argv[k]);
	} else {
		char buf[65536];
		size_t r;
		while ((r = fread(buf, 1, sizeof buf, stdin)) > 0)
			fwrite(buf, 1, r, m);
		if (ferror(stdin))
			die(EXIT_DATA, "stdin:");
	}
	if (fclose(m))
		die(EXIT_DATA, "out of memory");
	return all;
}

static int prompt_main(const struct args *smp, int argc, char **argv, int i, int raw, int dedent)
{
	struct cl_tokenizer *tk = load_tokenizer();
	struct run R = {.stream = 1, .raw = raw, .dedent = dedent, .truncate = truncate_opt,
			.progress = progress_opt, .max_new = 256, .ngens = 1};
	for (int k = 0; k + 1 < smp->n; k++)
		if (strcmp(smp->v[k], "--max-new-tokens") == 0)
			R.max_new = strtol(smp->v[k + 1], NULL, 10);
	size_t len;
	char *text = read_prompt(argc, argv, i, &len);
	if (!(R.gens = calloc(1, sizeof *R.gens)))
		die(EXIT_DATA, "out of memory");
	/* BOS where the model's own tokenizer adds it, as cl-tokenize. */
	if (cl_tokenizer_encode(tk, text, len, cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0, &R.gens[0].ids,
				&R.gens[0].nids))
		die(EXIT_DATA, "the prompt: %s", cl_errmsg());
	free(text);
	run_start(&R, tk, smp);
	int failed = loop(&R, 0);
	int rc = EXIT_OK;
	if (failed >= 0) {
		const struct cl_proc *p = &R.L.ps[failed];
		rc = WIFEXITED(p->status) && WEXITSTATUS(p->status) == EXIT_USAGE ? EXIT_USAGE : EXIT_DATA;
	} else if (R.bad[0] || R.broken[0]) {
		fresh_line();
		fprintf(stderr, "%s: %s\n", prog, R.bad[0] ? R.bad : R.broken);
		rc = EXIT_DATA;
	} else if (!R.gone && !R.gens[0].done) {
		fresh_line();
		fprintf(stderr, "%s: cl-sample ended before the sequence was over\n", prog);
		rc = EXIT_DATA;
	}
	/* The newline after the text is ours: not with --raw, nor after a
	 * failure, nor where --stop-at-dedent cut the text after one. */
	if (!R.gone && !raw && !rc && !R.ncut)
		out("\n", 1);
	run_free(&R);
	cl_tokenizer_free(tk);
	return rc ? rc : finish_stdout();
}

/* Sampling options with a value, passed to cl-sample as they are. */
static const char *const smp_valued[] = {
	"--temperature", "--top-k", "--top-p", "--min-p", "--typical-p", "--repetition-penalty",
	"--presence-penalty", "--frequency-penalty", "--logit-bias", "--samplers", "--seed",
	"--max-new-tokens", "--stop", NULL,
};

int main(int argc, char **argv)
{
	struct args smp = {0};
	int raw = 0, json = 0, dedent = 0, i;
	cmd_init("cl-complete");
	cmd_before_message = fresh_line;
	struct stat sb;
	out_tty = isatty(STDOUT_FILENO);
	out_flush = fstat(STDOUT_FILENO, &sb) != 0 || !S_ISREG(sb.st_mode);
	progress_opt = -1;
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
		if (strcmp(a, "--truncate") == 0 || strcmp(a, "--stop-at-dedent") == 0 ||
		    strcmp(a, "--progress") == 0) {
			*(a[2] == 't' ? &truncate_opt : a[2] == 's' ? &dedent : &progress_opt) = 1;
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
			bad_arg(a);
		push(&smp, smp_valued[k]);
		push(&smp, v);
	}
	if (!dir)
		dir = cl_default_model();
	int rc;
	if (json) {
		if (smp.n || raw || dedent || i < argc)
			die(EXIT_USAGE, "--json takes the prompts and sampling parameters from the requests");
		if (progress_opt < 0)
			progress_opt = 0;
		rc = json_main();
	} else {
		if (progress_opt < 0)
			progress_opt = isatty(STDERR_FILENO);
		rc = prompt_main(&smp, argc, argv, i, raw, dedent);
	}
	args_free(&smp), args_free(&fwd);
	return rc;
}
