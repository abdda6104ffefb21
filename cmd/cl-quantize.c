/*
 * cl-quantize - convert a checkpoint's weights once, into a directory that
 * cl-forward then maps directly: what --quantize does at every load, done
 * once.
 */
#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] --type TYPE [--threads N] [--progress] OUTDIR\n"
		"Write the model in DIR with its matrices converted to TYPE into OUTDIR (new or\n"
		"empty): config.json and the tokenizer files copied, and one model.safetensors\n"
		"that loads without converting and gives the logits --quantize TYPE gives.\n"
		"Llama-family checkpoints.\n"
		"  -m DIR        model directory (default: $CL_MODEL or the model that ships)\n"
		"  --type TYPE   f16, bf16, q8_0, q4_0, q4_k or q6_k\n"
		"  --threads N   threads for loading (default: the cores available)\n"
		"  --progress    show progress (default: when standard error is a terminal)\n"
		"  -h, --help    this help\n",
		prog);
	exit(code);
}

int main(int argc, char **argv)
{
	const char *model = NULL, *out = NULL;
	struct cl_model_opts opts;
	int i;
	cmd_init("cl-quantize");
	cl_model_opts_init(&opts);
	opts.progress = isatty(STDERR_FILENO);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		else if ((v = opt_arg(argc, argv, &i, "-m")))
			model = v;
		else if ((v = opt_arg(argc, argv, &i, "--type"))) {
			enum cl_dtype t;
			if (cl_dtype_parse(v, &t) || t == CL_DTYPE_F32 || !cl_dtype_makeable(t))
				die(EXIT_USAGE, "--type: expected " CL_DTYPE_MAKEABLE ", got '%s'", v);
			opts.quantize = (int)t;
		} else if ((v = opt_arg(argc, argv, &i, "--threads")))
			opts.threads = (int)opt_long("--threads", v, 1, 256);
		else if (strcmp(a, "--progress") == 0)
			opts.progress = 1;
		else if (a[0] == '-' && a[1])
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		else if (out)
			die(EXIT_USAGE, "one output directory, got '%s' and '%s'", out, a);
		else
			out = a;
	}
	if (opts.quantize < 0)
		die(EXIT_USAGE, "--type is required (" CL_DTYPE_MAKEABLE ")");
	if (!out)
		die(EXIT_USAGE, "no output directory (see --help)");
	if (!model)
		model = cl_default_model();

	struct cl_model *m;
	enum cl_status st = cl_model_load(model, &opts, &m);
	if (st)
		die_status(st);
	if ((st = cl_model_save(m, out)))
		die_status(st);
	cl_model_free(m);
	return EXIT_OK;
}
