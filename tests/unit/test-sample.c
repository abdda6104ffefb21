/*
 * test-sample.c - the sampler against the distributions each control should
 * give.  Each statistical case draws 20,000 tokens from fixed logits (the
 * position varies the draw) and compares the counts with the expected
 * probabilities by Pearson's chi-square; the p-value is the regularized upper
 * incomplete gamma function Q(df/2, x/2), computed here by its series and its
 * continued fraction (exact, not an approximation), and a case passes when
 * p > 0.001.  The draws are deterministic (seeded), so a case either always
 * passes or always fails.
 *
 * The kept sets of top_p, min_p and typical_p were taken from a line-by-line
 * transcription of Hugging Face's TopPLogitsWarper, MinPLogitsWarper and
 * TypicalLogitsWarper in torch over the logits L below.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cl.h"
#include "t.h"

#define NV 8
#define NDRAW 20000

/* probabilities: 0.0710 0.1929 0.0431 0.0096 0.5245 0.0261 0.1170 0.0158 */
static const float L[NV] = {1.0f, 2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 1.5f, -0.5f};

/* Q(a, x) = Γ(a, x) / Γ(a): series for x < a + 1, Lentz's continued
 * fraction otherwise (Numerical Recipes' gser/gcf, rewritten). */
static double gamma_q(double a, double x)
{
	if (x <= 0)
		return 1;
	double lead = -x + a * log(x) - lgamma(a);
	if (x < a + 1) {
		double ap = a, sum = 1 / a, del = sum;
		for (int n = 0; n < 1000; n++) {
			ap += 1;
			del *= x / ap;
			sum += del;
			if (fabs(del) < fabs(sum) * 1e-15)
				break;
		}
		return 1 - sum * exp(lead);
	}
	double b = x + 1 - a, c = 1 / 1e-300, d = 1 / b, h = d;
	for (int i = 1; i < 1000; i++) {
		double an = -i * (i - a);
		b += 2;
		d = an * d + b;
		if (fabs(d) < 1e-300)
			d = 1e-300;
		c = b + an / c;
		if (fabs(c) < 1e-300)
			c = 1e-300;
		d = 1 / d;
		double del = d * c;
		h *= del;
		if (fabs(del - 1) < 1e-15)
			break;
	}
	return exp(lead) * h;
}

/* p ∝ exp(x / t) over the finite x. */
static void softmax_t(const float *x, double t, double *p)
{
	double m = -INFINITY, sum = 0;
	for (int i = 0; i < NV; i++)
		if (x[i] > m)
			m = x[i];
	for (int i = 0; i < NV; i++)
		sum += p[i] = x[i] > -INFINITY ? exp((x[i] - m) / t) : 0;
	for (int i = 0; i < NV; i++)
		p[i] /= sum;
}

/* Softmax of L restricted to the tokens in `keep` (a bit mask), at t. */
static void expect_kept(unsigned keep, double t, double *p)
{
	float x[NV];
	for (int i = 0; i < NV; i++)
		x[i] = keep >> i & 1 ? L[i] : -INFINITY;
	softmax_t(x, t, p);
}

static void draw(struct cl_sampler *s, const float *logits, const int32_t *hist, size_t nh,
		 long *count)
{
	memset(count, 0, NV * sizeof *count);
	for (uint32_t pos = 0; pos < NDRAW; pos++) {
		int32_t t = cl_sampler_sample(s, logits, hist, nh, 7, pos, NULL, NULL, 0, NULL);
		if (t >= 0 && t < NV)
			count[t]++;
	}
}

/* One statistical case: draws with params p and checks them against expect. */
static void check_dist(const char *name, const struct cl_sampler_params *p, const float *logits,
		       const int32_t *hist, size_t nh, const double *expect)
{
	struct cl_sampler *s;
	long count[NV];
	t_begin(name);
	enum cl_status st = cl_sampler_new(p, NV, &s);
	T_CHECK(st == CL_OK, "cl_sampler_new: %s", cl_errmsg());
	if (st) {
		t_end();
		return;
	}
	draw(s, logits, hist, nh, count);
	double chi = 0;
	int k = 0;
	for (int i = 0; i < NV; i++) {
		if (expect[i] == 0) {
			T_CHECK(count[i] == 0, "token %d has probability 0 but was drawn %ld times", i,
				count[i]);
			continue;
		}
		double e = expect[i] * NDRAW;
		chi += (count[i] - e) * (count[i] - e) / e;
		k++;
	}
	if (k > 1) {
		double pv = gamma_q((k - 1) / 2.0, chi / 2);
		T_CHECK(pv > 0.001, "chi-square %.2f with %d degrees of freedom: p = %.2g", chi, k - 1, pv);
	} else {
		T_CHECK(k == 1, "no token expected");
	}
	cl_sampler_free(s);
	t_end();
}

