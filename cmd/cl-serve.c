/*
 * cl-serve - the real-time endpoint: one model loaded once, an HTTP/1.1
 * server (libmicrohttpd) in front of the engine that decodes every client's
 * sequences together (lib/decode/engine.c).
 *
 * Threads: libmicrohttpd gives each connection a thread, which parses its
 * request, queues a job and waits for it (or streams it); one engine thread
 * takes queued jobs while fewer than --parallel sequences run and makes one
 * pass through the layers per step for all of them.  One mutex guards the
 * queue, the jobs and the engine; the engine thread holds it during a step,
 * and wakes the waiting connections after each.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <cJSON.h>
#include <microhttpd.h>

#include "cmd.h"
#include "engine.h"
#include "infill.h"
#include "openai.h"
#include "request.h"

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: %s [-m DIR] [--host ADDR] [--port N] [--parallel N] [--queue N] [--prefill N]\n"
		"       [--threads N] [--ctx N] [--quantize TYPE] [--kv-type T] [--api-key KEY | --api-key-file FILE]\n"
		"       [--max-body BYTES] [--timeout S] [--drain-seconds S] [--progress]\n"
		"Serve completions over HTTP/1.1: POST /score (and /) in the hosted-endpoint\n"
		"shapes of cl-complete --json, POST /v1/completions (OpenAI), GET /v1/models,\n"
		"POST /infill (llama.cpp's), POST /tokenize, POST /detokenize, GET /health,\n"
		"GET /metrics.  One model, loaded\n"
		"once; the sequences of every request are decoded together.\n"
		"  -m DIR              model directory or .gguf file (default: $CL_MODEL or the\n"
		"                      model that ships)\n"
		"  --host ADDR         address to listen on (default 127.0.0.1)\n"
		"  --port N            port (default 8080; 0: any free port, printed on stderr)\n"
		"  --parallel N        sequences decoded together at most (default 16)\n"
		"  --queue N           sequences waiting at most; past it 503 (default 64)\n"
		"  --prefill N         prompt positions a step takes while other sequences\n"
		"                      generate (default 16; 0: as many as a batch holds)\n"
		"  --threads N         threads of the forward pass (default: the cores available)\n"
		"  --ctx N             positions per sequence (default: max_position_embeddings)\n"
		"  --quantize TYPE     convert weights at load: f16, bf16, q8_0, q4_0, q4_k, q6_k or q4_k_m\n"
		"  --kv-type T         KV caches in f32 (default) or f16 (half the memory)\n"
		"  --api-key KEY       require Authorization: Bearer KEY (401 otherwise)\n"
		"  --api-key-file FILE the key, from the first line of FILE\n"
		"  --max-body BYTES    larger request bodies get 413 (default 1048576)\n"
		"  --timeout S         close a connection idle for S seconds (default 30)\n"
		"  --drain-seconds S   at SIGTERM, finish running requests for at most S\n"
		"                      seconds (default 30), then exit 0\n"
		"  --progress          show loading progress (default: when stderr is a terminal)\n"
		"  -h, --help          this help\n",
		prog);
	exit(code);
}

/* ------------------------------------------------------------ state --- */

#define MAX_TOP CL_OPENAI_MAX_TOP

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
/* Numbers job ids and unseeded draws; connections take them from their own
 * threads. */
static atomic_ulong serial;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER; /* the engine thread waits here */
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER; /* connections wait here */

static struct cl_model *model;
static struct cl_tokenizer *tok;
static struct cl_engine *eng;
static const char *dir, *model_name;
static long parallel = 16, queue_max = 64, prefill = 16, max_body = 1 << 20;
static char *api_key;
static int stopping;
static struct cl_fim fim;
static int have_fim;

/* Metrics (under mu). */
static unsigned long n_status[6];       /* 2xx .. 5xx by hundreds, [0] other */
static unsigned long long tok_prompt, tok_gen, max_rows, max_seqs_step;
static int n_queued;                    /* sequences waiting to start */
static int n_running;                   /* the engine's count, as of its last step */
static double compute_s;                /* the model's compute seconds, likewise */

/* One sequence's result. */
struct choice {
	struct job *job;        /* the request it belongs to */
	int handle;             /* in the engine, while it runs */
	int index;              /* OpenAI's choice index */
	size_t prompt_tokens;
	char *text;             /* what the engine says so far */
	size_t len, tcap, sent; /* bytes; room; bytes already streamed */
	size_t seen;            /* engine thread only: bytes of text already in events */
	int32_t *toks;          /* generated tokens, their logprobs and alternatives */
	float *lps;
	struct cl_alt *alts;    /* (ntok, n_top) */
	size_t ntok, cap, acap; /* tokens; room in toks and lps; in alts (elements) */
	enum cl_finish finish;
	int stop_cut;           /* the stop string's offset in text, or -1 */
	int echoed;             /* streaming: the prompt went out (echo) */
};

enum job_kind { JOB_SCORE, JOB_OPENAI };

struct job {
	enum job_kind kind;
	int n;                  /* choices */
	struct choice *ch;
	int32_t **ids;          /* (n) prompt tokens of each choice */
	size_t *nids;
	struct cl_engine_params *params; /* (n) */
	int started, ndone, cancelled, refs;
	char *stops[CL_ENGINE_MAX_STOPS];
	int n_stops;
	size_t stop_max;
	int n_top, echo, stream, usage;
	char **prompt_text;     /* (n) echo and return_full_text */
	struct cl_request rq;   /* JOB_SCORE */
	char id[32];
	long created;
	struct job *next;       /* in the queue */
	struct job *rnext;      /* in the engine thread's list of started jobs */
	int stream_phase;       /* 0 running, 1 final chunk sent, 2 [DONE] sent */
};

