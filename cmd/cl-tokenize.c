/*
 * cl-tokenize - text to a token stream.
 */
#include "cmd.h"
#include "infill.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR | -t FILE] [--lines] [--bos | --no-bos] [--eos] [--special]\n"
		"       [--ids] [--from-ids] [--seq N] [--suffix TEXT] [-f FILE] [TEXT ...]\n"
		"Text (the arguments joined by spaces, FILE, or standard input) to a cl token\n"
		"stream on standard output.  The whole input is one sequence, newlines included.\n"
		"  -m DIR       model directory or .gguf file (default: $CL_MODEL or the\n"
		"               model that ships)\n"
		"  -t FILE      tokenizer file (tokenizer.model, tokenizer.json or vocab.json)\n"
		"  -f FILE      read the text from FILE\n"
		"  --lines      each input line is a sequence (its newline not included)\n"
		"  --bos        begin sequences with BOS (the default where the model's own\n"
		"               tokenizer does so: Llama yes, GPT-2 no)\n"
		"  --no-bos     do not begin sequences with BOS\n"
		"  --eos        end sequences with EOS\n"
		"  --special    parse special-token text (<s>, <|endoftext|>) as those tokens\n"
		"  --ids        print ids as text, one line per sequence, instead of a stream\n"
		"  --from-ids   read whitespace-separated ids, one line per sequence, not text\n"
		"  --seq N      number the first sequence N (default 0)\n"
		"  --suffix TEXT  Code Llama's fill-in-the-middle prompt: the text is the\n"
		"               prefix, TEXT the suffix (BOS <PRE> prefix <SUF>suffix <MID>)\n"
		"  -h, --help   this help\n",
		prog);
	exit(code);
}

struct out {
	struct cl_writer *w;
	int ids;           /* --ids: text output */
	uint32_t seq;
};

static void put(struct out *o, uint16_t kind, uint32_t pos, int32_t token, uint16_t flags)
{
	struct cl_record r = {.kind = kind, .flags = flags, .seq = o->seq, .pos = pos, .token = token,
			      .logprob = NAN};
	enum cl_status st = cl_writer_put(o->w, &r);
	if (st)
		die_status(st);
}

static void emit(struct out *o, const int32_t *ids, size_t n)
{
	if (o->ids) {
		for (size_t i = 0; i < n; i++)
			printf(i ? " %d" : "%d", ids[i]);
		putchar('\n');
		if (fflush(stdout) == EOF) {
			if (errno == EPIPE)
				exit(EXIT_OK);
			die(EXIT_DATA, "stdout:");
		}
	} else {
		put(o, CL_REC_SEQ_BEGIN, 0, -1, 0);
		for (size_t i = 0; i < n; i++)
			put(o, CL_REC_TOKEN, (uint32_t)i, ids[i], CL_FLAG_PROMPT);
		put(o, CL_REC_PROMPT_END, (uint32_t)n, -1, 0);
	}
	o->seq++;
}

/* One line of ids ("1 450 29871"): checked against the vocabulary. */
static size_t parse_ids(const char *line, int32_t n_vocab, int32_t **ids, size_t *cap, unsigned long lineno)
{
	size_t n = 0;
	const char *p = line;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (!*p)
			break;
		char *end;
		errno = 0;
		long v = strtol(p, &end, 10);
		if (end == p || errno || v < 0 || v >= n_vocab)
			die(EXIT_DATA, "line %lu: '%.*s': expected a token id from 0 to %d", lineno,
			    (int)strcspn(p, " \t\r\n"), p, n_vocab - 1);
		if (n == *cap) {
			*cap = *cap ? *cap * 2 : 64;
			if (!(*ids = realloc(*ids, *cap * sizeof **ids)))
				die(EXIT_DATA, "out of memory");
		}
		(*ids)[n++] = (int32_t)v;
		p = end;
	}
	return n;
}

static void one_line(struct out *o, const struct cl_tokenizer *tok, const char *line, size_t l,
		     unsigned flags, int from_ids, int32_t **ids, size_t *cap, unsigned long lineno)
{
	size_t n;
	if (from_ids) {
		n = parse_ids(line, cl_tokenizer_n_vocab(tok), ids, cap, lineno);
		emit(o, *ids, n);
		return;
	}
	int32_t *t;
	enum cl_status st = cl_tokenizer_encode(tok, line, l, flags, &t, &n);
	if (st)
		die_status(st);
	emit(o, t, n);
	free(t);
}

