/*
 * sample.c - the sampler: pure functions over a vector of logits and a
 * sequence's history.
 *
 * The controls mean what users know from Hugging Face transformers (and
 * llama.cpp / OpenAI for min_p, presence and frequency):
 *
 *   penalties    repetition (HF: each distinct token of the history gets
 *                logit<0 ? logit*r : logit/r), presence and frequency
 *                (OpenAI: logit -= presence*(count>0) + frequency*count),
 *                then the logit bias (-inf bans a token)
 *   temperature  logits / T
 *   top_k        keeps the tokens at least as likely as the k-th best
 *   top_p        keeps the smallest best-first set whose mass >= top_p
 *   min_p        keeps p >= min_p * p_max
 *   typical_p    HF's TypicalLogitsWarper
 *
 * A stage removes a token by setting its logit to -inf; every truncating
 * stage keeps at least one token, as HF's min_tokens_to_keep = 1 does.  Ties
 * go to the lower token id throughout.  The arithmetic is in double, so a
 * temperature of 1e-5 neither overflows nor turns into NaN.
 *
 * The random draw for a position is a uniform in [0,1) computed from
 * (seed, seq, pos) alone by splitmix64 steps: the same seed gives the same
 * tokens whatever the thread count or the order records arrive in.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cl.h"

/* A candidate token for the selection heap. */
struct cand {
	double key; /* larger is better */
	int32_t id;
};

struct cl_sampler {
	struct cl_sampler_params p;
	int32_t n_vocab;
	int has_penalties;      /* the chain holds CL_SAMPLER_PENALTIES */
	double *model;          /* (n_vocab) logits after penalties and bias */
	double *work;           /* (n_vocab) logits as the chain transforms them */
	int32_t *count;         /* (n_vocab) history counts; all zero between calls */
	struct cand *heap;      /* (n_vocab) */
};

static const struct {
	const char *name;
	enum cl_sampler_stage stage;
} stage_names[] = {
	{"penalties", CL_SAMPLER_PENALTIES}, {"temperature", CL_SAMPLER_TEMPERATURE},
	{"top_k", CL_SAMPLER_TOP_K},         {"top_p", CL_SAMPLER_TOP_P},
	{"min_p", CL_SAMPLER_MIN_P},         {"typical_p", CL_SAMPLER_TYPICAL_P},
};
#define N_STAGE_NAMES (sizeof stage_names / sizeof stage_names[0])

void cl_sampler_params_init(struct cl_sampler_params *p)
{
	memset(p, 0, sizeof *p);
	p->temperature = 1;
	p->top_k = 0;
	p->top_p = 1;
	p->min_p = 0;
	p->typical_p = 1;
	p->repetition_penalty = 1;
	p->seed = 0;
	/* HF's order: logits processors first, then the warpers as
	 * GenerationMixin._get_logits_processor appends them. */
	p->n_stages = (int32_t)N_STAGE_NAMES;
	for (size_t i = 0; i < N_STAGE_NAMES; i++)
		p->stages[i] = stage_names[i].stage;
}

/* Stage names are accepted with '-' or '_' ("top-k" or "top_k"). */
static int stage_lookup(const char *s, size_t n, enum cl_sampler_stage *out)
{
	for (size_t i = 0; i < N_STAGE_NAMES; i++) {
		const char *name = stage_names[i].name;
		if (strlen(name) != n)
			continue;
		size_t j;
		for (j = 0; j < n; j++)
			if (s[j] != name[j] && !(s[j] == '-' && name[j] == '_'))
				break;
		if (j == n) {
			*out = stage_names[i].stage;
			return 0;
		}
	}
	return -1;
}