static struct job *q_head, **q_tail = &q_head;
static struct job *run_head; /* started and not over (mu held) */

static void job_unref(struct job *j)
{
	if (--j->refs > 0)
		return;
	for (int i = 0; i < j->n; i++) {
		free(j->ch[i].text);
		free(j->ch[i].toks);
		free(j->ch[i].lps);
		free(j->ch[i].alts);
		free(j->ids[i]);
		if (j->prompt_text)
			free(j->prompt_text[i]);
	}
	for (int i = 0; i < j->n_stops; i++)
		free(j->stops[i]);
	if (j->kind == JOB_SCORE)
		cl_request_free(&j->rq);
	free(j->ch), free(j->ids), free(j->nids), free(j->params), free(j->prompt_text);
	free(j);
}

static struct job *job_new(int n)
{
	struct job *j = calloc(1, sizeof *j);
	if (!j || !(j->ch = calloc((size_t)n, sizeof *j->ch)) || !(j->ids = calloc((size_t)n, sizeof *j->ids)) ||
	    !(j->nids = calloc((size_t)n, sizeof *j->nids)) || !(j->params = calloc((size_t)n, sizeof *j->params)) ||
	    !(j->prompt_text = calloc((size_t)n, sizeof *j->prompt_text))) {
		if (j)
			free(j->ch), free(j->ids), free(j->nids), free(j->params), free(j->prompt_text);
		free(j);
		return NULL;
	}
	j->n = n;
	j->refs = 1;
	for (int i = 0; i < n; i++)
		j->ch[i].handle = -1, j->ch[i].stop_cut = -1, j->ch[i].job = j;
	snprintf(j->id, sizeof j->id, "cmpl-%lx%04lx", (unsigned long)time(NULL),
		 (atomic_fetch_add(&serial, 1) + 1) & 0xffff);
	j->created = (long)time(NULL);
	return j;
}

/* A sequence of j is over (mu held): the last drops the engine's reference. */
static void seq_done(struct job *j)
{
	if (++j->ndone < j->n)
		return;
	for (struct job **p = &run_head; *p; p = &(*p)->rnext)
		if (*p == j) {
			*p = j->rnext;
			break;
		}
	job_unref(j);
}

/* What the engine says during a step, which runs without mu: kept here, the
 * new text of each token in one buffer that every step reuses, and applied
 * to the jobs after it (engine thread). */
struct event {
	struct choice *c;
	int32_t token;
	float logprob;
	struct cl_alt alts[MAX_TOP];
	int n_alts;
	size_t off, len;        /* the token's new bytes of text in ev_text */
	enum cl_finish finish;
};
static struct event *events;
static size_t n_events, cap_events;
static char *ev_text;
static size_t ev_len, ev_cap;

static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 64;
	while (c < need)
		c *= 2;
	void *q = realloc(p, c * size);
	if (!q) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(EXIT_DATA);
	}
	*cap = c;
	return q;
}

static void on_token(void *arg, const struct cl_engine_token *t)
{
	struct choice *c = arg;
	events = grow(events, &cap_events, n_events + 1, sizeof *events);
	struct event *e = &events[n_events++];
	size_t add = t->len > c->seen ? t->len - c->seen : 0;
	ev_text = grow(ev_text, &ev_cap, ev_len + add, 1);
	memcpy(ev_text + ev_len, t->text + c->seen, add);
	*e = (struct event){c, t->token, t->logprob, {{0}}, t->n_alts < MAX_TOP ? t->n_alts : MAX_TOP, ev_len, add,
			    t->finish};
	memcpy(e->alts, t->alts, (size_t)e->n_alts * sizeof *e->alts);
	ev_len += add;
	c->seen += add;
}

/* An event, applied to its choice (engine thread, mu held). */
static void apply_event(const struct event *e)
{
	struct choice *c = e->c;
	struct job *j = c->job;
	if (c->finish)
		return;
	if (e->token >= 0 && e->finish != CL_FINISH_CANCEL) {
		size_t cap = c->cap;
		c->toks = grow(c->toks, &cap, c->ntok + 1, sizeof *c->toks);
		c->lps = grow(c->lps, &c->cap, c->ntok + 1, sizeof *c->lps); /* the same growth as toks */
		if (j->n_top)
			c->alts = grow(c->alts, &c->acap, (c->ntok + 1) * (size_t)j->n_top, sizeof *c->alts);
		c->toks[c->ntok] = e->token;
		c->lps[c->ntok] = e->logprob;
		for (int k = 0; k < j->n_top; k++)
			c->alts[c->ntok * (size_t)j->n_top + (size_t)k] =
				k < e->n_alts ? e->alts[k] : (struct cl_alt){-1, NAN};
		c->ntok++;
		tok_gen++;
	}
	c->text = grow(c->text, &c->tcap, c->len + e->len + 1, 1);
	memcpy(c->text + c->len, ev_text + e->off, e->len);
	c->len += e->len;
	c->text[c->len] = 0;
	if (e->finish) {
		c->finish = e->finish;
		c->handle = -1;
		/* OpenAI's text ends before the stop string; the hosted shape's
		 * after it (cl-complete's, cl_request_text). */
		for (int k = 0; j->kind == JOB_OPENAI && k < j->n_stops; k++) {
			const char *at = memmem(c->text, c->len, j->stops[k], strlen(j->stops[k]));
			if (at && (c->stop_cut < 0 || at - c->text < c->stop_cut))
				c->stop_cut = (int)(at - c->text);
		}
		seq_done(j);
	}
}