/* Every draw of a case gives `want`. */
static void check_always(const char *name, const struct cl_sampler_params *p, const float *logits,
			 int32_t want)
{
	struct cl_sampler *s;
	t_begin(name);
	enum cl_status st = cl_sampler_new(p, NV, &s);
	T_CHECK(st == CL_OK, "cl_sampler_new: %s", cl_errmsg());
	if (st) {
		t_end();
		return;
	}
	long count[NV];
	draw(s, logits, NULL, 0, count);
	T_CHECK(count[want] == NDRAW, "token %d drawn %ld of %d times", (int)want, count[want], NDRAW);
	cl_sampler_free(s);
	t_end();
}

static void test_gamma(void)
{
	t_begin("the chi-square p-value agrees with known quantiles");
	/* chi2.sf: df 1 at 3.841 -> 0.05; df 7 at 24.32 -> 0.001; df 3 at 0.5844 -> 0.9 */
	T_CHECK(fabs(gamma_q(0.5, 3.841459 / 2) - 0.05) < 1e-5, "df 1: %g", gamma_q(0.5, 3.841459 / 2));
	T_CHECK(fabs(gamma_q(3.5, 24.321886 / 2) - 0.001) < 1e-6, "df 7: %g", gamma_q(3.5, 24.321886 / 2));
	T_CHECK(fabs(gamma_q(1.5, 0.584375 / 2) - 0.9) < 1e-5, "df 3: %g", gamma_q(1.5, 0.584375 / 2));
	t_end();
}

static void test_distributions(void)
{
	struct cl_sampler_params p;
	double e[NV];

	cl_sampler_params_init(&p);
	softmax_t(L, 1, e);
	check_dist("plain sampling draws each token with its softmax probability", &p, L, NULL, 0, e);

	p.temperature = 0.5f;
	softmax_t(L, 0.5, e);
	check_dist("temperature 0.5 samples softmax(logits / 0.5)", &p, L, NULL, 0, e);
	p.temperature = 2;
	softmax_t(L, 2, e);
	check_dist("temperature 2 samples softmax(logits / 2)", &p, L, NULL, 0, e);

	cl_sampler_params_init(&p);
	p.top_k = 3;
	expect_kept(1u << 4 | 1u << 1 | 1u << 6, 1, e);
	check_dist("top_k 3 samples among the three best, renormalised", &p, L, NULL, 0, e);

	cl_sampler_params_init(&p);
	p.top_p = 0.8f;
	expect_kept(1u << 1 | 1u << 4 | 1u << 6, 1, e);
	check_dist("top_p 0.8 keeps the smallest best-first set reaching 0.8 (HF)", &p, L, NULL, 0, e);
	p.top_p = 0.9f;
	expect_kept(1u << 0 | 1u << 1 | 1u << 4 | 1u << 6, 1, e);
	check_dist("top_p 0.9 keeps four tokens as HF's TopPLogitsWarper does", &p, L, NULL, 0, e);

	cl_sampler_params_init(&p);
	p.min_p = 0.1f;
	expect_kept(1u << 0 | 1u << 1 | 1u << 4 | 1u << 6, 1, e);
	check_dist("min_p 0.1 keeps tokens with p >= 0.1 p_max", &p, L, NULL, 0, e);
	p.min_p = 0.2f;
	expect_kept(1u << 1 | 1u << 4 | 1u << 6, 1, e);
	check_dist("min_p 0.2 keeps tokens with p >= 0.2 p_max", &p, L, NULL, 0, e);

	cl_sampler_params_init(&p);
	p.typical_p = 0.2f;
	expect_kept(1u << 1 | 1u << 6, 1, e);
	check_dist("typical_p 0.2 keeps the most typical tokens, not the argmax (HF)", &p, L, NULL, 0, e);
	p.typical_p = 0.5f;
	expect_kept(1u << 1 | 1u << 4 | 1u << 6, 1, e);
	check_dist("typical_p 0.5 keeps what HF's TypicalLogitsWarper keeps", &p, L, NULL, 0, e);
	p.temperature = 2;
	expect_kept(1u << 0 | 1u << 1 | 1u << 2 | 1u << 6, 2, e);
	check_dist("temperature applies before typical_p in the default chain", &p, L, NULL, 0, e);

	/* Repetition penalty 1.5 over history {4, 4, 3, 0}: each distinct token
	 * once, positive logits divided, negative ones multiplied. */
	static const int32_t hist[] = {4, 4, 3, 0};
	float x[NV];
	memcpy(x, L, sizeof x);
	x[4] = 3.0f / 1.5f, x[3] = -1.0f * 1.5f, x[0] = 1.0f / 1.5f;
	cl_sampler_params_init(&p);
	p.repetition_penalty = 1.5f;
	softmax_t(x, 1, e);
	check_dist("repetition penalty 1.5 divides positive and multiplies negative logits once",
		   &p, L, hist, 4, e);

	/* presence 0.5, frequency 0.25: token 4 (twice) -1.0, 3 and 0 (once) -0.75 */
	memcpy(x, L, sizeof x);
	x[4] -= 0.5f + 0.25f * 2, x[3] -= 0.75f, x[0] -= 0.75f;
	cl_sampler_params_init(&p);
	p.presence_penalty = 0.5f;
	p.frequency_penalty = 0.25f;
	softmax_t(x, 1, e);
	check_dist("presence and frequency penalties subtract p + f * count", &p, L, hist, 4, e);

	memcpy(x, L, sizeof x);
	x[2] += 2, x[5] = -INFINITY;
	cl_sampler_params_init(&p);
	p.n_bias = 2;
	p.bias_token[0] = 2, p.bias_value[0] = 2;
	p.bias_token[1] = 5, p.bias_value[1] = -INFINITY;
	softmax_t(x, 1, e);
	check_dist("logit bias adds to a logit, and -inf bans the token", &p, L, NULL, 0, e);
}