int cl_sampler_parse_chain(const char *s, struct cl_sampler_params *p)
{
	enum cl_sampler_stage st[CL_SAMPLER_MAX_STAGES];
	int n = 0;
	const char *q = s;
	for (;;) {
		size_t len = strcspn(q, ",");
		enum cl_sampler_stage x;
		if (len == 0 || stage_lookup(q, len, &x) != 0) {
			cl_error(CL_ERR_RANGE, "sampler chain: '%.*s': expected one of penalties, "
				 "temperature, top_k, top_p, min_p, typical_p", (int)len, q);
			return -1;
		}
		for (int i = 0; i < n; i++)
			if (st[i] == x) {
				cl_error(CL_ERR_RANGE, "sampler chain: '%.*s' appears twice", (int)len, q);
				return -1;
			}
		st[n++] = x; /* at most N_STAGE_NAMES distinct, below the maximum */
		q += len;
		if (*q == 0)
			break;
		q++;
	}
	p->n_stages = n;
	memcpy(p->stages, st, (size_t)n * sizeof st[0]);
	return 0;
}

static enum cl_status check_params(const struct cl_sampler_params *p, int32_t n_vocab)
{
	if (n_vocab <= 0)
		return cl_error(CL_ERR_RANGE, "sampler: vocabulary size %d: expected a positive number",
				(int)n_vocab);
	if (!(p->temperature >= 0 && isfinite(p->temperature)))
		return cl_error(CL_ERR_RANGE, "sampler: temperature %g: expected a finite number >= 0",
				p->temperature);
	if (p->top_k < 0)
		return cl_error(CL_ERR_RANGE, "sampler: top_k %d: expected >= 0", (int)p->top_k);
	if (!(p->top_p >= 0 && p->top_p <= 1))
		return cl_error(CL_ERR_RANGE, "sampler: top_p %g: expected 0 to 1", p->top_p);
	if (!(p->min_p >= 0 && p->min_p <= 1))
		return cl_error(CL_ERR_RANGE, "sampler: min_p %g: expected 0 to 1", p->min_p);
	if (!(p->typical_p >= 0 && p->typical_p <= 1))
		return cl_error(CL_ERR_RANGE, "sampler: typical_p %g: expected 0 to 1", p->typical_p);
	if (!(p->repetition_penalty > 0 && isfinite(p->repetition_penalty)))
		return cl_error(CL_ERR_RANGE, "sampler: repetition_penalty %g: expected a number > 0",
				p->repetition_penalty);
	if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty))
		return cl_error(CL_ERR_RANGE, "sampler: presence and frequency penalties must be finite");
	if (p->n_bias < 0 || p->n_bias > CL_SAMPLER_MAX_BIAS)
		return cl_error(CL_ERR_RANGE, "sampler: %d logit biases: expected 0 to %d",
				(int)p->n_bias, CL_SAMPLER_MAX_BIAS);
	for (int i = 0; i < p->n_bias; i++) {
		if (p->bias_token[i] < 0 || p->bias_token[i] >= n_vocab)
			return cl_error(CL_ERR_RANGE, "sampler: logit bias: token %d is outside the "
					"vocabulary of %d", (int)p->bias_token[i], (int)n_vocab);
		/* -inf bans a token; +inf or NaN would make every probability NaN. */
		if (isnan(p->bias_value[i]) || p->bias_value[i] == INFINITY)
			return cl_error(CL_ERR_RANGE, "sampler: logit bias of token %d: %g: expected "
					"a finite number or -inf", (int)p->bias_token[i], p->bias_value[i]);
	}
	if (p->n_stages < 0 || p->n_stages > CL_SAMPLER_MAX_STAGES)
		return cl_error(CL_ERR_RANGE, "sampler: %d stages: expected 0 to %d", (int)p->n_stages,
				CL_SAMPLER_MAX_STAGES);
	for (int i = 0; i < p->n_stages; i++)
		if (p->stages[i] < CL_SAMPLER_PENALTIES || p->stages[i] > CL_SAMPLER_TEMPERATURE)
			return cl_error(CL_ERR_RANGE, "sampler: stage %d: unknown kind %d", i,
					(int)p->stages[i]);
	return CL_OK;
}

