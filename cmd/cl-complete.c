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
#include <time.h>
#include <cJSON.h>

#include "cmd.h"
#include "proc.h"
#include "request.h"
#include "engine.h"
#include "batch.h"
#include "infill.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [sampling options] [--threads N] [--ctx N] [--quantize TYPE] [--kv-type T]\n"
		"       [--truncate] [--stop-at-dedent] [--suffix TEXT] [--raw] [--progress] [--] PROMPT...\n"
		"       %s --json [-m DIR] [--threads N] [--ctx N] [--quantize TYPE] [--kv-type T] [--truncate]\n"
		"       [--parallel N] [--resume ANSWERS] [--stats] [--progress]\n"
		"Print the prompt (the arguments joined by spaces, or standard input) and its\n"
		"completion as it is generated.  With --json, answer requests read one per line.\n"
		"  -m DIR           model directory or .gguf file (default: $CL_MODEL or the\n"
		"                   model that ships)\n"
		"  --threads N      threads of cl-forward (default: the cores available)\n"
		"  --ctx N          positions per sequence (cl-forward --ctx)\n"
		"  --quantize TYPE  convert weights at load: f16, bf16, q8_0, q4_0,\n"
		"                   q4_k, q6_k or q4_k_m\n"
		"  --kv-type T      KV caches in f32 (default) or f16 (cl-forward --kv-type)\n"
		"  --truncate       a prompt longer than the context loses its start (keeping\n"
		"                   BOS) instead of being refused\n"
		"  --stop-at-dedent end the completion before a generated line that starts at\n"
		"                   column 0 (the end of a function or class)\n"
		"  --suffix TEXT    fill in the middle (Code Llama): the prompt is the text\n"
		"                   before, TEXT the text after; prints all three\n"
		"  --raw            the tokens' bytes exactly, and no newline at the end\n"
		"  --progress       show loading progress (default: when stderr is a terminal,\n"
		"                   without --json); with --json also requests answered,\n"
		"                   tokens/s and the time left\n"
		"  --json           requests {\"input_data\": {\"input_string\": [...], \"parameters\": {...}}}\n"
		"                   or {\"input_data\": [...], \"params\": {...}}, one per line; the\n"
		"                   model loaded once, requests decoded together\n"
		"  --parallel N     --json: sequences decoded together at most (default 16)\n"
		"  --resume ANSWERS --json: skip the requests ANSWERS answers already, append\n"
		"                   the answers of the rest to it (not to stdout)\n"
		"  --stats          --json: at the end, requests, tokens generated, steps\n"
		"                   (passes through the layers), the most rows in one,\n"
		"                   compute seconds, on stderr\n"
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
	const char *echo_text;  /* --suffix: the prefix, echoed as it is */
	int32_t stop_token;     /* --suffix: Code Llama's <EOT> ends the text; -1 */
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
		g->nids = cl_prompt_truncate(g->ids, g->nids, (int32_t)ctx, R->max_new, bos);
	}
	for (int i = 0; i < R->ngens; i++) {
		struct gen *g = &R->gens[i];
		put(R, CL_REC_SEQ_BEGIN, 0, (uint32_t)i, 0, -1);
		for (size_t k = 0; k < g->nids; k++) {
			put(R, CL_REC_TOKEN, CL_FLAG_PROMPT, (uint32_t)i, (uint32_t)k, g->ids[k]);
			if (R->stream && !R->echo_text)
				gen_text(R, g, g->ids[k], !g->any, 1);
		}
		if (R->stream && R->echo_text && out(R->echo_text, strlen(R->echo_text)))
			R->gone = 1;
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
		if (rec.kind == CL_REC_SEQ_END) {
			gen_end(R, g);
		} else if (!g->done && rec.token == R->stop_token) {
			gen_end(R, g); /* <EOT>: the middle is over */
			R->ncut++;
		} else if (!g->done)
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
	cl_stream_info_tokens(&info, tk, "cl-complete", dir);
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
/*
 * --json runs in this process: the model is loaded once, and the prompts of
 * up to --parallel requests' worth of sequences are decoded together by the
 * engine (lib/decode/engine.c), one pass over the weights per step for all
 * of them; lib/decode/batch.c keeps the requests and gives their answers,
 * one line per request, in input order, as soon as each request and those
 * before it are final.  Here: reading lines, --resume and --progress.
 */

static long parallel_opt = 16;
static int stats_opt;
static const char *resume_opt;

/* --resume: the answers already in FILE, one complete line each (a last
 * line without its newline, from a run killed mid-write, is cut off); the
 * ids they carry, in order (NULL for an answer without one). */
static FILE *resume_open(const char *path, char ***ids, size_t *n)
{
	FILE *f = fopen(path, "a+");
	if (!f)
		die(EXIT_DATA, "--resume: %s:", path);
	char *line = NULL;
	size_t cap = 0, cap_ids = 0;
	ssize_t l;
	off_t good = 0;
	*ids = NULL;
	*n = 0;
	rewind(f);
	while ((l = getline(&line, &cap, f)) > 0) {
		if (line[l - 1] != '\n')
			break;
		good += l;
		if (*n == cap_ids && !(*ids = realloc(*ids, (cap_ids = cap_ids ? 2 * cap_ids : 256) * sizeof **ids)))
			die(EXIT_DATA, "out of memory");
		(*ids)[(*n)++] = cl_request_peek_id(line, (size_t)l);
	}
	free(line);
	if (ferror(f) || fflush(f) || ftruncate(fileno(f), good) < 0)
		die(EXIT_DATA, "--resume: %s:", path);
	return f;
}

/* --progress: requests answered of the whole, tokens/s, the time left. */
static void batch_progress(unsigned long done, unsigned long total, double t0, unsigned long long n_gen, int last)
{
	static double shown;
	double now, el;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
	el = now - t0;
	int tty = isatty(STDERR_FILENO);
	if (!last && now - shown < (tty ? 0.2 : 5.0))
		return;
	shown = now;
	char left[64] = "";
	if (total && done && done < total)
		snprintf(left, sizeof left, ", about %.0f s left", el / (double)done * (double)(total - done));
	if (total)
		fprintf(stderr, "%s%s: %lu of %lu requests, %.1f tokens/s%s%s", tty ? "\r" : "", prog, done, total,
			el > 0 ? (double)n_gen / el : 0.0, left, tty ? (last ? "\n" : "\033[K") : "\n");
	else
		fprintf(stderr, "%s%s: %lu requests, %.1f tokens/s%s", tty ? "\r" : "", prog, done,
			el > 0 ? (double)n_gen / el : 0.0, tty ? (last ? "\n" : "\033[K") : "\n");
	progress_open = tty && !last;
}

/* Non-blank lines of standard input when it is a regular file (read with
 * pread, so the position stays), else 0: unknown. */
static unsigned long count_requests(void)
{
	struct stat sb;
	if (fstat(STDIN_FILENO, &sb) || !S_ISREG(sb.st_mode))
		return 0;
	char buf[65536];
	off_t at = lseek(STDIN_FILENO, 0, SEEK_CUR);
	ssize_t r;
	unsigned long n = 0;
	int blank = 1;
	while ((r = pread(STDIN_FILENO, buf, sizeof buf, at)) > 0) {
		for (ssize_t i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				n += !blank;
				blank = 1;
			} else if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r') {
				blank = 0;
			}
		}
		at += r;
	}
	return n + !blank;
}