static void test_edges(void)
{
	struct cl_sampler_params p;
	double e[NV];

	/* top_p 1.0 is a no-op: the very same tokens as plain sampling. */
	struct cl_sampler *a, *b;
	struct cl_sampler_params q;
	cl_sampler_params_init(&p);
	cl_sampler_params_init(&q);
	q.top_p = 1;
	t_begin("top_p 1.0 changes nothing");
	if (cl_sampler_new(&p, NV, &a) == CL_OK && cl_sampler_new(&q, NV, &b) == CL_OK) {
		int same = 0;
		for (uint32_t pos = 0; pos < 2000; pos++)
			same += cl_sampler_sample(a, L, NULL, 0, 0, pos, NULL, NULL, 0, NULL) ==
				cl_sampler_sample(b, L, NULL, 0, 0, pos, NULL, NULL, 0, NULL);
		T_CHECK(same == 2000, "%d of 2000 draws agree", same);
		cl_sampler_free(a);
		cl_sampler_free(b);
	} else {
		T_CHECK(0, "cl_sampler_new: %s", cl_errmsg());
	}
	t_end();

	cl_sampler_params_init(&p);
	p.top_p = 1e-6f;
	check_always("a tiny top_p keeps only the top token", &p, L, 4);
	cl_sampler_params_init(&p);
	p.top_k = 1;
	check_always("top_k 1 is argmax", &p, L, 4);
	cl_sampler_params_init(&p);
	p.temperature = 1e-5f;
	check_always("temperature 1e-5 is argmax", &p, L, 4);
	cl_sampler_params_init(&p);
	p.temperature = 0;
	p.top_k = 5, p.typical_p = 0.2f;
	check_always("temperature 0 is greedy and ignores the warpers (HF)", &p, L, 4);

	static const float tie[NV] = {1, 5, 5, 2, -INFINITY, 0, 5, 1};
	cl_sampler_params_init(&p);
	p.temperature = 0;
	check_always("greedy breaks ties toward the lowest id", &p, tie, 1);

	static const float flat[NV] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
	cl_sampler_params_init(&p);
	for (int i = 0; i < NV; i++)
		e[i] = 1.0 / NV;
	check_dist("all-equal logits sample uniformly", &p, flat, NULL, 0, e);

	float x[NV];
	memcpy(x, L, sizeof x);
	x[4] = -INFINITY, x[1] = -INFINITY, x[7] = NAN;
	softmax_t((float[NV]){L[0], -INFINITY, L[2], L[3], -INFINITY, L[5], L[6], -INFINITY}, 1, e);
	cl_sampler_params_init(&p);
	check_dist("-inf and NaN logits are never chosen", &p, x, NULL, 0, e);

	t_begin("all -inf logits give the lowest id with log-probability -inf");
	float dead[NV];
	for (int i = 0; i < NV; i++)
		dead[i] = -INFINITY;
	dead[3] = NAN;
	cl_sampler_params_init(&p);
	p.top_k = 2, p.top_p = 0.5f, p.min_p = 0.1f, p.typical_p = 0.5f;
	if (cl_sampler_new(&p, NV, &a) == CL_OK) {
		float lp = 0;
		struct cl_alt alt[4];
		int na = -1;
		int32_t t = cl_sampler_sample(a, dead, NULL, 0, 0, 0, &lp, alt, 4, &na);
		T_CHECK(t == 0, "token %d", (int)t);
		T_CHECK(isinf(lp) && lp < 0, "logprob %g", lp);
		T_CHECK(na == 0, "%d alternatives", na);
		cl_sampler_free(a);
	} else {
		T_CHECK(0, "cl_sampler_new: %s", cl_errmsg());
	}
	t_end();
}