enum cl_status cl_sampler_new(const struct cl_sampler_params *p, int32_t n_vocab, struct cl_sampler **out)
{
	*out = NULL;
	enum cl_status st = check_params(p, n_vocab);
	if (st)
		return st;
	struct cl_sampler *s = calloc(1, sizeof *s);
	if (!s)
		return cl_error(CL_ERR_NOMEM, "sampler: out of memory");
	s->p = *p;
	s->n_vocab = n_vocab;
	for (int i = 0; i < p->n_stages; i++)
		if (p->stages[i] == CL_SAMPLER_PENALTIES)
			s->has_penalties = 1;
	size_t n = (size_t)n_vocab;
	s->model = malloc(n * sizeof *s->model);
	s->work = malloc(n * sizeof *s->work);
	s->count = calloc(n, sizeof *s->count);
	s->heap = malloc(n * sizeof *s->heap);
	if (!s->model || !s->work || !s->count || !s->heap) {
		cl_sampler_free(s);
		return cl_error(CL_ERR_NOMEM, "sampler: out of memory for a vocabulary of %d", (int)n_vocab);
	}
	*out = s;
	return CL_OK;
}

void cl_sampler_free(struct cl_sampler *s)
{
	if (!s)
		return;
	free(s->model);
	free(s->work);
	free(s->count);
	free(s->heap);
	free(s);
}

/* ------------------------------------------------------------ the draw --- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Chained so that (seed, seq, pos) tuples that differ anywhere give
 * unrelated streams; a plain XOR of the three would make (s, a, b) and
 * (s, b, a) collide. */
static double draw_uniform(uint64_t seed, uint32_t seq, uint32_t pos)
{
	uint64_t x = splitmix64(seed);
	x = splitmix64(x ^ ((uint64_t)seq << 32 | pos));
	x = splitmix64(x ^ 0x632d73616d706c65ULL); /* one more round: "c-sample" */
	return (double)(x >> 11) * 0x1p-53;
}

/* ---------------------------------------------------- candidate heap --- */

/* a before b: larger key, then lower id. */
static int cand_before(const struct cand *a, const struct cand *b)
{
	return a->key > b->key || (a->key == b->key && a->id < b->id);
}

static void heap_down(struct cand *h, size_t n, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, best = i;
		if (l < n && cand_before(&h[l], &h[best]))
			best = l;
		if (r < n && cand_before(&h[r], &h[best]))
			best = r;
		if (best == i)
			return;
		struct cand t = h[i];
		h[i] = h[best];
		h[best] = t;
		i = best;
	}
}

static void heap_make(struct cand *h, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		heap_down(h, n, i);
}

/* Remove the best candidate into *out; the heap shrinks to n - 1. */
static void heap_pop(struct cand *h, size_t *n, struct cand *out)
{
	*out = h[0];
	h[0] = h[--*n];
	heap_down(h, *n, 0);
}

/* The finite logits of x as candidates keyed by logit; returns their count. */
static size_t gather(struct cl_sampler *s, const double *x)
{
	size_t n = 0;
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (x[i] > -INFINITY) {
			s->heap[n].key = x[i];
			s->heap[n].id = i;
			n++;
		}
	return n;
}

/* max of x, and sum of exp(x - max) over it (0 when all are -inf). */
static double softmax_sum(const double *x, int32_t n, double *max)
{
	double m = -INFINITY, sum = 0;
	for (int32_t i = 0; i < n; i++)
		if (x[i] > m)
			m = x[i];
	if (m > -INFINITY)
		for (int32_t i = 0; i < n; i++)
			sum += exp(x[i] - m);
	*max = m;
	return sum;
}

/* ------------------------------------------------------------- stages --- */

