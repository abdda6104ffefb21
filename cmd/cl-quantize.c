/*
 * cl-quantize - convert a checkpoint's weights once, into a directory that
 * cl-forward then maps directly (what --quantize does at every load, done
 * once), or into a GGUF file that llama.cpp and cl both load.
 */
#include "cmd.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] --type TYPE [--threads N] [--progress] OUTDIR\n"
		"       %s [-m DIR|FILE.gguf] --format gguf [--type TYPE] [--threads N] [--progress] OUT.gguf\n"
		"Write the model in DIR with its matrices converted to TYPE into OUTDIR (new or\n"
		"empty): config.json and the tokenizer files copied, and one model.safetensors\n"
		"that loads without converting and gives the logits --quantize TYPE gives.\n"
		"With --format gguf, one GGUF v3 file instead, with llama.cpp's tensor names,\n"
		"metadata and the tokenizer (see cl-quantize(1) for the keys), from a Hugging\n"
		"Face directory or another GGUF; without --type the matrices keep their type.\n"
		"Llama-family checkpoints.\n"
		"  -m DIR        model directory or .gguf file (default: $CL_MODEL or the model\n"
		"                that ships)\n"
		"  --type TYPE   f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m (llama.cpp's mix:\n"
		"                q4_k, with q6_k for the output and some attn_v and ffn_down)\n"
		"  --format F    safetensors (default: a directory) or gguf (a file)\n"
		"  --threads N   threads for loading (default: the cores available)\n"
		"  --progress    show progress (default: when standard error is a terminal)\n"
		"  -h, --help    this help\n",
		prog, prog);
	exit(code);
}

int main(int argc, char **argv)
{
	const char *model = NULL, *out = NULL;
	struct cl_model_opts opts;
	int i, gguf = 0;
	cmd_init("cl-quantize");
	cl_model_opts_init(&opts);
	opts.pack = 0; /* it saves the weights: no products */
	opts.progress = isatty(STDERR_FILENO);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
			usage(EXIT_OK);
		else if ((v = opt_arg(argc, argv, &i, "-m")))
			model = v;
		else if ((v = opt_arg(argc, argv, &i, "--type"))) {
			if (cl_quant_parse(v, &opts.quantize, &opts.mix))
				die(EXIT_USAGE, "--type: expected " CL_DTYPE_MAKEABLE ", got '%s'", v);
		} else if ((v = opt_arg(argc, argv, &i, "--format"))) {
			if (strcmp(v, "gguf") && strcmp(v, "safetensors"))
				die(EXIT_USAGE, "--format: expected safetensors or gguf, got '%s'", v);
			gguf = strcmp(v, "gguf") == 0;
		} else if ((v = opt_arg(argc, argv, &i, "--threads")))
			opts.threads = (int)opt_long("--threads", v, 1, 256);
		else if (strcmp(a, "--progress") == 0)
			opts.progress = 1;
		else if (a[0] == '-' && a[1])
			die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
		else if (out)
			die(EXIT_USAGE, "one output, got '%s' and '%s'", out, a);
		else
			out = a;
	}
	if (opts.quantize < 0 && !gguf)
		die(EXIT_USAGE, "--type is required (" CL_DTYPE_MAKEABLE ")");
	if (!out)
		die(EXIT_USAGE, gguf ? "no output file (see --help)" : "no output directory (see --help)");
	if (!model)
		model = cl_default_model();

	struct cl_model *m;
	enum cl_status st = cl_model_load(model, &opts, &m);
	if (st)
		die_status(st);
	char note[512];
	if (gguf)
		st = cl_model_save_gguf(m, out, note, sizeof note);
	else
		st = cl_model_save(m, out);
	if (st)
		die_status(st);
	if (gguf && note[0])
		fprintf(stderr, "%s: %s\n", prog, note);
	cl_model_free(m);
	return EXIT_OK;
}