static void *engine_main(void *arg)
{
	pthread_mutex_lock(&mu);
	for (;;) {
		/* Start queued jobs, whole, while they fit. */
		while (q_head && cl_engine_running(eng) + q_head->n <= parallel) {
			struct job *j = q_head;
			if (!(q_head = j->next))
				q_tail = &q_head;
			n_queued -= j->n;
			for (int i = 0; i < j->n; i++) {
				j->ch[i].handle = j->cancelled ? -1 :
					cl_engine_add(eng, j->ids[i], j->nids[i], &j->params[i], on_token, &j->ch[i]);
				tok_prompt += j->nids[i];
			}
			j->started = 1;
			j->rnext = run_head;
			run_head = j;
			j->refs++; /* held while the loop below may drop the engine's */
			for (int i = 0; i < j->n; i++)
				if (j->ch[i].handle < 0) {
					j->ch[i].finish = CL_FINISH_CANCEL;
					seq_done(j);
				}
			job_unref(j);
			n_running = cl_engine_running(eng);
			pthread_cond_broadcast(&cv_done);
		}
		/* Clients gone, or the drain over: their sequences end at this
		 * step. */
		for (struct job *j = run_head; j; j = j->rnext)
			if (j->cancelled)
				for (int i = 0; i < j->n; i++)
					if (j->ch[i].handle >= 0)
						cl_engine_cancel(eng, j->ch[i].handle);
		if (!cl_engine_running(eng)) {
			if (stopping && !q_head)
				break;
			pthread_cond_wait(&cv_work, &mu);
			continue;
		}
		pthread_mutex_unlock(&mu);
		if (cl_engine_step(eng)) {
			fprintf(stderr, "%s: %s\n", prog, cl_errmsg());
			exit(EXIT_DATA);
		}
		pthread_mutex_lock(&mu);
		for (size_t i = 0; i < n_events; i++)
			apply_event(&events[i]);
		n_events = ev_len = 0;
		n_running = cl_engine_running(eng);
		compute_s = cl_model_seconds(model);
		if ((unsigned long long)cl_engine_last_rows(eng) > max_rows)
			max_rows = (unsigned long long)cl_engine_last_rows(eng);
		if ((unsigned long long)cl_engine_last_seqs(eng) > max_seqs_step)
			max_seqs_step = (unsigned long long)cl_engine_last_seqs(eng);
		pthread_cond_broadcast(&cv_done);
	}
	pthread_mutex_unlock(&mu);
	free(events);
	free(ev_text);
	return NULL;
}

/* Queue a job (mu held); 0, or -1 when the queue is full. */
static int job_queue(struct job *j)
{
	if (n_queued + j->n > queue_max)
		return -1;
	j->refs++; /* the engine's */
	*q_tail = j;
	q_tail = &j->next;
	n_queued += j->n;
	pthread_cond_signal(&cv_work);
	return 0;
}

/* A job's sequences are over for the client: cancel what still runs (mu
 * held). */
static void job_cancel(struct job *j)
{
	j->cancelled = 1;
	pthread_cond_signal(&cv_work);
}

/* ------------------------------------------------------- responses --- */

struct conn {
	char *body;
	size_t len;
	int too_big;
	double t0;
	int status;
	unsigned long long ptok, gtok;
	struct job *job;       /* a streaming response's */
	const char *method;
	char path[128];
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return 1e3 * (double)t.tv_sec + 1e-6 * (double)t.tv_nsec;
}

static enum MHD_Result reply(struct MHD_Connection *c, struct conn *k, int status, const char *type, char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	k->status = status;
	return ret;
}

static enum MHD_Result reply_json(struct MHD_Connection *c, struct conn *k, int status, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!s)
		return MHD_NO;
	return reply(c, k, status, "application/json", s);
}

/* OpenAI's error shape. */
static enum MHD_Result reply_error(struct MHD_Connection *c, struct conn *k, int status, const char *type,
				   const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
	cJSON_AddStringToObject(e, "message", msg);
	cJSON_AddStringToObject(e, "type", type);
	cJSON_AddNullToObject(e, "param");
	cJSON_AddNullToObject(e, "code");
	return reply_json(c, k, status, o);
}

/* Wait until the job is over; a client that goes away cancels it.  mu held. */
static void job_wait(struct MHD_Connection *c, struct job *j)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	int fd = ci ? ci->connect_fd : -1;
	while (j->ndone < j->n || !j->started) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 50 * 1000000L;
		if (ts.tv_nsec >= 1000000000L)
			ts.tv_sec++, ts.tv_nsec -= 1000000000L;
		pthread_cond_timedwait(&cv_done, &mu, &ts);
		if (fd >= 0 && !j->cancelled) {
			struct pollfd p = {.fd = fd, .events = POLLRDHUP};
			if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
				job_cancel(j);
		}
		if (j->cancelled && !j->started)
			break;
	}
}

/* The text of a choice as OpenAI gives it: cut before the stop string. */
static size_t choice_len(const struct choice *ch)
{
	return ch->stop_cut >= 0 && (size_t)ch->stop_cut < ch->len ? (size_t)ch->stop_cut : ch->len;
}

/* ------------------------------------------------- /v1/completions --- */

/* Parse an OpenAI completion request into a job (lib/decode/openai.c);
 * NULL with err set. */
