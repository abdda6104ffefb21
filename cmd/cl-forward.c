/*
 * cl-forward - an embedding stream to a logit stream through the model's
 * layers, one KV cache per sequence.
 */
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <time.h>

#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [--last] [--ctx N] [--threads N] [--batch N] [--quantize TYPE]\n"
		"       [--dtype f32|f16|bf16] [--kv-type f32|f16] [--layers A:B | --head]\n"
		"       [--tap L,M,...|all FILE] [--attn FILE] [--stats] [--warmup] [--progress]\n"
		"A stream of input embeddings on standard input to a stream of logits on\n"
		"standard output: one vector of vocab_size per position, written as soon as\n"
		"its position is computed.  A record's position is authoritative: one earlier\n"
		"than the sequence's cache rewinds the cache to it.\n"
		"  -m DIR          model directory or .gguf file (default: $CL_MODEL or the\n"
		"                  model that ships)\n"
		"  --last          only the logits a sampler needs: the prompt's last position\n"
		"                  and records flagged for sampling; the other positions go\n"
		"                  out as TOKEN records without logits\n"
		"  --ctx N         positions per sequence's cache (default: max_position_embeddings,\n"
		"                  capped so a cache takes at most a quarter of memory)\n"
		"  --threads N     threads (default: the cores available)\n"
		"  --batch N       at most N positions per pass through the layers (default 128)\n"
		"  --quantize TYPE convert weights at load: f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m\n"
		"  --dtype TYPE    element type of the logits written (default f32)\n"
		"  --kv-type TYPE  element type of the KV caches: f32 (default) or f16 (half\n"
		"                  the memory)\n"
		"  --layers A:B    a stage: read the residual stream at layer A (0: embeddings),\n"
		"                  run layers A to B-1, write the stream at B (hidden states),\n"
		"                  or the logits where B is the last (A: for short)\n"
		"  --head          the final norm and output projection alone, on hidden\n"
		"                  states of any layer: the logit lens\n"
		"  --tap L,M,... FILE  also write the residual stream at those layer\n"
		"                  boundaries (L: the input of layer L; all: every one of\n"
		"                  the stage's) to FILE, a hidden stream whose records name\n"
		"                  their layer, while the output goes on\n"
		"  --attn FILE     also write each layer's attention probabilities, a vector\n"
		"                  of context width per query position, layer and head\n"
		"  --stats         at exit, report on standard error: positions, compute seconds\n"
		"                  and ms per position, weight bytes, parameters, peak RSS\n"
		"  --warmup        after loading, one pass for a position of zeros, not counted\n"
		"                  by --stats (the first pass reads every weight for the first\n"
		"                  time, which can cost several passes)\n"
		"  --progress      show loading progress (default: when standard error is a terminal)\n"
		"  -h, --help      this help\n",
		prog);
	exit(code);
}

#define MAX_SEQS 256

struct seq {
	int used;
	uint32_t id;
	struct cl_kv *kv;
	int have_last;     /* --last: logits of the latest position wait in `last` */
	struct cl_record last_rec;
	float *last;       /* (n_vocab) */
};

static struct seq seqs[MAX_SEQS];
static struct cl_model *model;
static int32_t ctx;
static const struct cl_model_info *mi;

static struct seq *find(uint32_t id, int make)
{
	struct seq *free_slot = NULL;
	for (int i = 0; i < MAX_SEQS; i++) {
		if (seqs[i].used && seqs[i].id == id)
			return &seqs[i];
		if (!seqs[i].used && !free_slot)
			free_slot = &seqs[i];
	}
	if (!make)
		return NULL;
	if (!free_slot)
		die(EXIT_DATA, "stdin: more than %d sequences open at once", MAX_SEQS);
	enum cl_status st = cl_kv_new(model, ctx, &free_slot->kv);
	if (st)
		die_status(st);
	free_slot->used = 1;
	free_slot->id = id;
	free_slot->have_last = 0;
	if (!free_slot->last && !(free_slot->last = malloc((size_t)mi->out_dim * sizeof(float))))
		die(EXIT_DATA, "out of memory");
	return free_slot;
}

static void drop(struct seq *s)
{
	cl_kv_free(s->kv);
	s->kv = NULL;
	s->used = 0;
}

static struct cl_writer *w;