int main(int argc, char **argv)
{
	const char *model = NULL, *tokfile = NULL, *file = NULL, *suffix = NULL;
	int lines = 0, bos = -1, eos = 0, special = 0, from_ids = 0;
	struct out o = {0};
	int i;
	cmd_init("cl-tokenize");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (a[0] != '-' || a[1] == 0) {
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(EXIT_OK);
		} else if ((v = opt_arg(argc, argv, &i, "-m"))) {
			model = v;
		} else if ((v = opt_arg(argc, argv, &i, "-t"))) {
			tokfile = v;
		} else if ((v = opt_arg(argc, argv, &i, "-f"))) {
			file = v;
		} else if ((v = opt_arg(argc, argv, &i, "--suffix"))) {
			suffix = v;
		} else if ((v = opt_arg(argc, argv, &i, "--seq"))) {
			o.seq = (uint32_t)opt_long("--seq", v, 0, 0x7fffffff);
		} else if (strcmp(a, "--lines") == 0) {
			lines = 1;
		} else if (strcmp(a, "--no-bos") == 0) {
			bos = 0;
		} else if (strcmp(a, "--bos") == 0) {
			bos = 1;
		} else if (strcmp(a, "--eos") == 0) {
			eos = 1;
		} else if (strcmp(a, "--special") == 0) {
			special = 1;
		} else if (strcmp(a, "--ids") == 0) {
			o.ids = 1;
		} else if (strcmp(a, "--from-ids") == 0) {
			from_ids = 1;
		} else {
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		}
	}
	if (file && i < argc)
		die(EXIT_USAGE, "give the text as arguments or with -f, not both");
	if (from_ids && (special || bos >= 0 || eos))
		die(EXIT_USAGE, "--from-ids takes the ids as they are: no --special, --bos, --no-bos or --eos");
	if (suffix && (lines || from_ids || special || bos >= 0 || eos))
		die(EXIT_USAGE, "--suffix makes one prompt of its own: no --lines, --from-ids, --special, --bos, --no-bos "
				"or --eos");
	if (!o.ids)
		no_stream_to_tty("use --ids to see the ids, or pipe it into cl-embed or cl-dump");

	/* The tokenizer first: a bad model fails before anything is read. */
	const char *src = tokfile ? tokfile : model ? model : cl_default_model();
	struct cl_tokenizer *tok;
	enum cl_status st = cl_tokenizer_load(src, &tok);
	if (st)
		die_status(st);
	if (!o.ids) {
		struct cl_stream_info info;
		cl_stream_info_tokens(&info, tok, "cl-tokenize", src);
		if (!(o.w = cl_writer_open(STDOUT_FILENO, "stdout", &info, &st)))
			die_status(st);
	}
	if (bos < 0)
		bos = cl_tokenizer_add_bos(tok);
	unsigned flags = (bos ? CL_ENCODE_BOS : 0) | (eos ? CL_ENCODE_EOS : 0) | (special ? CL_ENCODE_SPECIAL : 0);

	int32_t *ids = NULL;
	size_t n = 0, cap = 0;
	unsigned long lineno = 0;
	if (i < argc || !(lines || from_ids)) {
		/* All the input in memory: the arguments joined by single spaces,
		 * the file, or standard input. */
		size_t alen;
		char *all = read_text(argc, argv, i, file, &alen);
		if (suffix) {
			struct cl_fim fim;
			if (strlen(all) != alen)
				die(EXIT_DATA, "--suffix: the text holds a NUL byte");
			if ((st = cl_fim_find(tok, &fim)) || (st = cl_fim_prompt(tok, &fim, all, suffix, &ids, &n)))
				die(EXIT_DATA, "--suffix: %s", cl_errmsg());
			emit(&o, ids, n);
		} else if (!(lines || from_ids)) {
			if ((st = cl_tokenizer_encode(tok, all, alen, flags, &ids, &n)))
				die_status(st);
			emit(&o, ids, n);
		} else {
			for (size_t a = 0; a < alen;) {
				char *nl = memchr(all + a, '\n', alen - a);
				size_t l = nl ? (size_t)(nl - all) - a : alen - a;
				all[a + l] = 0;
				one_line(&o, tok, all + a, l, flags, from_ids, &ids, &cap, ++lineno);
				a += l + 1;
			}
		}
		free(all);
	} else {
		/* Line by line, as lines arrive. */
		FILE *in = file ? fopen(file, "rb") : stdin;
		char *line = NULL;
		size_t lcap = 0;
		ssize_t l;
		if (!in)
			die(EXIT_DATA, "%s:", file);
		while ((l = getline(&line, &lcap, in)) >= 0) {
			if (l > 0 && line[l - 1] == '\n')
				line[--l] = 0;
			one_line(&o, tok, line, (size_t)l, flags, from_ids, &ids, &cap, ++lineno);
		}
		if (ferror(in))
			die(EXIT_DATA, "%s:", file ? file : "stdin");
		if (in != stdin)
			fclose(in);
		free(line);
	}
	free(ids);
	if (o.w) {
		o.seq = 0; /* END belongs to no sequence */
		put(&o, CL_REC_END, 0, -1, 0);
		if ((st = cl_writer_close(o.w)))
			die_status(st);
	}
	cl_tokenizer_free(tok);
	return finish_stdout();
}