static struct job *openai_job(const char *body, size_t len, char *err, size_t cap)
{
	struct cl_openai_env env = {
		.tk = tok, .n_vocab = cl_model_info(model)->n_vocab, .ctx = cl_engine_ctx(eng),
		.fim = have_fim ? &fim : NULL,
		.seed = (uint64_t)time(NULL) ^ (uint64_t)(atomic_fetch_add(&serial, 1) + 1) << 32,
	};
	struct cl_openai_req r;
	if (cl_openai_parse(body, len, &env, &r)) {
		snprintf(err, cap, "%s", cl_errmsg());
		return NULL;
	}
	struct job *j = job_new(r.n_choices);
	if (!j) {
		cl_openai_free(&r);
		snprintf(err, cap, "out of memory");
		return NULL;
	}
	/* The job takes what the request owns; the params' stops point at the
	 * same strings. */
	j->kind = JOB_OPENAI;
	for (int c = 0; c < r.n_choices; c++) {
		j->ids[c] = r.ids[c], j->nids[c] = r.nids[c], j->prompt_text[c] = r.prompt_text[c];
		j->params[c] = r.params[c];
		j->ch[c].index = c;
		j->ch[c].prompt_tokens = r.nids[c];
		r.ids[c] = NULL, r.prompt_text[c] = NULL;
	}
	for (int k = 0; k < r.n_stops; k++)
		j->stops[k] = r.stops[k], r.stops[k] = NULL;
	j->n_stops = r.n_stops;
	j->n_top = r.n_top, j->echo = r.echo, j->stream = r.stream, j->usage = r.usage;
	r.n_stops = 0;
	cl_openai_free(&r);
	return j;
}

/* The job's answer as it stands (final: with each choice's finish_reason),
 * through lib/decode/openai.c. */
static cJSON *completion_json(const struct job *j, int final)
{
	struct cl_openai_choice *cs = calloc((size_t)j->n, sizeof *cs);
	if (!cs)
		return NULL;
	for (int i = 0; i < j->n; i++) {
		const struct choice *c = &j->ch[i];
		cs[i] = (struct cl_openai_choice){
			.index = c->index, .echo = j->echo ? j->prompt_text[i] : NULL,
			.text = c->text, .len = c->text ? choice_len(c) : 0,
			.toks = c->toks, .lps = c->lps, .alts = c->alts, .ntok = c->ntok,
			.prompt_tokens = c->prompt_tokens, .finish = final ? c->finish : CL_FINISH_NONE,
		};
	}
	struct cl_openai_head h = {.id = j->id, .model = model_name, .created = j->created};
	cJSON *o = cl_openai_answer(&h, cs, j->n, j->n_top, tok);
	free(cs);
	return o;
}

/* Server-sent events of a streaming completion: what is new in each choice
 * since the last chunk (text that could still turn out to begin a stop
 * string held back), then a chunk with each finish_reason, then [DONE]. */