static void apply_penalties(struct cl_sampler *s, double *x, const int32_t *hist, size_t nh)
{
	const struct cl_sampler_params *p = &s->p;
	if (p->repetition_penalty != 1 || p->presence_penalty != 0 || p->frequency_penalty != 0) {
		for (size_t i = 0; i < nh; i++)
			if (hist[i] >= 0 && hist[i] < s->n_vocab)
				s->count[hist[i]]++;
		/* Each distinct token once; zeroing its count marks it done and
		 * leaves the counts clean for the next call. */
		for (size_t i = 0; i < nh; i++) {
			int32_t t = hist[i];
			if (t < 0 || t >= s->n_vocab || s->count[t] == 0)
				continue;
			double c = s->count[t], v = x[t];
			if (p->repetition_penalty != 1)
				v = v < 0 ? v * p->repetition_penalty : v / p->repetition_penalty;
			v -= p->presence_penalty + p->frequency_penalty * c;
			x[t] = v;
			s->count[t] = 0;
		}
	}
	for (int i = 0; i < p->n_bias; i++)
		x[p->bias_token[i]] += p->bias_value[i];
}

static void apply_top_k(struct cl_sampler *s, double *x)
{
	size_t n = gather(s, x), k = (size_t)s->p.top_k;
	if (k == 0 || k >= n)
		return;
	heap_make(s->heap, n);
	struct cand c;
	for (size_t i = 0; i < k; i++)
		heap_pop(s->heap, &n, &c);
	/* HF removes only what is below the k-th value: ties with it stay. */
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (x[i] < c.key)
			x[i] = -INFINITY;
}

static void apply_top_p(struct cl_sampler *s, double *x)
{
	double m, sum = softmax_sum(x, s->n_vocab, &m);
	if (s->p.top_p >= 1 || sum == 0)
		return;
	size_t n = gather(s, x);
	heap_make(s->heap, n);
	/* Best first, a token stays while the mass before it is below top_p:
	 * HF's "cumulative ascending mass <= 1 - top_p is removed".  The best
	 * token always stays. */
	double before = 0, top_p = s->p.top_p;
	struct cand c;
	do {
		heap_pop(s->heap, &n, &c);
		before += exp(c.key - m) / sum;
	} while (n > 0 && before < top_p);
	for (size_t i = 0; i < n; i++)
		x[s->heap[i].id] = -INFINITY;
}

static void apply_min_p(struct cl_sampler *s, double *x)
{
	double m = -INFINITY;
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (x[i] > m)
			m = x[i];
	if (s->p.min_p <= 0 || m == -INFINITY)
		return;
	/* p_i / p_max = exp(x_i - max); the best token has ratio 1 and stays. */
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (exp(x[i] - m) < s->p.min_p)
			x[i] = -INFINITY;
}

static void apply_typical_p(struct cl_sampler *s, double *x)
{
	double m, sum = softmax_sum(x, s->n_vocab, &m);
	if (s->p.typical_p >= 1 || sum == 0)
		return;
	double lse = m + log(sum), ent = 0;
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (x[i] > -INFINITY) {
			double lp = x[i] - lse;
			ent -= lp * exp(lp);
		}
	/* Candidates keyed by -|(-log p) - H|: the most typical first. */
	size_t n = 0;
	for (int32_t i = 0; i < s->n_vocab; i++)
		if (x[i] > -INFINITY) {
			s->heap[n].key = -fabs(-(x[i] - lse) - ent);
			s->heap[n].id = i;
			n++;
		}
	heap_make(s->heap, n);
	/* HF: last_ind = how many have cumulative mass < typical_p; the score at
	 * last_ind is the threshold, and every token at or under it stays. */
	double cum = 0;
	struct cand c;
	do {
		heap_pop(s->heap, &n, &c);
		cum += exp(x[c.id] - lse);
	} while (n > 0 && cum < s->p.typical_p);
	for (size_t i = 0; i < n; i++)
		if (s->heap[i].key < c.key)
			x[s->heap[i].id] = -INFINITY;
}

/* ------------------------------------------------------------ sampling --- */

static int32_t argmax(const double *x, int32_t n)
{
	int32_t best = 0;
	for (int32_t i = 1; i < n; i++)
		if (x[i] > x[best])
			best = i;
	return best;
}

/* The n_alts best of the model distribution, best first (insertion into a
 * short sorted list: n_alts is small). */