static void test_determinism(void)
{
	struct cl_sampler_params p;
	struct cl_sampler *a, *b, *c;
	static const float flat[NV] = {0};
	cl_sampler_params_init(&p);
	p.seed = 42;
	if (cl_sampler_new(&p, NV, &a) || cl_sampler_new(&p, NV, &b))
		return;
	p.seed = 43;
	if (cl_sampler_new(&p, NV, &c))
		return;

	t_begin("the same (seed, seq, pos) gives the same token in any order of calls");
	int32_t fwd[1000];
	for (uint32_t pos = 0; pos < 1000; pos++)
		fwd[pos] = cl_sampler_sample(a, flat, NULL, 0, 3, pos, NULL, NULL, 0, NULL);
	for (uint32_t pos = 1000; pos-- > 0;) {
		int32_t t = cl_sampler_sample(b, flat, NULL, 0, 3, pos, NULL, NULL, 0, NULL);
		T_CHECK(t == fwd[pos], "pos %u: %d then %d", pos, (int)fwd[pos], (int)t);
	}
	t_end();

	t_begin("different seeds, or different sequences, draw differently");
	int dseed = 0, dseq = 0;
	for (uint32_t pos = 0; pos < 1000; pos++) {
		dseed += cl_sampler_sample(c, flat, NULL, 0, 3, pos, NULL, NULL, 0, NULL) != fwd[pos];
		dseq += cl_sampler_sample(a, flat, NULL, 0, 4, pos, NULL, NULL, 0, NULL) != fwd[pos];
	}
	/* Independent uniform draws over 8 tokens differ 7/8 of the time. */
	T_CHECK(dseed > 800 && dseed < 950, "seeds 42 and 43 differ at %d of 1000", dseed);
	T_CHECK(dseq > 800 && dseq < 950, "sequences 3 and 4 differ at %d of 1000", dseq);
	t_end();
	cl_sampler_free(a);
	cl_sampler_free(b);
	cl_sampler_free(c);
}

