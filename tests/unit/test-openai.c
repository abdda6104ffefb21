/*
 * test-openai.c - OpenAI's completion request as cl-serve takes it
 * (lib/decode/openai.c): OpenAI's defaults, prompts as text, texts, tokens
 * and token lists times n, every option into the engine's parameters, and
 * each bad request refused with a message naming its fault; and the answer
 * (cl_openai_answer, cl_openai_chunk): echo, logprobs in OpenAI's layout
 * with text offsets, a token that is not whole UTF-8 spelled "bytes:...",
 * finish reasons, usage.  With the tokenizer of the model that ships
 * ($CL_MODEL).
 */
#include <stdlib.h>
#include <string.h>

#include "cl.h"
#include "openai.h"
#include "t.h"

static struct cl_openai_env env;

static enum cl_status parse(const char *body, struct cl_openai_req *r)
{
	return cl_openai_parse(body, strlen(body), &env, r);
}

static void test_defaults(void)
{
	struct cl_openai_req r;
	int32_t *ids;
	size_t n;
	t_begin("a bare prompt: one choice, its tokens with BOS, OpenAI's max_tokens 16 and temperature 1, the "
		"given seed");
	T_CHECK(parse("{\"prompt\": \"def f(x):\", \"model\": \"any\", \"user\": \"u\"}", &r) == CL_OK, "%s",
		cl_errmsg());
	T_CHECK(cl_tokenizer_encode(env.tk, "def f(x):", 9, CL_ENCODE_BOS, &ids, &n) == CL_OK, "encode");
	T_CHECK(r.n_choices == 1 && r.nids[0] == n && memcmp(r.ids[0], ids, n * sizeof *ids) == 0,
		"the prompt's tokens");
	T_CHECK(!strcmp(r.prompt_text[0], "def f(x):"), "prompt text '%s'", r.prompt_text[0]);
	T_CHECK(r.params[0].max_new == 16 && r.params[0].sp.temperature == 1 && r.params[0].sp.top_p == 1,
		"max_new %ld temperature %g top_p %g", r.params[0].max_new, r.params[0].sp.temperature,
		r.params[0].sp.top_p);
	T_CHECK(r.params[0].sp.seed == env.seed && r.params[0].seq == 0 && r.params[0].n_stops == 0 &&
			r.params[0].stop_token == -1,
		"seed, seq, stops");
	T_CHECK(!r.echo && !r.stream && !r.usage && r.n_top == 0, "flags");
	free(ids);
	cl_openai_free(&r);
	t_end();
}

static void test_prompts(void)
{
	struct cl_openai_req r;
	t_begin("two text prompts times n = 3: six choices, prompt-major, each numbered for the sampler");
	T_CHECK(parse("{\"prompt\": [\"import os\", \"class A:\"], \"n\": 3, \"best_of\": 3}", &r) == CL_OK, "%s",
		cl_errmsg());
	T_CHECK(r.n_choices == 6, "%d choices", r.n_choices);
	for (int c = 0; c < r.n_choices && c < 6; c++) {
		T_CHECK(r.params[c].seq == (uint32_t)c, "choice %d: seq %u", c, r.params[c].seq);
		T_CHECK(!strcmp(r.prompt_text[c], c < 3 ? "import os" : "class A:"), "choice %d: '%s'", c,
			r.prompt_text[c]);
		T_CHECK(r.nids[c] == r.nids[c < 3 ? 0 : 3] &&
				memcmp(r.ids[c], r.ids[c < 3 ? 0 : 3], r.nids[c] * sizeof(int32_t)) == 0,
			"choice %d: its prompt's tokens", c);
	}
	cl_openai_free(&r);
	t_end();

	t_begin("token prompts: taken as given, their text decoded for echo");
	T_CHECK(parse("{\"prompt\": [[1, 300, 301], [1, 400]]}", &r) == CL_OK, "%s", cl_errmsg());
	T_CHECK(r.n_choices == 2 && r.nids[0] == 3 && r.nids[1] == 2 && r.ids[0][1] == 300 && r.ids[1][1] == 400,
		"the tokens");
	T_CHECK(r.prompt_text[0] && r.prompt_text[1] && strlen(r.prompt_text[0]) > 0, "a text for each");
	cl_openai_free(&r);
	T_CHECK(parse("{\"prompt\": [1, 300, 301]}", &r) == CL_OK && r.n_choices == 1 && r.nids[0] == 3,
		"one token array is one prompt");
	cl_openai_free(&r);
	t_end();
}