static ssize_t stream_read(void *arg, uint64_t pos, char *buf, size_t max)
{
	struct conn *k = arg;
	struct job *j = k->job;
	(void)pos;
	pthread_mutex_lock(&mu);
	for (;;) {
		cJSON *o = NULL;
		int any = 0;
		if (j->stream_phase == 0) {
			struct cl_openai_head h = {.id = j->id, .model = model_name, .created = j->created};
			o = cl_openai_chunk(&h);
			for (int i = 0; i < j->n; i++) {
				struct choice *c = &j->ch[i];
				size_t upto = c->finish ? choice_len(c) : (c->len > j->stop_max ? c->len - j->stop_max : 0);
				/* Whole UTF-8 characters only. */
				while (upto > c->sent && upto < c->len && ((unsigned char)c->text[upto] & 0xc0) == 0x80)
					upto--;
				const char *pre = j->echo && !c->echoed && j->prompt_text[i] ? j->prompt_text[i] : "";
				size_t pl = strlen(pre), nn = upto > c->sent ? upto - c->sent : 0;
				if (!pl && !nn)
					continue;
				char *t = malloc(pl + nn + 1);
				if (!t)
					continue;
				memcpy(t, pre, pl);
				memcpy(t + pl, nn ? c->text + c->sent : "", nn);
				t[pl + nn] = 0;
				c->echoed = 1;
				c->sent += nn;
				cl_openai_delta(o, c->index, t);
				free(t);
				any = 1;
			}
			if (!any && j->ndone == j->n && j->started) {
				cJSON_Delete(o);
				if (!(o = completion_json(j, 1))) {
					pthread_mutex_unlock(&mu);
					return MHD_CONTENT_READER_END_WITH_ERROR;
				}
				cJSON *chs = cJSON_GetObjectItemCaseSensitive(o, "choices"), *x;
				cJSON_ArrayForEach(x, chs)
					cJSON_ReplaceItemInObject(x, "text", cJSON_CreateString(""));
				if (!j->usage)
					cJSON_DeleteItemFromObject(o, "usage");
				j->stream_phase = 1;
				any = 1;
			}
		} else if (j->stream_phase == 1) {
			j->stream_phase = 2;
			pthread_mutex_unlock(&mu);
			const char *d = "data: [DONE]\n\n";
			size_t l = strlen(d) < max ? strlen(d) : max;
			memcpy(buf, d, l);
			return (ssize_t)l;
		} else {
			pthread_mutex_unlock(&mu);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (any) {
			char *s = cJSON_PrintUnformatted(o);
			cJSON_Delete(o);
			pthread_mutex_unlock(&mu);
			if (!s)
				return MHD_CONTENT_READER_END_WITH_ERROR;
			size_t l = (size_t)snprintf(buf, max, "data: %s\n\n", s);
			free(s);
			if (l >= max)
				return MHD_CONTENT_READER_END_WITH_ERROR; /* chunks are far below MHD's block */
			return (ssize_t)l;
		}
		cJSON_Delete(o);
		if (j->cancelled) {
			pthread_mutex_unlock(&mu);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		/* Nothing new: wait for the next step, and every 5 s say so with
		 * an SSE comment (clients skip it) so that a request waiting in
		 * the queue does not look idle. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_cond_timedwait(&cv_done, &mu, &ts) == ETIMEDOUT) {
			pthread_mutex_unlock(&mu);
			const char *hb = ": waiting\n\n";
			size_t l = strlen(hb) < max ? strlen(hb) : max;
			memcpy(buf, hb, l);
			return (ssize_t)l;
		}
	}
}

static void stream_free(void *arg)
{
	struct conn *k = arg;
	pthread_mutex_lock(&mu);
	if (k->job) {
		for (int i = 0; i < k->job->n; i++) {
			k->ptok += k->job->ch[i].prompt_tokens;
			k->gtok += k->job->ch[i].ntok;
		}
		if (k->job->ndone < k->job->n)
			job_cancel(k->job);
		job_unref(k->job);
		k->job = NULL;
	}
	pthread_mutex_unlock(&mu);
}

/* The reply of a job that is over, and the job let go (mu held, released). */
static enum MHD_Result reply_job(struct MHD_Connection *c, struct conn *k, struct job *j, cJSON *o)
{
	for (int i = 0; i < j->n; i++)
		k->ptok += j->ch[i].prompt_tokens, k->gtok += j->ch[i].ntok;
	int cancelled = j->cancelled;
	job_unref(j);
	pthread_mutex_unlock(&mu);
	if (cancelled || !o) {
		cJSON_Delete(o);
		return MHD_NO; /* the client has gone */
	}
	return reply_json(c, k, 200, o);
}

static enum MHD_Result do_completions(struct MHD_Connection *c, struct conn *k)
{
	char err[1024];
	struct job *j = openai_job(k->body ? k->body : "", k->len, err, sizeof err);
	if (!j)
		return reply_error(c, k, 400, "invalid_request_error", "%s", err);
	for (int i = 0; i < j->n_stops; i++)
		if (strlen(j->stops[i]) > j->stop_max)
			j->stop_max = strlen(j->stops[i]);
	pthread_mutex_lock(&mu);
	if (stopping || job_queue(j)) {
		job_unref(j);
		pthread_mutex_unlock(&mu);
		return reply_error(c, k, 503, "server_error", stopping ? "the server is shutting down" :
				   "too many requests waiting: try again later");
	}
	if (j->stream) {
		pthread_mutex_unlock(&mu);
		k->job = j;
		struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_read, k,
									   NULL);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, "Content-Type", "text/event-stream");
		MHD_add_response_header(r, "Cache-Control", "no-cache");
		enum MHD_Result ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		k->status = 200;
		return ret;
	}
	job_wait(c, j);
	return reply_job(c, k, j, completion_json(j, 1));
}

/* ---------------------------------------------------------- /score --- */

static enum MHD_Result do_score(struct MHD_Connection *c, struct conn *k)
{
	struct cl_request rq;
	if (cl_request_parse(k->body ? k->body : "", k->len, &rq)) {
		char *e = cl_request_error(cl_errmsg());
		return e ? reply(c, k, 400, "application/json", e) : MHD_NO;
	}
	if (rq.n_prompts == 0) {
		char *a = cl_request_answer(&rq, NULL, NULL);
		cl_request_free(&rq);
		return a ? reply(c, k, 200, "application/json", a) : MHD_NO;
	}
	struct job *j = job_new(rq.n_prompts);
	if (!j) {
		cl_request_free(&rq);
		return MHD_NO;
	}
	j->kind = JOB_SCORE;
	j->rq = rq;
	/* The mapping cl-complete --json uses (lib/decode/request.c). */
	char msg[1024] = "";
	for (int i = 0; i < rq.n_prompts && !msg[0]; i++) {
		if (cl_request_params(&j->rq, i, &j->params[i]))
			snprintf(msg, sizeof msg, "input %d: %s", i, cl_errmsg());
		else if (cl_request_encode(&j->rq, i, tok, cl_engine_ctx(eng), 0, 0, &j->ids[i], &j->nids[i]))
			snprintf(msg, sizeof msg, "%s", cl_errmsg());
		j->ch[i].prompt_tokens = j->nids[i];
	}
	if (msg[0]) {
		job_unref(j);
		return reply(c, k, 400, "application/json", cl_request_error(msg));
	}
	pthread_mutex_lock(&mu);
	if (stopping || job_queue(j)) {
		job_unref(j);
		pthread_mutex_unlock(&mu);
		return reply(c, k, 503, "application/json", cl_request_error("too many requests waiting"));
	}
	job_wait(c, j);
	int cancelled = j->cancelled;
	char **texts = calloc((size_t)j->n, sizeof *texts);
	size_t *lens = calloc((size_t)j->n, sizeof *lens);
	for (int i = 0; texts && lens && i < j->n; i++) {
		struct choice *ch = &j->ch[i];
		texts[i] = cl_request_text(&j->rq, i, ch->text ? ch->text : "", ch->len, &lens[i]);
		k->ptok += ch->prompt_tokens, k->gtok += ch->ntok;
	}
	char *a = texts && lens ? cl_request_answer(&j->rq, texts, lens) : NULL;
	for (int i = 0; texts && i < j->n; i++)
		free(texts[i]);
	free(texts), free(lens);
	job_unref(j);
	pthread_mutex_unlock(&mu);
	if (cancelled) {
		free(a);
		return MHD_NO;
	}
	return a ? reply(c, k, 200, "application/json", a) : MHD_NO;
}

/* ---------------------------------------------------------- /infill --- */

/* llama.cpp's infill shape, which editor plugins send: input_prefix,
 * input_suffix, n_predict, temperature, top_k, top_p, seed, stop; other keys
 * are ignored (plugins send many).  Answered {"content": ...}. */
static enum MHD_Result do_infill(struct MHD_Connection *c, struct conn *k)
{
	char err[1024];
	if (!have_fim) {
		struct cl_fim f;
		cl_fim_find(tok, &f);
		return reply_error(c, k, 400, "invalid_request_error", "%s", cl_errmsg());
	}
	cJSON *o = cJSON_ParseWithLength(k->body ? k->body : "", k->len);
	const cJSON *pre = cJSON_GetObjectItemCaseSensitive(o, "input_prefix"),
		    *suf = cJSON_GetObjectItemCaseSensitive(o, "input_suffix");
	if (!cJSON_IsObject(o) || (pre && !cJSON_IsString(pre)) || (suf && !cJSON_IsString(suf)) ||
	    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "stream"))) {
		cJSON_Delete(o);
		return reply_error(c, k, 400, "invalid_request_error",
				   "expected {\"input_prefix\": \"...\", \"input_suffix\": \"...\", ...} (not streamed)");
	}
	/* The same job as /v1/completions with a suffix. */
	cJSON *q = cJSON_CreateObject();
	cJSON_AddStringToObject(q, "prompt", pre ? pre->valuestring : "");
	cJSON_AddStringToObject(q, "suffix", suf ? suf->valuestring : "");
	double v;
	const char *map[][2] = {{"temperature", "temperature"}, {"top_p", "top_p"}, {"seed", "seed"}};
	for (size_t i = 0; i < sizeof map / sizeof *map; i++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, map[i][0]);
		if (cJSON_IsNumber(x))
			cJSON_AddNumberToObject(q, map[i][1], x->valuedouble);
	}
	const cJSON *np = cJSON_GetObjectItemCaseSensitive(o, "n_predict"), *st = cJSON_GetObjectItemCaseSensitive(o, "stop");
	v = cJSON_IsNumber(np) && np->valuedouble > 0 ? np->valuedouble : 128;
	cJSON_AddNumberToObject(q, "max_tokens", v);
	if (cJSON_IsArray(st) || cJSON_IsString(st))
		cJSON_AddItemToObject(q, "stop", cJSON_Duplicate(st, 1));
	cJSON_Delete(o);
	char *body = cJSON_PrintUnformatted(q);
	cJSON_Delete(q);
	struct job *j = body ? openai_job(body, strlen(body), err, sizeof err) : NULL;
	free(body);
	if (!j)
		return reply_error(c, k, 400, "invalid_request_error", "%s", err);
	pthread_mutex_lock(&mu);
	if (stopping || job_queue(j)) {
		job_unref(j);
		pthread_mutex_unlock(&mu);
		return reply_error(c, k, 503, "server_error", "too many requests waiting: try again later");
	}
	job_wait(c, j);
	struct choice *ch = &j->ch[0];
	cJSON *r = cJSON_CreateObject();
	char *t = strndup(ch->text ? ch->text : "", ch->text ? choice_len(ch) : 0);
	cJSON_AddStringToObject(r, "content", t ? t : "");
	free(t);
	cJSON_AddBoolToObject(r, "stop", 1);
	cJSON_AddNumberToObject(r, "tokens_predicted", (double)ch->ntok);
	cJSON_AddNumberToObject(r, "tokens_evaluated", (double)ch->prompt_tokens);
	cJSON_AddStringToObject(r, "stop_type", ch->finish == CL_FINISH_STOP ? "eos" : "limit");
	return reply_job(c, k, j, r);
}

