/*
 * fuzz-request.c - libFuzzer target for the requests a server takes from the
 * network: the hosted-endpoint shapes (lib/decode/request.c) and OpenAI's
 * completion request (lib/decode/openai.c), each followed through as the
 * programs follow it: parameters, tokens held to a small context, the
 * answer's text and JSON.  With the tokenizer of the model that ships (its
 * path is built in by scripts/fuzz), so prompts really tokenize.
 *
 * The first byte picks the parser: even, cl_request_parse (and the id a bad
 * line's error answer carries); odd, cl_openai_parse.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "infill.h"
#include "openai.h"
#include "request.h"

#ifndef CL_FUZZ_MODEL
#define CL_FUZZ_MODEL "models/cl-python-small"
#endif

static struct cl_tokenizer *tk;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	if (cl_tokenizer_load(CL_FUZZ_MODEL, &tk)) {
		fprintf(stderr, "fuzz-request: %s\n", cl_errmsg());
		abort();
	}
	return 0;
}

static void hosted(const char *s, size_t n)
{
	struct cl_request rq;
	if (cl_request_parse(s, n, &rq)) {
		char *id = cl_request_peek_id(s, n), *e = cl_request_error(cl_errmsg());
		if (id && e)
			e = cl_request_with_id(id, e);
		free(e);
		free(id);
		return;
	}
	char **texts = calloc((size_t)rq.n_prompts + 1, sizeof *texts);
	size_t *lens = calloc((size_t)rq.n_prompts + 1, sizeof *lens);
	for (int i = 0; texts && lens && i < rq.n_prompts; i++) {
		struct cl_engine_params p;
		int32_t *ids;
		size_t nids;
		if (cl_request_params(&rq, i, &p) == CL_OK &&
		    cl_request_encode(&rq, i, tk, 64, i & 1, p.max_new, &ids, &nids) == CL_OK) {
			if (nids == 0 || nids >= 64)
				abort(); /* held to the context, BOS at least */
			free(ids);
		}
		texts[i] = cl_request_text(&rq, i, "x = 1\n", 6, &lens[i]);
	}
	char *a = texts && lens ? cl_request_answer(&rq, texts, lens) : NULL;
	free(a);
	for (int i = 0; texts && i < rq.n_prompts; i++)
		free(texts[i]);
	free(texts), free(lens);
	cl_request_free(&rq);
}

static void openai(const char *s, size_t n)
{
	struct cl_fim fim;
	struct cl_openai_env env = {.tk = tk, .n_vocab = cl_tokenizer_n_vocab(tk), .ctx = 64, .seed = 1};
	if (cl_fim_find(tk, &fim) == CL_OK)
		env.fim = &fim;
	struct cl_openai_req r;
	if (cl_openai_parse(s, n, &env, &r))
		return;
	struct cl_openai_choice *ch = calloc((size_t)r.n_choices, sizeof *ch);
	size_t most = 0;
	for (int c = 0; c < r.n_choices; c++)
		most = r.nids[c] > most ? r.nids[c] : most;
	float *lps = calloc(most + 1, sizeof *lps);
	struct cl_alt *alts = calloc((most + 1) * (size_t)(r.n_top + 1), sizeof *alts);
	for (size_t k = 0; alts && k < (most + 1) * (size_t)(r.n_top + 1); k++)
		alts[k] = (struct cl_alt){(int32_t)(k % 7) - 1, -1};
	if (ch && lps && alts) {
		/* Each choice answers with its prompt's tokens, as if generated. */
		for (int c = 0; c < r.n_choices; c++)
			ch[c] = (struct cl_openai_choice){
				.index = c, .echo = r.echo ? r.prompt_text[c] : NULL, .text = r.prompt_text[c],
				.len = strlen(r.prompt_text[c]), .toks = r.ids[c], .lps = lps, .alts = alts,
				.ntok = r.nids[c], .prompt_tokens = r.nids[c], .finish = (enum cl_finish)(c % 4),
			};
		struct cl_openai_head h = {.id = "cmpl-0", .model = "m", .created = 0};
		cJSON *o = cl_openai_answer(&h, ch, r.n_choices, r.n_top, tk);
		char *p = o ? cJSON_PrintUnformatted(o) : NULL;
		free(p);
		cJSON_Delete(o);
	}
	free(ch), free(lps), free(alts);
	cl_openai_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		openai((const char *)data + 1, size - 1);
	else
		hosted((const char *)data + 1, size - 1);
	return 0;
}