static void test_options(void)
{
	struct cl_openai_req r;
	t_begin("every option goes into the engine's parameters");
	T_CHECK(parse("{\"prompt\": \"x\", \"max_tokens\": 5, \"temperature\": 0.25, \"top_p\": 0.5, \"seed\": 7, "
		      "\"logprobs\": 3, \"stop\": [\"\\n\\n\", \"y\"], \"logit_bias\": {\"5\": -100, \"9\": 2.5}, "
		      "\"presence_penalty\": 0.5, \"frequency_penalty\": -1, \"echo\": true, \"stream\": true, "
		      "\"stream_options\": {\"include_usage\": true}}",
		      &r) == CL_OK,
		"%s", cl_errmsg());
	const struct cl_engine_params *p = &r.params[0];
	T_CHECK(p->max_new == 5 && p->sp.temperature == 0.25f && p->sp.top_p == 0.5f && p->sp.seed == 7,
		"max_new, temperature, top_p, seed");
	T_CHECK(p->n_top == 3 && r.n_top == 3, "logprobs");
	T_CHECK(p->n_stops == 2 && !strcmp(p->stops[0], "\n\n") && !strcmp(p->stops[1], "y"), "stops");
	T_CHECK(p->sp.n_bias == 2 && p->sp.bias_token[0] == 5 && p->sp.bias_value[0] == -100 &&
			p->sp.bias_token[1] == 9 && p->sp.bias_value[1] == 2.5f,
		"logit_bias");
	T_CHECK(p->sp.presence_penalty == 0.5f && p->sp.frequency_penalty == -1, "penalties");
	T_CHECK(r.echo && r.stream && r.usage, "echo, stream, include_usage");
	cl_openai_free(&r);
	t_end();
}

