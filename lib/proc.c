/*
 * proc.c - child processes and non-blocking byte queues (see proc.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

extern char **environ;

/* --------------------------------------------------------- byte queue --- */

enum cl_status cl_bytes_add(struct cl_bytes *b, const void *p, size_t n)
{
	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (b->len + n > b->cap) {
		if (b->off > 0) {
			memmove(b->p, b->p + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if (cap != b->cap) {
			unsigned char *np = realloc(b->p, cap);
			if (!np)
				return cl_error(CL_ERR_NOMEM, "out of memory");
			b->p = np;
			b->cap = cap;
		}
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	return CL_OK;
}

size_t cl_bytes_count(const struct cl_bytes *b)
{
	return b->len - b->off;
}

enum cl_status cl_bytes_write(struct cl_bytes *b, int fd)
{
	while (b->off < b->len) {
		ssize_t w = write(fd, b->p + b->off, b->len - b->off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return CL_OK;
			if (errno == EPIPE)
				return CL_ERR_PIPE;
			return cl_error(CL_ERR_IO, "write:");
		}
		b->off += (size_t)w;
	}
	b->off = b->len = 0;
	return CL_OK;
}

void cl_bytes_free(struct cl_bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* ----------------------------------------------------------- children --- */

void cl_proc_path(const char *name, char *out, size_t cap)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			if ((size_t)snprintf(out, cap, "%s/%s", exe, name) < cap && access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, cap, "%s", name);
}

enum cl_status cl_proc_spawn(struct cl_proc *p, char *const argv[], int in_fd, int out_fd)
{
	char path[4096];
	int errp[2];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none;

	memset(p, 0, sizeof *p);
	p->err_fd = -1;
	snprintf(p->name, sizeof p->name, "%s", argv[0]);
	cl_proc_path(argv[0], path, sizeof path);
	if (pipe2(errp, O_CLOEXEC) < 0)
		return cl_error(CL_ERR_IO, "pipe:");
	posix_spawn_file_actions_init(&fa);
	if (in_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, errp[1], STDERR_FILENO);
	/* The child starts with default signal handling and an empty mask,
	 * whatever ours are (we ignore SIGPIPE to see EPIPE). */
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigset_t def;
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	posix_spawnattr_setsigdefault(&at, &def);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	int e = strchr(path, '/') ? posix_spawn(&p->pid, path, &fa, &at, argv, environ)
				  : posix_spawnp(&p->pid, path, &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(errp[1]);
	if (e) {
		close(errp[0]);
		p->pid = 0;
		errno = e;
		return cl_error(CL_ERR_IO, "%s: cannot run:", path);
	}
	p->err_fd = errp[0];
	return CL_OK;
}

int cl_proc_pollfds(struct cl_proc *ps, int n, struct pollfd *pfd)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (ps[i].err_fd >= 0)
			pfd[k++] = (struct pollfd){.fd = ps[i].err_fd, .events = POLLIN};
	return k;
}

static void reap(struct cl_proc *p)
{
	int st;
	while (waitpid(p->pid, &st, 0) < 0) {
		if (errno != EINTR) {
			st = 0;
			break;
		}
	}
	p->status = st;
	p->exited = 1;
}

int cl_proc_service(struct cl_proc *ps, int n, const struct pollfd *pfd, int npfd)
{
	int reaped = 0;
	for (int j = 0; j < npfd; j++) {
		if (!pfd[j].revents)
			continue;
		for (int i = 0; i < n; i++) {
			struct cl_proc *p = &ps[i];
			if (p->err_fd != pfd[j].fd)
				continue;
			char buf[4096];
			ssize_t r = read(p->err_fd, buf, sizeof buf);
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				break;
			if (r > 0) {
				/* Out of memory here loses diagnostics, not data. */
				cl_bytes_add(&p->err, buf, (size_t)r);
				break;
			}
			/* End of its stderr: the child has exited (or is
			 * about to), so waiting for it is short. */
			close(p->err_fd);
			p->err_fd = -1;
			reap(p);
			reaped++;
			break;
		}
	}
	return reaped;
}

void cl_proc_kill(struct cl_proc *ps, int n)
{
	for (int i = 0; i < n; i++)
		if (ps[i].pid > 0 && !ps[i].exited && !ps[i].killed) {
			kill(ps[i].pid, SIGTERM);
			ps[i].killed = 1;
		}
}

int cl_proc_running(const struct cl_proc *ps, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		k += ps[i].pid > 0 && !ps[i].exited;
	return k;
}

int cl_proc_failed(const struct cl_proc *p)
{
	if (!p->exited)
		return 0;
	if (WIFEXITED(p->status))
		return WEXITSTATUS(p->status) != 0;
	return !(p->killed && WIFSIGNALED(p->status) && WTERMSIG(p->status) == SIGTERM);
}

const char *cl_proc_describe(const struct cl_proc *p, char *buf, size_t cap)
{
	if (WIFEXITED(p->status))
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(p->status));
	else if (WIFSIGNALED(p->status))
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(p->status), strsignal(WTERMSIG(p->status)));
	else
		snprintf(buf, cap, "wait status %d", p->status);
	return buf;
}

void cl_proc_cleanup(struct cl_proc *ps, int n)
{
	for (int i = 0; i < n; i++) {
		struct cl_proc *p = &ps[i];
		if (p->err_fd >= 0) {
			close(p->err_fd);
			p->err_fd = -1;
		}
		if (p->pid > 0 && !p->exited)
			reap(p);
		cl_bytes_free(&p->err);
	}
}

/* ----------------------------------------------------------- the loop --- */

void cl_fd_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static enum cl_status spawn(struct cl_loop *L, char **argv, int in, int out)
{
	enum cl_status st = cl_proc_spawn(&L->ps[L->np], argv, in, out);
	if (st == CL_OK)
		L->np++;
	return st;
}

enum cl_status cl_loop_start(struct cl_loop *L, char **emb, char **fwd, char **smp, char **tok, char **det)
{
	int a[2] = {-1, -1}, b[2] = {-1, -1}, c[2] = {-1, -1}, d[2] = {-1, -1}, t[2] = {-1, -1},
	    e[2] = {-1, -1};
	enum cl_status st = CL_OK;
	L->tok = L->smp = L->emb = L->det = -1;
	if (pipe2(a, O_CLOEXEC) || pipe2(b, O_CLOEXEC) || pipe2(c, O_CLOEXEC) || pipe2(d, O_CLOEXEC) ||
	    (tok && pipe2(t, O_CLOEXEC)) || (det && pipe2(e, O_CLOEXEC)))
		st = cl_error(CL_ERR_IO, "pipe:");
	if (!st && !(st = spawn(L, emb, a[0], b[1])) && !(st = spawn(L, fwd, b[0], c[1])) &&
	    !(st = spawn(L, smp, c[0], d[1])) && !(tok && (st = spawn(L, tok, -1, t[1]))))
		st = det ? spawn(L, det, e[0], -1) : CL_OK;
	/* Ours: a[1] to cl-embed, d[0] from cl-sample, t[0], e[1]. */
	L->emb = a[1], L->smp = d[0], L->tok = t[0], L->det = e[1];
	int *theirs[] = {&a[0], &b[0], &b[1], &c[0], &c[1], &d[1], &t[1], &e[0]};
	for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++)
		cl_fd_close(theirs[i]);
	if (L->emb >= 0)
		fcntl(L->emb, F_SETFL, O_NONBLOCK);
	if (L->det >= 0)
		fcntl(L->det, F_SETFL, O_NONBLOCK);
	if (st)
		cl_loop_stop(L);
	return st;
}

