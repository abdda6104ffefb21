/*
 * test-request.c - completion requests in the hosted-endpoint JSON shapes:
 * what parses to what, the message each fault gets, and the answers' JSON.
 */
#include "t.h"
#include "request.h"

static enum cl_status parse(const char *s, struct cl_request *rq)
{
	return cl_request_parse(s, strlen(s), rq);
}

/* Requests that must fail, each with a fragment its message must hold. */
static const struct {
	const char *req, *msg;
} bad[] = {
	{"", "not valid JSON"},
	{"{\"input_data\": [\"a\"]", "not valid JSON"},
	{"{\"input_data\": [\"a\"]} {}", "text after the JSON value"},
	{"[\"a\"]", "request: expected a JSON object"},
	{"{}", "request: no input_data"},
	{"{\"input_data\": [\"a\"], \"extra\": 1}", "request: unknown key 'extra'"},
	{"{\"id\": 1, \"id\": 2, \"input_data\": [\"a\"]}", "request: id given twice"},
	{"{\"input_data\": 3}", "input_data: expected an object or a list of strings"},
	{"{\"input_data\": [\"a\", 3]}", "input_data: item 1: expected a string"},
	{"{\"input_data\": {\"input_string\": \"a\"}}", "input_string: expected a list of strings"},
	{"{\"input_data\": {\"parameters\": {}}}", "input_data: no input_string"},
	{"{\"input_data\": {\"input_string\": [], \"x\": 1}}", "input_data: unknown key 'x'"},
	{"{\"input_data\": {\"input_string\": []}, \"params\": {}}", "use input_data.parameters"},
	{"{\"input_data\": [\"a\"], \"params\": {\"foo\": 1}}", "params: unknown parameter 'foo'"},
	{"{\"input_data\": {\"input_string\": [\"a\"], \"parameters\": {\"foo\": 1}}}",
	 "parameters: unknown parameter 'foo'"},
	{"{\"input_data\": [\"a\"], \"params\": []}", "params: expected an object"},
	{"{\"input_data\": [\"a\"], \"params\": {\"temperature\": -0.5}}", "params: temperature: expected a number from 0 to 100"},
	{"{\"input_data\": [\"a\"], \"params\": {\"temperature\": \"hot\"}}", "temperature: expected a number"},
	{"{\"input_data\": [\"a\"], \"params\": {\"top_p\": 1.5}}", "top_p: expected a number from 0 to 1"},
	{"{\"input_data\": [\"a\"], \"params\": {\"top_k\": 2.5}}", "top_k: expected an integer"},
	{"{\"input_data\": [\"a\"], \"params\": {\"top_k\": -1}}", "top_k: expected an integer"},
	{"{\"input_data\": [\"a\"], \"params\": {\"max_new_tokens\": 0}}", "max_new_tokens: expected an integer from 1"},
	{"{\"input_data\": [\"a\"], \"params\": {\"max_new_tokens\": 5, \"max_gen_len\": 5}}", "give one"},
	{"{\"input_data\": [\"a\"], \"params\": {\"repetition_penalty\": 0}}", "repetition_penalty"},
	{"{\"input_data\": [\"a\"], \"params\": {\"seed\": -1}}", "seed: expected an integer"},
	{"{\"input_data\": [\"a\"], \"params\": {\"do_sample\": 1}}", "do_sample: expected true or false"},
	{"{\"input_data\": [\"a\"], \"params\": {\"return_full_text\": \"no\"}}", "return_full_text: expected true or false"},
	{"{\"input_data\": [\"a\"], \"params\": {\"stop\": 3}}", "params: stop: expected a list of strings or a string"},
	{"{\"input_data\": [\"a\"], \"params\": {\"stop\": [\"x\", 3]}}", "stop: item 1: expected a string"},
	{"{\"input_data\": [\"a\"], \"params\": {\"stop\": [\"\"]}}", "an empty stop string"},
};