/* A line of standard input, read with read(2) so that poll(2) tells the
 * truth about what is waiting: 1 a line (in *line, NUL-terminated), 0 none
 * yet (!block), -1 the end. */
static int read_line(char **line, size_t *len, int block)
{
	static char *buf;
	static size_t n, cap, scanned;
	static int eof;
	for (;;) {
		char *nl = n ? memchr(buf + scanned, '\n', n - scanned) : NULL;
		if (nl || (eof && n)) {
			size_t l = nl ? (size_t)(nl - buf) + 1 : n;
			free(*line);
			if (!(*line = malloc(l + 1)))
				die(EXIT_DATA, "out of memory");
			memcpy(*line, buf, l);
			(*line)[l] = 0;
			*len = l;
			memmove(buf, buf + l, n - l);
			n -= l;
			scanned = 0;
			return 1;
		}
		scanned = n;
		if (eof) {
			free(buf);
			buf = NULL;
			return -1;
		}
		if (!block) {
			struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
			if (poll(&pfd, 1, 0) <= 0)
				return 0;
		}
		if (cap - n < 65536) {
			char *b = realloc(buf, cap = cap ? 2 * cap : 65536 * 2);
			if (!b)
				die(EXIT_DATA, "out of memory");
			buf = b;
		}
		ssize_t r = read(STDIN_FILENO, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(EXIT_DATA, "stdin:");
		if (r == 0)
			eof = 1;
		n += (size_t)r;
	}
}

/* Requests one per line; exit 1 when any was answered with an error. */
static int json_main(void)
{
	/* The tokenizer before stdin: a bad -m fails at once. */
	struct cl_tokenizer *tk = load_tokenizer();
	struct cl_model_opts o;
	cl_model_opts_init(&o);
	o.progress = progress_opt;
	for (int k = 0; k + 1 < fwd.n; k += 2) {
		if (!strcmp(fwd.v[k], "--threads"))
			o.threads = (int)strtol(fwd.v[k + 1], NULL, 10);
		else if (!strcmp(fwd.v[k], "--kv-type"))
			o.kv_f16 = !strcmp(fwd.v[k + 1], "f16");
		else if (!strcmp(fwd.v[k], "--quantize")) {
			if (cl_quant_parse(fwd.v[k + 1], &o.quantize, &o.mix))
				die(EXIT_USAGE, "--quantize: expected " CL_DTYPE_MAKEABLE ", got '%s'", fwd.v[k + 1]);
		}
	}
	struct cl_model *m;
	if (cl_model_load(dir, &o, &m))
		die(EXIT_DATA, "%s", cl_errmsg());
	const struct cl_model_info *mi = cl_model_info(m);
	int32_t ctx = mi->max_pos;
	for (int k = 0; k + 1 < fwd.n; k += 2)
		if (!strcmp(fwd.v[k], "--ctx")) {
			long c = strtol(fwd.v[k + 1], NULL, 10);
			if (c > mi->max_pos)
				die(EXIT_USAGE, "--ctx: %ld is beyond max_position_embeddings %d of %s", c, mi->max_pos, dir);
			ctx = (int32_t)c;
		}
	struct cl_engine *e;
	struct cl_batch *B;
	if (cl_engine_new(m, tk, ctx, (int)parallel_opt + CL_REQUEST_MAX_PROMPTS, &e) ||
	    cl_batch_new(e, tk, truncate_opt, &B))
		die(EXIT_DATA, "%s", cl_errmsg());
	char *line = NULL;
	size_t len;
	int ok = 1, in_open = 1, max_rows = 0;
	unsigned long n_req = 0, n_done = 0, total = progress_opt ? count_requests() : 0;
	/* --resume: the first answered requests are skipped, the rest appended. */
	FILE *out = stdout;
	char **done_ids = NULL;
	size_t n_answered = 0;
	if (resume_opt)
		out = resume_open(resume_opt, &done_ids, &n_answered);
	struct timespec ts0;
	clock_gettime(CLOCK_MONOTONIC, &ts0);
	double t0 = (double)ts0.tv_sec + 1e-9 * (double)ts0.tv_nsec;
	for (;;) {
		/* Take requests while there is room: block for one only when
		 * nothing runs. */
		while (in_open && cl_engine_running(e) < parallel_opt) {
			int got = read_line(&line, &len, cl_engine_running(e) == 0 && !cl_batch_waiting(B));
			if (got < 0)
				in_open = 0;
			if (got <= 0)
				break;
			if (strspn(line, " \t\r\n") == len)
				continue; /* blank lines are not requests */
			char *id = cl_request_peek_id(line, len);
			if (n_req < n_answered) {
				/* Answered in the file already: the same request? */
				const char *had = done_ids[n_req];
				if ((id || had) && (!id || !had || strcmp(id, had) != 0))
					die(EXIT_DATA, "--resume: %s: answer %lu has id %s, but request %lu has %s: not the "
					    "answers of this input", resume_opt, n_req + 1, had ? had : "none", n_req + 1,
					    id ? id : "none");
				free(id);
				n_req++;
				n_done++;
				continue;
			}
			if (cl_batch_add(B, line, len, id))
				die(EXIT_DATA, "%s", cl_errmsg());
			n_req++;
		}
		/* Answers in input order, each as soon as it and those before
		 * it are final. */
		char *a;
		int failed, err;
		while ((a = cl_batch_answer(B, &failed, &err))) {
			ok &= !failed;
			if (fputs(a, out) == EOF || putc('\n', out) == EOF || fflush(out) == EOF) {
				if (errno == EPIPE)
					exit(EXIT_OK);
				die(EXIT_DATA, "%s:", resume_opt ? resume_opt : "stdout");
			}
			free(a);
			n_done++;
			if (progress_opt)
				batch_progress(n_done, total, t0, cl_batch_generated(B), 0);
		}
		if (err)
			die(EXIT_DATA, "%s", cl_errmsg());
		if (!in_open && !cl_batch_waiting(B))
			break;
		if (cl_engine_running(e) && cl_engine_step(e))
			die(EXIT_DATA, "%s", cl_errmsg());
		if (cl_engine_last_rows(e) > max_rows)
			max_rows = cl_engine_last_rows(e);
	}
	if (progress_opt)
		batch_progress(n_done, total, t0, cl_batch_generated(B), 1);
	for (size_t i = 0; i < n_answered; i++)
		free(done_ids[i]);
	free(done_ids);
	if (out != stdout && fclose(out))
		die(EXIT_DATA, "%s:", resume_opt);
	if (stats_opt)
		fprintf(stderr, "%s: stats: requests=%lu generated=%llu steps=%llu max_rows=%d seconds=%.6f\n", prog,
			n_req, cl_batch_generated(B), (unsigned long long)cl_engine_steps(e), max_rows,
			cl_model_seconds(m));
	free(line);
	cl_batch_free(B);
	cl_engine_free(e);
	cl_model_free(m);
	cl_tokenizer_free(tk);
	finish_stdout();
	return ok ? EXIT_OK : EXIT_DATA;
}

/* ------------------------------------------------------------- a prompt --- */

static const char *suffix_opt;

static int prompt_main(const struct args *smp, int argc, char **argv, int i, int raw, int dedent)
{
	struct cl_tokenizer *tk = load_tokenizer();
	struct run R = {.stream = 1, .raw = raw, .dedent = dedent, .truncate = truncate_opt,
			.progress = progress_opt, .max_new = 256, .ngens = 1, .stop_token = -1};
	struct cl_fim fim;
	if (suffix_opt && cl_fim_find(tk, &fim))
		die(EXIT_DATA, "--suffix: %s", cl_errmsg());
	for (int k = 0; k + 1 < smp->n; k++)
		if (strcmp(smp->v[k], "--max-new-tokens") == 0)
			R.max_new = strtol(smp->v[k + 1], NULL, 10);
	size_t len;
	char *text = read_text(argc, argv, i, NULL, &len); /* the arguments, or all of stdin */
	if (!(R.gens = calloc(1, sizeof *R.gens)))
		die(EXIT_DATA, "out of memory");
	/* BOS where the model's own tokenizer adds it, as cl-tokenize; with
	 * --suffix the prompt is the prefix of Code Llama's infilling. */
	if (suffix_opt) {
		if (strlen(text) != len)
			die(EXIT_DATA, "the prompt: a NUL byte");
		if (cl_fim_prompt(tk, &fim, text, suffix_opt, &R.gens[0].ids, &R.gens[0].nids))
			die(EXIT_DATA, "the prompt: %s", cl_errmsg());
		R.echo_text = text;
		R.stop_token = fim.eot;
	} else if (cl_tokenizer_encode(tk, text, len, cl_tokenizer_add_bos(tk) ? CL_ENCODE_BOS : 0, &R.gens[0].ids,
				       &R.gens[0].nids)) {
		die(EXIT_DATA, "the prompt: %s", cl_errmsg());
	}
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
	/* --suffix: the whole text, prefix, middle and suffix. */
	if (suffix_opt && !R.gone && !rc && out(suffix_opt, strlen(suffix_opt)))
		R.gone = 1;
	/* The newline after the text is ours: not with --raw, nor after a
	 * failure, nor where the text ends with one already. */
	if (!R.gone && !raw && !rc && (out_n == 0 || out_last != '\n'))
		out("\n", 1);
	free(text);
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
		if (strcmp(a, "--stats") == 0) {
			stats_opt = 1;
			continue;
		}
		if ((v = opt_arg(argc, argv, &i, "--resume"))) {
			resume_opt = v;
			continue;
		}
		if ((v = opt_arg(argc, argv, &i, "--suffix"))) {
			suffix_opt = v;
			continue;
		}
		if ((v = opt_arg(argc, argv, &i, "--parallel"))) {
			parallel_opt = opt_long("--parallel", v, 1, 4096);
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
		} else if ((v = opt_arg(argc, argv, &i, "--kv-type"))) {
			if (strcmp(v, "f32") && strcmp(v, "f16"))
				die(EXIT_USAGE, "--kv-type: expected f32 or f16, got '%s'", v);
			push(&fwd, "--kv-type");
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
		if (smp.n || raw || dedent || suffix_opt || i < argc)
			die(EXIT_USAGE, "--json takes the prompts and sampling parameters from the requests");
	} else if (stats_opt || parallel_opt != 16 || resume_opt) {
		die(EXIT_USAGE, "--parallel, --resume and --stats go with --json");
	}
	if (json) {
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