void cl_loop_stop(struct cl_loop *L)
{
	cl_proc_kill(L->ps, L->np);
	cl_fd_close(&L->tok), cl_fd_close(&L->smp), cl_fd_close(&L->emb), cl_fd_close(&L->det);
}

/* Bytes for both cl-embed and cl-detok (when it runs). */
static enum cl_status both(struct cl_loop *L, const void *p, size_t n)
{
	enum cl_status st = cl_bytes_add(&L->q_emb, p, n);
	return st || L->det < 0 ? st : cl_bytes_add(&L->q_det, p, n);
}

/* 1: data moved, 0: end of input, -1: nothing now. */
static int relay(struct cl_loop *L, int fd, int held, enum cl_status *st)
{
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return -1;
	if (n <= 0)
		return 0; /* an error reads as the end: the child's status says why */
	*st = held ? cl_bytes_add(&L->held, buf, (size_t)n) : both(L, buf, (size_t)n);
	return 1;
}

enum cl_status cl_loop_step(struct cl_loop *L, unsigned *exited)
{
	struct pollfd pfd[4 + CL_PROC_MAX];
	enum cl_status st = CL_OK;
	*exited = 0;
	if (!cl_proc_running(L->ps, L->np) && L->smp < 0 && L->tok < 0) {
		cl_fd_close(&L->emb), cl_fd_close(&L->det);
		return CL_ERR_EOF;
	}
	int k = 0, itok = -1, ismp = -1, iemb = -1, idet = -1;
	if (L->tok >= 0)
		itok = k, pfd[k++] = (struct pollfd){.fd = L->tok, .events = POLLIN};
	if (L->smp >= 0)
		ismp = k, pfd[k++] = (struct pollfd){.fd = L->smp, .events = POLLIN};
	if (L->emb >= 0 && cl_bytes_count(&L->q_emb))
		iemb = k, pfd[k++] = (struct pollfd){.fd = L->emb, .events = POLLOUT};
	if (L->det >= 0 && cl_bytes_count(&L->q_det))
		idet = k, pfd[k++] = (struct pollfd){.fd = L->det, .events = POLLOUT};
	int kp = k;
	k += cl_proc_pollfds(L->ps, L->np, pfd + k);
	if (poll(pfd, (nfds_t)k, -1) < 0)
		return errno == EINTR ? CL_OK : cl_error(CL_ERR_IO, "poll:");
	if (itok >= 0 && pfd[itok].revents && relay(L, L->tok, 0, &st) == 0) {
		/* As cat: cl-sample's stream follows the prompt's. */
		cl_fd_close(&L->tok);
		st = both(L, L->held.p + L->held.off, cl_bytes_count(&L->held));
		cl_bytes_free(&L->held);
	}
	if (!st && ismp >= 0 && pfd[ismp].revents && L->smp >= 0) {
		if (L->take)
			st = L->take(L, L->arg);
		else if (relay(L, L->smp, L->tok >= 0, &st) == 0)
			cl_fd_close(&L->smp);
	}
	if (st)
		return st;
	/* A reader gone away: its child's exit status tells why. */
	if (iemb >= 0 && pfd[iemb].revents && L->emb >= 0 && cl_bytes_write(&L->q_emb, L->emb))
		cl_fd_close(&L->emb);
	if (idet >= 0 && pfd[idet].revents && L->det >= 0 && cl_bytes_write(&L->q_det, L->det))
		cl_fd_close(&L->det);
	/* All of cl-sample's output passed on: cl-embed and cl-detok may end. */
	if (L->smp < 0 && L->tok < 0) {
		if (!cl_bytes_count(&L->q_emb))
			cl_fd_close(&L->emb);
		if (!cl_bytes_count(&L->q_det))
			cl_fd_close(&L->det);
	}
	int was[5];
	for (int i = 0; i < L->np; i++)
		was[i] = L->ps[i].exited;
	if (cl_proc_service(L->ps, L->np, pfd + kp, k - kp))
		for (int i = 0; i < L->np; i++)
			if (L->ps[i].exited && !was[i])
				*exited |= 1u << i;
	return CL_OK;
}

void cl_loop_free(struct cl_loop *L)
{
	cl_loop_stop(L);
	cl_proc_cleanup(L->ps, L->np);
	cl_bytes_free(&L->q_emb);
	cl_bytes_free(&L->q_det);
	cl_bytes_free(&L->held);
}