static void test_faults(void)
{
	static const struct {
		const char *body, *msg;
	} bad[] = {
		{"[1, 2]", "not a JSON object"},
		{"{\"prompt\": \"x\", \"foo\": 1}", "Unrecognized request argument supplied: foo"},
		{"{\"max_tokens\": 3}", "prompt: expected"},
		{"{\"prompt\": [\"x\", 7]}", "prompt: expected"},
		{"{\"prompt\": \"x\", \"n\": 17}", "n: expected an integer from 1 to 16"},
		{"{\"prompt\": \"x\", \"n\": 1.5}", "n: expected an integer"},
		{"{\"prompt\": \"x\", \"best_of\": 2}", "best_of: only best_of equal to n"},
		{"{\"prompt\": \"x\", \"temperature\": 3}", "temperature: expected a number from 0 to 2"},
		{"{\"prompt\": \"x\", \"stop\": [\"a\", \"b\", \"c\", \"d\", \"e\"]}", "stop: expected"},
		{"{\"prompt\": \"x\", \"stop\": [\"\"]}", "stop: expected"},
		{"{\"prompt\": \"x\", \"logit_bias\": {\"99999\": 1}}", "logit_bias: '99999'"},
		{"{\"prompt\": \"x\", \"logit_bias\": {\"5\": 101}}", "logit_bias: '5'"},
		{"{\"prompt\": [1, 99999]}", "prompt 0: expected token ids of the vocabulary"},
		{"{\"prompt\": [[1, 2], []]}", "prompt 1: empty"},
		{"{\"prompt\": \"x\", \"max_tokens\": 300}", "more than the context of 256"},
		{"{\"prompt\": \"x\", \"suffix\": \"y\"}", "suffix: "},
		{"{\"prompt\": \"x\", \"suffix\": 3}", "suffix: expected a string"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char name[256];
		snprintf(name, sizeof name, "%s is refused: '%s'", bad[i].body, bad[i].msg);
		t_begin(name);
		struct cl_openai_req r;
		enum cl_status st = parse(bad[i].body, &r);
		T_CHECK(st != CL_OK, "parsed");
		T_CHECK(st == CL_OK || strstr(cl_errmsg(), bad[i].msg), "message '%s'", cl_errmsg());
		T_CHECK(r.n_choices == 0 && !r.ids && !r.params && r.n_stops == 0, "something left to free");
		if (st == CL_OK)
			cl_openai_free(&r);
		t_end();
	}
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static void test_answer(void)
{
	int32_t *ids, byte = -1;
	size_t n;
	char piece[64];
	int l[2];
	t_begin("an answer: the echoed prompt before the text, logprobs in OpenAI's layout with offsets counted from "
		"the echo, a token that is not whole UTF-8 as bytes:\\xNN, finish reasons, usage; a chunk's delta");
	T_CHECK(cl_tokenizer_encode(env.tk, "def f(x):", 9, 0, &ids, &n) == CL_OK && n >= 2, "encode");
	for (int32_t id = 0; id < cl_tokenizer_n_vocab(env.tk) && byte < 0; id++) {
		int m = cl_tokenizer_decode(env.tk, id, 0, piece, sizeof piece);
		if (m > 0 && cl_utf8_check(piece, (size_t)m) != (size_t)m)
			byte = id;
	}
	T_CHECK(byte >= 0, "no token of the vocabulary is a partial UTF-8 sequence");
	for (int i = 0; i < 2; i++)
		l[i] = cl_tokenizer_decode(env.tk, ids[i], 0, piece, sizeof piece);
	int32_t toks[3] = {ids[0], ids[1], byte};
	float lps[3] = {-0.5f, -1, -2};
	struct cl_alt alts[6] = {{ids[0], -0.5f}, {-1, 0}, {ids[1], -1}, {ids[0], -3}, {byte, -2}, {-1, 0}};
	struct cl_openai_choice ch[2] = {
		{.index = 0, .echo = "ab", .text = "def", .len = 3, .toks = toks, .lps = lps, .alts = alts, .ntok = 3,
		 .prompt_tokens = 5, .finish = CL_FINISH_LENGTH},
		{.index = 1, .text = "d", .len = 1, .toks = toks, .lps = lps, .alts = alts, .ntok = 1,
		 .prompt_tokens = 4, .finish = CL_FINISH_NONE},
	};
	struct cl_openai_head h = {.id = "cmpl-1", .model = "m", .created = 7};
	cJSON *o = cl_openai_answer(&h, ch, 2, 2, env.tk);
	const cJSON *cs = cJSON_GetObjectItemCaseSensitive(o, "choices");
	const cJSON *c0 = cJSON_GetArrayItem(cs, 0), *c1 = cJSON_GetArrayItem(cs, 1);
	const cJSON *lp = cJSON_GetObjectItemCaseSensitive(c0, "logprobs");
	const cJSON *off = cJSON_GetObjectItemCaseSensitive(lp, "text_offset");
	const cJSON *tk = cJSON_GetObjectItemCaseSensitive(lp, "tokens");
	const cJSON *top = cJSON_GetObjectItemCaseSensitive(lp, "top_logprobs");
	const cJSON *u = cJSON_GetObjectItemCaseSensitive(o, "usage");
	T_CHECK(o && !strcmp(jstr(o, "id"), "cmpl-1") && !strcmp(jstr(o, "object"), "text_completion") &&
			jnum(o, "created") == 7 && !strcmp(jstr(o, "model"), "m"),
		"the head");
	T_CHECK(c0 && !strcmp(jstr(c0, "text"), "abdef") && jnum(c0, "index") == 0 &&
			!strcmp(jstr(c0, "finish_reason"), "length"),
		"choice 0");
	T_CHECK(c1 && !strcmp(jstr(c1, "text"), "d") &&
			cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c1, "finish_reason")),
		"choice 1, still running: finish_reason null");
	T_CHECK(cJSON_GetArraySize(off) == 3 && cJSON_GetArrayItem(off, 0)->valuedouble == 2 &&
			cJSON_GetArrayItem(off, 1)->valuedouble == 2 + l[0] &&
			cJSON_GetArrayItem(off, 2)->valuedouble == 2 + l[0] + l[1],
		"text_offset counts from the echo by each token's bytes");
	T_CHECK(cJSON_GetArraySize(tk) == 3 && !strncmp(cJSON_GetArrayItem(tk, 2)->valuestring, "bytes:\\x", 7),
		"the partial token spelled bytes:\\xNN: '%s'", cJSON_GetArraySize(tk) == 3 ?
		cJSON_GetArrayItem(tk, 2)->valuestring : "");
	T_CHECK(cJSON_GetArraySize(cJSON_GetArrayItem(top, 0)) == 1 && cJSON_GetArraySize(cJSON_GetArrayItem(top, 1)) == 2,
		"top_logprobs: alternatives without a token left out");
	T_CHECK(jnum(u, "prompt_tokens") == 9 && jnum(u, "completion_tokens") == 4 && jnum(u, "total_tokens") == 13,
		"usage");
	cJSON_Delete(o);
	o = cl_openai_chunk(&h);
	cl_openai_delta(o, 3, "x");
	c0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(o, "choices"), 0);
	T_CHECK(c0 && !strcmp(jstr(c0, "text"), "x") && jnum(c0, "index") == 3 &&
			cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(c0, "logprobs")),
		"a chunk's delta");
	cJSON_Delete(o);
	free(ids);
	t_end();
}

int main(void)
{
	const char *dir = getenv("CL_MODEL");
	struct cl_tokenizer *tk;
	if (!dir || cl_tokenizer_load(dir, &tk)) {
		printf("not ok - the tokenizer of the model that ships ($CL_MODEL): %s\n", cl_errmsg());
		return 1;
	}
	env = (struct cl_openai_env){.tk = tk, .n_vocab = cl_tokenizer_n_vocab(tk), .ctx = 256, .seed = 12345};
	test_defaults();
	test_prompts();
	test_options();
	test_faults();
	test_answer();
	cl_tokenizer_free(tk);
	return t_exit();
}