static int best_alts(const struct cl_sampler *s, double lse, struct cl_alt *alts, int n_alts)
{
	int n = 0;
	const double *x = s->model;
	if (n_alts > s->n_vocab)
		n_alts = s->n_vocab;
	for (int32_t i = 0; i < s->n_vocab && n_alts > 0; i++) {
		if (!(x[i] > -INFINITY))
			continue;
		if (n == n_alts && x[i] <= x[alts[n - 1].token])
			continue;
		int j = n < n_alts ? n++ : n - 1;
		/* Strictly greater moves up: an equal earlier id keeps its place. */
		while (j > 0 && x[i] > x[alts[j - 1].token]) {
			alts[j] = alts[j - 1];
			j--;
		}
		alts[j].token = i;
	}
	for (int j = 0; j < n; j++)
		alts[j].logprob = (float)(x[alts[j].token] - lse);
	return n;
}

int32_t cl_sampler_sample(struct cl_sampler *s, const float *logits, const int32_t *history,
			  size_t n_history, uint32_t seq, uint32_t pos, float *logprob,
			  struct cl_alt *alts, int n_alts, int *n_alts_out)
{
	const struct cl_sampler_params *p = &s->p;
	int32_t nv = s->n_vocab;

	/* NaN is treated as -inf: a broken logit is never chosen.  +inf becomes
	 * FLT_MAX, which stays finite in double even divided by a tiny
	 * temperature, so the softmax never sees inf - inf. */
	for (int32_t i = 0; i < nv; i++) {
		float v = logits[i];
		s->work[i] = isnan(v) ? -INFINITY : v == INFINITY ? FLT_MAX : (double)v;
	}
	memcpy(s->model, s->work, (size_t)nv * sizeof *s->model);
	if (s->has_penalties)
		apply_penalties(s, s->model, history, n_history);
	double m, sum = softmax_sum(s->model, nv, &m);
	double lse = sum > 0 ? m + log(sum) : INFINITY;

	int32_t tok;
	if (p->temperature == 0 || sum == 0) {
		/* Greedy, as HF: processors (penalties) apply, warpers do not. */
		tok = argmax(s->model, nv);
	} else {
		for (int i = 0; i < p->n_stages; i++) {
			double *x = s->work;
			switch (p->stages[i]) {
			case CL_SAMPLER_PENALTIES: apply_penalties(s, x, history, n_history); break;
			case CL_SAMPLER_TEMPERATURE:
				for (int32_t j = 0; j < nv; j++)
					x[j] /= p->temperature;
				break;
			case CL_SAMPLER_TOP_K: apply_top_k(s, x); break;
			case CL_SAMPLER_TOP_P: apply_top_p(s, x); break;
			case CL_SAMPLER_MIN_P: apply_min_p(s, x); break;
			case CL_SAMPLER_TYPICAL_P: apply_typical_p(s, x); break;
			}
		}
		/* One pass of exp: work becomes the unnormalised probabilities,
		 * and the draw walks their running sum in id order. */
		double *x = s->work, wm = -INFINITY, wsum = 0;
		for (int32_t i = 0; i < nv; i++)
			if (x[i] > wm)
				wm = x[i];
		for (int32_t i = 0; i < nv; i++)
			wsum += x[i] = exp(x[i] - wm);
		/* The stages keep at least one token, so wsum > 0 here. */
		double target = draw_uniform(p->seed, seq, pos) * wsum, acc = 0;
		tok = 0;
		for (int32_t i = 0; i < nv; i++) {
			if (x[i] == 0)
				continue;
			/* The last possible token catches rounding at the top. */
			tok = i;
			acc += x[i];
			if (acc > target)
				break;
		}
	}
	if (logprob)
		*logprob = (float)(s->model[tok] - lse);
	int na = 0;
	if (alts && n_alts > 0)
		na = best_alts(s, lse, alts, n_alts);
	if (n_alts_out)
		*n_alts_out = na;
	return tok;
}
