/*
 * cmd.h - glue shared by the programs in cmd/: the program's name, one error
 * format, range-checked numeric options, and the exit codes every man page
 * lists: 0 success, 1 runtime or data error, 2 usage error.
 */
#ifndef CL_CMD_H
#define CL_CMD_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <math.h>

#include "cl.h"

enum { EXIT_OK = 0, EXIT_DATA = 1, EXIT_USAGE = 2 };

static const char *prog = "cl";
static int cmd_failed; /* die() was called with a non-zero code */
static void (*cmd_before_message)(void); /* set by a program that must ready stderr first */

static void cmd_init(const char *name)
{
	prog = name;
	/* A closed downstream pipe comes back as CL_ERR_PIPE and ends us quietly. */
	signal(SIGPIPE, SIG_IGN);
}

/* "prog: message"; a format ending in ':' gets strerror(errno). */
__attribute__((format(printf, 2, 3), noreturn)) static void die(int code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	if (cmd_before_message)
		cmd_before_message();
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	size_t n = strlen(fmt);
	if (n && fmt[n - 1] == ':')
		fprintf(stderr, " %s", strerror(saved));
	fputc('\n', stderr);
	cmd_failed = code != 0;
	exit(code);
}

/* Exit after a library failure: quietly (0) when the reader of our output
 * went away, else with the library's message. */
__attribute__((noreturn, unused)) static void die_status(enum cl_status st)
{
	if (st == CL_ERR_PIPE)
		exit(EXIT_OK);
	die(EXIT_DATA, "%s", cl_errmsg());
}

__attribute__((unused)) static long opt_long(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		die(EXIT_USAGE, "%s: expected an integer from %ld to %ld, got '%s'", opt, lo, hi, s);
	return v;
}

__attribute__((unused)) static double opt_double(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		die(EXIT_USAGE, "%s: expected a number from %g to %g, got '%s'", opt, lo, hi, s);
	return v;
}

/* A binary stream is not written to a terminal, as gzip does not write
 * compressed data there; `hint` says what to do instead. */
__attribute__((unused)) static void no_stream_to_tty(const char *hint)
{
	if (isatty(STDOUT_FILENO))
		die(EXIT_USAGE, "standard output is a terminal: a binary stream is not written there (%s)", hint);
}

/* Output errors are errors: a full disk must not "succeed". */
__attribute__((unused)) static int finish_stdout(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		if (errno == EPIPE)
			return EXIT_OK;
		die(EXIT_DATA, "stdout:");
	}
	return EXIT_OK;
}

/* An argument no option took: "unknown option '--x'" or "unexpected
 * argument 'x'", the same words in every program. */
__attribute__((noreturn, unused)) static void bad_arg(const char *a)
{
	if (a[0] == '-' && a[1])
		die(EXIT_USAGE, "unknown option '%s' (see --help)", a);
	die(EXIT_USAGE, "unexpected argument '%s' (see --help)", a);
}

/* Long options of the form --name=value or --name value.  Returns the value
 * when argv[*i] is `name`, advancing *i; NULL otherwise. */
__attribute__((unused)) static const char *opt_arg(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	const char *a = argv[*i];
	if (strncmp(a, name, n) != 0)
		return NULL;
	if (a[n] == '=')
		return a + n + 1;
	if (a[n] != 0)
		return NULL;
	if (*i + 1 >= argc)
		die(EXIT_USAGE, "%s: needs a value (see --help)", name);
	return argv[++*i];
}

/* A text in memory (malloc'd, NUL-terminated, *len bytes): argv[i..argc)
 * joined by single spaces where there are any, else all of FILE (NULL:
 * standard input). */
__attribute__((unused)) static char *read_text(int argc, char **argv, int i, const char *file, size_t *len)
{
	char *all = NULL;
	FILE *m = open_memstream(&all, len);
	if (!m)
		die(EXIT_DATA, "out of memory");
	if (i < argc) {
		for (int k = i; k < argc; k++)
			fprintf(m, "%s%s", k > i ? " " : "", argv[k]);
	} else {
		const char *name = file ? file : "stdin";
		FILE *in = file ? fopen(file, "rb") : stdin;
		char buf[65536];
		size_t r;
		if (!in)
			die(EXIT_DATA, "%s:", name);
		while ((r = fread(buf, 1, sizeof buf, in)) > 0)
			fwrite(buf, 1, r, m);
		if (ferror(in))
			die(EXIT_DATA, "%s:", name);
		if (in != stdin)
			fclose(in);
	}
	if (fclose(m))
		die(EXIT_DATA, "out of memory");
	return all;
}

/* The model options that cl-forward and cl-serve share: --threads N,
 * --quantize TYPE, --kv-type f32|f16.  1 when argv[*i] was one of them. */
__attribute__((unused)) static int model_opt(int argc, char **argv, int *i, struct cl_model_opts *o)
{
	const char *v;
	if ((v = opt_arg(argc, argv, i, "--threads"))) {
		o->threads = (int)opt_long("--threads", v, 1, 1024);
	} else if ((v = opt_arg(argc, argv, i, "--quantize"))) {
		if (cl_quant_parse(v, &o->quantize, &o->mix))
			die(EXIT_USAGE, "--quantize: expected " CL_DTYPE_MAKEABLE ", got '%s'", v);
	} else if ((v = opt_arg(argc, argv, i, "--kv-type"))) {
		if (strcmp(v, "f32") && strcmp(v, "f16"))
			die(EXIT_USAGE, "--kv-type: expected f32 or f16, got '%s'", v);
		o->kv_f16 = v[1] == '1';
	} else {
		return 0;
	}
	return 1;
}

#endif