static void test_logprobs(void)
{
	struct cl_sampler_params p;
	struct cl_sampler *s;
	cl_sampler_params_init(&p);
	p.temperature = 0.3f, p.top_k = 2; /* neither changes the logprobs */
	p.repetition_penalty = 2;          /* this does */
	p.n_bias = 1, p.bias_token[0] = 7, p.bias_value[0] = 3.5f;
	static const int32_t hist[] = {4};
	t_begin("logprobs are the log-softmax after penalties and bias, alternatives best first");
	if (cl_sampler_new(&p, NV, &s)) {
		T_CHECK(0, "cl_sampler_new: %s", cl_errmsg());
		t_end();
		return;
	}
	/* After: L4 = 1.5, L7 = 3.0; best first 7 (3.0), 1 (2.0), then 4 and 6
	 * tie at 1.5: the lower id first. */
	float x[NV];
	memcpy(x, L, sizeof x);
	x[4] = 1.5f, x[7] = 3.0f;
	double e[NV];
	softmax_t(x, 1, e);
	struct cl_alt alt[NV]; /* room for every token: the last call asks for 100 */
	int na = 0;
	float lp;
	for (uint32_t pos = 0; pos < 50; pos++) {
		int32_t t = cl_sampler_sample(s, L, hist, 1, 0, pos, &lp, alt, 5, &na);
		T_CHECK(t == 7 || t == 1, "token %d outside top_k 2", (int)t);
		T_CHECK(fabs(lp - log(e[t])) < 1e-5, "token %d: logprob %g, expected %g", (int)t, lp,
			log(e[t]));
	}
	static const int32_t order[5] = {7, 1, 4, 6, 0};
	T_CHECK(na == 5, "%d alternatives", na);
	for (int i = 0; i < na; i++) {
		T_CHECK(alt[i].token == order[i], "alternative %d: token %d, expected %d", i,
			(int)alt[i].token, (int)order[i]);
		T_CHECK(fabs(alt[i].logprob - log(e[order[i]])) < 1e-5, "alternative %d: logprob %g", i,
			alt[i].logprob);
	}
	int32_t t = cl_sampler_sample(s, L, hist, 1, 0, 0, &lp, alt, 100, &na);
	T_CHECK(na == NV, "asking for 100 alternatives of 8 gives %d", na);
	(void)t;
	cl_sampler_free(s);
	t_end();
}

static void test_params(void)
{
	struct cl_sampler_params p;
	struct cl_sampler *s = NULL;

	t_begin("the chain parses stage names and refuses unknown or repeated ones");
	cl_sampler_params_init(&p);
	T_CHECK(p.n_stages == 6 && p.stages[0] == CL_SAMPLER_PENALTIES &&
			p.stages[1] == CL_SAMPLER_TEMPERATURE && p.stages[5] == CL_SAMPLER_TYPICAL_P,
		"default chain");
	T_CHECK(cl_sampler_parse_chain("top_k,top-p,temperature", &p) == 0, "%s", cl_errmsg());
	T_CHECK(p.n_stages == 3 && p.stages[0] == CL_SAMPLER_TOP_K && p.stages[1] == CL_SAMPLER_TOP_P &&
			p.stages[2] == CL_SAMPLER_TEMPERATURE,
		"parsed chain");
	T_CHECK(cl_sampler_parse_chain("top_k,bogus", &p) != 0, "bogus accepted");
	T_CHECK(strstr(cl_errmsg(), "bogus") != NULL, "message: %s", cl_errmsg());
	T_CHECK(cl_sampler_parse_chain("top_k,top_k", &p) != 0, "repeat accepted");
	T_CHECK(cl_sampler_parse_chain("", &p) != 0, "empty accepted");
	T_CHECK(cl_sampler_parse_chain("top_k,", &p) != 0, "trailing comma accepted");
	T_CHECK(p.n_stages == 3, "a failed parse changed the chain");
	t_end();

	t_begin("out-of-range parameters are refused with CL_ERR_RANGE");
	cl_sampler_params_init(&p);
	p.top_p = 1.5f;
	T_CHECK(cl_sampler_new(&p, NV, &s) == CL_ERR_RANGE && s == NULL, "top_p 1.5");
	cl_sampler_params_init(&p);
	p.temperature = -1;
	T_CHECK(cl_sampler_new(&p, NV, &s) == CL_ERR_RANGE, "temperature -1");
	cl_sampler_params_init(&p);
	p.repetition_penalty = 0;
	T_CHECK(cl_sampler_new(&p, NV, &s) == CL_ERR_RANGE, "repetition penalty 0");
	cl_sampler_params_init(&p);
	p.n_bias = 1, p.bias_token[0] = NV, p.bias_value[0] = 1;
	T_CHECK(cl_sampler_new(&p, NV, &s) == CL_ERR_RANGE, "bias token out of range");
	p.bias_token[0] = 0, p.bias_value[0] = INFINITY;
	T_CHECK(cl_sampler_new(&p, NV, &s) == CL_ERR_RANGE, "bias +inf");
	cl_sampler_params_init(&p);
	T_CHECK(cl_sampler_new(&p, 0, &s) == CL_ERR_RANGE, "empty vocabulary");
	cl_sampler_free(NULL);
	t_end();
}

int main(void)
{
	test_gamma();
	test_distributions();
	test_edges();
	test_determinism();
	test_logprobs();
	test_params();
	return t_exit();
}