static void put(const struct cl_record *r)
{
	enum cl_status st = cl_writer_put(w, r);
	if (st)
		die_status(st);
}

static void flush_last(struct seq *s)
{
	if (s && s->have_last) {
		struct cl_record r = s->last_rec;
		r.data = s->last;
		put(&r);
		s->have_last = 0;
	}
}

static uint64_t positions, batches;

/* --tap and --attn: side streams written as the batches go through. */
static struct cl_writer *tw, *aw;
static int32_t taps[1 << 10];
static int n_taps;
static float *tap_buf, *attn_buf, *attn_row;

static void side_put(struct cl_writer *sw, const struct cl_record *r)
{
	enum cl_status st = cl_writer_put(sw, r);
	if (st)
		die_status(st);
}

/* "1,3,5" or "all" (every boundary from..to) into taps[]. */
static void parse_taps(const char *v, int32_t from, int32_t to, int32_t n_layers)
{
	if (strcmp(v, "all") == 0) {
		for (int32_t l = from; l <= to; l++)
			taps[n_taps++] = l;
		return;
	}
	for (const char *p = v;;) {
		char *end;
		errno = 0;
		long l = strtol(p, &end, 10);
		if (end == p || l < 0 || errno || n_taps == (int)(sizeof taps / sizeof *taps))
			die(EXIT_USAGE, "--tap: expected layers such as 1,4,8 or all, got '%s'", v);
		if (l > n_layers)
			die(EXIT_USAGE, "--tap: layer %ld: the model has %d layers (boundaries 0 to %d)", l, n_layers,
			    n_layers);
		taps[n_taps++] = (int32_t)l;
		if (!*end)
			break;
		if (*end != ',')
			die(EXIT_USAGE, "--tap: expected layers such as 1,4,8 or all, got '%s'", v);
		p = end + 1;
	}
}

static struct cl_writer *side_open(const char *path, const char *opt, const struct cl_stream_info *info)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		die(EXIT_DATA, "%s: %s:", opt, path);
	enum cl_status st;
	struct cl_writer *sw = cl_writer_open(fd, path, info, &st);
	if (!sw)
		die_status(st);
	return sw;
}

/* The side streams' records of a batch's n rows: every tap of a row, then
 * every layer's heads of it. */
static void side_rows(const struct cl_record *meta, int n, int64_t dim, int32_t attn_layers)
{
	for (int k = 0; k < n; k++) {
		struct cl_record o = meta[k];
		o.kind = CL_REC_VECTOR;
		o.logprob = NAN;
		for (int j = 0; tw && j < n_taps; j++) {
			o.n = (uint32_t)dim;
			o.aux = (uint32_t)taps[j];
			o.data = tap_buf + ((size_t)k * n_taps + j) * dim;
			side_put(tw, &o);
		}
		for (int32_t l = 0; aw && l < attn_layers; l++)
			for (int h = 0; h < mi->n_heads; h++) {
				const float *a = attn_buf + (((size_t)k * attn_layers + l) * mi->n_heads + h) * ctx;
				memcpy(attn_row, a, (meta[k].pos + 1) * sizeof *a);
				memset(attn_row + meta[k].pos + 1, 0, (ctx - meta[k].pos - 1) * sizeof *a);
				o.n = (uint32_t)ctx;
				o.aux = CL_AUX_ATTN(mi->layer_from + l, h);
				o.data = attn_row;
				side_put(aw, &o);
			}
	}
}
static const char *ctx_why; /* what set the context, for messages */

/* A position at or past the end of the context.  Of a prompt, read on to its
 * end and give its length; of a generated token, its position. */
__attribute__((noreturn)) static void past_context(struct cl_reader *r, const struct cl_record *first)
{
	if (first->flags & CL_FLAG_PROMPT) {
		uint32_t n = first->pos + 1;
		struct cl_record rec;
		while (cl_reader_next(r, &rec) == CL_OK && rec.seq == first->seq) {
			if (rec.kind == CL_REC_PROMPT_END) {
				n = rec.pos;
				break;
			}
			if (rec.kind != CL_REC_VECTOR || !(rec.flags & CL_FLAG_PROMPT))
				break;
			if (rec.pos + 1 > n)
				n = rec.pos + 1;
		}
		die(EXIT_DATA, "stdin: seq %u: the prompt is %u tokens, the context holds %d (%s)", first->seq, n, ctx,
		    ctx_why);
	}
	die(EXIT_DATA, "stdin: seq %u: position %u is past the end of the context of %d positions (%s)", first->seq,
	    first->pos, ctx, ctx_why);
}

