/*
 * t.h - the unit-test helper.  A test is a named case (a sentence) holding any
 * number of checks; it prints "ok - NAME", "not ok - NAME" (with the first few
 * failed checks) or "skip - NAME: why".  tests/run counts those lines.
 */
#ifndef CL_T_H
#define CL_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *t_name;
static int t_bad, t_nfail, t_shown;

static void t_begin(const char *name)
{
	t_name = name;
	t_bad = 0;
	t_shown = 0;
}

#define T_CHECK(cond, ...)                                                          \
	do {                                                                        \
		if (!(cond)) {                                                      \
			if (!t_bad)                                                 \
				printf("not ok - %s\n", t_name);                    \
			t_bad = 1;                                                  \
			if (t_shown++ < 5) {                                        \
				printf("  %s:%d: ", __FILE__, __LINE__);            \
				printf(__VA_ARGS__);                                \
				printf("\n");                                       \
			}                                                           \
		}                                                                   \
	} while (0)

static void t_end(void)
{
	if (t_bad)
		t_nfail++;
	else
		printf("ok - %s\n", t_name);
	fflush(stdout);
}

__attribute__((unused)) static void t_skip(const char *name, const char *why)
{
	printf("skip - %s: %s\n", name, why);
}

/* ../shared/testdata, or NULL (the caller skips, saying so). */
__attribute__((unused)) static const char *t_testdata(void)
{
	const char *d = getenv("CL_TESTDATA");
	return d && *d ? d : NULL;
}

static int t_exit(void)
{
	return t_nfail ? 1 : 0;
}

#endif