int main(void)
{
	struct cl_request rq;

	t_begin("the input_string shape parses with Hugging Face's defaults: greedy, top_k 50, full text");
	T_CHECK(parse("{\"input_data\": {\"input_string\": [\"def f(\", \"a\\nb\"]}}", &rq) == CL_OK, "%s", cl_errmsg());
	T_CHECK(rq.shape == CL_REQUEST_INPUT_STRING, "shape %d", rq.shape);
	T_CHECK(rq.n_prompts == 2 && !strcmp(rq.prompts[0], "def f(") && !strcmp(rq.prompts[1], "a\nb"),
		"prompts %d", rq.n_prompts);
	T_CHECK(!rq.do_sample && rq.temperature == 0 && rq.top_k == 50 && rq.top_p == 1 &&
		rq.repetition_penalty == 1 && rq.max_new_tokens == 0 && !rq.has_seed && rq.return_full_text &&
		rq.n_stops == 0, "defaults");
	cl_request_free(&rq);
	t_end();

	t_begin("the seed request's parameters are taken as given");
	T_CHECK(parse("{\"input_data\": {\"input_string\": [\"def fibonacci(\"], \"parameters\": {\"top_p\": 0.9, "
		      "\"temperature\": 0.2, \"do_sample\": true, \"max_new_tokens\": 100}}}", &rq) == CL_OK,
		"%s", cl_errmsg());
	T_CHECK(rq.do_sample && rq.temperature == 0.2f && rq.top_p == 0.9f && rq.max_new_tokens == 100 &&
		rq.top_k == 50, "t %g p %g n %ld", rq.temperature, rq.top_p, rq.max_new_tokens);
	cl_request_free(&rq);
	t_end();

	t_begin("the list shape with params: every parameter, null as default, stop as a string");
	T_CHECK(parse("{\"params\": {\"do_sample\": true, \"top_k\": 0, \"seed\": 9007199254740992, "
		      "\"max_gen_len\": 7, \"repetition_penalty\": 1.3, \"return_full_text\": false, "
		      "\"stop\": \"\\n\\n\", \"temperature\": null}, \"input_data\": [\"x\"]}", &rq) == CL_OK,
		"%s", cl_errmsg());
	T_CHECK(rq.shape == CL_REQUEST_LIST && rq.n_prompts == 1, "shape");
	T_CHECK(rq.do_sample && rq.temperature == 1 && rq.top_k == 0 && rq.has_seed &&
		rq.seed == 9007199254740992ull && rq.max_new_tokens == 7 && rq.repetition_penalty == 1.3f &&
		!rq.return_full_text, "values");
	T_CHECK(rq.n_stops == 1 && !strcmp(rq.stops[0], "\n\n"), "stops %d", rq.n_stops);
	cl_request_free(&rq);
	t_end();

	t_begin("do_sample false is greedy whatever the temperature");
	T_CHECK(parse("{\"input_data\": [\"x\"], \"params\": {\"temperature\": 0.7, \"do_sample\": false}}", &rq) == CL_OK,
		"%s", cl_errmsg());
	T_CHECK(rq.temperature == 0, "temperature %g", rq.temperature);
	cl_request_free(&rq);
	t_end();

	t_begin("each malformed request fails with a message naming its fault");
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		enum cl_status st = parse(bad[i].req, &rq);
		T_CHECK(st != CL_OK, "accepted: %s", bad[i].req);
		if (st != CL_OK)
			T_CHECK(strstr(cl_errmsg(), bad[i].msg) != NULL, "%s: got '%s', want '%s'", bad[i].req,
				cl_errmsg(), bad[i].msg);
		else
			cl_request_free(&rq);
	}
	t_end();

	t_begin("answers: one object keyed by index, or a list, with JSON escapes, spaced as json.dumps");
	char *texts[] = {"a\n\"b\"", "caf\xc3\xa9 \xf0\x9f\x98\x80"};
	size_t lens[] = {strlen(texts[0]), strlen(texts[1])};
	T_CHECK(parse("{\"input_data\": {\"input_string\": [\"p\", \"q\"]}}", &rq) == CL_OK, "%s", cl_errmsg());
	char *a = cl_request_answer(&rq, texts, lens);
	T_CHECK(a && !strcmp(a, "[{\"0\": \"a\\n\\\"b\\\"\", \"1\": \"caf\xc3\xa9 \xf0\x9f\x98\x80\"}]"), "%s", a);
	free(a);
	cl_request_free(&rq);
	T_CHECK(parse("{\"input_data\": [\"p\", \"q\"]}", &rq) == CL_OK, "%s", cl_errmsg());
	lens[0] = 1;
	a = cl_request_answer(&rq, texts, lens);
	T_CHECK(a && !strcmp(a, "[\"a\", \"caf\xc3\xa9 \xf0\x9f\x98\x80\"]"), "%s", a);
	free(a);
	cl_request_free(&rq);
	a = cl_request_error("params: unknown parameter 'foo'");
	T_CHECK(a && !strcmp(a, "{\"error\": \"params: unknown parameter 'foo'\"}"), "%s", a);
	free(a);
	t_end();
	return t_exit();
}
