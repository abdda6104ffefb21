/*
 * cl-sample - a logit stream to a token stream: where a sampler must act, it
 * chooses the next token; it ends each sequence at EOS, a stop string or
 * --max-new-tokens.  Its output flows back into cl-embed in the generation
 * loop, so control records from the input are never passed on: a PROMPT_END
 * or SEQ_BEGIN that went round again would start the work a second time.
 */
#include <float.h>
#include <math.h>

#include "cmd.h"

#define PIECE_MAX 512 /* bytes of one decoded token we look at for --stop */

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [--temperature T | --greedy] [--top-k K] [--top-p P]\n"
		"       [--min-p P] [--typical-p P] [--repetition-penalty R]\n"
		"       [--presence-penalty R] [--frequency-penalty R] [--logit-bias ID=BIAS]...\n"
		"       [--samplers LIST] [--seed N] [--max-new-tokens N] [--stop STRING]...\n"
		"       [--ignore-eos] [--top-logprobs N]\n"
		"A logit stream on standard input to a token stream on standard output.  A token\n"
		"is chosen for position pos+1 after each vector flagged for sampling, and after\n"
		"the last vector of a sequence when its prompt ends.\n"
		"  -m DIR                  the model's tokenizer: checks the stream, gives EOS\n"
		"                          and decodes for --stop (default: $CL_MODEL, with --stop)\n"
		"  --temperature T         divide the logits by T, 0 to 100 (default 1; 0: greedy)\n"
		"  --greedy                always the most likely token (--temperature 0)\n"
		"  --top-k K               keep the K most likely tokens (default 0: off)\n"
		"  --top-p P               keep the smallest set with mass >= P (default 1: off)\n"
		"  --min-p P               keep tokens with p >= P * p_max (default 0: off)\n"
		"  --typical-p P           locally typical sampling, mass P (default 1: off)\n"
		"  --repetition-penalty R  Hugging Face's, over the sequence so far (default 1)\n"
		"  --presence-penalty R    subtract R from tokens seen so far (default 0)\n"
		"  --frequency-penalty R   subtract R times a token's count so far (default 0)\n"
		"  --logit-bias ID=BIAS    add BIAS to token ID's logit; -inf bans it (repeatable)\n"
		"  --samplers LIST         the chain's order (default\n"
		"                          penalties,temperature,top_k,top_p,min_p,typical_p)\n"
		"  --seed N                the draw depends only on seed, sequence and position\n"
		"                          (default 0)\n"
		"  --max-new-tokens N      end a sequence after N generated tokens (default 256)\n"
		"  --stop STRING           end a sequence when its generated text contains STRING\n"
		"                          (repeatable; needs the tokenizer)\n"
		"  --ignore-eos            do not end a sequence at the EOS token\n"
		"  --top-logprobs N        attach the N most likely alternatives to each token\n"
		"  -h, --help              this help\n",
		prog);
	exit(code);
}

/* One sequence's state: its tokens by position and its last logits. */
struct seq {
	uint32_t id;
	int open, finished;
	int32_t *hist;      /* (cap) the input token at each position; -1 unknown */
	size_t len, cap;
	float *last;        /* (width) logits of the last vector record */
	uint32_t last_pos;
	int has_last;
	int acted;          /* a token was already chosen from `last` */
	int has_gen;
	uint32_t gen_pos;   /* position of the first generated token */
};

static struct cl_tokenizer *tok;
static struct cl_sampler *smp;
static struct cl_writer *out;
static struct seq **seqs;
static size_t nseqs, n_open;
static uint32_t width;
static int32_t eos = -1, bos = -1;
static long max_new = 256;
static uint32_t context;    /* from the logits' header; 0: unknown */
static int ignore_eos, n_top;
static const char **stops;
static int nstops;
static size_t stop_max;
static struct cl_alt *alts; /* (n_top) */
static char *window;        /* (stop_max + 2 * PIECE_MAX) the tail of a generated text */

static void put(uint16_t kind, uint32_t seq, uint32_t pos, int32_t token, float lp, uint16_t flags,
		uint32_t n, const void *data)
{
	struct cl_record r = {.kind = kind, .flags = flags, .seq = seq, .pos = pos, .token = token,
			      .logprob = lp, .n = n, .data = data};
	enum cl_status st = cl_writer_put(out, &r);
	if (st)
		die_status(st);
}

static struct seq *seq_get(uint32_t id, int make)
{
	for (size_t i = nseqs; i-- > 0;)
		if (seqs[i]->id == id)
			return seqs[i];
	if (!make)
		return NULL;
	struct seq *s = calloc(1, sizeof *s);
	struct seq **n = realloc(seqs, (nseqs + 1) * sizeof *seqs);
	if (!s || !n)
		die(EXIT_DATA, "out of memory");
	seqs = n;
	s->id = id;
	return seqs[nseqs++] = s;
}