/* ------------------------------------------------- small endpoints --- */

static enum MHD_Result do_tokenize(struct MHD_Connection *c, struct conn *k)
{
	cJSON *o = cJSON_ParseWithLength(k->body ? k->body : "", k->len);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "content");
	if (!cJSON_IsString(t)) {
		cJSON_Delete(o);
		return reply_error(c, k, 400, "invalid_request_error", "expected {\"content\": \"text\"}");
	}
	int32_t *ids;
	size_t n;
	const cJSON *ab = cJSON_GetObjectItemCaseSensitive(o, "add_special");
	unsigned flags = cJSON_IsTrue(ab) ? CL_ENCODE_BOS : 0;
	if (cl_tokenizer_encode(tok, t->valuestring, strlen(t->valuestring), flags, &ids, &n)) {
		cJSON_Delete(o);
		return reply_error(c, k, 400, "invalid_request_error", "content: %s", cl_errmsg());
	}
	cJSON_Delete(o);
	cJSON *r = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(r, "tokens");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
	free(ids);
	return reply_json(c, k, 200, r);
}

static enum MHD_Result do_detokenize(struct MHD_Connection *c, struct conn *k)
{
	cJSON *o = cJSON_ParseWithLength(k->body ? k->body : "", k->len), *it;
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tokens");
	char *s = NULL;
	size_t sl = 0;
	FILE *f = NULL;
	int bad = !cJSON_IsArray(t);
	struct cl_utf8 u = {0};
	char piece[1024], text[1024 + 16];
	if (!bad)
		f = open_memstream(&s, &sl);
	int first = 1;
	cJSON_ArrayForEach(it, t) {
		int32_t id = cJSON_IsNumber(it) ? (int32_t)it->valuedouble : -1;
		int n = cJSON_IsNumber(it) && it->valuedouble == floor(it->valuedouble) ?
			cl_tokenizer_decode(tok, id, first, piece, sizeof piece) : -1;
		if (n < 0) {
			bad = 1;
			break;
		}
		first = cl_tokenizer_still_first(tok, id, first, n);
		if (f)
			fwrite(text, 1, cl_utf8_push(&u, piece, (size_t)n, text), f);
	}
	if (f) {
		fwrite(text, 1, cl_utf8_finish(&u, text), f);
		fclose(f);
	}
	cJSON_Delete(o);
	if (bad) {
		free(s);
		return reply_error(c, k, 400, "invalid_request_error",
				   "expected {\"tokens\": [ids of the vocabulary of %d]}", cl_tokenizer_n_vocab(tok));
	}
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "content", s ? s : "");
	free(s);
	return reply_json(c, k, 200, r);
}

static enum MHD_Result do_models(struct MHD_Connection *c, struct conn *k)
{
	cJSON *o = cJSON_CreateObject(), *d = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "object", "list");
	cJSON_AddStringToObject(m, "id", model_name);
	cJSON_AddStringToObject(m, "object", "model");
	cJSON_AddNumberToObject(m, "created", 0);
	cJSON_AddStringToObject(m, "owned_by", "cl");
	cJSON_AddItemToArray(d, m);
	return reply_json(c, k, 200, o);
}