/* --stats, at any exit that is not an error, including the quiet one when the
 * reader of our output went away (in the loop, cl-sample ends first). */
static void print_stats(void)
{
	static int done;
	if (done || cmd_failed || !model)
		return;
	done = 1;
	/* key=value, for scripts/bench; compute time excludes loading and I/O */
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double sec = cl_model_seconds(model);
	fprintf(stderr, "%s: stats: positions=%llu batches=%llu seconds=%.6f ms_per_position=%.3f threads=%d "
		"kernels=%s weight_bytes=%llu params=%llu layer_params=%llu peak_rss_mib=%.1f\n", prog,
		(unsigned long long)positions,
		(unsigned long long)batches, sec,
		positions ? 1e3 * sec / (double)positions : 0.0, mi->threads, mi->kernels,
		(unsigned long long)mi->weight_bytes, (unsigned long long)mi->n_params,
		(unsigned long long)mi->layer_params, (double)ru.ru_maxrss / 1024.0);
}

int main(int argc, char **argv)
{
	const char *dir = NULL;
	int last = 0, stats = 0, warmup = 0, i, layers_given = 0, head = 0;
	const char *tap_list = NULL, *tap_file = NULL, *attn_file = NULL;
	long ctx_opt = 0, batch = CL_BATCH_MAX;
	enum cl_dtype dtype = CL_DTYPE_F32;
	struct cl_model_opts opts;
	cl_model_opts_init(&opts);
	opts.progress = isatty(STDERR_FILENO);
	cmd_init("cl-forward");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		else if ((v = opt_arg(argc, argv, &i, "-m")))
			dir = v;
		else if (strcmp(a, "--last") == 0)
			last = 1;
		else if (strcmp(a, "--stats") == 0)
			stats = 1;
		else if (strcmp(a, "--warmup") == 0)
			warmup = 1;
		else if (strcmp(a, "--progress") == 0)
			opts.progress = 1;
		else if ((v = opt_arg(argc, argv, &i, "--ctx")))
			ctx_opt = opt_long("--ctx", v, 1, 1 << 24);
		else if ((v = opt_arg(argc, argv, &i, "--batch")))
			batch = opt_long("--batch", v, 1, CL_BATCH_MAX);
		else if (model_opt(argc, argv, &i, &opts))
			;
		else if ((v = opt_arg(argc, argv, &i, "--layers"))) {
			char *end;
			errno = 0;
			long a = strtol(v, &end, 10), b = -1;
			if (end == v || *end != ':' || a < 0 || a > 1 << 16)
				die(EXIT_USAGE, "--layers: expected A:B or A: (layers, from 0), got '%s'", v);
			if (end[1]) {
				const char *bs = end + 1;
				b = strtol(bs, &end, 10);
				if (end == bs || *end || b < a || b > 1 << 16)
					die(EXIT_USAGE, "--layers: expected A:B with A <= B, got '%s'", v);
			}
			opts.layer_from = (int32_t)a;
			opts.layer_to = (int32_t)b;
			layers_given = 1;
		} else if (strcmp(a, "--head") == 0) {
			head = 1;
		} else if (strcmp(a, "--tap") == 0) {
			if (i + 2 >= argc)
				die(EXIT_USAGE, "--tap: needs layers and a file, as --tap 4,8 FILE (see --help)");
			tap_list = argv[++i];
			tap_file = argv[++i];
		} else if ((v = opt_arg(argc, argv, &i, "--attn"))) {
			attn_file = v;
		} else if ((v = opt_arg(argc, argv, &i, "--dtype"))) {
			if (cl_dtype_parse(v, &dtype) || dtype > CL_DTYPE_BF16)
				die(EXIT_USAGE, "--dtype: expected f32, f16 or bf16, got '%s'", v);
		} else {
			bad_arg(a);
		}
	}
	if (!dir)
		dir = cl_default_model();
	if (head && layers_given)
		die(EXIT_USAGE, "--head and --layers do not go together (--head is the stage after the last layer)");
	if (head)
		opts.layer_from = opts.layer_to = 1 << 16; /* resolved below: both n_layers */
	no_stream_to_tty("pipe it into cl-sample, or into cl-dump to read it");

	enum cl_status st;
	if (head) {
		/* The number of layers is the model's: read it, then load the
		 * head alone. */
		struct cl_model_opts o2 = opts;
		o2.layer_from = 0, o2.layer_to = 0;
		o2.progress = 0;
		if ((st = cl_model_load(dir, &o2, &model)))
			die_status(st);
		opts.layer_from = opts.layer_to = cl_model_info(model)->n_layers;
		cl_model_free(model);
	}
	st = cl_model_load(dir, &opts, &model);
	if (st)
		die_status(st);
	mi = cl_model_info(model);
	if (warmup && (st = cl_model_warm(model)))
		die_status(st);
	int hidden_out = mi->layer_to < mi->n_layers;
	if (hidden_out && last)
		die(EXIT_USAGE, "--last goes with the stage that ends at the logits; a stage before writes every position");
	if (stats) {
		atexit(print_stats);
	}
	struct cl_tokenizer *tok = NULL;
	if (cl_tokenizer_load(dir, &tok) != CL_OK)
		tok = NULL;

	/* The context: asked for, or max_position_embeddings within a budget of
	 * a quarter of physical memory for one sequence's cache. */
	static char why[512];
	snprintf(why, sizeof why, "max_position_embeddings of %s", dir);
	ctx_why = why;
	if (ctx_opt) {
		if (ctx_opt > mi->max_pos)
			die(EXIT_USAGE, "--ctx: %ld is beyond max_position_embeddings %d of %s", ctx_opt, mi->max_pos, dir);
		ctx = (int32_t)ctx_opt;
		ctx_why = "--ctx";
	} else {
		struct sysinfo si;
		uint64_t budget = sysinfo(&si) == 0 ? (uint64_t)si.totalram * si.mem_unit / 4 : (1ull << 32);
		uint64_t per = cl_kv_bytes(model, 1);
		ctx = mi->max_pos;
		if ((uint64_t)ctx * per > budget) {
			ctx = (int32_t)(budget / per);
			if (ctx < 1)
				ctx = 1;
			ctx_why = "capped to a quarter of memory; --ctx sets it";
			fprintf(stderr, "%s: context capped at %d positions of %d: a cache of %.0f MiB per sequence "
				"(a quarter of memory); --ctx sets it\n", prog, ctx, mi->max_pos,
				(double)ctx * per / (1 << 20));
		}
	}

	/* Rows of a batch, at most B. */
	enum { B = CL_BATCH_MAX };
	int64_t dim = mi->dim, V = mi->out_dim;
	int32_t attn_layers = mi->layer_to - mi->layer_from;
	if (tap_list) {
		parse_taps(tap_list, mi->layer_from, mi->layer_to, mi->n_layers);
		if (!(tap_buf = malloc((size_t)B * n_taps * dim * sizeof *tap_buf)))
			die(EXIT_DATA, "--tap: out of memory");
		if ((st = cl_model_set_taps(model, taps, n_taps, tap_buf)))
			die(EXIT_USAGE, "--tap: %s", cl_errmsg());
	}
	if (attn_file) {
		if (attn_layers == 0)
			die(EXIT_USAGE, "--attn: this stage has no layers (--head is the norm and projection alone)");
		/* A row's probabilities take layers x heads x context floats: the
		 * batch shrinks to keep them within 256 MiB. */
		size_t per_row = (size_t)attn_layers * mi->n_heads * ctx * sizeof(float);
		long fit = (long)((256u << 20) / per_row);
		if (fit < batch)
			batch = fit > 0 ? fit : 1;
		if (!(attn_buf = malloc((size_t)batch * per_row)) || !(attn_row = malloc((size_t)ctx * sizeof(float))))
			die(EXIT_DATA, "--attn: out of memory (%.0f MiB a position)", (double)per_row / (1 << 20));
		if ((st = cl_model_set_attn(model, attn_buf, ctx)))
			die_status(st);
	}

	struct cl_reader *r = cl_reader_open(STDIN_FILENO, "stdin");
	const struct cl_stream_info *in = r ? cl_reader_info(r, &st) : NULL;
	if (!in)
		die_status(r ? st : CL_ERR_NOMEM);
	if (in->kind != CL_STREAM_VECTORS)
		die(EXIT_DATA, "stdin: expected a stream of embeddings, got a stream of %s", in->what);
	if (in->width != (uint32_t)mi->dim)
		die(EXIT_DATA, "stdin: embeddings of width %u, but %s has hidden_size %d", in->width, dir, mi->dim);
	/* The input is the residual stream where the stage begins: embeddings
	 * (layer 0) for the first; --head takes any layer's. */
	int in_hidden = strcmp(in->what, "hidden") == 0;
	int in_layer = in_hidden ? in->layer : strcmp(in->what, "embeddings") == 0 ? 0 : -1;
	if (!in_hidden && in_layer < 0)
		die(EXIT_DATA, "stdin: expected embeddings or hidden states, got %s", in->what);
	if (in_layer < 0 && !head)
		die(EXIT_DATA, "stdin: hidden states of several layers (a --tap stream); a stage takes one layer's, "
		    "--head any");
	if (!head && in_layer != mi->layer_from)
		die(EXIT_DATA, "stdin: the residual stream at layer %d, but this stage begins at layer %d (--layers)",
		    in_layer, mi->layer_from);
	if (tok && (st = cl_stream_check_tokenizer(in, cl_tokenizer_fingerprint(tok), dir)))
		die(EXIT_DATA, "stdin: %s", cl_errmsg());
	int keep_aux = head && in_layer < 0;

	struct cl_stream_info info;
	cl_stream_info_init(&info, CL_STREAM_VECTORS, hidden_out ? "hidden" : "logits", "cl-forward");
	info.width = (uint32_t)mi->out_dim;
	if (hidden_out)
		info.layer = mi->layer_to;
	info.dtype = dtype;
	info.vocab_size = (uint32_t)mi->n_vocab;
	info.bos = in->bos;
	info.eos = in->eos >= 0 ? in->eos : mi->eos;
	info.context = (uint32_t)ctx;
	snprintf(info.tokenizer, sizeof info.tokenizer, "%s", tok ? cl_tokenizer_fingerprint(tok) : in->tokenizer);
	snprintf(info.model, sizeof info.model, "%s", dir);
	if (!(w = cl_writer_open(STDOUT_FILENO, "stdout", &info, &st)))
		die_status(st);
	if (tap_list) {
		/* One tap's stream is a stage's output (a later stage or --head
		 * takes it as it is); several name each record's layer. */
		struct cl_stream_info ti = info;
		snprintf(ti.what, sizeof ti.what, "hidden");
		ti.width = (uint32_t)dim;
		ti.dtype = CL_DTYPE_F32;
		ti.layer = n_taps == 1 ? taps[0] : -1;
		tw = side_open(tap_file, "--tap", &ti);
	}
	if (attn_file) {
		struct cl_stream_info ai = info;
		snprintf(ai.what, sizeof ai.what, "attention");
		ai.width = (uint32_t)ctx;
		ai.dtype = CL_DTYPE_F32;
		ai.layer = -1;
		ai.heads = mi->n_heads;
		aw = side_open(attn_file, "--attn", &ai);
	}
	/* File-scope, so that a die() part-way leaks nothing LeakSanitizer sees. */
	static float *x, *logits;
	x = malloc((size_t)B * dim * sizeof *x);          /* (B, dim) */
	logits = malloc((size_t)B * V * sizeof *logits);  /* (B, V) */
	struct cl_record meta[B];
	struct seq *ss[B];                 /* each row's sequence */
	struct cl_batch_row rows[B];
	if (!x || !logits)
		die(EXIT_DATA, "out of memory");
	struct cl_record rec;
	int pending = 0; /* rec holds a record read but not yet handled */
	for (;;) {
		if (!pending && (st = cl_reader_next(r, &rec)) != CL_OK)
			break;
		pending = 0;
		if (rec.kind != CL_REC_VECTOR) {
			struct seq *s = find(rec.seq, 0);
			if (rec.kind == CL_REC_SEQ_BEGIN) {
				if (s)
					drop(s);
			} else if (rec.kind == CL_REC_PROMPT_END) {
				flush_last(s);
			} else if (rec.kind == CL_REC_SEQ_END && s) {
				flush_last(s);
				drop(s);
			}
			put(&rec);
			if (tw)
				side_put(tw, &rec);
			if (aw)
				side_put(aw, &rec);
			continue;
		}
		/* A batch: the records already here (buffered, or waiting in the
		 * file or pipe), of one sequence or of several, each sequence's in
		 * order of position; never a wait for input that a position does
		 * not need. */
		int n = 0;
		for (;;) {
			struct seq *s = find(rec.seq, 1);
			if ((int64_t)rec.pos >= ctx)
				past_context(r, &rec);
			int prev = -1;
			for (int k = n; k-- > 0;)
				if (ss[k] == s) {
					prev = (int)meta[k].pos;
					break;
				}
			if (prev < 0 && rec.pos > (uint32_t)cl_kv_len(s->kv))
				die(EXIT_DATA, "stdin: seq %u: position %u, but the sequence has only %d positions so far",
				    rec.seq, rec.pos, cl_kv_len(s->kv));
			if (prev >= 0 && rec.pos != (uint32_t)prev + 1) {
				pending = 1; /* a rewind: the next batch */
				break;
			}
			meta[n] = rec;
			ss[n] = s;
			cl_record_vector(r, &rec, x + (size_t)n * dim);
			n++;
			if (n == batch || !cl_reader_waiting(r))
				break;
			if ((st = cl_reader_next(r, &rec)) != CL_OK)
				break;
			if (rec.kind != CL_REC_VECTOR) {
				pending = 1;
				break;
			}
		}
		if (st != CL_OK && st != CL_ERR_EOF)
			die_status(st);
		/* Logits for every row, or with --last for each sequence's last
		 * row in the batch. */
		int n_out = 0;
		for (int k = 0; k < n; k++) {
			int is_last = 1;
			for (int u = k + 1; u < n && is_last; u++)
				is_last = ss[u] != ss[k];
			rows[k] = (struct cl_batch_row){ss[k]->kv, (int32_t)meta[k].pos, !last || is_last};
			n_out += rows[k].logits;
		}
		if (cl_model_forward_batch(model, rows, n, x, logits))
			die(EXIT_DATA, "stdin: seq %u: %s", meta[0].seq, cl_errmsg());
		positions += (uint64_t)n;
		batches++;
		side_rows(meta, n, dim, attn_layers);
		const float *lg = logits;
		for (int k = 0; k < n; k++) {
			struct cl_record o = meta[k];
			o.logprob = NAN;
			/* The lens on a stream of several taps names each
			 * record's layer; other outputs are of one layer. */
			o.aux = keep_aux ? meta[k].aux : 0;
			if (!rows[k].logits) {
				/* A position left out goes as a bare TOKEN record, so
				 * that a sampler still knows the whole sequence
				 * (repetition penalty). */
				o.kind = CL_REC_TOKEN;
				o.n = 0;
				o.data = NULL;
				put(&o);
				continue;
			}
			o.n = (uint32_t)V;
			if (!last || (o.flags & CL_FLAG_SAMPLE)) {
				o.data = lg;
				put(&o);
				ss[k]->have_last = 0;
			} else {
				memcpy(ss[k]->last, lg, (size_t)V * sizeof *lg);
				ss[k]->last_rec = o;
				ss[k]->have_last = 1;
			}
			lg += V;
		}
		if (st == CL_ERR_EOF)
			break;
	}
	if (st != CL_ERR_EOF && st != CL_OK)
		die_status(st);
	for (int k = 0; k < MAX_SEQS; k++)
		if (seqs[k].used)
			flush_last(&seqs[k]);
	if ((st = cl_writer_close(w)))
		die_status(st);
	if (tw && (st = cl_writer_close(tw)))
		die_status(st);
	if (aw && (st = cl_writer_close(aw)))
		die_status(st);
	tw = aw = NULL;
	free(tap_buf);
	free(attn_buf);
	free(attn_row);
	for (int k = 0; k < MAX_SEQS; k++) {
		if (seqs[k].used)
			drop(&seqs[k]);
		free(seqs[k].last);
	}
	free(x);
	free(logits);
	cl_reader_free(r);
	cl_tokenizer_free(tok);
	if (stats)
		print_stats();
	cl_model_free(model);
	model = NULL;
	return EXIT_OK;
}
