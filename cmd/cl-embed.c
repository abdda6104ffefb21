/*
 * cl-embed - a token stream to an embedding stream.
 */
#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [--dtype f32|f16|bf16]\n"
		"A cl token stream on standard input to a stream of input embeddings (one\n"
		"vector of hidden_size per token) on standard output; control records pass\n"
		"through.\n"
		"  -m DIR        model directory or .gguf file (default: $CL_MODEL or the\n"
		"                model that ships)\n"
		"  --dtype TYPE  element type of the vectors written (default f32)\n"
		"  -h, --help    this help\n",
		prog);
	exit(code);
}

int main(int argc, char **argv)
{
	const char *model = NULL;
	enum cl_dtype dtype = CL_DTYPE_F32;
	int i;
	cmd_init("cl-embed");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		else if ((v = opt_arg(argc, argv, &i, "-m")))
			model = v;
		else if ((v = opt_arg(argc, argv, &i, "--dtype"))) {
			if (cl_dtype_parse(v, &dtype) || dtype > CL_DTYPE_BF16)
				die(EXIT_USAGE, "--dtype: expected f32, f16 or bf16, got '%s'", v);
		} else {
			bad_arg(a);
		}
	}
	if (!model)
		model = cl_default_model();
	no_stream_to_tty("pipe it into cl-forward, or into cl-dump to read it");

	/* The model before the input: a bad model fails at once. */
	struct cl_model_opts opts;
	cl_model_opts_init(&opts);
	opts.threads = 1;
	opts.pack = 0; /* it looks up embeddings: no products */
	struct cl_model *m;
	struct cl_tokenizer *tok = NULL;
	enum cl_status st = cl_model_load(model, &opts, &m);
	if (st)
		die_status(st);
	const struct cl_model_info *mi = cl_model_info(m);
	if (cl_tokenizer_load(model, &tok) != CL_OK)
		tok = NULL; /* a checkpoint without a tokenizer: no fingerprint to check */

	struct cl_reader *r = cl_reader_open(STDIN_FILENO, "stdin");
	const struct cl_stream_info *in = r ? cl_reader_info(r, &st) : NULL;
	if (!in)
		die_status(r ? st : CL_ERR_NOMEM);
	if (in->kind != CL_STREAM_TOKENS)
		die(EXIT_DATA, "stdin: expected a token stream, got a stream of %s", in->what);
	if (tok && (st = cl_stream_check_tokenizer(in, cl_tokenizer_fingerprint(tok), model)))
		die(EXIT_DATA, "stdin: %s", cl_errmsg());

	struct cl_stream_info info;
	cl_stream_info_init(&info, CL_STREAM_VECTORS, "embeddings", "cl-embed");
	info.width = (uint32_t)mi->dim;
	info.dtype = dtype;
	info.vocab_size = (uint32_t)mi->n_vocab;
	info.bos = in->bos >= 0 ? in->bos : mi->bos;
	info.eos = in->eos >= 0 ? in->eos : mi->eos;
	snprintf(info.tokenizer, sizeof info.tokenizer, "%s", tok ? cl_tokenizer_fingerprint(tok) : in->tokenizer);
	snprintf(info.model, sizeof info.model, "%s", model);
	struct cl_writer *w = cl_writer_open(STDOUT_FILENO, "stdout", &info, &st);
	if (!w)
		die_status(st);

	float *x = malloc((size_t)mi->dim * sizeof *x); /* (dim) */
	if (!x)
		die(EXIT_DATA, "out of memory");
	struct cl_record rec;
	while ((st = cl_reader_next(r, &rec)) == CL_OK) {
		struct cl_record out = rec;
		if (rec.kind == CL_REC_TOKEN) {
			if (cl_model_embed(m, rec.token, x))
				die(EXIT_DATA, "stdin: seq %u pos %u: %s", rec.seq, rec.pos, cl_errmsg());
			out.kind = CL_REC_VECTOR;
			out.n = (uint32_t)mi->dim;
			out.data = x;
			out.logprob = NAN;
		}
		if ((st = cl_writer_put(w, &out)))
			die_status(st);
	}
	if (st != CL_ERR_EOF)
		die_status(st);
	if ((st = cl_writer_close(w)))
		die_status(st);
	free(x);
	cl_reader_free(r);
	cl_tokenizer_free(tok);
	cl_model_free(m);
	return EXIT_OK;
}