static enum MHD_Result do_metrics(struct MHD_Connection *c, struct conn *k)
{
	char *s = NULL;
	size_t l = 0;
	FILE *f = open_memstream(&s, &l);
	if (!f)
		return MHD_NO;
	pthread_mutex_lock(&mu);
	fprintf(f, "# HELP cl_requests_total Requests answered, by status class.\n# TYPE cl_requests_total counter\n");
	for (int i = 2; i <= 5; i++)
		fprintf(f, "cl_requests_total{status=\"%dxx\"} %lu\n", i, n_status[i]);
	fprintf(f, "# TYPE cl_prompt_tokens_total counter\ncl_prompt_tokens_total %llu\n", tok_prompt);
	fprintf(f, "# TYPE cl_generated_tokens_total counter\ncl_generated_tokens_total %llu\n", tok_gen);
	fprintf(f, "# TYPE cl_sequences_running gauge\ncl_sequences_running %d\n", n_running);
	fprintf(f, "# TYPE cl_sequences_queued gauge\ncl_sequences_queued %d\n", n_queued);
	fprintf(f, "# HELP cl_steps_total Passes through the layers.\n# TYPE cl_steps_total counter\n"
		   "cl_steps_total %llu\n", (unsigned long long)cl_engine_steps(eng));
	fprintf(f, "# HELP cl_batch_rows_max The most rows (positions of all sequences) in one pass.\n"
		   "# TYPE cl_batch_rows_max gauge\ncl_batch_rows_max %llu\n", max_rows);
	fprintf(f, "# HELP cl_batch_sequences_max The most sequences decoded together in one pass.\n"
		   "# TYPE cl_batch_sequences_max gauge\ncl_batch_sequences_max %llu\n", max_seqs_step);
	double sec = compute_s;
	fprintf(f, "# HELP cl_tokens_per_second Generated tokens per second of compute.\n"
		   "# TYPE cl_tokens_per_second gauge\ncl_tokens_per_second %.3f\n", sec > 0 ? (double)tok_gen / sec : 0.0);
	pthread_mutex_unlock(&mu);
	fclose(f);
	return reply(c, k, 200, "text/plain; version=0.0.4", s);
}

/* ---------------------------------------------------------- routing --- */