static void seq_open(struct seq *s)
{
	if (!s->open)
		n_open++;
	s->open = 1;
	s->finished = 0;
	if (!s->last && !(s->last = malloc((size_t)width * sizeof *s->last)))
		die(EXIT_DATA, "out of memory");
}

/* The sequence is over: later records for it are ignored. */
static void seq_finish(struct seq *s, uint32_t pos)
{
	put(CL_REC_SEQ_END, s->id, pos, -1, NAN, 0, 0, NULL);
	if (s->open)
		n_open--;
	s->open = s->has_last = s->has_gen = 0;
	s->finished = 1;
	s->len = s->cap = 0;
	free(s->hist);
	free(s->last);
	s->hist = NULL;
	s->last = NULL;
}

/* Whether the token at pos begins its sequence's text (SentencePiece then
 * drops the space of its dummy prefix). */
static int text_first(const struct seq *s, uint32_t pos)
{
	return pos == 0 || (pos == 1 && bos >= 0 && s->hist[0] == bos);
}

/* Whether the generated text, with token t at position q, now holds a stop
 * string.  A new match must end in t's bytes, so of the text before t only
 * the last stop_max - 1 bytes matter: the history is decoded back that far,
 * which also follows any rewind. */
static int stop_hit(const struct seq *s, uint32_t q, int32_t t)
{
	char piece[PIECE_MAX];
	size_t have = 0, wl = 0;
	uint32_t from = q;
	while (from > s->gen_pos && have + 1 < stop_max) {
		from--;
		int n = cl_tokenizer_decode(tok, s->hist[from], text_first(s, from), piece, sizeof piece);
		have += n > 0 ? (size_t)n : 0;
	}
	for (uint32_t p = from; p <= q; p++) {
		int32_t id = p < q ? s->hist[p] : t;
		int n = cl_tokenizer_decode(tok, id, text_first(s, p), piece, sizeof piece);
		if (n > 0) {
			memcpy(window + wl, piece, (size_t)n);
			wl += (size_t)n;
		}
	}
	for (int i = 0; i < nstops; i++)
		if (memmem(window, wl, stops[i], strlen(stops[i])))
			return 1;
	return 0;
}

/* A sequence that reached the end of the context: said once a run. */
static void at_context(const struct seq *s)
{
	static int said;
	if (!said++)
		fprintf(stderr, "%s: seq %u: stopped at the end of the context (%u positions)\n", prog, s->id,
			context);
}

/* Choose the token at last_pos + 1 from the sequence's last logits.  The
 * token at the context's last position is the last: it still goes round the
 * loop, and a later one could not. */
static void sample(struct seq *s)
{
	uint32_t q = s->last_pos + 1;
	float lp;
	int na = 0;
	if (context && q >= context) {
		at_context(s);
		seq_finish(s, q);
		return;
	}
	int32_t t = cl_sampler_sample(smp, s->last, s->hist, s->len, s->id, q, &lp, alts, n_top, &na);
	s->acted = 1;
	if (!s->has_gen || q < s->gen_pos) {
		s->has_gen = 1;
		s->gen_pos = q;
	}
	int full = context && q + 1 >= context;
	int stop = (t == eos && !ignore_eos) || (long)(q - s->gen_pos) + 1 >= max_new ||
		   (nstops && stop_hit(s, q, t)) || full;
	if (full && !((t == eos && !ignore_eos) || (long)(q - s->gen_pos) + 1 >= max_new))
		at_context(s);
	put(CL_REC_TOKEN, s->id, q, t, lp, CL_FLAG_GENERATED | (stop ? 0 : CL_FLAG_SAMPLE),
	    (uint32_t)na, alts);
	if (stop)
		seq_finish(s, q);
}

/* Record the input token at pos.  A position before the end rewinds the
 * history to it; a gap (a stream of last positions only) holds unknown
 * tokens. */
static struct seq *hist_set(const struct cl_record *rec)
{
	struct seq *s = seq_get(rec->seq, 1);
	if (s->finished)
		return NULL;
	seq_open(s); /* a sequence without SEQ_BEGIN begins at its first record */
	size_t p = rec->pos;
	if (p >= s->cap) {
		size_t cap = s->cap ? s->cap : 64;
		while (cap <= p)
			cap *= 2;
		int32_t *h = realloc(s->hist, cap * sizeof *h);
		if (!h)
			die(EXIT_DATA, "out of memory");
		s->hist = h;
		s->cap = cap;
	}
	for (size_t i = s->len; i < p; i++)
		s->hist[i] = -1;
	s->hist[p] = rec->token;
	s->len = p + 1;
	return s;
}

