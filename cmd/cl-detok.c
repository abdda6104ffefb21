/*
 * cl-detok - a token stream to text, streaming whole UTF-8 characters.
 */
#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR | -t FILE] [--raw | --pieces] [--lines] [FILE ...]\n"
		"A cl token stream (standard input, or the FILEs one after another) to text on\n"
		"standard output.  Each token's text goes out as soon as it forms whole UTF-8.\n"
		"  -m DIR      model directory or .gguf file (default: $CL_MODEL or the\n"
		"              model that ships)\n"
		"  -t FILE     tokenizer file\n"
		"  --raw       the tokens' bytes exactly, without holding back or repairing UTF-8\n"
		"  --pieces    one line per token: seq, pos, id, piece, flags, logprob\n"
		"  --lines     end each sequence's text with a newline\n"
		"  -h, --help  this help\n",
		prog);
	exit(code);
}

#define MAX_SEQS 4096

struct seqstate {
	uint32_t seq;
	int used;
	int any;              /* text has gone out for this sequence */
	struct cl_utf8 u;
};

static struct seqstate seqs[MAX_SEQS];

static struct seqstate *state(uint32_t seq)
{
	struct seqstate *s = &seqs[seq % MAX_SEQS];
	if (!s->used || s->seq != seq) {
		memset(s, 0, sizeof *s);
		s->used = 1;
		s->seq = seq;
	}
	return s;
}

static int flush_each;
static int64_t cur = -1; /* the sequence whose text is going out */

static void out(const char *p, size_t n)
{
	if (n && fwrite(p, 1, n, stdout) != n) {
		if (errno == EPIPE)
			exit(EXIT_OK);
		die(EXIT_DATA, "stdout:");
	}
}

static void flush_out(void)
{
	if (fflush(stdout) == EOF) {
		if (errno == EPIPE)
			exit(EXIT_OK);
		die(EXIT_DATA, "stdout:");
	}
}

/* The text of sequence `cur` is complete: its pending bytes, and a newline
 * with --lines. */
static void end_text(int raw, int pieces, int lines)
{
	char text[16];
	if (cur < 0)
		return;
	struct seqstate *s = state((uint32_t)cur);
	if (!raw && !pieces)
		out(text, cl_utf8_finish(&s->u, text));
	if (lines && !pieces)
		out("\n", 1);
	s->used = 0;
	cur = -1;
	if (flush_each)
		flush_out();
}

static int detok(const char *name, int fd, const struct cl_tokenizer *tok, const char *tokname,
		 int raw, int pieces, int lines)
{
	struct cl_reader *r = cl_reader_open(fd, name);
	struct cl_record rec;
	enum cl_status st;
	char buf[1024], text[1024 + 16];
	if (!r)
		die(EXIT_DATA, "out of memory");
	const struct cl_stream_info *info = cl_reader_info(r, &st);
	if (!info)
		die_status(st);
	if (info->kind != CL_STREAM_TOKENS)
		die(EXIT_DATA, "%s: expected a token stream, got a stream of %s", name, info->what);
	if ((st = cl_stream_check_tokenizer(info, cl_tokenizer_fingerprint(tok), tokname)))
		die(EXIT_DATA, "%s: %s", name, cl_errmsg());
	while ((st = cl_reader_next(r, &rec)) == CL_OK) {
		struct seqstate *s = state(rec.seq);
		if (rec.kind == CL_REC_SEQ_BEGIN) {
			memset(&s->u, 0, sizeof s->u);
			s->any = 0;
			continue;
		}
		if (rec.kind == CL_REC_END || (rec.kind == CL_REC_SEQ_END && cur == rec.seq)) {
			end_text(raw, pieces, lines);
			continue;
		}
		if (rec.kind != CL_REC_TOKEN)
			continue;
		if (cur != rec.seq) {
			end_text(raw, pieces, lines);
			cur = rec.seq;
		}
		if (pieces) {
			const char *p = cl_tokenizer_piece(tok, rec.token);
			if (!p)
				die(EXIT_DATA, "%s: token %d at seq %u pos %u is outside the vocabulary of %d", name,
				    rec.token, rec.seq, rec.pos, cl_tokenizer_n_vocab(tok));
			printf("%u\t%u\t%d\t%s\t%u", rec.seq, rec.pos, rec.token, p, rec.flags);
			if (rec.logprob == rec.logprob)
				printf("\t%.6f", rec.logprob);
			putchar('\n');
			if (flush_each)
				flush_out();
			continue;
		}
		/* SentencePiece drops the dummy-prefix space of the sequence's
		 * first piece.  A generated token is first only when the prompt
		 * was BOS alone (pos 1), as in an unconditioned run. */
		int first = !s->any && (!(rec.flags & CL_FLAG_GENERATED) || rec.pos <= 1);
		int n = cl_tokenizer_decode(tok, rec.token, first, buf, sizeof buf);
		if (n < 0)
			die(EXIT_DATA, "%s: token %d at seq %u pos %u is outside the vocabulary of %d", name,
			    rec.token, rec.seq, rec.pos, cl_tokenizer_n_vocab(tok));
		s->any = !cl_tokenizer_still_first(tok, rec.token, first, n);
		if (raw)
			out(buf, (size_t)n);
		else
			out(text, cl_utf8_push(&s->u, buf, (size_t)n, text));
		if (flush_each)
			flush_out();
	}
	if (st != CL_ERR_EOF)
		die_status(st);
	cl_reader_free(r);
	return 0;
}

int main(int argc, char **argv)
{
	const char *model = NULL, *tokfile = NULL;
	int raw = 0, pieces = 0, lines = 0, i;
	cmd_init("cl-detok");
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
		} else if (strcmp(a, "--raw") == 0) {
			raw = 1;
		} else if (strcmp(a, "--pieces") == 0) {
			pieces = 1;
		} else if (strcmp(a, "--lines") == 0) {
			lines = 1;
		} else {
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		}
	}
	if (raw && pieces)
		die(EXIT_USAGE, "--raw and --pieces do not go together");
	const char *src = tokfile ? tokfile : model ? model : cl_default_model();
	struct cl_tokenizer *tok;
	enum cl_status st = cl_tokenizer_load(src, &tok);
	if (st)
		die_status(st);
	struct stat sb;
	flush_each = fstat(STDOUT_FILENO, &sb) == 0 && !S_ISREG(sb.st_mode);
	if (i == argc) {
		detok("stdin", STDIN_FILENO, tok, src, raw, pieces, lines);
	} else {
		for (; i < argc; i++) {
			int fd = strcmp(argv[i], "-") == 0 ? STDIN_FILENO : open(argv[i], O_RDONLY);
			if (fd < 0)
				die(EXIT_DATA, "%s:", argv[i]);
			detok(argv[i], fd, tok, src, raw, pieces, lines);
			if (fd != STDIN_FILENO)
				close(fd);
		}
	}
	end_text(raw, pieces, lines);
	cl_tokenizer_free(tok);
	return finish_stdout();
}