static int key_ok(struct MHD_Connection *c)
{
	if (!api_key)
		return 1;
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	size_t kl = strlen(api_key);
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	size_t hl = strlen(h);
	/* Constant time in the key: every byte compared, whatever differs. */
	unsigned diff = (unsigned)(hl ^ kl);
	for (size_t i = 0; i < kl; i++)
		diff |= (unsigned char)api_key[i] ^ (unsigned char)(i < hl ? h[i] : 0);
	return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **ptr)
{
	struct conn *k = *ptr;
	(void)cls, (void)version;
	if (!k) {
		if (!(k = calloc(1, sizeof *k)))
			return MHD_NO;
		k->t0 = now_ms();
		k->method = strcmp(method, "GET") == 0 ? "GET" : strcmp(method, "POST") == 0 ? "POST" : "OTHER";
		snprintf(k->path, sizeof k->path, "%s", url);
		*ptr = k;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!k->too_big && k->len + *upload_size <= (size_t)max_body) {
			char *b = realloc(k->body, k->len + *upload_size + 1);
			if (!b)
				return MHD_NO;
			k->body = b;
			memcpy(k->body + k->len, upload, *upload_size);
			k->len += *upload_size;
			k->body[k->len] = 0;
		} else {
			k->too_big = 1;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	static const char *const gets[] = {"/health", "/v1/models", "/metrics", NULL};
	static const char *const posts[] = {"/", "/score", "/v1/completions", "/infill", "/tokenize", "/detokenize",
					    NULL};
	int is_get = 0, is_post = 0;
	for (int i = 0; gets[i]; i++)
		is_get |= !strcmp(url, gets[i]);
	for (int i = 0; posts[i]; i++)
		is_post |= !strcmp(url, posts[i]);
	if (!is_get && !is_post)
		return reply_error(c, k, 404, "invalid_request_error", "%s: no such endpoint", url);
	if ((is_get && !get) || (is_post && !post))
		return reply_error(c, k, 405, "invalid_request_error", "%s: use %s", url, is_get ? "GET" : "POST");
	if (strcmp(url, "/health") != 0 && !key_ok(c))
		return reply_error(c, k, 401, "invalid_request_error", "a valid API key is needed (Authorization: Bearer KEY)");
	if (k->too_big)
		return reply_error(c, k, 413, "invalid_request_error", "the request body is larger than %ld bytes", max_body);
	if (!strcmp(url, "/health")) {
		char *s = strdup(stopping ? "{\"status\": \"stopping\"}" : "{\"status\": \"ok\"}");
		return s ? reply(c, k, stopping ? 503 : 200, "application/json", s) : MHD_NO;
	}
	if (!strcmp(url, "/v1/models"))
		return do_models(c, k);
	if (!strcmp(url, "/metrics"))
		return do_metrics(c, k);
	if (!strcmp(url, "/tokenize"))
		return do_tokenize(c, k);
	if (!strcmp(url, "/detokenize"))
		return do_detokenize(c, k);
	if (!strcmp(url, "/v1/completions"))
		return do_completions(c, k);
	if (!strcmp(url, "/infill"))
		return do_infill(c, k);
	return do_score(c, k);
}

/* One line per request: method, path, status, prompt and generated tokens, ms. */
static void completed(void *cls, struct MHD_Connection *c, void **ptr, enum MHD_RequestTerminationCode why)
{
	struct conn *k = *ptr;
	(void)cls, (void)c;
	if (!k)
		return;
	if (k->job)
		stream_free(k);
	pthread_mutex_lock(&mu);
	n_status[k->status >= 200 && k->status < 600 ? k->status / 100 : 0]++;
	pthread_mutex_unlock(&mu);
	fprintf(stderr, "%s: %s %s %d prompt=%llu generated=%llu %.1f ms%s\n", prog, k->method, k->path, k->status,
		k->ptok, k->gtok, now_ms() - k->t0, why == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (client gone)");
	free(k->body);
	free(k);
	*ptr = NULL;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *key_file = NULL;
	long port = 8080, ctx_opt = 0, timeout_s = 30, drain_s = 30;
	struct cl_model_opts opts;
	cl_model_opts_init(&opts);
	opts.progress = isatty(STDERR_FILENO);
	cmd_init("cl-serve");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			usage(EXIT_OK);
		else if ((v = opt_arg(argc, argv, &i, "-m")))
			dir = v;
		else if ((v = opt_arg(argc, argv, &i, "--host")))
			host = v;
		else if ((v = opt_arg(argc, argv, &i, "--port")))
			port = opt_long("--port", v, 0, 65535);
		else if ((v = opt_arg(argc, argv, &i, "--parallel")))
			parallel = opt_long("--parallel", v, 1, 1024);
		else if ((v = opt_arg(argc, argv, &i, "--queue")))
			queue_max = opt_long("--queue", v, 0, 1 << 20);
		else if ((v = opt_arg(argc, argv, &i, "--prefill")))
			prefill = opt_long("--prefill", v, 0, CL_BATCH_MAX);
		else if ((v = opt_arg(argc, argv, &i, "--ctx")))
			ctx_opt = opt_long("--ctx", v, 1, 1 << 24);
		else if (model_opt(argc, argv, &i, &opts))
			;
		else if ((v = opt_arg(argc, argv, &i, "--api-key")))
			api_key = strdup(v);
		else if ((v = opt_arg(argc, argv, &i, "--api-key-file")))
			key_file = v;
		else if ((v = opt_arg(argc, argv, &i, "--max-body")))
			max_body = opt_long("--max-body", v, 1, 1L << 30);
		else if ((v = opt_arg(argc, argv, &i, "--timeout")))
			timeout_s = opt_long("--timeout", v, 1, 86400);
		else if ((v = opt_arg(argc, argv, &i, "--drain-seconds")))
			drain_s = opt_long("--drain-seconds", v, 0, 86400);
		else if (!strcmp(a, "--progress"))
			opts.progress = 1;
		else
			bad_arg(a);
	}
	if (key_file) {
		FILE *f = fopen(key_file, "r");
		char line[4096];
		if (!f)
			die(EXIT_DATA, "%s:", key_file);
		if (!fgets(line, sizeof line, f) || !(line[strcspn(line, "\r\n")] = 0, *line))
			die(EXIT_DATA, "%s: no key on its first line", key_file);
		fclose(f);
		api_key = strdup(line);
	}
	if (!dir)
		dir = cl_default_model();
	model_name = strrchr(dir, '/') && strrchr(dir, '/')[1] ? strrchr(dir, '/') + 1 : dir;

	/* One pass before listening, so the first request does not pay for
	 * the first reading of every weight. */
	if (cl_tokenizer_load(dir, &tok) || cl_model_load(dir, &opts, &model) || cl_model_warm(model))
		die(EXIT_DATA, "%s", cl_errmsg());
	const struct cl_model_info *mi = cl_model_info(model);
	if (ctx_opt > mi->max_pos)
		die(EXIT_USAGE, "--ctx: %ld is beyond max_position_embeddings %d of %s", ctx_opt, mi->max_pos, dir);
	have_fim = cl_fim_find(tok, &fim) == CL_OK;
	if (cl_engine_new(model, tok, (int32_t)(ctx_opt ? ctx_opt : mi->max_pos), (int)parallel, &eng))
		die(EXIT_DATA, "%s", cl_errmsg());
	cl_engine_set_prefill(eng, (int)prefill);

	/* Signals go to the main thread alone, through sigwait. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_t et;
	if (pthread_create(&et, NULL, engine_main, NULL))
		die(EXIT_DATA, "cannot start the engine thread");

	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		die(EXIT_USAGE, "--host: expected an IPv4 address such as 127.0.0.1, got '%s'", host);
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_ITC |
			MHD_USE_POLL,
		(uint16_t)port, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)timeout_s, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
		MHD_OPTION_END);
	if (!d)
		die(EXIT_DATA, "cannot listen on %s:%ld (in use?)", host, port);
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	fprintf(stderr, "%s: listening on http://%s:%u (%s, %d sequences at once, context %d)\n", prog, host,
		di ? di->port : (unsigned)port, model_name, (int)parallel, cl_engine_ctx(eng));

	int sig;
	sigwait(&sigs, &sig);
	fprintf(stderr, "%s: %s: finishing what runs (at most %ld s)\n", prog, strsignal(sig), drain_s);
	MHD_quiesce_daemon(d);
	pthread_mutex_lock(&mu);
	stopping = 1;
	pthread_cond_signal(&cv_work);
	double until = now_ms() + 1e3 * (double)drain_s;
	while ((n_running || q_head) && now_ms() < until) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&cv_done, &mu, &ts);
	}
	/* What still runs past the drain time is cancelled. */
	for (struct job *j = run_head; j; j = j->rnext)
		j->cancelled = 1;
	pthread_cond_signal(&cv_work);
	pthread_mutex_unlock(&mu);
	pthread_join(et, NULL);
	MHD_stop_daemon(d);
	cl_engine_free(eng);
	cl_model_free(model);
	cl_tokenizer_free(tok);
	free(api_key);
	return EXIT_OK;
}
