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