static void on_vector(struct cl_reader *r, const struct cl_record *rec)
{
	struct seq *s = hist_set(rec);
	if (!s)
		return;
	cl_record_vector(r, rec, s->last);
	s->last_pos = rec->pos;
	s->has_last = 1;
	s->acted = 0;
	if (rec->flags & CL_FLAG_SAMPLE)
		sample(s);
}

static void parse_bias(const char *v, struct cl_sampler_params *sp)
{
	char id[32];
	const char *eq = strchr(v, '=');
	if (!eq || (size_t)(eq - v) >= sizeof id)
		die(EXIT_USAGE, "--logit-bias: expected ID=BIAS, got '%s'", v);
	if (sp->n_bias == CL_SAMPLER_MAX_BIAS)
		die(EXIT_USAGE, "--logit-bias: at most %d biases", CL_SAMPLER_MAX_BIAS);
	memcpy(id, v, (size_t)(eq - v));
	id[eq - v] = 0;
	sp->bias_token[sp->n_bias] = (int32_t)opt_long("--logit-bias", id, 0, INT32_MAX);
	sp->bias_value[sp->n_bias] = (float)opt_double("--logit-bias", eq + 1, -INFINITY, FLT_MAX);
	sp->n_bias++;
}

int main(int argc, char **argv)
{
	struct cl_sampler_params sp;
	const char *dir = NULL, *v;
	cmd_init("cl-sample");
	cl_sampler_params_init(&sp);
	if (!(stops = calloc((size_t)argc, sizeof *stops)))
		die(EXIT_DATA, "out of memory");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(EXIT_OK);
		else if (!strcmp(a, "--greedy"))
			sp.temperature = 0;
		else if (!strcmp(a, "--ignore-eos"))
			ignore_eos = 1;
		else if (!strcmp(a, "-m")) {
			if (i + 1 >= argc)
				die(EXIT_USAGE, "-m: needs a value (see --help)");
			dir = argv[++i];
		} else if ((v = opt_arg(argc, argv, &i, "--temperature")))
			sp.temperature = (float)opt_double("--temperature", v, 0, 100);
		else if ((v = opt_arg(argc, argv, &i, "--top-k")))
			sp.top_k = (int32_t)opt_long("--top-k", v, 0, INT32_MAX);
		else if ((v = opt_arg(argc, argv, &i, "--top-p")))
			sp.top_p = (float)opt_double("--top-p", v, 0, 1);
		else if ((v = opt_arg(argc, argv, &i, "--min-p")))
			sp.min_p = (float)opt_double("--min-p", v, 0, 1);
		else if ((v = opt_arg(argc, argv, &i, "--typical-p")))
			sp.typical_p = (float)opt_double("--typical-p", v, 0, 1);
		else if ((v = opt_arg(argc, argv, &i, "--repetition-penalty")))
			sp.repetition_penalty = (float)opt_double("--repetition-penalty", v, 1e-3, 1e3);
		else if ((v = opt_arg(argc, argv, &i, "--presence-penalty")))
			sp.presence_penalty = (float)opt_double("--presence-penalty", v, -1e3, 1e3);
		else if ((v = opt_arg(argc, argv, &i, "--frequency-penalty")))
			sp.frequency_penalty = (float)opt_double("--frequency-penalty", v, -1e3, 1e3);
		else if ((v = opt_arg(argc, argv, &i, "--logit-bias")))
			parse_bias(v, &sp);
		else if ((v = opt_arg(argc, argv, &i, "--samplers"))) {
			if (cl_sampler_parse_chain(v, &sp) != 0)
				die(EXIT_USAGE, "--samplers: %s", cl_errmsg());
		} else if ((v = opt_arg(argc, argv, &i, "--seed")))
			sp.seed = (uint64_t)opt_long("--seed", v, 0, LONG_MAX);
		else if ((v = opt_arg(argc, argv, &i, "--max-new-tokens")))
			max_new = opt_long("--max-new-tokens", v, 1, INT32_MAX);
		else if ((v = opt_arg(argc, argv, &i, "--top-logprobs")))
			n_top = (int)opt_long("--top-logprobs", v, 0, 1000);
		else if ((v = opt_arg(argc, argv, &i, "--stop"))) {
			if (!*v)
				die(EXIT_USAGE, "--stop: expected a non-empty string");
			stops[nstops++] = v;
			if (strlen(v) > stop_max)
				stop_max = strlen(v);
		} else
			bad_arg(a);
	}

	/* The tokenizer before stdin: a bad model fails before any input. */
	no_stream_to_tty("pipe it into cl-detok, or into cl-dump to read it");
	if (!dir && nstops)
		dir = cl_default_model();
	if (dir && cl_tokenizer_load(dir, &tok) != CL_OK)
		die(EXIT_DATA, "%s", cl_errmsg());
	if (nstops && !(window = malloc(stop_max + 2 * PIECE_MAX)))
		die(EXIT_DATA, "out of memory");

	enum cl_status st;
	struct cl_reader *r = cl_reader_open(STDIN_FILENO, "-");
	if (!r)
		die(EXIT_DATA, "out of memory");
	const struct cl_stream_info *in = cl_reader_info(r, &st);
	if (!in)
		die_status(st);
	if (in->kind != CL_STREAM_VECTORS || strcmp(in->what, "logits") != 0)
		die(EXIT_DATA, "stdin: expected a stream of logits, got %s", in->what);
	if (tok && (st = cl_stream_check_tokenizer(in, cl_tokenizer_fingerprint(tok), dir)))
		die_status(st);
	width = in->width;
	for (int i = 0; i < sp.n_bias; i++)
		if ((uint32_t)sp.bias_token[i] >= width)
			die(EXIT_USAGE, "--logit-bias: token %d is outside the vocabulary of %u",
			    (int)sp.bias_token[i], width);
	if ((st = cl_sampler_new(&sp, (int32_t)width, &smp)))
		die_status(st);
	if (n_top > (int)width)
		n_top = (int)width;
	if (n_top && !(alts = malloc((size_t)n_top * sizeof *alts)))
		die(EXIT_DATA, "out of memory");

	struct cl_stream_info oi;
	cl_stream_info_init(&oi, CL_STREAM_TOKENS, "tokens", "cl-sample");
	oi.vocab_size = in->vocab_size ? in->vocab_size : width;
	memcpy(oi.tokenizer, in->tokenizer, sizeof oi.tokenizer);
	memcpy(oi.model, in->model, sizeof oi.model);
	oi.bos = in->bos;
	oi.eos = in->eos;
	oi.context = context = in->context;
	if (tok) {
		if (!oi.tokenizer[0])
			snprintf(oi.tokenizer, sizeof oi.tokenizer, "%s", cl_tokenizer_fingerprint(tok));
		if (oi.bos < 0)
			oi.bos = cl_tokenizer_bos(tok);
		if (oi.eos < 0)
			oi.eos = cl_tokenizer_eos(tok);
	}
	bos = oi.bos;
	eos = oi.eos;
	if (!(out = cl_writer_open(STDOUT_FILENO, "stdout", &oi, &st)))
		die_status(st);

	struct cl_record rec;
	struct seq *s;
	int ended = 0;
	while ((st = cl_reader_next(r, &rec)) == CL_OK) {
		switch (rec.kind) {
		case CL_REC_SEQ_BEGIN:
			s = seq_get(rec.seq, 1);
			seq_open(s);
			s->len = 0;
			s->has_last = s->has_gen = s->acted = 0;
			break;
		case CL_REC_VECTOR:
			on_vector(r, &rec);
			break;
		case CL_REC_PROMPT_END:
			s = seq_get(rec.seq, 0);
			if (s && s->finished)
				break;
			if (!s || !s->has_last)
				die(EXIT_DATA, "stdin: sequence %u: its prompt ended before any logits", rec.seq);
			/* Already chosen when the last vector was flagged for sampling. */
			if (!s->acted)
				sample(s);
			break;
		case CL_REC_SEQ_END:
			s = seq_get(rec.seq, 1);
			if (!s->finished)
				seq_finish(s, rec.pos);
			break;
		case CL_REC_END:
			ended = 1;
			break;
		case CL_REC_TOKEN:
			/* Positions without logits (a producer that skips the
			 * prompt's) may still say their token, for the penalties. */
			if ((s = hist_set(&rec)) && s->has_last && rec.pos <= s->last_pos)
				s->has_last = 0; /* rewound past the logits we hold */
			break;
		default:
			break;
		}
		if (ended && n_open == 0) {
			put(CL_REC_END, 0, 0, -1, NAN, 0, 0, NULL);
			break;
		}
	}
	if (st != CL_OK && st != CL_ERR_EOF)
		die_status(st);
	if ((st = cl_writer_close(out)))
		die_status(st);
	for (size_t i = 0; i < nseqs; i++) {
		free(seqs[i]->hist);
		free(seqs[i]->last);
		free(seqs[i]);
	}
	free(seqs);
	free(stops);
	free(alts);
	free(window);
	cl_reader_free(r);
	cl_sampler_free(smp);
	cl_tokenizer_free(tok);
	return finish_stdout();
}
